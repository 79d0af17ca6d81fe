"""Run / Pause / Stop and the progress of the current run: step, s/step, elapsed, ETA.

A job of several instruments shows each instrument's state and the whole job's progress and
ETA, counted in steps (an instrument separated in one pass counts as one).
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.widgets.icons import media_icon
from tagbox_gui.gui.widgets.shortcuts import PAUSE, RUN, STOP, shown

RUN_GOING_ON = "A run is going on: Run is back once it has ended"


def run_tip() -> str:
    """Run's tooltip while it can start a run, its key as the desktop shows it."""
    return f"Start separating ({shown(RUN)})"


def stop_tip() -> str:
    """What Stop does, and its key (the Stop button's tooltip, Run ▸ Stop's status tip)."""
    return ("Stop: a steered run keeps its best step so far, a run of one pass its first look "
            f"once that pass is done ({shown(STOP)}, which asks first)")  # fmt: skip


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class RunClock:
    """Elapsed run time without the paused stretches, and a smoothed time per step."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, total_steps: int) -> None:
        self.total_steps = total_steps
        self.step = 0
        self.per_step = 0.0
        self._started = time.monotonic()
        self._paused_at: float | None = None
        self._paused_for = 0.0
        self._last = 0.0

    def pause(self, paused: bool) -> None:
        now = time.monotonic()
        if paused and self._paused_at is None:
            self._paused_at = now
        elif not paused and self._paused_at is not None:
            self._paused_for += now - self._paused_at
            self._paused_at = None

    def lap(self, seconds: float = 0.0) -> None:
        """The time until ``seconds`` ago went to no step (e.g. a job's checks before its first
        part, or a part loading its models before its first step, which took ``seconds``): the
        next step's time is counted from there (the elapsed time still has it)."""
        self._last = self.elapsed - seconds

    @property
    def elapsed(self) -> float:
        now = self._paused_at if self._paused_at is not None else time.monotonic()
        return now - self._started - self._paused_for

    def tick(self, step: int, seconds: float | None = None) -> None:
        """Step ``step`` is done: update the time per step (mean over the last ~10 steps).

        The first step's wall time includes loading the models, so the engine's own
        ``seconds`` for it is used instead when given.
        """
        if step <= self.step:
            return  # seen already (the panel refreshes more often than steps come)
        elapsed = self.elapsed
        interval = (elapsed - self._last) / max(1, step - self.step)
        if self.step == 0:
            self.per_step = interval if seconds is None else seconds
        else:
            self.per_step += 0.2 * (interval - self.per_step)
        self.step, self._last = step, elapsed

    @property
    def eta(self) -> float:
        """The time to go: the steps left at the time per step, less the time into the next
        one (a job's pass may take many seconds), but no less than the steps after it."""
        left = max(0, self.total_steps - self.step)
        into = min(max(0.0, self.elapsed - self._last), self.per_step)
        return max(0.0, self.per_step * left - into) if left else 0.0


