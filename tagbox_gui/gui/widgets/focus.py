"""Keyboard focus: the Tab order of widgets added after their panel was built, and Escape
while typing."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QPlainTextEdit,
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
