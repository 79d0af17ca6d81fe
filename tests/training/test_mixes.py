"""The mixture sampler keeps its contract on a synthetic corpus (no rendering needed): remixed
examples, their sources, equalisers and targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.training.mixtures import RATE, N, make_sampler, stem_crop, write_corpus
from training.augment import EQ_POINTS, Timbre, equalise
from training.corpus import list_songs, split_songs
from training.mixes import MixSampler


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("mixcorpus"))


@pytest.fixture(scope="module")
def examples(corpus: Path):
    return make_sampler(corpus).batch(300)


def test_every_source_is_equalised_within_its_range(examples):
    gains = np.array([p.eq for ex in examples for p in ex.sources])
    assert gains.shape[1] == len(EQ_POINTS)
    assert np.abs(gains).max() <= 8.0 and np.abs(gains).max() > 7.0
    assert abs(gains.mean()) < 0.5


def test_no_equaliser_when_its_range_is_zero(corpus: Path):
    for ex in make_sampler(corpus, eq_db=0.0).batch(20):
        assert all(p.eq == () for p in ex.sources)


def test_equaliser_gain_at_its_points_and_flat_beyond():
    rate, n = 22050, 22050
    t = np.arange(n) / rate
    eq = (6.0, -6.0, 3.0, 0.0, -12.0, 9.0)
    for freq, want in [*zip(EQ_POINTS, eq, strict=True), (30.0, 6.0), (9000.0, 9.0)]:
        tone = np.sin(2 * np.pi * freq * t)
        out = equalise(tone, eq, rate)
        got = 20 * np.log10(np.std(out) / np.std(tone))
        assert got == pytest.approx(want, abs=0.05), freq
    assert equalise(tone, ()) is tone


def test_mix_is_the_sum_of_its_sources(corpus: Path, examples):
    for ex in examples[:60]:
        assert ex.mix.dtype == np.float32 and ex.target.dtype == np.float32
        assert ex.mix.shape == ex.target.shape == (N,)
        assert 2 <= len(ex.sources) <= 6
        assert all(p.timbre == Timbre() for p in ex.sources)
        total = sum(p.gain * equalise(stem_crop(corpus, p.ref, p.start), p.eq) for p in ex.sources)
        assert np.allclose(ex.mix, total, atol=1e-5)
        assert np.max(np.abs(ex.mix)) <= 1.0 + 1e-6


def test_at_most_one_stem_per_family(examples):
    for ex in examples:
        families = [p.ref.family for p in ex.sources]
        assert len(set(families)) == len(families)


def test_single_and_pair_targets_are_sources_of_the_mix(examples):
    assert {ex.kind for ex in examples} == {"single", "pair", "absent"}
    for ex in examples:
        if ex.kind == "absent":
            continue
        refs = [p.ref for p in ex.sources]
        assert len(ex.targets) == (2 if ex.kind == "pair" else 1)
        assert len(set(ex.targets)) == len(ex.targets)
        assert all(t in refs for t in ex.targets)
        assert ex.family == "+".join(sorted(t.family for t in ex.targets))


def test_target_matches_the_named_stems(corpus: Path, examples):
    for ex in [e for e in examples if e.kind != "absent"][:40]:
        by_ref = {p.ref: p for p in ex.sources}
        want = sum(
            by_ref[t].gain * equalise(stem_crop(corpus, t, by_ref[t].start), by_ref[t].eq)
            for t in ex.targets
        )
        assert np.allclose(ex.target, want, atol=1e-5)


def test_absent_target_is_silent_and_names_another_family_and_song(examples):
    absent = [ex for ex in examples if ex.kind == "absent"]
    assert absent
    for ex in absent:
        assert not ex.target.any()
        assert len(ex.targets) == 1
        (ref,) = ex.targets
        assert ref.family == ex.family
        assert ref.family not in {p.ref.family for p in ex.sources}
        assert ref.song not in {p.ref.song for p in ex.sources}


def test_crops_are_taken_where_the_stem_is_active(examples):
    for ex in examples:
        for p in ex.sources:
            if p.ref.index == 0:  # the first stems are silent for their first 3 s
                assert p.start >= 3 * RATE


def test_same_seed_same_examples(corpus: Path):
    a, b = make_sampler(corpus, 4).batch(10), make_sampler(corpus, 4).batch(10)
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.family, x.targets, x.sources) == (y.kind, y.family, y.targets, y.sources)
        assert np.array_equal(x.mix, y.mix) and np.array_equal(x.target, y.target)
    c = make_sampler(corpus, 5).batch(10)
    assert [x.sources for x in a] != [x.sources for x in c]


def test_split_is_deterministic_disjoint_and_complete(corpus: Path):
    train, valid = split_songs(corpus, valid_fraction=0.2, seed=0)
    assert (train, valid) == split_songs(corpus, valid_fraction=0.2, seed=0)
    assert valid and not set(train) & set(valid)
    assert sorted(train + valid) == list_songs(corpus)
    sampler = MixSampler(corpus, songs=valid, rng=np.random.default_rng(0))
    assert {p.ref.song for ex in sampler.batch(20) for p in ex.sources} <= set(valid)
