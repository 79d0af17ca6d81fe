"""A seeded procedural composer: one short multitrack song, one MIDI part per instrument.

A song has a key (major or minor), a tempo (70-160 bpm, 4/4, sometimes swung), a looping
chord progression, and 3-7 parts from distinct instrument families. Each part has a role:

* ``drums``: a groove (rock, pop, four-on-the-floor, half-time, funk, shuffle, bossa,
  ballad) with hi-hat/ride variants, extra percussion, crashes and fills;
* ``bass``: root notes, root-fifth, octaves, walking, syncopated or sustained lines;
* ``comp``: chord accompaniment (block chords, arpeggios, broken chords, strums, off-beat
  chops, power chords, brass stabs, two-handed ballad piano);
* ``pad``: sustained voice-led chords;
* ``melody`` and ``counter``: a phrased tune with motifs that repeat and vary, and a slower
  line of chord tones under it.

Every part stays in its instrument's comfortable range, has accents and velocity jitter, a
slightly humanised timing and its own reverb and chorus sends, and rests for a bar now and
then. Everything random comes from ``np.random.default_rng((seed, index))``, so a song is a
pure function of (seed, index, the SoundFont's preset table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from training.families import (
    BAND_FAMILIES,
    FAMILIES,
    drum_kits,
    melodic_programs,
    program_name,
)
from training.midi import Part

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# Chord loops as 0-based scale degrees (I=0 ... vii=6).
MAJOR_LOOPS = (
    (0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (0, 3, 5, 4),
    (1, 4, 0, 5), (0, 2, 3, 4), (3, 0, 4, 5), (0, 4, 3, 0), (0, 5, 1, 4),
    (0, 3, 0, 4, 5, 3, 4, 4),
)  # fmt: skip
MINOR_LOOPS = (
    (0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4),
    (0, 2, 6, 3), (5, 6, 0, 0), (0, 3, 0, 4), (0, 6, 5, 4, 0, 6, 3, 4),
)  # fmt: skip

# --------------------------------------------------------------------------------------------
# Instrument ranges (MIDI note numbers, comfortable playing range)

_FAMILY_RANGE: dict[str, tuple[int, int]] = {
    "piano": (36, 96), "chromatic_percussion": (60, 96), "organ": (36, 90),
    "guitar": (40, 84), "bass": (28, 55), "strings": (43, 88), "choir": (48, 79),
    "brass": (48, 82), "reed": (50, 84), "pipe": (60, 93), "synth_lead": (55, 91),
    "synth_pad": (48, 84), "plucked": (52, 86),
}  # fmt: skip
_PROGRAM_RANGE: dict[int, tuple[int, int]] = {
    8: (60, 96), 9: (72, 105), 10: (60, 96), 11: (53, 89), 12: (45, 96), 13: (65, 105),
    14: (60, 77), 15: (55, 91), 21: (53, 89), 22: (60, 84), 23: (53, 89),
    40: (55, 96), 41: (48, 84), 42: (36, 72), 43: (28, 55), 44: (43, 84), 45: (36, 84),
    46: (36, 96), 110: (55, 93),
    56: (55, 82), 57: (40, 72), 58: (28, 55), 59: (55, 82), 60: (41, 77), 61: (48, 82),
    62: (41, 84), 63: (41, 84),
    64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69), 68: (58, 91), 69: (52, 81),
    70: (34, 72), 71: (50, 91), 109: (67, 81), 111: (60, 86),
    72: (74, 103), 73: (60, 96), 74: (60, 91), 75: (60, 91), 76: (60, 84), 77: (55, 84),
    78: (72, 96), 79: (60, 86), 87: (40, 76),
    104: (52, 84), 105: (50, 86), 106: (50, 84), 107: (55, 91), 108: (60, 88),
}  # fmt: skip


def comfortable_range(family: str, program: int) -> tuple[int, int]:
    """The MIDI note range an instrument plays comfortably (drums: the GM kit map)."""
    if family == "drums":
        return (35, 81)
    return _PROGRAM_RANGE.get(program, _FAMILY_RANGE[family])


# --------------------------------------------------------------------------------------------
# Harmony


@dataclass(frozen=True)
class Chord:
    """A chord: its root pitch class and all its pitch classes, root first."""

    root: int
    pcs: tuple[int, ...]


@dataclass
class Harmony:
    """Key, chord loop and harmonic rhythm of a song."""

    tonic: int
    minor: bool
    degrees: tuple[int, ...]
    beats_per_chord: float
    sevenths: bool
    raised_five: bool

    @classmethod
    def random(cls, rng: np.random.Generator) -> Harmony:
        """Draw a key, a chord loop and a harmonic rhythm."""
        minor = bool(rng.random() < 0.4)
        loops = MINOR_LOOPS if minor else MAJOR_LOOPS
        return cls(
            tonic=int(rng.integers(12)),
            minor=minor,
            degrees=loops[int(rng.integers(len(loops)))],
            beats_per_chord=float(rng.choice([4.0, 2.0, 8.0], p=[0.7, 0.2, 0.1])),
            sevenths=bool(rng.random() < 0.25),
            raised_five=minor and bool(rng.random() < 0.5),
        )

    @property
    def scale(self) -> tuple[int, ...]:
        """The seven pitch classes of the key."""
        steps = MINOR_SCALE if self.minor else MAJOR_SCALE
        return tuple((self.tonic + s) % 12 for s in steps)

    @property
    def name(self) -> str:
        """E.g. ``"F# minor"``."""
        return f"{NOTE_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"

    def chord_of(self, degree: int) -> Chord:
        """The diatonic triad (or seventh chord) on a scale degree."""
        scale = self.scale
        stack = (0, 2, 4, 6) if self.sevenths else (0, 2, 4)
        pcs = [scale[(degree + k) % 7] for k in stack]
        if self.raised_five and degree == 4:  # harmonic minor: v -> V
            pcs[1] = (pcs[1] + 1) % 12
        return Chord(pcs[0], tuple(pcs))

    def at(self, beat: float) -> Chord:
        """The chord sounding at a beat."""
        slot = math.floor(beat / self.beats_per_chord + 1e-6)
        return self.chord_of(self.degrees[slot % len(self.degrees)])


def pitches_with(pcs: tuple[int, ...], lo: int, hi: int) -> list[int]:
    """All MIDI pitches in [lo, hi] whose pitch class is in ``pcs``."""
    return [p for p in range(lo, hi + 1) if p % 12 in pcs]


def nearest(pc: int, target: float) -> int:
    """The pitch with pitch class ``pc`` nearest to ``target``."""
    base = round(target)
    down = base - ((base - pc) % 12)
    return down if base - down <= 6 else down + 12


def fit(pitch: int, lo: int, hi: int) -> int:
    """Move a pitch by octaves into [lo, hi] (as close as possible if the range is narrow)."""
    while pitch < lo:
        pitch += 12
    while pitch > hi and pitch - 12 >= lo:
        pitch -= 12
    return pitch


def voicing(
    chord: Chord,
    center: float,
    n_voices: int,
    lo: int,
    hi: int,
    previous: list[int] | None,
    rng: np.random.Generator,
) -> list[int]:
    """A close-position voicing of ``chord`` near ``center``, voice-led from ``previous``."""
    best: tuple[float, list[int]] | None = None
    k = len(chord.pcs)
    for inversion in range(k):
        order = chord.pcs[inversion:] + chord.pcs[:inversion]
        notes = [nearest(order[0], center - 4)]
        for i in range(1, n_voices):
            pc = order[i % k]
            notes.append(notes[-1] + ((pc - notes[-1]) % 12 or 12))
        shift = 0
        while notes[0] + shift < lo:
            shift += 12
        while notes[-1] + shift > hi and notes[0] + shift - 12 >= lo:
            shift -= 12
        notes = [n + shift for n in notes]
        ref = float(np.mean(previous)) if previous else center
        cost = abs(np.mean(notes) - ref) + 0.5 * abs(np.mean(notes) - center) + rng.random()
        if best is None or cost < best[0]:
            best = (cost, notes)
    assert best is not None
    return best[1]


# --------------------------------------------------------------------------------------------
# Playing notes: timing, humanisation, rests


@dataclass
class Player:
    """Writes one part's notes: beats -> seconds, swing, humanised timing, resting bars."""

    rng: np.random.Generator
    harmony: Harmony
    tempo: float
    n_bars: int
    swing: float
    lo: int
    hi: int
    part: Part
    jitter_ms: float
    feel_s: float
    rest_bars: frozenset[int] = field(default_factory=frozenset)

    @property
    def n_beats(self) -> float:
        """The length of the song in beats."""
        return 4.0 * self.n_bars

    def seconds(self, beat: float) -> float:
        """The time of a beat, with swung off-beat eighths."""
        frac = beat - math.floor(beat)
        if self.swing and abs(frac - 0.5) < 1e-6:
            beat += self.swing
        return beat * 60.0 / self.tempo

    def jitter(self, ms: float | None = None) -> float:
        """A random timing error in seconds (normal, clipped at 2.5 sigma)."""
        sigma = (self.jitter_ms if ms is None else ms) / 1000.0
        return float(np.clip(self.rng.normal(0.0, sigma), -2.5 * sigma, 2.5 * sigma))

    def play(
        self, pitch: int, beat: float, beats: float, velocity: float, offset_s: float = 0.0
    ) -> None:
        """Play a note at ``beat`` for ``beats`` beats unless its bar rests."""
        if int(beat // 4) in self.rest_bars or beat >= self.n_beats:
            return
        if not self.part.is_drum:
            pitch = fit(pitch, self.lo, self.hi)  # approach notes may step just outside
        start = self.seconds(beat) + self.feel_s + self.jitter() + offset_s
        length = max(0.04, beats * 60.0 / self.tempo)
        self.part.add(pitch, max(0.0, start), max(0.0, start) + length, velocity)

    def vel(self, base: float, accent: float = 0.0, spread: float = 5.0) -> float:
        """A velocity: base + accent + normal jitter."""
        return base + accent + self.rng.normal(0.0, spread)


def choose(rng: np.random.Generator, options: tuple | list, p: list[float] | None = None):
    """One element of ``options`` (numpy's choice, without numpy scalar types)."""
    index = int(rng.choice(len(options), p=p))
    return options[index]


# --------------------------------------------------------------------------------------------
# Drums

KICK, SIDESTICK, SNARE, CLAP, SNARE_2 = 36, 37, 38, 39, 40
HAT_CLOSED, HAT_PEDAL, HAT_OPEN = 42, 44, 46
CRASH, CRASH_2, RIDE, RIDE_BELL, TAMBOURINE, COWBELL, SHAKER = 49, 57, 51, 53, 54, 56, 70
TOMS = (50, 48, 47, 45, 43, 41)  # high to low

# groove -> (kick patterns on a 16-step grid, backbeat steps, allowed cymbal modes)
GROOVES: dict[str, tuple[tuple[tuple[int, ...], ...], tuple[int, ...], tuple[str, ...]]] = {
    "rock": (((0, 8), (0, 8, 10), (0, 6, 8), (0, 2, 8)), (4, 12), ("8ths", "8ths", "ride")),
    "pop": (((0, 7, 8), (0, 3, 8, 10), (0, 8, 11)), (4, 12), ("8ths", "16ths", "quarters")),
    "four_floor": (((0, 4, 8, 12),), (4, 12), ("open_offbeat", "16ths", "8ths")),
    "halftime": (((0, 10), (0, 3, 10), (0, 11, 14)), (8,), ("8ths", "16ths", "ride")),
    "funk": (((0, 3, 10), (0, 6, 7, 10), (0, 2, 10, 13)), (4, 12), ("16ths", "8ths")),
    "shuffle": (((0, 8, 14), (0, 6, 8)), (4, 12), ("8ths", "ride")),
    "bossa": (((0, 6, 8, 14),), (), ("8ths", "ride")),
    "ballad": (((0, 10), (0, 6, 10)), (8,), ("ride", "quarters", "8ths")),
}
SWUNG_GROOVES = ("shuffle", "shuffle", "ballad", "rock", "halftime")
STRAIGHT_GROOVES = tuple(g for g in GROOVES if g != "shuffle")
BOSSA_RIM = ((0, 6, 12), (4, 8))  # a 3-2 clave on the rim, over two bars


def _cymbal(player: Player, mode: str, step: int, t: float, base: float) -> None:
    """One step of the hi-hat or ride pattern."""
    quarter = step % 4 == 0
    if mode == "16ths":
        player.play(HAT_CLOSED, t, 0.2, player.vel(base, -12 if quarter else -24))
    elif step % 2:
        return
    elif mode == "8ths":
        note = HAT_OPEN if step == 14 and player.rng.random() < 0.2 else HAT_CLOSED
        player.play(note, t, 0.25, player.vel(base, -10 if quarter else -22))
    elif mode == "ride":
        note = RIDE_BELL if step == 0 and player.rng.random() < 0.15 else RIDE
        player.play(note, t, 0.25, player.vel(base, -8 if quarter else -18))
        if step in (4, 12):
            player.play(HAT_PEDAL, t, 0.2, player.vel(base, -20))
    elif mode == "open_offbeat":
        note = HAT_OPEN if step % 4 == 2 else HAT_CLOSED
        player.play(note, t, 0.25, player.vel(base, -14 if note == HAT_OPEN else -24))
    elif mode == "quarters" and quarter:
        player.play(HAT_CLOSED, t, 0.25, player.vel(base, -12))


def _fill(player: Player, bar: int, first_step: int, snare: int, base: float) -> None:
    """A tom / snare fill from ``first_step`` to the end of the bar."""
    kind = choose(player.rng, ("toms", "snare_roll", "mixed", "flams"))
    n = 16 - first_step
    for k in range(n):
        t = bar * 4 + (first_step + k) / 4
        vel = base - 14 + 22 * k / max(1, n - 1)
        tom = TOMS[min(k * len(TOMS) // n, len(TOMS) - 1)]
        if kind == "toms":
            note = tom
        elif kind == "snare_roll":
            note = snare
        elif kind == "mixed":
            note = snare if k % 2 == 0 else tom
        else:
            if k % 2:
                continue
            note = tom if k % 4 else snare
            player.play(note, t - 0.03, 0.2, player.vel(vel, -25))
        player.play(note, t, 0.2, player.vel(vel, 0, 4))
        if k % 4 == 0:
            player.play(KICK, t, 0.2, player.vel(vel, 0, 4))


def play_drums(player: Player) -> str:
    """A drum groove with fills at the end of 4-bar phrases; returns the style name."""
    rng = player.rng
    grooves = SWUNG_GROOVES if player.swing else STRAIGHT_GROOVES
    groove = choose(rng, grooves)
    kicks, backbeat, modes = GROOVES[groove]
    mode = choose(rng, modes)
    if player.swing and mode == "16ths":
        mode = "8ths"
    extra = choose(rng, ("none", "none", "tambourine", "shaker", "clap", "cowbell"))
    snare = SIDESTICK if groove in ("bossa", "ballad") and rng.random() < 0.6 else SNARE
    if snare == SNARE and rng.random() < 0.25:
        snare = SNARE_2
    base = rng.uniform(85, 108)
    kick = choose(rng, kicks)
    for bar in range(player.n_bars):
        if bar % 2 == 0 and rng.random() < 0.4:
            kick = choose(rng, kicks)
        fill = bar % 4 == 3 and rng.random() < 0.65
        fill_from = 16 - (int(choose(rng, (4, 8, 8))) if fill else 0)
        if bar % 4 == 0 and (bar > 0 or rng.random() < 0.6):
            player.play(choose(rng, (CRASH, CRASH_2)), bar * 4, 1.0, player.vel(base, 6))
        for step in range(fill_from):
            t = bar * 4 + step / 4
            _groove_step(player, groove, kick, backbeat, snare, bar, step, t, base)
            _cymbal(player, mode, step, t, base)
            _extra(player, extra, step, t, base, backbeat)
        if fill:
            _fill(player, bar, fill_from, SNARE if snare == SIDESTICK else snare, base)
    return f"{groove}/{mode}/{extra}"


def _groove_step(
    player: Player,
    groove: str,
    kick: tuple[int, ...],
    backbeat: tuple[int, ...],
    snare: int,
    bar: int,
    step: int,
    t: float,
    base: float,
) -> None:
    """Kick and snare of one 16th step."""
    if step in kick:
        player.play(KICK, t, 0.25, player.vel(base, 8 if step == 0 else 0))
    if step in backbeat:
        player.play(snare, t, 0.25, player.vel(base, 4))
    elif groove == "bossa" and step in BOSSA_RIM[bar % 2]:
        player.play(SIDESTICK, t, 0.25, player.vel(base, -6))
    elif groove == "funk" and step % 2 and player.rng.random() < 0.2:
        player.play(snare, t, 0.2, player.vel(42, 0, 6))  # ghost note


def _extra(
    player: Player, extra: str, step: int, t: float, base: float, backbeat: tuple[int, ...]
) -> None:
    """Auxiliary percussion of one 16th step."""
    if extra == "tambourine" and step in (4, 12):
        player.play(TAMBOURINE, t, 0.2, player.vel(base, -16))
    elif extra == "shaker" and step % 2 == 0:
        player.play(SHAKER, t, 0.2, player.vel(base, -18 if step % 4 == 0 else -26))
    elif extra == "clap" and step in backbeat:
        player.play(CLAP, t, 0.25, player.vel(base, -8))
    elif extra == "cowbell" and step % 4 == 0:
        player.play(COWBELL, t, 0.2, player.vel(base, -22 if step else -14))


# --------------------------------------------------------------------------------------------
# Bass

BASS_STYLES = (
    "root_quarters",
    "root_eighths",
    "root_fifth",
    "octaves",
    "walking",
    "syncopated",
    "sustained",
)
SYNCOPATED_CELLS = (
    ((0, 1.5), (1.5, 1.0), (2.5, 1.5)),
    ((0, 1.5), (1.5, 0.5), (2, 1.5), (3.5, 0.5)),
    ((0, 0.75), (0.75, 0.75), (1.5, 1.0), (2.5, 0.5), (3, 1.0)),
    ((0, 1.0), (1.5, 0.5), (2.0, 1.0), (3.0, 0.5), (3.5, 0.5)),
)


def _bass_root(player: Player, chord: Chord) -> int:
    """The chord root in the bass's lowest octave."""
    return fit(player.lo + ((chord.root - player.lo) % 12), player.lo, player.hi)


def _bass_bar(player: Player, style: str, bar: int, base: float, cell) -> None:
    """One bar of a bass line."""
    b0 = bar * 4
    if style == "root_quarters":
        for k in range(4):
            root = _bass_root(player, player.harmony.at(b0 + k))
            player.play(root, b0 + k, 0.9, player.vel(base, 8 if k == 0 else 0))
    elif style == "root_eighths":
        for k in range(8):
            chord = player.harmony.at(b0 + k / 2)
            pitch = _bass_root(player, chord)
            if k == 7 and player.rng.random() < 0.3:
                pitch = _bass_root(player, player.harmony.at(b0 + 4)) + choose(player.rng, (-1, 2))
            player.play(pitch, b0 + k / 2, 0.45, player.vel(base, 8 if k % 2 == 0 else -6))
    elif style in ("root_fifth", "octaves"):
        for k in range(4 if style == "root_fifth" else 8):
            beat = b0 + (k if style == "root_fifth" else k / 2)
            chord = player.harmony.at(beat)
            root = _bass_root(player, chord)
            fifth = root + ((chord.pcs[2] - chord.root) % 12)
            up = fifth if style == "root_fifth" else root + 12
            pitch = fit(root if k % 2 == 0 else up, player.lo, player.hi)
            dur = 0.9 if style == "root_fifth" else 0.4
            player.play(pitch, beat, dur, player.vel(base, 8 if k == 0 else 0))
    elif style == "walking":
        _walking_bar(player, b0, base)
    elif style == "syncopated":
        for onset, dur in cell:
            chord = player.harmony.at(b0 + onset)
            pitch = _bass_root(player, chord)
            if onset and player.rng.random() < 0.25:
                pitch = fit(nearest(choose(player.rng, chord.pcs), pitch + 5), player.lo, player.hi)
            player.play(pitch, b0 + onset, dur * 0.9, player.vel(base, 10 if onset == 0 else 0))
    else:  # sustained
        for half in (0, 2):
            chord = player.harmony.at(b0 + half)
            if half and player.harmony.at(b0) == chord and player.rng.random() < 0.7:
                continue
            length = 3.9 if half == 0 and player.harmony.at(b0 + 2) == chord else 1.9
            player.play(_bass_root(player, chord), b0 + half, length, player.vel(base, 4))


def _walking_bar(player: Player, b0: float, base: float) -> None:
    """Four quarter notes: root, two chord/scale tones, a chromatic approach to the next."""
    for k in range(4):
        chord = player.harmony.at(b0 + k)
        root = _bass_root(player, chord)
        if k == 0:
            pitch = root
        elif k == 3:
            target = _bass_root(player, player.harmony.at(b0 + 4))
            pitch = target + choose(player.rng, (-1, 1, -2, 2))
        else:
            options = pitches_with(chord.pcs, player.lo, player.hi - 5)
            goal = root + 4 * k
            pitch = min(options, key=lambda p, g=goal: abs(p - g) + 3 * player.rng.random())
        player.play(fit(pitch, player.lo, player.hi), b0 + k, 0.92, player.vel(base, 0, 6))


def play_bass(player: Player) -> str:
    """A bass line in one of :data:`BASS_STYLES`; returns the style."""
    rng = player.rng
    style = choose(rng, BASS_STYLES)
    if player.tempo > 135 and style == "octaves":
        style = "root_quarters"
    base = rng.uniform(80, 104)
    cell = choose(rng, SYNCOPATED_CELLS)
    for bar in range(player.n_bars):
        if bar % 2 == 0 and rng.random() < 0.5:
            cell = choose(rng, SYNCOPATED_CELLS)
        _bass_bar(player, style, bar, base, cell)
    return style


# --------------------------------------------------------------------------------------------
# Chord accompaniment

BLOCK_CELLS = (
    ((0, 1), (1, 1), (2, 1), (3, 1)),
    ((0, 1.5), (1.5, 1), (2.5, 1.5)),
    ((0, 2), (2, 2)),
    ((0, 0.5), (1, 0.5), (1.5, 1), (2.5, 0.5), (3, 1)),
    ((0, 1.5), (1.5, 0.5), (2, 1.5), (3.5, 0.5)),
    ((0, 4),),
)
STRUM_CELLS = (
    ((0, "D"), (1, "D"), (1.5, "U"), (2.5, "U"), (3, "D"), (3.5, "U")),
    ((0, "D"), (1, "D"), (2, "D"), (3, "D")),
    ((0, "D"), (0.5, "U"), (1, "D"), (1.5, "U"), (2, "D"), (2.5, "U"), (3, "D"), (3.5, "U")),
    ((0, "D"), (1.5, "D"), (2.5, "U"), (3, "D")),
    ((0, "D"), (2, "D"), (2.5, "U"), (3.5, "U")),
)
STAB_CELLS = ((0, 1.5, 3), (0.5, 2.5), (0, 0.75, 2.5, 3.5), (1.5, 3.5), (0, 2, 3.5))

#: comp styles an instrument can play, by family (programs overriding their family below)
COMP_STYLES: dict[str, tuple[str, ...]] = {
    "piano": ("block", "arpeggio", "broken", "ballad", "offbeat"),
    "chromatic_percussion": ("arpeggio", "broken", "block"),
    "organ": ("block", "offbeat", "block"),
    "guitar": ("strum", "strum", "arpeggio", "offbeat"),
    "plucked": ("arpeggio", "broken", "strum"),
    "strings": ("arpeggio", "broken", "block"),
    "brass": ("stabs",),
    "synth_lead": ("arpeggio",),
    "synth_pad": ("block", "arpeggio"),
    "choir": ("block",),
}
_PROGRAM_COMP: dict[int, tuple[str, ...]] = {
    28: ("muted",), 29: ("power", "strum"), 30: ("power",), 31: ("arpeggio",),
}  # fmt: skip


def _comp_center(player: Player) -> float:
    """Where chords sit: the lower middle of the range, around middle C."""
    return float(np.clip(0.4 * player.lo + 0.6 * min(player.hi, 76), player.lo + 7, 70))


def _left_hand(player: Player, b0: float, base: float, every_half: bool) -> None:
    """Piano left hand: the root (and sometimes its octave) on the strong beats."""
    for half in (0, 2) if every_half else (0,):
        chord = player.harmony.at(b0 + half)
        root = fit(36 + ((chord.root - 36) % 12), player.lo, player.hi)
        length = 1.9 if every_half else 3.8
        player.play(root, b0 + half, length, player.vel(base, -6))
        if player.rng.random() < 0.4:
            player.play(root + 12, b0 + half, length, player.vel(base, -10))


def _arpeggio_bar(player: Player, b0: float, base: float, rate: float, shape: str) -> None:
    """Broken-chord runs up, down or up-down at ``rate`` beats per note."""
    center = _comp_center(player)
    for k in range(round(4 / rate)):
        chord = player.harmony.at(b0 + k * rate)
        tones = pitches_with(chord.pcs, int(center) - 7, int(center) + 12)
        tones = [fit(t, player.lo, player.hi) for t in tones] or [fit(chord.root, player.lo, 127)]
        m = len(tones)
        if shape == "up":
            index = k % m
        elif shape == "down":
            index = m - 1 - k % m
        else:
            cycle = max(1, 2 * m - 2)
            j = k % cycle
            index = j if j < m else cycle - j
        accent = 8 if k % round(1 / rate) == 0 else 0
        player.play(tones[index], b0 + k * rate, rate * 1.5, player.vel(base, accent - 4, 6))


def _broken_bar(player: Player, b0: float, base: float) -> None:
    """Alberti-style figure: low, high, middle, high, in eighths."""
    center = _comp_center(player)
    for k in range(8):
        chord = player.harmony.at(b0 + k / 2)
        low = fit(nearest(chord.root, center - 7), player.lo, player.hi)
        third = low + ((chord.pcs[1] - chord.root) % 12)
        fifth = low + ((chord.pcs[2] - chord.root) % 12)
        pitch = (low, fifth, third, fifth)[k % 4]
        player.play(fit(pitch, player.lo, player.hi), b0 + k / 2, 0.5, player.vel(base, -6))


def _guitar_shape(chord: Chord, lo: int, hi: int) -> list[int]:
    """A guitar-like voicing: the root on a low string, chord tones stacked 3-7 semitones."""
    notes = [fit(40 + ((chord.root - 40) % 12), lo, hi)]
    while len(notes) < 6:
        options = [p for p in range(notes[-1] + 3, notes[-1] + 8) if p % 12 in chord.pcs]
        if not options or options[0] > min(hi, 79):
            break
        notes.append(options[0])
    return notes


def _strum_bar(player: Player, b0: float, base: float, cell) -> None:
    """Down- and up-strokes, strings spread a few milliseconds apart."""
    for i, (onset, stroke) in enumerate(cell):
        chord = player.harmony.at(b0 + onset)
        shape = _guitar_shape(chord, player.lo, player.hi)
        if stroke == "U":
            shape = shape[::-1][: max(3, len(shape) - 2)]
        nxt = cell[i + 1][0] if i + 1 < len(cell) else 4.0
        spread = player.rng.uniform(0.007, 0.018)
        vel = base + (6 if stroke == "D" else -8) + (6 if onset == 0 else 0)
        for j, pitch in enumerate(shape):
            player.play(pitch, b0 + onset, (nxt - onset) * 0.95, player.vel(vel), j * spread)


def _chord_hits(
    player: Player, b0: float, base: float, hits, prev: list[int] | None, n_voices: int
) -> list[int] | None:
    """Voiced chords at ``hits`` = ((onset, beats), ...)."""
    for onset, dur in hits:
        chord = player.harmony.at(b0 + onset)
        prev = voicing(
            chord, _comp_center(player) + 5, n_voices, player.lo, player.hi, prev, player.rng
        )
        accent = 8 if onset in (0, 2) else 0
        for pitch in prev:
            player.play(pitch, b0 + onset, dur, player.vel(base, accent, 4))
    return prev


def _comp_bar(player: Player, style: str, b0: float, base: float, state: dict) -> None:
    """One bar of accompaniment in ``style``; ``state`` carries voicing and cells."""
    rng = player.rng
    if style == "block":
        hits = [(o, d * 0.92) for o, d in state["cell"]]
        state["prev"] = _chord_hits(player, b0, base, hits, state["prev"], state["voices"])
    elif style == "ballad":
        _left_hand(player, b0, base, every_half=True)
        hits = [(0, 1.95), (2, 1.95)]
        state["prev"] = _chord_hits(player, b0, base, hits, state["prev"], state["voices"])
    elif style == "offbeat":
        hits = [(k + 0.5, 0.3) for k in range(4)]
        state["prev"] = _chord_hits(player, b0, base - 6, hits, state["prev"], 3)
    elif style == "stabs":
        hits = [(o, 0.35) for o in state["stabs"]]
        state["prev"] = _chord_hits(player, b0, base + 4, hits, state["prev"], 3)
    elif style == "arpeggio":
        _arpeggio_bar(player, b0, base, state["rate"], state["shape"])
    elif style == "broken":
        _broken_bar(player, b0, base)
        hits = [(0, 1.9), (2, 1.9)]
        state["prev"] = _chord_hits(player, b0, base - 4, hits, state["prev"], 3)
    elif style == "strum":
        _strum_bar(player, b0, base, state["strum"])
    elif style == "power":
        for k in range(8):
            chord = player.harmony.at(b0 + k / 2)
            root = fit(40 + ((chord.root - 40) % 12), player.lo, player.hi)
            for pitch in (root, root + 7, root + 12)[: 3 if k % 2 == 0 else 2]:
                player.play(pitch, b0 + k / 2, 0.4, player.vel(base, 8 if k % 2 == 0 else 0, 4))
    else:  # muted: palm-muted chord chops in sixteenths
        steps = state["muted"]
        for s in steps:
            chord = player.harmony.at(b0 + s / 4)
            for j, pitch in enumerate(voicing(chord, 62, 3, player.lo, player.hi, None, rng)):
                player.play(
                    pitch, b0 + s / 4, 0.18, player.vel(base, 8 if s % 4 == 0 else 0), j * 0.005
                )


def play_comp(player: Player, family: str, program: int) -> str:
    """Chord accompaniment; returns the style."""
    rng = player.rng
    styles = _PROGRAM_COMP.get(program, COMP_STYLES.get(family, ("block",)))
    style = choose(rng, styles)
    left = family == "piano" and style in ("block", "arpeggio")
    base = rng.uniform(66, 94)
    state: dict = {
        "prev": None,
        "voices": int(choose(rng, (3, 4, 4))),
        "cell": choose(rng, BLOCK_CELLS),
        "strum": choose(rng, STRUM_CELLS),
        "stabs": choose(rng, STAB_CELLS),
        "rate": float(choose(rng, (0.5, 0.25) if player.tempo < 125 else (0.5,))),
        "shape": choose(rng, ("up", "down", "updown")),
        "muted": choose(rng, ((0, 2, 3, 6, 8, 10, 11, 14), (0, 3, 4, 6, 8, 11, 12, 14, 15))),
    }
    for bar in range(player.n_bars):
        if bar % 2 == 0 and rng.random() < 0.4:
            state["cell"] = choose(rng, BLOCK_CELLS)
            state["strum"] = choose(rng, STRUM_CELLS)
        if left:
            _left_hand(player, bar * 4, base, every_half=player.harmony.beats_per_chord < 4)
        _comp_bar(player, style, bar * 4, base, state)
    return style


# --------------------------------------------------------------------------------------------
# Pads


def play_pad(player: Player) -> str:
    """Sustained voice-led chords, one per chord change (or re-struck each bar)."""
    rng = player.rng
    style = choose(rng, ("sustain", "sustain", "restrike", "wide"))
    base = rng.uniform(58, 88)
    n_voices = 2 if player.hi - player.lo < 30 else int(choose(rng, (3, 4)))
    center = float(np.clip((player.lo + player.hi) / 2 - 3, player.lo + 8, 72))
    prev: list[int] | None = None
    step = player.harmony.beats_per_chord
    if style == "restrike":
        step = min(step, 4.0)
    beat = 0.0
    while beat < player.n_beats:
        chord = player.harmony.at(beat)
        prev = voicing(chord, center, n_voices, player.lo, player.hi, prev, rng)
        notes = list(prev)
        if style == "wide" and len(notes) >= 3:
            notes[1] = fit(notes[1] - 12, player.lo, player.hi)  # drop-2 open voicing
        for pitch in notes:
            player.play(pitch, beat, step * 0.98, player.vel(base, 0, 4))
        beat += step
    return style


# --------------------------------------------------------------------------------------------
# Melody and counter-melody

MELODY_CELLS = (
    ((0, 1), (1, 1), (2, 1), (3, 1)),
    ((0, 1.5), (1.5, 0.5), (2, 2)),
    ((0, 0.5), (0.5, 0.5), (1, 1), (2, 0.5), (2.5, 0.5), (3, 1)),
    ((0, 2), (2, 1), (3, 1)),
    ((0.5, 0.5), (1, 1), (2, 0.5), (2.5, 1.5)),
    ((0, 0.75), (0.75, 0.75), (1.5, 0.5), (2, 2)),
    ((0, 3), (3, 0.5), (3.5, 0.5)),
    ((0, 0.5), (0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 1), (3, 1)),
)
SLOW_CELLS = (
    ((0, 2), (2, 2)),
    ((0, 4),),
    ((0, 3), (3, 1)),
    ((0, 1), (1, 3)),
    ((0, 2), (2, 1), (3, 1)),
)


@dataclass
class Line:
    """A melodic line moving on the scale, with chord tones on strong beats."""

    scale_pitches: list[int]
    index: int

    def step(self, rng: np.random.Generator, leap_p: float) -> int:
        """Move by a step (or sometimes a leap) and return the new pitch."""
        if rng.random() < leap_p:
            move = int(choose(rng, (-4, -3, -2, 2, 3, 4)))
        else:
            move = int(choose(rng, (-1, 1, 1, -1, 0)))
        target = self.index + move
        if not 0 <= target < len(self.scale_pitches):
            target = self.index - move
        self.index = int(np.clip(target, 0, len(self.scale_pitches) - 1))
        return self.scale_pitches[self.index]

    def snap(self, pcs: tuple[int, ...]) -> int:
        """Move to the nearest chord tone and return it."""
        best = min(
            range(len(self.scale_pitches)),
            key=lambda i: (self.scale_pitches[i] % 12 not in pcs, abs(i - self.index)),
        )
        self.index = best
        return self.scale_pitches[best]


def _motif(player: Player, line: Line, cells, b0: float, leap_p: float) -> list[tuple]:
    """Notes of a new motif over ``len(cells)`` bars: (beat offset, beats, pitch)."""
    notes = []
    for i, cell in enumerate(cells):
        for onset, dur in cell:
            beat = b0 + 4 * i + onset
            pitch = line.step(player.rng, leap_p)
            if onset in (0, 2):
                pitch = line.snap(player.harmony.at(beat).pcs)
            notes.append((4 * i + onset, dur, pitch))
    return notes


def _resolve(player: Player, pitch: int, beat: float) -> int:
    """Keep a repeated motif note, or move it to a chord tone if it clashes on a strong beat."""
    chord = player.harmony.at(beat)
    if beat % 2 == 0 and pitch % 12 not in chord.pcs:
        options = pitches_with(chord.pcs, player.lo, player.hi)
        if options:
            return min(options, key=lambda p: abs(p - pitch))
    return pitch


def play_melody(player: Player, counter: bool) -> str:
    """A phrased melody (or, with ``counter``, a slower line in a lower register)."""
    rng = player.rng
    lo, hi = player.lo, player.hi
    span = hi - lo
    if counter:
        lo, hi = lo, lo + max(12, int(span * 0.65))
        cells_pool, leap_p, base = SLOW_CELLS, 0.15, rng.uniform(64, 88)
    else:
        lo, hi = lo + min(3, span // 6), hi - min(4, span // 6)
        cells_pool, leap_p, base = MELODY_CELLS, 0.2, rng.uniform(76, 104)
        if player.tempo > 130:
            cells_pool = MELODY_CELLS[:2] + MELODY_CELLS[3:4] + MELODY_CELLS[6:7] + SLOW_CELLS
    scale = pitches_with(player.harmony.scale, lo, hi)
    line = Line(scale, len(scale) // 2)
    legato = rng.uniform(0.75, 0.98)
    style = "counter" if counter else choose(rng, ("phrases", "call_response", "riff"))
    motif: list[tuple] = []
    for b0 in range(0, player.n_bars, 2):
        fresh = not motif or rng.random() < (0.7 if style == "phrases" else 0.35)
        if fresh:
            cells = [choose(rng, cells_pool) for _ in range(2)]
            motif = _motif(player, line, cells, b0 * 4, leap_p)
        shift = 0 if fresh else int(choose(rng, (0, 0, 1, -1)))
        for k, (offset, dur, pitch) in enumerate(motif):
            if style == "call_response" and b0 % 4 == 2 and offset >= 4:
                continue  # leave the answer's second bar to the others
            beat = b0 * 4 + offset
            if not fresh:
                pitch = _resolve(player, _shift_in_scale(scale, pitch, shift), beat)
            last = k == len(motif) - 1
            length = (dur + (0.5 if last else 0.0)) * legato
            accent = 6 if offset % 4 == 0 else (3 if offset % 2 == 0 else 0)
            player.play(pitch, beat, length, player.vel(base, accent, 6))
    return style


def _shift_in_scale(scale: list[int], pitch: int, steps: int) -> int:
    """Move a pitch by ``steps`` scale steps, staying inside ``scale``."""
    if pitch not in scale or not steps:
        return pitch
    index = int(np.clip(scale.index(pitch) + steps, 0, len(scale) - 1))
    return scale[index]


# --------------------------------------------------------------------------------------------
# Song


@dataclass
class SongPart:
    """One part of a song: its family, program, role, style and MIDI notes."""

    name: str
    family: str
    program: int
    role: str
    style: str
    part: Part

    @property
    def instrument(self) -> str:
        """The GM name of the program (or kit)."""
        return program_name(self.program, self.part.is_drum)


@dataclass
class Song:
    """A composed song: global musical facts and its parts."""

    seed: int
    index: int
    tempo: int
    key: str
    progression: tuple[int, ...]
    beats_per_chord: float
    swing: float
    n_bars: int
    parts: list[SongPart]

    @property
    def song_id(self) -> str:
        """A stable identifier, e.g. ``s0-000042``."""
        return song_id(self.seed, self.index)


def song_id(seed: int, index: int) -> str:
    """The identifier of song ``index`` of a corpus rendered with ``seed``."""
    return f"s{seed}-{index:06d}"


def _family_weights(families: list[str]) -> np.ndarray:
    """Drawing weights: the band families twice as likely as the others."""
    w = np.array([2.0 if f in BAND_FAMILIES else 1.0 for f in families])
    return w / w.sum()


#: what a song's line-up may be: ``mixed`` (3-7 families drawn by :func:`draw_families`) or
#: ``band`` (exactly the five band families, one part each, as in a rock or pop band)
LINEUPS = ("mixed", "band")


def draw_families(rng: np.random.Generator) -> list[str]:
    """3-7 distinct families: drums in ~70 % of songs, bass in ~80 %, others weighted."""
    n_parts = int(rng.integers(3, 8))
    chosen = []
    if rng.random() < 0.7:
        chosen.append("drums")
    if rng.random() < 0.8:
        chosen.append("bass")
    others = [f for f in FAMILIES if f not in ("drums", "bass")]
    k = n_parts - len(chosen)
    picks = rng.choice(len(others), size=k, replace=False, p=_family_weights(others))
    chosen += [others[int(i)] for i in picks]
    return chosen


#: role weights per family (programs overriding their family below)
ROLE_WEIGHTS: dict[str, dict[str, float]] = {
    "piano": {"comp": 0.75, "melody": 0.25},
    "chromatic_percussion": {"comp": 0.5, "melody": 0.5},
    "organ": {"pad": 0.4, "comp": 0.4, "melody": 0.2},
    "guitar": {"comp": 0.8, "melody": 0.2},
    "strings": {"pad": 0.45, "melody": 0.25, "counter": 0.15, "comp": 0.15},
    "choir": {"pad": 0.7, "melody": 0.3},
    "brass": {"melody": 0.45, "counter": 0.3, "comp": 0.25},
    "reed": {"melody": 0.6, "counter": 0.4},
    "pipe": {"melody": 0.65, "counter": 0.35},
    "synth_lead": {"melody": 0.7, "comp": 0.3},
    "synth_pad": {"pad": 1.0},
    "plucked": {"comp": 0.5, "melody": 0.5},
}
_PROGRAM_ROLES: dict[int, dict[str, float]] = {
    22: {"melody": 1.0}, 40: {"melody": 0.7, "counter": 0.3}, 110: {"melody": 1.0},
    41: {"counter": 0.6, "pad": 0.4}, 42: {"counter": 0.6, "pad": 0.4}, 43: {"pad": 1.0},
    44: {"pad": 1.0}, 45: {"comp": 1.0}, 46: {"comp": 1.0}, 48: {"pad": 0.7, "melody": 0.3},
    49: {"pad": 0.7, "melody": 0.3}, 50: {"pad": 1.0}, 51: {"pad": 1.0},
    56: {"melody": 0.7, "counter": 0.3}, 59: {"melody": 0.7, "counter": 0.3},
    57: {"counter": 1.0}, 58: {"counter": 1.0}, 60: {"counter": 0.6, "melody": 0.4},
    61: {"comp": 0.6, "melody": 0.4}, 62: {"comp": 0.6, "melody": 0.4},
    63: {"comp": 0.6, "pad": 0.4},
    67: {"counter": 1.0}, 70: {"counter": 1.0}, 87: {"melody": 1.0},
    14: {"melody": 1.0}, 109: {"melody": 1.0},
}  # fmt: skip
HARMONY_ROLES = ("comp", "pad")


def role_options(family: str, program: int) -> dict[str, float]:
    """The roles an instrument may take, with weights."""
    if family in ("drums", "bass"):
        return {family: 1.0}
    return _PROGRAM_ROLES.get(program, ROLE_WEIGHTS[family])


def draw_role(rng: np.random.Generator, family: str, program: int) -> str:
    """A role for an instrument, by its weights."""
    options = role_options(family, program)
    names = list(options)
    p = np.array([options[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def balance_roles(roles: list[str], options: list[dict[str, float]]) -> list[str]:
    """At most one melody (others become counter-lines if they can), and some harmony."""
    roles = list(roles)
    seen_melody = False
    for i, role in enumerate(roles):
        if role == "melody":
            if seen_melody and "counter" in options[i]:
                roles[i] = "counter"
            seen_melody = True
    if not any(r in HARMONY_ROLES for r in roles):
        for i, role in enumerate(roles):
            can = [r for r in HARMONY_ROLES if r in options[i]]
            if can and role not in ("drums", "bass"):
                roles[i] = can[0]
                break
    return roles


def _rest_bars(rng: np.random.Generator, n_bars: int, role: str) -> frozenset[int]:
    """Bars where a part rests: rare, never two in a row, never more than a quarter."""
    p = {"drums": 0.03, "bass": 0.05, "melody": 0.1, "counter": 0.1}.get(role, 0.07)
    rests: set[int] = set()
    for bar in range(n_bars):
        if rng.random() < p and bar - 1 not in rests and len(rests) < n_bars // 4:
            rests.add(bar)
    return frozenset(rests)


_JITTER_MS = {"drums": 4.0, "bass": 6.0, "comp": 7.0, "pad": 10.0, "melody": 9.0, "counter": 9.0}


def _controls(rng: np.random.Generator, role: str) -> dict[int, int]:
    """Volume, pan, expression and random reverb (CC91) / chorus (CC93) sends."""
    reverb_max = 50 if role in ("drums", "bass") else 90
    chorus_max = 10 if role == "drums" else 50
    return {
        7: 100,
        10: 64,
        11: 127,
        91: int(rng.integers(0, reverb_max)),
        93: int(rng.integers(0, chorus_max)),
    }


def _perform(player: Player, family: str, program: int, role: str) -> str:
    """Write one part's notes for its role; returns the style."""
    if role == "drums":
        return play_drums(player)
    if role == "bass":
        return play_bass(player)
    if role == "comp":
        return play_comp(player, family, program)
    if role == "pad":
        return play_pad(player)
    return play_melody(player, counter=role == "counter")


def compose_song(
    seed: int,
    index: int,
    seconds: float = 16.0,
    presets: Mapping[tuple[int, int], str] | None = None,
    lineup: str = "mixed",
) -> Song:
    """Compose song ``index`` of the corpus with ``seed``, long enough for ``seconds``.

    ``presets`` (a SoundFont's preset table) limits programs and drum kits to those the
    SoundFont holds; ``None`` allows all of General MIDI. ``lineup`` (one of
    :data:`LINEUPS`) chooses the families: ``mixed`` draws 3-7 of them, ``band`` plays all
    five band families, one part each.
    """
    if lineup not in LINEUPS:
        raise ValueError(f"unknown line-up {lineup!r} (known: {', '.join(LINEUPS)})")
    rng = np.random.default_rng((seed, index))
    tempo = int(rng.integers(70, 161))
    n_bars = math.ceil((seconds + 1.0) * tempo / 240.0)
    harmony = Harmony.random(rng)
    swing = float(rng.uniform(0.08, 0.17)) if rng.random() < 0.2 else 0.0
    families = draw_families(rng) if lineup == "mixed" else list(BAND_FAMILIES)
    programs = [_draw_program(rng, family, presets) for family in families]
    options = [role_options(f, p) for f, p in zip(families, programs, strict=True)]
    roles = balance_roles(
        [draw_role(rng, f, p) for f, p in zip(families, programs, strict=True)], options
    )
    parts = []
    for family, program, role in zip(families, programs, roles, strict=True):
        lo, hi = comfortable_range(family, program)
        player = Player(
            rng=rng,
            harmony=harmony,
            tempo=tempo,
            n_bars=n_bars,
            swing=swing,
            lo=lo,
            hi=hi,
            part=Part(program, is_drum=family == "drums", controls=_controls(rng, role)),
            jitter_ms=_JITTER_MS[role],
            feel_s=float(rng.uniform(-0.008, 0.008)),
            rest_bars=_rest_bars(rng, n_bars, role),
        )
        style = _perform(player, family, program, role)
        parts.append(SongPart(family, family, program, role, style, player.part))
    return Song(
        seed=seed,
        index=index,
        tempo=tempo,
        key=harmony.name,
        progression=harmony.degrees,
        beats_per_chord=harmony.beats_per_chord,
        swing=swing,
        n_bars=n_bars,
        parts=parts,
    )


def _draw_program(
    rng: np.random.Generator, family: str, presets: Mapping[tuple[int, int], str] | None
) -> int:
    """A random program (or drum kit) of ``family`` that the SoundFont holds."""
    if family == "drums":
        return int(choose(rng, drum_kits(presets)))
    programs = melodic_programs(family, presets) or FAMILIES[family]
    return int(choose(rng, programs))
