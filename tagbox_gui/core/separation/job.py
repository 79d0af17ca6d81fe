"""Several instruments of one song in one job: one engine run each, then stems that share.

A musician asks for "drums, bass and piano, and the rest". A job is a list of
:class:`JobPart` (a stem's name and the run configuration that makes it). ``run_job`` checks
every part before anything runs, then drives one engine run per part in turn, as a generator
with the engine's protocol: it yields a :class:`JobEvent` when a part begins, after each of its
steps, and when it ends (``None`` while paused, and between the segments of a pass of the
separator), takes the same :class:`Command` values between them (one sent as a part begins or
ends is the job's: a PAUSE holds it there, and the next run starts fresh; a learning rate set
during the job holds for the parts after it too), and returns a :class:`JobResult`. When
every part has run and the learned separator made two stems or more, it looks at each stem a
second time without the others (``core.separation.refine``), with an event per stem
(``refining``), unless the job is run with ``second_look=False``; a job of one instrument is
looked at again beside the helpers (:func:`helpers_for`), as a single run is.
STOP ends the job: the parts that finished are kept, and so is the one that was running if it
made a step (its best step so far, as a single run stopped keeps it; a part stopped before its
first step, or during its one pass, has no estimate and is dropped), and a second look under
way is left (the stems keep the first).
:attr:`JobResult.estimates` are the kept parts' estimates sharing the mixture
(``core.audio.estimates.share``), so that with the rest they add up to the song. Nothing here
touches Qt.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tagbox_gui.core.audio.estimates import share, stem_levels
from tagbox_gui.core.separation.job_checks import check_parts
from tagbox_gui.core.separation.segments import PassStopped
from tagbox_gui.core.types import (
    Command,
    CommandKind,
    Estimate,
    JobPart,
    LookingAgain,
    Mode,
    RunConfig,
    RunResult,
    StepResult,
    hold_while_paused,
    is_stop,
)

if TYPE_CHECKING:  # the engine loads torch: imported when a job runs, not with this module
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.engine import RunGenerator
    from tagbox_gui.core.store.models import ModelStore


@dataclass(frozen=True)
class JobEvent:
    """Progress of a job: part ``index`` began (no step, no result), made a step, or ended;
    or the second look at stem ``index`` began (``refining``), in the song without ``beside``:
    once every part has run, without the other stems; in a job of one, without the helpers.

    ``units_done`` of ``units_total`` counts steps over the whole job (:func:`job_units`): a
    one-pass part counts as one, and so does the second look at a stem of a job of several; a
    part that ended carries its ``result``.
    """

    index: int
    name: str
    units_done: int
    units_total: int
    step: StepResult | None = None
    result: RunResult | None = None
    refining: bool = False
    beside: tuple[str, ...] = ()

    @property
    def began(self) -> bool:
        return self.step is None and self.result is None and not self.refining


@dataclass(frozen=True)
class JobResult:
    """The kept parts' results by stem name, in the job's order (without the estimates and
    separated signals of their own runs): those that finished and, after a STOP, the one
    stopped between its steps (its ``RunResult.stopped`` says so); whether it stopped, the
    kept stems' estimates sharing the mixture (none claims a bin twice), whether they
    had the second look (``core.separation.refine``) or why it failed, and each stem's level
    against the song in dB (``core.audio.estimates.stem_levels``)."""

    results: dict[str, RunResult]
    stopped: bool
    estimates: dict[str, Estimate] = field(default_factory=dict)
    refined: bool = False
    levels: dict[str, float] = field(default_factory=dict)
    second_look_failed: str = ""  # why the second look failed; the stems keep their first

    def second_look_notes(self) -> dict[str, str]:
        """What each stem's metadata says of its second look (none without one)."""
        if not self.refined:
            return {}
        return {name: second_look_beside(self.looked_beside(name)) for name in self.results}

    def looked_beside(self, name: str) -> tuple[str, ...]:
        """What stem ``name`` was looked at again without: the other stems in a job of several
        (:attr:`refined`), the helpers in a job of one (``RunResult.helpers``); none without a
        second look."""
        if self.refined:
            return tuple(other for other in self.results if other != name)
        return self.results[name].helpers


def can_look_again(backend: str, mode: Mode) -> bool:
    """Whether stems made by ``backend`` in ``mode`` can have a second look
    (``core.separation.refine``): only masks of the learned separator can."""
    return backend == "learned" and mode is Mode.MASK


def refines(parts: Sequence[JobPart], second_look: bool = True) -> bool:
    """Whether a job of ``parts`` ends with a second look at its stems
    (``core.separation.refine``): asked for (``second_look``), and two parts or more, every one
    of which :func:`can_look_again`."""
    return (
        second_look
        and len(parts) >= 2
        and all(can_look_again(p.config.backend, p.config.mode) for p in parts)
    )


