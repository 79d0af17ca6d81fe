"""A job of several instruments as the window drives and shows it.

``run_job`` (``core.separation.job``) runs in the controller's worker thread; the stems share
the mixture there too (after the learned separator's second look at each), so the window only
receives finished estimates. The run panel shows
each instrument and the job's ETA, the stem list every stem and the rest, and the transport
plays the stem selected in that list ("Separated") against the song without it ("Residual"),
read back from the very files a drag would carry. Stop keeps the instruments that finished,
and the one under way at its best step so far once it made a step; a part that fails
(:class:`PartFailed`) keeps those that finished: its error is shown beside their stems.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from weakref import WeakMethod

import numpy as np
import soundfile as sf
from PySide6.QtCore import QObject, Signal, Slot

from tagbox_gui.core.audio.estimates import judges_quiet
from tagbox_gui.core.audio.output import speaker_layout
from tagbox_gui.core.dsp.display import mask_image
from tagbox_gui.core.errors import UserError, listed, reason_in_brief
from tagbox_gui.core.separation.job import (
    JobEvent,
    JobGenerator,
    JobPart,
    JobResult,
    failed_while,
    first_looks,
    job_units,
    refines,
    run_job,
)
from tagbox_gui.core.separation.provenance import job_provenance
from tagbox_gui.core.separation.threads import AUTOMATIC, use_threads
from tagbox_gui.core.types import Estimate, RunResult, StepResult
from tagbox_gui.gui.background import hand_back, receiver
from tagbox_gui.gui.errors import Doing, show_error
from tagbox_gui.gui.session import estimate_region, quiet_sentence, whose_example
from tagbox_gui.gui.widgets.loss_plot import EMPTY_TEXTS, ONE_PASS_TEXTS, REST_TEXTS

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.gui.run_window import RunWindow

log = logging.getLogger(__name__)
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stem-audition")


@dataclass(frozen=True)
class JobUpdate:
    """A job's event as the window receives it, with the mask image of a part that ended."""

    event: JobEvent
    mask_image: np.ndarray | None = None


@dataclass
class PartTrace:
    """What the live views showed of a steered part: its loss keys, its wanted tags and its
    steps (without their previews), to be shown again when its stem is selected."""

    keys: list[str]
    tags: list[str]
    steps: list[StepResult] = field(default_factory=list)


class PartFailed(Exception):
    """A job failed once a part had begun: ``doing`` is what failed ("separating piano", or
    once the parts' runs had ended ``core.separation.job.failed_while``'s "sharing the
    stems"), ``kept`` the parts that had finished, their stems sharing the mixture as a stopped
    job's do, or None where sharing them failed too: ``unkept`` says why, in brief. The error
    is the ``__cause__``. (A second look that fails ends the job with the first looks instead:
    ``JobResult.second_look_failed``.)"""

    def __init__(self, doing: str, kept: JobResult | None, unkept: str = "") -> None:
        super().__init__(f"{doing} failed")
        self.doing, self.kept, self.unkept = doing, kept, unkept


def with_mask_images(job: JobGenerator) -> Generator[JobUpdate | None, object, JobResult]:
    """Drive ``job``, passing commands on, in the worker thread, not the GUI's.

    Each event comes with the display image of a finished part's mask (for a long song the
    masks are large); the job's result is returned as it is. An error once a part has begun
    is raised as :class:`PartFailed`, with the parts that finished (or why they could not be
    kept: their error is logged).
    """
    results: dict[str, RunResult] = {}
    last: JobEvent | None = None
    try:
        command = None
        while True:
            try:
                event = job.send(command)  # type: ignore[arg-type]
            except StopIteration as stop:
                result: JobResult = stop.value
                break
            except Exception as exc:
                if last is None:
                    raise
                doing = failed_while(exc) or f"separating {last.name}"
                try:
                    kept, unkept = first_looks(results, stopped=True), ""
                except Exception as again:  # e.g. out of memory again: no stem is kept
                    log.error("keeping the parts that finished failed too", exc_info=again)
                    kept, unkept = None, reason_in_brief(again)
                raise PartFailed(doing, kept, unkept) from exc
            if event is not None:
                last = event
                if event.result is not None:
                    results[event.name] = event.result
            command = yield None if event is None else _update(event)
    finally:
        job.close()
    return result


