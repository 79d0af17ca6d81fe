"""Export all stems… and Export the selected stems…: the shown stems, or those selected in the
list, written to a folder the musician chooses, off the GUI thread.

Rendering and writing the stems of a 4-minute song takes seconds (about 2 s for two WAV
stems, 4 s for two instruments and the rest as FLAC on two cores), so the files are written in
a worker thread: the window stays responsive, and Export is disabled until they are there.
What is written is captured when the export starts, so a run started meanwhile cannot change
it; the files appear together or not at all (``core.audio.files.write_together``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMessageBox

from tagbox_gui.core.audio.export import JUKEBOX_LICENCE, refuse_the_song
from tagbox_gui.core.audio.files import ExportFormat, check_space, existing_files, refuse_folders
from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE
from tagbox_gui.core.errors import UserError
from tagbox_gui.gui.background import when_done
from tagbox_gui.gui.errors import Doing, show_error
from tagbox_gui.gui.widgets import plain_text
from tagbox_gui.gui.widgets.export_dialog import ExportDialog
from tagbox_gui.gui.widgets.shortcuts import EXPORT, EXPORT_SELECTED, shown

if TYPE_CHECKING:
    from PySide6.QtWidgets import QPushButton

    from tagbox_gui.gui.run_view import RunView
    from tagbox_gui.gui.run_window import RunWindow

log = logging.getLogger(__name__)
LICENCE_KEY = "licence/jukebox_export_accepted"
NO_STEMS = "There are no stems yet: run a separation first, or wait until the run ends."
EXPORTING = "Exporting the stems: Export all stems… is back once they are written"
SELECT_SOME = ("Select one stem in the list, or several but not all, to export only those; "
               "Export all stems… writes every one")  # fmt: skip
CHANGED = "The stems listed changed while the export dialog was open; nothing was exported."
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-all")


def selected_text(count: int) -> str:
    """The name of Export the selected stems… with ``count`` stems selected (with its Alt key)."""
    if count == 1:
        return "Export the &selected stem…"
    return f"Export the {count} &selected stems…" if count else "Export &selected stems…"


class StemExport(QObject):
    """The window's Export all stems… and Export the selected stems…: asks where and how, then
    writes the shown stems, or those selected in the list, in a worker.

    Their controls (:meth:`control`: the button and the menu actions) are enabled while there
    are stems to export (:meth:`set_available`), some but not all of them selected for the
    selected's, and no export is under way.
    """

    finished = Signal(object)  # the paths written, or None when the export failed (said why)

    def __init__(self, window: RunWindow, run_view: RunView) -> None:
        super().__init__(window)
        self.w = window
        self.run_view = run_view
        self.controls: list[QPushButton | QAction] = []
        self.selected_controls: list[QAction] = []
        self._available = False
        self.song_peak = 0.0  # the open song's (the loader's worker found it): see ask
        self._pending: _Pending | None = None
        self._licence = QLabel(JUKEBOX_LICENCE, wordWrap=True, visible=False)
        self._licence.setStyleSheet("color: #d08a2a;")
        self._exported = ""  # "Exported N stems to FOLDER", true while those stems are listed

    def control(self, control: QPushButton | QAction) -> None:
        """Let ``control`` start an export of every stem, enabled only when one can start."""
        self.controls.append(control)
        signal = control.triggered if isinstance(control, QAction) else control.clicked
        signal.connect(self.ask)
        self._show_state()

    def control_selected(self, action: QAction) -> None:
        """Let ``action`` start an export of the stems selected in the list, named for them
        (:func:`selected_text`), enabled only when one can start and some but not all of the
        stems are selected (all: Export all stems… writes them)."""
        if not self.selected_controls:
            self.w.stems.itemSelectionChanged.connect(self._show_state)
        self.selected_controls.append(action)
        action.triggered.connect(self.ask_selected)
        self._show_state()

    @property
    def busy(self) -> bool:
        """Whether an export is under way."""
        return self._pending is not None

    def writes(self, result_id: int) -> bool:
        """Whether an export under way writes the stems of result ``result_id``: they leave the
        app whatever comes next (quitting waits for it; a new song does not stop it)."""
        return self._pending is not None and self._pending.result_id == result_id

    def set_available(self, ok: bool) -> None:
        """Whether there are stems to export (the stem list's); shows their licence, if any."""
        self._available = ok
        self._licence.setVisible(ok and self._needs_licence())
        self._show_state()

    # ----- the Jukebox licence -----------------------------------------------------------
    def licence_label(self) -> QLabel:
        """The note under the stems that Jukebox stems inherit its non-commercial licence."""
        return self._licence

    def _needs_licence(self) -> bool:
        return self.w.stems.backend_name == "jukebox"

    def may_write_ahead(self) -> bool:
        """Whether the stems shown may be written before a drag asks for them: not Jukebox
        stems whose licence is still to be accepted."""
        return not self._needs_licence() or self.w.settings.flag(LICENCE_KEY)

    def licence_accepted(self) -> bool:
        """Before a drag or an export of Jukebox stems: its non-commercial licence, asked once
        (the answer is remembered); True at once for the stems of every other backend."""
        if not self._needs_licence() or self.w.settings.flag(LICENCE_KEY):
            return True
        answer = QMessageBox.question(  # No by default: the answer is remembered
            self.w,
            "Jukebox licence",
            JUKEBOX_LICENCE + "\n\nExport?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        accepted = answer == QMessageBox.StandardButton.Yes
        self.w.settings.set_flag(LICENCE_KEY, accepted)
        return accepted

    @Slot()
    def ask(self) -> None:
        """Ask for a folder, a format and a name template, then start writing every stem."""
        self._ask(None)

    @Slot()
    def ask_selected(self) -> None:
        """:meth:`ask`, for the stems selected in the list only."""
        self._ask(self.w.stems.selected_stems())

    def _ask(self, rows: Sequence[int] | None) -> None:
        """Ask where and how to write every stem, or those in ``rows`` (the list's); write them."""
        names_of = self.file_names(rows)
        if names_of is None:
            self.w.show_message(NO_STEMS)
            return
        listed = self.w.stems.shown_names()  # rows name the same stems while these are listed
        folder = self.w.settings.text("paths/export", str(Path.home()))
        fmt = self._saved_format()
        template = self.w.settings.text("export/template", DEFAULT_TEMPLATE)
        dialog = ExportDialog(names_of, folder, fmt, template, self.w, peak=self.song_peak,
                              channels=self.w.song.channels,
                              frames=self.w.song.frames)  # fmt: skip
        if rows is not None:
            dialog.setWindowTitle(selected_text(len(rows)).replace("&", "").removesuffix("…"))
        accepted = dialog.exec() == ExportDialog.DialogCode.Accepted
        chosen = dialog.chosen()
        dialog.deleteLater()  # answered: else a child of the window stays for every export
        if accepted and rows is not None and self.w.stems.shown_names() != listed:
            self.w.show_message(CHANGED)  # the rows were of other stems
        elif accepted:
            self.export_to(*chosen, rows=rows)

    def _saved_format(self) -> ExportFormat:
        """The format of the last export; WAV 32-bit float when none was saved or the saved
        one is unknown here (another version's, a hand-edited file), as for a run setting."""
        saved = self.w.settings.text("export/format", ExportFormat.WAV32.value)
        try:
            return ExportFormat(saved)
        except ValueError:
            log.warning("ignoring saved setting export/format=%r", saved)
            return ExportFormat.WAV32

    def file_names(self, rows: Sequence[int] | None = None) -> Callable[[str], list[str]] | None:
        """The shown stems' file names (those in ``rows``, the list's; None: all) for a name
        template (None: no stems yet, e.g. while a new run has shown none)."""
        if self.w.song is None:
            return None
        if self.run_view.job_active:
            finished = bool(self.run_view.jobs.stem_names())
        else:
            finished = self.run_view.shown_stems() is not None
        if not finished:
            return None
        names_of = self.w.stems.file_names
        if rows is None:
            return names_of

        def selected_names(template: str) -> list[str]:
            names = names_of(template)  # every stem's: a template names each with the others
            return [names[row] for row in rows]

        return selected_names

    def export_to(
        self,
        folder: Path,
        fmt: ExportFormat,
        template: str = DEFAULT_TEMPLATE,
        rows: Sequence[int] | None = None,
    ) -> Future[list[Path]] | None:
        """Start writing the shown stems (those in ``rows``, the list's; None: all) to
        ``folder``; the pending write, or None when nothing is written (no stems, an export
        under way, the licence or the replacing declined, a template that names two stems
        alike, a stem that would replace the song itself or a folder, WAV stems that the
        folder's disk has no room for: a dialog says why). :attr:`finished` follows."""
        names_of = self.file_names(rows)
        if self.busy or names_of is None or not self.licence_accepted():
            return None
        try:
            paths = [folder / (name + fmt.extension) for name in names_of(template)]
            refuse_the_song(self.w.song.path, paths)  # not even asked: no stem replaces it
            refuse_folders(paths, "choose another folder or name template")  # nor asked
            check_space(folder, fmt, [(self.w.song.frames, self.w.song.channels)] * len(paths))
            existing = existing_files(paths)
        except UserError as exc:
            show_error(self.w, exc, "Export failed", doing=Doing.EXPORT)
            return None
        if existing and not self.confirm_overwrite(existing):
            return None
        write = self.w.stems.writing(folder, fmt, template, bool(existing), rows)
        future = _WRITER.submit(write)
        self._pending = _Pending(future, folder, fmt, template, self.w.stems.result_id, rows)
        self._show_state()
        self.w.statusBar().showMessage(f"Exporting the stems to {folder}…")
        when_done(future, self._on_written)
        return future

    def confirm_overwrite(self, existing: list[Path]) -> bool:
        """Asked before an export replaces stems that are already in the folder."""
        names = "\n".join(path.name for path in existing)
        answer = plain_text.question(  # the folder's and the files' names as they are
            self.w,
            "Replace stems?",
            f"These files are already in {existing[0].parent}:\n\n{names}\n\nReplace them?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def wait(self) -> None:
        """Block until an export under way has written its files (or failed)."""
        if self._pending is not None:
            self._pending.future.exception()  # waits; what went wrong is shown by _on_written

    def _on_written(self, future: Future[list[Path]]) -> None:
        if self._pending is None or self._pending.future is not future:
            return
        pending, self._pending = self._pending, None
        folder, result_id = pending.folder, pending.result_id
        self._show_state()
        try:
            paths = future.result()
        except Exception as exc:
            self.w.statusBar().clearMessage()
            show_error(self.w, exc, "Export failed", doing=Doing.EXPORT)
            self.finished.emit(None)
            return
        self.w.settings.set_text("paths/export", str(folder))
        self.w.settings.set_text("export/format", pending.fmt.value)
        self.w.settings.set_text("export/template", pending.template)
        self.w.stems.mark_exported(result_id, pending.rows)  # quitting no longer asks about them
        self._exported = f"Exported {len(paths)} stem{'' if len(paths) == 1 else 's'} to {folder}"
        listed = result_id == self.w.stems.result_id  # else: said for a while only
        self.w.statusBar().showMessage(self._exported, 0 if listed else 10_000)
        self.finished.emit(paths)

    @Slot()
    def stems_replaced(self) -> None:
        """The exported stems are no longer listed: the status bar no longer says they were
        exported (any other message stays)."""
        status = self.w.statusBar()
        if self._exported and status.currentMessage() == self._exported:
            status.clearMessage()
        self._exported = ""

    @Slot()
    def _show_state(self) -> None:
        """The controls on while an export can start; the button's tooltip and the menu
        entries' status tips say why not while they are off."""
        ready = self._pending is None and self._available
        why_not = EXPORTING if self._pending is not None else NO_STEMS
        tip = f"Write every stem to a folder you choose ({shown(EXPORT)})" if ready else why_not
        for control in self.controls:
            control.setEnabled(ready)
            control.setToolTip(tip)
            if isinstance(control, QAction):  # in the status bar; a button's status tip would
                control.setStatusTip(tip)  # clear "Exported N stems to …" there when left
        selected = len(self.w.stems.selectedItems())
        some = 0 < selected < self.w.stems.count()
        if ready and some:
            them = "the stem selected" if selected == 1 else f"the {selected} stems selected"
            tip = f"Write only {them} to a folder you choose ({shown(EXPORT_SELECTED)})"
        else:
            tip = why_not if not ready else SELECT_SOME
        for action in self.selected_controls:
            action.setEnabled(ready and some)
            action.setText(selected_text(selected if some else 0))
            action.setToolTip(tip)
            action.setStatusTip(tip)


class _Pending(NamedTuple):
    """An export under way: its write, and what it writes."""

    future: Future[list[Path]]
    folder: Path
    fmt: ExportFormat
    template: str
    result_id: int
    rows: Sequence[int] | None  # the list's rows it writes (None: all)
