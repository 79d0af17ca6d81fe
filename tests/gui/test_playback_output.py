"""The player on devices that do not take the song as it is: fewer channels, another rate."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.audio.bext import set_channel_mask
from tagbox_gui.core.audio.output import speaker_layout
from tagbox_gui.core.types import Region
from tagbox_gui.gui.playback import SWITCH_FADE_S, Player
from tests.gui.fake_engine import FakeSoundDevice, FakeStream
from tests.gui.window_helpers import open_song

RATE = 8000


def speakers(*levels: float, frames: int = 100) -> np.ndarray:
    """``frames`` frames whose channel i holds ``levels[i]``."""
    return np.tile(np.asarray(levels, dtype=np.float32), (frames, 1))


def past_the_fade(stream: FakeStream) -> None:
    """Pull the frames that a switch of source fades over, which blend the old and the new."""
    stream.pull(round(SWITCH_FADE_S * stream.rate))


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
    from tagbox_gui.gui import output_device

    device = FakeSoundDevice(channels=2)
    monkeypatch.setattr(output_device, "_sd", device)
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


def test_the_window_folds_a_song_by_the_speakers_its_channel_mask_names(
    qtbot, window, tmp_path
) -> None:
    """A quad WAVEX of mask 0x107 (FL FR FC BC) on a stereo device: its back centre goes into
    both sides alike, not into the right as the default quad's back right would."""
    path = tmp_path / "Quad.wav"
    sf.write(path, speakers(0, 0, 0, 0.5, frames=5 * RATE), RATE, format="WAVEX")
    set_channel_mask(path, 0x107)
    open_song(qtbot, window, path)
    player = window.audition.transport.player
    player.play()
    out = player.streams[-1].pull(4)
    assert out[0, 0] == pytest.approx(out[0, 1]) and out[0, 0] > 0.05
    player.close()


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
    past_the_fade(sound.streams[-1])
    np.testing.assert_allclose(sound.streams[-1].pull(3)[:, 0], 0.2, rtol=1e-6)
    p.close()


def test_a_mono_preview_is_centred_on_a_stereo_device(sound: FakeSoundDevice) -> None:
    """A run's previews are mono: they go out on both sides, not as a one-channel stream
    that some audio systems play on the left speaker only."""
    p = Player()
    preview = np.linspace(-0.5, 0.5, 100, dtype=np.float32)
    p.load({"mix": preview, "separated": preview[:, None] * 0.5}, RATE)
    p.play()
    stream = sound.streams[-1]
    assert p.playing and stream.channels == 2
    out = stream.pull(4)
    np.testing.assert_allclose(out[:, 0], preview[:4])
    np.testing.assert_allclose(out[:, 1], preview[:4])
    p.set_source("separated")
    past_the_fade(stream)
    after = preview[84:88, None] * 0.5  # 4 frames, then the fade's 80 at 8 kHz
    np.testing.assert_allclose(stream.pull(4), np.repeat(after, 2, axis=1))
    p.close()


def test_a_mono_preview_on_a_mono_device_stays_mono(sound: FakeSoundDevice) -> None:
    sound.channels = sound.listed = 1
    p = Player()
    p.load({"mix": np.full(100, 0.25, dtype=np.float32)}, RATE)
    p.play()
    assert p.playing and sound.streams[-1].channels == 1
    np.testing.assert_allclose(sound.streams[-1].pull(3), [[0.25]] * 3)
    p.close()


# ----- an output that does not take the song's rate ------------------------------------------
SONG_RATE, DEVICE_RATE = 96_000, 48_000


def sine(seconds: float, rate: int, start: float = 0.0, hz: float = 440.0) -> np.ndarray:
    t = start + np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def converted(p: Player, timeout: float = 20.0) -> None:
    """Wait until the player took the audio converted in the worker thread."""
    deadline = time.monotonic() + timeout
    while not p.poll():
        assert time.monotonic() < deadline, "the conversion did not end"
        time.sleep(0.01)


@pytest.fixture
def takes_48k(sound: FakeSoundDevice) -> FakeSoundDevice:
    sound.rates, sound.default_rate = {DEVICE_RATE}, DEVICE_RATE
    return sound


def test_a_refused_rate_plays_converted_to_the_devices_in_song_time(takes_48k) -> None:
    p = Player()
    p.load({"mix": np.stack([sine(2.0, SONG_RATE)] * 2, axis=1)}, SONG_RATE)
    p.seek(0.25)
    p.set_loop(Region(0.25, 1.5))
    p.play()  # returns at once: the conversion runs in a worker thread
    assert not p.playing and p.starting and p.unavailable_reason == ""
    assert "48 kHz" in p.note and "96 kHz" in p.note
    converted(p)
    stream = takes_48k.streams[-1]
    assert p.playing and not p.starting and p.note == "" and stream.rate == DEVICE_RATE
    assert p.position == pytest.approx(0.25) and p.duration == pytest.approx(2.0)
    assert p.loop == Region(pytest.approx(0.25), pytest.approx(1.5))
    block = stream.pull(4800)
    stream.pull(4800)  # 0.2 s written, the last 0.1 s still in the output (its latency)
    assert p.position == pytest.approx(0.35)  # seconds of the song, not frames of the device
    np.testing.assert_allclose(block[:, 0], sine(0.1, DEVICE_RATE, start=0.25), atol=2e-3)
    p.close()


def test_converting_for_the_output_keeps_a_position_outside_the_loop(takes_48k) -> None:
    """A seek past the looped region, then Play on an output that needs the audio converted:
    it plays from there, not from the loop's start."""
    p = Player()
    p.load({"mix": sine(2.0, SONG_RATE)}, SONG_RATE)
    p.set_loop(Region(0.25, 1.0))
    p.seek(1.5)
    p.play()
    converted(p)
    assert p.playing and p.position == pytest.approx(1.5)
    assert p.loop == Region(pytest.approx(0.25), pytest.approx(1.0))
    block = takes_48k.streams[-1].pull(480)
    np.testing.assert_allclose(block[:, 0], sine(0.01, DEVICE_RATE, start=1.5), atol=2e-3)
    p.close()


