"""The harmony and tunes of a composed song: chord accompaniment, pads, melodies and
counter-melodies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.music import Chord, Player, choose, fit, nearest, pitches_with, voicing

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
