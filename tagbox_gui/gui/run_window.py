"""What the run and job views need of the window that hosts them (``MainWindow`` is one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    from PySide6.QtWidgets import QMessageBox, QStatusBar

    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.store.models import ModelStore
    from tagbox_gui.gui.controller import RunController
    from tagbox_gui.gui.settings import AppSettings
    from tagbox_gui.gui.song_loader import SongLoader
    from tagbox_gui.gui.widgets.audition_panel import AuditionPanel
    from tagbox_gui.gui.widgets.instrument_picker import InstrumentPicker
    from tagbox_gui.gui.widgets.live_panel import LivePanel
    from tagbox_gui.gui.widgets.run_panel import RunPanel
    from tagbox_gui.gui.widgets.settings_panel import SettingsPanel
    from tagbox_gui.gui.widgets.song_panel import SongPanel
    from tagbox_gui.gui.widgets.stem_list import StemListView
    from tagbox_gui.gui.widgets.tag_panel import TagPanel


class RunWindow(Protocol):
    """The panels the views drive and the window's messages.

    The window is also the Qt parent of the views and of the dialogs they open. Declared here so
    that the views never import the window that builds them.
    """

    store: ModelStore
    settings: AppSettings
    song: Song | None
    analysis: np.ndarray | None
    loader: SongLoader
    controller: RunController
    song_panel: SongPanel
    live: LivePanel
    tag_panel: TagPanel
    picker: InstrumentPicker
    settings_panel: SettingsPanel
    run_panel: RunPanel
    audition: AuditionPanel
    stems: StemListView

    def statusBar(self) -> QStatusBar: ...  # Qt spells it so

    def show_message(self, text: str, title: str = ...) -> QMessageBox: ...

    def set_can_export(self, ok: bool) -> None: ...
