"""Toggle buttons whose "on" state shows at a glance.

Fusion (Qt's style on Linux) draws a checked push button only a shade darker than an unchecked
one: in a grid of instruments, or Mix / Separated / Residual, which ones are on is hard to
tell. A checked button is filled with the highlight colour instead. Only the colours are set,
so the style still draws the button's frame and it keeps its size in both states.
"""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractButton

CHECKED_STYLE = (
    ":checked { background-color: palette(highlight); color: palette(highlighted-text); }"
    ":checked:disabled { background-color: palette(mid); }"
)


def show_checked_clearly(button: QAbstractButton) -> None:
    """Make a checkable button's checked state stand out (see the module's note)."""
    button.setStyleSheet(CHECKED_STYLE)
