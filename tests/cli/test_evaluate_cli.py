"""`tagbox evaluate` end to end on a tiny set cut from shared/eval/dev, resume included."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from tagbox_gui.cli import main
from tagbox_gui.core.audio.estimates import load_estimate, share
from tagbox_gui.core.audio.song import load_song
from tagbox_gui.core.audio.stems import render_stems
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.evaluation import driver as evaluation_run
from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.evaluation import recipes
from tagbox_gui.core.evaluation import scoring as evaluation
from tagbox_gui.core.nets.queries import QUERY_TAGGERS
from tagbox_gui.core.separation.backends import learned, light
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import REGISTRY
from tagbox_gui.core.types import StepResult
from tests.core.test_evaluation import cut_set

SONGS = ["band000", "band001"]
DRUMS = evaluation_pairs.EvaluationPlan(sources=("drums",))  # the drums of every song
STORE = ModelStore(Path(__file__).parent / "no-models")  # for recipes: no model file in it


@pytest.fixture
def tiny_set(eval_dir: Path, tmp_path: Path) -> Path:
    return cut_set(eval_dir / "dev", tmp_path / "set", SONGS, 3.0)


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _learned_args(tiny_set: Path, est: Path, model_dir: Path, report: Path) -> list[str]:
    """The learned separator's defaults on the drums and strings, the report to ``report``."""
    return ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums,strings", "--threads",
            "1", "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip


def _args(tiny_set: Path, est: Path, model_dir: Path, *more: str) -> list[str]:
    fixed = ["--backend", "light", "--steps", "2", "--threads", "1", "--sources", "drums",
             "--tagger", "fcn/mtat"]  # fmt: skip
    return ["evaluate", str(tiny_set), "-o", str(est), *fixed, "--model-dir", str(model_dir), *more]