def test_material_replaced_at_the_devices_rate_is_converted_too(takes_48k) -> None:
    p = Player()
    p.load({"mix": sine(1.0, SONG_RATE), "separated": sine(1.0, SONG_RATE)}, SONG_RATE)
    p.play()
    converted(p)
    p.set_source("separated")
    stream = takes_48k.streams[-1]
    stream.pull(4800)
    p.replace("separated", sine(1.0, SONG_RATE, hz=880.0))  # the next preview
    converted(p)
    assert p.playing and stream.active  # no gap: the stream went on
    past_the_fade(stream)  # 0.01 s
    block = stream.pull(480)[:, 0]
    np.testing.assert_allclose(block, sine(0.01, DEVICE_RATE, start=0.11, hz=880.0), atol=2e-3)
    p.close()


def test_pause_while_converting_does_not_start_it_later(takes_48k) -> None:
    p = Player()
    p.load({"mix": sine(1.0, SONG_RATE)}, SONG_RATE)
    p.toggle()
    assert p.starting
    p.toggle()  # changed one's mind
    assert not p.starting
    converted(p)
    assert not p.playing
    p.play()  # the converted audio is kept: plays at once
    assert p.playing and takes_48k.streams[-1].rate == DEVICE_RATE
    p.close()


def test_an_output_that_refuses_its_own_rate_too_says_why(takes_48k) -> None:
    takes_48k.rates = set()
    p = Player()
    p.load({"mix": sine(1.0, SONG_RATE)}, SONG_RATE)
    p.play()
    assert not p.playing and not p.starting
    assert p.unavailable_reason == (
        "Playback is off because the output refused: Invalid sample rate [PaErrorCode -9997]."
    )


def test_the_transport_says_it_converts_then_plays(qtbot, takes_48k) -> None:
    from tagbox_gui.gui.widgets.transport import TransportPanel

    panel = TransportPanel(Player())
    qtbot.addWidget(panel)
    panel.load({"mix": sine(1.0, SONG_RATE)}, SONG_RATE)
    panel.toggle()
    assert panel.message_label.text().startswith("Converting the audio to 48 kHz")
    assert panel.play_button.accessibleName() == "Pause"  # Play was pressed: it will play
    qtbot.waitUntil(lambda: panel.player.playing, timeout=20_000)
    assert panel.message_label.text() == "" and panel.play_button.accessibleName() == "Pause"
    panel.player.close()


@pytest.fixture
def slow_conversion(monkeypatch: pytest.MonkeyPatch, takes_48k) -> list[int]:
    """Resampling that takes a second per million input frames (a long song on a slow
    machine), made in blocks of 2**16 frames; the lengths of the pieces resampled so far."""
    import scipy.signal

    from tagbox_gui.core.audio import song

    monkeypatch.setattr(song, "_READ_FRAMES", 2**16)

    real, lengths = scipy.signal.resample_poly, []

    def slow(x, up, down):  # type: ignore[no-untyped-def]
        lengths.append(len(x))
        time.sleep(len(x) / 1e6)
        return real(x, up, down)

    monkeypatch.setattr(scipy.signal, "resample_poly", slow)
    return lengths


def converter_idle_after(seconds: float) -> float:
    """How long the conversion thread takes to be idle (what quitting waits for: Python joins
    it at exit), at most ``seconds``."""
    from tagbox_gui.gui.playback_sources import _CONVERTER

    began = time.monotonic()
    _CONVERTER.submit(lambda: None).result(timeout=seconds)
    return time.monotonic() - began


def long_song(seconds: float = 10.0) -> dict[str, np.ndarray]:
    stereo = np.stack([sine(seconds, SONG_RATE)] * 2, axis=1)
    return {"mix": stereo, "separated": 0.5 * stereo, "residual": 0.25 * stereo}


def test_closing_stops_a_conversion_at_once(slow_conversion) -> None:
    """Six channels of 10 s at 96 kHz take over 5 s to convert here; closing the player (the
    window quitting) ends the conversion between blocks, and nothing of it is taken later."""
    p = Player()
    p.load(long_song(), SONG_RATE)
    p.play()
    deadline = time.monotonic() + 5
    while not slow_conversion:  # the worker is converting
        assert time.monotonic() < deadline
        time.sleep(0.005)
    p.close()
    assert converter_idle_after(10.0) < 0.5
    assert not p.poll() and not p.starting and not p.needs_polling
    assert p.rate == SONG_RATE


def test_a_song_opened_while_converting_is_converted_at_once_and_the_old_dropped(
    slow_conversion, takes_48k
) -> None:
    p = Player()
    p.load(long_song(), SONG_RATE)
    p.play()
    deadline = time.monotonic() + 5
    while not slow_conversion:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    began = time.monotonic()
    p.load({"mix": sine(0.5, SONG_RATE, hz=880.0)}, SONG_RATE)  # another song
    p.play()
    converted(p)
    assert time.monotonic() - began < 1.0  # not after the old song's conversion
    assert p.playing and p.sources == ("mix",) and p.duration == pytest.approx(0.5)
    block = takes_48k.streams[-1].pull(480)[:, 0]  # the new song's, from its start
    np.testing.assert_allclose(block[8:], sine(0.01, DEVICE_RATE, hz=880.0)[8:], atol=2e-3)
    assert converter_idle_after(10.0) < 0.5 and not p.poll()
    p.close()
