"""The pairs of an evaluate run: each source of each song, the run that separates it, and
the estimate and cost kept of it.

A pair's estimate is kept as ``EST/<song>/<source>.estimate.npz`` with its cost beside it
(``<source>.timing.json``), which records the settings and the audio that made it (its
``recipes.recipe``): a pair is done when its estimate was made with its own settings from the
song's audio as it is now.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tagbox_gui.core.audio.atomic import write_atomically
from tagbox_gui.core.audio.estimates import save_estimate
from tagbox_gui.core.audio.song import EXAMPLE_FLOOR_DB, MIN_EXAMPLE_SECONDS, Song
from tagbox_gui.core.errors import AudioError, ConfigError, UserError
from tagbox_gui.core.evaluation.recipes import (
    Timing,
    recipe,
    recorded_recipe,
    taggers_in_use,
    timing_path,
)
from tagbox_gui.core.evaluation.sets import heard_from, list_set, sound_span, stem_path
from tagbox_gui.core.separation.backends.learned import has_prototype
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.loading import asks_by_example, taggers_for
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import Example, RunConfig, StepResult, TaggerSpec


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
    try:
        result = engine.run_to_end(runner(config, song, store, cache), on_step)
    except UserError as exc:  # "the song is silent": say which song of the set, and which pair
        raise UserError(f"cannot separate {pair.source} of '{song.path}': {exc}") from exc
    if result.estimate is None:
        raise ConfigError(f"the run on {song.path} made no estimate; use at least one step")
    if result.cut_short_at:  # fewer steps than asked for would be scored as all of them
        raise UserError(f"step {result.cut_short_at} of {pair.source} of {song.path} "
                        f"{result.cut_short_by}; nothing of it was kept")  # fmt: skip
    if result.second_look_failed:  # its first look would be scored as a second: not kept
        raise UserError(f"the second look at {pair.source} of {song.path} failed "
                        f"({result.second_look_failed}); nothing of it was kept")  # fmt: skip
    timing = Timing(time.process_time() - began_cpu, time.perf_counter() - began_wall,
                    result.steps_done, taggers_in_use(config), began,
                    time.time(), os.getpid())  # fmt: skip
    # The timing goes first: the estimate's presence is what marks the pair as done. An
    # estimate kept with other settings stays until this one is made (a run that fails or is
    # stopped leaves it, done for its own settings), then goes first: never beside this recipe.
    pair.saved.unlink(missing_ok=True)
    pair.timing.parent.mkdir(parents=True, exist_ok=True)
    record = {**asdict(timing), "recipe": recipe(config, store, pair.looks_again, mix=pair.mix)}
    write_atomically(pair.timing, json.dumps(record))
    save_estimate(pair.saved, result.estimate)
    return timing


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
    left out of the scores, counted from where a pair's example clip starts
    (:meth:`Pair.scored_from`).
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
        if not 0.0 <= self.score_from < math.inf:
            raise ConfigError("score_from must be a number of seconds, 0 or more")
        seconds = self.example_seconds
        if seconds is not None and not MIN_EXAMPLE_SECONDS <= seconds < math.inf:
            raise ConfigError(f"example_seconds must be a number of seconds, at least "
                              f"{MIN_EXAMPLE_SECONDS:g} (the shortest example clip)")  # fmt: skip

    @property
    def looks_again(self) -> bool:
        """Whether each source's single run is looked at again beside its helpers."""
        return self.alone and self.refined


