"""The stems of a result, ready to be dragged into a DAW or a file manager.

A run gives two stems (separated and residual); a job of several instruments gives one stem
per instrument and the rest. Several selected stems drag as several files.

A drag must carry a real file, and it must start from the mouse press, so the stems are written
ahead in a worker thread (atomically, WAV 32-bit float, into a per-session folder under
:func:`dragged_stems_root`): when a run ends, a step is chosen after it, or a job's stems are
shown (:meth:`StemListView.prepare`), or else on the first drag, which is ignored with a word
that they are being prepared; the GUI thread never waits for them. That folder lasts (the user's
data folder, not the temporary one, which is emptied on reboot or after a few days): a DAW may
keep referring to a dropped file instead of copying it until its project collects its media.
When it cannot be made or written, the drags' files go to the temporary folder, logged
(:func:`new_session_folder`).
Files are written once per result and reused by later drags (and by a job's audition). The
files a drag dropped somewhere are left in place, also when the app quits; the others (a drag
cancelled with Escape took none of them out) go when their result is replaced or the app quits
(:meth:`StemListView.remove_files`), so that runs and jobs on long songs do not fill the folder
with stems nobody took.
Export all stems… writes the same stems (Export the selected stems…, those selected) into a folder
the musician chooses, in the format and with the names they choose (:meth:`StemListView.writing`,
``gui/stem_export.py``).
The list remembers which of the stems shown left the app, by a drag that was dropped (not
cancelled) or an export, so that the window can ask before quitting or opening another song
loses the others (:meth:`StemListView.unkept_stems`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from platformdirs import user_data_dir
from PySide6.QtCore import QMimeData, Qt, QUrl, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.core.audio.export import export_shared_stems, export_stems
from tagbox_gui.core.audio.files import DiskFull, ExportFormat
from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE, shared_stem_names, stem_names
from tagbox_gui.core.errors import listed
from tagbox_gui.core.types import Estimate
from tagbox_gui.gui.background import run_in_background
from tagbox_gui.gui.widgets.plain_text import tooltip

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

log = logging.getLogger(__name__)
DRAGGED_STEMS = "Dragged stems"  # the folder under the user's data folder
STEM_ROLE = Qt.ItemDataRole.UserRole  # item data: the stem's index in stem_files()
DRAG_FORMAT = ExportFormat.WAV32
DRAG_FAILED = "Cannot drag the stems"  # export_failed's title when a drag waited for the files
WRITE_FAILED = "Cannot write the stems"  # ... when they were written ahead, nobody waiting
DRAGS_DISK_FULL = (
    "free some disk space, export the stems to another folder (Export all stems…) or delete "
    "old ones from the dragged stems folder (Tools ▸ Open the dragged stems folder)"
)  # what to do when the drags' files do not fit: their folder is not chosen
EMPTY_TEXT = "The stems of a run are listed here; drag them into your DAW."
_EXPORTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stem-export")


class Writer(Protocol):
    """Writes every stem of a result into a folder, or those of ``only`` (indices in the list's
    order); the paths of every stem, in the list's order."""

    def __call__(
        self,
        outdir: Path,
        fmt: ExportFormat = DRAG_FORMAT,
        template: str = DEFAULT_TEMPLATE,
        overwrite: bool = True,
        only: Sequence[int] | None = None,
    ) -> list[Path]: ...


