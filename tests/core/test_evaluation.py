"""Scoring: our SDR equals the team's scorer (shared/eval/score.py) on the same estimates."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.evaluation import report, sets
from tagbox_gui.core.evaluation import scoring as evaluation
from tagbox_gui.core.separation.loading import taggers_for

SECONDS = 3
RATE = 44_100


def cut_set(dev: Path, out: Path, songs: list[str], seconds: float) -> Path:
    """A small set: the first ``seconds`` of some dev songs (integer samples, so mix = sum)."""
    manifest = {"songs": []}
    n = round(seconds * RATE)
    for song in songs:
        sources = json.loads((dev / "manifest.json").read_text())
        sources = next(s["sources"] for s in sources["songs"] if s["id"] == song)
        (out / song / "stems").mkdir(parents=True)
        total = np.zeros(n, dtype=np.int32)
        for source in sources:
            pcm, _ = sf.read(dev / song / "stems" / f"{source}.flac", dtype="int16")
            total += pcm[:n]
            sf.write(out / song / "stems" / f"{source}.flac", pcm[:n], RATE, subtype="PCM_16")
        sf.write(out / song / "mix.flac", total.astype(np.int16), RATE, subtype="PCM_16")
        manifest["songs"].append({"id": song, "sources": sources})
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def add_silent_song(ref: Path, source_song: str) -> None:
    """A song whose strings stem is digital silence (must be skipped, not scored)."""
    song = ref / "quiet"
    (song / "stems").mkdir(parents=True)
    total = None
    for stem in sorted((ref / source_song / "stems").iterdir()):
        pcm, _ = sf.read(stem, dtype="int16")
        pcm = np.zeros_like(pcm) if stem.stem == "strings" else pcm
        sf.write(song / "stems" / stem.name, pcm, RATE, subtype="PCM_16")
        total = pcm.astype(np.int32) if total is None else total + pcm
    sf.write(song / "mix.flac", total.astype(np.int16), RATE, subtype="PCM_16")
    manifest = json.loads((ref / "manifest.json").read_text())
    manifest["songs"].append({"id": "quiet", "sources": ["drums", "strings"]})
    (ref / "manifest.json").write_text(json.dumps(manifest))


def write_estimates(ref: Path, est: Path) -> None:
    """Estimates that hit every edge case of the scorer, plus ordinary noisy ones."""
    rng = np.random.default_rng(0)
    for song, sources in sets.list_set(ref):
        mix, _ = evaluation.read_mono(ref / song / "mix.flac")
        (est / song).mkdir(parents=True)
        for i, source in enumerate(sources):
            stem, _ = evaluation.read_mono(sets.stem_path(ref, song, source))
            a, b = rng.uniform(0.3, 1.2), rng.uniform(0.0, 0.6)
            x = a * stem + b * mix + 0.01 * rng.standard_normal(len(mix))
            case = (i + (song == "band001") * 3) % 8
            rate = RATE
            if case == 1:
                continue  # missing
            if case == 2:
                x = np.zeros_like(x)  # all-zero estimate: 0 dB
            if case == 3:
                x = np.stack([x, 0.5 * x], axis=1)  # stereo: averaged
            if case == 4:
                x = np.concatenate([x, x[:1234]])  # longer: trimmed
            if case == 5:
                x = x[:-999].copy()
                x[100:110] = np.nan  # shorter and NaN: padded and zeroed
            if case == 6:
                x, rate = x[::2].copy(), RATE // 2  # another rate: resampled
            if case == 7:
                x[: RATE + 10] = 0.0  # silent first window: ignored
            sf.write(est / song / f"{source}.wav", x, rate, subtype="DOUBLE")


def test_scores_equal_the_team_scorer(eval_dir: Path, tmp_path: Path) -> None:
    score_py = eval_dir / "score.py"
    ref = cut_set(eval_dir / "dev", tmp_path / "ref", ["band000", "band001"], SECONDS)
    add_silent_song(ref, "band000")
    est = tmp_path / "est"
    write_estimates(ref, est)
    out = tmp_path / "theirs.json"
    cmd = [sys.executable, str(score_py), "--ref", str(ref), "--est", str(est),
           "--json", str(out), "--backend", "snr"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    theirs = json.loads(out.read_text())
    ours = evaluation.score_set(ref, est)
    assert len(ours) == len(theirs["results"]) == 12
    statuses = {e.status for e in ours} | {"zero" for e in ours if e.zero_estimate}
    assert statuses == {"ok", "missing", "skipped", "zero"}
    for mine, other in zip(ours, theirs["results"], strict=True):
        assert (mine.song, mine.source, mine.status) == (
            other["song"],
            other["source"],
            other["status"],
        )
        assert len(mine.notes) == len(other["notes"]), (mine.notes, other["notes"])
        for key in ("sdr_est", "sdr_mix", "sdri"):
            if mine.status == "ok":
                assert math.isclose(getattr(mine, key), other[key], abs_tol=1e-6), key
        if mine.status == "ok":
            assert mine.n_windows == other["n_windows"]
    summary = report.summarise(ours)
    for source, row in theirs["summary"].items():
        for key, value in row.items():
            if isinstance(value, float):
                assert summary[source][key] == pytest.approx(value, abs=1e-6), (source, key)
            else:
                assert summary[source][key] == value, (source, key)


def test_window_sdr_is_the_snr_of_each_window() -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(3 * RATE + 500)
    err = 0.1 * rng.standard_normal(ref.size)
    frames = evaluation.framewise_sdr(ref, ref + err, RATE, RATE)
    assert frames.shape == (3,)  # the 500-sample tail makes no window of its own
    first = 10 * np.log10(np.sum(ref[:RATE] ** 2) / np.sum(err[:RATE] ** 2))
    assert frames[0] == pytest.approx(first, abs=1e-9)
    assert evaluation.track_sdr(ref, ref + err, RATE) == pytest.approx(np.median(frames))


def test_mixture_scores_zero_improvement_and_silent_windows_are_ignored() -> None:
    rng = np.random.default_rng(2)
    ref = rng.standard_normal(4 * RATE)
    mix = ref + rng.standard_normal(ref.size)
    score = evaluation.PairScore("s", "x")
    evaluation.score_arrays(score, ref, mix, mix, RATE)
    assert score.sdri == 0.0 and score.n_windows == 4
    est = ref.copy()
    est[:RATE] = 0.0
    est[RATE:] += 0.01
    evaluation.score_arrays(score, ref, est, mix, RATE)
    assert score.n_windows == 3 and score.sdr_est == pytest.approx(40.0, abs=0.1)


def test_every_pair_carries_the_gain_only_baseline() -> None:
    """Against a stem that is half of the mix's power, 0.2 x mix has an SDR of
    10 log10(1 / (0.8^2 + 0.2^2)) = 1.67 dB and the mix 0 dB: an SDRi of 1.67 dB for nothing."""
    rng = np.random.default_rng(3)
    ref = rng.standard_normal(8 * RATE)
    mix = ref + rng.standard_normal(ref.size)  # another source as loud as the stem
    score = evaluation.PairScore("s", "x")
    evaluation.score_arrays(score, ref, evaluation.GAIN_ONLY * mix, mix, RATE)
    assert score.sdri_gain_only == pytest.approx(10 * np.log10(1 / 0.68), abs=0.05)
    assert score.sdri == pytest.approx(score.sdri_gain_only, abs=1e-9)
    assert score.si_sdri == pytest.approx(0.0, abs=1e-6)  # a gain separates nothing
    rows = report.summarise([score])
    assert rows["x"]["mean_sdri_gain_only"] == pytest.approx(score.sdri_gain_only)
    assert "gainSDRi" in report.format_table(rows).splitlines()[0]


def test_table_and_report(tmp_path: Path) -> None:
    scores = [
        evaluation.PairScore("a", "drums", sdr_est=5.0, sdr_mix=-5.0, sdri=10.0),
        evaluation.PairScore("b", "drums", sdr_est=1.0, sdr_mix=-5.0, sdri=6.0),
        evaluation.PairScore("a", "bass", status="missing"),
    ]
    rows = report.summarise(scores)
    assert rows["drums"]["mean_sdri"] == 8.0 and rows["drums"]["n"] == 2
    assert rows["bass"]["missing"] == 1 and rows["bass"]["mean_sdri"] is None
    assert rows["ALL"]["n"] == 2
    table = report.format_table(rows)
    assert "drums" in table and "8.00" in table and "ALL" in table
    path = tmp_path / "r" / "report.json"
    report.write_report(path, scores, {"config": {"steps": 3}})
    data = json.loads(path.read_text())
    assert data["config"] == {"steps": 3} and data["summary"]["drums"]["n"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]
    for measure in ("SI-SDRi", "SDRi", "0.2 * mix"):  # what each figure of the report is
        assert measure in data["metric"], measure


def test_list_set_without_manifest(tmp_path: Path) -> None:
    (tmp_path / "s1" / "stems").mkdir(parents=True)
    for name in ("b", "a"):
        sf.write(tmp_path / "s1" / "stems" / f"{name}.flac", np.zeros(10), RATE)
    assert sets.list_set(tmp_path) == [("s1", ("a", "b"))]
    with pytest.raises(evaluation.AudioError):
        sets.list_set(tmp_path / "s1")


def test_si_sdr_ignores_gain_but_sdr_rewards_attenuation() -> None:
    rng = np.random.default_rng(3)
    sources = rng.standard_normal((5, 3 * RATE))
    ref, mix = sources[0], sources.sum(axis=0)
    scores = []
    for gain in (1.0, 0.2):
        score = evaluation.PairScore("s", "x")
        evaluation.score_arrays(score, ref, gain * mix, mix, RATE)
        scores.append(score)
    # Five equal sources: 0.2 x mix is the best gain, worth 10 log10(5) dB of plain SDRi...
    assert scores[1].sdri == pytest.approx(10 * np.log10(5), abs=0.2)
    # ... and nothing at all once the scale is factored out.
    assert scores[0].si_sdri == 0.0 and abs(scores[1].si_sdri) < 1e-9
    window = slice(0, RATE)
    target = np.dot(mix[window], ref[window]) / np.dot(ref[window], ref[window]) * ref[window]
    expected = 10 * np.log10(np.sum(target**2) / np.sum((mix[window] - target) ** 2))
    assert evaluation.framewise_si_sdr(ref, mix, RATE, RATE)[0] == pytest.approx(expected)


def test_si_sdr_rises_with_separation() -> None:
    rng = np.random.default_rng(4)
    ref, other = rng.standard_normal((2, 2 * RATE))
    mix = ref + other
    better = evaluation.track_si_sdr(ref, ref + 0.1 * other, RATE)
    assert better == pytest.approx(20.0, abs=0.3)
    assert evaluation.track_si_sdr(ref, mix, RATE) == pytest.approx(0.0, abs=0.3)


def test_taggers_for_uses_the_fallback_only_when_no_chosen_tagger_knows_the_word() -> None:
    from tagbox_gui.core.types import TaggerSpec

    mtat, jamendo, msd = (TaggerSpec("fcn", d) for d in ("mtat", "jamendo", "msd"))
    assert taggers_for(("drums",), (mtat, jamendo), ()) == (mtat, jamendo)
    assert taggers_for(("bass",), (mtat,), ()) == ()
    assert taggers_for(("bass",), (mtat,), (msd, jamendo)) == (jamendo,)
    assert taggers_for(("piano",), (mtat,), (jamendo,)) == (mtat,)
    assert taggers_for(("trumpet",), (mtat,), (jamendo, msd)) == ()
    assert taggers_for(("piano", "bass"), (mtat,), (msd, jamendo)) == (jamendo,)


def _one_song_set(root: Path, ref: np.ndarray, other: np.ndarray) -> Path:
    (root / "s" / "stems").mkdir(parents=True)
    sf.write(root / "s" / "mix.flac", ref + other, RATE, subtype="PCM_24")
    sf.write(root / "s" / "stems" / "piano.flac", ref, RATE, subtype="PCM_24")
    (root / "manifest.json").write_text(json.dumps({"songs": [{"id": "s", "sources": ["piano"]}]}))
    return root


def test_scores_cover_the_song_from_score_from_on(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    ref = 0.2 * rng.standard_normal(4 * RATE)
    other = 0.2 * rng.standard_normal(4 * RATE)
    ref_set = _one_song_set(tmp_path / "ref", ref, other)
    mix, _ = evaluation.read_mono(ref_set / "s" / "mix.flac")
    stem, _ = evaluation.read_mono(ref_set / "s" / "stems" / "piano.flac")
    # The estimate is the mixture for two seconds, then the stem with a little noise.
    est = np.concatenate([mix[: 2 * RATE], stem[2 * RATE :] + 0.01 * rng.standard_normal(2 * RATE)])
    (tmp_path / "est" / "s").mkdir(parents=True)
    sf.write(tmp_path / "est" / "s" / "piano.wav", est, RATE, subtype="DOUBLE")

    whole = evaluation.score_set(ref_set, tmp_path / "est")[0]
    later = evaluation.score_set(ref_set, tmp_path / "est", score_from=2.0)[0]
    want = evaluation.PairScore("s", "piano")
    evaluation.score_arrays(want, stem[2 * RATE :], est[2 * RATE :], mix[2 * RATE :], RATE)
    assert later.status == "ok" and later.n_windows == 2 and whole.n_windows == 4
    for key in ("sdr_est", "sdr_mix", "sdri", "si_sdr_est", "si_sdri"):
        assert getattr(later, key) == pytest.approx(getattr(want, key), abs=1e-9), key
    assert later.si_sdri > 25 and whole.si_sdri < later.si_sdri - 5
    past_the_end = evaluation.score_set(ref_set, tmp_path / "est", score_from=4.0)[0]
    assert past_the_end.status == "skipped" and "ends before 4 s" in past_the_end.notes[0]


@pytest.mark.parametrize("score_from", [-1.0, -0.5, math.nan, math.inf])
def test_score_from_must_be_a_number_of_seconds_from_the_start(
    tmp_path: Path, score_from: float
) -> None:
    """A negative start would slice from the song's end: refused, not scored."""
    rng = np.random.default_rng(5)
    ref_set = _one_song_set(tmp_path / "ref", *(0.2 * rng.standard_normal((2, 2 * RATE))))
    with pytest.raises(ValueError, match="score_from"):
        evaluation.score_source(ref_set, tmp_path / "est", "s", "piano", score_from)
    with pytest.raises(ValueError, match="score_from"):
        evaluation.score_set(ref_set, tmp_path / "est", score_from=score_from)


