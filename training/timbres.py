"""The random changes of a training mixture's sources beyond the equaliser (numpy only, seeded).

``training.mixes`` draws a :class:`~training.augment.Timbre` for every source with
:class:`TimbreDraws`; ``training.augment.source_audio`` applies it. The query stays that of the
unchanged stem, so the network learns that one instrument sounds different from one sample
library to another.

A share ``p_timbre`` of the sources is changed in timbre, each change drawn on its own:
resampled by up to ±:data:`SHIFT_SEMITONES` (pitch, formants and tempo move together, as between
two recordings of one instrument sampled at other notes), soft-clipped (more or fewer
harmonics), or put in a synthetic room (an exponentially decaying noise burst: the ambience
each library was recorded in). In a whole-song example one resampling factor serves every
source, so the song stays in one key and one tempo.

A share ``p_texture`` of the sources is changed in texture too, each change drawn on its own:
its **dynamics** (``augment.dynamics``: its envelope expanded or compressed, so attacks and
decays take other shapes, as between libraries that sampled one instrument with other envelopes)
and a **chorus** (``augment.chorus``: a copy detuned by a few cents and delayed by a few
milliseconds, as in layered or ensemble samples).

A share ``p_gap`` of the sources has a **gap** (``Timbre.gap``, ``augment.silence``): it enters
late, stops early or pauses, silent over 20-60 % of the crop. Crops are otherwise taken where
a stem plays throughout, so without gaps every source of a mixture plays from the first frame
to the last, and the network could decide once per crop whether an instrument is there: with
the bass in one half of a crop, v8tu's strings mask fell in the other half too (0.70 to about
0.45; docs/separator.md, "What limits it"). Songs are not like that. The target keeps its gap.

A share of 0 draws nothing, so the examples stay those drawn before the change existed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from training.augment import Timbre

SHIFT_SEMITONES = 1.5  # timbre: the largest resampling, up or down
DRIVE = (0.5, 2.5)  # timbre: range of the soft clipper's drive
ROOM_SECONDS = (0.2, 1.2)  # timbre: range of the synthetic room's RT60
WET = (0.1, 0.4)  # timbre: range of the room's share of the sound
DYNAMICS = 0.4  # texture: the largest exponent of the envelope's gain, up or down
DETUNE_CENTS = (5.0, 15.0)  # texture: range of the chorus copy's detuning, up or down
CHORUS_DELAY = (0.005, 0.025)  # texture: range of the chorus copy's delay in seconds
CHORUS_WET = (0.2, 0.6)  # texture: range of the chorus copy's level against the dry sound
GAP_SHARE = (0.2, 0.6)  # gaps: range of the share of the crop where a source is silent


@dataclass(frozen=True)
class TimbreDraws:
    """The chances of each change of a source (see the module docstring)."""

    p_timbre: float = 0.0
    p_texture: float = 0.0
    p_gap: float = 0.0

    def rate(self, rng: np.random.Generator) -> float:
        """A random resampling factor (1 when the timbre is left alone)."""
        if self.p_timbre <= 0 or rng.random() >= self.p_timbre:
            return 1.0
        return float(2.0 ** (rng.uniform(-SHIFT_SEMITONES, SHIFT_SEMITONES) / 12.0))

    def longest(self, n: int) -> int:
        """The most input samples a crop of ``n`` output samples takes (resampled at the
        largest factor, or ``n`` when the timbre is left alone)."""
        if self.p_timbre <= 0:
            return n
        return Timbre(2.0 ** (SHIFT_SEMITONES / 12.0)).span(n)

    def draw(self, rng: np.random.Generator, rate: float) -> Timbre:
        """A random change of timbre, texture and gap around the resampling factor ``rate``."""
        timbre = timbre_change(rng, self.p_timbre, rate)
        return gap_change(rng, self.p_gap, texture_change(rng, self.p_texture, timbre))


def timbre_change(rng: np.random.Generator, p: float, rate: float) -> Timbre:
    """A soft clipper and a room, each with chance ``p``, around the resampling ``rate``."""
    if p <= 0:
        return Timbre(rate)
    drive = float(rng.uniform(*DRIVE)) if rng.random() < p else 0.0
    if rng.random() >= p:
        return Timbre(rate, drive)
    rt60, wet = float(rng.uniform(*ROOM_SECONDS)), float(rng.uniform(*WET))
    return Timbre(rate, drive, rt60, wet, int(rng.integers(2**31)))


def texture_change(rng: np.random.Generator, p: float, timbre: Timbre) -> Timbre:
    """``timbre`` with random dynamics and chorus, each with chance ``p``."""
    if p <= 0:
        return timbre
    if rng.random() < p:
        timbre = replace(timbre, dynamics=float(rng.uniform(-DYNAMICS, DYNAMICS)))
    if rng.random() < p:
        sign = 1.0 if rng.random() < 0.5 else -1.0
        timbre = replace(timbre, detune=sign * float(rng.uniform(*DETUNE_CENTS)),
                         delay=float(rng.uniform(*CHORUS_DELAY)),
                         chorus=float(rng.uniform(*CHORUS_WET)))  # fmt: skip
    return timbre


def gap_change(rng: np.random.Generator, p: float, timbre: Timbre) -> Timbre:
    """``timbre`` with, at chance ``p``, a gap: the source enters late, stops early or pauses,
    silent over a random share :data:`GAP_SHARE` of the crop."""
    if p <= 0 or rng.random() >= p:
        return timbre
    share = float(rng.uniform(*GAP_SHARE))
    pause = float(rng.uniform(0.1, 0.9 - share))
    first = (0.0, 1.0 - share, pause)[int(rng.integers(3))]  # enters late, stops, pauses
    return replace(timbre, gap=(float(first), float(first) + share))