class StemListView(QListWidget):
    """Lists the stems (``<song> - <tags>`` and ``<song> - no <tags>``, or one per instrument
    and the rest); drag them out as audio files.

    ``export_failed(Exception, str)`` carries what went wrong when the files cannot be written
    (a UserError says why in a sentence; anything else, e.g. memory that ran out, is shown too)
    and a title that fits what was done: :data:`DRAG_FAILED` or :data:`WRITE_FAILED`;
    ``preparing(str)`` a short message when a drag is ignored because they are being written;
    ``replaced`` fires when the stems shown give way to others (or to none).
    While none is listed, a grey line (``empty``: :data:`EMPTY_TEXT`, the list's accessible
    description too) says what comes there.
    A before-export hook (:meth:`set_before_export`) is asked before any file leaves the app by
    a drag; when it returns False (e.g. a licence declined) the drag does not start.
    """

    export_failed = Signal(object, str)  # the Exception their writing raised, and a title
    preparing = Signal(str)  # what to say when a drag is ignored: its files are being written
    replaced = Signal()

    def __init__(self, parent: QWidget | None = None, export_root: Path | None = None) -> None:
        super().__init__(parent)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        # a long name ("<song> - no drums + bass + piano", the rest's) goes on to a second line
        # where the column is narrow; a word longer than a line keeps both its ends
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)  # where one stem's name ends and the next begins
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._export_root = export_root
        self._session_dir: Path | None = None
        self._serial = 0
        self._song: Song | None = None
        self._writer: Writer | None = None
        self._names: Callable[[str], list[str]] | None = None  # file names, for a template
        self._paths: list[Path] | None = None
        self._pending: tuple[int, Future[list[Path]]] | None = None
        self._failed_title: str | None = None  # how the pending write's failure is said; None:
        # by whoever needed the files (e.g. "Cannot play NAME: …")
        self._before_export: Callable[[], bool] | None = None
        self._write_ahead: Callable[[], bool] | None = None
        self.backend_name: str | None = None  # the backend that made the stems shown
        self._carried: set[Path] = set()  # result folders a drag carried files out of
        self._kept: set[int] = set()  # rows of the stems shown that a drag or an export took
        self.empty = QLabel(EMPTY_TEXT, wordWrap=True, enabled=False,
                            alignment=Qt.AlignmentFlag.AlignCenter)  # fmt: skip
        self.empty.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        QVBoxLayout(self.viewport()).addWidget(self.empty)
        model = self.model()
        for changed in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            changed.connect(self._show_empty)
        self._show_empty()

    def _show_empty(self) -> None:
        """Show the line saying what comes here while no stem is listed, and only then."""
        empty = self.count() == 0
        self.empty.setVisible(empty)
        self.setAccessibleDescription(EMPTY_TEXT if empty else "")

    def set_before_export(self, hook: Callable[[], bool] | None) -> None:
        """Call ``hook`` before each drag; False refuses the drag (no file is written)."""
        self._before_export = hook

    def set_write_ahead(self, allowed: Callable[[], bool] | None) -> None:
        """Ask ``allowed()`` whether :meth:`prepare` may write the stems shown before their
        first drag (None: always), e.g. not before a licence is accepted."""
        self._write_ahead = allowed

    def set_stems(
        self,
        song: Song,
        estimate: Estimate,
        tags: Sequence[str],
        provenance: Mapping[str, str],
        backend_name: str,
    ) -> None:
        """Offer the separated and residual stems of ``estimate``; nothing is written until
        the first drag."""
        tags, provenance = list(tags), {**provenance, "backend": backend_name}

        def write(outdir: Path, fmt: ExportFormat = DRAG_FORMAT, template: str = DEFAULT_TEMPLATE,
                  overwrite: bool = True,
                  only: Sequence[int] | None = None) -> list[Path]:  # fmt: skip
            return list(export_stems(song, estimate, outdir, tags, fmt, provenance,
                                     overwrite=overwrite, template=template,
                                     only=only))  # fmt: skip

        def file_names(template: str) -> list[str]:
            return list(stem_names(song.name, tags, template=template))

        hints = ("what the taggers call " + " + ".join(tags), "the song without it")
        self._offer(song, file_names, hints, write, backend_name)

    def set_shared_stems(
        self,
        song: Song,
        estimates: Mapping[str, Estimate],
        provenance: Mapping[str, Mapping[str, str]],
        backend_name: str,
    ) -> None:
        """Offer one stem per instrument (sharing the mix) and the rest, in that order."""
        estimates, instruments = dict(estimates), list(estimates)

        def write(outdir: Path, fmt: ExportFormat = DRAG_FORMAT, template: str = DEFAULT_TEMPLATE,
                  overwrite: bool = True,
                  only: Sequence[int] | None = None) -> list[Path]:  # fmt: skip
            stems, rest = export_shared_stems(song, estimates, outdir, fmt, provenance,
                                              overwrite=overwrite, template=template,
                                              only=only)  # fmt: skip
            return [*stems, rest]

        def file_names(template: str) -> list[str]:
            return shared_stem_names(song.name, instruments, template=template)

        hints = [f"the {name}" for name in instruments] + ["what none of them took"]
        self._offer(song, file_names, hints, write, backend_name)

    def file_names(self, template: str) -> list[str]:
        """The file names (without extension) of the stems shown, for a name ``template``;
        ValueError with no stems."""
        if self._names is None:
            raise ValueError("no stems to name; call set_stems first")
        return self._names(template)

    def selected_stems(self) -> list[int]:
        """The stems selected, as their rows, in the list's order whatever order they were
        selected in."""
        return sorted(item.data(STEM_ROLE) for item in self.selectedItems())

    def writing(self, outdir: Path, fmt: ExportFormat, template: str, overwrite: bool,
                rows: Sequence[int] | None = None) -> Callable[[], list[Path]]:  # fmt: skip
        """The writing of the stems shown now (those in ``rows``; None: every one) into
        ``outdir`` (``core.audio.export``), to run later, e.g. in a worker: a later result
        does not change what it writes. It returns the paths written, in the list's order."""
        if self._writer is None:
            raise ValueError("no stems to export; call set_stems first")
        write = functools.partial(self._writer, outdir, fmt, template, overwrite, rows)

        def write_rows() -> list[Path]:
            paths = write()
            return paths if rows is None else [paths[row] for row in sorted(rows)]

        return write_rows

    def _offer(self, song: Song, names: Callable[[str], list[str]], hints: Sequence[str],
               writer: Writer, backend_name: str) -> None:  # fmt: skip
        titles = names(DEFAULT_TEMPLATE)
        self._replace_result(song, writer, names, backend_name)
        for index, (name, hint) in enumerate(zip(titles, hints, strict=True)):
            item = QListWidgetItem(name)
            item.setData(STEM_ROLE, index)
            item.setToolTip(  # the song's and the stems' names as they are, never HTML
                tooltip(f"{name}\n{hint}; drag into your DAW or file manager ({backend_name})")
            )
            self.addItem(item)

    def clear_stems(self) -> None:
        """Show nothing (e.g. when a new song is loaded)."""
        self._replace_result(None, None, None, None)

    def _replace_result(self, song: Song | None, writer: Writer | None,
                        names: Callable[[str], list[str]] | None,
                        backend_name: str | None) -> None:  # fmt: skip
        """Forget the result shown (its files go unless a drag carried them out, nothing of it
        counts as kept) and take this one's, with an empty list to fill."""
        self._drop_files()
        self._song, self._writer, self._names = song, writer, names
        self._paths, self._pending = None, None
        self.backend_name = backend_name
        self._serial += 1
        self._kept = set()
        self.clear()
        self.replaced.emit()

    @property
    def result_id(self) -> int:
        """Which result is shown: it changes whenever the stems shown are replaced."""
        return self._serial

    def mark_exported(self, result_id: int, rows: Sequence[int] | None = None) -> None:
        """Every stem of result ``result_id`` (those in ``rows``) was written where the
        musician chose (nothing changes when another result is shown by now)."""
        if result_id == self._serial:
            self._kept |= set(range(self.count()) if rows is None else rows)

    def shown_names(self) -> list[str]:
        """The names of the stems listed, in the list's order: another step of the same run
        lists the same, another run or song others."""
        return [self.item(row).text() for row in range(self.count())]

    def unkept_stems(self) -> list[str]:
        """The names of the stems shown that neither a drag nor an export took out of the
        app: they are lost when the app quits or the result is replaced."""
        if self._song is None:
            return []
        return [name for row, name in enumerate(self.shown_names()) if row not in self._kept]

    def losing(self, doing: str) -> str:
        """The sentence saying which stems ``doing`` loses (e.g. "quitting loses"), or "" when
        a drag or an export took every one of them out of the app."""
        names = self.unkept_stems()
        if not names:
            return ""
        one, more = len(names) == 1, len(names) - 3
        shown = listed([*names[:3], f"{more} more"] if more > 0 else names)
        return (f"{'This stem was' if one else 'These stems were'} never exported or dragged "
                f"out: {shown}; {doing} {'it' if one else 'them'}.")  # fmt: skip

    def prepare(self, needed: bool = False) -> Future[list[Path]] | None:
        """Start writing the stems in a worker thread, so that a later drag starts at once.

        Optional (e.g. when a run finishes); a drag before it is done starts it. Returns
        the pending write (None when there is nothing to write, its files are there, or it
        may not be written ahead: :meth:`set_write_ahead`, unless the files are ``needed``
        now, e.g. to hear a stem from them). A write that fails says so when it does
        (:attr:`export_failed`, as :data:`WRITE_FAILED`), unless the files were ``needed``:
        then the caller says it (one message, not two); the next drag writes again.
        """
        if self._song is None or self._files_there():
            return None
        if not needed and self._write_ahead is not None and not self._write_ahead():
            return None
        if self._pending is None:
            job = self._export_job()  # captured now: a later result cannot change what it writes
            write = run_in_background(*job, then=self._on_write_done, pool=_EXPORTER)
            self._pending, self._failed_title = (self._serial, write), WRITE_FAILED
        if needed:
            self._failed_title = None
        return self._pending[1]

    def _on_write_done(self, done: Future[list[Path]]) -> None:
        """A write of the stems ended: where it failed and no drag has said so yet, say it
        now, once; the next drag writes them again."""
        if self._pending is None or self._pending[1] is not done:
            return  # replaced since, or its outcome taken by a drag or a stem heard
        error = None if done.cancelled() else done.exception()
        if isinstance(error, Exception):
            self._pending = None
            if self._failed_title is not None:
                self.export_failed.emit(error, self._failed_title)

    def stem_files(self) -> list[Path]:
        """Write the stems (once per result) and return their paths, in the list's order.

        Raises a :class:`UserError` when they cannot be written, ValueError with no stems.
        """
        if self._song is None or self._writer is None:
            raise ValueError("no stems to export; call set_stems first")
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == self._serial:
            self._paths = pending[1].result()  # re-raises the worker's UserError
        if not self._files_there():
            writer, outdir = self._export_job()
            self._paths = writer(outdir)  # our own files
        return self._paths

    def remove_files(self) -> None:
        """The app quits: remove the files of the stems shown unless a drag carried them out,
        and the session's folder when nothing is left in it (in the background,
        once a write under way has ended)."""
        self._drop_files()
        self._paths, self._pending = None, None
        if self._session_dir is not None:
            _EXPORTER.submit(_remove_empty_folder, self._session_dir)

    def _drop_files(self) -> None:
        """The stems shown are replaced: their files (written, or being written) go, unless a
        drag carried them out."""
        if self._session_dir is None or (self._paths is None and self._pending is None):
            return
        folder = self._session_dir / f"result-{self._serial}"
        if folder in self._carried:
            return
        if self._pending is not None:
            self._pending[1].cancel()  # not started yet: nothing to write
        _remove_folder(folder)

    def _export_job(self) -> tuple[Callable[[Path], list[Path]], Path]:
        assert self._writer is not None
        write = functools.partial(_write_for_drags, self._writer)
        return write, self._session_folder() / f"result-{self._serial}"

    def _written_files(self) -> list[Path] | None:
        """The stems' files if they are written (what their writing raised, if it failed), without
        waiting; else None, their writing started if it was not under way."""
        pending = self._pending
        if pending is not None and pending[1].done():
            self._pending = None
            self._paths = pending[1].result()  # re-raises what the worker raised
        if self._files_there():
            return self._paths
        self.prepare(needed=True)
        self._failed_title = DRAG_FAILED  # the drag waiting for them says it
        return None

    def _files_there(self) -> bool:
        """Whether the stems' files are written and still there: the folder may have been
        emptied by hand meanwhile, and a file taken out of it by a drop that moved it."""
        return self._paths is not None and all(p.is_file() for p in self._paths)

    def mimeData(self, items: Sequence[QListWidgetItem]) -> QMimeData | None:  # Qt override
        """``file://`` URLs of the items' stems in the list's order, whatever order they were
        selected in (a DAW makes its tracks in it); None, and the drag does not start, while
        their files are being written (:attr:`preparing` says so) or when they cannot be."""
        if not items or self._song is None:
            return None
        if self._before_export is not None and not self._before_export():
            return None
        try:
            paths = self._written_files()
        except Exception as exc:  # the worker's, re-raised: shown (and logged) as it failed
            self.export_failed.emit(exc, DRAG_FAILED)
            return None
        if paths is None:
            self.preparing.emit("Preparing the stems for dragging… drag again in a moment.")
            return None
        mime = QMimeData()
        rows = sorted({item.data(STEM_ROLE) for item in items})
        mime.setUrls([QUrl.fromLocalFile(str(paths[row])) for row in rows])
        return mime

    def startDrag(self, supportedActions: Qt.DropAction) -> None:  # Qt override
        items, serial = self.selectedItems(), self._serial
        rows = {item.data(STEM_ROLE) for item in items}  # the items go if the result changes
        mime = self.mimeData(items)
        if mime is None:
            return
        folder = Path(mime.urls()[0].toLocalFile()).parent
        carried = folder in self._carried  # by an earlier drag, dropped: kept whatever comes
        self._carried.add(folder)  # a result replaced during the drag leaves it
        drag = QDrag(self)
        drag.setMimeData(mime)
        dropped = drag.exec(Qt.DropAction.CopyAction) != Qt.DropAction.IgnoreAction
        if dropped and serial == self._serial:  # taken out; not when cancelled (Escape)
            self._kept.update(rows)
        elif not dropped and not carried:  # the DAW has none of them: they go with the result
            self._carried.discard(folder)
            if serial != self._serial:  # replaced during the drag: now
                _remove_folder(folder)

    def _session_folder(self) -> Path:
        if self._session_dir is None:
            self._session_dir = new_session_folder(self._export_root)
        return self._session_dir


