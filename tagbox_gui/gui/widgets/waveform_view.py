"""Overview of the whole song: peak envelope, region selector, playhead, click to seek."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import QVBoxLayout, QWidget

from tagbox_gui.core.types import Region

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

MAX_BUCKETS = 1 << 17
"""Buckets of the precomputed envelope: fine enough to zoom to ~1 ms on a 3 minute song."""

PLAYHEAD_PEN = pg.mkPen("#ffcc33", width=2)
WAVE_PEN = pg.mkPen("#5fb3e8", width=1)


def peak_envelope(
    data: np.ndarray, rate: int, max_buckets: int = MAX_BUCKETS
) -> tuple[np.ndarray, np.ndarray]:
    """Min/max of all channels per bucket, interleaved as one curve ``(x seconds, y)``.

    Drawn as a line, the alternating min and max of each bucket fill the envelope, and
    pyqtgraph's peak downsampling keeps that shape when it reduces the curve to the screen.
    """
    data = data if data.ndim == 2 else data[:, None]
    frames = data.shape[0]
    bucket = max(1, -(-frames // max_buckets))
    full = frames // bucket
    body = data[: full * bucket].reshape(full, bucket * data.shape[1])
    lows, highs = body.min(axis=1), body.max(axis=1)
    if full * bucket < frames:  # a shorter last bucket
        tail = data[full * bucket :]
        lows = np.append(lows, tail.min())
        highs = np.append(highs, tail.max())
    count = lows.shape[0]
    y = np.empty(2 * count, dtype=np.float32)
    y[0::2], y[1::2] = lows, highs
    starts = np.arange(count, dtype=np.float64) * bucket / rate
    x = np.repeat(starts, 2)
    x[1::2] += min(bucket, frames) / (2 * rate)  # max half a bucket later keeps x increasing
    return x, y


def seek_on_click(
    plot_widget: pg.PlotWidget, duration: Callable[[], float], seek: SignalInstance
) -> None:
    """Make a left click in ``plot_widget``'s plot emit ``seek`` with the time clicked, in
    seconds (clamped to ``duration()``; nothing while it is 0): the waveform's and the
    spectrogram's click to seek, which share the time axis."""
    view = plot_widget.getPlotItem().getViewBox()

    def clicked(event) -> None:  # pyqtgraph MouseClickEvent
        length = duration()
        if event.button() != Qt.MouseButton.LeftButton or length <= 0:
            return
        if not view.sceneBoundingRect().contains(event.scenePos()):
            return
        seconds = view.mapSceneToView(event.scenePos()).x()
        seek.emit(float(min(max(seconds, 0.0), length)))

    plot_widget.scene().sigMouseClicked.connect(clicked)


class WaveformView(QWidget):
    """The song's waveform with a draggable region and a playhead.

    Signals: ``region_changed(Region)`` when the user finishes moving the region;
    ``seek_requested(float)`` (seconds) on a left click in the plot.
    """

    region_changed = Signal(object)
    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._duration = 0.0
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setAccessibleName("Waveform of the song")
        self.plot_widget.setAccessibleDescription(
            "The song over time, with the region and the playhead"
        )
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.plot_item.getAxis("left").setWidth(48)  # same width as the spectrogram's axis
        self.plot_item.setLabel("bottom", "time", units="s")
        view = self.plot_item.getViewBox()
        view.setMouseEnabled(x=True, y=False)  # zoom and pan in time only
        # On the PlotItem, not the curve: PlotItem.addItem overwrites a curve's own settings.
        self.plot_item.setDownsampling(auto=True, mode="peak")
        self.plot_item.setClipToView(True)
        self._curve = pg.PlotDataItem(pen=WAVE_PEN)
        self.plot_item.addItem(self._curve)
        self._region = pg.LinearRegionItem(brush=pg.mkBrush(255, 255, 255, 40))
        self._region.setZValue(10)
        self._region.setVisible(False)
        self._region.sigRegionChangeFinished.connect(self._on_region_change_finished)
        self.plot_item.addItem(self._region)
        self._playhead = pg.InfiniteLine(pos=0.0, angle=90, movable=False, pen=PLAYHEAD_PEN)
        self._playhead.setZValue(20)
        self.plot_item.addItem(self._playhead)
        seek_on_click(self.plot_widget, lambda: self._duration, self.seek_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    @property
    def duration(self) -> float:
        return self._duration

    def set_song(self, song: Song, envelope: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Show ``song``: its envelope, the whole song in view, the region hidden.

        ``envelope`` is :func:`peak_envelope` of the song when already computed (off the GUI
        thread, by the song loader); otherwise it is computed here.
        """
        x, y = envelope if envelope is not None else peak_envelope(np.asarray(song.data), song.rate)
        self._duration = song.duration
        self._curve.setData(x, y)
        peak = max(float(np.abs(y).max()), 1e-3)
        view = self.plot_item.getViewBox()
        view.setLimits(
            xMin=0.0, xMax=self._duration, minXRange=min(0.005, self._duration), maxXRange=None
        )
        view.setXRange(0.0, self._duration, padding=0.0)
        view.setYRange(-peak, peak, padding=0.05)
        self._region.setBounds((0.0, self._duration))
        self._region.setVisible(False)
        self._playhead.setValue(0.0)

    def set_right_margin(self, pixels: float) -> None:
        """Leave ``pixels`` empty right of the plot (to line up with a plot with a colour bar)."""
        axis = self.plot_item.getAxis("right")
        if pixels <= 0:
            self.plot_item.hideAxis("right")
            return
        self.plot_item.showAxis("right")
        axis.setStyle(showValues=False, tickLength=0)
        axis.setPen(None)
        axis.setWidth(round(pixels))

    def right_margin(self) -> float:
        axis = self.plot_item.getAxis("right")
        return float(axis.width()) if axis.isVisible() else 0.0

    def region(self) -> Region | None:
        """The selected region, or None when none is shown."""
        if not self._region.isVisible():
            return None
        start, end = sorted(self._region.getRegion())
        return Region(float(start), float(end))

    def set_region(self, region: Region | None) -> None:
        """Show (or hide with None) the region without emitting ``region_changed``."""
        if region is None:
            self._region.setVisible(False)
            return
        start = min(max(region.start, 0.0), self._duration)
        end = min(max(region.end, start), self._duration)
        self._region.blockSignals(True)
        try:
            self._region.setRegion((start, end))
        finally:
            self._region.blockSignals(False)
        self._region.setVisible(True)

    def set_playhead(self, seconds: float) -> None:
        """Move the playhead line (cheap: one item moves)."""
        self._playhead.setValue(seconds)

    def playhead(self) -> float:
        return float(self._playhead.value())

    def _on_region_change_finished(self) -> None:
        region = self.region()
        if region is not None:
            self.region_changed.emit(region)
