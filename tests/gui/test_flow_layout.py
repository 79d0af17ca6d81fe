"""The flow layout: where its row fits it is laid out as a box layout of the same widgets would
be; where it does not, it wraps, and its least size is that of the wrapped row."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from tagbox_gui.gui.widgets.flow_layout import FlowLayout, group


def controls() -> list[QWidget]:
    slider = QSlider(Qt.Orientation.Horizontal)
    return [QPushButton("Play"), QPushButton("Separated"), slider, QLabel("0:00.0 / 0:12.0")]


def row_of(qtbot, layout, widgets: list[QWidget], width: int) -> QWidget:
    """``widgets`` in ``layout`` (after a stretch-less group of the first two), shown
    ``width`` wide."""
    holder = QWidget()
    column = QVBoxLayout(holder)
    column.addLayout(layout)
    column.addStretch(1)
    layout.addWidget(group(widgets[0], widgets[1]))
    for widget in widgets[2:]:
        layout.addWidget(widget)
    qtbot.addWidget(holder)
    holder.resize(width, 200)
    holder.show()
    qtbot.waitExposed(holder)
    return holder


def places(holder: QWidget, widgets: list[QWidget]) -> list[QRect]:
    return [QRect(w.mapTo(holder, QPoint()), w.size()) for w in widgets]


def test_a_row_that_fits_is_laid_out_as_a_box_layout_would(qtbot):
    flow, box = controls(), controls()
    flowing = row_of(qtbot, FlowLayout(), flow, 600)
    boxed = row_of(qtbot, QHBoxLayout(), box, 600)
    assert places(flowing, flow) == places(boxed, box)  # the slider takes the spare width
    rects = places(flowing, flow)
    assert max(r.top() for r in rects) <= min(r.bottom() for r in rects)  # one line


def test_a_short_row_wraps_and_asks_for_the_height_it_needs(qtbot):
    widgets = controls()
    layout = FlowLayout()
    holder = row_of(qtbot, layout, widgets, 600)
    one_line = layout.geometry().height()
    least = layout.minimumSize()
    items = [widgets[0].parentWidget(), *widgets[2:]]
    widest = max(max(w.sizeHint().width(), w.minimumSizeHint().width()) for w in items)
    assert least.width() == widest  # it never makes its window wider than its widest item
    margins = holder.layout().contentsMargins()
    holder.resize(least.width() + margins.left() + margins.right(), 200)
    qtbot.waitUntil(lambda: layout.geometry().width() == least.width())
    rects = places(holder, widgets)
    assert rects[1].bottom() < rects[2].top() and rects[2].bottom() < rects[3].top()
    assert not any(a.intersects(b) for n, a in enumerate(rects) for b in rects[n + 1 :])
    assert all(holder.rect().contains(r) for r in rects)
    assert layout.geometry().height() == least.height() > one_line
    assert least.height() == layout.heightForWidth(least.width())
    widgets[3].hide()  # a hidden widget takes no place
    assert layout.heightForWidth(least.width()) < least.height()
