"""The main window's menus: File, Run, Tools and Help, their shortcuts, and which of their
entries the run's state allows."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtGui import QKeySequence as Keys
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QToolTip

from tagbox_gui import APP_NAME
from tagbox_gui.core.audio.naming import AUDIO_EXTENSIONS
from tagbox_gui.core.folders import nearest_folder
from tagbox_gui.gui.about import about_html
from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.engine_loader import EngineLoader
from tagbox_gui.gui.errors import log_file
from tagbox_gui.gui.models_prompt import ModelsPrompt
from tagbox_gui.gui.run_view import RunView
from tagbox_gui.gui.screen_fit import ScreenFit
from tagbox_gui.gui.settings_view import SettingsView
from tagbox_gui.gui.stem_export import StemExport, selected_text
from tagbox_gui.gui.widgets import plain_text
from tagbox_gui.gui.widgets.recent_menu import fill_recent_menu
from tagbox_gui.gui.widgets.run_panel import RunPanel, stop_tip
from tagbox_gui.gui.widgets.shortcuts import (
    EXPORT,
    EXPORT_SELECTED,
    OPEN,
    PAUSE,
    RUN,
    STOP,
    Key,
)
from tagbox_gui.gui.widgets.stem_list import dragged_stems_root

ASK_BEFORE_RUN = "questions/ask_before_run"  # settings key of Run ▸ Ask before replacing…
log = logging.getLogger(__name__)
AUDIO_FILTER = f"Audio ({' '.join('*' + e for e in AUDIO_EXTENSIONS)});;All files (*)"


class KeyAsks(QAction):
    """A menu entry whose key emits ``key_pressed`` where choosing the entry (``trigger``)
    emits ``triggered``: the key can ask before it does what the entry does at once."""

    key_pressed = Signal()

    def event(self, event: QEvent) -> bool:  # Qt override
        if event.type() == QEvent.Type.Shortcut and not event.isAmbiguous():
            self.key_pressed.emit()
            return True
        return super().event(event)  # an ambiguous key: Qt warns and does nothing


class WindowMenus(ScreenFit):
    """A main window with the app's menu bar.

    Subclasses give what the entries drive (``engine``, ``exports``, ``models``, ``run_view``,
    ``run_panel``, ``settings_view``, :meth:`open_song`, :meth:`show_message`) and call
    :meth:`_build_menus` once those are built. The entries the window changes are
    ``recent_menu``, ``export_action``, ``export_selected_action``, ``pause_action``,
    ``stop_action`` and ``reset_action``;
    ``run_action`` follows the Run button; ``ask_before_run`` is whether a new run asks before
    it replaces stems that never left the app (remembered).
    """

    engine: EngineLoader
    exports: StemExport
    models: ModelsPrompt
    run_view: RunView
    run_panel: RunPanel
    settings_view: SettingsView

    def open_song(self, path: str | Path) -> int | None:
        """Open the song at ``path`` (File ▸ Open… and Open recent); None when declined."""
        raise NotImplementedError

    def show_message(self, text: str, title: str = APP_NAME) -> QMessageBox:
        """A non-blocking information dialog with one sentence."""
        raise NotImplementedError

    @Slot()
    def choose_song(self) -> None:
        """File ▸ Open…: ask for a song, in the folder of the last one opened, or the nearest
        folder above it still there (renamed, a drive unplugged: the dialog would start where
        the app was started from), or the home folder."""
        start = nearest_folder(Path(self.settings.text("paths/open", str(Path.home()))))
        if start is None or start == start.parent:  # nothing of the last folder is left
            start = Path.home()
        path, _ = QFileDialog.getOpenFileName(self, "Open a song", str(start), AUDIO_FILTER)
        if path:
            self.open_song(path)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open…", OPEN, self.choose_song)
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.export_action = QAction("&Export all stems…", self, shortcut=Keys(EXPORT))
        file.addAction(self.export_action)
        self.exports.control(self.export_action)
        self.export_selected_action = QAction(selected_text(0), self,
                                              shortcut=Keys(EXPORT_SELECTED))  # fmt: skip
        file.addAction(self.export_selected_action)
        self.exports.control_selected(self.export_selected_action)
        file.addSeparator()
        self._action(file, "&Quit", Keys.StandardKey.Quit, self.close)
        run = bar.addMenu("&Run")
        rv = self.run_view
        self.run_action = self._action(run, "&Run", RUN, rv.start)
        self.run_panel.mirror_run(self.run_action)  # on when the Run button is
        self.pause_action = self._action(run, "&Pause / resume", PAUSE, rv.toggle_pause)
        self.stop_action = KeyAsks("&Stop", self, shortcut=Keys(STOP))
        self.stop_action.setStatusTip(stop_tip())
        self.stop_action.triggered.connect(rv.stop)
        self.stop_action.key_pressed.connect(self._ask_to_stop)
        run.addAction(self.stop_action)
        run.addSeparator()
        self.ask_before_run = QAction("&Ask before replacing unkept stems", self, checkable=True)
        self.ask_before_run.setChecked(self.settings.flag(ASK_BEFORE_RUN, default=True))
        self.ask_before_run.toggled.connect(lambda on: self.settings.set_flag(ASK_BEFORE_RUN, on))
        run.addAction(self.ask_before_run)
        tools = bar.addMenu("&Tools")
        self._action(tools, "&Models…", None, self.models.show_dialog)
        self.reset_action = self._action(
            tools, "Reset settings to &defaults", None, self.settings_view.reset
        )
        self._action(tools, "Open the dragged &stems folder", None, self._open_dragged_stems)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "Open &log folder", None, self._open_log_folder)
        self._action(help_menu, f"&About {APP_NAME}", None, self._about)

    def _action(
        self, menu: QMenu, text: str, keys: Key | None,
        slot: Callable[[], object],
    ) -> QAction:  # fmt: skip
        action = QAction(text, self)
        if keys is not None:
            action.setShortcut(Keys(keys))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _enable_actions(self, state: RunState) -> None:
        """Pause and Stop while running, Reset while idle once the engine is in (Run follows
        the Run button: ``RunPanel.mirror_run``)."""
        active = state in (RunState.RUNNING, RunState.PAUSED)
        self.pause_action.setEnabled(active)
        self.stop_action.setEnabled(active)
        self.reset_action.setEnabled(state is RunState.IDLE and self.engine.is_ready)

    @Slot()
    def _ask_to_stop(self) -> None:
        """Escape: stop the run once the musician says so. Escape is the key that closes a
        popup, a tooltip or a question too, pressed once too often it would end a long run:
        Enter or Escape again answers No. Over a tooltip it only closes the tooltip."""
        if QToolTip.isVisible():
            QToolTip.hideText()
            return
        question = self.run_view.stop_question()
        if plain_text.question(self, APP_NAME, question) == QMessageBox.StandardButton.Yes:
            self.run_view.stop()

    def _fill_recent_menu(self) -> None:
        fill_recent_menu(
            self.recent_menu, self.settings.recent_files(), self._open_recent,
            self.settings.clear_recent,
        )  # fmt: skip

    def _open_recent(self, path: str) -> None:
        """Open recent's entry ``path``. A song no longer in its folder (moved, renamed or
        deleted) is taken off the list, and the musician told; one whose folder is gone too
        (a drive unplugged, a network share away) stays, as it may come back, and the
        musician is told so."""
        song = Path(path)
        try:
            song.stat()
        except FileNotFoundError:
            if song.parent.is_dir():
                self.settings.remove_recent(path)
                self.show_message(f"'{song.name}' is no longer in {song.parent} (moved, renamed or "
                                  "deleted), so it is taken off Open recent; if it was moved, "
                                  "open it from its new place with File ▸ Open….",
                                  "Cannot open the song")  # fmt: skip
            else:
                self.show_message(f"'{song.name}' cannot be opened: its folder {song.parent} is "
                                  "not there either (is its drive plugged in, its network "
                                  "share reachable?). It stays on Open recent: open it again "
                                  "once the folder is back.", "Cannot open the song")  # fmt: skip
            return
        except OSError:
            pass  # the load says what is wrong
        self.open_song(path)

    def _open_log_folder(self) -> None:
        """Help ▸ Open log folder: the folder of the log file written, or, without one (its
        folder could not be written), a message that says where the log goes."""
        written = log_file()
        if written is None:
            self.show_message(
                "No log file could be written (its folder cannot be written); "
                f"the log goes to the terminal {APP_NAME} was started from."
            )
        else:
            self._show_folder(written.parent, f"the log file is {written}")

    def _show_folder(self, folder: Path, where: str) -> None:
        """Show ``folder`` in the file manager; where none opens it (a minimal desktop, a
        remote session), a message says ``where`` it is instead."""
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_message(f"The folder could not be shown; {where}.")

    def _open_dragged_stems(self) -> None:
        """Tools ▸ Open the dragged stems folder: where the files of drags stay until the
        musician deletes them (made first, so that there is a folder to open)."""
        folder = dragged_stems_root()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # drags go to the temporary folder then (stem_list)
            log.warning("the dragged stems folder %s cannot be made (%s)", folder, exc)
        self._show_folder(folder, f"the dragged stems are in {folder}")

    def _about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", about_html())
