"""Keys for the play position from anywhere in the window: Home, and comma / period to nudge.

They are not shortcuts, which would take the keys from every control: they act on the keys the
control with the focus leaves unused, as Qt hands those on to the window. A text field keeps
them all (Home to the start of the line, a comma typed); a list, the tag tree or a slider keep
Home (to their first item, their minimum); a button or a plot leaves them to the play position.
A dock undocked into a window of its own hands them on too.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget

from tagbox_gui.gui.widgets.focus import TEXT_FIELDS

NUDGE_S = 5.0  # what comma and period move by, as the position slider's page keys
_PLAIN = (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)


class PositionKeys(QObject):
    """Calls ``home()`` for Home and ``nudge(seconds)`` for comma (back) and period (on),
    where they reach a watched window unused."""

    def __init__(
        self, home: Callable[[], None], nudge: Callable[[float], None], parent: QObject
    ) -> None:
        super().__init__(parent)
        self._actions: dict[int, Callable[[], None]] = {
            Qt.Key.Key_Home.value: home,
            Qt.Key.Key_Comma.value: lambda: nudge(-NUDGE_S),
            Qt.Key.Key_Period.value: lambda: nudge(NUDGE_S),
        }

    def watch(self, window: QWidget) -> None:
        """Take the keys that ``window`` and its docks (undocked: windows of their own) get
        unused. Watching a window again changes nothing."""
        for target in (window, *window.findChildren(QDockWidget)):
            target.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            action = self._actions.get(int(event.key()))
            if (
                action is not None
                and event.modifiers() in _PLAIN
                and not isinstance(QApplication.focusWidget(), TEXT_FIELDS)
            ):
                action()
                event.accept()
                return True
        return super().eventFilter(watched, event)
