"""The evaluate driver: separate every source of a set through the engine, then score it.

Each source name is the wanted tag. The engine (``core.separation.engine.run``) separates it and
its estimate is kept as ``EST/<song>/<source>.estimate.npz`` with its cost beside it
(``<source>.timing.json``). Once every listed source of a song is separated, the estimates share
the mixture (``core.audio.estimates.share``, unless told not to; the learned separator's are
looked at a second time first, ``core.separation.refine``) and each stem is rendered onto
the song (``core.audio.stems.render_stems``) and written atomically as
``EST/<song>/<source>.wav``; the scores come from ``core.evaluation.scoring``. Estimates already
kept are not made again, so an interrupted run resumes; each records what made it
(``core.evaluation.recipes.recipe``: settings, weights, audio, code), and one made otherwise is
made again rather than mixed into the results. The separations run here or in worker processes
(``core.evaluation.workers``).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from tagbox_gui.core.audio.atomic import write_atomically
from tagbox_gui.core.audio.estimates import load_estimate
from tagbox_gui.core.audio.files import ExportFormat, write_audio
from tagbox_gui.core.audio.song import Song, load_song
from tagbox_gui.core.audio.stems import render_stems
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.evaluation.pairs import EvaluationPlan, Pair, plan_pairs
from tagbox_gui.core.evaluation.recipes import Timing, read_timing
from tagbox_gui.core.evaluation.scoring import PairScore, score_source
from tagbox_gui.core.evaluation.workers import (
    Progress,
    separate_here,
    separate_in_workers,
    threads_per_job,
)
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.refine import shared_estimates
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import RunConfig

RENDERED = "stems.json"
"""Per song folder: which kept estimates its stems were rendered from (their sources, and each
file by its size and modification time, so that stems not rendered since an estimate was made
again are rendered again), whether they shared the mixture, and whether the second look was
asked for (estimates it does not apply to, e.g. the light backend's, are only shared)."""


def _rendering(pairs: list[Pair], shared: bool, refined: bool) -> dict[str, object]:
    done = sorted((p for p in pairs if p.done), key=lambda p: p.source)
    return {"shared": shared, "refined": shared and refined,
            "sources": [p.source for p in done],
            "estimates": {p.source: _fingerprint(p.saved) for p in done}}  # fmt: skip


def _fingerprint(path: Path) -> list[int]:
    """Which file a kept estimate is: its size and modification time (each is written anew,
    by renaming, so an estimate made again has another)."""
    try:
        stat = path.stat()
    except OSError:
        return []
    return [stat.st_size, stat.st_mtime_ns]


def needs_render(song_dir: Path, pairs: list[Pair], shared: bool, refined: bool = True) -> bool:
    """Whether the song's stems are missing or were rendered from other estimates (other
    sources, or estimates since made again) or sharing."""
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
    (``core.separation.refine.shared_estimates``; ``cache`` keeps the separator loaded).
    The song's record of how its stems were rendered (:data:`RENDERED`) goes first and is
    written again last, so that a run stopped between two stems leaves them to render again
    rather than a record that says they are all as before."""
    kept = {pair.source: load_estimate(pair.saved) for pair in pairs if pair.done}
    if not kept:
        return
    estimates = shared_estimates(song, kept, cache, refined) if shared else kept
    record = pairs[0].estimate.parent / RENDERED
    record.unlink(missing_ok=True)
    for pair in pairs:
        if pair.source in estimates:
            separated, _ = render_stems(song, estimates[pair.source])
            write_audio(pair.estimate, separated, song.rate, ExportFormat.WAV32)
    write_atomically(record, json.dumps(_rendering(pairs, shared, refined)))


@dataclass
class EvaluationRun:
    """Scores of an evaluate run, what each of its estimates cost, and what was left out."""

    scores: list[PairScore]
    # "<song>/<source>" -> cost, for the estimates made by this run and those it kept (resumed:
    # their cost as recorded when an earlier run made them, where it was recorded)
    timings: dict[str, Timing]
    resumed: list[str]  # estimates found on disk and kept
    remade: list[str]  # estimates found on disk but made otherwise (recipes.recipe), made again
    unsupported: dict[str, str]  # pairs nothing could ask for -> why (Pair.why_not)
    # pairs asked for by a clip of their true stem that does not start at 0 s (the stem is
    # silent before it) -> where it starts; each is scored from score_from s after that
    late_examples: dict[str, float] = field(default_factory=dict)
    # every pair asked for by a clip of its true stem -> the clip's start and end, in seconds
    examples: dict[str, tuple[float, float]] = field(default_factory=dict)
    workers: int = 0  # worker processes started (0: the pairs, if any, were separated here)
    threads: int = 1  # torch threads of each separation


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
    the stems: :func:`evaluate_pairs` of the pairs ``pairs.plan_pairs`` makes of them.

    Estimates already in ``est_dir`` are kept when they were made with the same settings (an
    interrupted run resumes), and made again otherwise; each new one is written atomically.
    Each source uses those of ``config.taggers`` that have a tag for it, else the first of
    ``plan.fallback`` that has; a source none of them has, like one whose true stem yields no
    example clip (``pairs.plan_pairs``), is reported in ``unsupported`` and scored as missing.
    """
    plan = plan or EvaluationPlan()
    planned = plan_pairs(set_dir, est_dir, config, store, plan)
    return evaluate_pairs(planned, set_dir, est_dir, store, plan, progress, jobs, job_threads)


def evaluate_pairs(
    planned: list[Pair],
    set_dir: Path,
    est_dir: Path,
    store: ModelStore,
    plan: EvaluationPlan,
    progress: Progress | None = None,
    jobs: int = 1,
    job_threads: int | None = None,
) -> EvaluationRun:
    """Separate the pairs ``planned`` (``pairs.plan_pairs`` of ``set_dir``, ``est_dir``,
    ``store`` and ``plan``: a caller that looks at them first, e.g. to count what is left to
    separate, need not plan them twice), then score the stems.

    A pair that is done is kept, one that is not supported is reported in ``unsupported``
    and scored as missing, and the others are separated (one kept with other settings is
    reported in ``remade``).
    A song's stems are written once all its sources are separated, when one of its estimates
    is new, a stem is missing, or the sharing changed (``plan.shared``, ``plan.refined``,
    ``plan.alone``: :class:`EvaluationPlan`).
    With ``jobs`` > 1, worker processes separate pairs at once, as many as there are pairs left
    to separate up to ``jobs`` (none when every pair is kept), each with ``job_threads`` torch
    threads (default: this process's threads divided among the workers); the estimates are the
    same as with one job.
    ``progress(key, step)`` is called after every step and once per pair with ``None``.
    The scores cover each song from ``plan.score_from`` seconds on (so an example clip taken
    from the start of a true stem can be left out of what is scored), and a pair asked for by
    a clip taken further on, where its source starts to play, from ``plan.score_from`` seconds
    after the clip starts (``Pair.scored_from``; listed in ``late_examples``); the separations
    always cover the whole song.
    """
    if jobs < 1:
        raise ConfigError("jobs must be at least 1")
    run = EvaluationRun([], {}, [], [], {})
    cache = ModelCache()  # the separator of the second look, loaded once
    by_song: dict[str, list[Pair]] = {}
    for pair in planned:
        by_song.setdefault(pair.song, []).append(pair)
    mixes = _Mixes(set_dir)
    todo = [
        pair for pairs in by_song.values() for pair in pairs if _to_separate(pair, run, progress)
    ]
    left = {song: sum(pair.song == song for pair in todo) for song in by_song}
    made: set[str] = set()

    def render_if_complete(song: str) -> None:
        pairs = by_song[song]
        stale = song in made or needs_render(est_dir / song, pairs, plan.shared, plan.refined)
        if left[song] == 0:
            if stale:
                render_song(mixes(song), pairs, plan.shared, plan.refined, cache)
            mixes.drop(song)  # done with: only the songs under way stay decoded

    for song in by_song:
        render_if_complete(song)
    run.workers = min(jobs, len(todo)) if jobs > 1 else 0
    if run.workers:
        run.threads = threads_per_job(run.workers, job_threads)
        separations = separate_in_workers(todo, set_dir, store, progress, run.workers,
                                          run.threads)  # fmt: skip
    else:
        run.threads = threads_per_job(1)  # this process's
        separations = separate_here(todo, mixes, store, progress)
    with contextlib.closing(separations):  # leaving early stops the workers at once
        for pair, timing in separations:
            run.timings[pair.key] = timing
            if progress:
                progress(pair.key, None)
            made.add(pair.song)
            left[pair.song] -= 1
            render_if_complete(pair.song)
    run.scores = [_score(set_dir, est_dir, pair, plan.score_from, run)
                  for pairs in by_song.values() for pair in pairs]  # fmt: skip
    return run


def _score(set_dir: Path, est_dir: Path, pair: Pair, score_from: float,
           run: EvaluationRun) -> PairScore:  # fmt: skip
    """The score of one pair from where its scores start (``Pair.scored_from``), missing when
    it could not be asked for; an example clip is recorded in ``run`` and noted in the score,
    with whether it is part of what is scored."""
    start = pair.scored_from(score_from)
    score = score_source(set_dir, est_dir, pair.song, pair.source, start)
    if pair.key in run.unsupported:
        if score.status == "ok":  # a stem an earlier run left: not this run's estimate
            score = PairScore(pair.song, pair.source, "missing")
        score.notes.append(f"not separated: {run.unsupported[pair.key]}")
    elif (clip := pair.config.example) is not None:
        clip_start, clip_end = pair.example_start, float(clip.end or 0.0)
        run.examples[pair.key] = (clip_start, clip_end)
        where = ", where it starts to play" if clip_start else ""
        if clip_start:
            run.late_examples[pair.key] = clip_start
        scored = "; the clip is part of what is scored" if start < clip_end else ""
        score.notes.append(f"asked for by {clip_start:.2f}-{clip_end:.2f} s of its true stem"
                           f"{where}: scored from {start:.2f} s{scored}")  # fmt: skip
    return score


class _Mixes:
    """The songs' mixes, each decoded when first needed (to separate a pair here, or to render
    the stems) and kept only until its song is done with, not to the end of the run."""

    def __init__(self, set_dir: Path) -> None:
        self.set_dir = set_dir
        self.decoded: dict[str, Song] = {}

    def __call__(self, song: str) -> Song:
        if song not in self.decoded:
            self.decoded[song] = load_song(self.set_dir / song / "mix.flac")
        return self.decoded[song]

    def drop(self, song: str) -> None:
        self.decoded.pop(song, None)


def _to_separate(pair: Pair, run: EvaluationRun, progress: Progress | None) -> bool:
    """Whether ``pair`` must be separated; one that is done or unsupported is recorded in
    ``run`` (and reported to ``progress``), and one kept with other settings as made again
    (it stays until its new estimate replaces it: ``pairs.separate_source``)."""
    if not pair.supported:
        run.unsupported[pair.key] = pair.why_not
    elif pair.done:
        run.resumed.append(pair.key)
        if (timing := read_timing(pair.timing)) is not None:
            run.timings[pair.key] = timing
    else:
        if pair.kept:  # made otherwise
            run.remade.append(pair.key)
        return True
    if progress:
        progress(pair.key, None)
    return False
