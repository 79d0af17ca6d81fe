"""The mixture sampler keeps its contract on a synthetic corpus (no rendering needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.augment import (
    EQ_POINTS,
    Timbre,
    chorus,
    dynamics,
    equalise,
    resample,
    room,
    silence,
    soft_clip,
    source_audio,
    without_others,
)
from training.corpus import list_songs, split_songs
from training.mixes import SPREAD_DB, MixSampler, Placement
from training.render import rms_db_per_second, to_int16
from training.stems import LEVEL_DB, StemRef, active_level
from training.timbres import DETUNE_CENTS, DYNAMICS, GAP_SHARE, SHIFT_SEMITONES

RATE = 22050
SECONDS = 6
FAMILIES = ("piano", "guitar", "bass", "drums", "strings", "organ", "reed", "pipe")
N = 3 * RATE


def _stem(rng: np.random.Generator, silent_first_half: bool) -> np.ndarray:
    t = np.arange(SECONDS * RATE) / RATE
    x = np.sin(2 * np.pi * rng.uniform(80, 800) * t) * (0.3 + 0.1 * rng.standard_normal(t.size))
    if silent_first_half:
        x[: len(x) // 2] = 0.0
    return x


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Twelve songs of 6 s, four stems each from rotating families; some start silent."""
    out = tmp_path_factory.mktemp("mixcorpus")
    rng = np.random.default_rng(1)
    for i in range(12):
        song = f"s0-{i:06d}"
        folder = out / "songs" / song
        folder.mkdir(parents=True)
        families = [FAMILIES[(i + k) % len(FAMILIES)] for k in range(4)]
        stems = [to_int16(_stem(rng, silent_first_half=(k == 0))) for k in range(4)]
        meta = {
            "id": song,
            "stems": [
                {
                    "name": f,
                    "family": f,
                    "program": 0,
                    "role": "x",
                    "rms_db_per_second": rms_db_per_second(s / 32768.0),
                }
                for f, s in zip(families, stems, strict=True)
            ],
        }
        np.save(folder / "stems.npy", np.stack(stems))
        (folder / "meta.json").write_text(json.dumps(meta))
    return out


def _audio(corpus: Path, ref: StemRef, start: int) -> np.ndarray:
    stems = np.load(corpus / "songs" / ref.song / "stems.npy", mmap_mode="r")
    return stems[ref.index, start : start + N].astype(np.float64) / 32768.0


def _placed(corpus: Path, p: Placement) -> np.ndarray:
    """A source as the sampler says it placed it, rebuilt from the corpus."""
    stems = np.load(corpus / "songs" / p.ref.song / "stems.npy", mmap_mode="r")
    return p.gain * source_audio(stems[p.ref.index], p.start, N, p.eq, p.timbre)


def _sampler(corpus: Path, seed: int = 0, eq_db: float = 8.0, p_song: float = 0.0,
             p_timbre: float = 0.0, p_solo: float = 0.0,
             p_refuse: float = 0.0, p_texture: float = 0.0,
             p_look: float = 0.0, p_gap: float = 0.0) -> MixSampler:  # fmt: skip
    rng = np.random.default_rng(seed)
    return MixSampler(corpus, seconds=3.0, rng=rng, p_pair=0.3, p_absent=0.3, eq_db=eq_db,
                      p_song=p_song, p_timbre=p_timbre, p_solo=p_solo,
                      p_refuse=p_refuse, p_texture=p_texture, p_look=p_look,
                      p_gap=p_gap)  # fmt: skip


@pytest.fixture(scope="module")
def examples(corpus: Path):
    return _sampler(corpus).batch(300)


def test_every_source_is_equalised_within_its_range(examples):
    gains = np.array([p.eq for ex in examples for p in ex.sources])
    assert gains.shape[1] == len(EQ_POINTS)
    assert np.abs(gains).max() <= 8.0 and np.abs(gains).max() > 7.0
    assert abs(gains.mean()) < 0.5


def test_no_equaliser_when_its_range_is_zero(corpus: Path):
    for ex in _sampler(corpus, eq_db=0.0).batch(20):
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
        total = sum(p.gain * equalise(_audio(corpus, p.ref, p.start), p.eq) for p in ex.sources)
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
            by_ref[t].gain * equalise(_audio(corpus, t, by_ref[t].start), by_ref[t].eq)
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
    a, b = _sampler(corpus, 4).batch(10), _sampler(corpus, 4).batch(10)
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.family, x.targets, x.sources) == (y.kind, y.family, y.targets, y.sources)
        assert np.array_equal(x.mix, y.mix) and np.array_equal(x.target, y.target)
    c = _sampler(corpus, 5).batch(10)
    assert [x.sources for x in a] != [x.sources for x in c]


def test_split_is_deterministic_disjoint_and_complete(corpus: Path):
    train, valid = split_songs(corpus, valid_fraction=0.2, seed=0)
    assert (train, valid) == split_songs(corpus, valid_fraction=0.2, seed=0)
    assert valid and not set(train) & set(valid)
    assert sorted(train + valid) == list_songs(corpus)
    sampler = MixSampler(corpus, songs=valid, rng=np.random.default_rng(0))
    assert {p.ref.song for ex in sampler.batch(20) for p in ex.sources} <= set(valid)


