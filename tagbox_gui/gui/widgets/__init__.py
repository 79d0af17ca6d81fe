"""Reusable views and panels of the main window (each item created once, updated cheaply).

The names below are imported from their modules when first asked for, so importing one widget
module (``tagbox_gui.gui.widgets.run_panel``) does not import all the others and what they need
(the stem list writes audio files with scipy, the models dialog checks weights with torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names are, for type checkers and import-linter
    from tagbox_gui.gui.widgets.licence_dialog import LicenceDialog
    from tagbox_gui.gui.widgets.loss_plot import LossPlotView
    from tagbox_gui.gui.widgets.mask_view import MaskView
    from tagbox_gui.gui.widgets.models_dialog import ModelsDialog
    from tagbox_gui.gui.widgets.spectrogram_view import SpectrogramView, compute_spectrogram
    from tagbox_gui.gui.widgets.stem_list import StemListView
    from tagbox_gui.gui.widgets.tag_meters import TagMetersView
    from tagbox_gui.gui.widgets.transport import TransportPanel
    from tagbox_gui.gui.widgets.waveform_view import WaveformView, peak_envelope

_MODULES = {
    "LicenceDialog": "licence_dialog",
    "LossPlotView": "loss_plot",
    "MaskView": "mask_view",
    "ModelsDialog": "models_dialog",
    "SpectrogramView": "spectrogram_view",
    "StemListView": "stem_list",
    "TagMetersView": "tag_meters",
    "TransportPanel": "transport",
    "WaveformView": "waveform_view",
    "compute_spectrogram": "spectrogram_view",
    "peak_envelope": "waveform_view",
}

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


def __getattr__(name: str) -> object:
    """``from tagbox_gui.gui.widgets import StemListView`` imports ``stem_list`` then."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
