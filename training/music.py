"""The composer's musical ground: keys, chord loops, comfortable ranges, voicings, and the
``Player`` that writes one part's notes with its timing, accents and rests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from training.midi import Part

T = TypeVar("T")

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


def choose(rng: np.random.Generator, options: Sequence[T], p: list[float] | None = None) -> T:
    """One element of ``options`` (numpy's choice, without numpy scalar types)."""
    index = int(rng.choice(len(options), p=p))
    return options[index]