@dataclass(frozen=True)
class Pair:
    """One source of one song to evaluate, and what to do about it."""

    song: str
    source: str
    estimate: Path  # EST/<song>/<source>.wav, the stem that is scored
    mix: Path  # SET/<song>/mix.flac, the song it is separated from
    config: RunConfig  # the run that separates it
    store: ModelStore  # where the run's model files are (``--model-dir``)
    looks_again: bool = False  # its single run is looked at again beside its helpers, as alone
    why_not: str = ""  # why nothing can ask for this source (no tag, no prototype, no clip)

    @property
    def supported(self) -> bool:
        """Whether anything can ask for this source (``why_not`` is empty)."""
        return not self.why_not

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
    def example_start(self) -> float:
        """Where its example clip starts in its true stem, in seconds: 0 for a pair asked for
        by name, and for one whose stem plays in its first seconds (:func:`plan_pairs`)."""
        example = self.config.example
        return (example.start or 0.0) if example is not None else 0.0

    def scored_from(self, score_from: float) -> float:
        """Where its scores start: ``score_from`` seconds after its example clip does, so that
        the clip is left out of what is scored wherever it was taken, as one at the start is
        by a ``score_from`` of its length (a clip taken later starts where the stem starts to
        play: it is digital silence before, and a window of silent reference is not scored,
        so nothing else is left out)."""
        return self.example_start + score_from

    @property
    def kept(self) -> bool:
        """Whether an estimate of this pair is on disk, made with whatever settings."""
        return self.saved.is_file()

    @property
    def done(self) -> bool:
        """Whether its kept estimate was made with this pair's settings, for a pair that can be
        asked for: an estimate of one that cannot (one an earlier run made, e.g. by a prototype
        since taken away) is no part of this run, not even beside the recipe it records."""
        if not self.supported or not self.kept:
            return False
        made = recorded_recipe(self.timing)
        return made == recipe(self.config, self.store, self.looks_again, mix=self.mix)


def plan_pairs(
    set_dir: Path,
    est_dir: Path,
    config: RunConfig,
    store: ModelStore,
    plan: EvaluationPlan | None = None,
) -> list[Pair]:
    """Every source of every song (those of ``plan.sources``), with the run (tag and taggers)
    that separates it, its model files taken from ``store``.

    A one-pass run of the learned backend needs no tagger: a source is asked for by its
    prototype; when it has none, or is named in ``plan.by_example``, and
    ``plan.example_seconds`` is given, by the first ``plan.example_seconds`` of its true stem
    (``<song>/stems/<source>.flac`` or ``.wav``) as the example clip. Where the stem is
    silent throughout those seconds (its instrument enters later), the clip is the
    ``plan.example_seconds`` from where it starts to play (its first sample other than zero),
    and the pair is scored from ``plan.score_from`` seconds after the clip starts
    (:meth:`Pair.scored_from`): a ``score_from`` that leaves a clip at the start out of the
    scores leaves this one out too. A clip at the start that holds any sound stays there, so
    the runs and scores of a source that plays from the start are those of the plain rule.
    A pair whose true stem is silent throughout, or has no such clip before its end, is not
    supported (:attr:`Pair.why_not`), and the other pairs go on. Each run is looked at
    again beside its helpers where the plan says so (:attr:`EvaluationPlan.looks_again`,
    :attr:`Pair.looks_again`). A plan that asks by example with a backend that cannot be
    asked so is refused (:func:`check_asking`).
    """
    plan = plan or EvaluationPlan()
    check_asking(config.backend, plan)
    pairs = []
    for song, song_sources in list_set(set_dir):
        for source in song_sources:
            if plan.sources is None or source in plan.sources:
                stem = _true_stem(set_dir, song, source)
                asked = plan.example_seconds, source in plan.by_example
                pair_config, supported = _pair_config(config, source, plan.fallback, stem, asked)
                why_not = "" if supported else unsupported_reason(config)
                if supported and pair_config.example is not None:
                    pair_config, why_not = _where_it_plays(pair_config, stem, asked[0])
                estimate = est_dir / song / f"{source}.wav"
                mix = set_dir / song / "mix.flac"
                pairs.append(Pair(song, source, estimate, mix, pair_config, store,
                                  plan.looks_again, why_not))  # fmt: skip
    return pairs