def job_units(parts: Sequence[JobPart], second_look: bool = True) -> int:
    """The units of a job's progress: each part's, then one per stem for the second look."""
    return sum(part.units for part in parts) + (len(parts) if refines(parts, second_look) else 0)


JobGenerator = Generator[JobEvent | None, Command | None, JobResult]
Runner = Callable[[RunConfig, "Song", "ModelStore", "ModelCache"], "RunGenerator"]
"""Starts one part's run; ``engine.run`` by default (a test may give a fake engine)."""


def run_job(
    parts: Sequence[JobPart],
    song: Song,
    store: ModelStore,
    cache: ModelCache | None = None,
    runner: Runner | None = None,
    *,
    checked: bool = False,
    second_look: bool = True,
) -> JobGenerator:
    """Separate every part of ``song`` in turn; see the module docstring for the protocol.

    Every part is checked first (:func:`check_parts`), so bad input fails here, in the calling
    thread, before the generator is returned and before any part runs. ``runner`` starts each
    part's engine run (e.g. ``engine.run`` with ``measure_residual=False`` for a driver that
    shows no meters). ``checked=True`` skips the checks for a caller that made them already;
    ``second_look=False`` leaves out the second look at the stems (faster; the stems only share).
    A job of one instrument has no other stems to take away: its run is looked at again beside
    the helpers instead (:func:`helpers_for`), as a single run is.
    """
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.cache import ModelCache

    cache = cache or ModelCache()
    if not checked:
        check_parts(parts, song, store, cache)
    runner = runner or engine.run
    if second_look and len(parts) == 1:
        runner = looking_again(runner)
    return _with_levels(_drive(list(parts), song, store, cache, runner, second_look), song)


def looking_again(runner: Runner) -> Runner:
    """``runner``, each run it starts looked at again beside its helpers (:func:`helpers_for`)
    once it ends: how a single run gets its second look, in a job of one, the CLI and the
    window alike."""
    from tagbox_gui.core.separation.refine import looked_again

    def run(config: RunConfig, song: Song, store: ModelStore, cache: ModelCache) -> RunGenerator:
        steps = runner(config, song, store, cache)
        return looked_again(steps, song, helpers_for(config, cache), cache)

    return run


def _with_levels(job: JobGenerator, song: Song) -> JobGenerator:
    """``job``, its result with the levels of its stems."""
    from tagbox_gui.core.audio.song import analysis_signal

    result = yield from job
    if not result.estimates:
        return result
    with _stage(MEASURING):
        levels = stem_levels(analysis_signal(song), result.estimates)
    return replace(result, levels=levels)


SHARING = "sharing the stems"
MEASURING = "measuring the stems' levels"
"""What a job does once its parts' runs have ended (:func:`failed_while`)."""


@contextmanager
def _stage(stage: str) -> Iterator[None]:
    """An error in the block carries ``stage`` as a note (its kind unchanged)."""
    try:
        yield
    except Exception as exc:
        exc.add_note(stage)
        raise


def failed_while(error: BaseException) -> str:
    """What the job was doing when ``error`` ended it once its parts' runs had ended:
    :data:`SHARING` the song among their stems or :data:`MEASURING` their levels; '' for an
    error of a part's run."""
    return next((n for n in getattr(error, "__notes__", ()) if n in (SHARING, MEASURING)), "")


def _drive(parts: list[JobPart], song: Song, store: ModelStore, cache: ModelCache,
           runner: Runner, second_look: bool) -> JobGenerator:  # fmt: skip
    total = job_units(parts, second_look)
    done = 0
    results: dict[str, RunResult] = {}
    lr: float | None = None  # set during the job (SET_LR): the parts after it start with it
    for index, part in enumerate(parts):
        command, lr = yield from _held((yield JobEvent(index, part.name, done, total)), lr)
        if is_stop(command):
            return first_looks(results, stopped=True)
        config = part.config if lr is None else replace(part.config, lr=lr)
        steps = runner(config, song, store, cache)
        result, command = None, None  # a fresh engine run takes None first
        try:
            while True:
                step = steps.send(command)
                if step is None:  # paused, or a segment of a pass done: pass it on
                    command = yield None
                elif isinstance(step, LookingAgain):  # a job of one, beside the helpers
                    command = yield JobEvent(index, part.name, done, total, refining=True,
                                             beside=step.helpers)  # fmt: skip
                else:
                    done = min(done + 1, total)
                    command = yield JobEvent(index, part.name, done, total, step=step)
                lr = _lr_set(command, lr)
        except StopIteration as end:
            result = end.value
        finally:
            steps.close()
        if result is None or result.estimate is None:
            return first_looks(results, stopped=True)  # stopped before its first estimate
        results[part.name] = result
        if result.stopped:  # between its steps: its best step so far is kept, as a run's is
            return first_looks(results, stopped=True)
        done = sum(p.units for p in parts[: index + 1])
        command, lr = yield from _held(
            (yield JobEvent(index, part.name, done, total, result=result)), lr
        )
        if is_stop(command):
            return first_looks(results, stopped=index + 1 < len(parts))
    if not refines(parts, second_look):
        return first_looks(results, stopped=False)
    return (yield from _refine(results, song, cache, done, total))


