"""What a run shows while it runs: loss curves, the current mask and the wanted-tag meters.

Steps arrive at the loop's pace (the light backend makes many per second). They are only
stored when they arrive; a ~30 Hz timer draws what changed since the last frame.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QGroupBox, QSplitter, QVBoxLayout, QWidget

from tagbox_gui.core.separation.tags import display_name
from tagbox_gui.core.types import Region, StepResult
from tagbox_gui.gui.widgets.loss_plot import EMPTY_TEXTS, LossPlotView
from tagbox_gui.gui.widgets.mask_view import MaskView
from tagbox_gui.gui.widgets.plain_text import keep_ampersands
from tagbox_gui.gui.widgets.tag_meters import TagMetersView

FRAME_MS = 33  # ~30 redraws per second at most
SHOWN_STEP = "the shown step"  # what the mask and the meters are of in a run; in a job, a stem's
LONGEST_NAME = 24  # characters of a stem's name in a box's title (all of it in the tooltip)


class LivePanel(QSplitter):
    """Loss plot and mask image side by side; the meters live elsewhere (``meters_box``).

    In a job the views show one stem's at a time, and their boxes say whose (:meth:`reset`,
    :meth:`name_mask`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.loss = LossPlotView()
        self.mask = MaskView()
        self.meters = TagMetersView()
        for view in (self.loss, self.mask):  # keyboard focus would swallow Space (play/pause)
            view.plot_widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # short titles (a group box is at least as wide as its title); the rest in tooltips
        self.loss_box = boxed("", self.loss)
        self.mask_box = boxed("", self.mask)
        self.meters_box = boxed("", self.meters, margin=6)  # placed by the main window
        self._mask: tuple[np.ndarray, Region | None] | None = None
        self._mask_stem: tuple[str | None] | None = None  # named with the image to be drawn
        self.name_mask(None)
        self.addWidget(self.loss_box)
        self.addWidget(self.mask_box)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)
        self._meter_values: tuple[dict, dict] | None = None
        self._drawn_steps = -1
        self.frames = 0  # redraws done (tests check the throttle with it)
        self._timer = QTimer(self, interval=FRAME_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()
        self.reset([], [])

    def reset(self, loss_keys: list[str], tags: list[str],
              empty: tuple[str, ...] = EMPTY_TEXTS, stem: str | None = None) -> None:  # fmt: skip
        """A new run: empty curves for these keys, one meter row per wanted tag; the empty
        loss plot says ``empty`` (``LossPlotView.reset``). Their boxes name the stem ``stem``
        of a job (e.g. ``the rest``), or with None the run and its shown step."""
        _name(self.loss_box, self.loss.plot_widget, "Loss", "the run" if stem is None else stem,
              "The total loss and the loss of each tagger × FFT size, per step, of {}")  # fmt: skip
        _name(self.meters_box, self.meters, "Tags", SHOWN_STEP if stem is None else stem,
              "How sure the taggers are of each wanted tag (for an example, of the tags they "
              "hear most in it) in the separated stem and in the residual, for {}")  # fmt: skip
        self.loss.reset(loss_keys, empty)
        self.meters.set_tags(tags)
        self._meter_values = None
        self._drawn_steps = -1

    def clear(self) -> None:
        """Show no run at all (a new song): no curves, no meters, no mask."""
        self.reset([], [])
        self._mask = self._mask_stem = None
        self.mask.clear()
        self.name_mask(None)

    def name_mask(self, stem: str | None) -> None:
        """Say whose mask is shown: the stem ``stem`` of a job (e.g. ``the rest``), or None:
        the shown step of a run. Where an image waits for the next frame (:meth:`show_mask`),
        its box is named then, with it, so that no frame names one stem's mask under another's."""
        if self._mask is not None:
            self._mask_stem = (stem,)
            return
        _name(self.mask_box, self.mask.plot_widget, "Mask", SHOWN_STEP if stem is None else stem,
              "The mask of {}: frequency (up) × time (across)")  # fmt: skip

    def push(self, step: StepResult, meters: bool = True) -> None:
        """Store a step (no drawing here); its tags go to the meters unless not ``meters``
        (they show another step: :meth:`show_tags`)."""
        self.loss.append(step.step, step.total, step.losses)
        if meters:
            self.show_tags(step.wanted_separated, step.wanted_residual)

    def show_tags(self, separated: dict[str, float], residual: dict[str, float]) -> None:
        """Show a step's wanted tags on the meters at the next frame."""
        self._meter_values = (_by_name(separated), _by_name(residual))

    def show_mask(self, image: np.ndarray, region: Region | None) -> None:
        """Show this mask image at the next frame."""
        self._mask = (image, region)

    @Slot()
    def _on_timer_timeout(self) -> None:
        drew = False
        if self.loss.count != self._drawn_steps:
            self.loss.refresh()
            self._drawn_steps = self.loss.count
            drew = True
        if self._meter_values is not None:
            names = list(self._meter_values[0])
            if names != list(self.meters.tags):
                self.meters.set_tags(names)
            self.meters.set_values(*self._meter_values)
            self._meter_values, drew = None, True
        if self._mask is not None:
            self.mask.set_image(*self._mask)
            self._mask, drew = None, True
            if self._mask_stem is not None:
                (stem,), self._mask_stem = self._mask_stem, None
                self.name_mask(stem)
        self.frames += drew


def _by_name(values: dict[str, float]) -> dict[str, float]:
    """Probabilities by the tag's display name (``instrument---piano`` and ``piano`` are one
    meter, their mean), in the engine's order."""
    groups: dict[str, list[float]] = {}
    for tag, value in values.items():
        groups.setdefault(display_name(tag), []).append(value)
    return {name: float(np.mean(v)) for name, v in groups.items()}


def _name(box: QGroupBox, view: QWidget, what: str, whose: str, about: str) -> None:
    """Title ``box`` "``what`` of ``whose``" (a long name cut short: the tooltip ``about``,
    with ``{}`` for ``whose``, has it whole) and name its ``view`` so."""
    short = whose if len(whose) <= LONGEST_NAME else whose[: LONGEST_NAME - 1] + "…"
    box.setTitle(keep_ampersands(f"{what} of {short}"))
    box.setToolTip(about.format(whose))
    view.setAccessibleName(f"{what} of {whose}")


def boxed(title: str, widget: QWidget, margin: int = 4) -> QGroupBox:
    """``widget`` in a titled group box (used by the main window's side column too)."""
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(margin, margin, margin, margin)
    layout.addWidget(widget)
    return box