def check_asking(backend: str, plan: EvaluationPlan) -> None:
    """ConfigError for a plan that asks for sources by their true stems (``example_seconds``,
    ``by_example``) with a backend that cannot be asked by example: its runs would ask by name
    as if the plan did not say so."""
    if (plan.example_seconds is not None or plan.by_example) and not asks_by_example(backend):
        raise ConfigError(f"the {backend} backend cannot be asked by example, so no source can "
                          "be asked for by its true stem (--example-seconds, --by-example); use "
                          "the learned backend (--backend learned)")  # fmt: skip


def _where_it_plays(config: RunConfig, stem: Path, seconds: float) -> tuple[RunConfig, str]:
    """The run asked for by the first ``seconds`` of ``stem`` (``config.example``), or by the
    ``seconds`` from where it starts to play where it is silent throughout those, or from its
    first second heard above an example's floor where it is only a noise floor until then
    (:func:`~tagbox_gui.core.evaluation.sets.heard_from`: a clip under it is refused); or why
    no such clip can be taken from it."""
    plays, length = sound_span(stem)
    if plays is None:
        return config, "its true stem is silent, so no example clip can be taken from it"
    start = 0.0 if plays < seconds else plays
    if (heard := heard_from(stem, start)) is None:
        return config, (f"its true stem is nearly silent (under {EXAMPLE_FLOOR_DB:g} dBFS) "
                        "throughout, so no example clip can be taken from it")  # fmt: skip
    if heard >= start + seconds:  # a clip from start would be refused as nearly silent
        start = heard
    if start + seconds > length + 1e-6:
        return config, (f"its true stem has no {seconds:g} s example clip from where it starts "
                        "to play to its end")  # fmt: skip
    if start:
        config = replace(config, example=Example(str(stem), start, start + seconds))
    return config, ""


def _true_stem(set_dir: Path, song: str, source: str) -> Path:
    """The true stem of a source (``.flac`` or ``.wav``, as the scores read it; the ``.flac``
    path when there is neither) by its full path: the recipe of an estimate asked for by it
    must not change with how the set is named (relative, from another folder)."""
    try:
        return stem_path(set_dir, song, source).resolve()
    except AudioError:
        return (set_dir / song / "stems" / f"{source}.flac").resolve()


def asks_by_prototype(config: RunConfig) -> bool:
    """Whether ``config``'s runs ask for a source by its prototype (one pass of the learned
    separator) rather than by the taggers' tags."""
    return config.backend == "learned" and config.steps == 0


def unsupported_reason(config: RunConfig) -> str:
    """Why a source of a run with ``config`` could not be asked for (:attr:`Pair.supported`)."""
    if asks_by_prototype(config):
        return "the learned separator has no prototype for it, and no example was given"
    return "no chosen tagger has a tag for it"


def _pair_config(config: RunConfig, source: str, fallback: tuple[TaggerSpec, ...], stem: Path,
                 asked: tuple[float | None, bool]) -> tuple[RunConfig, bool]:  # fmt: skip
    """The run of one source, and whether anything can ask for it.

    ``asked``: the seconds of the true stem to take as the example (None: no examples), and
    whether this source is to be asked for by example even if it can be asked for by name.
    The learned separator is asked by example for such a source, or for one it cannot be
    asked for by name (no prototype in one pass; no tag of the taggers with steps, which
    then steer towards what the taggers hear in the example); no other backend is given
    examples to take (:func:`check_asking`).
    """
    config = replace(config, tags=(source,))
    example_seconds, by_example = asked
    if asks_by_prototype(config):
        named, supported = config, has_prototype(source)
    else:
        taggers = taggers_for((source,), config.taggers, fallback)
        named, supported = replace(config, taggers=taggers), bool(taggers)
    if example_seconds is None or (supported and not by_example):
        return named, supported
    return replace(config, tags=(), example=Example(str(stem), 0.0, example_seconds)), True
