"""Per wanted tag, how sure the taggers are on the separated and on the residual estimate."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

SCALE = 1000  # progress bars are integer: 0..1 in thousandths
_STYLE = "QProgressBar {{ text-align: center; }} QProgressBar::chunk {{ background: {}; }}"
SEPARATED_COLOUR = "#3aa66a"
RESIDUAL_COLOUR = "#888888"
EMPTY_TEXT = "No tags to meter: the taggers hear each step of a run that steers with them."


class TagMetersView(QWidget):
    """Two horizontal meters per tag (separated vs residual probability) with numbers.

    A good separation drives the separated meter up and the residual one down.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(4, 4, 4, 4)
        self._grid.setColumnStretch(1, 1)
        self._grid.setColumnStretch(2, 1)
        self._rows: dict[str, tuple[QLabel, Meter, Meter]] = {}
        self._values: dict[str, tuple[float | None, float | None]] = {}
        self._headers: list[QLabel] = []
        for column, text in ((1, "separated"), (2, "residual")):
            header = QLabel(text)
            header.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._grid.addWidget(header, 0, column)
            self._headers.append(header)
        # a run by instrument without steering asks no tagger: say so rather than show nothing
        self.empty = QLabel(EMPTY_TEXT, wordWrap=True, enabled=False)
        self._grid.addWidget(self.empty, 1, 0, 1, 3)
        self._show_headers(False)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._rows)

    def set_tags(self, names: list[str]) -> None:
        """One row per wanted tag; meters start empty."""
        for label, sep, res in self._rows.values():
            for widget in (label, sep, res):
                self._grid.removeWidget(widget)
                widget.deleteLater()
        self._rows, self._values = {}, {}
        for row, name in enumerate(names, start=1):
            label = QLabel(name)
            sep = Meter(name, "separated", SEPARATED_COLOUR)
            res = Meter(name, "residual", RESIDUAL_COLOUR)
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(sep, row, 1)
            self._grid.addWidget(res, row, 2)
            self._rows[name] = (label, sep, res)
            self._values[name] = (None, None)
        self._show_headers(bool(names))

    def _show_headers(self, rows: bool) -> None:
        for header in self._headers:
            header.setVisible(rows)
        self.empty.setVisible(not rows)

    def set_values(self, separated: dict[str, float], residual: dict[str, float]) -> None:
        """Show the probabilities of each tag; a tag missing from a dict shows a dash."""
        for name, (_, sep, res) in self._rows.items():
            values = (separated.get(name), residual.get(name))
            if values == self._values[name]:
                continue  # unchanged: no repaint
            self._values[name] = values
            sep.show_value(values[0])
            res.show_value(values[1])

    def values(self) -> dict[str, tuple[float | None, float | None]]:
        """What the meters show: tag -> (separated, residual), None where empty."""
        return dict(self._values)

    def meter_text(self, name: str) -> tuple[str, str]:
        """The numbers printed on the two meters of ``name``."""
        _, sep, res = self._rows[name]
        return sep.text(), res.text()


class Meter(QProgressBar):
    """One tag's probability on one estimate: a bar with the number on it, which its accessible
    description says too (a screen reader says the name, then the description)."""

    def __init__(self, tag: str, estimate: str, colour: str) -> None:
        super().__init__(minimum=0, maximum=SCALE, textVisible=True, minimumWidth=80)
        self.setStyleSheet(_STYLE.format(colour))
        self.setAccessibleName(f"{tag}, {estimate}")
        self._about = f"How sure the taggers are of {tag} in the {estimate} estimate"
        self.show_value(None)

    def show_value(self, value: float | None) -> None:
        """Show ``value`` (0..1, clipped), or a dash for none."""
        if value is None or not math.isfinite(value):
            self.setValue(0)
            self.setFormat("–")
            self.setAccessibleDescription(f"{self._about}: not measured yet")
            return
        clipped = min(max(value, 0.0), 1.0)
        self.setValue(round(clipped * SCALE))
        self.setFormat(f"{clipped:.2f}")
        self.setAccessibleDescription(f"{self._about}: {clipped:.2f}")
