"""Estimates kept on disk, and several sources of one song sharing the mixture."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tagbox_gui.core.audio.estimates import (
    describe_quiet,
    judges_quiet,
    level_db,
    load_estimate,
    quiet_groups,
    quiet_stems,
    run_level,
    save_estimate,
    share,
    stem_levels,
)
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.types import Estimate


def _estimate(rng: np.random.Generator, scale: float = 1.0, sizes=(2048, 512)) -> Estimate:
    masks = {n: (scale * rng.random((n // 2 + 1, 7))).astype(np.float32) for n in sizes}
    return Estimate(100, 4096, masks)


def test_shared_masks_never_hand_out_a_bin_twice() -> None:
    rng = np.random.default_rng(0)
    estimates = {name: _estimate(rng) for name in ("drums", "piano", "bass")}
    shared = share(estimates)
    for n in (2048, 512):
        total = sum(shared[name].masks[n] for name in estimates)
        assert total.max() <= 1 + 1e-6
        raw = sum(estimates[name].masks[n] for name in estimates)
        over = raw > 1
        # Over-claimed bins are split in proportion to the claims, and handed out in full.
        np.testing.assert_allclose(total[over], 1.0, atol=1e-6)
        ratio = shared["drums"].masks[n][over] / shared["piano"].masks[n][over]
        np.testing.assert_allclose(
            ratio, (estimates["drums"].masks[n] / estimates["piano"].masks[n])[over], rtol=1e-5
        )
        # Bins claimed less than once in all are left as they were: the rest stays in the mix.
        for name in estimates:
            np.testing.assert_array_equal(
                shared[name].masks[n][~over], estimates[name].masks[n][~over]
            )


def test_sharing_in_place_divides_the_callers_masks_and_gives_the_same() -> None:
    rng = np.random.default_rng(1)
    estimates = {name: _estimate(rng) for name in ("drums", "piano")}
    copied = share(estimates)
    owned = {name: replace(e, masks={n: m.copy() for n, m in e.masks.items()})
             for name, e in estimates.items()}  # fmt: skip
    in_place = share(owned, in_place=True)
    for name in estimates:
        for n, mask in in_place[name].masks.items():
            assert mask is owned[name].masks[n]
            np.testing.assert_allclose(mask, copied[name].masks[n], rtol=1e-6)


def test_one_source_or_modest_claims_are_left_alone() -> None:
    rng = np.random.default_rng(1)
    alone = _estimate(rng)
    assert share({"piano": alone})["piano"] is alone
    quiet = {name: _estimate(rng, scale=0.3) for name in ("a", "b", "c")}  # sums stay < 1
    shared = share(quiet)
    for name in quiet:
        for n, mask in quiet[name].masks.items():
            np.testing.assert_array_equal(shared[name].masks[n], mask)
        assert (shared[name].start, shared[name].length) == (100, 4096)


def test_sharing_what_already_shares_hands_the_same_masks_back() -> None:
    """Stems that share already (a job's, passed on to the export) are not divided again."""
    rng = np.random.default_rng(5)
    shared = share({name: _estimate(rng) for name in ("drums", "piano", "bass")})
    again = share(shared)
    for name, estimate in shared.items():
        assert all(again[name].masks[n] is estimate.masks[n] for n in estimate.masks)


def test_estimates_of_other_regions_or_free_mode_are_refused() -> None:
    rng = np.random.default_rng(2)
    base = _estimate(rng)
    other_region = Estimate(0, 4096, base.masks)
    with pytest.raises(ConfigError, match="'b' covers another region"):
        share({"a": base, "b": other_region})
    with pytest.raises(ConfigError, match="another region, FFT sizes or hop"):
        share({"a": base, "b": _estimate(rng, sizes=(1024,))})
    finer = Estimate(100, 4096, base.masks, hops_per_window=4)
    with pytest.raises(ConfigError, match="another region, FFT sizes or hop"):
        share({"a": base, "b": finer})
    free = Estimate(100, 4096, {}, np.zeros(4096, np.float32))
    with pytest.raises(ConfigError, match="free mode"):
        share({"a": base, "b": free})


def test_saved_estimates_read_back_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    est = _estimate(rng)
    path = tmp_path / "song" / "piano.estimate.npz"
    save_estimate(path, est)
    assert [p.name for p in path.parent.iterdir()] == ["piano.estimate.npz"]  # no .part left
    back = load_estimate(path)
    assert (back.start, back.length, back.audio) == (100, 4096, None)
    assert sorted(back.masks) == [512, 2048] and back.hops_per_window == 2
    for n in est.masks:
        np.testing.assert_array_equal(back.masks[n], est.masks[n])
    finer = Estimate(100, 4096, est.masks, hops_per_window=4)  # the learned backend's grid
    save_estimate(path, finer)
    assert load_estimate(path).hops_per_window == 4
    free = Estimate(0, 10, {}, np.arange(10, dtype=np.float32))
    save_estimate(path, free)
    np.testing.assert_array_equal(load_estimate(path).audio, free.audio)
    assert load_estimate(path).query is None
    asked = replace(finer, query=rng.standard_normal(228).astype(np.float32))  # learned
    save_estimate(path, asked)
    np.testing.assert_array_equal(load_estimate(path).query, asked.query)


def test_an_estimate_saved_before_the_hop_was_kept_reads_as_hop_n_over_2(tmp_path: Path) -> None:
    path = tmp_path / "old.estimate.npz"
    mask = np.full((1025, 3), 0.5, np.float32)
    np.savez_compressed(path, format=np.array(1), start=np.array(0), length=np.array(2048),
                        mask_2048=mask)  # fmt: skip
    back = load_estimate(path)
    assert back.hops_per_window == 2 and back.length == 2048
    np.testing.assert_array_equal(back.masks[2048], mask)


def test_shared_estimates_keep_their_hop_and_query() -> None:
    rng = np.random.default_rng(4)
    finer = {name: Estimate(0, 4096, {2048: rng.random((1025, 9)).astype(np.float32)},
                            hops_per_window=4, query=np.full(3, i, np.float32))
             for i, name in enumerate(("a", "b"))}  # fmt: skip
    shared = share(finer)
    assert all(e.hops_per_window == 4 for e in shared.values())
    assert [e.query.tolist() for e in shared.values()] == [[0, 0, 0], [1, 1, 1]]


def test_a_damaged_estimate_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.estimate.npz"
    path.write_bytes(b"not an npz")
    with pytest.raises(ConfigError, match="not a readable estimate"):
        load_estimate(path)


def _tone_song(seconds: float = 3.0, rate: int = 44_100):
    from tagbox_gui.core.audio.song import Song

    rng = np.random.default_rng(4)
    t = np.arange(round(seconds * rate)) / rate
    data = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    return Song(Path("song.wav"), "song", np.stack([data, data], 1).astype(np.float32), rate,
                "FLOAT", "WAV")  # fmt: skip


def test_a_stems_level_is_the_energy_its_mask_keeps_of_the_song() -> None:
    from tagbox_gui.core.audio.song import analysis_signal
    from tagbox_gui.core.audio.stems import render_stems

    song = _tone_song()
    mix = analysis_signal(song)
    frames = len(mix) // 512 + 1  # n = 2048 at hop n/4, centred frames
    low = (np.arange(1025) < 30)[:, None] * (0.5 + 0.5 * np.sin(np.arange(frames) / 40))
    masks = {
        "half": np.full((1025, frames), 0.5),
        "smooth": 0.02 + 0.9 * low,
        "none": np.zeros((1025, frames)),
    }  # the tone, fading in and out; little noise
    estimates = {name: Estimate(0, len(mix), {2048: m.astype(np.float32)}, None, 4)
                 for name, m in masks.items()}  # fmt: skip
    levels = stem_levels(mix, estimates)
    assert levels["half"] == pytest.approx(20 * np.log10(0.5), abs=1e-3)
    assert levels["none"] == -np.inf
    separated, _ = render_stems(song, estimates["smooth"])  # what the stem file holds
    rendered = 10 * np.log10(np.sum(separated**2) / np.sum(song.data.astype(np.float64) ** 2))
    assert (
        levels["smooth"] == pytest.approx(rendered, abs=0.3) and levels["smooth"] > levels["half"]
    )
    assert list(quiet_stems(levels)) == ["none"]  # -6 dB and the tone are not quiet
    assert list(quiet_stems(levels, threshold=levels["half"])) == ["half", "none"]  # at or under


def test_a_single_runs_level_is_its_separated_signal_against_the_songs_region() -> None:
    from tagbox_gui.core.audio.song import analysis_signal
    from tagbox_gui.core.types import RunResult

    mix = analysis_signal(_tone_song())
    start, length = 20_000, 60_000
    region = mix[start : start + length]
    separated = 0.1 * region / np.max(np.abs(region))  # a run's output is peak-normalised
    estimate = Estimate(start, length, {2048: np.zeros((1025, 4), np.float32)}, None, 4)
    result = RunResult(3, 0.0, 3, False, estimate, separated.astype(np.float32))
    assert run_level(mix, result) == pytest.approx(-20.0, abs=1e-4)
    assert run_level(mix, RunResult(0, 0.0, 0, True)) is None  # stopped before any step


def test_a_signals_level_against_another() -> None:
    x = np.random.default_rng(2).standard_normal(1000)
    assert level_db(0.1 * x, x) == pytest.approx(-20.0)
    assert level_db(np.zeros(10), x) == -np.inf


def test_quiet_stems_are_named_with_how_far_under_the_song_they_are() -> None:
    levels = {"drums": -8.0, "guitar": -30.2, "strings": -31.4, "organ": -np.inf}
    quiet = quiet_stems(levels)
    assert list(quiet) == ["guitar", "strings", "organ"]
    assert describe_quiet(quiet) == (
        "guitar and strings are very quiet (30 and 31 dB under the song): if they play louder "
        "than that, they were not recognised; organ is silent: if it plays in the song, it was "
        "not recognised"
    )
    assert describe_quiet({"guitar": -26.0}) == (
        "guitar is very quiet (26 dB under the song): if it plays louder than that, it was not "
        "recognised"
    )
    assert describe_quiet(quiet_stems({"drums": -8.0})) == ""


def test_a_silent_stem_is_not_said_to_be_under_a_level_an_instrument_plays_louder_than() -> None:
    # "piano is silent. An instrument that plays louder than that was not recognised": there
    # is no level to play louder than; an instrument heard at all was not recognised.
    assert describe_quiet(quiet_stems({"piano": -np.inf})) == (
        "piano is silent: if it plays in the song, it was not recognised"
    )
    assert describe_quiet({"piano": -np.inf, "R&B keys": -np.inf}) == (
        "piano and R&B keys are silent: if they play in the song, they were not recognised"
    )


def test_quiet_stems_asked_for_by_an_example_are_told_apart() -> None:
    levels = {"drums": -8.0, "bass": -31.0, "organ": -33.0, "lead": -9.0}
    louder = "louder than that, it was not recognised"
    assert quiet_groups(levels, examples=["organ", "lead"]) == [
        (f"bass is very quiet (31 dB under the song): if it plays {louder}", False, 1),
        (f"organ is very quiet (33 dB under the song): if it plays {louder}", True, 1),
    ]
    assert quiet_groups(levels) == [("bass and organ are very quiet (31 and 33 dB under the "
                                     "song): if they play louder than that, they were not "
                                     "recognised", False, 2)]  # fmt: skip
    assert quiet_groups({"drums": -8.0}, examples=["drums"]) == []


def test_only_stems_of_the_learned_separator_alone_are_judged_quiet() -> None:
    assert judges_quiet(["learned"])
    assert judges_quiet(iter(["learned", "learned"]))  # a generator, as a job's parts give
    assert not judges_quiet(["learned", "light"])  # a light stem's level means something else
    assert not judges_quiet(["jukebox"])
    assert not judges_quiet([])  # nothing made, nothing to judge
