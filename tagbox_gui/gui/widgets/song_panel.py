"""The song: its name and format, waveform and spectrogram, and the region a run covers."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.core.audio.song import MIN_AUDIO_SECONDS, SUPPORTED, Song, loudest_region
from tagbox_gui.core.types import Example, Region
from tagbox_gui.gui.widgets.elided_label import ElidedLabel
from tagbox_gui.gui.widgets.flow_layout import FlowLayout, group
from tagbox_gui.gui.widgets.run_panel import clock
from tagbox_gui.gui.widgets.shortcuts import OPEN, shown
from tagbox_gui.gui.widgets.spectrogram_view import SpectrogramView
from tagbox_gui.gui.widgets.waveform_view import WaveformView

DEFAULT_REGION_SECONDS = 20.0
ZOOM_TIP = "Show the region only (wheel: zoom, drag: pan)"
ZOOM_UNUSED = "Nothing to zoom to: the whole song is run, not the region"
ZOOM_WHOLE = "Nothing to zoom to: the region is the whole song"


def describe(song: Song) -> str:
    """``3:12 · 44.1 kHz · stereo · FLAC PCM_16``."""
    channels = {1: "mono", 2: "stereo"}.get(song.channels, f"{song.channels} channels")
    rate = f"{song.rate / 1000:g} kHz"
    return f"{clock(song.duration)} · {rate} · {channels} · {song.format} {song.subtype}"


class SongPanel(QWidget):
    """Shows a song; ``region_changed(Region)`` when the user moves or types the region."""

    region_changed = Signal(object)
    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.song: Song | None = None
        self._examples_taken = False  # see set_examples_taken
        self.title = ElidedLabel()  # a long name is cut short, not the window widened
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.details = ElidedLabel()
        self.waveform = WaveformView()
        self.spectrogram = SpectrogramView()
        self.spectrogram.link_x(self.waveform)
        for view in (self.waveform, self.spectrogram):  # plots need the mouse, not the keys:
            view.plot_widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space stays play/pause
        self.start = _seconds_box("Region start")
        self.end = _seconds_box("Region end")
        self.length = QLabel()
        self.loudest = QPushButton(f"Loudest &{DEFAULT_REGION_SECONDS:g} s")
        self.loudest.setToolTip("Select the loudest stretch of the song")
        self.zoom = QPushButton("Zoom to region")
        self.zoom.setToolTip(ZOOM_TIP)
        self.show_all = QPushButton("Show all")
        self.whole_song = QCheckBox("R&un on the whole song")
        self.whole_song.setToolTip("Separate the whole song instead of the region (slower)")
        self.as_example = QCheckBox("Use the region as the e&xample")
        self.as_example.setToolTip(
            "Learned separator: separate, in the whole song, what sounds like the region "
            "(for an instrument no tag names, or to pick one of two)"
        )
        self.stack = QStackedWidget()
        self._build_layout()
        self.waveform.region_changed.connect(self._on_waveform_region_changed)
        self.waveform.seek_requested.connect(self.seek_requested)
        self.spectrogram.seek_requested.connect(self.seek_requested)
        for box in (self.start, self.end):  # each arrow or page key; a typed time once entered
            box.valueChanged.connect(self._on_box_edited)
        self.loudest.clicked.connect(self._on_loudest_clicked)
        self.whole_song.toggled.connect(self._on_whole_song_toggled)
        self.as_example.toggled.connect(self._on_as_example_toggled)
        self.zoom.clicked.connect(self._on_zoom_clicked)
        self.show_all.clicked.connect(self._on_show_all_clicked)

    def _build_layout(self) -> None:
        empty = QLabel(
            f"<h2>Open a song</h2><p>File ▸ Open ({shown(OPEN)}), or drop a {SUPPORTED} file "
            "here.</p>"
        )
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)  # the window may be narrower than its one line
        empty.setStyleSheet("color: palette(placeholder-text);")
        views = self.views = QSplitter(Qt.Orientation.Vertical)  # the window remembers it
        views.addWidget(self.waveform)
        views.addWidget(self.spectrogram)
        views.setStretchFactor(0, 1)
        views.setStretchFactor(1, 2)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.details, 1)
        region = FlowLayout()  # wraps on a narrow window rather than widening it
        caption, to = QLabel("Re&gion"), QLabel("to")
        caption.setBuddy(self.start)  # Alt+G; the boxes keep their own fuller names
        to.setBuddy(self.end)
        region.addWidget(group(caption, self.start, to, self.end, self.length))
        region.addWidget(group(self.loudest, None, self.zoom, self.show_all))
        use = QHBoxLayout()  # a row of its own: one row of everything is wider than 1280 px allow
        use.addStretch(1)
        use.addWidget(self.whole_song)
        use.addWidget(self.as_example)
        song = QWidget()
        column = QVBoxLayout(song)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(header)
        column.addWidget(views, 1)
        column.addLayout(region)
        column.addLayout(use)
        self.stack.addWidget(empty)
        self.stack.addWidget(song)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stack)

    # ----- public API ------------------------------------------------------------------
    def set_song(
        self,
        song: Song,
        region: Region | None = None,
        envelope: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Show ``song`` with ``region`` selected (default: the loudest 20 s).

        ``region`` and the waveform ``envelope`` may come precomputed from a worker thread.
        """
        self.song = song
        self.title.setText(song.name)
        self.details.setText(describe(song))
        self.details.setToolTip(str(song.path))
        self.waveform.set_song(song, envelope)
        self.spectrogram.set_song(song)
        for box in (self.start, self.end):
            with QSignalBlocker(box):  # a value past the new end: set_region sets it below
                box.setRange(0.0, song.duration)
        self.stack.setCurrentIndex(1)
        self.set_region(region or loudest_region(song, DEFAULT_REGION_SECONDS))

    def region(self) -> Region | None:
        """The selected region, or None when the whole song is to be run."""
        if self.song is None or self.whole_song.isChecked() or self.as_example.isChecked():
            return None
        return Region(self.start.value(), self.end.value())

    def example(self) -> Example | None:
        """The region as the example clip of the run, when "Use the region as the example"."""
        if self.song is None or not self.as_example.isChecked():
            return None
        return Example(None, self.start.value(), self.end.value())

    def set_region(self, region: Region) -> None:
        """Select ``region`` (clamped to the song; at least half a second long)."""
        if self.song is None:
            return
        duration = self.song.duration
        last = _hundredths_down(duration)  # the boxes' 2 decimals, not past the end
        start = min(max(region.start, 0.0), max(0.0, duration - MIN_AUDIO_SECONDS))
        start = min(_hundredths_down(start), last)  # down: half a second still fits after it
        end = max(round(region.end, 2), round(start + MIN_AUDIO_SECONDS, 2))
        region = Region(start, max(start, min(end, last)))
        for box, seconds in ((self.start, region.start), (self.end, region.end)):
            with QSignalBlocker(box):  # set here: not a change of the user's to set again
                box.setValue(seconds)
        self.waveform.set_region(region)
        self.length.setText(f"({region.duration:.1f} s)")
        self._enable_zoom()
        self.region_changed.emit(self.region())

    def set_examples_taken(self, taken: bool) -> None:
        """Whether named examples are taken from the region ("Add the region as an example",
        the learned separator's): the region is then used even while the whole song is run."""
        self._examples_taken = taken
        self._enable_region()

    def set_playhead(self, seconds: float) -> None:
        self.waveform.set_playhead(seconds)
        self.spectrogram.set_playhead(seconds)

    # ----- slots -----------------------------------------------------------------------
    @Slot(object)
    def _on_waveform_region_changed(self, region: Region) -> None:
        self.set_region(region)

    @Slot()
    def _on_box_edited(self) -> None:
        self.set_region(Region(self.start.value(), self.end.value()))

    @Slot()
    def _on_loudest_clicked(self) -> None:
        if self.song is not None:
            self.set_region(loudest_region(self.song, DEFAULT_REGION_SECONDS))

    @Slot()
    def _on_zoom_clicked(self) -> None:
        region = self.waveform.region()
        if region is not None:
            self.waveform.plot_item.getViewBox().setXRange(region.start, region.end, padding=0.02)

    @Slot()
    def _on_show_all_clicked(self) -> None:
        if self.song is not None:
            self.waveform.plot_item.getViewBox().setXRange(0.0, self.song.duration, padding=0.0)

    @Slot(bool)
    def _on_as_example_toggled(self, as_example: bool) -> None:
        self.whole_song.setEnabled(not as_example)
        self._enable_region()
        self.region_changed.emit(self.region())

    @Slot(bool)
    def _on_whole_song_toggled(self, whole: bool) -> None:
        self._enable_region()
        self.region_changed.emit(self.region())

    def _region_used(self) -> bool:
        """Whether the region is for something: a run on the region, the example, or the
        examples added from it (:meth:`set_examples_taken`). "Run on the whole song" (ticked,
        the learned separator's default) does not make it unused then."""
        return (self._examples_taken or self.as_example.isChecked()
                or not self.whole_song.isChecked())  # fmt: skip

    def _enable_region(self) -> None:
        """The region's boxes and Loudest, where the region is used (:meth:`_region_used`)."""
        for widget in (self.start, self.end, self.loudest):
            widget.setEnabled(self._region_used())
        self._enable_zoom()

    def _enable_zoom(self) -> None:
        """Zoom to region where it shows something: a region that is used, short of the song."""
        used = self._region_used()
        region, song = self.waveform.region(), self.song
        whole = region is None or song is None or region.duration >= song.duration - 0.01
        self.zoom.setEnabled(used and not whole)
        self.zoom.setToolTip(ZOOM_TIP if used and not whole else
                             ZOOM_UNUSED if not used else ZOOM_WHOLE)  # fmt: skip


def _hundredths_down(seconds: float) -> float:
    """``seconds`` rounded down to the boxes' two decimals (a float just under a hundredth that
    it stands for counts as that hundredth)."""
    return math.floor(seconds * 100 + 1e-6) / 100


def _seconds_box(tooltip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox(decimals=2, singleStep=0.5, suffix=" s", keyboardTracking=False)
    box.setToolTip(tooltip)  # as wide as the song's longest time needs (its range), no wider
    box.setAccessibleName(f"{tooltip} in seconds")
    return box
