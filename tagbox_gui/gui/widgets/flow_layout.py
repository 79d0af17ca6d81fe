"""A row of controls that wraps onto more lines when its width is short (Qt's flow layout).

Where the row fits, it looks like a ``QHBoxLayout`` of the same items: each item at its size
hint, the spare width to the items that expand (a slider, a stretch), the same spacing (none
beside a stretch). Where it does not, the items that no longer fit go on the next line, so the
row never makes the window wider than its widest item. Keep controls that read together
(``Region 0.00 s to 12.00 s``) in one :func:`group`: a group wraps whole.

The least size is that of the row wrapped at its least width (its widest item), so a panel
holding it is never squeezed below what the wrapped row needs; laid out, it takes only the
height its width needs (height for width).
"""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLayout,
    QLayoutItem,
    QWidget,
)


def group(*widgets: QWidget | None) -> QWidget:
    """``widgets`` side by side in a widget of their own, which a :class:`FlowLayout` keeps
    on one line (None: a stretch there; the group expands when a stretch or a widget in it
    does)."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        if widget is None:
            row.addStretch(1)
        else:
            row.addWidget(widget)
    return box


class FlowLayout(QLayout):
    """Items left to right, wrapped onto more lines where the width is short."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []

    # ----- building --------------------------------------------------------------------
    def addItem(self, item: QLayoutItem) -> None:  # Qt override
        self._items.append(item)
        self.invalidate()

    def count(self) -> int:  # Qt override
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # Qt override
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # Qt override
        if not 0 <= index < len(self._items):
            return None
        item = self._items.pop(index)
        self.invalidate()
        return item

    # ----- sizes -----------------------------------------------------------------------
    def expandingDirections(self) -> Qt.Orientation:  # Qt override
        wide = any(_expands(i) for i in self._shown())
        return Qt.Orientation.Horizontal if wide else Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # Qt override
        return self._lay_out(QRect(0, 0, width, 0), place=False)

    def sizeHint(self) -> QSize:  # Qt override: all on one line
        shown = self._shown()
        width = sum(i.sizeHint().width() for i in shown)
        width += sum(self._gap(a, b) for a, b in pairwise(shown))
        height = max((i.sizeHint().height() for i in shown), default=0)
        return self._with_margins(width, height)

    def minimumSize(self) -> QSize:  # Qt override: wrapped at its widest item
        widest = max((self._least_width(i) for i in self._shown()), default=0)
        left, _, right, _ = self.getContentsMargins()
        return QSize(widest + left + right, self.heightForWidth(widest + left + right))

    def setGeometry(self, rect: QRect) -> None:  # Qt override
        super().setGeometry(rect)
        self._lay_out(rect, place=True)

    # ----- laying out ------------------------------------------------------------------
    def _shown(self) -> list[QLayoutItem]:
        return [i for i in self._items if not (i.widget() is not None and i.widget().isHidden())]

    @staticmethod
    def _least_width(item: QLayoutItem) -> int:
        return max(item.sizeHint().width(), item.minimumSize().width())

    def _gap(self, before: QLayoutItem, after: QLayoutItem) -> int:
        """The spacing between two neighbours: a box layout's, and none beside a stretch."""
        if before.spacerItem() is not None or after.spacerItem() is not None:
            return 0
        return max(self.spacing(), 0)  # as set, else the style's (as a box layout's)

    def _lines(self, width: int) -> list[list[QLayoutItem]]:
        """The items line by line: as many on a line as fit ``width`` at their size hints."""
        lines: list[list[QLayoutItem]] = []
        used = 0
        for item in self._shown():
            wide = self._least_width(item)
            if lines and used + self._gap(lines[-1][-1], item) + wide <= width:
                used += self._gap(lines[-1][-1], item) + wide
                lines[-1].append(item)
            else:
                lines.append([item])
                used = wide
        return lines

    def _lay_out(self, rect: QRect, place: bool) -> int:
        """Place the items in ``rect`` (when ``place``); the height they take."""
        left, top, right, bottom = self.getContentsMargins()
        inner = rect.adjusted(left, top, -right, -bottom)
        y = inner.y()
        for number, line in enumerate(self._lines(inner.width())):
            gaps = [0, *(self._gap(a, b) for a, b in pairwise(line))]
            height = max(i.sizeHint().height() for i in line)
            if number:
                y += max(self.spacing(), 0)
            if place:
                self._place_line(line, gaps, QRect(inner.x(), y, inner.width(), height))
            y += height
        return y - inner.y() + top + bottom

    def _place_line(self, line: list[QLayoutItem], gaps: list[int], rect: QRect) -> None:
        """One line: each item at its size hint (at most the line's width), the spare width
        shared by the items that expand."""
        widths = [min(self._least_width(i), rect.width()) for i in line]
        growing = [n for n, i in enumerate(line) if _expands(i)]
        spare = rect.width() - sum(widths) - sum(gaps)
        for order, n in enumerate(growing):
            share = spare // len(growing) + (1 if order < spare % len(growing) else 0)
            widths[n] += max(share, 0)
        x = rect.x()
        for item, gap, width in zip(line, gaps, widths, strict=True):
            x += gap
            item.setGeometry(QRect(QPoint(x, rect.y()), QSize(width, rect.height())))
            x += width

    def _with_margins(self, width: int, height: int) -> QSize:
        left, top, right, bottom = self.getContentsMargins()
        return QSize(width + left + right, height + top + bottom)


def _expands(item: QLayoutItem) -> bool:
    """Whether ``item`` takes spare width (a slider, a stretch, a group holding one)."""
    return bool(item.expandingDirections() & Qt.Orientation.Horizontal)