def test_silence_where_the_source_plays_earns_no_si_sdr() -> None:
    """museval's SDR leaves a silent window out and scores an all-zero estimate 0 dB, so
    silence earns SDRi. The SI-SDR ranks such a window last, and an estimate silent in half or
    more of the source's windows has no SI-SDR: no mean SI-SDRi is given over it."""
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(4 * RATE)
    mix = ref + rng.standard_normal(ref.size)
    est = ref + 0.1 * mix  # 20 dB where it is given
    est[:RATE] = 0.0  # silent in 1 of the 4 windows where the source plays
    frames = evaluation.framewise_si_sdr(ref, est, RATE, RATE)
    assert frames[0] == -np.inf and np.all(np.isfinite(frames[1:]))
    one_silent = evaluation.PairScore("a", "x")
    evaluation.score_arrays(one_silent, ref, est, mix, RATE)
    assert not one_silent.silent
    assert one_silent.si_sdr_est == pytest.approx(np.median(frames))  # 1 of 4 ranks last
    est[RATE : 2 * RATE] = 0.0  # now silent in 2 of 4
    half = evaluation.PairScore("b", "x")
    evaluation.score_arrays(half, ref, est, mix, RATE)
    assert half.silent and half.si_sdr_est is None and half.si_sdri is None
    assert any("SI-SDR undefined" in note for note in half.notes)
    assert half.sdri is not None and half.sdri > 0  # museval's SDR still rewards it
    zero = evaluation.PairScore("c", "x")
    evaluation.score_arrays(zero, ref, np.zeros_like(ref), mix, RATE)
    assert zero.zero_estimate and zero.silent and zero.si_sdri is None

    rows = report.summarise([one_silent, half])
    assert rows["x"]["silent"] == 1 and rows["x"]["mean_si_sdri"] is None
    assert rows["ALL"]["mean_si_sdri"] is None
    assert rows["x"]["median_si_sdri"] is None  # of two, the silent one is half: −∞
    table = report.format_table(rows).splitlines()
    assert "silent" in table[0] and table[1].split()[-4:-1] == ["1", "-", "-"]  # mean, median
    rows = report.summarise([one_silent])
    assert rows["x"]["mean_si_sdri"] == pytest.approx(one_silent.si_sdri)


