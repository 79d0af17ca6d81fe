"""The current mask as an image: log frequency (low at the bottom) over time, levels fixed 0..1.

Its rows are the log-spaced bands of :func:`tagbox_gui.core.dsp.display.mask_image`, on the same
frequency axis as the song's spectrogram.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QWidget

from tagbox_gui.core.dsp.display import DISPLAY_FMIN
from tagbox_gui.core.types import ANALYSIS_RATE, Region
from tagbox_gui.gui.widgets.empty_note import EmptyNote
from tagbox_gui.gui.widgets.spectrogram_view import log_frequency_plot

LOG_FMIN, LOG_FMAX = math.log10(DISPLAY_FMIN), math.log10(ANALYSIS_RATE / 2)
"""The image's y range in log10(Hz): its rows span DISPLAY_FMIN to the Nyquist frequency."""
EMPTY_MASK_TEXTS = (  # over the empty plot, the longest one that fits in its plotting area
    "No mask yet: once a run has separated the song, how much of it the stem keeps at each "
    "time and frequency (0 to 1) is drawn here.",
    "No mask yet: a run draws it here",
    "No mask yet",
)
ABOUT = "How much of the song the separated stem keeps, from 0 to 1, by time and frequency"


class MaskView(QWidget):
    """One ImageItem updated with ``setImage``; a fixed 0..1 colour bar. Before the first
    mask, a line over the plot says what will be drawn there (:data:`EMPTY_MASK_TEXTS`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget, self._image, self._bar = log_frequency_plot((0.0, 1.0), "viridis", "mask")
        self.plot_widget.setAccessibleName("Mask of the shown step")
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        # before the first mask: its frequency range, no time axis to read, and what will come
        self.plot_item.setYRange(LOG_FMIN, LOG_FMAX, padding=0.0)
        self.empty = EmptyNote(
            self, self.plot_widget, self.plot_item.getViewBox(), EMPTY_MASK_TEXTS, ABOUT
        )
        self._frame: tuple[tuple[int, int], Region | None] | None = None
        self.clear()

    @property
    def image(self) -> np.ndarray | None:
        """The array on screen (bands, frames), or None before the first mask."""
        return self._image.image

    def clear(self) -> None:
        """Show no mask (as before the first one)."""
        self._image.clear()
        self._frame = None
        self.plot_item.getAxis("bottom").setStyle(showValues=False)
        self.plot_item.showLabel("bottom", False)
        self.empty.set_shown(True)

    def set_image(self, mask: np.ndarray, region: Region | None = None) -> None:
        """Show ``mask`` (log-frequency bands, frames) in [0, 1]; with ``region`` the x axis
        is in seconds, else in frames."""
        if mask.ndim != 2:
            raise ValueError(f"a mask image is 2-D (bands, frames), got shape {mask.shape}")
        self._image.setImage(np.asarray(mask, dtype=np.float32), autoLevels=False)
        self._image.setLevels((0.0, 1.0))
        self.empty.set_shown(False)
        frame = (mask.shape, region)
        if frame != self._frame:  # only re-frame (and reset the zoom) when the layout changed
            self._frame = frame
            frames, height = mask.shape[1], LOG_FMAX - LOG_FMIN
            self.plot_item.getAxis("bottom").setStyle(showValues=True)
            if region is None:
                self._image.setRect(QRectF(0.0, LOG_FMIN, frames, height))
                self.plot_item.setLabel("bottom", "frame")
            else:
                self._image.setRect(QRectF(region.start, LOG_FMIN, region.duration, height))
                self.plot_item.setLabel("bottom", "time", units="s")
            self.plot_item.getViewBox().autoRange(padding=0.0)
