"""Asks where and in which format to export the two stems."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
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
    QWidget,
)

from tagbox_gui.core.audio.export import ExportFormat

FORMAT_TITLES = {
    ExportFormat.WAV32: "WAV, 32-bit float (exact, no clipping)",
    ExportFormat.WAV24: "WAV, 24-bit",
    ExportFormat.WAV16: "WAV, 16-bit",
    ExportFormat.FLAC24: "FLAC, 24-bit",
    ExportFormat.FLAC16: "FLAC, 16-bit",
}


class ExportDialog(QDialog):
    """Folder and format for Export…; the names of the two files are shown."""

    def __init__(
        self, names: tuple[str, str], folder: str, fmt: ExportFormat, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export stems")
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        self.format = QComboBox()
        for value, title in FORMAT_TITLES.items():
            self.format.addItem(title, value.value)
        self.format.setCurrentIndex(self.format.findData(fmt.value))
        self.files = QLabel()
        self._names = names
        self.format.currentIndexChanged.connect(self._show_files)
        self._show_files()
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Folder", row)
        form.addRow("Format", self.format)
        form.addRow("Files", self.files)
        form.addRow(buttons)
        self.resize(560, self.sizeHint().height())

    def chosen(self) -> tuple[Path, ExportFormat]:
        return Path(self.folder.text()).expanduser(), ExportFormat(self.format.currentData())

    @Slot()
    def _show_files(self) -> None:
        ext = ExportFormat(self.format.currentData()).extension
        self.files.setText("\n".join(name + ext for name in self._names))

    @Slot()
    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export stems to", self.folder.text())
        if folder:
            self.folder.setText(folder)
