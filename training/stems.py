"""A rendered song's stems as the mixture sampler crops them (numpy only).

A stem is cropped only where it is active: every 1-s window a crop covers above
:data:`ACTIVE_DB`, by the stem's ``rms_db_per_second`` in ``meta.json`` (a stem never that long
active is cropped where most of a crop is, at least half; :func:`crop_windows`). Its level in its
song is its RMS over its active windows. The samples stay in a memory map, so opening a song
reads only its metadata.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.corpus import SAMPLE_RATE

ACTIVE_DB = -40.0  # a 1-s window above this RMS (dBFS) is active
LEVEL_DB = -28.0  # the common RMS (dBFS) of a source in a mixture; a never active stem's level


@dataclass(frozen=True)
class StemRef:
    """One stem of the corpus: row ``index`` of ``songs/<song>/stems.npy``."""

    song: str
    index: int
    family: str
    program: int


@dataclass
class Stem:
    """A stem with its memory-mapped samples and the crop starts where it is active."""

    ref: StemRef
    data: np.ndarray  # int16 [samples], a row of a memory map
    windows: np.ndarray  # int: first 1-s windows of acceptable crops
    level_db: float  # RMS (dBFS) over its active 1-s windows: its level in its song


def active_level(levels: list[float]) -> float:
    """A stem's RMS in dBFS over its active 1-s windows (:data:`LEVEL_DB` if none is)."""
    db = np.asarray(levels, dtype=np.float64)
    db = db[db > ACTIVE_DB]
    if not len(db):
        return LEVEL_DB
    return float(10 * np.log10(np.mean(10 ** (db / 10))))


def crop_windows(levels: list[float], n_samples: int, crop: int) -> np.ndarray:
    """First 1-s windows of crops of up to ``crop`` samples whose every covered window is active.

    ``crop`` is the longest crop the sampler takes: a crop resampled to be longer
    (``TimbreDraws.longest``) must be checked at its own length, not the unresampled one. A crop
    starting in window ``w`` covers windows ``w .. w + ceil(crop / SAMPLE_RATE)``. If no start is
    fully active, the starts with the most active windows (at least half) are kept.
    """
    active = np.asarray(levels, dtype=np.float64) > ACTIVE_DB
    last_start = (n_samples - crop) // SAMPLE_RATE
    span = math.ceil(crop / SAMPLE_RATE) + 1
    if last_start < 0 or not active.any():
        return np.zeros(0, dtype=np.int64)
    score = np.array([active[w : w + span].mean() for w in range(last_start + 1)])
    best = score.max()
    if best < 0.5:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(score >= best)


def open_song(corpus: Path, song: str, crop: int) -> list[Stem]:
    """Every stem of ``song``, by row, with the starts of its active crops of up to ``crop``
    samples (none where it is never active long enough)."""
    folder = Path(corpus) / "songs" / song
    meta = json.loads((folder / "meta.json").read_text())
    stems = np.load(folder / "stems.npy", mmap_mode="r")
    rows = []
    for k, info in enumerate(meta["stems"]):
        levels = info["rms_db_per_second"]
        ref = StemRef(song, k, info["family"], int(info["program"]))
        windows = crop_windows(levels, stems.shape[1], crop)
        rows.append(Stem(ref, stems[k], windows, active_level(levels)))
    return rows
