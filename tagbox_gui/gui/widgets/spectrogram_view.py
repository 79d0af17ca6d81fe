"""Log-frequency spectrogram of the song, computed off the GUI thread."""

from __future__ import annotations

import logging
import math
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from tagbox_gui.core.dsp.display import DISPLAY_FMIN, log_band_matrix
from tagbox_gui.gui.background import run_in_background
from tagbox_gui.gui.widgets.waveform_view import WaveformView, seek_on_click

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

log = logging.getLogger(__name__)

FLOOR_DB = -90.0
FREQ_TICKS = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)


@dataclass(frozen=True)
class Spectrogram:
    """dB magnitude re the loudest cell, ``image`` float32 (bins, frames), log-spaced bins."""

    image: np.ndarray
    seconds_per_frame: float
    fmin: float
    fmax: float

    @property
    def duration(self) -> float:
        return self.image.shape[1] * self.seconds_per_frame


def compute_spectrogram(
    data: np.ndarray,
    rate: int,
    n_bins: int = 256,
    fmin: float = DISPLAY_FMIN,
    max_frames: int = 4000,
) -> Spectrogram:
    """STFT of the mono mix-down mapped to ``n_bins`` log-spaced bands (pure numpy, no Qt).

    The window spans ~46 ms at any rate; the hop grows with the song so there are at most
    ``max_frames`` columns, which keeps a 3 minute song well under a second.
    """
    from scipy import fft as sfft  # imported here (in the worker): scipy costs ~0.4 s to import
    from scipy import sparse

    mono = _mix_down(np.asarray(data, dtype=np.float32))
    n_fft = 1 << max(6, round(math.log2(0.046 * rate)))
    hop = max(n_fft // 4, -(-mono.size // max_frames))
    padded = np.pad(mono, (n_fft // 2, n_fft // 2))  # centred frames: frame i is at i * hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    count = frames.shape[0]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    # each band averages a few FFT bins: a sparse product is ~10x cheaper than a dense one
    bands = sparse.csr_matrix(log_band_matrix(n_fft, rate, n_bins, fmin, rate / 2))
    power = np.empty((n_bins, count), dtype=np.float32)
    for start in range(0, count, 512):  # bounded memory for long songs
        block = sfft.rfft(frames[start : start + 512] * window, axis=1)
        power[:, start : start + 512] = bands @ (block.real**2 + block.imag**2).T
    peak = float(power.max())
    if peak <= 1e-20:  # silence: nothing to be loud relative to, so all of it at the floor
        db = np.full_like(power, FLOOR_DB - 30.0)
    else:
        db = 10.0 * np.log10(np.maximum(power, 1e-20) / peak)
    return Spectrogram(np.maximum(db, FLOOR_DB - 30.0), hop / rate, fmin, rate / 2)


def _right_gap(item: pg.PlotItem) -> float:
    """Pixels between the right edge of a plot's view box and the plot's right edge."""
    return item.geometry().width() - item.getViewBox().geometry().right()


def _tagged_spectrogram(
    token: int, data: np.ndarray, rate: int
) -> tuple[int, Spectrogram | Exception]:
    """The spectrogram, or what stopped it (out of memory, say), for the song set as ``token``."""
    try:
        return token, compute_spectrogram(data, rate)
    except Exception as exc:
        return token, exc


def failure_text(exc: Exception) -> str:
    """What the view says in place of a spectrogram that could not be computed."""
    if isinstance(exc, MemoryError):
        return "No spectrogram: there was not enough memory to compute it."
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"No spectrogram: computing it failed ({detail})."


def _mix_down(data: np.ndarray) -> np.ndarray:
    """Mono mean of the channels (channel by channel: ``mean(axis=1)`` is ~20x slower here)."""
    if data.ndim == 1:
        return data
    mono = data[:, 0].copy()
    for channel in range(1, data.shape[1]):
        mono += data[:, channel]
    mono *= 1.0 / data.shape[1]
    return mono


class LogFrequencyAxis(pg.AxisItem):
    """Axis whose values are log10(Hz), labelled in Hz / kHz.

    Decades (100 Hz, 1 kHz, 10 kHz) come first; the other ticks of :data:`FREQ_TICKS` are
    added only where their labels keep :attr:`LABEL_GAP_PX` from every label already there,
    so a short plot shows fewer labels rather than labels on top of each other.
    """

    LABEL_GAP_PX = 14.0

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:
        per_unit = size / max(maxVal - minVal, 1e-9)  # pixels per decade
        inside = [math.log10(f) for f in FREQ_TICKS if minVal <= math.log10(f) <= maxVal]
        kept: list[float] = []
        for value in sorted(inside, key=lambda v: not float(v).is_integer()):  # decades first
            if all(abs(value - k) * per_unit >= self.LABEL_GAP_PX for k in kept):
                kept.append(value)
        return [(1.0, sorted(kept))]

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:
        out = []
        for value in values:
            hz = 10**value
            out.append(f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:.0f}")
        return out


def log_frequency_plot(
    levels: tuple[float, float], color_map: str, label: str
) -> tuple[pg.PlotWidget, pg.ImageItem, pg.ColorBarItem]:
    """A plot whose y axis is log10(Hz), labelled in Hz, holding one row-major image (rows =
    frequency) with a fixed, non-interactive colour bar over ``levels``."""
    widget = pg.PlotWidget(axisItems={"left": LogFrequencyAxis("left")})
    item = widget.getPlotItem()
    item.setMenuEnabled(False)
    item.hideButtons()
    axis = item.getAxis("left")
    axis.setWidth(48)
    axis.enableAutoSIPrefix(False)  # its values are log10(Hz): no "(x0.001)" on the label
    item.setLabel("left", "Hz")
    # room above the plot for the upper half of the top labels (the colour bar's top level),
    # and below it for the lower half of the bottom ones however short the x axis is (the mask
    # has no x values before its first image)
    half_line = math.ceil(QFontMetricsF(axis.font()).height() / 2)
    item.layout.setContentsMargins(1, half_line, 1, 1)
    item.layout.setRowMinimumHeight(3, half_line)  # the x axis's row
    image = pg.ImageItem(axisOrder="row-major")
    item.addItem(image)
    bar = pg.ColorBarItem(values=levels, colorMap=color_map, interactive=False, label=label,
                          width=12)  # fmt: skip
    bar.setImageItem(image, insert_in=item)
    _keep_labels_apart(bar.axis, levels)
    return widget, image, bar


BAR_STEPS = (1.0, 2.0, 2.5, 5.0)
"""A colour bar's tick steps, times a power of ten."""


def bar_ticks(levels: tuple[float, float], length: float, gap: float) -> list[float]:
    """The values labelled on a colour bar over ``levels`` that is ``length`` pixels long.

    They are the multiples of the finest step (:data:`BAR_STEPS`, at least a fifth of the range,
    as pyqtgraph's own) whose labels lie ``gap`` pixels apart or more; none when not even two
    labels fit. A short bar shows fewer labels, a very short one none: never one on another.
    """
    low, high = sorted(levels)
    span = high - low
    if span <= 0 or length <= 0:
        return []
    unit = 10.0 ** math.floor(math.log10(span / 5))
    for step in (m * unit * 10**k for k in range(3) for m in BAR_STEPS):
        if step < span / 5 * (1 - 1e-9) or step * length / span < gap:
            continue
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        return [round(k * step, 12) for k in range(first, last + 1)] if last > first else []
    return []


def _keep_labels_apart(axis: pg.AxisItem, levels: tuple[float, float]) -> None:
    """Give a colour bar's axis the ticks of :func:`bar_ticks` whenever its length changes,
    one line of its labels' font apart."""

    def fit() -> None:
        gap = QFontMetricsF(axis.style["tickFont"] or axis.font()).height()
        values = bar_ticks(levels, axis.geometry().height(), gap)
        axis.setTicks([[(value, f"{value:g}") for value in values]])

    axis.geometryChanged.connect(fit)
    fit()


class SpectrogramView(QWidget):
    """One ImageItem with fixed levels (-90..0 dB) and a colour bar; playhead; linkable x.

    ``set_song`` computes in a worker thread and emits ``spectrogram_shown`` when the image
    is on screen; a newer song drops the result of an older one. When computing fails, the
    view says so in :attr:`message` (the exception is logged) and emits
    ``spectrogram_failed(str)`` with that text; the next song is computed as usual.
    ``seek_requested(float)`` (seconds) on a left click in the plot, as on the waveform.
    """

    spectrogram_shown = Signal()
    spectrogram_failed = Signal(str)
    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._token = 0
        self._linked: WaveformView | None = None
        self._duration = 0.0  # of the song (its spectrogram may still be computing)
        self.spectrogram: Spectrogram | None = None
        self.plot_widget, self._image, self._bar = log_frequency_plot(
            (FLOOR_DB, 0.0), "inferno", "dB"
        )
        self.plot_widget.setAccessibleName("Spectrogram of the song")
        self.plot_widget.setAccessibleDescription("The song's level in dB by time and frequency")
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        self._playhead = pg.InfiniteLine(
            pos=0.0, angle=90, movable=False, pen=pg.mkPen("#ffcc33", width=2)
        )
        self._playhead.setZValue(20)
        self.plot_item.addItem(self._playhead)
        seek_on_click(self.plot_widget, lambda: self._duration, self.seek_requested)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #d08a2a;")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        layout.addWidget(self.message)

    def set_song(self, song: Song) -> None:
        """Compute the song's spectrogram in the background, then show it.

        Meanwhile the view is empty, over the new song's length: the old song's image is not
        shown under the new song's waveform.
        """
        self.spectrogram = None
        self._duration = song.duration
        self._image.clear()
        self.message.hide()
        view = self.plot_item.getViewBox()
        view.setLimits(xMin=0.0, xMax=song.duration)  # the old song's clamped the linked x
        view.setXRange(0.0, song.duration, padding=0.0)
        self._token += 1
        token = self._token
        run_in_background(_tagged_spectrogram, token, np.asarray(song.data), song.rate,
                          then=self._on_computed)  # fmt: skip

    def set_spectrogram(self, spec: Spectrogram) -> None:
        """Show an already computed spectrogram (the view keeps fixed levels)."""
        self.spectrogram = spec
        self.message.hide()
        self._image.setImage(spec.image, autoLevels=False)
        self._image.setLevels((FLOOR_DB, 0.0))
        low, high = math.log10(spec.fmin), math.log10(spec.fmax)
        # pixel i is centred on frame i, which starts half a frame before its centre
        left = -spec.seconds_per_frame / 2
        self._image.setRect(QRectF(left, low, spec.duration, high - low))
        view = self.plot_item.getViewBox()
        view.setLimits(xMin=0.0, xMax=spec.duration, yMin=low, yMax=high, minXRange=0.005)
        view.setRange(xRange=(0.0, spec.duration), yRange=(low, high), padding=0.0)
        self.spectrogram_shown.emit()

    def link_x(self, waveform_view: WaveformView) -> None:
        """Zoom and pan in time together with ``waveform_view``.

        pyqtgraph links views by screen position, so the waveform gets a right margin as wide
        as the colour bar: stacked with the same width, both show the same time range and
        their playheads line up.
        """
        self._linked = waveform_view
        self.plot_item.setXLink(waveform_view.plot_item)
        self.plot_item.getViewBox().sigResized.connect(self._on_view_resized)
        waveform_view.plot_item.getViewBox().sigResized.connect(self._on_view_resized)
        self._on_view_resized()

    def set_playhead(self, seconds: float) -> None:
        self._playhead.setValue(seconds)

    def _on_view_resized(self, *_: object) -> None:
        if self._linked is None:
            return
        wave_item = self._linked.plot_item
        gap = _right_gap(self.plot_item) - _right_gap(wave_item)
        if abs(gap) >= 1.0:
            self._linked.set_right_margin(self._linked.right_margin() + gap)

    def _on_computed(self, done: Future[tuple[int, Spectrogram | Exception]]) -> None:
        token, spec = done.result()  # what stopped it comes as a value, with its token
        if isinstance(spec, Exception):
            log.error("cannot compute the spectrogram", exc_info=spec)
            if token == self._token:
                text = failure_text(spec)
                self.message.setText(text)
                self.message.show()
                self.spectrogram_failed.emit(text)
        elif token == self._token:  # a newer song may have been set meanwhile
            self.set_spectrogram(spec)
