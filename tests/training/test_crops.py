"""Crops are taken where a stem plays, at the length the sampler actually reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.augment import Timbre
from training.corpus import SAMPLE_RATE
from training.mixes import MixSampler
from training.render import rms_db_per_second, to_int16
from training.stems import ACTIVE_DB, crop_windows
from training.timbres import SHIFT_SEMITONES, TimbreDraws

N = 3 * SAMPLE_RATE
ACTIVE_SECONDS = 5  # each stem plays for 5 s, then is silent for 3
SECONDS = 8


def _corpus(out: Path) -> Path:
    """Four songs of two stems (piano and bass), each playing only over its first 5 s."""
    rng = np.random.default_rng(3)
    t = np.arange(SECONDS * SAMPLE_RATE) / SAMPLE_RATE
    for i in range(4):
        song = f"s0-{i:06d}"
        folder = out / "songs" / song
        folder.mkdir(parents=True)
        stems = []
        for _ in range(2):
            x = 0.3 * np.sin(2 * np.pi * rng.uniform(80, 800) * t)
            x[ACTIVE_SECONDS * SAMPLE_RATE :] = 0.0
            stems.append(to_int16(x))
        meta = {
            "id": song,
            "stems": [
                {"name": f, "family": f, "program": 0, "role": "x",
                 "rms_db_per_second": rms_db_per_second(s / 32768.0)}
                for f, s in zip(("piano", "bass"), stems, strict=True)
            ],
        }  # fmt: skip
        np.save(folder / "stems.npy", np.stack(stems))
        (folder / "meta.json").write_text(json.dumps(meta))
    return out


def test_the_longest_crop_is_the_unresampled_one_without_timbre_changes():
    assert TimbreDraws().longest(N) == N
    longest = TimbreDraws(p_timbre=0.5).longest(N)
    assert longest == Timbre(2.0 ** (SHIFT_SEMITONES / 12.0)).span(N)
    assert longest > N + SAMPLE_RATE // 4  # a quarter of a window more, at least


def test_windows_are_checked_over_the_longest_crop():
    levels = [-20.0] * ACTIVE_SECONDS + [-120.0] * (SECONDS - ACTIVE_SECONDS)
    n_samples = SECONDS * SAMPLE_RATE
    assert list(crop_windows(levels, n_samples, N)) == [0, 1]  # covering windows w .. w + 3
    longest = TimbreDraws(p_timbre=1.0).longest(N)
    assert list(crop_windows(levels, n_samples, longest)) == [0]  # w .. w + 4


def test_a_resampled_crop_lies_where_the_stem_is_active(tmp_path: Path):
    corpus = _corpus(tmp_path)
    sampler = MixSampler(corpus, seconds=3.0, rng=np.random.default_rng(5), p_pair=0.3,
                         p_absent=0.0, eq_db=0.0, p_timbre=1.0)  # fmt: skip
    levels = {(s.ref.song, s.ref.index): rms_db_per_second(s.data / 32768.0)
              for stems in sampler.songs.values() for s in stems}  # fmt: skip
    longer = 0
    for ex in sampler.batch(200):
        for p in ex.sources:
            span = p.timbre.span(N)
            longer += span > N
            first, last = p.start // SAMPLE_RATE, (p.start + span - 1) // SAMPLE_RATE
            covered = levels[(p.ref.song, p.ref.index)][first : last + 1]
            assert last < ACTIVE_SECONDS and min(covered) > ACTIVE_DB, (p.start, span)
    assert longer > 50  # many crops were resampled to be longer
