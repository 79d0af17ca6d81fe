"""Loss curves of a run: the total (thick) and each tagger x FFT size (thin), a legend above;
a dashed line at the step heard where it is not the newest one followed (:meth:`mark_step`),
and a step far above all the others left out of the loss axis's range, marked ▲ at its top
(:func:`outlying`)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from tagbox_gui.gui.widgets.empty_note import EmptyNote

TOTAL_KEY = "total"
_STEPS = "Settings\u00a0▸\u00a0Steps"  # no line break inside
EMPTY_TEXTS = (  # over the empty plot, the longest one that fits in its plotting area
    f"No steps yet: a run with steering steps ({_STEPS}) draws its losses here.",
    f"No steps yet ({_STEPS})",
    "No steps yet",
)
ONE_PASS_TEXTS = (  # a run or a job's part of one pass (Steps 0): no steps will come
    f"One pass of the learned separator: no steps, so no losses. A run with steering steps "
    f"({_STEPS}) draws them here.",
    f"One pass: no steps ({_STEPS})",
    "One pass: no steps",
)
REST_TEXTS = (  # after a job, its rest: what no part's mask took, steered by none
    "The rest is what no instrument took: no part steered it, so it has no losses.",
    "The rest: no steps",
    "No steps",
)
ABOUT = "The total loss and the loss of each tagger and FFT size at every step of a steered run"
GAP = 100.0
"""Steps whose losses are more than this (two decades) above those of every other step are
left out of the loss axis's range (:func:`outlying`), where they would squash the rest flat."""


