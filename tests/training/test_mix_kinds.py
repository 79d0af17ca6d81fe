"""The mixture sampler's other kinds of example on a synthetic corpus: whole-song crops, solo
stems, refusals and the second look."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.training.mixtures import RATE, make_sampler, placed_audio, stem_crop, write_corpus
from training.augment import equalise, without_others
from training.stems import active_level


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("mixcorpus"))


@pytest.fixture(scope="module")
def song_examples(corpus: Path):
    return make_sampler(corpus, seed=2, p_song=1.0).batch(200)


def test_whole_song_examples_crop_one_song_at_one_instant(corpus: Path, song_examples):
    for ex in song_examples:
        assert ex.kind == "song" and len(ex.targets) == 1
        (target,) = ex.targets
        assert ex.sources[0].ref == target and ex.family == target.family
        assert 2 <= len(ex.sources) <= 4  # the fixture's songs have four stems
        assert len({p.ref.song for p in ex.sources}) == 1
        assert len({p.ref.index for p in ex.sources}) == len(ex.sources)
        assert len({p.start for p in ex.sources}) == 1
        if target.index == 0:  # the target is cropped where it plays
            assert ex.sources[0].start >= 3 * RATE
    # Stems silent at that instant stay in the mixture (silent), as in the song.
    assert any(p.ref.index == 0 and p.start < 3 * RATE for ex in song_examples for p in ex.sources)


def test_whole_song_mixture_and_target_are_the_placed_crops(corpus: Path, song_examples):
    for ex in song_examples[:40]:
        crops = [p.gain * equalise(stem_crop(corpus, p.ref, p.start), p.eq) for p in ex.sources]
        assert np.allclose(ex.mix, sum(crops), atol=1e-5)
        assert np.allclose(ex.target, crops[0], atol=1e-5)
        assert np.max(np.abs(ex.mix)) <= 1.0 + 1e-6


def test_whole_song_levels_follow_the_stem_in_its_song_not_the_crop(corpus: Path, song_examples):
    """Each stem's level in its song is set to -28 dBFS +- 10 dB (a mixture that would clip
    is scaled down), so a crop where the stem is silent is not brought up."""
    for ex in song_examples:
        for p in ex.sources:
            meta = json.loads((corpus / "songs" / p.ref.song / "meta.json").read_text())
            level = active_level(meta["stems"][p.ref.index]["rms_db_per_second"])
            placed = 20 * np.log10(p.gain) + level
            assert placed <= -18.0 + 1e-6
            if np.max(np.abs(ex.mix)) < 1.0 - 1e-6:  # not scaled down
                assert placed >= -38.0 - 1e-6


def test_active_level_is_the_power_mean_of_the_active_windows():
    assert active_level([-20.0, -20.0, -90.0]) == pytest.approx(-20.0)
    assert active_level([-10.0, -90.0, -20.0]) == pytest.approx(10 * np.log10((0.1 + 0.01) / 2))
    assert active_level([-90.0, -60.0]) == -28.0  # never active: the common level


def test_the_song_share_decides_how_often_an_example_is_a_whole_song(corpus: Path):
    kinds = [ex.kind for ex in make_sampler(corpus, seed=3, p_song=0.5).batch(400)]
    assert 0.4 < kinds.count("song") / len(kinds) < 0.6
    assert {"single", "pair", "absent"} <= set(kinds)
    a, b = (make_sampler(corpus, 6, p_song=0.5).batch(20) for _ in range(2))
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.sources) == (y.kind, y.sources) and np.array_equal(x.mix, y.mix)


def test_a_solo_example_is_one_stem_alone_and_its_target_is_the_mixture(corpus: Path):
    examples = make_sampler(corpus, seed=8, p_solo=0.5).batch(200)
    solos = [ex for ex in examples if ex.kind == "solo"]
    assert 0.38 * len(examples) < len(solos) < 0.62 * len(examples)
    assert {"single", "pair", "absent"} <= {ex.kind for ex in examples}
    for ex in solos[:20]:
        (placed,) = ex.sources
        assert ex.targets == (placed.ref,) and ex.family == placed.ref.family
        assert np.array_equal(ex.mix, ex.target) and np.any(ex.mix)
        assert np.allclose(ex.mix, placed_audio(corpus, placed), atol=1e-6)


def test_a_refusal_is_one_stem_alone_asked_for_as_another_family_with_a_silent_target(
    corpus: Path,
):
    examples = make_sampler(corpus, seed=8, p_solo=0.25, p_refuse=0.25).batch(200)
    kinds = [ex.kind for ex in examples]
    assert 0.13 * len(kinds) < kinds.count("refuse") < 0.37 * len(kinds)
    assert 0.13 * len(kinds) < kinds.count("solo") < 0.37 * len(kinds)
    refusals = [ex for ex in examples if ex.kind == "refuse"]
    for ex in refusals[:20]:
        (placed,) = ex.sources
        (asked,) = ex.targets
        assert ex.family == asked.family != placed.ref.family and asked.song != placed.ref.song
        assert not np.any(ex.target) and np.any(ex.mix)
        assert np.allclose(ex.mix, placed_audio(corpus, placed), atol=1e-6)
    assert len({ex.family for ex in refusals}) > 2  # asked for as many families, not one


def test_no_solo_or_refusal_share_draws_the_same_examples_as_before_they_existed(corpus: Path):
    """A share of 0 takes nothing from the random stream, so earlier runs stay repeatable."""
    a = make_sampler(corpus, seed=9, p_song=0.5).batch(30)
    b = make_sampler(corpus, seed=9, p_song=0.5, p_solo=0.0, p_refuse=0.0).batch(30)
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.sources) == (y.kind, y.sources) and np.array_equal(x.mix, y.mix)
    c = make_sampler(corpus, seed=9, p_solo=0.3).batch(30)
    d = make_sampler(corpus, seed=9, p_solo=0.3, p_refuse=0.0).batch(30)
    for x, y in zip(c, d, strict=True):
        assert (x.kind, x.sources) == (y.kind, y.sources) and np.array_equal(x.mix, y.mix)


def test_the_second_look_takes_the_others_away_as_far_as_asked() -> None:
    t = np.arange(3 * 22050) / 22050
    target = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    others = (0.3 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    mix = target + others
    same_mix, same_target = without_others(mix, target, recall=0.0, leak=0.0)
    assert np.abs(same_mix - mix).max() < 1e-4 and np.abs(same_target - target).max() < 1e-4
    heard, kept = without_others(mix, target, recall=1.0, leak=0.0)
    assert heard.shape == kept.shape == mix.shape and heard.dtype == np.float32
    assert np.sum((heard - target) ** 2) < 1e-3 * np.sum(target**2)  # the others are gone
    assert np.sum((kept - target) ** 2) < 1e-3 * np.sum(target**2)  # the target is not
    _, leaked = without_others(mix, target, recall=0.0, leak=0.3)
    assert np.sum(leaked**2) / np.sum(target**2) == pytest.approx(0.49, abs=0.02)


def test_a_look_share_hears_single_and_song_examples_as_the_second_look(corpus: Path) -> None:
    examples = make_sampler(corpus, seed=12, p_song=0.5, p_look=0.5).batch(200)
    looks = [e for e in examples if e.kind == "look"]
    asked = [e for e in examples if e.kind in ("single", "song", "look")]
    assert 0.35 * len(asked) < len(looks) < 0.65 * len(asked)
    for example in looks[:20]:
        assert len(example.targets) == 1 and np.any(example.target)
        unheard = np.sum([placed_audio(corpus, p) for p in example.sources], axis=0)
        assert np.sum(example.mix**2) < np.sum(unheard**2)  # some of the others taken away
