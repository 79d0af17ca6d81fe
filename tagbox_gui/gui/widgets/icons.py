"""The media icons (play, pause, stop) in the colour of the buttons' text.

Fusion (Qt's style on Linux) draws them black whatever the palette: on a dark desktop's palette
Run's and Play's are near invisible, and those of a button that is off (Pause, Stop) vanish.
Drawn in the palette's button text colour (its disabled one where off), they read on any
palette, and look as before on a light one.
"""

from __future__ import annotations

from PySide6.QtGui import QIcon, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QWidget

SIZES = (16, 24, 32)  # those the buttons ask for, at 1x and 2x


def media_icon(widget: QWidget, which: QStyle.StandardPixmap) -> QIcon:
    """The style's icon ``which`` drawn in ``widget``'s button text colour (see the note)."""
    source = widget.style().standardIcon(which)
    palette = widget.palette()
    icon = QIcon()
    for mode, group in ((QIcon.Mode.Normal, QPalette.ColorGroup.Active),
                        (QIcon.Mode.Disabled, QPalette.ColorGroup.Disabled)):  # fmt: skip
        for size in SIZES:
            pixmap = source.pixmap(size)
            painter = QPainter(pixmap)  # the icon's shape, filled with the colour
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
            painter.fillRect(pixmap.rect(), palette.color(group, QPalette.ColorRole.ButtonText))
            painter.end()
            icon.addPixmap(pixmap, mode)
    return icon
