"""The playback engine's callback logic, driven directly without an audio device."""

from __future__ import annotations

import numpy as np
import pytest

from tagbox_gui.core.types import Region
from tagbox_gui.gui.playback import Player
from tests.gui.fake_engine import FakeStream

RATE = 1000


def ramp(frames: int, channels: int = 2, offset: float = 0.0) -> np.ndarray:
    """Each frame holds its own index (+offset) so copied positions can be read back."""
    col = np.arange(frames, dtype=np.float32) + offset
    return np.repeat(col[:, None], channels, axis=1)


@pytest.fixture
def player() -> Player:
    streams: list[FakeStream] = []

    def factory(rate, channels, callback):
        streams.append(FakeStream(rate, channels, callback))
        return streams[-1]

    p = Player(stream_factory=factory)
    p.streams = streams  # type: ignore[attr-defined]
    p.load({"mix": ramp(1000), "separated": ramp(1000, offset=10_000)}, RATE)
    return p


def pull(player: Player, frames: int, channels: int = 2) -> np.ndarray:
    out = np.full((frames, channels), np.nan, dtype=np.float32)
    player.callback(out, frames, None, None)
    return out


def test_callback_copies_and_position_advances(player: Player) -> None:
    player.play()
    assert player.playing and player.streams[0].active
    assert (player.streams[0].rate, player.streams[0].channels) == (RATE, 2)
    out = pull(player, 100)
    np.testing.assert_array_equal(out[:, 0], np.arange(100))
    np.testing.assert_array_equal(out[:, 1], np.arange(100))
    assert player.position == pytest.approx(0.1)
    out = pull(player, 50)
    np.testing.assert_array_equal(out[:, 0], np.arange(100, 150))
    assert player.position == pytest.approx(0.15)


def test_paused_outputs_silence_and_keeps_position(player: Player) -> None:
    player.play()
    pull(player, 200)
    player.pause()
    assert not player.playing and not player.streams[0].active
    out = pull(player, 64)
    assert not out.any()
    assert player.position == pytest.approx(0.2)


def test_switching_source_keeps_position(player: Player) -> None:
    player.play()
    pull(player, 300)
    player.set_source("separated")
    out = pull(player, 10)
    np.testing.assert_array_equal(out[:, 0], np.arange(300, 310) + 10_000)
    player.set_source("mix")
    out = pull(player, 10)
    np.testing.assert_array_equal(out[:, 0], np.arange(310, 320))
    with pytest.raises(KeyError):
        player.set_source("nope")


def test_silence_past_the_end_and_stop(player: Player) -> None:
    player.seek(0.95)
    player.play()
    out = pull(player, 100)
    np.testing.assert_array_equal(out[:50, 0], np.arange(950, 1000))
    assert not out[50:].any()
    assert not player.playing
    assert player.position == pytest.approx(1.0)
    assert not pull(player, 10).any()
    player.play()  # at the end: starts over
    assert player.playing and player.position == 0.0
    np.testing.assert_array_equal(pull(player, 5)[:, 0], np.arange(5))


def test_loop_wraps_inside_one_block(player: Player) -> None:
    player.set_loop(Region(0.2, 0.25))  # frames 200..250, outside -> jumps to the start
    assert player.position == pytest.approx(0.2)
    assert player.loop == Region(0.2, 0.25)
    player.play()
    out = pull(player, 120)
    expected = np.concatenate([np.arange(200, 250)] * 2 + [np.arange(200, 220)])
    np.testing.assert_array_equal(out[:, 0], expected)
    assert player.playing
    assert player.position == pytest.approx(0.22)
    player.set_loop(None)
    out = pull(player, 40)
    np.testing.assert_array_equal(out[:, 0], np.arange(220, 260))


def test_seek_while_playing_applies_on_next_callback(player: Player) -> None:
    player.play()
    pull(player, 10)
    player.seek(0.5)
    assert player.position == pytest.approx(0.5)  # pending seek already reported
    out = pull(player, 10)
    np.testing.assert_array_equal(out[:, 0], np.arange(500, 510))
    player.seek(99.0)  # clamped to the end
    assert player.position == pytest.approx(1.0)


def test_load_at_another_rate_keeps_the_position_in_seconds(player: Player) -> None:
    player.seek(0.4)  # 400 frames at RATE
    player.load({"mix": ramp(3000)}, 2 * RATE)  # e.g. the song's 48 kHz after 44.1 kHz
    assert player.position == pytest.approx(0.4)
    player.play()
    pull(player, 10)
    player.seek(0.6)  # pending: the callback has not run since
    player.load({"mix": ramp(1000)}, RATE)
    assert player.position == pytest.approx(0.6)
    player.play()
    np.testing.assert_array_equal(pull(player, 3)[:, 0], [600, 601, 602])


def test_replace_swaps_current_source_atomically(player: Player) -> None:
    player.set_source("separated")
    player.play()
    pull(player, 100)
    new = ramp(1000, offset=50_000)
    player.replace("separated", new)
    new[:] = -1  # the player holds its own copy
    out = pull(player, 10)
    np.testing.assert_array_equal(out[:, 0], np.arange(100, 110) + 50_000)


def test_shorter_mono_source_is_widened_and_padded(player: Player) -> None:
    player.replace("residual", np.ones(500, dtype=np.float32))
    player.set_source("residual")
    player.seek(0.49)
    player.play()
    out = pull(player, 20)
    np.testing.assert_array_equal(out[:10], np.ones((10, 2)))
    assert not out[10:].any()
    assert player.playing  # the longest source (1 s) decides where the end is


def test_device_channel_limit_folds_to_mono() -> None:
    made = []
    p = Player(
        stream_factory=lambda r, c, cb: made.append(FakeStream(r, c, cb)) or made[-1],
        max_channels=1,
    )
    stereo = np.stack([np.zeros(10), np.ones(10)], axis=1).astype(np.float32)
    p.load({"mix": stereo}, 8000)
    p.play()
    out = np.zeros((4, 1), dtype=np.float32)
    p.callback(out, 4, None, None)
    assert made[0].channels == 1
    np.testing.assert_allclose(out[:, 0], 0.5)


def test_load_closes_the_old_stream(player: Player) -> None:
    player.play()
    player.load({"mix": ramp(10)}, RATE)
    assert player.streams[0].closed
    assert player.source == "mix" and player.duration == pytest.approx(0.01)


def test_unavailable_player_is_a_safe_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    from tagbox_gui.gui import playback

    monkeypatch.setattr(playback, "_probe_output", lambda: (0, "No device here."))
    p = Player()
    assert not p.available and p.unavailable_reason == "No device here."
    p.load({"mix": ramp(1000)}, RATE)
    p.play()
    assert not p.playing
    p.toggle()
    p.seek(0.3)
    assert p.position == pytest.approx(0.3)
    p.set_loop(Region(0.5, 0.7))
    assert p.position == pytest.approx(0.5)
    p.pause()
    p.close()


def test_default_probe_explains_itself() -> None:
    p = Player()  # this machine may or may not have an output device
    if p.available:
        assert p.unavailable_reason == ""
    else:
        assert p.unavailable_reason.startswith("Playback is off because")
        assert p.unavailable_reason.endswith(".")