@pytest.mark.slow
def test_evaluate_writes_scores_and_resumes(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    est, report = tmp_path / "est", tmp_path / "report.json"
    assert main(_args(tiny_set, est, model_dir, "--json", str(report))) == 0
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
    assert main(_args(tiny_set, est, model_dir, "--json", str(report))) == 0
    assert "1 estimates were already there" in capsys.readouterr().out
    assert kept.stat().st_mtime_ns == stamp
    again = json.loads(report.read_text())
    assert again["summary"]["drums"]["n"] == 2
    # Same seed, same settings, CPU: the re-made estimate scores the same.
    assert again["results"][1]["sdri"] == pytest.approx(data["results"][1]["sdri"], abs=1e-9)
    kept.unlink()
    assert main(_args(tiny_set, est, model_dir, "--json", str(report))) == 0
    assert "2 estimates were already there" in capsys.readouterr().out
    assert json.loads(report.read_text())["results"][0]["sdri"] == data["results"][0]["sdri"]

    # Other settings: the kept estimates are not mixed into the results but made again.
    more = ["--json", str(report), "--steps", "3"]
    assert main([*_args(tiny_set, est, model_dir), *more]) == 0
    out = capsys.readouterr().out
    assert "2 estimates had been made otherwise (settings, weights, audio or code)" in out
    assert "already there" not in out
    assert set(json.loads(report.read_text())["timings"]) == {f"{s}/drums" for s in SONGS}
    recorded = json.loads((est / "band000" / "drums.timing.json").read_text())
    assert recorded["recipe"]["steps"] == 3 and recorded["steps"] == 3


def test_recipe_names_what_decides_an_estimate(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = default_config("light", steps=2)
    pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE, DRUMS)[0]
    assert pair.config.tags == ("drums",) and not pair.kept and not pair.done
    base = recipes.recipe(pair.config, STORE, mix=pair.mix)
    assert base["backend_settings"]["components"] == light.SETTINGS.components

    # Speed-only settings do not count; the method's settings, the backend's own included, do.
    def recipe(**changes: object) -> dict[str, object]:
        return recipes.recipe(dataclasses.replace(pair.config, **changes), STORE, mix=pair.mix)

    assert recipe(device="cpu") == base
    assert recipe(lr=0.2) != base
    assert recipe(balance_tags=False) != base
    monkeypatch.setattr(light, "SETTINGS", dataclasses.replace(light.SETTINGS, components=41))
    assert recipes.recipe(pair.config, STORE, mix=pair.mix) != base
    monkeypatch.undo()
    assert base["hops_per_window"] == 2  # estimates made at another hop are made again
    monkeypatch.setattr(light, "HOPS_PER_WINDOW", 4, raising=False)
    assert recipes.recipe(pair.config, STORE, mix=pair.mix) != base
    monkeypatch.undo()
    # An estimate on disk counts as done only with the same recipe beside it.
    pair.saved.parent.mkdir(parents=True)
    pair.saved.write_bytes(b"")
    assert pair.kept and not pair.done
    pair.timing.write_text(json.dumps({"cpu_s": 1.0, "recipe": base}))
    assert pair.done
    pair.timing.write_text("not json")
    assert not pair.done


def test_recipe_names_the_separator_file_in_use(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Estimates of other separator weights ($TAGBOX_SEPARATOR) are not kept as done."""
    config = default_config("learned")
    pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE, DRUMS)[0]
    shipped = recipes.recipe(pair.config, STORE, mix=pair.mix)
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(learned.weights_path()))
    assert (
        recipes.recipe(pair.config, STORE, mix=pair.mix) == shipped
    )  # the same weights by their path
    other = tmp_path / "other.pt"
    other.write_bytes(b"other weights")
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(other))
    first = recipes.recipe(pair.config, STORE, mix=pair.mix)
    assert first != shipped
    other.write_bytes(b"weights trained further")  # the same path, other weights
    assert recipes.recipe(pair.config, STORE, mix=pair.mix) != first
    # The light backend does not use the separator: its estimates stay.
    light_config = default_config("light")
    light_pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path, light_config, STORE, DRUMS)
    monkeypatch.delenv(learned.WEIGHTS_ENV)
    before = recipes.recipe(light_pair[0].config, STORE, mix=light_pair[0].mix)
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(other))
    assert recipes.recipe(light_pair[0].config, STORE, mix=light_pair[0].mix) == before


def test_recipe_names_the_tagger_files_of_examples_and_steps(
    tiny_set: Path, tmp_path: Path
) -> None:
    """An estimate made by example or with steps depends on the taggers' files of the model
    folder (--model-dir): with other files it is made again; one by prototype (one pass of
    the learned separator) loads no tagger and is kept."""

    def store_with(folder: str, weights: bytes) -> ModelStore:
        store = ModelStore(tmp_path / folder)
        for name, info in REGISTRY.items():
            if info.kind == "tagger":
                store.location(name).parent.mkdir(parents=True)
                store.location(name).write_bytes(name.encode() + weights)
        return store

    ours, moved, other = store_with("a", b"1"), store_with("b", b"1"), store_with("c", b"2")
    by_example = dataclasses.replace(DRUMS, example_seconds=1.0, by_example=("drums",))
    learned_config = default_config("learned")
    cases = [(learned_config, by_example, True), (learned_config, DRUMS, False),
             (default_config("learned", steps=2), DRUMS, True),
             (default_config("light", steps=2), DRUMS, True)]  # fmt: skip
    for n, (config, plan, uses_taggers) in enumerate(cases):
        pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path / f"est{n}", config, ours, plan)[0]
        pair.saved.parent.mkdir(parents=True)
        pair.saved.write_bytes(b"")
        pair.timing.write_text(
            json.dumps({"recipe": recipes.recipe(pair.config, ours, mix=pair.mix)})
        )
        assert pair.done
        assert dataclasses.replace(pair, store=moved).done  # the same files in another folder
        assert dataclasses.replace(pair, store=other).done is not uses_taggers
        assert dataclasses.replace(pair, store=STORE).done is not uses_taggers  # none there


@pytest.mark.slow
def test_sources_of_a_song_share_the_mixture(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alone, shared, report = tmp_path / "alone", tmp_path / "shared", tmp_path / "r.json"
    two = ["--sources", "drums,strings", "--json", str(report)]
    assert main([*_args(tiny_set, alone, model_dir, "--no-share"), *two]) == 0
    assert "(each source on its own)" in capsys.readouterr().out
    assert json.loads(report.read_text())["config"]["shared"] is False
    # The same kept estimates, shared: nothing is separated again, only the stems change.
    shutil.copytree(alone, shared)
    assert main([*_args(tiny_set, shared, model_dir), *two]) == 0
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


@pytest.mark.slow
def test_jobs_separate_in_worker_processes_and_make_the_same_estimates(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(_args(tiny_set, one, model_dir, "--json", str(tmp_path / "one.json"))) == 0
    capsys.readouterr()
    assert main(_args(tiny_set, two, model_dir, "--jobs", "2", "--json",
                      str(tmp_path / "two.json"))) == 0  # fmt: skip
    capsys.readouterr()
    # Both under way at once, by the times and processes the workers report (the progress
    # bar's text depends on when it happens to redraw).
    spans = [json.loads((two / s / "drums.timing.json").read_text()) for s in SONGS]
    assert len({span["pid"] for span in spans} | {os.getpid()}) == 3  # two workers
    assert max(span["began"] for span in spans) < min(span["ended"] for span in spans)
    for song in SONGS:
        made = [load_estimate(d / song / "drums.estimate.npz") for d in (one, two)]
        for n in made[0].masks:
            np.testing.assert_array_equal(made[0].masks[n], made[1].masks[n])
        stems = [soundfile.read(d / song / "drums.wav")[0] for d in (one, two)]
        np.testing.assert_array_equal(stems[0], stems[1])
    report = json.loads((tmp_path / "two.json").read_text())
    assert report["jobs"] == 2 and report["threads"] == 1
    assert set(report["timings"]) == {f"{s}/drums" for s in SONGS}
    assert [r["sdri"] for r in report["results"]] == [
        r["sdri"] for r in json.loads((tmp_path / "one.json").read_text())["results"]
    ]
    assert main(_args(tiny_set, two, model_dir, "--jobs", "0")) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_progress_shows_a_loss_only_while_one_pair_is_under_way(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tagbox_gui.cli.evaluate import _Progress

    def step(total: float) -> StepResult:
        return StepResult(step=1, total=total, losses={}, grad_norm=0.0, wanted_separated={},
                          wanted_residual={}, seconds=0.1, lr=0.1)  # fmt: skip

    progress = _Progress(["band000/drums", "band001/drums"], 2)
    progress("band000/drums", step(0.5))
    assert progress.bar.desc.startswith("band000/drums") and "loss=0.500" in progress.bar.postfix
    progress("band001/drums", step(0.25))  # a second pair: no single loss figure
    assert progress.bar.desc.startswith("band000/drums, band001/drums")
    assert not progress.bar.postfix
    progress("band000/drums", None)  # the first one ends
    progress("band001/drums", step(0.125))
    assert progress.bar.desc.startswith("band001/drums") and "loss=0.125" in progress.bar.postfix
    assert progress.bar.n == 3 and progress.bar.total == 4
    progress.bar.close()
    capsys.readouterr()


def test_progress_of_one_pass_runs_counts_the_separations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tagbox_gui.cli.evaluate import _Progress

    progress = _Progress(["band000/drums", "band000/bass"], 0)
    assert progress.bar.total == 2 and progress.bar.unit == "separation"
    progress("band001/drums", None)  # kept from an earlier run: not one to separate
    progress("band000/drums", None)  # separated
    assert progress.bar.n == 1
    progress.bar.close()
    capsys.readouterr()


@pytest.mark.slow
def test_interrupted_run_leaves_no_partial_file(
    tiny_set: Path, tmp_path: Path, model_dir: Path
) -> None:
    torch.set_num_threads(1)
    est = tmp_path / "est"
    config = default_config("light", steps=2, taggers=default_config("light").taggers[:1])

    seen = []

    def interrupt(key: str, step: object) -> None:
        seen.append(step)
        if key == "band001/drums" and step is not None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluation_run.evaluate_set(tiny_set, est, config, ModelStore(model_dir), DRUMS, interrupt)
    assert (est / "band000" / "drums.wav").is_file()
    leftovers = [p.name for p in (est / "band001").iterdir()] if (est / "band001").exists() else []
    assert not [name for name in leftovers if name.endswith(".wav") or ".part" in name]
    # Nobody watches the meters of an evaluation: the residual's tagger pass is skipped.
    steps = [step for step in seen if step is not None]
    assert steps and all(s.wanted_residual == {} and s.wanted_separated for s in steps)


@pytest.mark.slow
def test_interrupting_workers_stops_them_and_leaves_no_partial_file(
    tiny_set: Path, tmp_path: Path, model_dir: Path
) -> None:
    est = tmp_path / "est"
    config = default_config("light", steps=50, taggers=default_config("light").taggers[:1])

    def interrupt(key: str, step: object) -> None:
        if step is not None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluation_run.evaluate_set(
            tiny_set, est, config, ModelStore(model_dir), DRUMS, interrupt, jobs=2
        )
    # The workers were terminated, not waited for: 50 steps would have written estimates.
    written = [p.name for p in est.rglob("*") if p.is_file()] if est.exists() else []
    assert written == []


@pytest.mark.slow
def test_a_worker_killed_with_its_pair_is_an_error_not_a_wait_without_end(
    tiny_set: Path, tmp_path: Path, model_dir: Path
) -> None:
    import multiprocessing
    import signal
    import threading

    config = default_config("light", steps=50, taggers=default_config("light").taggers[:1])
    killed: list[int] = []

    def kill_a_worker(key: str, step: object) -> None:  # as the kernel does when out of memory
        if step is not None and not killed:
            worker = next(p for p in multiprocessing.active_children() if "PoolWorker" in p.name)
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    outcome: list[BaseException | None] = []

    def evaluate() -> None:
        try:
            evaluation_run.evaluate_set(tiny_set, tmp_path / "est", config, ModelStore(model_dir),
                                        DRUMS, kill_a_worker, jobs=2)  # fmt: skip
            outcome.append(None)
        except BaseException as exc:  # what ended it is the result
            outcome.append(exc)

    runner = threading.Thread(target=evaluate, daemon=True)
    runner.start()
    runner.join(120)
    assert killed and outcome, "the run still waits for the killed worker's pair"
    assert isinstance(outcome[0], RuntimeError) and "ended without a result" in str(outcome[0])


def test_estimates_of_other_settings_stay_until_made_again(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run with other settings that fails before it makes an estimate again (here the engine
    refuses its learning rate; a missing tagger, Ctrl+C) leaves the kept estimates as they were,
    done for a run with their own settings."""
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    for pair in evaluation_pairs.plan_pairs(tiny_set, est, config, store, DRUMS):
        pair.saved.parent.mkdir(parents=True)
        pair.saved.write_bytes(b"kept")
        pair.timing.write_text(
            json.dumps({"recipe": recipes.recipe(pair.config, store, mix=pair.mix)})
        )
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--model-dir",
            str(model_dir), "--lr", "0"]  # fmt: skip
    assert main(args) == 2
    assert "learning rate must be a positive number" in capsys.readouterr().err
    planned = evaluation_pairs.plan_pairs(tiny_set, est, config, store, DRUMS)
    assert all(p.done and p.saved.read_bytes() == b"kept" for p in planned)


def test_stems_interrupted_while_rendered_are_rendered_again(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped after its estimates were made but before its stems were all rendered
    (Ctrl+C during the second look) renders them on resume, not scores the old stems."""
    torch.set_num_threads(1)
    est, store = tmp_path / "est", ModelStore(model_dir)
    fitted = default_config("learned", preview_every=1_000_000)
    bare = dataclasses.replace(fitted, fit_to_song=False)
    evaluation_run.evaluate_set(tiny_set, est, fitted, store, DRUMS)
    old = soundfile.read(est / SONGS[0] / "drums.wav")[0]

    def stopped(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation_run, "render_song", stopped)
    with pytest.raises(KeyboardInterrupt):
        evaluation_run.evaluate_set(tiny_set, est, bare, store, DRUMS)
    monkeypatch.undo()
    run = evaluation_run.evaluate_set(tiny_set, est, bare, store, DRUMS)
    assert run.resumed == [f"{SONGS[0]}/drums"]  # the other song's stopped at its estimate
    song = load_song(tiny_set / SONGS[0] / "mix.flac")
    kept = load_estimate(est / SONGS[0] / "drums.estimate.npz")
    expected, _ = render_stems(song, kept)
    written = soundfile.read(est / SONGS[0] / "drums.wav", dtype="float32")[0]
    np.testing.assert_allclose(written, expected[:, 0], atol=1e-6)
    assert np.abs(written - old).max() > 1e-3  # not the stem of the fitted estimate


def test_set_check_reads_each_header_once(tiny_set: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--score-from is checked against the lengths read when the set is checked."""
    from tagbox_gui.cli.evaluate import check_set

    read, info = [], soundfile.info

    def counted(path: str, *args: object, **kwargs: object) -> object:
        read.append(path)
        return info(path, *args, **kwargs)

    monkeypatch.setattr(soundfile, "info", counted)
    check_set(tiny_set, ("drums",), score_from=1.0)
    files = [*tiny_set.glob("*/mix.flac"), *tiny_set.glob("*/stems/*.flac")]
    assert sorted(read) == sorted(str(path) for path in files)  # each once, the mixes too
    with pytest.raises(ConfigError, match="leaves nothing to score"):
        check_set(tiny_set, score_from=3.0)


def test_unknown_set_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "nope"), "-o", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tagbox: error:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("report", "words"),
    [
        ("new/est", "is the estimates folder"),
        ("new", "is a folder above the estimates folder"),
        ("new/est/band000", "the song 'band000'"),
        ("new/est/band000/drums.wav", "the song 'band000'"),  # the stem would be the report
        ("new/est/band001/drums.estimate.npz", "the song 'band001'"),
    ],
)
def test_the_json_report_never_takes_the_place_of_the_estimates(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    report: str,
    words: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A --json file where the run writes its estimates and stems is refused before anything
    is separated: the report could not be written over a folder the run made, or would
    replace a stem or an estimate of this run."""
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "new" / "est"), "--sources",
            "drums", "--threads", "1", "--model-dir", str(model_dir),
            "--json", str(tmp_path / report)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()


def test_sources_that_name_nothing_are_an_error_not_every_source(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--sources ""` (an empty variable in a script) or `--sources ,` names no source: an
    error, not a run of every source of the set."""
    for names in ("", ","):
        args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", names,
                "--threads", "1", "--model-dir", str(model_dir)]  # fmt: skip
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "--sources names no source" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "est").exists()


