"""The run as the window drives and shows it: settings in, steps and previews out.

Steps are stored as they arrive; a ~30 Hz frame timer shows the newest state (progress, the
newest preview when following it), so a fast backend never makes the window redraw per step.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QAbstractSpinBox, QApplication

from tagbox_gui.core.audio.estimates import judges_quiet
from tagbox_gui.core.audio.output import speaker_layout
from tagbox_gui.core.audio.song import Song
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.snapshots import DEFAULT_BUDGET_BYTES, Snapshot, SnapshotStore
from tagbox_gui.core.separation.threads import use_threads
from tagbox_gui.core.types import (
    Command,
    CommandKind,
    Estimate,
    JobPart,
    LookingAgain,
    RunResult,
    StepResult,
)
from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.engine_loader import LazyModule
from tagbox_gui.gui.errors import Doing, show_error
from tagbox_gui.gui.job_view import JobUpdate, JobView
from tagbox_gui.gui.run_audio import RunAudio
from tagbox_gui.gui.run_request import RunRequest
from tagbox_gui.gui.run_window import RunWindow
from tagbox_gui.gui.session import RunSession, estimate_region, quiet_sentence, whose_example
from tagbox_gui.gui.widgets.loss_plot import EMPTY_TEXTS, ONE_PASS_TEXTS
from tagbox_gui.gui.widgets.transport import NOTHING_KEPT, RUNNING

if TYPE_CHECKING:
    from collections.abc import Callable

    from tagbox_gui.core.separation import engine
else:  # imported when first used: they load torch (see tagbox_gui.gui.engine_loader)
    engine = LazyModule("tagbox_gui.core.separation.engine")

log = logging.getLogger(__name__)
FRAME_MS = 33


class RunView(RunRequest):
    """Starts runs from the panels' state and routes the controller's results to the views."""

    def __init__(self, window: RunWindow, cache: ModelCache) -> None:
        super().__init__(window)
        self.cache = cache
        self.budget = DEFAULT_BUDGET_BYTES
        self._engine_run: Callable[..., engine.RunGenerator] | None = None  # see engine_run
        self.session: RunSession | None = None  # the current single run
        self._run_parts: list[JobPart] = []  # what the current (or last) run or job separates
        self.jobs = JobView(window, cache)  # a job of several instruments
        self.audio = RunAudio(window)  # what the transport plays for the song and a run
        self.job_active = False  # the current (or last) run is a job
        self.shown: Snapshot | None = None
        self._listed: dict[str, str] = {}  # the provenance of the stems listed for the shown step
        self._latest: StepResult | None = None
        self._pending_preview: int | None = None
        self._lr_message = ""  # what the status bar said of a learning rate set during the run
        self._frame = QTimer(self, interval=FRAME_MS)
        self._frame.timeout.connect(self._on_frame)
        c, w = window.controller, window
        c.step_done.connect(self._on_controller_step_done)
        c.run_finished.connect(self._on_controller_run_finished)
        c.run_failed.connect(self._on_controller_run_failed)
        c.state_changed.connect(self._on_controller_state_changed)
        w.run_panel.run_requested.connect(self.start)
        w.run_panel.pause_toggled.connect(self._on_pause_toggled)
        w.run_panel.stop_requested.connect(self.stop)
        w.audition.step_chosen.connect(self.show_step)
        w.audition.follow_toggled.connect(self._on_follow_toggled)
        w.settings_panel.lr_changed.connect(self.set_lr)

    @property
    def engine_run(self) -> Callable[..., engine.RunGenerator]:
        """What starts a run: ``engine.run`` (imported when first used) unless replaced (tests
        drive the window with a fake engine)."""
        return self._engine_run or engine.run

    @engine_run.setter
    def engine_run(self, run: Callable[..., engine.RunGenerator]) -> None:
        self._engine_run = run

    # ----- running ---------------------------------------------------------------------
    @Slot()
    def start(self) -> int | None:
        """Start a run from the panels; its id, or None (with the reason shown, the taggers it
        needs asked for, or when the musician keeps the stems it would replace)."""
        typed = QApplication.focusWidget()
        if isinstance(typed, QAbstractSpinBox):  # Ctrl+R in a box typed in: run what it shows
            typed.interpretText()
        problem = self.problem()
        if problem:
            self.w.show_message(problem)
            return None
        if self.w.controller.state is not RunState.IDLE:
            return None
        if missing := self.missing_taggers():
            self.taggers_needed.emit(missing)  # asked; the musician runs again once they are in
            return None
        w = self.w
        question = w.losing("a new run replaces")
        if question and not w.confirm_new_run(question):
            return None
        parts = self._run_parts = self.parts()
        settings = w.settings_panel.settings()
        self.jobs.discard()
        self.audio.forget()
        w.stems.clear_stems()  # the last run's: Export all stems… and drags wait for this run's
        w.set_can_export(False)
        self.job_active = len(parts) > 1
        self.session, self.shown, self._latest = None, None, None
        self._hear_the_song_unless_shown(RUNNING)  # the last result's stems went with the list
        if self.job_active:
            run_id = self.jobs.start(parts, self.engine_run, settings.threads,
                                     settings.second_look)  # fmt: skip
            log.info("run %d: a job of %s", run_id, ", ".join(p.name for p in parts))
            return run_id
        config, stems = parts[0].config, tuple(parts[0].name.split(" + "))
        snapshots = SnapshotStore(self.budget)
        session = RunSession(w.song, config, stems, snapshots)
        self.session = session
        keys = [f"{t.key}_{n}" for t in config.taggers for n in config.fft_sizes]
        w.live.clear()  # the last result's mask too, titled for the shown step again
        w.live.reset(keys, [], ONE_PASS_TEXTS if config.steps == 0 else EMPTY_TEXTS)
        w.audition.set_history((), 0, self.budget)
        w.audition.follow.setChecked(True)
        if config.steps == 0:  # one pass: no previews to follow
            w.audition.show_one_pass()
        where = (
            "the whole song"
            if config.region is None
            else (f"{config.region.start:.1f}–{config.region.end:.1f} s")
        )
        w.run_panel.started(config.steps, f"Separating {', '.join(session.stem_tags)} in {where}")
        store, cache, engine_run, threads = w.store, self.cache, self.engine_run, settings.threads
        second_look = settings.second_look

        def begin() -> engine.RunGenerator:  # runs in the worker thread
            from tagbox_gui.core.separation.job import looking_again

            use_threads(threads)
            session.prepare()
            run = looking_again(engine_run) if second_look else engine_run
            return run(config, session.song, store, cache)

        run_id = w.controller.start(begin)
        self._frame.start()
        log.info("run %d: %s", run_id, config)
        return run_id

    @Slot()
    def toggle_pause(self) -> None:
        if self.w.controller.state is RunState.RUNNING:
            self.w.controller.pause()
        elif self.w.controller.state is RunState.PAUSED:
            self.w.controller.resume()

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        (self.w.controller.pause if paused else self.w.controller.resume)()

    @Slot()
    def stop(self) -> None:
        self.w.controller.stop()

    def stop_question(self) -> str:
        """What Escape asks before it stops the run or job under way: what stopping keeps. A
        steered run keeps its best step so far; a run of one pass keeps nothing until its
        first pass is done (then its first look, when the second look is stopped)."""
        if self.job_active:
            steered = any(part.config.steps for part in self.jobs.parts)
            return ("Stop the job? The instruments separated so far are kept"
                    + (", and a steered one under way at its best step so far." if steered
                       else "."))  # fmt: skip
        if self.session is not None and self.session.config.steps == 0:
            return "Stop the run? It keeps nothing unless its first pass is done."
        return "Stop the run? Its best step so far is kept."

    @Slot(float)
    def set_lr(self, lr: float) -> None:
        """A new learning rate during a run: the engine uses it from its next step."""
        if self.w.controller.state in (RunState.RUNNING, RunState.PAUSED):
            self.w.controller.send(Command(CommandKind.SET_LR, lr))
            self._lr_message = f"Learning rate {lr:g} from the next step"
            self.w.statusBar().showMessage(self._lr_message)

    @Slot(object)
    def _on_controller_state_changed(self, state: RunState) -> None:
        """The run ended: a learning rate "from the next step" is said no longer."""
        status = self.w.statusBar()
        if state is RunState.IDLE and status.currentMessage() == self._lr_message:
            status.clearMessage()  # (an empty message stays empty)

    def discard_run(self) -> None:
        """A new song: stop any run and forget its results (and the examples of the old song)."""
        self.w.live.clear()
        self.w.run_panel.clear()
        if self.w.controller.state is not RunState.IDLE:
            self.w.controller.stop()  # the panel says "Stopping…" until it has ended
        self.session, self.shown, self._latest = None, None, None
        self.jobs.discard()
        self.audio.forget()
        self.job_active = False
        self.w.picker.set_picks([p for p in self.w.picker.picks() if p.example is None])
        self.w.stems.clear_stems()
        self.w.set_can_export(False)
        self.w.audition.set_history((), 0, self.budget)
        self.w.audition.show_step(None)

    @Slot(object)
    def _on_controller_step_done(self, step: StepResult | LookingAgain | JobUpdate | None) -> None:
        if self.job_active:
            self.jobs.on_event(step)  # type: ignore[arg-type]
            return
        if self.session is None or step is None:
            return
        if isinstance(step, LookingAgain):
            name = " + ".join(self.session.stem_tags) or "the separated stem"
            self.w.run_panel.show_looking_again(name, step.helpers)
            return
        self.session.latest = step.step
        self.session.note_lr(step.step, step.lr)
        self.session.tag_values[step.step] = (step.wanted_separated, step.wanted_residual)
        self._latest = step
        self.w.live.push(step, meters=self.w.audition.following)  # else: of the step shown
        if step.preview is not None:
            self.session.snapshots.add(step.step, step.preview)
            self._pending_preview = step.step

    @Slot()
    def _on_frame(self) -> None:
        session = self.session
        if session is None or self._latest is None:
            return
        self.w.run_panel.stepped(self._latest.step, self._latest.seconds)
        if self._pending_preview is not None:
            store = session.snapshots
            self.w.audition.set_history(store.steps(), store.nbytes, store.budget_bytes)
            if self.w.audition.following:
                self.show_step(self._pending_preview, followed=True)
            self._pending_preview = None

    @Slot(object)
    def _on_controller_run_finished(self, result: RunResult | None) -> None:
        if self.job_active:
            self.jobs.on_finished(result)  # type: ignore[arg-type]
            self._hear_the_song_unless_shown(NOTHING_KEPT)
            return
        self._on_frame()
        self._frame.stop()
        session = self.session
        if session is None:  # the run (or job) of a song that was replaced: nothing to show
            self.w.run_panel.finished("")
            return
        session.result = result
        if result is None or result.estimate is None:
            self.w.run_panel.finished(
                "Stopped before the pass was done: nothing was separated."
                if session.config.steps == 0
                else "Stopped before the first step."
            )
            self._hear_the_song_unless_shown(NOTHING_KEPT)
            return
        how = "Stopped" if result.stopped else "Finished"
        if result.cut_short_at:
            how = f"Step {result.cut_short_at} {result.cut_short_by}: ended"
        message = (
            "Separated in one pass of the learned separator."
            if result.steps_done == 0
            else f"{how} after {result.steps_done} steps; best step {result.best_step} "
            f"(loss {result.best_total:.4f})."
        )
        if result.helpers:
            message += f" Looked at again without the {' and the '.join(result.helpers)}."
        if result.second_look_failed:
            why = result.second_look_failed  # in brief: the log has it all
            message += f" The second look failed ({why}), so the stem is the first look."
        self.w.run_panel.finished(message + self._quiet_note(session), separated=True)
        store = session.snapshots
        self.w.audition.set_history(
            store.steps(), store.nbytes, store.budget_bytes, result.best_step
        )
        # the best step, else the step chosen stays, said again now the best step is known
        shown = self.shown
        step = result.best_step if self.w.audition.following or shown is None else shown.step
        self.show_step(step, followed=True)
        self.w.stems.prepare()  # written in the background: the first drag starts at once

    @staticmethod
    def _quiet_note(session: RunSession) -> str:
        """What the end-of-run message adds when the learned separator's stem is very quiet."""
        level = session.level() if judges_quiet([session.config.backend]) else None
        if level is None:
            return ""
        name = " + ".join(session.stem_tags) or "The separated stem"
        by_example = [name] if session.config.example is not None else []
        return quiet_sentence({name: level}, "Select a few seconds where it plays and use the "
                              "region as the example.", by_example)  # fmt: skip

    @Slot(object)
    def _on_controller_run_failed(self, error: BaseException) -> None:
        if self.job_active:
            self.jobs.on_failed(error)
            self._hear_the_song_unless_shown(NOTHING_KEPT)
            return
        self._frame.stop()
        if self.session is None:  # the run (or job) of a song that was replaced: logged only
            self.w.run_panel.finished("")
            return
        self.w.run_panel.finished("The run failed.")
        self._hear_the_song_unless_shown(NOTHING_KEPT)
        show_error(self.w, whose_example(error, self._run_parts), "The run failed", logged=True,
                   doing=Doing.RUN, ways=self.w.models.ways())  # fmt: skip

    def _hear_the_song_unless_shown(self, why: str) -> None:
        """A run or job that starts, or ends with nothing to show: the transport goes from the
        last one's stems (no longer listed) back to the song's mix, at the same moment, still
        playing, until a step or a stem of its own is shown; ``why`` the separated and the
        residual are not there (their buttons' tooltip)."""
        shown = self.jobs.outcome is not None if self.job_active else self.shown is not None
        song, transport = self.w.song, self.w.audition.transport
        if shown or song is None:
            return
        if transport.player.sources == ("mix",):
            transport.say_why_missing(why)
            return
        layout = speaker_layout(song.channels, song.format, song.channel_mask)
        transport.load({"mix": song.data}, song.rate, layout, missing=why)
        transport.set_loop_region(None)

    # ----- showing a step --------------------------------------------------------------
    @Slot(int)
    def show_step(self, step: int, followed: bool = False) -> None:
        """Show and play the kept snapshot of ``step`` (mask, audio, stems); a step
        ``followed`` (see :meth:`RunAudio.show_step`) leaves the song's mix playing."""
        session = self.session
        snapshot = session.snapshot(step) if session is not None else None
        if snapshot is None:
            return
        # the stems listed already (Best step, Follow latest again): what left the app stays so,
        # unless what they say of their step changed (the run ended before its last step)
        provenance = session.provenance(snapshot.step)
        listed = (self.shown is not None and self.shown.estimate is snapshot.estimate
                  and provenance == self._listed)  # fmt: skip
        self.audio.show_step(session, snapshot, followed)
        self.shown = snapshot
        self.w.live.show_mask(snapshot.mask_image, estimate_region(snapshot.estimate))
        self._show_tags(session, snapshot.step, followed)
        if not (listed and self.w.stems.count()):
            self.w.stems.set_stems(
                session.song,
                snapshot.estimate,
                session.stem_tags,
                provenance,
                session.config.backend,
            )
            self._listed = provenance
            if self.w.controller.state is RunState.IDLE:  # a step chosen; not each of a run's
                self.w.stems.prepare()  # written in the background: a drag starts at once
        self.w.set_can_export(True)
        self.w.audition.show_step(snapshot.step, session.config.steps, session.steps_made)
        newest = self.w.audition.following and self.w.controller.state is not RunState.IDLE
        self.w.live.loss.mark_step(None if newest else snapshot.step)

    def _show_tags(self, session: RunSession, step: int, followed: bool) -> None:
        """The meters are of the step shown; while the run goes on, a step ``followed`` leaves
        them to the newest step (:meth:`LivePanel.push`), which is at least as new."""
        running = self.w.controller.state is not RunState.IDLE
        if step in session.tag_values and not (followed and running):
            self.w.live.show_tags(*session.tag_values[step])

    def shown_stems(self) -> tuple[tuple[Estimate, dict[str, str]], tuple[str, ...]] | None:
        """The estimate and provenance of the shown step, and the stem tags; None if none."""
        if self.session is None or self.shown is None:
            return None
        provenance = self.session.provenance(self.shown.step)
        provenance["backend"] = self.session.config.backend
        return (self.shown.estimate, provenance), self.session.stem_tags

    @Slot(object)
    def _on_follow_toggled(self, on: bool) -> None:
        """Following again: the newest preview is shown, and the meters are of the newest step
        at once, as while following (a paused run sends no step to move them on). Following no
        more: the step heard, no longer the newest, is marked on the loss plot."""
        session = self.session
        if not on and self.shown is not None:
            self.w.live.loss.mark_step(self.shown.step)
        if on and session is not None:
            latest = session.snapshots.latest()
            if latest is not None:
                self.show_step(latest.step)
            if session.latest in session.tag_values:
                self.w.live.show_tags(*session.tag_values[session.latest])

    # ----- song and transport ----------------------------------------------------------
    def show_song(self, song: Song) -> None:
        """Before any run: the transport plays the song itself (a new one waits for Play)."""
        self.audio.show_song(song)
        self.update_can_run()
