"""The evaluate driver: separate every source of a set through the engine, then score it.

Each source name is the wanted tag. The engine (``core.engine.run``) separates it, the stem is
rendered onto the song (``core.audio.render_stems``) and written atomically as
``EST/<song>/<source>.wav`` with its cost beside it (``<source>.timing.json``); the scores come
from ``core.evaluation``. Estimates already written are kept, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tagbox_gui.core.audio import ExportFormat, load_song, render_stems, write_audio
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.evaluation import PairScore, list_set, score_set, write_text
from tagbox_gui.core.loading import ModelCache, taggers_for
from tagbox_gui.core.models import ModelStore
from tagbox_gui.core.types import RunConfig, RunResult, StepResult, TaggerSpec


@dataclass(frozen=True)
class Timing:
    """What separating one source of one song cost."""

    cpu_s: float  # CPU time of this process (all threads), the figure laptops care about
    wall_s: float
    steps: int
    taggers: tuple[str, ...]


def separate_source(
    mix_path: Path,
    out_path: Path,
    config: RunConfig,
    store: ModelStore,
    cache: ModelCache,
    on_step: Callable[[StepResult], None] | None = None,
) -> Timing:
    """Run the engine on one song for one source and write the separated stem atomically."""
    from tagbox_gui.core import engine  # the driver needs torch; scoring alone does not

    song = load_song(mix_path)
    began_cpu, began_wall = time.process_time(), time.perf_counter()
    gen = engine.run(config, song, store, cache)
    result: RunResult | None = None
    while result is None:
        try:
            step = next(gen)
        except StopIteration as stop:
            result = stop.value
            continue
        if step is not None and on_step is not None:
            on_step(step)
    if result.estimate is None:
        raise ConfigError(f"the run on {mix_path} made no estimate; use at least one step")
    separated, _ = render_stems(song, result.estimate)
    timing = Timing(time.process_time() - began_cpu, time.perf_counter() - began_wall,
                    result.steps_done, tuple(str(t) for t in config.taggers))  # fmt: skip
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # The timing goes first: the estimate's presence is what marks the pair as done.
    write_text(timing_path(out_path), json.dumps(asdict(timing)))
    write_audio(out_path, separated, song.rate, ExportFormat.WAV32)
    return timing


def timing_path(estimate: Path) -> Path:
    """Where the cost of an estimate is kept, beside it (``<source>.timing.json``)."""
    return estimate.with_name(estimate.stem + ".timing.json")


def read_timing(estimate: Path) -> Timing | None:
    """The stored cost of an estimate, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(timing_path(estimate).read_text())
        return Timing(float(data["cpu_s"]), float(data["wall_s"]), int(data["steps"]),
                      tuple(data["taggers"]))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class EvaluationRun:
    """Scores of an evaluate run, what each new separation cost, and what was left out."""

    scores: list[PairScore]
    timings: dict[str, Timing]  # "<song>/<source>" -> cost, for the estimates made by this run
    resumed: list[str]  # estimates found on disk and kept
    unsupported: list[str]  # sources no chosen tagger has a tag for


Progress = Callable[[str, StepResult | None], None]


@dataclass(frozen=True)
class Pair:
    """One source of one song to evaluate, and what to do about it."""

    song: str
    source: str
    estimate: Path  # EST/<song>/<source>.wav
    taggers: tuple[TaggerSpec, ...]  # empty: no tagger has a tag for the source

    @property
    def key(self) -> str:
        return f"{self.song}/{self.source}"

    @property
    def done(self) -> bool:
        return self.estimate.is_file()


def plan_pairs(
    set_dir: Path,
    est_dir: Path,
    taggers: tuple[TaggerSpec, ...],
    sources: tuple[str, ...] | None = None,
    fallback: tuple[TaggerSpec, ...] = (),
) -> list[Pair]:
    """Every (listed) source of every song, with the taggers that will separate it."""
    return [
        Pair(
            song,
            source,
            est_dir / song / f"{source}.wav",
            taggers_for((source,), taggers, fallback),
        )
        for song, song_sources in list_set(set_dir)
        for source in song_sources
        if sources is None or source in sources
    ]


def evaluate_set(
    set_dir: Path,
    est_dir: Path,
    config: RunConfig,
    store: ModelStore,
    sources: tuple[str, ...] | None = None,
    progress: Progress | None = None,
    fallback: tuple[TaggerSpec, ...] = (),
) -> EvaluationRun:
    """Separate every (listed) source of every song with ``config``, then score the estimates.

    Estimates already in ``est_dir`` are kept (an interrupted run resumes); each new one is
    written atomically. Each source uses those of ``config.taggers`` that have a tag for it,
    else the first of ``fallback`` that has; a source none of them has is reported in
    ``unsupported`` and scored as missing.
    ``progress(key, step)`` is called after every step and once per pair with ``None``.
    """
    cache = ModelCache()
    run = EvaluationRun([], {}, [], [])
    for pair in plan_pairs(set_dir, est_dir, config.taggers, sources, fallback):
        if pair.done:
            run.resumed.append(pair.key)
            if (timing := read_timing(pair.estimate)) is not None:
                run.timings[pair.key] = timing
        elif not pair.taggers:
            run.unsupported.append(pair.key)
        else:
            pair_config = replace(config, tags=(pair.source,), taggers=pair.taggers)
            step_cb = (lambda s, k=pair.key: progress(k, s)) if progress else None
            mix_path = set_dir / pair.song / "mix.flac"
            run.timings[pair.key] = separate_source(
                mix_path, pair.estimate, pair_config, store, cache, step_cb
            )
        if progress:
            progress(pair.key, None)
    run.scores = score_set(set_dir, est_dir, sources)
    for score in run.scores:
        if f"{score.song}/{score.source}" in run.unsupported:
            score.notes.append("no chosen tagger has a tag for this source: not separated")
    return run