def test_by_example_names_sources_of_the_set(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name in --by-example that no song has (a typo) is an error, not a run of every source
    by its prototype."""
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--by-example", "drum", "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 2
    assert "--by-example: no song of" in capsys.readouterr().err
    assert not (tmp_path / "est").exists()


def test_by_example_outside_sources_is_an_error(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A source of the set named in --by-example but not in --sources was never separated,
    without a word."""
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--by-example", "bass", "--example-seconds", "1",
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 2
    assert "--by-example: bass is not evaluated; name it in --sources" in capsys.readouterr().err
    assert not (tmp_path / "est").exists()


@pytest.mark.parametrize(
    ("backend", "asking"),
    [("light", ["--example-seconds", "1"]), ("jukebox", ["--by-example", "drums"])],
)
def test_asking_by_example_is_refused_with_a_backend_that_cannot_be(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    backend: str,
    asking: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Only the learned backend can be asked by example: with another, --example-seconds and
    --by-example are an error before anything is separated, not options silently ignored."""
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--backend", backend, "--steps", "1", *asking,
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"the {backend} backend cannot be asked by example" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "est").exists()
    plan = dataclasses.replace(DRUMS, example_seconds=1.0)
    with pytest.raises(ConfigError, match="cannot be asked by example"):
        evaluation_pairs.plan_pairs(tiny_set, tmp_path, default_config(backend), STORE, plan)


def test_source_without_a_tag_is_reported_not_separated(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # MTAT has no bass tag: nothing is separated (so this is fast), the pair counts as missing.
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "bass",
            "--backend", "light", "--tagger", "fcn/mtat",
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "not separated (no chosen tagger has a tag for it): band000/bass, band001/bass" in out
    assert not (tmp_path / "est").exists() or not any((tmp_path / "est").rglob("*.wav"))


def test_learned_source_without_a_prototype_is_reported_with_how_to_ask_for_it(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evaluation_pairs, "has_prototype", lambda word: False)
    report = tmp_path / "report.json"
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--json", str(report), "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert ("not separated (the learned separator has no prototype for it, and no example was "
            "given; --example-seconds S asks for it by its true stem): band000/drums, "
            "band001/drums") in out  # fmt: skip
    notes = [pair["notes"] for pair in json.loads(report.read_text())["results"]]
    assert notes and all(any("no prototype" in note for note in n) for n in notes)


def test_source_no_longer_asked_for_is_missing_not_its_old_stem(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source separated by an earlier run that this run cannot ask for (here: no prototype
    and no example) is scored as missing, not by the stem the earlier run left."""
    torch.set_num_threads(1)
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    first = evaluation_run.evaluate_set(tiny_set, est, config, store, DRUMS)
    assert [s.status for s in first.scores] == ["ok", "ok"]
    monkeypatch.setattr(evaluation_pairs, "has_prototype", lambda word: False)
    run = evaluation_run.evaluate_set(tiny_set, est, config, store, DRUMS)
    assert list(run.unsupported) == [f"{song}/drums" for song in SONGS]
    assert [s.status for s in run.scores] == ["missing", "missing"]
    assert all(s.sdri is None and any("no prototype" in n for n in s.notes) for s in run.scores)


def test_source_no_longer_asked_for_shares_nothing_into_the_others(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept estimate of a source this run cannot ask for, though made with the very
    settings its pair has now, takes no part in the other sources' stems: they are rendered
    again without it."""
    torch.set_num_threads(1)
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    plan = evaluation_pairs.EvaluationPlan(sources=("bass", "drums"), refined=False)
    evaluation_run.evaluate_set(tiny_set, est, config, store, plan)
    song = load_song(tiny_set / SONGS[0] / "mix.flac")
    beside_drums = soundfile.read(est / SONGS[0] / "bass.wav", dtype="float32")[0]
    monkeypatch.setattr(evaluation_pairs, "has_prototype", lambda word: word != "drums")
    run = evaluation_run.evaluate_set(tiny_set, est, config, store, plan)
    assert list(run.unsupported) == [f"{name}/drums" for name in SONGS]
    assert run.resumed == [f"{name}/bass" for name in SONGS]
    bass = load_estimate(est / SONGS[0] / "bass.estimate.npz")
    expected, _ = render_stems(song, share({"bass": bass})["bass"])
    written = soundfile.read(est / SONGS[0] / "bass.wav", dtype="float32")[0]
    np.testing.assert_allclose(written, expected[:, 0], atol=1e-6)
    # the drums no longer take their share of the bins both claim
    assert np.abs(written - beside_drums).max() > 0.01 * np.abs(written).max()
    assert {s.source: s.status for s in run.scores} == {"bass": "ok", "drums": "missing"}


def test_learned_backend_asks_by_prototype_or_by_example(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One pass of the learned separator; a source with no prototype needs --example-seconds."""
    from tagbox_gui.core.separation.loading import default_config

    config = default_config("learned")
    plan = evaluation_pairs.EvaluationPlan(sources=("drums",))
    pairs = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE, plan)
    assert all(p.supported and p.config.tags == ("drums",) for p in pairs)
    by_drums = dataclasses.replace(plan, example_seconds=3.0, by_example=("drums",))
    asked = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE, by_drums)
    assert all(p.config.example is not None and p.config.example.end == 3.0 for p in asked)
    # Pretend drums had no prototype: it is unsupported, or asked for by its true stem.
    original = evaluation_pairs.has_prototype
    evaluation_pairs.has_prototype = lambda word: False
    try:
        planned = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE)
        assert not any(p.supported for p in planned)
        by_example = evaluation_pairs.plan_pairs(
            tiny_set, tmp_path, config, STORE, dataclasses.replace(plan, example_seconds=2.0)
        )
    finally:
        evaluation_pairs.has_prototype = original
    example = by_example[0].config.example
    assert example is not None and example.path.endswith("stems/drums.flac")
    # With steps a source no tagger names is asked for by example too, and steered towards
    # what the taggers hear in it; a source named by a tag keeps its tag unless --by-example
    steered = dataclasses.replace(config, steps=3)
    plans = {"timpani": (None, False), "drums": (2.0, False), "organ": (2.0, False),
             "piano": (2.0, True)}  # fmt: skip
    runs = {source: evaluation_pairs._pair_config(steered, source, (), Path("s.flac"), asked)
            for source, asked in plans.items()}  # fmt: skip
    assert runs["timpani"][1] is False and runs["drums"][0].tags == ("drums",)
    assert runs["organ"][1] and runs["organ"][0].example is not None
    assert runs["organ"][0].tags == () and runs["organ"][0].steps == 3
    assert runs["piano"][0].example is not None and runs["piano"][0].tags == ()
    assert (example.start, example.end) == (0.0, 2.0) and by_example[0].supported
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--threads", "1", "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "drums" in out and "SI-SDRi" in out
    assert sorted(p.name for p in (tmp_path / "est").rglob("drums.wav"))


