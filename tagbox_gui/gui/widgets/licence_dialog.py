"""A model's licence, to accept or decline before it is downloaded or installed."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from tagbox_gui.core.store.registry import ModelInfo


class LicenceDialog(QDialog):
    """Shows a model's licence; Accept or Decline (the default: Enter or Escape declines)."""

    def __init__(self, info: ModelInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Licence of {info.name}")
        intro = QLabel(
            f"<b>{info.title}</b> is under the <b>{info.licence}</b>. "
            "Stems you make with it inherit these terms."
        )
        intro.setWordWrap(True)
        self.text = QTextBrowser(accessibleName=self.windowTitle())
        self.text.setPlainText(info.licence_text)
        self.text.setOpenExternalLinks(True)
        buttons = QDialogButtonBox()
        self.accept_button = buttons.addButton("&Accept", QDialogButtonBox.ButtonRole.AcceptRole)
        self.decline_button = buttons.addButton("&Decline", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.decline_button.setDefault(True)  # accepting binds the stems: not by a stray Enter
        self.resize(520, 300)

    @staticmethod
    def ask(info: ModelInfo, parent: QWidget | None = None) -> bool:
        """True when the user accepts the licence (modal)."""
        return LicenceDialog(info, parent).exec() == QDialog.DialogCode.Accepted
