"""The two stems of a result, ready to be dragged into a DAW or a file manager.

A drag must carry a real file, so the stems are written first (atomically, WAV 32-bit float,
into a per-session temporary folder) and only then is the drag started with their URLs.
Files are written once per result and reused by later drags. They are left in place when the
app quits, because a DAW may keep referring to a dropped file instead of copying it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, Qt, QUrl, Signal
from PySide6.QtGui import QDrag, QGuiApplication
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from tagbox_gui.core.audio.export import ExportFormat, export_stems, stem_names
from tagbox_gui.core.errors import UserError
from tagbox_gui.core.types import Estimate

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

STEM_ROLE = Qt.ItemDataRole.UserRole  # item data: 0 separated, 1 residual
DRAG_FORMAT = ExportFormat.WAV32
_EXPORTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stem-export")


class StemListView(QListWidget):
    """Lists ``<song> - <tags>`` and ``<song> - no <tags>``; drag them out as audio files.

    ``export_failed(str)`` carries the one-sentence message when the files cannot be written.
    A before-export hook (:meth:`set_before_export`) is asked before any file leaves the app by
    a drag; when it returns False (e.g. a licence declined) the drag does not start.
    """

    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, export_root: Path | None = None) -> None:
        super().__init__(parent)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self._export_root = export_root
        self._session_dir: Path | None = None
        self._serial = 0
        self._song: Song | None = None
        self._estimate: Estimate | None = None
        self._tags: list[str] = []
        self._provenance: dict[str, str] = {}
        self._paths: tuple[Path, Path] | None = None
        self._pending: tuple[int, Future[tuple[Path, Path]]] | None = None
        self._before_export: Callable[[], bool] | None = None

    def set_before_export(self, hook: Callable[[], bool] | None) -> None:
        """Call ``hook`` before each drag; False refuses the drag (no file is written)."""
        self._before_export = hook

    def set_stems(
        self,
        song: Song,
        estimate: Estimate,
        tags: Sequence[str],
        provenance: Mapping[str, str],
        backend_name: str,
    ) -> None:
        """Offer the stems of ``estimate``; nothing is written until the first drag."""
        self._song, self._estimate, self._tags = song, estimate, list(tags)
        self._provenance = {**provenance, "backend": backend_name}
        self._paths, self._pending = None, None
        self._serial += 1
        self.clear()
        names = stem_names(song.name, self._tags)
        hints = ("what the taggers call " + " + ".join(self._tags), "the song without it")
        for index, (name, hint) in enumerate(zip(names, hints, strict=True)):
            item = QListWidgetItem(name)
            item.setData(STEM_ROLE, index)
            item.setToolTip(f"{hint}; drag into your DAW or file manager ({backend_name})")
            self.addItem(item)

    def clear_stems(self) -> None:
        """Show nothing (e.g. when a new song is loaded)."""
        self._song = self._estimate = None
        self._paths, self._pending = None, None
        self._serial += 1
        self.clear()

    def prepare(self) -> None:
        """Start writing the stems in a worker thread, so that a later drag starts at once.

        Optional (e.g. when a run finishes); a drag before it is done waits for it.
        """
        if self._song is None or self._paths is not None or self._pending is not None:
            return
        job = self._export_job()  # captured now: a later set_stems cannot change what it writes
        self._pending = (self._serial, _EXPORTER.submit(export_stems, *job, overwrite=True))

    def stem_files(self) -> tuple[Path, Path]:
        """Write the two stems (once per result) and return their paths.

        Raises a :class:`UserError` when they cannot be written, ValueError with no stems.
        """
        if self._song is None or self._estimate is None:
            raise ValueError("no stems to export; call set_stems first")
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == self._serial:
            self._paths = pending[1].result()  # re-raises the worker's UserError
        if self._paths is None or not all(p.is_file() for p in self._paths):
            self._paths = export_stems(*self._export_job(), overwrite=True)  # our own files
        return self._paths

    def _export_job(self) -> tuple:
        outdir = self._session_folder() / f"result-{self._serial}"
        return (self._song, self._estimate, outdir, self._tags, DRAG_FORMAT, self._provenance)

    def make_mime_data(self, items: Sequence[QListWidgetItem]) -> QMimeData:
        """Mime data holding ``file://`` URLs of the items' stems (written first if needed)."""
        paths = self.stem_files()
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(paths[item.data(STEM_ROLE)])) for item in items])
        return mime

    def mimeData(self, items: Sequence[QListWidgetItem]) -> QMimeData | None:  # Qt override
        if not items or self._song is None:
            return None
        if self._before_export is not None and not self._before_export():
            return None
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return self.make_mime_data(items)
        except UserError as exc:
            self.export_failed.emit(str(exc))
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()

    def startDrag(self, supportedActions: Qt.DropAction) -> None:  # Qt override
        mime = self.mimeData(self.selectedItems())
        if mime is None:
            return
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)

    def _session_folder(self) -> Path:
        if self._session_dir is None:
            root = str(self._export_root) if self._export_root is not None else None
            self._session_dir = Path(tempfile.mkdtemp(prefix="tagbox-stems-", dir=root))
        return self._session_dir
