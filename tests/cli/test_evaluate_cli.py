"""`tagbox evaluate` end to end on a tiny set cut from shared/eval/dev: scores, resume, sharing
the mixture, the learned separator's second look, each source alone, and prototypes not fitted."""

from __future__ import annotations

import functools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tagbox_gui.cli import evaluate as cli_evaluate
from tagbox_gui.cli import main
from tagbox_gui.core.audio.estimates import load_estimate, share
from tagbox_gui.core.audio.song import load_song
from tagbox_gui.core.audio.stems import render_stems
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.evaluation import scoring as evaluation
from tagbox_gui.core.evaluation.driver import EvaluationRun
from tagbox_gui.core.evaluation.recipes import Timing
from tagbox_gui.core.separation.backends import learned
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.store.models import ModelStore
from tests.cli.evaluation_sets import SONGS, learned_args, light_args

pytestmark = pytest.mark.usefixtures("keep_threads")


@pytest.mark.slow
def test_evaluate_writes_scores_and_resumes(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    est, report = tmp_path / "est", tmp_path / "report.json"
    assert main(light_args(tiny_set, est, model_dir, "--json", str(report))) == 0
    out = capsys.readouterr().out
    assert "drums" in out and "CPU time per source per song" in out
    data = json.loads(report.read_text())
    assert data["summary"]["drums"]["n"] == 2 and data["summary"]["drums"]["missing"] == 0
    assert data["config"]["backend"] == "light" and data["config"]["steps"] == 2
    assert data["config"]["balance_tags"] is True  # the light backend's default
    assert set(data["timings"]) == {f"{s}/drums" for s in SONGS}
    # The scores are those of the files on disk.
    rescored = evaluation.score_set(tiny_set, est, ("drums",))
    assert [r["sdri"] for r in data["results"]] == [s.sdri for s in rescored]
    assert all(math.isfinite(s.sdri) for s in rescored)
    assert sorted(p.name for p in (est / "band000").iterdir()) == [
        "drums.estimate.npz", "drums.timing.json", "drums.wav", "stems.json"
    ]  # fmt: skip

    # Resume: a kept estimate is not made again and its song's stems are left untouched; a
    # missing stem is rendered again from its kept estimate; a missing estimate is made again.
    kept = est / "band000" / "drums.wav"
    stamp = kept.stat().st_mtime_ns
    (est / "band001" / "drums.estimate.npz").unlink()
    assert main(light_args(tiny_set, est, model_dir, "--json", str(report))) == 0
    assert "1 estimates were already there" in capsys.readouterr().out
    assert kept.stat().st_mtime_ns == stamp
    again = json.loads(report.read_text())
    assert again["summary"]["drums"]["n"] == 2
    # Same seed, same settings, CPU: the re-made estimate scores the same.
    assert again["results"][1]["sdri"] == pytest.approx(data["results"][1]["sdri"], abs=1e-9)
    kept.unlink()
    assert main(light_args(tiny_set, est, model_dir, "--json", str(report))) == 0
    assert "2 estimates were already there" in capsys.readouterr().out
    assert json.loads(report.read_text())["results"][0]["sdri"] == data["results"][0]["sdri"]

    # Other settings: the kept estimates are not mixed into the results but made again.
    more = ["--json", str(report), "--steps", "3"]
    assert main([*light_args(tiny_set, est, model_dir), *more]) == 0
    out = capsys.readouterr().out
    assert "2 estimates had been made otherwise (settings, weights, audio or code)" in out
    assert "already there" not in out
    assert set(json.loads(report.read_text())["timings"]) == {f"{s}/drums" for s in SONGS}
    recorded = json.loads((est / "band000" / "drums.timing.json").read_text())
    assert recorded["recipe"]["steps"] == 3 and recorded["steps"] == 3


@pytest.mark.slow
def test_sources_of_a_song_share_the_mixture(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alone, shared, report = tmp_path / "alone", tmp_path / "shared", tmp_path / "r.json"
    two = ["--sources", "drums,strings", "--json", str(report)]
    assert main([*light_args(tiny_set, alone, model_dir, "--no-share"), *two]) == 0
    assert "(each source on its own)" in capsys.readouterr().out
    assert json.loads(report.read_text())["config"]["shared"] is False
    # The same kept estimates, shared: nothing is separated again, only the stems change.
    shutil.copytree(alone, shared)
    assert main([*light_args(tiny_set, shared, model_dir), *two]) == 0
    out = capsys.readouterr().out
    assert "(sources share the mix)" in out and "4 estimates were already there" in out
    for song in SONGS:
        song_obj = load_song(tiny_set / song / "mix.flac")
        kept = {s: load_estimate(shared / song / f"{s}.estimate.npz") for s in ("drums", "strings")}
        for source, estimate in share(kept).items():
            expected, _ = render_stems(song_obj, estimate)
            written, _ = soundfile.read(shared / song / f"{source}.wav", dtype="float32")
            np.testing.assert_allclose(written, expected[:, 0], atol=1e-6)
            unshared, _ = soundfile.read(alone / song / f"{source}.wav", dtype="float32")
            # Sharing only ever takes away from a source, never adds to it.
            assert np.sum(written**2) <= np.sum(unshared**2) * (1 + 1e-6)


def test_learned_sources_get_a_second_look_unless_told_not_to(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tagbox_gui.core.separation.refine import shared_estimates

    est, report = tmp_path / "est", tmp_path / "r.json"
    args = learned_args(tiny_set, est, model_dir, report)
    assert main([*args, "--no-refine"]) == 0
    assert "(sources share the mix)" in capsys.readouterr().out
    assert json.loads(report.read_text())["config"]["refined"] is False
    first = {s: soundfile.read(est / SONGS[0] / f"{s}.wav")[0] for s in ("drums", "strings")}
    assert main(args) == 0  # the same kept estimates: only the stems are rendered again
    out = capsys.readouterr().out
    assert "(sources share the mix, each looked at twice)" in out
    assert "4 estimates were already there" in out
    assert json.loads(report.read_text())["config"]["refined"] is True
    song = load_song(tiny_set / SONGS[0] / "mix.flac")
    kept = {s: load_estimate(est / SONGS[0] / f"{s}.estimate.npz") for s in first}
    for source, estimate in shared_estimates(song, kept).items():
        expected, _ = render_stems(song, estimate)
        written, _ = soundfile.read(est / SONGS[0] / f"{source}.wav", dtype="float32")
        np.testing.assert_allclose(written, expected[:, 0], atol=1e-6)
        assert np.abs(written - first[source]).max() > 1e-3  # not the first look's stem


def test_alone_separates_each_source_as_a_single_run_looked_at_again(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.job import looking_again

    est, report = tmp_path / "est", tmp_path / "r.json"
    args = learned_args(tiny_set, est, model_dir, report)
    assert main([*args, "--alone"]) == 0
    assert "(each source alone, looked at again beside its helpers)" in capsys.readouterr().out
    config = json.loads(report.read_text())["config"]
    assert config["alone"] is True and config["shared"] is False and config["refined"] is True
    song = load_song(tiny_set / SONGS[0] / "mix.flac")
    store, cache = ModelStore(model_dir), ModelCache()
    for source, helpers in (("drums", ("bass",)), ("strings", ("bass", "drums"))):
        single = default_config("learned", tags=(source,), preview_every=1_000_000)
        run = looking_again(functools.partial(engine.run, measure_residual=False))
        result = engine.run_to_end(run(single, song, store, cache))
        assert result.helpers == helpers  # as `tagbox separate --tags drums` looks again
        expected, _ = render_stems(song, result.estimate)  # its own stem: nothing shared
        written, _ = soundfile.read(est / SONGS[0] / f"{source}.wav", dtype="float32")
        np.testing.assert_allclose(written, expected[:, 0], atol=1e-5)
    assert main(args) == 0  # the job's estimates are first looks: all made again
    assert "4 estimates had been made otherwise" in capsys.readouterr().out
    assert main([*args, "--alone", "--no-refine"]) == 0  # the first looks, each alone
    out = capsys.readouterr().out
    assert "(each source alone)" in out and "4 estimates were already there" in out
    with pytest.raises(ConfigError, match="do not share"):
        evaluation_pairs.EvaluationPlan(alone=True, shared=True)


def test_no_fit_asks_each_source_by_its_bare_prototype(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    est, report = tmp_path / "est", tmp_path / "r.json"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--threads", "1",
            "--no-refine", "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip
    queries = []
    for more in ([], ["--no-fit"]):
        assert main([*args, *more]) == 0
        assert "were already there" not in capsys.readouterr().out  # made again, not kept
        assert json.loads(report.read_text())["config"]["fit_to_song"] == (not more)
        queries.append(load_estimate(est / SONGS[0] / "drums.estimate.npz").query)
    prototype = learned.load_shipped(ModelCache())[1]["drums"].numpy()
    np.testing.assert_allclose(queries[1], prototype, rtol=1e-5, atol=1e-6)
    assert not np.allclose(queries[0], prototype, atol=1e-3)


@pytest.mark.parametrize(("count", "ending"), [(1, "over 1 separation"), (2, "over 2 separations")])
def test_the_cost_line_counts_separations_in_plain_english(count: int, ending: str) -> None:
    timings = {f"song{i}/drums": Timing(1.0, 0.7, 0, ()) for i in range(count)}
    run = EvaluationRun(scores=[], timings=timings, resumed=[], remade=[], unsupported={})
    assert cli_evaluate._cost_line(run).endswith(ending)


def test_the_output_names_the_set_backend_weights_and_code(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A result can be traced to what made it from the output alone: the table's heading names
    the set, the backend, the measures and the separator's weights, and the JSON holds their
    sha256 in full, with the separating code's."""
    from tagbox_gui.core.evaluation import recipes

    est, report = tmp_path / "est", tmp_path / "r.json"
    args = learned_args(tiny_set, est, model_dir, report)
    assert main([*args[:5], "drums", *args[6:]]) == 0
    out = capsys.readouterr().out
    heading = out.split("source ")[0]
    assert str(tiny_set) in heading and "learned backend" in heading
    assert "SI-SDRi" in heading and "SDRi" in heading
    assert f"separator sha256 {learned.WEIGHTS_SHA256[:12]}" in heading
    data = json.loads(report.read_text())
    assert data["separator_sha256"] == learned.WEIGHTS_SHA256
    assert data["code_sha256"] == recipes.code_sha256()
    assert data["model_sha256"] == {}  # one pass by prototype loads no tagger
