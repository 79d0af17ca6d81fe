"""Real sound: the transport plays through sounddevice and PortAudio into a PulseAudio null sink.

Each test starts its own PulseAudio server (tests/sound_server.py), makes it PortAudio's default
output, plays with the app's own Player and TransportPanel, and records the sink's monitor with
``parec``. The whole way is float32 at 44.1 kHz, so what was played must come back bit for bit;
the tolerance is one float32 step at full scale (2**-23), far below what any conversion,
resampling, dropped or repeated frame would leave (16-bit rounding alone is 2**-16).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from scipy.signal import correlate

from tagbox_gui.gui import output_device
from tagbox_gui.gui.playback import SWITCH_FADE_S, Player
from tagbox_gui.gui.widgets.transport import TransportPanel
from tests.gui.fake_engine import FakeStream
from tests.sound_server import RATE, SoundServer, SoundServerError, running

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the PulseAudio test server runs on Linux only"
)

TOLERANCE = 2.0**-23  # one float32 step at full scale: the path is float32 end to end
TIME_SCALE = 2.0**18  # time code: frame i is (i + 1) / 2**18, exact in float32 below 2**24
SOURCE_CODES = {"mix": 0.25, "separated": 0.5, "residual": 0.75}


@pytest.fixture
def sound_server(tmp_path: Path) -> Iterator[SoundServer]:
    """A private PulseAudio server whose null sink is PortAudio's default output."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running(tmp_path / "pulse"))
        except SoundServerError as exc:
            pytest.fail(f"cannot start the PulseAudio test server: {exc}")
        yield server


@pytest.fixture
def transport(qtbot, sound_server: SoundServer) -> Iterator[TransportPanel]:
    """The app's transport on a Player that probed the (now null-sink) default output."""
    assert output_device._sd is not None, "PortAudio (libportaudio2) is missing"
    player = Player()
    assert player.available, player.unavailable_reason
    panel = TransportPanel(player)
    qtbot.addWidget(panel)
    yield panel
    player.close()


def play_to_the_end(qtbot, panel: TransportPanel) -> None:
    """Wait until the material has played out and the transport released the device."""
    qtbot.waitUntil(
        lambda: not panel.player.playing and not panel.player._stream.active, timeout=10_000
    )


