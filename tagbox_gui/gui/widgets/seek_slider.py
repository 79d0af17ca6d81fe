"""The transport's position slider: a click on its groove jumps there, as in a media player.

A plain ``QSlider`` moves by a page towards a click on its groove (Fusion's default); to get to
a moment one would have to drag the handle there. This one puts the handle under the click and
lets the same press go on as a drag of the handle. A click on the handle itself moves nothing.

It tells what the user chose with ``chosen``, once a drag is let go (not on every pixel): also
where the handle was grabbed, where ``valueChanged`` says nothing, since what the value stands
for, the play position, moved on meanwhile.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QSlider, QStyle, QStyleOptionSlider, QWidget


class SeekSlider(QSlider):
    """A slider whose groove, clicked with the left button, sets the value at the click.

    ``chosen(int)``: every ``valueChanged`` (the keys, the wheel, a click on the groove, a
    drag let go elsewhere), and a drag let go where it was grabbed.
    """

    chosen = Signal(int)

    def __init__(self, orientation: Qt.Orientation, parent: QWidget | None = None) -> None:
        super().__init__(orientation, parent)
        self.setTracking(False)  # a drag chooses once, when let go
        self._dragged = False
        self.valueChanged.connect(self.chosen)
        self.sliderPressed.connect(self._on_slider_pressed)
        self.sliderMoved.connect(self._on_slider_moved)
        self.sliderReleased.connect(self._on_slider_released)

    def _on_slider_pressed(self) -> None:
        self._dragged = False

    def _on_slider_moved(self, _value: int) -> None:
        self._dragged = True

    def _on_slider_released(self) -> None:
        # Let go elsewhere, valueChanged follows; where it was grabbed, nothing would.
        if self._dragged and self.sliderPosition() == self.value():
            self.chosen.emit(self.value())

    def mousePressEvent(self, event: QMouseEvent) -> None:  # Qt override
        if (
            event.button() == Qt.MouseButton.LeftButton
            and event.buttons() == event.button()  # not a second button during a drag
            and self.maximum() > self.minimum()
            and not self._on_handle(event.position())
        ):
            self.setValue(self.value_at(event.position()))  # valueChanged: the jump
        super().mousePressEvent(event)  # on the handle now: the press may go on as a drag

    def value_at(self, point: QPointF) -> int:
        """The value that puts the handle's middle at ``point`` (as QSlider's own drag does)."""
        option, style = self._option(), self.style()
        groove = style.subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderGroove, self
        )
        handle = style.subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, self
        )
        if self.orientation() == Qt.Orientation.Horizontal:
            at, start, length, end = point.x(), groove.x(), handle.width(), groove.right()
        else:
            at, start, length, end = point.y(), groove.y(), handle.height(), groove.bottom()
        span = end - length + 1 - start
        return QStyle.sliderValueFromPosition(
            self.minimum(), self.maximum(), round(at - length / 2) - start, span, option.upsideDown
        )

    def _on_handle(self, point: QPointF) -> bool:
        hit = self.style().hitTestComplexControl(
            QStyle.ComplexControl.CC_Slider, self._option(), point.toPoint(), self
        )
        return hit == QStyle.SubControl.SC_SliderHandle

    def _option(self) -> QStyleOptionSlider:
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        return option
