"""Separating an evaluate run's pairs: one after the other in this process, or in worker
processes at once, their steps forwarded to this one."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from tagbox_gui.core.audio.song import Song, load_song
from tagbox_gui.core.evaluation.pairs import Pair, separate_source
from tagbox_gui.core.evaluation.recipes import Timing
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.memory import keep_freed_memory_if_steering
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import RunConfig, StepResult

Progress = Callable[[str, StepResult | None], None]


def threads_per_job(jobs: int, threads: int | None = None) -> int:
    """Torch threads of each of ``jobs`` separations at once: ``threads`` if given, else this
    process's thread count divided among them (at least 1)."""
    return threads or max(1, torch.get_num_threads() // jobs)


Separations = Generator[tuple[Pair, Timing], None, None]


def separate_here(
    todo: list[Pair],
    mixes: Callable[[str], Song],
    store: ModelStore,
    progress: Progress | None,
) -> Separations:
    """Separate ``todo`` one after the other in this process, the mix of each pair's song
    from ``mixes(song)``."""
    cache = ModelCache()
    for pair in todo:
        on_step = (lambda s, k=pair.key: progress(k, s)) if progress else None
        yield pair, separate_source(mixes(pair.song), pair, pair.config, store, cache, on_step)


def separate_in_workers(
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
    pairs are under way at once. Leaving early (an error, Ctrl+C) terminates them. A worker
    that dies with its pair (killed, e.g. for memory) is a RuntimeError naming the pair, not
    a wait without end: the pool would start another worker, but the pair would be lost.
    """
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch
    by_key = {pair.key: pair for pair in todo}
    with context.Manager() as manager:
        steps, busy = manager.Queue(), manager.dict()  # busy: pair key -> its worker's pid
        tasks = [(set_dir, pair, store, steps, busy) for pair in todo]
        ready = manager.Barrier(jobs)
        configs = [pair.config for pair in todo]
        with context.Pool(jobs, _start_worker, (threads, ready, configs)) as pool:
            results = pool.imap_unordered(_separate_in_worker, tasks)
            for _ in todo:
                key, timing = _next_result(results, steps, progress, busy)
                _forward_steps(steps, progress)
                yield by_key[key], timing


def _next_result(
    results: Any, steps: queue.Queue, progress: Progress | None, busy: Any = None
) -> Any:
    """The next result of ``results`` (a pool's iterator), forwarding steps while waiting;
    RuntimeError when a worker in ``busy`` (pair key -> pid) died with its pair."""
    while True:
        _forward_steps(steps, progress)
        try:
            return results.next(timeout=0.2)
        except multiprocessing.TimeoutError:
            pass
        for key, pid in list(busy.items()) if busy is not None else ():
            if not _alive(pid):
                raise RuntimeError(f"the worker process separating {key} ended without a "
                                   "result (killed, e.g. out of memory); run again with "
                                   "fewer --jobs")  # fmt: skip


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (the pool reaps a dead worker within 0.1 s)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or its number is another user's now
        return False
    return True


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


def _start_worker(threads: int, ready: Any = None, configs: Sequence[RunConfig] = ()) -> None:
    """Set up a worker; with ``ready`` (a barrier of all of them), wait until every worker is up,
    so that N jobs start N pairs at once rather than the first one up taking them in turn.
    A worker that will make steered runs (of ``configs``), and ends with them, keeps its freed
    memory for the next step (``core.separation.memory``)."""
    torch.set_num_threads(threads)
    keep_freed_memory_if_steering(configs)
    if ready is not None:
        with contextlib.suppress(threading.BrokenBarrierError, OSError, EOFError):
            ready.wait(_READY_TIMEOUT_S)  # a worker that never came up must not hold the rest


Task = tuple[Path, Pair, ModelStore, queue.Queue, Any]
"""A worker's task: the set, the pair, the model store, the steps' queue and the busy map."""


def _separate_in_worker(task: Task) -> tuple[str, Timing]:
    set_dir, pair, store, steps, busy = task
    busy[pair.key] = os.getpid()
    song = load_song(set_dir / pair.song / "mix.flac")
    on_step = lambda step: steps.put((pair.key, replace(step, preview=None)))  # noqa: E731
    try:
        return pair.key, separate_source(song, pair, pair.config, store, _worker_cache, on_step)
    finally:
        busy.pop(pair.key, None)