def zero_runs(frames: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of frames that are silent on all channels."""
    silent = np.concatenate([[0], (frames == 0).all(axis=1).astype(np.int8), [0]])
    edges = np.diff(silent)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def dev_excerpt(eval_dir: Path, start_s: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(mix, piano stem) of dev song band001, ``seconds`` from ``start_s`` (mono float32)."""
    song = eval_dir / "dev" / "band001"
    mix, rate = sf.read(song / "mix.flac", dtype="float32")
    piano, _ = sf.read(song / "stems" / "piano.flac", dtype="float32")
    assert rate == RATE
    span = slice(round(start_s * rate), round((start_s + seconds) * rate))
    return mix[span], piano[span]


def test_a_stem_comes_out_of_the_default_output_whole_and_unchanged(
    qtbot, transport: TransportPanel, sound_server: SoundServer, eval_dir: Path, tmp_path: Path
) -> None:
    """A dev song's piano stem, played as "Separated", is recorded back whole and bit-exact."""
    import sounddevice as sd

    mix, stem = dev_excerpt(eval_dir, start_s=4.0, seconds=2.5)
    transport.load({"mix": mix, "separated": stem, "residual": mix - stem}, RATE)
    with sound_server.record(tmp_path / "stem.raw") as recording:
        qtbot.mouseClick(transport.source_buttons["separated"], Qt.MouseButton.LeftButton)
        qtbot.mouseClick(transport.play_button, Qt.MouseButton.LeftButton)
        assert transport.player.playing
        stream = transport.player._stream
        assert stream.device == sd.query_devices(kind="output")["index"]
        assert sd.query_devices(stream.device)["name"] == "default"  # ALSA default: the sink
        play_to_the_end(qtbot, transport)
    got = recording.frames
    assert len(got) > len(stem), f"recorded only {len(got)} frames"

    # Align: the recorded left channel against the stem (the mono stem plays on both sides).
    score = correlate(got[:, 0], stem, mode="valid", method="fft")
    offset = int(np.argmax(score))

    # The same samples, the whole stem, contiguous: no frame lost, repeated or altered.
    played = got[offset : offset + len(stem)]
    expected = np.repeat(stem[:, None], 2, axis=1)
    error = np.abs(played - expected)
    wrong = np.flatnonzero(error.max(axis=1) > TOLERANCE)
    assert not wrong.size, (
        f"offset {offset}: {wrong.size} of {len(stem)} frames differ, the first is frame "
        f"{wrong[0]}; the largest error is {error.max():.3g}"
    )
    stem_gap = max((n for _, n in zero_runs(expected)), default=0)
    gaps = [(s, n) for s, n in zero_runs(played) if n > stem_gap]
    assert not gaps, f"dropouts (start, frames) inside the played span: {gaps}"
    # Nothing else came out: silence before the stem and after it (no stray or repeated sound).
    assert not got[:offset].any()
    assert not got[offset + len(stem) :].any()
    print(
        f"offset {offset} frames, max error {error.max():.3g}, "
        f"{len(got) - offset - len(stem)} silent frames after"
    )


def coded_source(name: str, frames: int) -> np.ndarray:
    """Left: the time code of each frame; right: the code of the source."""
    out = np.empty((frames, 2), dtype=np.float32)
    out[:, 0] = (np.arange(frames, dtype=np.float64) + 1) / TIME_SCALE
    out[:, 1] = SOURCE_CODES[name]
    return out


def test_switching_source_while_playing_keeps_the_position_as_heard(
    qtbot, transport: TransportPanel, sound_server: SoundServer, tmp_path: Path
) -> None:
    """Mix, Separated, Residual, Mix while playing: every frame heard once, in order."""
    frames = 3 * RATE
    transport.load({name: coded_source(name, frames) for name in SOURCE_CODES}, RATE)
    player = transport.player
    order = ["mix", "separated", "residual", "mix"]
    switched_at: list[int] = []  # the frame heard just before each switch
    with sound_server.record(tmp_path / "switch.raw") as recording:
        qtbot.mouseClick(transport.play_button, Qt.MouseButton.LeftButton)
        latency = round(player._stream.latency * RATE)
        for name in order[1:]:
            qtbot.wait(650)
            assert player.playing
            switched_at.append(round(player.position * RATE))
            qtbot.mouseClick(transport.source_buttons[name], Qt.MouseButton.LeftButton)
            assert player.source == name
        play_to_the_end(qtbot, transport)
    got = recording.frames

    sounding = np.flatnonzero(got.any(axis=1))
    assert sounding.size, "nothing came out"
    start, end = int(sounding[0]), int(sounding[-1]) + 1
    assert end - start == sounding.size, "a gap of silence inside the played span"
    played = got[start:end]
    # Every frame exactly once, in order, across all switches: the time code counts up by one.
    index = np.rint(played[:, 0] * TIME_SCALE).astype(np.int64) - 1
    np.testing.assert_array_equal(index, np.arange(frames))
    assert np.abs(played[:, 0] - (index + 1) / TIME_SCALE).max() <= TOLERANCE
    # The sources heard, in the order chosen, each switch at the block after the click and
    # faded from one to the next over SWITCH_FADE_S (no step: no click).
    codes = played[:, 1]
    fade = round(SWITCH_FADE_S * RATE)
    steady = np.isin(codes, list(SOURCE_CODES.values()))
    changes = np.flatnonzero(np.diff(codes)) + 1
    starts = [int(c) for c in changes if steady[c - 1]]  # the first frame of each fade
    heard = [codes[0], *(codes[start + fade - 1] for start in starts)]
    assert heard == [SOURCE_CODES[name] for name in order]
    for start, before, after in zip(starts, heard, heard[1:], strict=False):
        ramp = codes[start : start + fade]
        expected = before + (after - before) * np.arange(1, fade + 1) / fade
        np.testing.assert_allclose(ramp, expected, atol=1e-6)
    assert steady.sum() == len(codes) - len(starts) * (fade - 1)  # nothing blended elsewhere
    # Switched in the next block written: the output's latency after the frame heard, and
    # up to a block more.
    lags = [int(index[c]) - at for c, at in zip(starts, switched_at, strict=True)]
    assert all(0 <= lag <= 2 * latency for lag in lags), f"switch lags {lags}, latency {latency}"
    print(f"switches heard at {index[changes].tolist()}, lags {lags} frames, latency {latency}")


class LatentStream(FakeStream):
    """A fake stream that, like sounddevice's, says how much output the device buffers."""

    latency = 0.01  # 10 frames at 1 kHz


def test_the_player_plays_out_the_device_latency_before_it_stops() -> None:
    """Stopping the stream drops what the device still buffers, so the end waits for it."""
    player = Player(stream_factory=LatentStream)
    player.load({"mix": np.ones((100, 2), dtype=np.float32)}, 1000)
    player.seek(0.095)
    player.play()
    stream = player._stream
    first = stream.pull(8)  # the last 5 frames, then 3 of silence
    assert first[:5].all() and not first[5:].any()
    assert player.playing  # 3 frames of silence so far, the device holds 10
    assert not stream.pull(7).any() and player.playing  # 10: not yet more than the latency
    assert not stream.pull(1).any() and not player.playing  # 11: the end has been heard
    assert player.position == pytest.approx(0.1)
