"""Asks where, in which format and under which names to export the stems."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.core.audio.files import ExportFormat, check_channels, space_for
from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE
from tagbox_gui.core.errors import UserError
from tagbox_gui.core.folders import format_size, nearest_folder, why_not_a_folder
from tagbox_gui.gui.errors import user_message

FORMAT_TITLES = {
    ExportFormat.WAV32: "WAV, 32-bit float (exact, no clipping)",
    ExportFormat.WAV24: "WAV, 24-bit",
    ExportFormat.WAV16: "WAV, 16-bit",
    ExportFormat.FLAC24: "FLAC, 24-bit",
    ExportFormat.FLAC16: "FLAC, 16-bit",
}
SPACE_CHECK_MS = 300  # the disk is asked once typing pauses: on a network mount each ask stalls


class ExportDialog(QDialog):
    """Folder, format and name template for an export of every stem, or of those selected;
    the files' names are shown.

    ``names_of(template)`` gives the stems' file names (without extension) for a template, or
    raises a UserError saying why the template cannot name them (Save is then disabled). Save
    is disabled too while the folder is not a full path (``~`` is the home folder): an empty or
    relative one would put the stems wherever the app was started from, and while the format
    cannot hold the song's ``channels`` (FLAC, past 8). With the song's ``peak`` past full
    scale, a 16- or 24-bit format is warned about: it clips the stems. What Save would meet in
    the folder (a file in its way, no right to write, a folder to make, a disk too full: see
    :meth:`_say_space`) is said under it as the dialog opens and then once an edit is followed
    by a pause of :data:`SPACE_CHECK_MS`. What is shown keeps to the dialog's width: a sentence
    wraps, and a name too long for a line is shortened in its middle (all the names are then in
    the tooltip).
    """

    def __init__(
        self,
        names_of: Callable[[str], Sequence[str]],
        folder: str,
        fmt: ExportFormat,
        template: str = DEFAULT_TEMPLATE,
        parent: QWidget | None = None,
        peak: float = 0.0,
        channels: int = 1,
        frames: int = 0,
    ) -> None:
        super().__init__(parent)
        self._peak = peak  # the song's: past 1 (0 dBFS), a PCM format clips the stems there
        self._channels = channels  # the song's, which every stem has
        self._frames = frames  # the song's length, and every stem's
        self.setWindowTitle("Export all stems")
        self.folder = QLineEdit(folder)
        browse = QPushButton("&Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        self.format = QComboBox()
        for value, title in FORMAT_TITLES.items():
            self.format.addItem(title, value.value)
        self.format.setCurrentIndex(self.format.findData(fmt.value))
        self.template = QLineEdit(template)
        self.template.setToolTip("How the files are named: {song} is the song's name, {stem} "
                                 "the stem's (e.g. piano, or no piano for the rest)")  # fmt: skip
        self.files = QLabel(wordWrap=True)  # never wider than the dialog: see _show_names
        self.files.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._file_names: list[str] = []  # those shown, with extension
        self.space = QLabel(visible=False, wordWrap=True)  # what Save would meet in the folder
        self.space.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.space.setTextFormat(Qt.TextFormat.PlainText)
        self._space_check = QTimer(self, singleShot=True, interval=SPACE_CHECK_MS)
        self._space_check.timeout.connect(self._say_space)
        self._refused: Path | None = None  # the folder the last check refused, if it did
        self._names_of = names_of
        self.format.currentIndexChanged.connect(self._show_files)
        self.template.textChanged.connect(self._show_files)
        self.folder.textChanged.connect(self._show_files)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        place = QVBoxLayout()  # the folder, and under it whether the stems fit on its disk
        place.addLayout(row)
        place.addWidget(self.space)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save.setText("&Save")  # Qt's own texts have no Alt key on every desktop
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("&Cancel")
        form = QFormLayout(self)  # each label is its field's buddy: Alt+its letter goes there
        form.addRow("&Folder", place)
        form.labelForField(place).setBuddy(self.folder)  # a row with its button, not a field
        form.addRow("F&ormat", self.format)
        form.addRow("&Names", self.template)
        form.addRow("Files", self.files)
        self._show_files()
        self._say_space()  # at once: the dialog opens saying it
        form.addRow(buttons)
        self.resize(560, self.sizeHint().height())

    def chosen(self) -> tuple[Path, ExportFormat, str]:
        """The folder (without spaces around it: pasted with the path), the format and the name
        template."""
        folder = Path(self.folder.text().strip()).expanduser()
        return folder, ExportFormat(self.format.currentData()), self.template.text()

    @Slot()
    def _show_files(self) -> None:
        fmt = ExportFormat(self.format.currentData())
        ext = fmt.extension
        try:
            check_channels(fmt, self._channels)
            names = self._names_of(self.template.text())
        except UserError as exc:
            self._refuse(user_message(exc))  # as an error dialog says it
            return
        if not self.chosen()[0].is_absolute():  # nor an empty one: that is "."
            self._refuse("Choose the folder to export to (Browse…), or type its full path.")
            return
        self._file_names = [name + ext for name in names]
        self._show_names()
        self.save.setEnabled(self.chosen()[0] != self._refused)  # until the folder's next check
        self._space_check.start()  # (again: a check due is put off)

    def _show_names(self) -> None:
        """The files' names, each on a line of the label's width (shortened in the middle)."""
        room, metrics = self.files.contentsRect().width(), self.files.fontMetrics()
        mode = Qt.TextElideMode.ElideMiddle
        shown = [metrics.elidedText(name, mode, room) for name in self._file_names]
        self.files.setText("<br>".join(map(escape, shown)) + self._clipping_note())
        self.files.setToolTip("" if shown == self._file_names else "\n".join(self._file_names))
        self._fit_files()

    def _fit_files(self) -> None:
        """The files' label, and the line under the folder, as tall as their wrapped lines: a
        window's layout leaves them out of its minimum height, and would cut them off."""
        if self.isVisible():  # before, a label has no width of its own yet
            for label in (self.files, self.space):
                label.setMinimumHeight(label.heightForWidth(label.width()))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._file_names:  # the lines fit the label's new width
            self._show_names()
        else:
            self._fit_files()

    @Slot()
    def _say_space(self) -> None:
        """Under the folder, what Save would meet there (none shown: nothing can be saved, and
        nothing is said): a file in its way, or a folder it may not write in, and Save is
        disabled; a folder it would make first, with the nearest folder there is (a drive not
        plugged in shows: its stems would go where it was mounted); WAV stems that will not fit
        on its disk (Save still refuses them, as ``check_space`` does)."""
        self._space_check.stop()  # told now
        if not self._file_names:
            return
        folder, fmt, _ = self.chosen()
        if refused := why_not_a_folder(folder, "choose another folder"):
            self._say_under_folder(f"'{folder}' {refused}.", refuse=True)
            return
        there = nearest_folder(folder)
        if there is None:  # its drive is not there
            self._say_under_folder(f"'{folder}' cannot be made: nothing of it is there (a drive "
                                   "not plugged in?); choose another folder.",
                                   refuse=True)  # fmt: skip
            return
        if not os.access(there, os.W_OK):
            made = "" if there == folder else f"cannot be made: '{there}' "
            self._say_under_folder(f"'{folder}' {made}cannot be written in (a read-only disk, "
                                   "or another user's folder); choose another folder.",
                                   refuse=True)  # fmt: skip
            return
        said = [] if there == folder else [f"'{folder}' does not exist yet; Save makes it "
                                           f"inside '{there}'."]  # fmt: skip
        count = len(self._file_names)
        space = space_for(folder, fmt, [(self._frames, self._channels)] * count)
        need, free = space or (0, 0)
        if need > free:
            said.append(f"These stems take {format_size(need)}; the disk has "
                        f"{format_size(free)} free.")  # fmt: skip
        self._say_under_folder("\n".join(said))

    def _say_under_folder(self, text: str, refuse: bool = False) -> None:
        """Show ``text`` under the folder (none: hide the line), red where Save is disabled
        for it (``refuse``)."""
        self.space.setStyleSheet(f"color: {'#cf222e' if refuse else '#d08a2a'}")
        self.space.setText(text)
        self.space.setVisible(bool(text))
        self.save.setEnabled(not refuse)
        self._refused = self.chosen()[0] if refuse else None
        self._fit_files()

    def _clipping_note(self) -> str:
        """A warning under the files when the chosen PCM format would clip the song's peaks."""
        if ExportFormat(self.format.currentData()).bits is None or self._peak <= 1.0:
            return ""
        over = 20 * math.log10(self._peak)  # under 0.05 dB it would read "0.0 dB over"
        how_far = "just" if over < 0.05 else f"{over:.1f} dB"
        return (f"<br><span style='color:#d08a2a'>The song peaks {how_far} over full scale: "
                "a 16- or 24-bit file clips the stems there (their sum is then no longer the "
                "song). WAV 32-bit float keeps every sample.</span>")  # fmt: skip

    def _refuse(self, why: str) -> None:
        """Say ``why`` nothing can be saved, and disable Save."""
        self._file_names = []
        self.files.setText(f"<span style='color:#cf222e'>{escape(why)}</span>")
        self.files.setToolTip("")
        self._fit_files()
        self.save.setEnabled(False)
        self._space_check.stop()
        self.space.setText("")
        self.space.setVisible(False)

    @Slot()
    def _on_browse_clicked(self) -> None:
        typed = self.chosen()[0]  # opened at it or, gone, at its nearest parent still there
        start = nearest_folder(typed) if typed.is_absolute() else None  # a drive gone
        folder = QFileDialog.getExistingDirectory(
            self, "Export stems to", str(start or Path.home())
        )
        if folder:
            self.folder.setText(folder)
