"""The changes of a mixture's sources beyond the equaliser: timbre (resampling, soft clipping, a
room), texture (dynamics, a chorus) and gaps, each drawn with its chance and applied as placed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.training.mixtures import RATE, SECONDS, N, make_sampler, placed_audio, write_corpus
from training.augment import Timbre, chorus, dynamics, resample, room, silence, soft_clip
from training.mixes import SPREAD_DB
from training.stems import LEVEL_DB
from training.timbres import DETUNE_CENTS, DYNAMICS, GAP_SHARE, SHIFT_SEMITONES


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("mixcorpus"))


@pytest.fixture(scope="module")
def timbre_examples(corpus: Path):
    return make_sampler(corpus, seed=7, p_song=0.5, p_timbre=0.5).batch(300)


@pytest.fixture(scope="module")
def texture_examples(corpus: Path):
    return make_sampler(corpus, seed=11, p_song=0.5, p_timbre=0.3, p_texture=0.5).batch(200)


def test_timbre_changes_are_drawn_each_with_its_chance_and_range(timbre_examples):
    timbres = [p.timbre for ex in timbre_examples for p in ex.sources]
    for share in (
        np.mean([t.rate != 1.0 for t in timbres]),
        np.mean([t.drive > 0 for t in timbres]),
        np.mean([t.room > 0 for t in timbres]),
    ):
        assert 0.4 < share < 0.6
    semitones = np.abs(12 * np.log2([t.rate for t in timbres]))
    assert semitones.max() <= SHIFT_SEMITONES + 1e-9 and semitones.max() > 1.2
    assert all(0.5 <= t.drive <= 2.5 for t in timbres if t.drive)
    assert all(0.2 <= t.room <= 1.2 and 0.1 <= t.wet <= 0.4 for t in timbres if t.room)


@pytest.fixture(scope="module")
def gap_examples(corpus: Path):
    return make_sampler(corpus, seed=13, p_song=0.5, p_timbre=0.3, p_gap=0.5).batch(200)


@pytest.mark.parametrize("changed", ["timbre_examples", "texture_examples", "gap_examples"])
def test_changed_mixture_and_target_are_the_placed_sources(corpus, changed, request):
    for ex in request.getfixturevalue(changed)[:50]:
        crops = {p.ref: placed_audio(corpus, p) for p in ex.sources}
        assert np.allclose(ex.mix, sum(crops.values()), atol=1e-5)
        want = sum((crops[t] for t in ex.targets), np.zeros(N)) if ex.kind != "absent" else 0
        assert np.allclose(ex.target, want, atol=1e-5)
        for p in ex.sources:  # the resampled crop lies inside the stem
            assert p.start + p.timbre.span(N) <= SECONDS * RATE


def test_a_whole_song_example_is_resampled_as_one(timbre_examples):
    songs = [ex for ex in timbre_examples if ex.kind == "song"]
    assert songs and any(ex.sources[0].timbre.rate != 1.0 for ex in songs)
    for ex in songs:  # one key and one tempo: the same factor for every source
        assert len({p.timbre.rate for p in ex.sources}) == 1


def test_resampling_moves_a_tone_by_its_factor():
    rate = 2 ** (1 / 12)
    tone = np.sin(2 * np.pi * 440.0 * np.arange(Timbre(rate).span(RATE)) / RATE)
    out = resample(tone, rate, RATE)
    assert len(out) == RATE
    spectrum = np.abs(np.fft.rfft(out * np.hanning(RATE)))
    assert np.argmax(spectrum) == pytest.approx(440.0 * rate, abs=1.0)  # 1-Hz bins
    assert np.array_equal(resample(tone, 1.0, 100), tone[:100])


def test_soft_clip_keeps_the_peak_and_adds_harmonics():
    tone = (0.5 * np.sin(2 * np.pi * 100.0 * np.arange(RATE) / RATE)).astype(np.float32)
    out = soft_clip(tone, 2.5)
    assert out.dtype == np.float32
    assert np.max(np.abs(out)) == pytest.approx(0.5, rel=1e-5)
    spectrum = np.abs(np.fft.rfft(out))
    assert spectrum[300] > 0.05 * spectrum[100]  # a third harmonic that the tone lacked
    assert soft_clip(tone, 0.0) is tone


def test_room_decays_by_60_db_in_its_rt60_and_mixes_its_share():
    impulse = np.zeros(RATE, dtype=np.float32)
    impulse[0] = 1.0
    out = room(impulse, 0.5, 0.3, seed=1)
    assert out.shape == impulse.shape and out.dtype == np.float32
    assert out[0] == pytest.approx(0.7 + 0.3 * (room(impulse, 0.5, 1.0, seed=1)[0]), abs=1e-6)
    tail = out[1:]
    early = np.sqrt(np.mean(tail[: RATE // 20] ** 2))
    late = np.sqrt(np.mean(tail[RATE // 2 - RATE // 20 - 1 : RATE // 2 - 1] ** 2))
    assert 20 * np.log10(early / late) == pytest.approx(60 * 0.45 / 0.5, abs=4.0)
    assert np.abs(tail[RATE // 2 :]).max() < 1e-6  # nothing after the response ends
    assert np.array_equal(room(impulse, 0.5, 0.3, seed=1), out)
    assert room(impulse, 0.0, 0.3, seed=1) is impulse


def test_texture_changes_are_drawn_each_with_its_chance_and_range(texture_examples):
    timbres = [p.timbre for ex in texture_examples for p in ex.sources]
    assert 0.4 < np.mean([t.dynamics != 0 for t in timbres]) < 0.6
    assert 0.4 < np.mean([t.detune != 0 for t in timbres]) < 0.6
    assert all(abs(t.dynamics) <= DYNAMICS for t in timbres)
    detuned = [t for t in timbres if t.detune]
    assert all(DETUNE_CENTS[0] <= abs(t.detune) <= DETUNE_CENTS[1] for t in detuned)
    assert {np.sign(t.detune) for t in detuned} == {-1.0, 1.0}
    assert all(0.005 <= t.delay <= 0.025 and 0.2 <= t.chorus <= 0.6 for t in detuned)


def test_no_texture_share_draws_the_same_examples_as_before_it_existed(corpus: Path):
    a = make_sampler(corpus, seed=12, p_song=0.5, p_timbre=0.3).batch(30)
    b = make_sampler(corpus, seed=12, p_song=0.5, p_timbre=0.3, p_texture=0.0).batch(30)
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.sources) == (y.kind, y.sources) and np.array_equal(x.mix, y.mix)


def test_dynamics_expand_or_compress_a_decay_and_keep_the_level_near():
    t = np.arange(RATE) / RATE
    note = (np.sin(2 * np.pi * 440.0 * t) * np.exp(-6.0 * t)).astype(np.float32)

    def decay_db(audio: np.ndarray) -> float:  # late against early RMS
        late, early = audio[RATE // 2 : RATE // 2 + RATE // 10], audio[: RATE // 10]
        return float(20 * np.log10(np.sqrt(np.mean(late**2)) / np.sqrt(np.mean(early**2))))

    plain = decay_db(note)  # 6 / ln(10) * 20 * 0.5 s: about -26 dB
    assert decay_db(dynamics(note, 0.4)) < plain - 5  # expanded: a faster decay
    assert decay_db(dynamics(note, -0.4)) > plain + 5  # compressed: a longer sustain
    for exponent in (-0.4, 0.4):  # the crop's RMS moves by a few dB at most
        level_db = 20 * np.log10(np.std(dynamics(note, exponent)) / np.std(note))
        assert abs(level_db) < 3.5
    out = dynamics(note, 0.3)
    assert out.dtype == np.float32 and out.shape == note.shape
    assert dynamics(note, 0.0) is note


def test_chorus_adds_a_detuned_copy_at_its_level():
    tone = np.sin(2 * np.pi * 440.0 * np.arange(RATE) / RATE).astype(np.float32)
    out = chorus(tone, 15.0, 0.01, 0.5)
    assert out.dtype == np.float32 and out.shape == tone.shape
    middle, window = slice(RATE // 4, 3 * RATE // 4), np.hanning(RATE // 2)  # 2-Hz bins
    dry = np.abs(np.fft.rfft(tone[middle] * window))
    wet = np.abs(np.fft.rfft(out[middle] * window))
    # the copy is at 440 * 2^(15/1200) = 443.8 Hz, near bin 222; the dry tone has nothing there
    assert np.argmax(dry) == 220 and dry[222] < 0.01 * dry[220]
    assert 0.3 * wet[220] < wet[222] < wet[220]
    assert chorus(tone, 0.0, 0.01, 0.5) is tone


def test_gaps_are_drawn_with_their_chance_and_share(gap_examples):
    gaps = [p.timbre.gap for ex in gap_examples for p in ex.sources]
    gapped = [(a, b) for a, b in gaps if b > a]
    assert 0.4 < len(gapped) / len(gaps) < 0.6
    assert all(GAP_SHARE[0] - 1e-9 <= b - a <= GAP_SHARE[1] + 1e-9 for a, b in gapped)
    assert all(a >= 0.0 and b <= 1.0 + 1e-9 for a, b in gapped)
    starts = {"late": 0, "stops": 0, "pauses": 0}
    for a, b in gapped:
        starts["late" if a == 0 else "stops" if b > 1 - 1e-9 else "pauses"] += 1
    assert min(starts.values()) > 0.2 * len(gapped)


def test_a_gapped_source_is_silent_in_its_gap_and_plays_at_its_level_elsewhere(corpus):
    sampler = make_sampler(corpus, seed=14, p_gap=1.0)
    checked = 0
    for ex in sampler.batch(40):
        if ex.kind not in ("single", "pair"):
            continue
        for p in ex.sources:
            audio = placed_audio(corpus, p)
            first, last = (round(g * N) for g in p.timbre.gap)
            assert np.abs(audio[first:last]).max() < 1e-7
            heard = np.concatenate([audio[:first], audio[last:]])
            rms_db = 20 * np.log10(np.sqrt(np.mean(heard.astype(np.float64) ** 2)))
            if np.abs(ex.mix).max() < 0.999:  # not scaled down for headroom
                assert LEVEL_DB - SPREAD_DB - 0.5 < rms_db < LEVEL_DB + SPREAD_DB + 0.5
            checked += 1
    assert checked > 20


def test_silence_fades_around_its_gap_and_leaves_the_rest():
    tone = np.ones(1000, dtype=np.float32)
    out = silence(tone, (0.3, 0.6), rate=10_000)  # a fade of 100 samples
    assert out.dtype == np.float32
    assert np.all(out[300:600] == 0) and np.all(out[:200] == 1) and np.all(out[700:] == 1)
    assert np.all(np.diff(out[200:300]) < 0) and np.all(np.diff(out[600:700]) > 0)
    assert np.all(silence(tone, (0.0, 0.5), rate=10_000)[:400] == 0)
    assert np.all(silence(tone, (0.5, 1.0), rate=10_000)[500:] == 0)
    assert silence(tone, (0.0, 0.0)) is tone


def test_no_gap_share_draws_the_same_examples_as_before_it_existed(corpus: Path):
    a = make_sampler(corpus, seed=15, p_song=0.5, p_timbre=0.3, p_texture=0.3).batch(30)
    b = make_sampler(corpus, seed=15, p_song=0.5, p_timbre=0.3, p_texture=0.3, p_gap=0.0).batch(30)
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.sources) == (y.kind, y.sources) and np.array_equal(x.mix, y.mix)