def _update(event: JobEvent) -> JobUpdate:
    estimate = event.result.estimate if event.result is not None else None
    return JobUpdate(event, mask_image(estimate) if estimate is not None else None)


def _stem_shown(names: list[str], row: int) -> str:
    """What the stem in ``row`` of a job's stems is called in the live views' titles: an
    instrument's name, or after them ``the rest``."""
    return names[row] if row < len(names) else "the rest"


def job_quit_text(count: int, done: Sequence[str]) -> str:
    """What closing the window asks while a job of ``count`` instruments runs, ``done`` those
    separated so far (their stems go with it unless exported or dragged out first)."""
    going = f"A job of {count} instruments is going on"
    if not done:
        return f"{going}; none is separated yet. Stop it and quit?"
    if len(done) == 1:
        what, lost, it = f"{done[0]} is", "Its stem is", "it"
    else:
        what, lost, it = f"{', '.join(done[:-1])} and {done[-1]} are", "Their stems are", "them"
    return (f"{going}; {what} separated. {lost} lost on quitting: to keep {it}, stop the job "
            f"and export {it} or drag {it} out first.\n\nStop it and quit?")  # fmt: skip


def stem_mask_image(estimates: dict[str, Estimate], row: int,
                    drawn: dict[str, np.ndarray]) -> np.ndarray:  # fmt: skip
    """The mask image of the stem in ``row`` of a job's stems: an instrument's, or after them
    the rest's (what none of their shared masks took). Images are kept in ``drawn``."""
    names = list(estimates)
    for name in names if row >= len(names) else names[row : row + 1]:
        if name not in drawn:
            drawn[name] = mask_image(estimates[name])
    if row < len(names):
        return drawn[names[row]]
    taken = sum(drawn[name] for name in names)  # the bands average bins: a sum of images
    return np.clip(1.0 - taken, 0.0, 1.0).astype(np.float32)