def _write_for_drags(writer: Writer, outdir: Path) -> list[Path]:
    """``writer(outdir)``, where a full disk says what a drag can do (:data:`DRAGS_DISK_FULL`)."""
    try:
        return writer(outdir)
    except DiskFull as exc:
        raise exc.advised(DRAGS_DISK_FULL) from exc


def dragged_stems_root() -> Path:
    """The lasting per-user folder the files of drags are written under, one folder per
    session (``platformdirs.user_data_dir``; not made here)."""
    return Path(user_data_dir("tagbox-gui")) / DRAGGED_STEMS


def new_session_folder(root: Path | None = None) -> Path:
    """A new folder for one session's drags, made under ``root`` (by default under
    :func:`dragged_stems_root`, made first, its name starting with the date). When the default
    cannot be made or written, it is made in the temporary folder instead and that is logged: a
    drag still works, but its files may not last."""
    if root is not None:
        return Path(tempfile.mkdtemp(prefix="tagbox-stems-", dir=root))
    lasting = dragged_stems_root()
    try:
        lasting.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=time.strftime("%Y-%m-%d-"), dir=lasting))
    except OSError as exc:
        log.warning("dragged stems go to the temporary folder, where they may not last: "
                    "%s cannot be used (%s)", lasting, exc)  # fmt: skip
        return Path(tempfile.mkdtemp(prefix="tagbox-stems-"))


def _remove_folder(folder: Path) -> None:
    """Remove ``folder`` and its files in the writer's thread, after a write under way."""
    _EXPORTER.submit(shutil.rmtree, folder, ignore_errors=True)


def _remove_empty_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # files a drag carried out are still there
        folder.rmdir()
