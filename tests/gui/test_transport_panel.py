"""The transport panel with a player on a fake output: playing, the position, seeking and the
loop, an output that fails or goes away, and the space bar."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSlider, QApplication

from tagbox_gui.core.types import Region
from tagbox_gui.gui.playback import Player
from tagbox_gui.gui.widgets import TransportPanel
from tagbox_gui.gui.widgets.transport import format_time
from tests.gui.fake_engine import FakeSoundDevice, FakeStream
from tests.gui.widget_helpers import make_song, shown


# ----- transport -----------------------------------------------------------------------------
def pull(player: Player, frames: int) -> None:
    out = np.zeros((frames, 2), dtype=np.float32)
    player.callback(out, frames, None, None)


@pytest.fixture
def panel(qtbot) -> TransportPanel:
    player = Player(stream_factory=FakeStream)
    widget = shown(qtbot, TransportPanel(player), 900, 80)
    song = make_song()
    widget.load({"mix": song.data, "separated": song.data * 0.5}, song.rate)
    return widget


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0:00.0"), (13.04, "0:13.0"), (59.96, "1:00.0"), (119.97, "2:00.0"), (-1.0, "0:00.0")],
)
def test_times_round_to_the_tenth_without_a_sixtieth_second(seconds: float, text: str) -> None:
    assert format_time(seconds) == text


def test_transport_plays_and_reports_position(qtbot, panel: TransportPanel) -> None:
    player = panel.player
    assert panel.source_buttons["mix"].isChecked()
    assert panel.source_buttons["separated"].isEnabled()
    assert not panel.source_buttons["residual"].isEnabled()  # not loaded
    assert not panel.message_label.isVisible()
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert player.playing
    pull(player, 22_050)  # one second of audio went out
    with qtbot.waitSignal(panel.position_changed, timeout=1000) as blocker:
        pass
    assert blocker.args[0] == pytest.approx(1.0)
    assert panel.slider.value() == 1000
    assert panel.position_label.text() == "0:01.0 / 0:04.0"
    with qtbot.waitSignal(panel.source_changed) as blocker:
        qtbot.mouseClick(panel.source_buttons["separated"], Qt.MouseButton.LeftButton)
    assert blocker.args == ["separated"]
    assert player.source == "separated" and player.position == pytest.approx(1.0)
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert not player.playing


def test_transport_stops_at_the_end(qtbot, panel: TransportPanel) -> None:
    panel.seek(3.9)
    panel.toggle()
    pull(panel.player, 22_050)
    qtbot.waitUntil(lambda: panel.play_button.icon().cacheKey() == panel._play_icon.cacheKey())
    assert not panel.player.playing
    assert not panel.player._stream.active  # the device was released


def test_transport_seek_loop_and_slider(qtbot, panel: TransportPanel) -> None:
    with qtbot.waitSignal(panel.position_changed) as blocker:
        panel.seek(2.0)
    assert blocker.args == [pytest.approx(2.0)]
    assert not panel.loop_button.isEnabled()
    panel.set_loop_region(Region(0.5, 1.5))
    with qtbot.waitSignal(panel.loop_toggled) as blocker:
        qtbot.mouseClick(panel.loop_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [True]
    assert panel.player.loop == Region(0.5, 1.5)
    assert panel.player.position == pytest.approx(0.5)  # jumped into the loop
    panel.set_loop_region(Region(1.0, 2.0))  # moving the region moves the loop
    assert panel.player.loop == Region(1.0, 2.0)
    panel.load({"mix": np.zeros((22_050 * 4, 2), np.float32)}, 22_050)  # new material
    assert panel.player.loop == Region(1.0, 2.0)  # still looping
    panel.set_loop_region(None)
    assert not panel.loop_button.isChecked() and panel.player.loop is None
    panel.seek(0.5)
    panel.slider.triggerAction(QAbstractSlider.SliderAction.SliderPageStepAdd)
    assert panel.slider.value() == 4000  # 0.5 s + a 5 s page, capped at the end
    assert panel.player.position == pytest.approx(4.0, abs=1e-4)


def test_new_material_keeps_a_position_outside_the_loop(qtbot, panel: TransportPanel) -> None:
    """Looping, a seek past the loop plays from there; new material (the next step, a job's
    stems) keeps that moment instead of throwing it back into the loop."""
    panel.set_loop_region(Region(0.5, 1.5))
    panel.loop_button.setChecked(True)
    panel.seek(3.0)
    assert panel.player.position == pytest.approx(3.0)
    panel.load({"mix": np.zeros((22_050 * 4, 2), np.float32)}, 22_050)
    assert panel.player.position == pytest.approx(3.0)
    assert panel.player.loop == Region(0.5, 1.5)


def test_transport_without_audio_still_tracks_position(qtbot, monkeypatch) -> None:
    from tagbox_gui.gui import output_device

    monkeypatch.setattr(output_device, "_sd", FakeSoundDevice(channels=0))
    panel = shown(qtbot, TransportPanel(Player()), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    reason = "Playback is off because no audio output device was found. Press Play to try again."
    assert panel.message_label.isVisible() and panel.message_label.text() == reason
    assert panel.play_button.isEnabled() and panel.play_button.toolTip() == reason
    panel.toggle()
    assert not panel.player.playing and panel.message_label.text() == reason
    with qtbot.waitSignal(panel.position_changed) as blocker:
        panel.seek(3.0)
    assert blocker.args == [pytest.approx(3.0)]
    assert panel.position_label.text() == "0:03.0 / 0:04.0"


class BrokenDevice(Exception):
    """Stands in for sounddevice.PortAudioError."""


class StreamThatFails(FakeStream):
    """A stream whose device went away: starting it, or stopping and closing it, raises."""

    def start(self) -> None:
        raise BrokenDevice("Error starting stream: Unanticipated host error [PaErrorCode -9999]")


def test_an_output_that_cannot_open_says_why_once(qtbot) -> None:
    """A device that refuses to open: one clear message, no traceback, no dialog; each Play
    tries again and only keeps the message."""
    tries = []

    def refuse(rate, channels, callback):
        tries.append(rate)
        raise BrokenDevice("Invalid sample rate [PaErrorCode -9997]")

    panel = shown(qtbot, TransportPanel(Player(stream_factory=refuse)), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    reason = "Playback is off because the output refused: Invalid sample rate [PaErrorCode -9997]."
    shown_text = f"{reason} Press Play to try again."
    for attempt in (1, 2):
        qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
        assert len(tries) == attempt and not panel.player.playing
        assert panel.player.unavailable_reason == reason
        assert panel.message_label.isVisible() and panel.message_label.text() == shown_text
        assert panel.play_button.isEnabled() and panel.play_button.toolTip() == shown_text
        assert QApplication.activeModalWidget() is None


def test_play_tries_a_failed_output_again_and_the_message_goes(qtbot, monkeypatch) -> None:
    """Headphones plugged in after the output failed: the next Play plays, the message goes."""
    from tagbox_gui.gui import output_device

    sound = FakeSoundDevice(channels=0)
    monkeypatch.setattr(output_device, "_sd", sound)
    panel = shown(qtbot, TransportPanel(Player()), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert not panel.player.playing and panel.message_label.isVisible()
    sound.channels = 2
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert panel.player.playing and sound.streams[-1].active
    assert not panel.message_label.isVisible()
    assert panel.play_button.accessibleName() == "Pause"
    assert panel.play_button.toolTip() == "Play / pause (Space)"
    panel.player.close()


def test_an_output_device_that_fails_to_start_says_why(qtbot) -> None:
    """A PortAudio error on starting the stream is the message, not an exception."""
    panel = shown(qtbot, TransportPanel(Player(stream_factory=StreamThatFails)), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert not panel.player.playing
    assert panel.play_button.accessibleName() == "Play"
    text = panel.message_label.text()
    assert panel.message_label.isVisible() and panel.play_button.isEnabled()
    assert text.startswith("Playback is off because the output device failed: Error starting")
    assert text.endswith("[PaErrorCode -9999]. Press Play to try again.")
    panel.seek(1.0)  # the position is still kept
    assert panel.player.position == pytest.approx(1.0)
    panel.player.close()


def test_a_device_that_went_away_while_playing_can_still_be_paused(qtbot, panel) -> None:
    """Stopping or closing a stream whose device is gone raises in PortAudio: not here."""
    panel.toggle()
    stream = panel.player._stream

    def gone() -> None:
        raise BrokenDevice("Error stopping stream: Unanticipated host error")

    stream.stop = gone
    stream.close = gone
    panel.toggle()
    assert not panel.player.playing and panel.player._stream is None
    assert panel.play_button.isEnabled()
    panel.toggle()  # a new stream on the (new) default device
    assert panel.player.playing and panel.player._stream is not stream
    panel.player.close()


class AbortingStream(FakeStream):
    """Like sounddevice: a callback that raises aborts the stream (inactive, not stopped)."""

    stopped = True

    def start(self) -> None:
        assert self.stopped, "PortAudio cannot start a stream that is not stopped"
        self.active, self.stopped = True, False

    def stop(self) -> None:
        self.active, self.stopped = False, True

    def pull(self, frames: int) -> np.ndarray:
        try:
            return super().pull(frames)
        except Exception:
            self.active = False  # paAbort
            return np.zeros((frames, self.channels), dtype=np.float32)


def test_a_callback_that_raises_shows_playback_stopped(qtbot, monkeypatch) -> None:
    """The stream is aborted: the transport shows it stopped and plays again on a click."""
    from tagbox_gui.gui import playback

    panel = shown(qtbot, TransportPanel(Player(stream_factory=AbortingStream)), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    panel.toggle()
    stream = panel.player._stream
    stream.pull(22_050)

    def broken(*args) -> None:
        raise RuntimeError("a bug in the callback")

    with monkeypatch.context() as patch:
        patch.setattr(playback, "render", broken)
        stream.pull(512)
    assert not stream.active
    qtbot.waitUntil(lambda: panel.play_button.accessibleName() == "Play", timeout=1000)
    assert not panel.player.playing and stream.closed  # a new stream is opened on Play
    assert panel.message_label.isVisible()
    assert panel.message_label.text() == (
        "Playback is off because the output stopped while playing. Press Play to try again."
    )
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    stream = panel.player._stream
    assert panel.player.playing and stream.active and not panel.message_label.isVisible()
    stream.pull(22_050)
    assert panel.player.position == pytest.approx(2.0)
    panel.player.close()


def test_space_toggles_playback_on_the_key_press_itself(qtbot, panel: TransportPanel) -> None:
    panel.activateWindow()  # window shortcuts reach the active window only
    qtbot.waitUntil(panel.isActiveWindow, timeout=2000)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert panel.player.playing  # no wait: a button shortcut would only click ~100 ms later
    assert panel.play_button.icon().cacheKey() == panel._pause_icon.cacheKey()
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert not panel.player.playing
    panel.play_button.setEnabled(False)  # as without an audio device
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert not panel.player.playing


def test_holding_space_down_toggles_once(panel: TransportPanel) -> None:
    """The keyboard repeats a held key ~30 times a second: those repeats must not start and
    stop the playing over and over (tests cannot make Qt's repeats, so this asks the
    shortcut)."""
    assert not panel.space.autoRepeat()
