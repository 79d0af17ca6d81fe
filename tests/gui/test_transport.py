"""The transport's controls as a musician uses them: the position slider, the loop, the keys."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QStyle, QStyleOptionSlider

from tagbox_gui.gui.playback import Player
from tagbox_gui.gui.widgets.transport import NO_RUN, TransportPanel
from tests.gui.fake_engine import FakeStream

RATE = 22_050


@pytest.fixture
def panel(qtbot) -> TransportPanel:
    """A transport on 4 s of a ramp (each frame's value says where it is), not playing yet."""
    widget = TransportPanel(Player(stream_factory=FakeStream))
    qtbot.addWidget(widget)
    widget.resize(900, 80)
    widget.show()
    qtbot.waitExposed(widget)
    ramp = np.repeat((np.arange(4 * RATE) / RATE)[:, None], 2, axis=1).astype(np.float32)
    widget.load({"mix": ramp, "separated": ramp * 0.5}, RATE)
    return widget


def pull(panel: TransportPanel, seconds: float) -> None:
    """``seconds`` of audio go out, as the device's callback asks for them."""
    panel.player._stream.pull(round(seconds * RATE))


def slider_part(panel: TransportPanel, part: QStyle.SubControl) -> QRect:
    slider = panel.slider
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    return slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option, part, slider)


def groove_point(panel: TransportPanel, fraction: float) -> QPoint:
    """The point ``fraction`` of the way along the slider's groove."""
    groove = slider_part(panel, QStyle.SubControl.SC_SliderGroove)
    return QPoint(round(groove.x() + fraction * groove.width()), groove.center().y())


def handle_point(qtbot, panel: TransportPanel) -> QPoint:
    """The middle of the slider's handle, once it shows the play position."""
    qtbot.waitUntil(lambda: panel.slider.value() == round(panel.position * 1000), timeout=1000)
    return slider_part(panel, QStyle.SubControl.SC_SliderHandle).center()


# ----- the position slider -------------------------------------------------------------------
def test_a_click_on_the_slider_groove_plays_from_there(qtbot, panel: TransportPanel) -> None:
    """Not a page (5 s) towards the click, as a plain slider does: to the click itself."""
    panel.seek(0.5)
    qtbot.mouseClick(panel.slider, Qt.MouseButton.LeftButton, pos=groove_point(panel, 0.75))
    assert panel.player.position == pytest.approx(3.0, abs=0.1)
    assert panel.slider.value() == round(panel.player.position * 1000)
    qtbot.mouseClick(panel.slider, Qt.MouseButton.LeftButton, pos=groove_point(panel, 0.25))
    assert panel.player.position == pytest.approx(1.0, abs=0.1)  # back, too
    panel.toggle()
    pull(panel, 0.5)  # playing on: a click on the handle itself leaves the position alone
    played, handle = panel.player.position, handle_point(qtbot, panel)
    qtbot.mouseClick(panel.slider, Qt.MouseButton.LeftButton, pos=handle)
    assert panel.player.position == played


def test_a_drag_let_go_where_it_was_grabbed_plays_from_there(qtbot, panel: TransportPanel) -> None:
    """Playing on while the handle is held, a drag back to where it was grabbed still asks to
    hear that moment again, though the slider's value never changed."""
    at = panel.slider.value_at(groove_point(panel, 0.25))  # a moment a pixel stands for
    panel.seek(at / 1000)
    panel.toggle()
    grabbed = handle_point(qtbot, panel)
    qtbot.mousePress(panel.slider, Qt.MouseButton.LeftButton, pos=grabbed)
    pull(panel, 1.0)  # the song plays on while the handle is held
    qtbot.mouseMove(panel.slider, grabbed + QPoint(200, 0))
    assert panel.slider.sliderPosition() > panel.slider.value() == at  # held: no seek yet
    qtbot.mouseMove(panel.slider, grabbed)
    qtbot.mouseRelease(panel.slider, Qt.MouseButton.LeftButton, pos=grabbed)
    assert panel.player.position == pytest.approx(at / 1000, abs=1e-4)


# ----- the sources ---------------------------------------------------------------------------
def test_the_source_chosen_plays_again_once_it_is_loaded_again(panel: TransportPanel) -> None:
    """New audio without the source chosen plays the mix, and the buttons of what it lacks say
    why; audio with it again plays it again."""
    silence = np.zeros((4 * RATE, 2), np.float32)
    panel.source_buttons["separated"].click()
    panel.load({"mix": silence}, RATE)  # the song alone, before a run
    assert panel.player.source == "mix" and panel.source_buttons["mix"].isChecked()
    separated = panel.source_buttons["separated"]
    assert not separated.isEnabled() and separated.toolTip() == NO_RUN
    panel.load({"mix": silence, "separated": silence}, RATE, missing="Not in a run's stems.")
    assert panel.player.source == "separated" and separated.isChecked()
    assert separated.toolTip() == "Listen to the separated (keeps the position)"
    assert panel.source_buttons["residual"].toolTip() == "Not in a run's stems."