@pytest.fixture(scope="module")
def song_examples(corpus: Path):
    return _sampler(corpus, seed=2, p_song=1.0).batch(200)


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
        crops = [p.gain * equalise(_audio(corpus, p.ref, p.start), p.eq) for p in ex.sources]
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
    kinds = [ex.kind for ex in _sampler(corpus, seed=3, p_song=0.5).batch(400)]
    assert 0.4 < kinds.count("song") / len(kinds) < 0.6
    assert {"single", "pair", "absent"} <= set(kinds)
    a, b = (_sampler(corpus, 6, p_song=0.5).batch(20) for _ in range(2))
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.sources) == (y.kind, y.sources) and np.array_equal(x.mix, y.mix)


def test_a_solo_example_is_one_stem_alone_and_its_target_is_the_mixture(corpus: Path):
    examples = _sampler(corpus, seed=8, p_solo=0.5).batch(200)
    solos = [ex for ex in examples if ex.kind == "solo"]
    assert 0.38 * len(examples) < len(solos) < 0.62 * len(examples)
    assert {"single", "pair", "absent"} <= {ex.kind for ex in examples}
    for ex in solos[:20]:
        (placed,) = ex.sources
        assert ex.targets == (placed.ref,) and ex.family == placed.ref.family
        assert np.array_equal(ex.mix, ex.target) and np.any(ex.mix)
        assert np.allclose(ex.mix, _placed(corpus, placed), atol=1e-6)


def test_a_refusal_is_one_stem_alone_asked_for_as_another_family_with_a_silent_target(
    corpus: Path,
):
    examples = _sampler(corpus, seed=8, p_solo=0.25, p_refuse=0.25).batch(200)
    kinds = [ex.kind for ex in examples]
    assert 0.13 * len(kinds) < kinds.count("refuse") < 0.37 * len(kinds)
    assert 0.13 * len(kinds) < kinds.count("solo") < 0.37 * len(kinds)
    refusals = [ex for ex in examples if ex.kind == "refuse"]
    for ex in refusals[:20]:
        (placed,) = ex.sources
        (asked,) = ex.targets
        assert ex.family == asked.family != placed.ref.family and asked.song != placed.ref.song
        assert not np.any(ex.target) and np.any(ex.mix)
        assert np.allclose(ex.mix, _placed(corpus, placed), atol=1e-6)
    assert len({ex.family for ex in refusals}) > 2  # asked for as many families, not one


def test_no_solo_or_refusal_share_draws_the_same_examples_as_before_they_existed(corpus: Path):
    """A share of 0 takes nothing from the random stream, so earlier runs stay repeatable."""
    a = _sampler(corpus, seed=9, p_song=0.5).batch(30)
    b = _sampler(corpus, seed=9, p_song=0.5, p_solo=0.0, p_refuse=0.0).batch(30)
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.sources) == (y.kind, y.sources) and np.array_equal(x.mix, y.mix)
    c = _sampler(corpus, seed=9, p_solo=0.3).batch(30)
    d = _sampler(corpus, seed=9, p_solo=0.3, p_refuse=0.0).batch(30)
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
    examples = _sampler(corpus, seed=12, p_song=0.5, p_look=0.5).batch(200)
    looks = [e for e in examples if e.kind == "look"]
    asked = [e for e in examples if e.kind in ("single", "song", "look")]
    assert 0.35 * len(asked) < len(looks) < 0.65 * len(asked)
    for example in looks[:20]:
        assert len(example.targets) == 1 and np.any(example.target)
        unheard = np.sum([_placed(corpus, p) for p in example.sources], axis=0)
        assert np.sum(example.mix**2) < np.sum(unheard**2)  # some of the others taken away


@pytest.fixture(scope="module")
def timbre_examples(corpus: Path):
    return _sampler(corpus, seed=7, p_song=0.5, p_timbre=0.5).batch(300)


@pytest.fixture(scope="module")
def texture_examples(corpus: Path):
    return _sampler(corpus, seed=11, p_song=0.5, p_timbre=0.3, p_texture=0.5).batch(200)


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
    return _sampler(corpus, seed=13, p_song=0.5, p_timbre=0.3, p_gap=0.5).batch(200)


@pytest.mark.parametrize("changed", ["timbre_examples", "texture_examples", "gap_examples"])
def test_changed_mixture_and_target_are_the_placed_sources(corpus, changed, request):
    for ex in request.getfixturevalue(changed)[:50]:
        crops = {p.ref: _placed(corpus, p) for p in ex.sources}
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
    a = _sampler(corpus, seed=12, p_song=0.5, p_timbre=0.3).batch(30)
    b = _sampler(corpus, seed=12, p_song=0.5, p_timbre=0.3, p_texture=0.0).batch(30)
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
    sampler = _sampler(corpus, seed=14, p_gap=1.0)
    checked = 0
    for ex in sampler.batch(40):
        if ex.kind not in ("single", "pair"):
            continue
        for p in ex.sources:
            audio = _placed(corpus, p)
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
    a = _sampler(corpus, seed=15, p_song=0.5, p_timbre=0.3, p_texture=0.3).batch(30)
    b = _sampler(corpus, seed=15, p_song=0.5, p_timbre=0.3, p_texture=0.3, p_gap=0.0).batch(30)
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.sources) == (y.kind, y.sources) and np.array_equal(x.mix, y.mix)