class RunPanel(QWidget):
    """Buttons that drive the run controller and a readout of its progress."""

    run_requested = Signal()
    pause_toggled = Signal(bool)  # True: pause, False: resume
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clock = RunClock()
        self.state = RunState.IDLE
        self._can_run = True
        self._why_not = ""  # why no run can start, said while idle (set_can_run)
        self._run_entries: list[QAction] = []  # on and off with the Run button (mirror_run)
        self._timed = False  # a run (or job) began since the panel was cleared: its time shows
        self.run = QPushButton(media_icon(self, QStyle.StandardPixmap.SP_MediaPlay), "Run")
        self.pause = QPushButton(media_icon(self, QStyle.StandardPixmap.SP_MediaPause), "Pause")
        self.pause.setCheckable(True)
        self.pause.setToolTip(f"Pause the run, or resume it ({shown(PAUSE)})")
        self.stop = QPushButton(media_icon(self, QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.stop.setToolTip(stop_tip())
        self.progress = QProgressBar(textVisible=True, accessibleName="Progress of the run")
        self.labels = {k: QLabel("–") for k in ("step", "per_step", "elapsed", "eta")}
        self.status = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)  # users' names
        # always rich text: Qt's guess would show "&nbsp;" as it is once no name is in bold
        self.parts = QLabel(wordWrap=True, visible=False, textFormat=Qt.TextFormat.RichText)
        self.parts.setToolTip("✓ separated · ▸ separating now · ○ waiting")
        self._part_names: list[str] = []
        self._captions: dict[str, QLabel] = {}
        self._timer = QTimer(self, interval=500)  # elapsed keeps moving during slow steps
        self._timer.timeout.connect(self._show_times)
        self._build_layout()
        self.run.clicked.connect(self.run_requested)
        self.pause.toggled.connect(self._on_pause_toggled)
        self.stop.clicked.connect(self.stop_requested)
        self.set_state(RunState.IDLE)
        self._describe_progress()

    def _build_layout(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.run, self.pause, self.stop):
            buttons.addWidget(button)
        grid = QGridLayout()
        titles = {"step": "Step", "per_step": "Time/step", "elapsed": "Elapsed", "eta": "ETA"}
        for index, (key, title) in enumerate(titles.items()):
            caption = QLabel(title)
            caption.setStyleSheet("color: palette(placeholder-text);")
            self._captions[key] = caption
            grid.addWidget(caption, 0, index)
            grid.addWidget(self.labels[key], 1, index)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 6)  # the column that holds it insets its sides
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addLayout(grid)
        layout.addWidget(self.parts)
        layout.addWidget(self.status)

    # ----- public API ------------------------------------------------------------------
    def set_state(self, state: RunState) -> None:
        """Enable the buttons that make sense in ``state``."""
        self.state = state
        active = state in (RunState.RUNNING, RunState.PAUSED)
        self._show_can_run()
        self.pause.setEnabled(active)
        self.stop.setEnabled(active)
        self.pause.blockSignals(True)
        self.pause.setChecked(state is RunState.PAUSED)
        self.pause.setText("Resume" if state is RunState.PAUSED else "Pause")
        self.pause.blockSignals(False)
        self.clock.pause(state is RunState.PAUSED)
        if active:
            self._timer.start()
        else:
            self._timer.stop()
        if state is RunState.STOPPING:
            self.status.setText("Stopping after this step…")

    def set_can_run(self, ok: bool, reason: str = "") -> None:
        """Whether Run is possible now, and if not, why (shown as the button's tooltip)."""
        self._can_run, self._why_not = ok, reason
        self._show_can_run()

    def mirror_run(self, action: QAction) -> None:
        """Turn ``action`` (Run ▸ Run) on and off with the Run button; its status tip says why
        it is off, as the button's tooltip does."""
        self._run_entries.append(action)
        self._show_can_run()

    def _show_can_run(self) -> None:
        """Run is on while idle with nothing in the way; off, its tooltip says why."""
        idle = self.state is RunState.IDLE
        tip = (self._why_not or run_tip()) if idle else RUN_GOING_ON
        for control in (self.run, *self._run_entries):
            control.setEnabled(idle and self._can_run)
            control.setToolTip(tip)
        for action in self._run_entries:  # in the status bar while the menu shows it
            action.setStatusTip(tip)

    def clear(self) -> None:
        """Show no run (a new song): no progress, times, instruments or status, and the
        captions of a single run (not a job's "Passes" and its tooltip)."""
        self.clock.reset(0)
        self._timed = False
        self._no_parts()
        self._not_busy()
        self.progress.reset()
        self.status.setText("")
        self._show_times()

    def started(self, total_steps: int, what: str) -> None:
        """A single run of ``total_steps`` began."""
        self._no_parts()
        self._begin(total_steps, what)

    def _no_parts(self) -> None:
        """No job's instruments: the captions and tooltips of a single run's steps."""
        self._part_names = []
        self.parts.setVisible(False)
        self.parts.clear()
        self._captions["step"].setText("Step")
        self._captions["per_step"].setText("Time/step")
        for widget in (self._captions["step"], self.labels["step"]):
            widget.setToolTip("")

    def started_job(self, names: Sequence[str], units: int, one_pass: bool,
                    looks: bool) -> None:  # fmt: skip
        """A job began: these instruments in turn, ``units`` steps in all (``one_pass``: every
        instrument in a single pass, so a unit is a stem), the last of them a second look at
        each stem once all are separated where it ``looks`` (``core.separation.job.refines``)."""
        self._part_names = list(names)
        self.parts.setVisible(True)
        count = len(self._part_names)
        if not one_pass:
            caption, per, tip = "Steps", "Time/step", f"Steps of all {count} instruments"
            if looks:
                tip += f", then a second look at each once all are separated: {units} in all"
        elif looks:
            caption, per = "Passes", "Time/pass"
            tip = (f"Each of the {count} instruments is separated in one pass, then looked at "
                   f"again once all are: {units} passes")  # fmt: skip
        else:
            caption, per, tip = "Stems", "Time/stem", f"One pass for each of the {count} stems"
        self._captions["step"].setText(caption)
        self._captions["per_step"].setText(per)
        for widget in (self._captions["step"], self.labels["step"]):
            widget.setToolTip(tip)
        self._begin(units, f"Separating {', '.join(names)} and the rest…")
        self.show_parts(0, 0)

    def show_parts(self, current: int, units_done: int, finished: int | None = None,
                   seconds: float | None = None) -> None:  # fmt: skip
        """Instrument ``current`` is being separated (the ones before it are done) and
        ``units_done`` steps of the job are done (``seconds``: the engine's time for the last
        one); ``finished``: how many are done, when the job ended. While the job stops, the
        status keeps saying so."""
        done = current if finished is None else finished
        names = [html.escape(name) for name in self._part_names]  # a user's own names
        marks = [
            f"✓ {name}" if i < done else (f"▸ <b>{name}</b>" if i == current and finished is None
                                          else f"○ {name}")
            for i, name in enumerate(names)
        ]  # fmt: skip
        self.parts.setText(" &nbsp; ".join(marks))
        stopping = self.state is RunState.STOPPING
        if finished is None and current < len(self._part_names) and not stopping:
            count = len(self._part_names)
            self.status.setText(
                f"Separating {self._part_names[current]} ({current + 1} of {count})…"
            )
        if units_done:
            self.stepped(units_done, seconds)

    def show_refining(self, index: int, units_done: int) -> None:
        """Every instrument is separated; the second look at instrument ``index`` began
        (``core.separation.refine``) with ``units_done`` steps of the job done."""
        count = len(self._part_names)
        self.show_parts(count, units_done)
        if self.state is not RunState.STOPPING:  # a look already begun when Stop was pressed
            self.status.setText(f"Looking again at {self._part_names[index]} without the others "
                            f"({index + 1} of {count})…")  # fmt: skip

    def show_looking_again(self, stem: str, helpers: Sequence[str]) -> None:
        """A single run separated ``stem``, which is now looked at again in the song without
        ``helpers`` (``core.separation.refine.looked_again``)."""
        self.status.setText(f"Looking again at {stem} without the {' and the '.join(helpers)}…")

    def _begin(self, total_steps: int, what: str) -> None:
        self.clock.reset(total_steps)
        self._timed = True  # a one-pass run too, with no steps to count
        self.progress.setRange(0, total_steps)
        self.progress.setValue(0)
        self.status.setText(what)
        self._show_times()

    def stepped(self, step: int, seconds: float | None = None) -> None:
        """Step ``step`` is done (``seconds``: the engine's time for it)."""
        self.clock.tick(step, seconds)
        self.progress.setValue(step)
        self._show_times()

    def finished(self, text: str, separated: bool = False) -> None:
        """The run (or job) ended, saying ``text``; stopped early, it has no time left to go.
        The bar of a one-pass run, busy meanwhile, shows it done where it ``separated``."""
        self.status.setText(text)
        self._not_busy(1 if separated else 0)
        self._show_times()
        if self.clock.step < self.clock.total_steps:
            self.labels["eta"].setText("–")
            self._describe_progress()

    def _not_busy(self, value: int = 0) -> None:
        """A bar busy for a one-pass run (no steps to count) shows ``value`` of 1 instead."""
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(value)

    @Slot()
    def _show_times(self) -> None:
        c = self.clock
        self.labels["step"].setText(f"{c.step} / {c.total_steps}" if c.total_steps else "–")
        self.labels["per_step"].setText(f"{c.per_step:.2f} s" if c.step else "–")
        self.labels["elapsed"].setText(clock(c.elapsed) if self._timed else "–")
        self.labels["eta"].setText(clock(c.eta) if c.step else "–")
        self._describe_progress()

    def _describe_progress(self) -> None:
        """The readout under the bar as its description: "Step 3 / 12, …, ETA 0:05"."""
        shown = [(self._captions[key].text(), label.text()) for key, label in self.labels.items()]
        text = ", ".join(f"{caption} {value}" for caption, value in shown if value != "–")
        self.progress.setAccessibleDescription(text or "No run yet")

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_toggled.emit(paused)
