"""`tagbox evaluate`'s runs: worker processes, the progress bar, interruptions (Ctrl+C, a
worker killed) that leave no partial file, and the memory a run holds."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from tagbox_gui.cli import main
from tagbox_gui.core.audio.estimates import load_estimate
from tagbox_gui.core.audio.song import load_song
from tagbox_gui.core.audio.stems import render_stems
from tagbox_gui.core.evaluation import driver as evaluation_run
from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import StepResult
from tests.cli.evaluation_sets import DRUMS, SONGS, light_args

pytestmark = pytest.mark.usefixtures("keep_threads")


@pytest.mark.slow
def test_jobs_separate_in_worker_processes_and_make_the_same_estimates(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(light_args(tiny_set, one, model_dir, "--json", str(tmp_path / "one.json"))) == 0
    capsys.readouterr()
    assert main(light_args(tiny_set, two, model_dir, "--jobs", "2", "--json",
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
    assert main(light_args(tiny_set, two, model_dir, "--jobs", "0")) == 2
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


def test_stems_half_rewritten_when_stopped_are_rendered_again(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped while it writes a song's stems (Ctrl+C between two of them) leaves no
    record that says they were rendered as before: a run with the first settings renders
    them again, not scores the one stem the stopped run had already written its own way."""
    torch.set_num_threads(1)
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    both = evaluation_pairs.EvaluationPlan(sources=("drums", "strings"))
    evaluation_run.evaluate_set(tiny_set, est, config, store, both)
    shared = soundfile.read(est / SONGS[0] / "drums.wav")[0]
    written = []
    write = evaluation_run.write_audio

    def stopped_at_the_second(*args: object, **kwargs: object) -> None:
        if written:
            raise KeyboardInterrupt
        written.append(write(*args, **kwargs))

    monkeypatch.setattr(evaluation_run, "write_audio", stopped_at_the_second)
    unshared = dataclasses.replace(both, shared=False)
    with pytest.raises(KeyboardInterrupt):
        evaluation_run.evaluate_set(tiny_set, est, config, store, unshared)
    monkeypatch.undo()
    assert np.abs(soundfile.read(written[0])[0] - shared).max() > 1e-3  # not shared
    evaluation_run.evaluate_set(tiny_set, est, config, store, both)
    np.testing.assert_array_equal(soundfile.read(est / SONGS[0] / "drums.wav")[0], shared)


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


def test_ctrl_c_says_how_far_the_run_got_and_that_the_same_command_goes_on(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def one_then_ctrl_c(planned, *args, **kwargs):
        progress = args[4]
        progress(planned[0].key, None)  # the first pair made
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation_run, "evaluate_pairs", one_then_ctrl_c)
    code = main(light_args(tiny_set, tmp_path / "est", model_dir))
    err = capsys.readouterr().err
    assert code == 130
    assert "the evaluation stopped after 1 of 2 separations" in err
    assert "the same command goes on from them" in err