class JobView(QObject):
    """Starts jobs and routes their progress and results to the window's views.

    ``stem_loaded(str)`` fires when the stem of that name is playing in the transport
    (against the whole song, whose material starts at 0 s of the song).
    """

    stem_loaded = Signal(str)

    def __init__(self, window: RunWindow, cache: ModelCache) -> None:
        super().__init__(window)  # type: ignore[arg-type]
        self.w = window
        self.cache = cache
        self.parts: list[JobPart] = []
        self.song: Song | None = None
        self.outcome: JobResult | None = None
        self.second_look = True  # whether the shown job looks at its stems a second time
        self.done: list[str] = []  # the parts of the job that finished, so far
        self._serial = 0  # of the shown outcome: stems read for an older one are dropped
        self._lrs: dict[str, dict[int, float]] = {}  # each part's learning rate by step
        self._traces: dict[str, PartTrace] = {}  # each steered part's steps, for the live views
        self._audition_loaded = False
        self._images: dict[str, np.ndarray] = {}  # the shown stems' mask images, as drawn
        window.stems.currentRowChanged.connect(self._on_stem_row_changed)

    @property
    def names(self) -> list[str]:
        return [part.name for part in self.parts]

    # ----- running ---------------------------------------------------------------------
    def start(self, parts: Sequence[JobPart], runner: Callable, threads: int = AUTOMATIC,
              second_look: bool = True) -> int:  # fmt: skip
        """Start a job of ``parts`` on the window's song, on ``threads`` CPU threads, with or
        without the second look at its stems (``core.separation.refine``); its run id."""
        w = self.w
        song, store, cache = w.song, w.store, self.cache
        assert song is not None
        self.discard()
        self.parts, self.song, self.second_look = list(parts), song, second_look
        one_pass = all(part.config.steps == 0 for part in self.parts)
        w.live.clear()  # the last result's mask too: the box waits for the first part's
        first = self.parts[0].name
        w.live.reset([], [], ONE_PASS_TEXTS if one_pass else EMPTY_TEXTS, stem=first)
        w.live.name_mask(first)
        w.audition.show_job(len(self.parts))
        units, looks = job_units(self.parts, second_look), refines(self.parts, second_look)
        w.run_panel.started_job(self.names, units, one_pass, looks)

        def begin() -> Generator:  # runs in the worker thread
            use_threads(threads)
            job = run_job(parts, song, store, cache, runner, second_look=second_look)
            return with_mask_images(job)

        return w.controller.start(begin)

    def on_event(self, update: JobUpdate | None) -> None:
        """A part began, made a step, or ended; or the second look at a stem began."""
        if update is None:
            return
        event = update.event
        panel = self.w.run_panel
        if event.refining:
            if event.index == 0:  # setting the second look up took the time until now
                panel.clock.lap()
            panel.show_refining(event.index, event.units_done)
        elif event.began:
            config = self.parts[event.index].config
            if config.steps:  # loss curves and meters for a steered part
                keys = [f"{t.key}_{n}" for t in config.taggers for n in config.fft_sizes]
                self.w.live.reset(keys, list(config.tags), stem=event.name)
                self._traces[event.name] = PartTrace(keys, list(config.tags))
            else:  # one pass: nothing to plot, but the boxes say whose part is under way
                self.w.live.reset([], [], ONE_PASS_TEXTS, stem=event.name)
            if event.index == 0:  # the job's checks took the time until now, not a step
                panel.clock.lap()
            panel.show_parts(event.index, event.units_done)
        elif event.step is not None:
            if event.step.step == 1:  # a part's first step: its time is the engine's own, not
                panel.clock.lap(event.step.seconds)  # loading the part's models before it
            self.w.live.push(event.step)
            if event.name in self._traces:
                self._traces[event.name].steps.append(replace(event.step, preview=None))
            self._lrs.setdefault(event.name, {})[event.step.step] = event.step.lr
            panel.show_parts(event.index, event.units_done, seconds=event.step.seconds)
        elif event.result is not None:
            self.done.append(event.name)
            if not self.parts[event.index].config.steps:  # a pass: its time is the engine's
                panel.clock.lap(event.result.pass_seconds)  # own, not loading its models first
            panel.show_parts(event.index + 1, event.units_done)
            estimate = event.result.estimate
            if estimate is not None and update.mask_image is not None:
                self.w.live.show_mask(update.mask_image, estimate_region(estimate))
                self.w.live.name_mask(event.name)

    def on_finished(self, outcome: JobResult | None) -> None:
        """The job ended (finished, or stopped keeping what finished and the best step so far
        of a part stopped between its steps)."""
        panel = self.w.run_panel
        if outcome is None or not outcome.results:
            panel.show_parts(0, 0, finished=0)
            panel.finished("Stopped before any instrument was separated.")
            self.w.audition.show_job_stems([])
            return
        self.outcome = outcome
        done = list(outcome.results)
        looks_stopped = refines(self.parts, self.second_look) and not outcome.refined
        complete = not (outcome.stopped or looks_stopped)  # else the bar stays where it was
        units = job_units(self.parts, self.second_look) if complete else 0
        panel.show_parts(len(done), units, finished=len(done))
        if outcome.stopped:
            left = [n for n in self.names if n not in done]
            message = f"Stopped: kept {', '.join(done)} and the rest"
            message += f"; {', '.join(left)} not separated." if left else "."
        elif outcome.second_look_failed:
            why = outcome.second_look_failed  # in brief: the log has it all
            message = (f"Separated {', '.join(done)} and the rest; the second look failed "
                       f"({why}), so the stems keep their first.")  # fmt: skip
        elif looks_stopped:
            message = (f"Separated {', '.join(done)} and the rest; the second look was stopped, "
                       "so the stems keep their first.")  # fmt: skip
        else:
            message = f"Separated {', '.join(done)} and the rest."
        for name, result in outcome.results.items():
            if result.stopped:  # between its steps: its best step so far is kept
                steps = self.parts[self.names.index(name)].config.steps
                message += (
                    f" Of the {steps} steps of {name}, {result.steps_done} were made: "
                    f"its stem is of step {result.best_step}, the best of them."
                )
            if result.cut_short_at:
                message += (f" Step {result.cut_short_at} of {name} {result.cut_short_by}: its "
                            f"stem is of step {result.best_step}, the best before it.")  # fmt: skip
        if judges_quiet(part.config.backend for part in self.parts):
            examples = [part.name for part in self.parts if part.config.example is not None]
            message += quiet_sentence(outcome.levels, "Select a few seconds where it plays, name "
                                      "it and add the region as an example.", examples)  # fmt: skip
        panel.finished(message)
        self.w.audition.show_job_stems(done)
        self._show_stems()

    def on_failed(self, error: BaseException) -> None:
        """The job failed; a part that failed (:class:`PartFailed`) leaves the stems of the
        parts that finished, as Stop does, unless keeping them failed too (said with why).
        Any other error keeps no stem; most come before a part begins (the job's checks refuse
        it, e.g. a silent example clip, said to be the example of its stem:
        :func:`whose_example`)."""
        panel = self.w.run_panel
        if not isinstance(error, PartFailed):
            done = len(self.done)
            panel.show_parts(done, 0, finished=done)  # none is being separated any more
            panel.finished("The job failed; no stem was kept." if done else
                           "The job failed before any instrument was separated.")  # fmt: skip
            self.w.audition.show_job_stems([])
            show_error(self.w, whose_example(error, self.parts), "The separation failed",
                       logged=True, doing=Doing.RUN, ways=self.w.models.ways())  # fmt: skip
            return
        done = [] if error.kept is None else list(error.kept.results)
        finished = len(self.done if error.kept is None else done)
        panel.show_parts(finished, 0, finished=finished)
        failed = f"{error.doing[0].upper()}{error.doing[1:]} failed"
        if error.kept is None:
            message = (f"{failed}, and keeping {listed(self.done)} failed too "
                       f"({error.unkept}); no stem was kept.")  # fmt: skip
        elif done:
            left = [n for n in self.names if n not in done]
            message = f"{failed}: kept {', '.join(done)} and the rest"
            message += f"; {', '.join(left)} not separated." if left else "."
        else:
            message = f"{failed}; nothing was separated."
        panel.finished(message)
        self.w.audition.show_job_stems(done)
        if done:
            self.outcome = error.kept
            self._show_stems()
        show_error(self.w, error.__cause__ or error, failed,
                   logged=True, doing=Doing.RUN, ways=self.w.models.ways())  # fmt: skip

    def discard(self) -> None:
        """Forget the shown job (a new song, or a new run)."""
        self.outcome, self.parts, self._lrs, self.done = None, [], {}, []
        self._traces = {}
        self._serial += 1
        self._audition_loaded = False

    def quit_question(self) -> str:
        """What closing the window asks while the job runs: the stems separated so far go
        with it unless the job is stopped and they are exported or dragged out first."""
        return job_quit_text(len(self.parts), self.done)

    # ----- stems -----------------------------------------------------------------------
    def provenance(self) -> dict[str, dict[str, str]]:
        """What made each finished stem (the files' metadata)."""
        assert self.outcome is not None and self.song is not None
        lrs = {name: self._lrs[name][run.best_step] for name, run in self.outcome.results.items()
               if run.best_step in self._lrs.get(name, {})}  # fmt: skip
        return job_provenance(self.song.path.name, self.parts, self.outcome, lrs)

    def _show_stems(self) -> None:
        assert self.outcome is not None and self.song is not None
        self._serial += 1
        self._images = {}  # filled in the reader's thread, read only there
        stems = self.w.stems
        stems.set_shared_stems(self.song, self.outcome.estimates, self.provenance(),
                               self.parts[0].config.backend)  # fmt: skip
        stems.prepare()
        self.w.set_can_export(True)
        stems.setCurrentRow(0)  # plays the first stem

    @Slot(int)
    def _on_stem_row_changed(self, row: int) -> None:
        if self.outcome is None or row < 0 or self.song is None:
            return
        self._show_part(row)
        stems = self.w.stems
        serial, song, name = self._serial, self.song, stems.item(row).text()
        estimates, images = self.outcome.estimates, self._images
        pending = stems.prepare(needed=True)  # None: written, and still there
        try:
            paths = stems.stem_files() if pending is None else None
        except UserError as exc:  # e.g. the temporary folder went and cannot be made again
            log.warning("cannot write the stem %s to play it: %s", name, exc)
            self.w.statusBar().showMessage(f"Cannot play {name}: {exc}", 10_000)
            return

        mask_to, stem_to = receiver(self._on_mask_drawn), receiver(self._on_stem_read)
        files = paths if paths is not None else pending
        _READER.submit(_read_stem, serial, song, name, row, estimates, images, files,
                       mask_to, stem_to)  # fmt: skip

    def _show_part(self, row: int) -> None:
        """The live views show the steps of the part whose stem is in ``row`` and the tags of
        its best step (its stem's); the rest, or a part of one pass, has neither."""
        assert self.outcome is not None
        names = list(self.outcome.estimates)
        trace = self._traces.get(names[row]) if row < len(names) else None
        live, whose = self.w.live, _stem_shown(names, row)
        if trace is None:
            live.reset([], [], ONE_PASS_TEXTS if row < len(names) else REST_TEXTS, stem=whose)
            return
        live.reset(trace.keys, trace.tags, stem=whose)
        best = self.outcome.results[names[row]].best_step
        for step in trace.steps:
            live.push(step, meters=step.step == best)

    def _on_mask_drawn(self, drawn: tuple[int, int, np.ndarray]) -> None:
        serial, row, image = drawn
        if serial == self._serial and self.outcome is not None:
            names = list(self.outcome.estimates)
            region = estimate_region(self.outcome.estimates[names[0]])
            self.w.live.show_mask(image, region)
            self.w.live.name_mask(_stem_shown(names, row))

    def _on_stem_read(self, read: tuple[int, str, np.ndarray | None, object]) -> None:
        serial, name, stem, rest = read  # rest: the song without the stem, or why it failed
        if serial != self._serial or self.song is None:
            return
        if stem is None:
            self.w.statusBar().showMessage(f"Cannot play {name}: {rest}", 10_000)
            return
        transport = self.w.audition.transport
        if self._audition_loaded:
            transport.replace("separated", stem)  # the position is kept
            transport.replace("residual", rest)
        else:
            song = self.song
            layout = speaker_layout(song.channels, song.format, song.channel_mask)
            sources = {"mix": song.data, "separated": stem, "residual": rest}
            transport.load(sources, song.rate, layout)
            transport.set_loop_region(None)
            self._audition_loaded = True
        self.w.statusBar().showMessage(f"Separated: {name}; Residual: the song without it", 5000)
        self.stem_loaded.emit(name)

    def stem_names(self) -> list[str]:
        """The finished stems' names, in the job's order (the rest comes after them)."""
        return list(self.outcome.estimates) if self.outcome is not None else []

    def shared(self) -> dict[str, Estimate]:
        """The finished stems' estimates, sharing the mixture."""
        return self.outcome.estimates if self.outcome is not None else {}


def _read_stem(
    serial: int,
    song: Song,
    name: str,
    row: int,
    estimates: dict[str, Estimate],
    images: dict[str, np.ndarray],
    files: list[Path] | Future[list[Path]],
    mask_to: WeakMethod,
    stem_to: WeakMethod,
) -> None:
    """In a worker thread, once the stems' ``files`` are written: stem ``row``'s mask image
    (it shows while the stem is read back) and the stem read from its file, with the song
    without it, handed back to ``mask_to`` and ``stem_to`` (``gui.background``)."""
    try:
        hand_back(mask_to, (serial, row, stem_mask_image(estimates, row, images)))
    except Exception as exc:  # the stem can still be heard
        log.warning("cannot draw the mask of %s: %s", name, exc)
    try:
        path = (files if isinstance(files, list) else files.result())[row]
        stem = sf.read(str(path), dtype="float32", always_2d=True)[0]
        rest = song.data - stem  # a stem cut short, or no memory for a long song
    except Exception as exc:  # a message in the status bar, never a silent worker
        log.warning("cannot read the stem %s back: %s", name, exc)
        hand_back(stem_to, (serial, name, None, str(exc)))
        return
    hand_back(stem_to, (serial, name, stem, rest))
