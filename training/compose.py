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
from dataclasses import dataclass

import numpy as np

from training.families import (
    BAND_FAMILIES,
    FAMILIES,
    drum_kits,
    melodic_programs,
    program_name,
)
from training.grooves import play_bass, play_drums
from training.midi import Part
from training.music import Harmony, Player, choose, comfortable_range
from training.voices import play_comp, play_melody, play_pad

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
