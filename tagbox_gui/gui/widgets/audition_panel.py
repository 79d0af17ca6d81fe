"""Listening: the transport (play, A/B source, loop, position) and the run's step history."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.core.folders import format_size
from tagbox_gui.core.separation.provenance import of_steps
from tagbox_gui.core.separation.snapshots import nearest_step
from tagbox_gui.gui.playback import Player
from tagbox_gui.gui.widgets.elided_label import ElidedLabel
from tagbox_gui.gui.widgets.flow_layout import FlowLayout, group
from tagbox_gui.gui.widgets.transport import TransportPanel

_LISTENING = (
    "Listening in mono at 44.1 kHz, as the taggers hear it; exported stems keep the song's rate "
    "and channels."
)
FOLLOW_TIP = "Play and show the newest preview while the run goes on"
FOLLOW_NO_RUN = "No run yet: a run's newest preview can be followed while it goes on"
FOLLOW_JOB = "A job of several instruments shows no previews to follow, only its stems"
BEST_TIP = "Go to the step with the lowest total loss"
FOLLOW_ONE_PASS = "A run of one pass (no steps) has no newer preview to follow"


class AuditionPanel(QWidget):
    """Transport plus a step slider over the kept snapshots.

    ``step_chosen(int)`` fires when the user picks a step (slider or "Best"); while "Follow
    latest" is on, the newest preview is played and shown instead.
    """

    step_chosen = Signal(int)
    follow_toggled = Signal(bool)

    def __init__(self, player: Player, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.transport = TransportPanel(player)
        self.follow = QCheckBox("Follow latest", checked=True, enabled=False)
        self.follow.setToolTip(FOLLOW_NO_RUN)
        self.best = QPushButton("Best step")
        self.best.setToolTip(BEST_TIP)
        self.best.setEnabled(False)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Go back to an earlier step of the run")
        self.slider.setAccessibleName("Step shown")
        self.slider.setEnabled(False)
        self.label = QLabel("No run yet")
        self.label.setMinimumWidth(200)
        self.memory = ElidedLabel()  # long: cut short (whole in the tooltip), never wider
        self.memory.setStyleSheet("color: palette(placeholder-text);")
        self._steps: tuple[int, ...] = ()
        self._best: int | None = None
        self._shown: int | None = None  # the step shown (show_step)
        self._build_layout()
        self.follow.toggled.connect(self._on_follow_toggled)
        self.best.clicked.connect(self._on_best_clicked)
        self.slider.valueChanged.connect(self._on_slider_value_changed)

    def _build_layout(self) -> None:
        history = FlowLayout()  # wraps on a narrow window rather than widening it
        history.setContentsMargins(4, 0, 4, 0)
        caption = QLabel("Step")
        caption.setBuddy(self.slider)  # a screen reader gives it as the slider's label
        history.addWidget(group(caption, self.slider, self.label))
        history.addWidget(self.follow)
        history.addWidget(self.best)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.transport)
        layout.addLayout(history)
        layout.addWidget(self.memory)

    # ----- public API ------------------------------------------------------------------
    @property
    def following(self) -> bool:
        return self.follow.isChecked()

    def set_history(
        self, steps: Sequence[int], nbytes: int, budget: int, best: int | None = None
    ) -> None:
        """The kept steps (ascending), their memory and budget, and the best step if known:
        the slider offers it too, in its place among them (the run keeps it whether or not it
        made a preview).

        Following, the slider goes to the newest step; else it stays on the step shown, or
        where that was thinned out, on the kept step nearest to it."""
        kept = tuple(steps)
        self._steps = kept if best is None else tuple(sorted({*kept, best}))
        self._best = best
        self.slider.setEnabled(len(self._steps) > 1)
        self._offer_follow(FOLLOW_TIP)
        last, shown = max(0, len(self._steps) - 1), self._shown
        place = last
        if self._steps and not self.following and shown is not None:
            place = self._steps.index(nearest_step(self._steps, shown))
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, last)
            self.slider.setValue(place)
        self.best.setEnabled(best is not None and len(self._steps) > 1)  # one: nowhere to go
        self.best.setToolTip(BEST_TIP if best is None else
                             f"Go to step {best}, the step with the lowest total loss")  # fmt: skip
        self.memory.setText(  # what changes first: a narrow window cuts the end short
            f"History: {len(kept)} previews kept, {format_size(nbytes)} of "
            f"{format_size(budget)} (older ones are thinned out). {_LISTENING}"
        )

    def show_one_pass(self) -> None:
        """A run of one pass begins: it makes no previews to follow (it ends with its stem)."""
        self._offer_follow(FOLLOW_ONE_PASS)

    def show_job(self, instruments: int) -> None:
        """A job of several instruments: it keeps no steps to go back to (the label beside the
        slider says so), only its stems, listed once it has ended (:meth:`show_job_stems`)."""
        self.set_history((), 0, 0)
        self._offer_follow(FOLLOW_JOB)  # no previews to follow
        self.label.setText("No steps kept in a job")
        self.memory.setText(  # short enough to be read whole beside the Stems at 1280 px
            f"The stems of the {instruments} instruments are listed under Stems once the job ends."
        )

    def show_job_stems(self, instruments: Sequence[str]) -> None:
        """The job ended with the stems of ``instruments`` (and the rest) listed, or none."""
        if not instruments:
            text = "No instrument was separated: there is no stem to hear."
        elif len(instruments) == 1:
            text = (f"Pick the stem of {instruments[0]} under Stems to hear it against the rest "
                    "of the song.")  # fmt: skip
        else:
            text = (f"Pick one of the {len(instruments)} instruments under Stems to hear it "
                    "against the rest of the song.")  # fmt: skip
        self.memory.setText(text)  # short enough to be read whole beside the Stems at 1280 px

    def show_step(self, step: int | None, total_steps: int = 0, made: int | None = None) -> None:
        """Say which step is shown of a run of ``total_steps`` that made ``made`` (None: all, or
        not known yet; ``core.separation.provenance.of_steps``), and put the slider on it when
        it is a kept one; None: no run (a new song, which plays itself: nothing is said of
        previews or of mono)."""
        self._shown = step
        if step is None:
            self.label.setText("No run yet")
            self.memory.setText("")
            self._offer_follow(FOLLOW_NO_RUN)  # e.g. a new song: none until a run starts
            return
        if step == 0 and total_steps == 0:
            self.label.setText("One pass (no steps)")
            self._offer_follow(FOLLOW_ONE_PASS)
            self.memory.setText(f"One pass of the separator: no steps to go back to. {_LISTENING}")
            return
        best = " (best)" if step == self._best else ""
        of = f" {of_steps(total_steps, made)}" if total_steps else ""
        self.label.setText(f"step {step}{best}{of}")
        if step in self._steps:
            with QSignalBlocker(self.slider):
                self.slider.setValue(self._steps.index(step))

    def _offer_follow(self, why: str) -> None:
        """ "Follow latest" is enabled with ``FOLLOW_TIP``, else disabled saying ``why``."""
        self.follow.setEnabled(why == FOLLOW_TIP)
        self.follow.setToolTip(why)

    # ----- slots -----------------------------------------------------------------------
    @Slot(bool)
    def _on_follow_toggled(self, on: bool) -> None:
        self.follow_toggled.emit(on)

    @Slot()
    def _on_best_clicked(self) -> None:
        if self._best is not None:
            self.follow.setChecked(False)
            self.step_chosen.emit(self._best)

    @Slot(int)
    def _on_slider_value_changed(self, index: int) -> None:
        if self._steps:
            self.follow.setChecked(False)  # the user went back: stop jumping to the newest
            self.step_chosen.emit(self._steps[index])
