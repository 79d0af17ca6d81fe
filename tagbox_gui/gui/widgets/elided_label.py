"""A one-line label that never widens the window: a long text ends in "…" where it must."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget

from tagbox_gui.gui.widgets.plain_text import tooltip

MIN_CHARACTERS = 8  # the narrowest it gets: about this many characters of the text


class ElidedLabel(QLabel):
    """A plain-text, one-line :class:`QLabel` whose minimum width is a few characters.

    It asks for its whole text's width when there is room and gives way when there is none, so
    a long song name cannot push the window wider than the screen. When the text does not fit,
    it is drawn with an ellipsis and the whole text is the tooltip; :meth:`text` is always the
    whole text.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._own_tooltip = False  # a tooltip set by the caller stays; else the whole text
        self.setTextFormat(Qt.TextFormat.PlainText)

    def minimumSizeHint(self) -> QSize:  # Qt override
        hint = super().minimumSizeHint()
        narrow = self.fontMetrics().averageCharWidth() * MIN_CHARACTERS
        margins = self.contentsMargins()
        return QSize(min(hint.width(), narrow + margins.left() + margins.right()), hint.height())

    def is_elided(self) -> bool:
        """Whether the text is cut short at the current width."""
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def setText(self, text: str) -> None:  # Qt override: the tooltip follows the text
        super().setText(text)
        self._update_tooltip()

    def resizeEvent(self, event: QResizeEvent) -> None:  # Qt override
        super().resizeEvent(event)
        self._update_tooltip()

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        if not self.is_elided():
            super().paintEvent(event)  # the label's own drawing (selection included)
            return
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, rect.width()
        )
        painter = QPainter(self)
        self.style().drawItemText(
            painter,
            rect,
            self.alignment(),
            self.palette(),
            self.isEnabled(),
            shown,
            self.foregroundRole(),
        )

    def setToolTip(self, text: str) -> None:  # Qt override: a tooltip of the caller's wins
        self._own_tooltip = bool(text)
        super().setToolTip(tooltip(text))  # plain text too (a song's path, say)

    def _update_tooltip(self) -> None:
        if not self._own_tooltip:
            super().setToolTip(tooltip(self.text()) if self.is_elided() else "")
