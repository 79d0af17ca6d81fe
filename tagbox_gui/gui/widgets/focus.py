"""Tab order of widgets added after their panel was built."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget


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
