"""The player on devices that do not take the song as it is: fewer channels, another rate."""

from __future__ import annotations

import numpy as np
import pytest

from tagbox_gui.core.audio.output import speaker_layout
from tagbox_gui.gui.playback import Player
from tests.gui.fake_engine import FakeSoundDevice, FakeStream

RATE = 8000


def speakers(*levels: float, frames: int = 100) -> np.ndarray:
    """``frames`` frames whose channel i holds ``levels[i]``."""
    return np.tile(np.asarray(levels, dtype=np.float32), (frames, 1))


def fake_player(max_channels: int) -> Player:
    made: list[FakeStream] = []

    def factory(rate, channels, callback):
        made.append(FakeStream(rate, channels, callback))
        return made[-1]

    player = Player(stream_factory=factory, max_channels=max_channels)
    player.streams = made  # type: ignore[attr-defined]
    return player


@pytest.fixture
def sound(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    from tagbox_gui.gui import playback

    device = FakeSoundDevice(channels=2)
    monkeypatch.setattr(playback, "_sd", device)
    return device


@pytest.mark.parametrize("container", ["AIFF", "FLAC"])  # the layout unknown, and known
def test_a_five_one_song_on_a_stereo_device_keeps_its_centre(container: str) -> None:
    p = fake_player(max_channels=2)
    centre_only = speakers(0, 0, 0.8, 0, 0, 0)
    layout = speaker_layout(6, container)
    p.load({"mix": centre_only}, RATE, *([layout] if layout else []))
    p.play()
    stream = p.streams[-1]  # type: ignore[attr-defined]
    assert stream.channels == 2
    out = stream.pull(4)
    assert out[0, 0] == pytest.approx(out[0, 1]) and out[0, 0] > 0.15  # the dialogue is heard
    p.close()


def test_a_stereo_song_on_a_mono_device_keeps_its_right_side() -> None:
    p = fake_player(max_channels=1)
    p.load({"mix": speakers(0.0, 0.6)}, RATE)
    p.play()
    np.testing.assert_allclose(p.streams[-1].pull(4)[:, 0], 0.3)  # type: ignore[attr-defined]
    p.close()


def test_a_loud_five_one_fold_does_not_clip() -> None:
    p = fake_player(max_channels=2)
    p.load({"mix": speakers(1, 1, 1, 1, 1, 1)}, RATE, speaker_layout(6, "WAV"))
    p.play()
    assert np.abs(p.streams[-1].pull(4)).max() <= 1.0  # type: ignore[attr-defined]
    p.close()


def test_a_bigger_device_on_a_retry_gets_the_song_unfolded(sound: FakeSoundDevice) -> None:
    """Loaded for a mono device that was busy; Play finds a stereo one: stereo, not the
    mono fold widened again."""
    sound.channels = sound.listed = 1
    sound.busy = 1
    p = Player()
    p.load({"mix": speakers(0.2, 0.6)}, RATE)
    p.play()
    assert not p.playing and sound.streams[-1].channels == 1
    sound.channels = 2  # headphones plugged in meanwhile
    p.play()
    assert p.playing and sound.streams[-1].channels == 2
    np.testing.assert_allclose(sound.streams[-1].pull(3), [[0.2, 0.6]] * 3, rtol=1e-6)
    p.close()


def test_a_smaller_device_on_a_retry_gets_the_song_folded(sound: FakeSoundDevice) -> None:
    """Loaded for stereo, played on a mono device found later: the mean of both sides."""
    sound.busy = 1
    p = Player()
    p.load({"mix": speakers(0.2, 0.6), "separated": speakers(0.0, 0.4)}, RATE)
    p.play()
    sound.channels = 1
    p.play()
    assert p.playing and sound.streams[-1].channels == 1
    np.testing.assert_allclose(sound.streams[-1].pull(3)[:, 0], 0.4, rtol=1e-6)
    p.set_source("separated")
    np.testing.assert_allclose(sound.streams[-1].pull(3)[:, 0], 0.2, rtol=1e-6)
    p.close()
