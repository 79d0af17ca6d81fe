"""The window's shortcut keys, each named once: its action or shortcut is made with it, and a
text that names it (a tooltip, a placeholder) shows it with :func:`shown`."""

from __future__ import annotations

from PySide6.QtCore import QKeyCombination, Qt
from PySide6.QtGui import QKeySequence

Key = QKeyCombination | QKeySequence.StandardKey | Qt.Key
_CTRL = Qt.KeyboardModifier.ControlModifier  # the Command key on macOS

OPEN = QKeySequence.StandardKey.Open
FIND = QKeySequence.StandardKey.Find
EXPORT = _CTRL | Qt.Key.Key_E
EXPORT_SELECTED = _CTRL | Qt.KeyboardModifier.ShiftModifier | Qt.Key.Key_E
RUN = _CTRL | Qt.Key.Key_R
PAUSE = _CTRL | Qt.Key.Key_P
STOP = Qt.Key.Key_Escape
PLAY = Qt.Key.Key_Space
SIDE_TABS = (_CTRL | Qt.Key.Key_1, _CTRL | Qt.Key.Key_2, _CTRL | Qt.Key.Key_3)


def shown(key: Key) -> str:
    """``key`` as the desktop writes it (⌘R on macOS, Ctrl+R elsewhere, in its language).

    Call it where the text is built, once the QGuiApplication is made: Qt crashes without it.
    """
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