def _held(command: Command | None, lr: float | None) -> Generator[None, Command | None, tuple]:
    """After a PAUSE between parts, None until RESUME or STOP comes, as the engine holds between
    steps; the command to act on, and the learning rate set (SET_LR) until then."""
    heard = [command]
    command = yield from hold_while_paused(command, heard.append)
    for each in heard:
        lr = _lr_set(each, lr)
    return command, lr


def _lr_set(command: Command | None, lr: float | None) -> float | None:
    """The learning rate ``command`` sets, or ``lr`` when it sets none."""
    if command is None or command.kind is not CommandKind.SET_LR or command.value is None:
        return lr
    return float(command.value)


def _firsts(results: dict[str, RunResult]) -> dict[str, Estimate]:
    return {name: r.estimate for name, r in results.items() if r.estimate}


def first_looks(results: dict[str, RunResult], stopped: bool) -> JobResult:
    """The job's result, of the kept parts' ``results``, with its stems as they were first
    separated, sharing the mixture."""
    with _stage(SHARING):
        estimates = share(_firsts(results))
    return JobResult(_lean(results), stopped, estimates=estimates)


def _lean(results: dict[str, RunResult]) -> dict[str, RunResult]:
    """``results`` without their estimates and separated signals: once the job's stems are
    made, what each run made on its own is no longer needed (a long song's masks are large)."""
    return {name: replace(r, estimate=None, separated=None) for name, r in results.items()}


def _refine(results: dict[str, RunResult], song: Song, cache: ModelCache, done: int,
            total: int) -> JobGenerator:  # fmt: skip
    """The finished job, its stems sharing the mixture after a second look at each when it
    applies (``core.separation.refine``); a STOP before or during a stem's look keeps the
    first looks, and so does a second look that fails (out of memory, say: the stems made are
    not lost)."""
    from tagbox_gui.core.separation.refine import Refinement, can_refine, why_failed

    firsts = _firsts(results)
    if not can_refine(firsts):
        return first_looks(results, stopped=False)
    second = {}
    try:
        refinement = Refinement(song, firsts, cache)
        for index, name in enumerate(refinement.firsts):
            others = tuple(other for other in refinement.firsts if other != name)
            command = yield JobEvent(index, name, done + index, total, refining=True,
                                     beside=others)  # fmt: skip
            command = yield from hold_while_paused(command)
            if is_stop(command):
                return first_looks(results, stopped=False)
            second[name] = yield from refinement.stem(name)
        shared = refinement.shared(second)
    except PassStopped:  # after a segment of a stem's look
        return first_looks(results, stopped=False)
    except Exception as exc:
        del second  # the second looks made so far: their memory first
        return replace(first_looks(results, stopped=False), second_look_failed=why_failed(exc))
    return JobResult(_lean(results), stopped=False, estimates=shared, refined=True)


def second_look_beside(others: Sequence[str]) -> str:
    """What a stem's metadata says of a second look in the song without ``others``."""
    return "asked again in the song without " + ", ".join(others)


HELPERS = ("bass", "drums")
"""What a single stem is looked at again beside (``core.separation.refine.looked_again``): the
instruments the separator separates best, and the ones that most often hide the others from it
(docs/separator.md, "A second look for a single instrument")."""


def helpers_for(config: RunConfig, cache: ModelCache) -> tuple[str, ...]:
    """The helpers a single run of ``config`` may be looked at again beside: for a one-pass run
    (0 steps) of the learned separator in mask mode, each of :data:`HELPERS` that no
    instrument it asks for is (a bass, or a contrabass, is not taken away from itself). A run
    asked for by an example gets both here; once its query is known, the look leaves out the
    one the example sounds like (``core.separation.refine.LookBeside.unlike``)."""
    if not (config.steps == 0 and can_look_again(config.backend, config.mode)):
        return ()
    if config.example is not None:
        return HELPERS
    from tagbox_gui.core.separation.backends.learned import load_shipped, prototype_key

    prototypes = load_shipped(cache)[1]
    asked = [prototype_key(word, prototypes) or word.lower() for word in config.tags]
    return tuple(helper for helper in HELPERS if not any(helper in key for key in asked))
