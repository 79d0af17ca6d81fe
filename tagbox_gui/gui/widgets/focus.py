"""Keyboard focus: the Tab order of widgets added after their panel was built, Escape while
typing, and scroll areas that follow the focus."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from PySide6.QtCore import QEvent, Qt, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QTextEdit,
    QWidget,
)


def tab_after(anchor: QWidget, widgets: Sequence[QWidget]) -> None:
    """Put ``widgets`` right after ``anchor`` in the Tab order, in this order.

    A widget added to a window that is shown already comes last in its Tab order (after every
    other panel); a panel's buttons made later (e.g. once the instruments are known) go back to
    their place, the top of their panel, with the panel as ``anchor``. ``setTabOrder`` ignores
    a widget that takes no focus, as a panel does: the anchor takes Tab focus meanwhile.
    """
    policy = anchor.focusPolicy()
    anchor.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    try:
        for before, after in pairwise([anchor, *widgets]):
            QWidget.setTabOrder(before, after)
    finally:
        anchor.setFocusPolicy(policy)


TEXT_FIELDS = (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)


def typing_escape(event: QEvent) -> bool:
    """Whether ``event`` asks if Escape, pressed in a text field, may be a shortcut: it may
    not, so that Escape while typing (the tag search, an example's name) does not stop a run."""
    return (
        event.type() == QEvent.Type.ShortcutOverride
        and isinstance(event, QKeyEvent)
        and event.key() == Qt.Key.Key_Escape
        and isinstance(QApplication.focusWidget(), TEXT_FIELDS)
    )


class FocusScroll(QScrollArea):
    """A scroll area that Tab passes through, which scrolls to the control that has the focus.

    A plain one is a Tab stop of its own that shows no focus, and scrolls only for Tab between
    its own controls. This one takes no focus, and scrolls to whichever of its controls takes
    it: by Tab or Shift+Tab from outside the area too, or by a label's mnemonic. It does not
    move when that control is under the pointer (focused by a click or the wheel, or shown
    under a resting pointer already), so that a click never scrolls what it clicks away.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        QApplication.instance().focusChanged.connect(self._on_focus_changed)

    @Slot(QWidget, QWidget)
    def _on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        content = self.widget()
        if new is None or content is None or not content.isAncestorOf(new):
            return
        if new.underMouse() or QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return
        areas = []  # the scroll areas it is in, inside this one first: each scrolls to it
        parent = new.parentWidget()
        while parent is not None and parent is not self:
            if isinstance(parent, QScrollArea):
                areas.append(parent)
            parent = parent.parentWidget()
        for area in [*areas, self]:
            area.ensureWidgetVisible(new)
