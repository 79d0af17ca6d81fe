"""The main window: layout and wiring of the panels; the run itself lives in ``run_view``, the
menus in ``menus``."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui import APP_NAME
from tagbox_gui.core.audio.song import Song, check_song_file
from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.controller import RunController, RunState
from tagbox_gui.gui.engine_loader import LOADING_MESSAGE, EngineLoader
from tagbox_gui.gui.errors import Doing, show_error
from tagbox_gui.gui.menus import WindowMenus
from tagbox_gui.gui.models_prompt import FOLDER_KEY, ModelsPrompt
from tagbox_gui.gui.playback import Player
from tagbox_gui.gui.run_view import RunView
from tagbox_gui.gui.settings import AppSettings
from tagbox_gui.gui.settings_view import SettingsView
from tagbox_gui.gui.song_loader import LoadedSong, SongLoader
from tagbox_gui.gui.stem_export import StemExport
from tagbox_gui.gui.widgets import plain_text
from tagbox_gui.gui.widgets.audition_panel import AuditionPanel
from tagbox_gui.gui.widgets.focus import FocusScroll, typing_escape
from tagbox_gui.gui.widgets.instrument_picker import InstrumentPicker
from tagbox_gui.gui.widgets.live_panel import LivePanel, boxed
from tagbox_gui.gui.widgets.run_panel import RunPanel
from tagbox_gui.gui.widgets.settings_panel import SettingsPanel
from tagbox_gui.gui.widgets.shortcuts import FIND, SIDE_TABS, STOP, shown
from tagbox_gui.gui.widgets.song_panel import SongPanel
from tagbox_gui.gui.widgets.stem_list import StemListView
from tagbox_gui.gui.widgets.tag_panel import TagPanel

log = logging.getLogger(__name__)
DOCK_WIDTH_LIMIT = 330  # px: a side column never asks for more (it scrolls sideways then)
ENGINE_FAILED = "The engine could not be loaded; the log says why (Help ▸ Open log folder)."


class MainWindow(WindowMenus):
    """Song views on top, live plots below, tags and settings left, run and stems right.

    ``song_loaded(Song)`` fires once an opened song is shown (songs load in the background),
    ``first_frame()`` once the window has been painted for the first time.

    The window fits its screen: it opens inside the screen's available geometry (a remembered
    geometry too), long texts wrap or are cut short instead of widening it, and the side columns
    scroll. Without an ``engine`` loader the engine's modules are imported before the
    constructor returns; with one (as the app does) the window shows at once, imports them in
    the background after its first frame, and Run waits with "Loading the engine…".
    """

    song_loaded = Signal(object)
    first_frame = Signal()

    def __init__(
        self,
        store: ModelStore | None = None,
        settings: AppSettings | None = None,
        player: Player | None = None,
        engine: EngineLoader | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.store = store or ModelStore()
        self.settings = settings or AppSettings()
        self.song: Song | None = None
        self._opened_note = ""  # said after "Opened NAME" (open_song's ``note``)
        self._opening = ""  # the name of the song being opened
        self._focus_at_open: QWidget | None = None  # the focus when the last song was asked for
        self.loader = SongLoader(self)
        self.engine = engine or EngineLoader()
        self.engine.setParent(self)
        self.loading_bar = QProgressBar(maximum=0, maximumWidth=120, visible=False)
        self.loading_bar.setAccessibleName("Opening the song")
        self.loading_bar.setAccessibleDescription("How much of the song is read and analysed")
        self.cancel_loading = QPushButton("Cancel", visible=False)
        self.cancel_loading.setToolTip(
            f"Stop opening the song; the song shown stays ({shown(STOP)} while no run goes on)"
        )
        self.cancel_key = QShortcut(QKeySequence(STOP), self.cancel_loading, enabled=False)
        self.controller = RunController(self)
        self.song_panel = SongPanel()
        self.live = LivePanel()
        self.tag_panel = TagPanel()
        self.picker = InstrumentPicker()
        self.settings_panel = SettingsPanel()
        self.run_panel = RunPanel()
        self.audition = AuditionPanel(player or Player())
        self.stems = StemListView()
        self.export_button = QPushButton("Export all stems…")
        cache = ModelCache()  # the separator and taggers, loaded once for every run
        self.run_view = RunView(self, cache)
        self.settings_view = SettingsView(self, cache)
        self.settings_view.changed.connect(self.run_view.update_can_run)
        self.exports = StemExport(self, self.run_view)
        self.models = ModelsPrompt(self, self.store)
        self._build_layout()
        self._build_menus()
        self._connect()
        self.engine.ready.connect(self._on_engine_ready)
        self.engine.failed.connect(self._on_engine_failed)
        self.first_frame.connect(self.engine.start)  # imports after the window is on screen
        self.installEventFilter(self)  # until the first paint (see eventFilter)
        if engine is None:
            self.engine.load_now()  # as before: the engine is there when the window is
            if self.engine.error is not None:
                raise self.engine.error
        elif self.engine.is_ready:
            self._on_engine_ready()
        else:
            self._show_engine_loading()
        self._restore_geometry()

    # ----- layout ----------------------------------------------------------------------
    def _build_layout(self) -> None:
        views = self.views = QSplitter(Qt.Orientation.Vertical)  # song above, plots below
        views.addWidget(self.song_panel)
        views.addWidget(self.live)
        views.setStretchFactor(0, 3)
        views.setStretchFactor(1, 2)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 4)
        column.addWidget(views, 1)
        column.addWidget(self.audition)
        central.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # takes it from fields: Space plays
        central.setAccessibleName("Song, plots and playback")  # said when it takes the focus
        self.setCentralWidget(central)
        tabs = QTabWidget()
        tabs.addTab(self.picker, "Instruments")
        tabs.addTab(self.tag_panel, "Tags")
        scroll = FocusScroll(widgetResizable=True, accessibleName="Settings")  # as its tab
        scroll.setWidget(self.settings_panel)
        tabs.addTab(scroll, "Settings")
        self._dock("Tags and settings", tabs, Qt.DockWidgetArea.LeftDockWidgetArea)
        for index, keys in enumerate(SIDE_TABS):  # the letters are taken: Ctrl+1, 2, 3 show them
            tabs.setTabToolTip(index, f"{tabs.tabText(index)} ({shown(keys)})")
            show = QShortcut(QKeySequence(keys), self)
            show.activated.connect(lambda i=index: tabs.setCurrentIndex(i))
            show.activated.connect(
                lambda: tabs.tabBar().setFocus(Qt.FocusReason.ShortcutFocusReason)
            )
        find = QShortcut(QKeySequence(FIND), self)
        find.activated.connect(lambda: tabs.setCurrentWidget(self.tag_panel))
        find.activated.connect(self.tag_panel.find)
        side = QWidget()
        side_column = QVBoxLayout(side)
        side_column.setContentsMargins(6, 0, 6, 0)  # the Run panel and the boxes inset alike
        side_column.addWidget(self.run_panel)
        side_column.addWidget(self.live.meters_box)
        stems = boxed("Stems (drag into your DAW)", self.stems, margin=6)
        stems.layout().addWidget(self.export_button)
        self.licence_note = self.exports.licence_label()
        stems.layout().addWidget(self.licence_note)
        side_column.addWidget(stems, 1)  # the stems take the column's free height
        self._dock("Run", side, Qt.DockWidgetArea.RightDockWidgetArea)
        self.statusBar().addPermanentWidget(self.loading_bar)
        self.statusBar().addPermanentWidget(self.cancel_loading)
        self.engine_status = QWidget(visible=False)  # "Loading the engine…" and a busy bar
        row = QHBoxLayout(self.engine_status)
        row.setContentsMargins(0, 0, 0, 0)
        label, bar = QLabel(LOADING_MESSAGE), QProgressBar(maximum=0, maximumWidth=80)
        label.setBuddy(bar)  # names it
        bar.setAccessibleDescription("Busy until the engine is loaded: Run waits for it")
        row.addWidget(label)
        row.addWidget(bar)
        self.statusBar().addPermanentWidget(self.engine_status)
        self.stems.setMinimumHeight(4 * self.stems.fontMetrics().height() + 12)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        # The column scrolls rather than making the window taller (more tag meters, stems) or
        # wider (a longer text): as wide as its content is now, plus a vertical scroll bar.
        scroll = FocusScroll(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        scroll.setObjectName(f"{dock.objectName()}_scroll")
        scroll.setAccessibleName(title)  # Tab passes it, and it scrolls to the focused control
        scroll.setWidget(widget)
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(min(widget.minimumSizeHint().width() + bar, DOCK_WIDTH_LIMIT))
        dock.setWidget(scroll)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        dock.installEventFilter(self)  # floating, it is a window of its own (typing_escape)
        return dock

    def _connect(self) -> None:
        self.song_panel.seek_requested.connect(self.run_view.audio.seek_song)
        self.audition.transport.seeking.connect(self.run_view.audio.enter_region)
        self.song_panel.region_changed.connect(self.run_view.update_can_run)
        self.audition.transport.position_changed.connect(self.run_view.audio.show_position)
        self.stems.export_failed.connect(
            lambda exc, title: show_error(self, exc, title, doing=Doing.EXPORT)
        )
        self.stems.preparing.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.picker.said.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.stems.replaced.connect(self.exports.stems_replaced)  # "Exported …" is said no more
        self.stems.set_before_export(self.exports.licence_accepted)  # drags, like Export all stems…
        self.stems.set_write_ahead(self.exports.may_write_ahead)
        self.exports.control(self.export_button)
        self.stems.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)  # right click
        self.stems.addActions([self.export_selected_action, self.export_action])
        self.models.models_changed.connect(self._on_models_changed)
        self.run_view.taggers_needed.connect(self.models.offer)
        self.models.folder_changed.connect(self._on_model_folder_changed)
        self.controller.state_changed.connect(self._on_controller_state_changed)
        self.loader.loaded.connect(self._on_loader_loaded)
        self.loader.failed.connect(self._on_loader_failed)
        self.loader.busy_changed.connect(self._on_loader_busy_changed)
        self.loader.progressed.connect(self._on_loader_progressed)
        self.cancel_loading.clicked.connect(self._cancel_loading)
        self.cancel_key.activated.connect(self._cancel_loading)
        self._on_controller_state_changed(RunState.IDLE)

    @Slot(str)
    def _on_model_folder_changed(self, folder: str) -> None:
        """Remember the folder chosen in Models for the next start; '' (the default): forget
        the one remembered."""
        if folder:
            self.settings.set_text(FOLDER_KEY, folder)
        else:
            self.settings.forget(FOLDER_KEY)

    @Slot()
    def _on_models_changed(self) -> None:
        """Models were fetched or removed: offer the present taggers; the first one is used."""
        if not self.engine.is_ready:
            return  # the settings are loaded once the engine is
        panel = self.settings_panel
        current = panel.settings()
        self.settings_view.load()
        if not current.taggers:  # the first tagger arrived: use it
            present = [str(s) for s in self.store.available_taggers()]
            panel.set_settings(type(current)(**{**current.__dict__, "taggers": tuple(present[:1])}))

    # ----- song ------------------------------------------------------------------------
    def open_song(self, path: str | Path, note: str = "") -> int | None:
        """Start loading a song in the background and return at once (the request's token).

        ``song_loaded`` fires when it is shown; a dialog says why when it cannot be read. A
        later call supersedes one still loading (its result is dropped). When the new song
        would stop a run or replace stems that never left the app, the musician is asked
        first, unless the file plainly cannot be opened (missing, a folder, empty: said at
        once, and nothing is lost); None when nothing is loaded. ``note`` follows "Opened
        NAME" in the status bar once it is shown. The song view then takes the focus (Space
        plays), unless the musician has moved it since the song was asked for.
        """
        name = Path(path).name
        if self.controller.state is not RunState.IDLE:
            question = f"A run is going on: opening {name} stops it and drops what it made."
        else:
            question = self.losing(f"opening {name} replaces")
        if question:
            try:
                check_song_file(Path(path))
            except AudioError as exc:
                show_error(self, exc, "Cannot open the song", doing=Doing.OPEN)
                return None
            if not self.confirm_discard(f"{question}\n\nOpen {name} anyway?"):
                return None
        self.statusBar().showMessage(f"Opening {name}…")
        self._opened_note, self._opening = note, name
        self._focus_at_open = self.focusWidget()  # kept while a dialog (File ▸ Open…) has it
        self.loading_bar.setMaximum(0)  # busy until this load says how far it is
        return self.loader.load(path)

    @Slot(bool)
    def _on_loader_busy_changed(self, busy: bool) -> None:
        self.loading_bar.setVisible(busy)
        self.cancel_loading.setVisible(busy)
        self._enable_cancel_key()
        self._show_busy_cursor()
        self.run_view.update_can_run()

    @Slot(float)
    def _on_loader_progressed(self, done: float) -> None:
        self.loading_bar.setMaximum(100)
        self.loading_bar.setValue(round(100 * done))

    @Slot()
    def _cancel_loading(self) -> None:
        """The status bar's Cancel: stop opening the song (the song shown stays)."""
        self.loader.cancel()
        self.statusBar().showMessage(f"Stopped opening {self._opening}.", 5000)

    def _enable_cancel_key(self) -> None:
        """Escape cancels the opening of a song, unless it is Run ▸ Stop's key then (a run
        goes on): never both, or Qt would do neither."""
        self.cancel_key.setEnabled(self.loader.busy and not self.stop_action.isEnabled())

    def _show_busy_cursor(self) -> None:
        """The busy cursor while a song opens or the engine loads (the window stays usable)."""
        if self.loader.busy or self.engine.pending:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    @Slot(object)
    def _on_loader_failed(self, error: Exception) -> None:
        self.statusBar().clearMessage()
        show_error(self, error, "Cannot open the song", doing=Doing.OPEN)

    @Slot(object)
    def _on_loader_loaded(self, loaded: LoadedSong) -> None:
        song = loaded.song
        self.run_view.discard_run()
        self.song = song
        self.exports.song_peak = loaded.peak  # what a PCM export would clip, said by its dialog
        self.song_panel.set_song(song, loaded.region, loaded.envelope)
        self.run_view.show_song(song)
        self.settings.add_recent(song.path)
        self.settings.set_text("paths/open", str(song.path.parent))
        self.setWindowTitle(f"{song.name} — {APP_NAME}")
        if self.focusWidget() is self._focus_at_open:  # not where the musician moved it since
            self.centralWidget().setFocus()  # away from text boxes, so Space plays
        opened = f"Opened {song.path.name}"
        note = self._opened_note
        self.statusBar().showMessage(
            f"{opened} {note}" if note else opened, 10_000 if note else 5000
        )
        log.info(
            "opened %s (%.1f s, %d Hz, %d ch)", song.path, song.duration, song.rate, song.channels
        )
        self.song_loaded.emit(song)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        if _dropped_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        files = _dropped_files(event)
        if files:
            event.acceptProposedAction()
            # opened once the drop has ended: a question asked within it (stems that would be
            # lost) would hold the program the file came from until answered
            more = len(files) - 1
            note = (f"(one song at a time: {more} more dropped file{'s' if more > 1 else ''} "
                    "left unopened)") if more else ""  # fmt: skip
            QTimer.singleShot(0, self, lambda: self.open_song(files[0], note))

    # ----- export ----------------------------------------------------------------------
    def set_can_export(self, ok: bool) -> None:
        """Whether there are stems to export (the button and File ▸ Export all stems… start one)."""
        self.exports.set_available(ok)

    # ----- misc ------------------------------------------------------------------------
    def show_message(self, text: str, title: str = APP_NAME) -> QMessageBox:
        """A non-blocking information dialog with one sentence."""
        box = QMessageBox(QMessageBox.Icon.Information, title, text, parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # it may name the user's stems
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def confirm_discard(self, question: str) -> bool:
        """Asked before quitting or opening a song loses stems or a run (tests replace it)."""
        answer = plain_text.question(self, APP_NAME, question)  # names a song, stems
        return answer == QMessageBox.StandardButton.Yes

    def confirm_new_run(self, question: str) -> bool:
        """Asked before a new run replaces stems that never left the app, unless the musician
        has turned the question off (Run ▸ Ask before replacing unkept stems, or the box under
        it); tests replace it."""
        if not self.ask_before_run.isChecked():
            return True
        quiet = QCheckBox("&Do not ask again before a run")
        answer = plain_text.question(self, APP_NAME, f"{question}\n\nRun anyway?", checkbox=quiet)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        if quiet.isChecked():
            self.ask_before_run.setChecked(False)
            self.statusBar().showMessage(
                "A new run now replaces unkept stems without asking; "
                "Run ▸ Ask before replacing unkept stems turns the question back on",
                10_000,
            )
        return True

    def losing(self, doing: str) -> str:
        """The sentence naming the stems ``doing`` loses (``StemListView.losing``), or "": none
        that Export all stems… writes."""
        return "" if self.exports.writes(self.stems.result_id) else self.stems.losing(doing)

    def confirm_quit(self) -> bool:
        """Asked when the window closes during a run or job (tests replace it)."""
        question = (self.run_view.jobs.quit_question() if self.run_view.job_active
                    else "A run is going on. Stop it and quit?")  # fmt: skip
        answer = plain_text.question(self, APP_NAME, question)  # names the job's instruments
        return answer == QMessageBox.StandardButton.Yes

    @Slot(object)
    def _on_controller_state_changed(self, state: RunState) -> None:
        self.run_panel.set_state(state)
        self._enable_actions(state)
        self._enable_cancel_key()
        self.settings_panel.set_running(state is not RunState.IDLE)  # the lr stays editable

    # ----- the engine -------------------------------------------------------------------
    def _show_engine_loading(self) -> None:
        """Until the engine is imported: Run off (its tooltip says why), the settings (whose
        defaults and devices come from the engine) off, a busy indicator and cursor."""
        self.run_view.waiting_for = LOADING_MESSAGE
        self.settings_panel.setEnabled(False)
        self.engine_status.setVisible(True)
        self._show_busy_cursor()
        self.run_view.update_can_run()

    @Slot()
    def _on_engine_ready(self) -> None:
        self.run_view.waiting_for = ""
        self.settings_view.load()
        self.settings_panel.setEnabled(True)
        self.engine_status.setVisible(False)
        self._show_busy_cursor()
        self.reset_action.setEnabled(self.controller.state is RunState.IDLE)
        self.run_view.update_can_run()

    @Slot(object)
    def _on_engine_failed(self, error: Exception) -> None:
        self.run_view.waiting_for = ENGINE_FAILED
        self.engine_status.setVisible(False)
        self._show_busy_cursor()
        self.run_view.update_can_run()
        show_error(self, error, "Cannot load the engine", logged=True, doing=Doing.ENGINE)

    def event(self, event: QEvent) -> bool:  # Qt override
        if typing_escape(event):  # a text field's key: Escape does not stop the run there
            event.accept()
            return True
        return super().event(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if isinstance(watched, QDockWidget) and typing_escape(event):
            event.accept()
            return True
        if watched is self and event.type() == QEvent.Type.Paint:  # the first frame:
            self.removeEventFilter(self)
            QTimer.singleShot(0, self.first_frame.emit)  # once it is painted and shown
        return super().eventFilter(watched, event)

    def _splitters(self) -> dict[str, QSplitter]:
        """The splitters whose positions are remembered, by their settings name."""
        return {"views": self.views, "plots": self.live, "song": self.song_panel.views}

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        if (model := self.models.downloading()) and not self.confirm_discard(
            f"{model} is still downloading; quitting stops the download and keeps nothing of "
            "it.\n\nQuit anyway?"
        ):
            event.ignore()
            return
        if self.controller.state is not RunState.IDLE:
            if not self.confirm_quit():
                event.ignore()
                return
        elif (losing := self.losing("quitting loses")) and not self.confirm_discard(
            f"{losing}\n\nQuit anyway?"
        ):
            event.ignore()
            return
        self.save_layout()  # as it is on screen
        self.audition.transport.player.close()  # silent at once, not once the waits are over
        if self.controller.busy or self.exports.busy:
            self.hide()  # at once: a job's part, or an export, may take seconds to end
        self.exports.wait()  # stems being exported are written whole
        self.loader.cancel()
        self.controller.shutdown()  # waits for the worker threads
        self.stems.remove_files()  # those no drag carried out of the app
        self.models.shutdown()
        self.engine.wait()  # an import still running ends first (seconds at most)
        event.accept()


def _dropped_files(event: QDropEvent) -> list[str]:
    """The local files a drop from another program would open as the song; none for a drag
    that began in this app (stems dragged out of the Stems list and released over the window
    would replace the song, and its result, with one of its own stems)."""
    if event.source() is not None:
        return []
    return [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