def outlying(values: np.ndarray) -> np.ndarray:
    """Which rows (steps) of ``values`` (steps x losses) the loss axis leaves out: those whose
    highest loss is over :data:`GAP` times the highest of every step kept, at most half the
    steps (a few isolated ones). A curve falling step by step, however far, has no such gap."""
    highs = np.where(np.isfinite(values), values, -np.inf).max(axis=1, initial=-np.inf)
    ranked = np.sort(highs)[::-1]
    below = ranked[1 : len(ranked) // 2 + 1]
    gaps = np.flatnonzero((below > 0) & (ranked[: len(below)] > GAP * below))
    if not gaps.size:
        return np.zeros(len(highs), dtype=bool)
    return highs > below[gaps[-1]]  # cut above the lowest gap: the most steps readable


class StepAxis(pg.AxisItem):
    """An axis of steps: ticks at whole steps only (no step 1.5 early in a run)."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list:  # pyqtgraph's
        levels = super().tickSpacing(minVal, maxVal, size)
        return [level for level in levels if level[0] >= 1] or [(1.0, 0.0)]


class LossPlotView(QWidget):
    """Stores losses as they arrive (:meth:`append`, no drawing) and draws on :meth:`refresh`.

    The caller throttles ``refresh`` (<= 30 Hz); each refresh hands pyqtgraph views of
    preallocated arrays, so a step costs a row write and a redraw costs one setData per curve.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # the legend in a row of its own above the plot, where it covers no curve
        self.plot_widget = pg.GraphicsLayoutWidget()
        self.plot_widget.setAccessibleName("Loss curves")
        self._legend = pg.LegendItem(labelTextSize="8pt", colCount=3)  # across: a short plot
        self._legend.layout.setContentsMargins(4, 0, 4, 0)
        self.plot_widget.addItem(self._legend, row=0, col=0)
        self.plot_item: pg.PlotItem = self.plot_widget.addPlot(
            row=1, col=0, axisItems={"bottom": StepAxis("bottom")}
        )
        rows = self.plot_widget.ci.layout
        rows.setRowStretchFactor(1, 1)  # the plot takes the height the legend leaves
        rows.setContentsMargins(0, 2, 0, 0)
        rows.setVerticalSpacing(0)
        self.plot_item.setMenuEnabled(False)
        self.plot_item.setLabel("bottom", "step")
        self.plot_item.setLabel("left", "loss")
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)  # 0.55, not 550 "(x0.001)"
        self._keys: list[str] = []
        self._curves: list[pg.PlotDataItem] = []
        self._steps = np.empty(0)
        self._values = np.empty((0, 0))
        self._count = 0
        self._drawn = -1
        # the step heard where it is not the newest one followed (mark_step)
        dashed = pg.mkPen((255, 200, 60), width=1, style=Qt.PenStyle.DashLine)
        self.mark = pg.InfiniteLine(angle=90, movable=False, pen=dashed)
        self.mark.setVisible(False)
        self.plot_item.addItem(self.mark, ignoreBounds=True)
        self.marked_step: int | None = None
        # at the top, the steps left out of the loss axis's range (see outlying)
        self.cut_marks = pg.ScatterPlotItem(symbol="t1", size=9, pen=None, brush="w")
        self.cut_marks.setVisible(False)
        self.plot_item.addItem(self.cut_marks, ignoreBounds=True)
        self.cut_steps: tuple[int, ...] = ()
        self._zoomed = False  # the musician's zoom or pan holds the range until reset()
        self.plot_item.getViewBox().sigRangeChangedManually.connect(self._on_zoomed)
        # over the empty plot, a line saying what will be drawn (a single pass has no steps)
        self.empty = EmptyNote(
            self, self.plot_widget, self.plot_item.getViewBox(), EMPTY_TEXTS, ABOUT
        )
        self.reset([])

    @property
    def keys(self) -> tuple[str, ...]:
        """Loss keys in column order (the total first)."""
        return tuple(self._keys)

    @property
    def count(self) -> int:
        """Steps stored so far."""
        return self._count

    def reset(self, keys: list[str], empty: tuple[str, ...] = EMPTY_TEXTS) -> None:
        """Forget all steps and create one curve per loss key, plus the total; until a step
        comes the plot says ``empty`` (its longest form that fits), e.g. :data:`ONE_PASS_TEXTS`
        where none will come."""
        self.empty.set_texts(empty)
        for curve in self._curves:
            self.plot_item.removeItem(curve)
        self._legend.clear()
        self._keys, self._curves = [], []
        self._steps = np.empty(256)
        self._values = np.empty((256, 0))
        self._count, self._drawn = 0, -1
        self.mark_step(None)
        self._cut(np.zeros(0, dtype=bool))
        self._zoomed = False
        self.plot_item.getViewBox().enableAutoRange()  # a new run: all of it, whatever zoom
        for key in [TOTAL_KEY, *keys]:
            self._add_curve(key)
        self._show_empty(True)

    def append(self, step: int, total: float, losses: dict[str, float]) -> None:
        """Store one step; keys not given to :meth:`reset` get a curve of their own."""
        for key in losses:
            if key not in self._keys:
                self._add_curve(key)
        if self._count == self._steps.shape[0]:
            self._grow()
        row = self._values[self._count]
        row[0] = total
        for column, key in enumerate(self._keys[1:], start=1):
            row[column] = losses.get(key, math.nan)
        self._steps[self._count] = step
        self._count += 1

    def refresh(self) -> None:
        """Push the stored steps to the curves (nothing to do when no step came since)."""
        if self._drawn == self._count:
            return
        steps = self._steps[: self._count]
        symbol = "o" if self._count == 1 else None  # one step has no line: a dot marks it
        for column, curve in enumerate(self._curves):
            curve.setData(steps, self._values[: self._count, column], symbol=symbol)
        self._legend.update()  # its samples show the dots only while the curves have them
        self._drawn = self._count
        out = outlying(self._values[: self._count])
        self._cut(out)
        if self._count and not self.empty.isHidden():  # the first steps since reset()
            self._show_empty(False)
        if self._count:  # the newest numbers, for a screen reader
            step, total = self._steps[self._count - 1], self._values[self._count - 1, 0]
            highest = np.nanmax(self._values[: self._count][out], axis=1)
            cut = "".join(f". Step {s:g} ({h:.4g}) is above the plot"
                          for s, h in zip(steps[out], highest, strict=True))  # fmt: skip
            self.plot_widget.setAccessibleDescription(
                f"{ABOUT}. Step {step:g}: total {total:.4g}{cut}"
            )

    def _cut(self, out: np.ndarray) -> None:
        """Leave the steps ``out`` (:func:`outlying`) out of the loss axis's range, marked at
        its top, the axis saying so; with none out, the range is all the steps (autorange). A range
        the musician zoomed or panned to is left alone."""
        steps = self._steps[: len(out)]
        was_cut, self.cut_steps = self.cut_steps, tuple(int(s) for s in steps[out])
        if bool(was_cut) != bool(self.cut_steps):
            self.plot_item.setLabel("left", "loss (\u25b2 cut)" if self.cut_steps else "loss")
            self.cut_marks.setVisible(bool(self.cut_steps))
        box = self.plot_item.getViewBox()
        if not self.cut_steps:
            if was_cut:
                self.cut_marks.clear()
                box.enableAutoRange(axis="y")
            return
        kept = self._values[: len(out)][~out]
        low, high = float(np.nanmin(kept)), float(np.nanmax(kept))
        pad = 0.05 * (high - low or abs(high) or 1.0)
        if not self._zoomed:
            box.setYRange(low - pad, high + pad, padding=0)
        self.cut_marks.setData(steps[out], np.full(len(self.cut_steps), high + pad / 2))

    def _on_zoomed(self) -> None:
        self._zoomed = True

    def mark_step(self, step: int | None) -> None:
        """Mark the step heard with a line across the plot at it; None: no mark (the run's
        newest step is followed, or there is no step)."""
        self.marked_step = step
        if step is not None:
            self.mark.setValue(step)
        self.mark.setVisible(step is not None)

    def _show_empty(self, empty: bool) -> None:
        """With no step drawn: the line over a bare plot (no axis values, no legend)."""
        self.empty.set_shown(empty)
        self._legend.setVisible(not empty)
        for side in ("left", "bottom"):
            self.plot_item.getAxis(side).setStyle(showValues=not empty)

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the stored ``(steps, values)`` of one key (``total`` for the total)."""
        column = self._keys.index(key)
        return self._steps[: self._count].copy(), self._values[: self._count, column].copy()

    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """What the curve of ``key`` currently draws (as of the last refresh)."""
        x, y = self._curves[self._keys.index(key)].getData()
        empty = np.empty(0)
        return (empty, empty) if x is None else (np.asarray(x), np.asarray(y))

    def _add_curve(self, key: str) -> None:
        if key == TOTAL_KEY:
            pen = pg.mkPen("w", width=3)
        else:
            pen = pg.mkPen(pg.intColor(len(self._keys) - 1, hues=9, values=1), width=1)
        curve = self.plot_item.plot(
            pen=pen,
            connect="finite",
            symbolSize=pen.width() + 4,
            symbolPen=pen,
            symbolBrush=pen.color(),
        )
        self._legend.addItem(curve, key)
        self._keys.append(key)
        self._curves.append(curve)
        column = np.full((self._values.shape[0], 1), math.nan)
        self._values = np.hstack([self._values, column])
        self._drawn = -1

    def _grow(self) -> None:
        # Doubling keeps appends O(1) amortised; curves hold views of the old arrays,
        # which stay valid until the next refresh replaces them.
        size = 2 * self._steps.shape[0]
        steps, values = np.empty(size), np.full((size, self._values.shape[1]), math.nan)
        steps[: self._count] = self._steps[: self._count]
        values[: self._count] = self._values[: self._count]
        self._steps, self._values = steps, values