def test_example_clip_is_the_true_stem_of_a_set_with_wav_stems(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for stem in tiny_set.glob("*/stems/drums.flac"):
        data, rate = soundfile.read(stem, dtype="int16")
        soundfile.write(stem.with_suffix(".wav"), data, rate, subtype="PCM_16")
        stem.unlink()
    monkeypatch.setattr(evaluation_pairs, "has_prototype", lambda word: False)
    plan = evaluation_pairs.EvaluationPlan(sources=("drums",), example_seconds=1.0)
    pairs = evaluation_pairs.plan_pairs(tiny_set, tmp_path, default_config("learned"), STORE, plan)
    for pair in pairs:
        assert pair.supported and pair.config.example is not None
        assert Path(pair.config.example.path) == tiny_set / pair.song / "stems" / "drums.wav"


def test_example_clips_are_kept_by_where_the_set_is_not_how_it_was_named(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume that names the set by another path (relative, absolute, from another folder)
    keeps the estimates asked for by the start of their true stems."""
    plan = dataclasses.replace(DRUMS, example_seconds=1.0, by_example=("drums",))
    config = default_config("learned")

    def made_by(set_dir: Path) -> list[dict[str, object]]:
        pairs = evaluation_pairs.plan_pairs(set_dir, tmp_path / "est", config, STORE, plan)
        assert all(Path(p.config.example.path).is_file() for p in pairs)
        return [recipes.recipe(p.config, STORE, mix=p.mix) for p in pairs]

    named = made_by(tiny_set)
    monkeypatch.chdir(tiny_set.parent)
    assert made_by(Path(tiny_set.name)) == named
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert made_by(Path("..") / tiny_set.name) == named


def test_learned_sources_get_a_second_look_unless_told_not_to(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tagbox_gui.core.separation.refine import shared_estimates

    est, report = tmp_path / "est", tmp_path / "r.json"
    args = _learned_args(tiny_set, est, model_dir, report)
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
    args = _learned_args(tiny_set, est, model_dir, report)
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


def test_the_cli_plans_the_pairs_once(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The pairs the progress bar counts are those the run separates: each true stem that
    gives an example clip is read once to find where it plays, not once more for the bar."""
    read: list[Path] = []
    sound_span = evaluation_pairs.sound_span

    def reading(path: Path) -> tuple[float | None, float]:
        read.append(path)
        return sound_span(path)

    monkeypatch.setattr(evaluation_pairs, "sound_span", reading)
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--threads", "1", "--by-example", "drums", "--example-seconds", "1",
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    assert "drums" in capsys.readouterr().out
    assert sorted(read) == sorted(tiny_set.resolve().glob("*/stems/drums.flac"))


def test_score_from_leaves_the_example_clip_out_of_the_scores(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    est, report = tmp_path / "est", tmp_path / "report.json"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--threads", "1",
            "--by-example", "drums", "--example-seconds", "1", "--score-from", "1",
            "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    assert "scored from 1 s" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["score_from_seconds"] == 1.0
    assert data["config"]["by_example"] == ["drums"] and data["config"]["example_seconds"] == 1.0
    recorded = json.loads((est / SONGS[0] / "drums.timing.json").read_text())["recipe"]
    store = ModelStore(model_dir)  # the taggers that heard the example clip, by their sha256
    assert recorded["model_sha256"] == {str(s): store.sha256(str(s)) for s in QUERY_TAGGERS}
    assert all(recorded["model_sha256"].values())
    rescored = evaluation.score_set(tiny_set, est, ("drums",), score_from=1.0)
    assert [r["si_sdri"] for r in data["results"]] == [s.si_sdri for s in rescored]
    whole = evaluation.score_set(tiny_set, est, ("drums",))
    assert [s.n_windows for s in whole] != [s.n_windows for s in rescored]
    assert main([*args[:-2], "--score-from", "-1"]) == 2
    assert "--score-from" in capsys.readouterr().err
    # past the end of every song: refused before anything is separated, not an empty report
    longest = max(soundfile.info(str(p)).duration for p in tiny_set.glob("*/mix.flac"))
    fresh = tmp_path / "fresh"
    past = [a.replace(str(est), str(fresh)) for a in args[:-2]]
    assert main([*past, "--score-from", f"{longest:g}"]) == 2
    assert "leaves nothing to score" in capsys.readouterr().err and not fresh.exists()


def test_timings_name_the_taggers_each_run_loaded(
    tiny_set: Path, tmp_path: Path, model_dir: Path
) -> None:
    """One pass by prototype loads no tagger; one by example loads those that hear the clip.
    A resumed run reports the kept estimates' recorded costs too."""
    torch.set_num_threads(1)
    store, config = ModelStore(model_dir), default_config("learned", preview_every=1_000_000)
    plans = {"prototype": (DRUMS, ()),
             "example": (dataclasses.replace(DRUMS, example_seconds=1.0, by_example=("drums",)),
                         tuple(str(spec) for spec in QUERY_TAGGERS))}  # fmt: skip
    for name, (plan, taggers) in plans.items():
        est = tmp_path / name
        run = evaluation_run.evaluate_set(tiny_set, est, config, store, plan)
        assert {k: t.taggers for k, t in run.timings.items()} == {
            f"{song}/drums": taggers for song in SONGS
        }
        recorded = json.loads((est / SONGS[0] / "drums.timing.json").read_text())
        assert tuple(recorded["taggers"]) == taggers
    again = evaluation_run.evaluate_set(tiny_set, est, config, store, plan)
    assert again.resumed == list(again.timings) == [f"{song}/drums" for song in SONGS]
    assert again.timings == run.timings


def test_jobs_start_no_more_workers_than_pairs_left(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs 4 with two pairs starts two workers, each with half the threads; with one pair
    left, one with all of them; with every estimate kept, none."""
    torch.set_num_threads(4)
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    started: list[tuple[int, int, int]] = []  # (pairs, workers, threads of each)

    def in_workers(todo, set_dir, store, progress, jobs, threads):  # here, to be quick
        started.append((len(todo), jobs, threads))
        for pair in todo:
            song = load_song(set_dir / pair.song / "mix.flac")
            yield pair, evaluation_pairs.separate_source(song, pair, pair.config, store,
                                                         ModelCache())  # fmt: skip

    monkeypatch.setattr(evaluation_run, "separate_in_workers", in_workers)
    run = evaluation_run.evaluate_set(tiny_set, est, config, store, DRUMS, jobs=4)
    assert started == [(2, 2, 2)] and (run.workers, run.threads) == (2, 2)
    run = evaluation_run.evaluate_set(tiny_set, est, config, store, DRUMS, jobs=4)
    assert started == [(2, 2, 2)] and run.workers == 0 and len(run.resumed) == 2
    (est / SONGS[1] / "drums.estimate.npz").unlink()
    run = evaluation_run.evaluate_set(tiny_set, est, config, store, DRUMS, jobs=4)
    assert started[1:] == [(1, 1, 4)] and (run.workers, run.threads) == (1, 4)


def test_a_songs_mix_is_let_go_once_its_song_is_done(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each mix is decoded when its song is separated or rendered, and not held to the end of
    the run: when the next song's is decoded, no earlier one is still in memory."""
    import gc
    import weakref

    torch.set_num_threads(1)
    decoded: list[weakref.ref] = []
    held: list[int] = []  # how many earlier mixes were still in memory at each decoding

    def load(path: Path) -> object:
        gc.collect()
        held.append(sum(ref() is not None for ref in decoded))
        song = load_song(path)
        decoded.append(weakref.ref(song))
        return song

    monkeypatch.setattr(evaluation_run, "load_song", load)
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    evaluation_run.evaluate_set(tiny_set, est, config, store, DRUMS)  # separated and rendered
    assert held == [0, 0]
    unrefined = dataclasses.replace(DRUMS, refined=False)
    run = evaluation_run.evaluate_set(tiny_set, est, config, store, unrefined)  # rendered only
    assert len(run.resumed) == 2 and held == [0, 0, 0, 0]


@pytest.mark.parametrize("seconds", ["0", "-1", "0.25", "nan", "inf", "4"])
def test_bad_example_seconds_are_refused_before_any_work(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str],
    seconds: str,
) -> None:  # fmt: skip
    """0, negative, shorter than an example clip may be, not a number, or longer than every
    song (here 3 s): one clear error before the first separation (the drums, asked for by
    their prototype, come before the strings, asked for by example)."""
    est = tmp_path / "est"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums,strings",
            "--by-example", "strings", "--example-seconds", seconds, "--threads", "1",
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--example-seconds" in err and len(err.strip().splitlines()) == 1
    assert not est.exists()


def test_an_evaluation_plan_refuses_bad_seconds() -> None:
    for seconds in (0.0, -1.0, 0.25, math.nan, math.inf):
        with pytest.raises(ConfigError, match="example_seconds must be"):
            evaluation_pairs.EvaluationPlan(example_seconds=seconds)
    for seconds in (-1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match="score_from must be"):
            evaluation_pairs.EvaluationPlan(score_from=seconds)


def _enter_late(set_dir: Path, song: str, source: str, seconds: float) -> float:
    """Silence a true stem before ``seconds`` (its instrument enters then), and the mix with
    it; where the stem now starts to play (inf: nowhere)."""
    stems = set_dir / song / "stems"
    pcm, rate = soundfile.read(stems / f"{source}.flac", dtype="int16")
    pcm[: round(seconds * rate)] = 0
    soundfile.write(stems / f"{source}.flac", pcm, rate, subtype="PCM_16")
    total = sum(soundfile.read(p, dtype="int16")[0].astype(np.int32) for p in stems.iterdir())
    soundfile.write(set_dir / song / "mix.flac", total.astype(np.int16), rate, subtype="PCM_16")
    playing = np.flatnonzero(pcm)
    return int(playing[0]) / rate if playing.size else math.inf


def test_a_source_that_enters_late_is_asked_for_where_it_plays(
    eval_dir: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A true stem silent in its first S seconds gives the S seconds from where it starts to
    play as the example, and its pair is scored from --score-from seconds after that clip
    starts, so the clip is not scored; one with no such clip is not separated, and the rest
    of the run goes on."""
    late_set = cut_set(eval_dir / "dev", tmp_path / "set", SONGS, 5.0)
    plays = _enter_late(late_set, SONGS[0], "strings", 1.5)
    _enter_late(late_set, SONGS[1], "strings", 4.5)  # 0.5 s left: no 1-s clip
    est, report = tmp_path / "est", tmp_path / "report.json"
    args = ["evaluate", str(late_set), "-o", str(est), "--sources", "drums,strings",
            "--by-example", "strings", "--example-seconds", "1", "--score-from", "1",
            "--threads", "1", "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"scored from 1 s after it starts: {SONGS[0]}/strings (at {plays:.2f} s)" in out
    assert (f"not separated (its true stem has no 1 s example clip from where it starts to "
            f"play to its end): {SONGS[1]}/strings") in out  # fmt: skip
    recorded = json.loads((est / SONGS[0] / "strings.timing.json").read_text())["recipe"]
    assert recorded["example"]["start"] == plays and recorded["example"]["end"] == plays + 1
    data = json.loads(report.read_text())
    assert data["late_examples"] == {f"{SONGS[0]}/strings": plays}
    results = {(r["song"], r["source"]): r for r in data["results"]}
    late = results[SONGS[0], "strings"]
    rescored = evaluation.score_source(late_set, est, SONGS[0], "strings", plays + 1)
    assert late["status"] == "ok" and late["si_sdri"] == rescored.si_sdri
    assert late["n_windows"] == rescored.n_windows == 2  # the 2.5 s after the clip
    assert any("where it starts to play" in note for note in late["notes"])
    assert results[SONGS[1], "strings"]["status"] == "missing"
    for song in SONGS:  # the drums play from the start: scored from 1 s as before
        rescored = evaluation.score_source(late_set, est, song, "drums", 1.0)
        assert results[song, "drums"]["si_sdri"] == rescored.si_sdri
    # A stem silent throughout gives no clip at all.
    _enter_late(late_set, SONGS[1], "strings", 5.0)
    plan = evaluation_pairs.EvaluationPlan(("strings",), example_seconds=1.0,
                                           by_example=("strings",))  # fmt: skip
    planned = evaluation_pairs.plan_pairs(late_set, est, default_config("learned"), STORE, plan)
    assert [p.supported for p in planned] == [True, False]
    assert "silent" in planned[1].why_not and planned[0].scored_from(1.0) == plays + 1
