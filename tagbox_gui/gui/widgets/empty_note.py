"""A line over an empty plot that says what will be drawn there, and when."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

PAD = 4  # px between the line and the plotting area's edges


class EmptyNote(QLabel):
    """A grey, centred line over the plotting area (``view_box``) of ``plot``, in the longest
    of its ``texts`` that fits there whole (a small plot gets a short one): longest first, the
    first one in full, the last however short.

    It lays ``host`` out as ``plot`` with the line over it; the plot's owner shows and hides it
    with :meth:`set_shown`, which tells a screen reader too: the plot's accessible description
    is ``about`` followed, while the line shows, by what the line says in full.
    """

    def __init__(
        self,
        host: QWidget,
        plot: pg.GraphicsView,
        view_box: pg.ViewBox,
        texts: tuple[str, ...],
        about: str,
    ) -> None:
        super().__init__(texts[0], wordWrap=True, alignment=Qt.AlignmentFlag.AlignCenter)
        self._plot, self._view_box, self._texts, self._about = plot, view_box, texts, about
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("color: #aaaaaa; background: transparent;")
        view_box.sigResized.connect(self._fit)
        layout = QStackedLayout(host)
        layout.setStackingMode(QStackedLayout.StackingMode.StackAll)
        layout.addWidget(plot)
        layout.addWidget(self)
        self.raise_()

    def hasHeightForWidth(self) -> bool:  # Qt override
        """False: the line fits itself to the plot, never the host's height to its text."""
        return False

    def set_texts(self, texts: tuple[str, ...]) -> None:
        """Say ``texts`` from now on (in the longest form that fits)."""
        if texts != self._texts:
            self._texts = texts
            self._fit()
            if not self.isHidden():
                self._describe()

    def set_shown(self, shown: bool) -> None:
        """Show or hide the line, and say the same in the plot's accessible description."""
        self.setVisible(shown)
        self._describe()

    def _describe(self) -> None:
        """The plot's accessible description: ``about``, then the line in full while shown."""
        shown = not self.isHidden()
        self._plot.setAccessibleDescription(
            f"{self._about}. {self._texts[0]}" if shown else self._about
        )

    def _fit(self) -> None:
        """Keep the line in the plotting area, clear of the axes, in the longest form that
        fits there whole."""
        box = self._view_box.sceneBoundingRect()
        area = self._plot.mapFromScene(box).boundingRect().adjusted(PAD, PAD, -PAD, -PAD)
        right = self._plot.width() - area.left() - area.width()
        bottom = self._plot.height() - area.top() - area.height()
        self.setContentsMargins(area.left(), area.top(), right, bottom)
        metrics, wrap = self.fontMetrics(), Qt.TextFlag.TextWordWrap
        for text in self._texts:  # the last one however short the area is
            size = metrics.boundingRect(area, wrap, text).size()
            if size.width() <= area.width() and size.height() <= area.height():
                break
        self.setText(text)
