"""Reusable views and panels of the main window (each item created once, updated cheaply)."""

from tagbox_gui.gui.widgets.loss_plot import LossPlotView
from tagbox_gui.gui.widgets.mask_view import MaskView
from tagbox_gui.gui.widgets.models_dialog import LicenceDialog, ModelsDialog
from tagbox_gui.gui.widgets.spectrogram_view import SpectrogramView, compute_spectrogram
from tagbox_gui.gui.widgets.stem_list import StemListView
from tagbox_gui.gui.widgets.tag_meters import TagMetersView
from tagbox_gui.gui.widgets.transport import TransportPanel
from tagbox_gui.gui.widgets.waveform_view import WaveformView, peak_envelope

__all__ = [
    "LicenceDialog",
    "LossPlotView",
    "MaskView",
    "ModelsDialog",
    "SpectrogramView",
    "StemListView",
    "TagMetersView",
    "TransportPanel",
    "WaveformView",
    "compute_spectrogram",
    "peak_envelope",
]
