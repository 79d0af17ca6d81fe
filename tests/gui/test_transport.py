"""The transport's controls as a musician uses them: the position slider, the loop, the keys."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtWidgets import QLineEdit, QStyle, QStyleOptionSlider

from tagbox_gui.core.types import Region
from tagbox_gui.gui.playback import Player
from tagbox_gui.gui.widgets.transport import NO_RUN, TransportPanel
from tests.gui.fake_engine import FakeStream

RATE = 22_050


def ramp(seconds: float = 4.0) -> np.ndarray:
    """Stereo audio whose every frame says where it is: its time in seconds."""
    times = np.arange(round(seconds * RATE), dtype=np.float32) / RATE
    return np.repeat(times[:, None], 2, axis=1)


@pytest.fixture
def panel(qtbot) -> TransportPanel:
    """A transport on 4 s of a ramp, not playing yet."""
    widget = TransportPanel(Player(stream_factory=FakeStream))
    qtbot.addWidget(widget)
    widget.resize(900, 80)
    widget.show()
    qtbot.waitExposed(widget)
    widget.load({"mix": ramp(), "separated": ramp() * 0.5}, RATE)
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


# ----- the loop ------------------------------------------------------------------------------
def test_a_region_with_no_audio_to_loop_turns_the_loop_off(qtbot, panel: TransportPanel) -> None:
    """Shorter than a frame, or outside the audio loaded, a region loops nothing: Loop is off
    and says why, rather than on with the audio playing through; on again once it can."""
    loop = panel.loop_button
    panel.set_loop_region(Region(1.0, 2.0))
    loop.click()
    assert panel.player.loop == Region(1.0, 2.0)
    with qtbot.waitSignal(panel.loop_toggled, timeout=500) as blocker:
        panel.set_loop_region(Region(1.0, 1.0 + 0.4 / RATE))
    assert blocker.args == [False] and not loop.isChecked() and not loop.isEnabled()
    assert panel.player.loop is None and loop.toolTip().startswith("Nothing to loop")
    panel.set_loop_region(Region(5.0, 6.0))  # past the 4 s loaded
    assert not loop.isEnabled()
    panel.set_loop_region(Region(1.0, 1.0 + 1 / RATE))  # one frame loops: on again
    assert loop.isChecked() and panel.player.loop is not None
    assert loop.toolTip() == "Play the region 0:01.0–0:01.0 over and over"
    panel.load({"mix": np.zeros((RATE // 2, 2), np.float32)}, RATE)  # half a second now
    assert not loop.isChecked() and not loop.isEnabled() and panel.player.loop is None


def test_looping_goes_on_over_the_region_of_the_next_run(panel: TransportPanel) -> None:
    """A run of another region loads its audio before it gives its region: the loop is off
    in between (the old region lies outside the new audio), and on again over the new one."""
    panel.set_loop_region(Region(0.5, 1.5))
    panel.loop_button.click()
    panel.load({"mix": ramp(), "separated": ramp()}, RATE, start=10.0)  # the next run, 10-14 s
    assert not panel.loop_button.isChecked() and panel.player.loop is None
    panel.set_loop_region(Region(10.5, 11.5))
    assert panel.loop_button.isChecked() and panel.player.loop == Region(0.5, 1.5)
    panel.loop_button.click()  # turned off by hand, it stays off
    panel.load({"mix": ramp()}, RATE)
    panel.set_loop_region(Region(0.5, 1.5))
    assert not panel.loop_button.isChecked() and panel.player.loop is None
    panel.loop_button.click()
    panel.load({"mix": ramp()}, RATE, start=10.0)
    panel.set_loop_region(None)  # no region (a job): the loop is over
    panel.load({"mix": ramp()}, RATE)
    panel.set_loop_region(Region(0.5, 1.5))
    assert not panel.loop_button.isChecked() and panel.player.loop is None


# ----- the keys ------------------------------------------------------------------------------
def test_home_comma_and_period_move_the_play_position(qtbot, panel: TransportPanel) -> None:
    """Where the control with the focus leaves the keys unused (a button, here): Home to the
    start (of the loop, while looping), comma and period 5 s back and on."""
    panel.load({"mix": ramp(12.0)}, RATE, start=10.0)  # 10-22 s of the song
    panel.seek(13.0)
    button = panel.play_button
    qtbot.keyClick(button, Qt.Key.Key_Period)
    assert panel.position == pytest.approx(18.0)
    qtbot.keyClick(button, Qt.Key.Key_Comma)
    qtbot.keyClick(button, Qt.Key.Key_Comma)
    assert panel.position == pytest.approx(10.0)  # 8 s: the audio loaded begins at 10 s
    qtbot.keyClick(button, Qt.Key.Key_Period)
    qtbot.keyClick(button, Qt.Key.Key_Home)
    assert panel.position == pytest.approx(10.0)
    panel.set_loop_region(Region(12.0, 16.0))
    panel.loop_button.click()
    panel.seek(15.0)
    qtbot.keyClick(button, Qt.Key.Key_Home)
    assert panel.position == pytest.approx(12.0)
    qtbot.keyClick(button, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(button, Qt.Key.Key_Period, Qt.KeyboardModifier.AltModifier)
    assert panel.position == pytest.approx(12.0)  # not with Ctrl, Alt...


def test_a_control_that_uses_the_keys_keeps_them(qtbot, panel: TransportPanel) -> None:
    """A text field types a comma and goes to the start of its line; the position slider
    with the focus goes to its own start with Home, and leaves comma and period to nudge."""
    field = QLineEdit(panel)
    field.show()
    panel.seek(2.0)
    qtbot.keyClicks(field, "1,5.")
    qtbot.keyClick(field, Qt.Key.Key_Home)
    assert field.text() == "1,5." and field.cursorPosition() == 0
    assert panel.position == pytest.approx(2.0)
    panel.set_loop_region(Region(1.0, 3.0))
    panel.loop_button.click()
    qtbot.keyClick(panel.slider, Qt.Key.Key_Home)  # the slider's minimum: where the audio begins
    assert panel.position == pytest.approx(0.0)
    qtbot.keyClick(panel.slider, Qt.Key.Key_Period)
    assert panel.position == pytest.approx(4.0)  # 5 s on, to the end of the 4 s loaded


def test_before_a_song_play_and_the_position_are_off_and_say_why(qtbot) -> None:
    transport = TransportPanel(Player(stream_factory=FakeStream))
    qtbot.addWidget(transport)
    transport.show()
    qtbot.waitExposed(transport)
    assert not transport.play_button.isEnabled() and not transport.slider.isEnabled()
    assert "open a song" in transport.play_button.toolTip().lower()
    transport.load({"mix": ramp()}, RATE)
    assert transport.play_button.isEnabled() and transport.slider.isEnabled()
    assert transport.play_button.toolTip() == "Play / pause (Space)"


# ----- the poll ------------------------------------------------------------------------------
def polling(panel: TransportPanel) -> bool:
    """Whether a timer of the transport runs (its ~30 Hz poll of the player)."""
    return any(timer.isActive() for timer in panel.findChildren(QTimer))


def test_the_poll_runs_only_while_something_plays(qtbot, panel: TransportPanel) -> None:
    """Paused or stopped, the ~30 Hz poll rests; Play starts it, and the playhead still follows
    the audio, stops where a pause leaves it and shows a seek made while paused."""
    shown: list[float] = []
    panel.position_changed.connect(shown.append)
    assert not polling(panel)  # loaded, not playing
    panel.toggle()
    assert polling(panel)
    pull(panel, 1.0)
    qtbot.waitUntil(lambda: panel.slider.value() == 1000, timeout=1000)
    assert shown[-1] == pytest.approx(1.0)
    panel.toggle()  # pause
    assert not polling(panel) and panel.position == pytest.approx(1.0)
    panel.seek(2.5)  # shown at once, without the poll
    assert panel.slider.value() == 2500 and shown[-1] == pytest.approx(2.5)
    assert panel.position_label.text().startswith("0:02.5")
    panel.toggle()
    pull(panel, 2.0)  # past the end: the poll sees it stop, shows Play, then rests
    qtbot.waitUntil(lambda: panel.play_button.accessibleName() == "Play", timeout=1000)
    assert not panel.player.playing and not polling(panel)
    assert panel.slider.value() == 4000