def test_an_estimate_silent_wherever_the_source_plays_counts_as_silent() -> None:
    """Nothing of the source where it plays, only some of the rest where it does not: museval's
    SDR has no window to score (NaN), and the summary must still count the estimate as silent
    rather than leave it out and give a mean SI-SDRi over the others."""
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(4 * RATE)
    ref[2 * RATE :] = 0.0  # the source plays in the first two windows only
    mix = ref + rng.standard_normal(ref.size)
    est = np.where(ref == 0.0, 0.1 * mix, 0.0)  # bleed where it rests, nothing where it plays
    nothing = evaluation.PairScore("a", "x")
    evaluation.score_arrays(nothing, ref, est, mix, RATE)
    assert nothing.silent and nothing.si_sdri is None
    good = evaluation.PairScore("b", "x")
    evaluation.score_arrays(good, ref, ref + 0.1 * mix, mix, RATE)
    rows = report.summarise([nothing, good])
    assert rows["x"]["silent"] == 1
    assert rows["x"]["mean_si_sdri"] is None and rows["ALL"]["mean_si_sdri"] is None
    assert rows["x"]["median_si_sdri"] is None  # of two, the silent one is half: −∞


def test_an_estimate_with_nothing_along_the_source_ranks_as_silence() -> None:
    """A window where the estimate is not zero but has nothing along the source (orthogonal to
    it: here bleed only where the source rests) has an SI-SDR of −∞, as an all-zero one: that
    is the limit as the estimate's projection on the source goes to zero. It is computed
    without a division by zero, and an estimate like that in half or more of the windows is
    counted as silent, with a note that does not say it is all zeros."""
    rng = np.random.default_rng(6)
    ref = rng.standard_normal(4 * RATE)
    ref[np.arange(ref.size) % RATE >= RATE // 2] = 0.0  # plays in the first half of each second
    mix = ref + rng.standard_normal(ref.size)
    est = np.where(ref == 0.0, 0.1 * mix, 0.0)
    assert np.all([np.any(est[w]) for w in evaluation.window_slices(ref.size, RATE, RATE)])
    orthogonal = evaluation.PairScore("a", "x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "divide by zero encountered in log10"
        frames = evaluation.framewise_si_sdr(ref, est, RATE, RATE)
        evaluation.score_arrays(orthogonal, ref, est, mix, RATE)
    assert list(frames) == [-np.inf] * 4
    assert orthogonal.silent and not orthogonal.zero_estimate
    assert orthogonal.si_sdr_est is None and orthogonal.si_sdri is None
    assert not any("is all zeros" in note for note in orthogonal.notes)
    assert any("nothing of the source" in note for note in orthogonal.notes)
    good = evaluation.PairScore("b", "x")
    evaluation.score_arrays(good, ref, ref + 0.1 * mix, mix, RATE)
    rows = report.summarise([orthogonal, good])
    assert rows["x"]["silent"] == 1 and rows["x"]["mean_si_sdri"] is None
    assert rows["x"]["median_si_sdri"] is None  # of two, the orthogonal one is half: −∞


@pytest.mark.parametrize(
    "song, source",
    [("../s1", "drums"), ("/tmp/s1", "drums"), ("a/b", "drums"), ("..", "drums"),
     ("s1", "../drums"), ("s1", "stems/drums"), ("s1", "."), ("s1", "a\\b")],
)  # fmt: skip
def test_a_manifest_names_songs_and_sources_not_paths(
    tmp_path: Path, song: str, source: str
) -> None:
    """A song or source that is a path would read, and write estimates, outside the set and
    the estimates folder (an absolute song: into the set's own song folder)."""
    manifest = {"songs": [{"id": song, "sources": [source]}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(evaluation.AudioError, match="a name, not a path"):
        sets.list_set(tmp_path)


def test_the_report_is_strict_json_where_a_score_is_not_finite(tmp_path: Path) -> None:
    """A song whose mix is its one source has an infinite SDR of the mix: the report says
    null there (as for any number that is not finite), not Infinity, which strict parsers
    refuse."""
    ref = 0.2 * np.random.default_rng(5).standard_normal(3 * RATE)
    ref_set = _one_song_set(tmp_path / "ref", ref, np.zeros_like(ref))
    (tmp_path / "est" / "s").mkdir(parents=True)
    sf.write(tmp_path / "est" / "s" / "piano.wav", 0.5 * ref, RATE, subtype="FLOAT")
    scores = evaluation.score_set(ref_set, tmp_path / "est")
    assert scores[0].sdr_mix == math.inf
    path = tmp_path / "report.json"
    report.write_report(path, scores, {"config": {"lr": math.nan}})

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not strict JSON")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data["results"][0]["sdr_mix"] is None and data["config"]["lr"] is None
    assert data["results"][0]["sdr_est"] == pytest.approx(scores[0].sdr_est)


@pytest.mark.parametrize("sources", ["drums", {"drums": 1}])
def test_a_manifest_lists_each_songs_sources_as_a_list(tmp_path: Path, sources: object) -> None:
    """``"sources": "drums"`` is refused as not the layout, not read letter by letter as the
    sources d, r, u, m and s (then said to have no stem 'd')."""
    manifest = {"songs": [{"id": "s1", "sources": sources}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(evaluation.AudioError, match="does not list the songs as"):
        sets.list_set(tmp_path)


def test_a_pair_whose_si_sdri_is_not_finite_is_named_as_left_out(tmp_path: Path) -> None:
    """An estimate that is its source scaled (here 2 x it) is perfect up to a gain: its SI-SDR
    is +∞ while its SDR is a number. It counts in ``n`` and in the SDRi means, but no mean or
    median SI-SDRi can hold it: the report names it, and why, in the table's line and in the
    JSON, and the finite pairs' SI-SDRi means stay what they are without it."""
    rng = np.random.default_rng(7)
    ref, other = rng.standard_normal((2, 3 * RATE))
    mix = ref + other
    scaled, good = evaluation.PairScore("a", "x"), evaluation.PairScore("b", "x")
    evaluation.score_arrays(scaled, ref, 2.0 * ref, mix, RATE)
    evaluation.score_arrays(good, ref, ref + 0.1 * other, mix, RATE)
    assert math.isfinite(scaled.sdri) and scaled.si_sdri == math.inf
    rows = report.summarise([scaled, good])
    assert rows["x"]["n"] == 2 and rows["x"]["nonfinite_si_sdri"] == 1
    assert rows["x"]["mean_si_sdri"] == good.si_sdri == rows["x"]["median_si_sdri"]
    assert rows["x"]["mean_sdri"] == (scaled.sdri + good.sdri) / 2
    line = report.left_out_line([scaled, good])
    assert line is not None and "a/x" in line and "b/x" not in line
    assert "the estimate is its source scaled" in line and "SI-SDRi" in line
    path = tmp_path / "report.json"
    report.write_report(path, [scaled, good], {})
    left = json.loads(path.read_text())["left_out_of_means"]
    assert [(p["song"], p["source"]) for p in left] == [("a", "x")]
    assert "the estimate is its source scaled" in left[0]["why"]
    assert report.left_out_line([good]) is None


def test_the_table_gives_the_median_si_sdri_and_says_what_each_count_is() -> None:
    """Beside the mean SI-SDRi, its median (as for SDRi); under the table, what the counts n,
    miss, skip, zero and silent count."""
    scores = [evaluation.PairScore(song, "x", sdr_est=1.0, sdr_mix=0.0, sdri=1.0, si_sdri=si)
              for song, si in (("a", 1.0), ("b", 2.0), ("c", 9.0))]  # fmt: skip
    rows = report.summarise(scores)
    assert rows["x"]["mean_si_sdri"] == 4.0 and rows["x"]["median_si_sdri"] == 2.0
    lines = report.format_table(rows).splitlines()
    header = lines[0].split()
    assert "medSI-SDRi" in header and "meanSI-SDRi" in header
    row = lines[1].split()
    assert row[header.index("meanSI-SDRi")] == "4.00"
    assert row[header.index("medSI-SDRi")] == "2.00"
    legend = " ".join(lines[3:])
    for count in ("n", "miss", "skip", "zero", "silent"):
        assert f"{count} = " in legend, count


def test_songs_and_stems_the_manifest_does_not_list_are_named(tmp_path: Path) -> None:
    """A manifest that lists a subset of what the set holds is fine (a deliberate subset), but
    what it leaves out is named so that it can be said: song folders (with a mix or stems)
    and true stems of the listed songs that it does not list. Without a manifest, nothing is
    left out."""
    for song, stems in (("s1", ("a", "b", "c")), ("s2", ("a",)), ("s3", ()), ("notes", None)):
        folder = tmp_path / song
        folder.mkdir()
        if stems is None:  # a folder that is no song
            continue
        sf.write(folder / "mix.flac", np.zeros(10), RATE)
        (folder / "stems").mkdir()
        for name in stems:
            sf.write(folder / "stems" / f"{name}.flac", np.zeros(10), RATE)
    (tmp_path / "s1" / "stems" / "readme.txt").write_text("not a stem")
    shutil.rmtree(tmp_path / "s3")  # a set without a manifest may hold no song without stems
    assert sets.unlisted(tmp_path, sets.list_set(tmp_path)) == sets.Unlisted([], [])
    (tmp_path / "s3" / "stems").mkdir(parents=True)
    manifest = {"songs": [{"id": "s1", "sources": ["a"]}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    left = sets.unlisted(tmp_path, sets.list_set(tmp_path))
    assert left == sets.Unlisted(["s2", "s3"], ["s1/b", "s1/c"])
    manifest["songs"].append({"id": "s2", "sources": ["a"]})
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    left = sets.unlisted(tmp_path, sets.list_set(tmp_path))
    assert left == sets.Unlisted(["s3"], ["s1/b", "s1/c"])


def test_si_sdr_is_taken_without_removing_the_mean() -> None:
    """The SI-SDR is Le Roux et al.'s without its zero-mean step, as the module says: an
    estimate that is its source with the source's mean taken away would score +inf with the
    means removed; here its mean counts as error, by the formula on the signals as they are."""
    rng = np.random.default_rng(8)
    ref = rng.standard_normal(RATE) + 0.5
    est = ref - ref.mean()
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    expected = 10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2))
    frames = evaluation.framewise_si_sdr(ref, est, RATE, RATE)
    assert math.isfinite(frames[0]) and frames[0] == pytest.approx(expected, rel=1e-12)
