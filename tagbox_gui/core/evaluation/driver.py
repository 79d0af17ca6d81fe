"""The evaluate driver: separate every source of a set through the engine, then score it.

Each source name is the wanted tag. The engine (``core.separation.engine.run``) separates it and
its estimate is kept as ``EST/<song>/<source>.estimate.npz`` with its cost beside it
(``<source>.timing.json``). Once every listed source of a song is separated, the estimates share
the mixture (``core.audio.estimates.share``, unless told not to; the learned separator's are
looked at a second time first, ``core.separation.refine``) and each stem is rendered onto
the song (``core.audio.stems.render_stems``) and written atomically as
``EST/<song>/<source>.wav``; the scores come from ``core.evaluation.scoring``. Estimates already
kept are not made again, so an interrupted run resumes; each records the settings that made it
(its :func:`recipe`), and one made with other settings is made again rather than mixed into the
results.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from tagbox_gui.core.audio.atomic import write_atomically
from tagbox_gui.core.audio.estimates import ESTIMATE_FORMAT, load_estimate, save_estimate
from tagbox_gui.core.audio.export import ExportFormat, write_audio
from tagbox_gui.core.audio.song import Song, load_song
from tagbox_gui.core.audio.stems import render_stems
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.evaluation.scoring import PairScore, list_set, score_set
from tagbox_gui.core.separation.backends.learned import has_prototype
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.loading import backend_settings, hops_per_window, taggers_for
from tagbox_gui.core.separation.refine import shared_estimates
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import Example, RunConfig, StepResult, TaggerSpec, config_record


@dataclass(frozen=True)
class Timing:
    """What separating one source of one song cost."""

    cpu_s: float  # CPU time of this process (all threads), the figure laptops care about
    wall_s: float
    steps: int
    taggers: tuple[str, ...]
    began: float = 0.0  # wall-clock time (time.time()) when the separation started
    ended: float = 0.0  # ... and when it ended
    pid: int = 0  # the process that separated it (a worker's with --jobs)


def separate_source(
    song: Song,
    pair: Pair,
    config: RunConfig,
    store: ModelStore,
    cache: ModelCache,
    on_step: Callable[[StepResult], None] | None = None,
) -> Timing:
    """Run the engine on one song for one source; keep its estimate and cost (``pair``)."""
    from tagbox_gui.core.separation import engine  # the driver needs torch; scoring alone does not

    began_cpu, began_wall, began = time.process_time(), time.perf_counter(), time.time()
    runner = functools.partial(engine.run, measure_residual=False)  # no meters shown
    if pair.looks_again:
        from tagbox_gui.core.separation.job import looking_again

        runner = looking_again(runner)
    steps = runner(config, song, store, cache)
    result = engine.run_to_end(steps, on_step)
    if result.estimate is None:
        raise ConfigError(f"the run on {song.path} made no estimate; use at least one step")
    timing = Timing(time.process_time() - began_cpu, time.perf_counter() - began_wall,
                    result.steps_done, tuple(str(t) for t in config.taggers), began,
                    time.time(), os.getpid())  # fmt: skip
    # The timing goes first: the estimate's presence is what marks the pair as done.
    pair.timing.parent.mkdir(parents=True, exist_ok=True)
    record = {**asdict(timing), "recipe": recipe(config, pair.looks_again)}
    write_atomically(pair.timing, json.dumps(record))
    save_estimate(pair.saved, result.estimate)
    return timing


_SPEED_ONLY = ("device", "preview_every")  # change how fast a run is, not what it makes


def recipe(config: RunConfig, looks_again: bool = False) -> dict[str, Any]:
    """Everything that decides an estimate, as JSON values: the run's settings (the device and
    the preview rate left out) and the backend's own (e.g. the light backend's factorisation, the
    masks' hop), the layout of the estimate file (an older one lacks what a newer version
    uses, e.g. the learned query that the second look at a job's stems needs), and whether the
    run was looked at again beside its helpers (``looks_again``, :attr:`Pair.looks_again`)."""
    fields = {k: v for k, v in config_record(config).items() if k not in _SPEED_ONLY}
    if looks_again:
        fields["looked_again_beside_helpers"] = True
    fields["backend_settings"] = backend_settings(config.backend)
    fields["hops_per_window"] = hops_per_window(config.backend)
    fields["estimate_format"] = ESTIMATE_FORMAT
    return fields


def recorded_recipe(path: Path) -> dict[str, Any] | None:
    """The recipe kept in a timing file, or None if it has none (or is unreadable)."""
    try:
        found = json.loads(path.read_text()).get("recipe")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, dict) else None


RENDERED = "stems.json"
"""Per song folder: which kept estimates its stems were rendered from, whether they shared the
mixture, and whether the second look was asked for (estimates it does not apply to, e.g. the
light backend's, are only shared)."""


def _rendering(pairs: list[Pair], shared: bool, refined: bool) -> dict[str, object]:
    sources = sorted(p.source for p in pairs if p.done)
    return {"shared": shared, "refined": shared and refined, "sources": sources}


def needs_render(song_dir: Path, pairs: list[Pair], shared: bool, refined: bool = True) -> bool:
    """Whether the song's stems are missing or were rendered from other estimates or sharing."""
    if any(p.done and not p.estimate.is_file() for p in pairs):
        return True
    try:
        found = json.loads((song_dir / RENDERED).read_text())
    except (OSError, ValueError):
        return any(p.done for p in pairs)
    return found != _rendering(pairs, shared, refined)


def render_song(song: Song, pairs: list[Pair], shared: bool, refined: bool = True,
                cache: ModelCache | None = None) -> None:  # fmt: skip
    """Write the stem of every kept estimate of one song, sharing the mixture if ``shared``,
    after a second look at the learned separator's if ``refined``
    (``core.separation.refine.shared_estimates``; ``cache`` keeps the separator loaded)."""
    kept = {pair.source: load_estimate(pair.saved) for pair in pairs if pair.done}
    if not kept:
        return
    estimates = shared_estimates(song, kept, cache, refined) if shared else kept
    for pair in pairs:
        if pair.source in estimates:
            separated, _ = render_stems(song, estimates[pair.source])
            write_audio(pair.estimate, separated, song.rate, ExportFormat.WAV32)
    record = _rendering(pairs, shared, refined)
    write_atomically(pairs[0].estimate.parent / RENDERED, json.dumps(record))


def timing_path(estimate: Path) -> Path:
    """Where the cost of an estimate is kept, beside it (``<source>.timing.json``)."""
    return estimate.with_name(estimate.stem + ".timing.json")


def read_timing(path: Path) -> Timing | None:
    """The cost stored at ``path``, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
        return Timing(float(data["cpu_s"]), float(data["wall_s"]), int(data["steps"]),
                      tuple(data["taggers"]), float(data.get("began", 0.0)),
                      float(data.get("ended", 0.0)), int(data.get("pid", 0)))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class EvaluationPlan:
    """What an evaluate run separates and how it makes its stems, beside the run's settings.

    ``sources``: the sources evaluated (None: every one). ``fallback``: taggers for a source none
    of the run's taggers has a tag for. ``example_seconds``, ``by_example``: how sources are
    asked for by example (:func:`plan_pairs`). ``shared``: the sources of a song share the
    mixture (``core.audio.estimates.share``), the learned separator's after a second look if
    ``refined`` (``core.separation.refine``). ``alone``: each source is separated as one
    instrument asked for alone is, a single run looked at again beside its helpers if
    ``refined``, its stem not sharing the mixture. ``score_from``: the seconds of each song
    left out of the scores.
    """

    sources: tuple[str, ...] | None = None
    fallback: tuple[TaggerSpec, ...] = ()
    example_seconds: float | None = None
    by_example: tuple[str, ...] = ()
    shared: bool = True
    refined: bool = True
    alone: bool = False
    score_from: float = 0.0

    def __post_init__(self) -> None:
        if self.alone and self.shared:
            raise ConfigError("sources separated alone do not share the mix")

    @property
    def looks_again(self) -> bool:
        """Whether each source's single run is looked at again beside its helpers."""
        return self.alone and self.refined


@dataclass
class EvaluationRun:
    """Scores of an evaluate run, what each new separation cost, and what was left out."""

    scores: list[PairScore]
    timings: dict[str, Timing]  # "<song>/<source>" -> cost, for the estimates made by this run
    resumed: list[str]  # estimates found on disk and kept
    remade: list[str]  # estimates found on disk but made with other settings, so made again
    unsupported: list[str]  # sources no chosen tagger has a tag for


Progress = Callable[[str, StepResult | None], None]


@dataclass(frozen=True)
class Pair:
    """One source of one song to evaluate, and what to do about it."""

    song: str
    source: str
    estimate: Path  # EST/<song>/<source>.wav, the stem that is scored
    config: RunConfig  # the run that separates it
    supported: bool = True  # False: nothing can ask for this source (no tag, no prototype)
    looks_again: bool = False  # its single run is looked at again beside its helpers, as alone

    @property
    def key(self) -> str:
        return f"{self.song}/{self.source}"

    @property
    def saved(self) -> Path:
        """The kept estimate (masks): EST/<song>/<source>.estimate.npz."""
        return self.estimate.with_suffix(".estimate.npz")

    @property
    def timing(self) -> Path:
        """The cost of the estimate: EST/<song>/<source>.timing.json."""
        return timing_path(self.estimate)

    @property
    def taggers(self) -> tuple[TaggerSpec, ...]:
        return self.config.taggers

    @property
    def kept(self) -> bool:
        """Whether an estimate of this pair is on disk, made with whatever settings."""
        return self.saved.is_file()

    @property
    def done(self) -> bool:
        """Whether its kept estimate was made with this pair's settings."""
        return self.kept and recorded_recipe(self.timing) == recipe(self.config, self.looks_again)


def plan_pairs(
    set_dir: Path, est_dir: Path, config: RunConfig, plan: EvaluationPlan | None = None
) -> list[Pair]:
    """Every source of every song (those of ``plan.sources``), with the run (tag and taggers)
    that separates it.

    A one-pass run of the learned backend needs no tagger: a source is asked for by its
    prototype; when it has none, or is named in ``plan.by_example``, and
    ``plan.example_seconds`` is given, by the first ``plan.example_seconds`` of its true stem
    (``<song>/stems/<source>.flac``) as the example clip. Each run is looked at again beside its
    helpers where the plan says so (:attr:`EvaluationPlan.looks_again`, :attr:`Pair.looks_again`).
    """
    plan = plan or EvaluationPlan()
    pairs = []
    for song, song_sources in list_set(set_dir):
        for source in song_sources:
            if plan.sources is None or source in plan.sources:
                stem = set_dir / song / "stems" / f"{source}.flac"
                asked = plan.example_seconds, source in plan.by_example
                pair_config, supported = _pair_config(config, source, plan.fallback, stem, asked)
                estimate = est_dir / song / f"{source}.wav"
                pairs.append(Pair(song, source, estimate, pair_config, supported, plan.looks_again))
    return pairs


def _pair_config(config: RunConfig, source: str, fallback: tuple[TaggerSpec, ...], stem: Path,
                 asked: tuple[float | None, bool]) -> tuple[RunConfig, bool]:  # fmt: skip
    """The run of one source, and whether anything can ask for it.

    ``asked``: the seconds of the true stem to take as the example (None: no examples), and
    whether this source is to be asked for by example even if it has a prototype.
    """
    config = replace(config, tags=(source,))
    example_seconds, by_example = asked
    if config.backend == "learned" and config.steps == 0:
        if has_prototype(source) and not by_example:
            return config, True
        if example_seconds is None:
            return config, False
        return replace(config, tags=(), example=Example(str(stem), 0.0, example_seconds)), True
    taggers = taggers_for((source,), config.taggers, fallback)
    return replace(config, taggers=taggers), bool(taggers)


def evaluate_set(
    set_dir: Path,
    est_dir: Path,
    config: RunConfig,
    store: ModelStore,
    plan: EvaluationPlan | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
    job_threads: int | None = None,
) -> EvaluationRun:
    """Separate every source of every song that ``plan`` names with ``config``, then score
    the stems.

    Estimates already in ``est_dir`` are kept when they were made with the same settings (an
    interrupted run resumes), and made again otherwise; each new one is written atomically.
    Each source uses those of ``config.taggers`` that have a tag for it, else the first of
    ``plan.fallback`` that has; a source none of them has is reported in ``unsupported`` and
    scored as missing. A song's stems are written once all its sources are separated, when one
    of its estimates is new, a stem is missing, or the sharing changed (``plan.shared``,
    ``plan.refined``, ``plan.alone``: :class:`EvaluationPlan`).
    With ``jobs`` > 1, that many worker processes separate pairs at once, each with
    ``job_threads`` torch threads (default: this process's threads divided among the jobs);
    the estimates are the same as with one job.
    ``progress(key, step)`` is called after every step and once per pair with ``None``.
    The scores cover each song from ``plan.score_from`` seconds on (so an example clip taken
    from the start of a true stem can be left out of what is scored); the separations always
    cover the whole song.
    """
    plan = plan or EvaluationPlan()
    if jobs < 1:
        raise ConfigError("jobs must be at least 1")
    run = EvaluationRun([], {}, [], [], [])
    cache = ModelCache()  # the separator of the second look, loaded once
    by_song: dict[str, list[Pair]] = {}
    for pair in plan_pairs(set_dir, est_dir, config, plan):
        by_song.setdefault(pair.song, []).append(pair)
    # Decoded at most once per song here, and only if a pair is separated or stems rendered.
    mixes = {song: functools.cache(functools.partial(load_song, set_dir / song / "mix.flac"))
             for song in by_song}  # fmt: skip
    todo = [
        pair for pairs in by_song.values() for pair in pairs if _to_separate(pair, run, progress)
    ]
    left = {song: sum(pair.song == song for pair in todo) for song in by_song}
    made: set[str] = set()

    def render_if_complete(song: str) -> None:
        pairs = by_song[song]
        stale = song in made or needs_render(est_dir / song, pairs, plan.shared, plan.refined)
        if left[song] == 0 and stale:
            render_song(mixes[song](), pairs, plan.shared, plan.refined, cache)

    for song in by_song:
        render_if_complete(song)
    if jobs == 1:
        separations = _separate_here(todo, mixes, store, progress)
    else:
        threads = threads_per_job(jobs, job_threads)
        separations = _separate_in_workers(todo, set_dir, store, progress, jobs, threads)
    with contextlib.closing(separations):  # leaving early stops the workers at once
        for pair, timing in separations:
            run.timings[pair.key] = timing
            if progress:
                progress(pair.key, None)
            made.add(pair.song)
            left[pair.song] -= 1
            render_if_complete(pair.song)
    run.scores = score_set(set_dir, est_dir, plan.sources, plan.score_from)
    for score in run.scores:
        if f"{score.song}/{score.source}" in run.unsupported:
            score.notes.append("no chosen tagger has a tag for this source: not separated")
    return run


def threads_per_job(jobs: int, threads: int | None = None) -> int:
    """Torch threads of each of ``jobs`` separations at once: ``threads`` if given, else this
    process's thread count divided among them (at least 1)."""
    return threads or max(1, torch.get_num_threads() // jobs)


def _to_separate(pair: Pair, run: EvaluationRun, progress: Progress | None) -> bool:
    """Whether ``pair`` must be separated; one that is done or unsupported is recorded in
    ``run`` (and reported to ``progress``), and one kept with other settings is removed."""
    if not pair.supported:
        run.unsupported.append(pair.key)
    elif pair.done:
        run.resumed.append(pair.key)
        if (timing := read_timing(pair.timing)) is not None:
            run.timings[pair.key] = timing
    else:
        if pair.kept:  # made with other settings: it must not count as done if interrupted
            pair.saved.unlink()
            run.remade.append(pair.key)
        return True
    if progress:
        progress(pair.key, None)
    return False


Separations = Generator[tuple[Pair, Timing], None, None]


def _separate_here(
    todo: list[Pair],
    mixes: dict[str, Callable[[], Song]],
    store: ModelStore,
    progress: Progress | None,
) -> Separations:
    """Separate ``todo`` one after the other in this process."""
    cache = ModelCache()
    for pair in todo:
        on_step = (lambda s, k=pair.key: progress(k, s)) if progress else None
        yield pair, separate_source(mixes[pair.song](), pair, pair.config, store, cache, on_step)


def _separate_in_workers(
    todo: list[Pair],
    set_dir: Path,
    store: ModelStore,
    progress: Progress | None,
    jobs: int,
    threads: int,
) -> Separations:
    """Separate ``todo`` in ``jobs`` worker processes, in the order they finish.

    Workers send their steps (without previews) through a queue that is drained here, so
    ``progress`` runs in this process. No worker takes a pair before all are up, so ``jobs``
    pairs are under way at once. Leaving early (an error, Ctrl+C) terminates them.
    """
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch
    by_key = {pair.key: pair for pair in todo}
    with context.Manager() as manager:
        steps = manager.Queue()
        tasks = [(set_dir, pair, store, steps) for pair in todo]
        ready = manager.Barrier(jobs)
        with context.Pool(jobs, _start_worker, (threads, ready)) as pool:
            results = pool.imap_unordered(_separate_in_worker, tasks)
            for _ in todo:
                key, timing = _next_result(results, steps, progress)
                _forward_steps(steps, progress)
                yield by_key[key], timing


def _next_result(results: Any, steps: queue.Queue, progress: Progress | None) -> Any:
    """The next result of ``results`` (a pool's iterator), forwarding steps while waiting."""
    while True:
        _forward_steps(steps, progress)
        try:
            return results.next(timeout=0.2)
        except multiprocessing.TimeoutError:
            pass


def _forward_steps(steps: queue.Queue, progress: Progress | None) -> None:
    while True:
        try:
            key, step = steps.get_nowait()
        except queue.Empty:
            return
        if progress:
            progress(key, step)


_worker_cache = ModelCache()  # each spawned worker imports this module afresh: one per worker


_READY_TIMEOUT_S = 120.0


def _start_worker(threads: int, ready: Any = None) -> None:
    """Set up a worker; with ``ready`` (a barrier of all of them), wait until every worker is up,
    so that N jobs start N pairs at once rather than the first one up taking them in turn."""
    torch.set_num_threads(threads)
    if ready is not None:
        with contextlib.suppress(threading.BrokenBarrierError, OSError, EOFError):
            ready.wait(_READY_TIMEOUT_S)  # a worker that never came up must not hold the rest


def _separate_in_worker(task: tuple[Path, Pair, ModelStore, queue.Queue]) -> tuple[str, Timing]:
    set_dir, pair, store, steps = task
    song = load_song(set_dir / pair.song / "mix.flac")
    on_step = lambda step: steps.put((pair.key, replace(step, preview=None)))  # noqa: E731
    return pair.key, separate_source(song, pair, pair.config, store, _worker_cache, on_step)
