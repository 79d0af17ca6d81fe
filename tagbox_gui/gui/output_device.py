"""The default audio output as PortAudio (through sounddevice) lists it, free of Qt.

What :class:`~tagbox_gui.gui.playback.Player` needs of the machine: whether there is an
output and how many channels it has, its own rate, a stream on it, and a new look at the
devices after a failure (a device plugged in or freed meanwhile).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

try:  # PortAudio missing raises OSError on import; the rest of the app must still run.
    import sounddevice as _sd
except OSError:  # pragma: no cover - depends on the machine
    _sd = None

log = logging.getLogger(__name__)


class Stream(Protocol):
    """What the player needs of an output stream (sounddevice.OutputStream fits).

    A ``latency`` attribute (seconds of output the device buffers), where present, is how far
    the position heard is behind what was written, and is played out in silence after the end
    before the player stops by itself; without it, none is.
    """

    active: bool

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


# (rate, channels, callback) -> stream; tests inject a fake one to drive the callback.
StreamFactory = Callable[[int, int, Callable[..., None]], Stream]


# Output buffered ahead, at least. PortAudio's "high" latency is only ~35 ms through ALSA's
# PulseAudio plugin, which underruns (gaps in the sound) while a separation keeps every core
# busy; 100 ms rides that out. A switch of source or a seek is heard up to this much later.
MIN_OUTPUT_LATENCY_S = 0.1


def sounddevice_factory(rate: int, channels: int, callback: Callable[..., None]) -> Stream:
    high = float(_sd.query_devices(kind="output")["default_high_output_latency"])
    return _sd.OutputStream(
        samplerate=rate,
        channels=channels,
        dtype="float32",
        callback=callback,
        latency=max(MIN_OUTPUT_LATENCY_S, high),
    )


def probe_output() -> tuple[int, str]:
    """(max output channels, reason) of the default output device; 0 channels if none."""
    if _sd is None:
        return 0, "Playback is off because the PortAudio library is missing (libportaudio2)."
    try:
        info = _sd.query_devices(kind="output")
        channels = int(info["max_output_channels"])
    except Exception:  # PortAudioError or ValueError when there is no default output
        channels = 0
    if channels <= 0:
        return 0, "Playback is off because no audio output device was found."
    return channels, ""


def default_rate() -> int | None:
    """The default output's own rate, or None when PortAudio cannot say."""
    try:
        return round(float(_sd.query_devices(kind="output")["default_samplerate"]))
    except Exception:  # PortAudioError or ValueError when there is no default output
        return None


def rescan_output() -> tuple[int, str]:
    """Make PortAudio list the devices anew, then probe the default output (see probe_output).

    PortAudio lists the devices once, when it is initialized: a device plugged in later, or a
    new default, is seen only after it is terminated and initialized again (sounddevice's
    maintainer gives these two calls for it). No stream may be open meanwhile; the player's is
    closed. It takes milliseconds to a few tenths of a second, once per Play after a failure.
    """
    if _sd is None:
        return probe_output()
    try:
        if _sd._initialized:
            _sd._terminate()
        _sd._initialize()
    except Exception:  # PortAudioError: keep what PortAudio lists now, if anything
        log.warning("cannot make PortAudio list the audio devices anew", exc_info=True)
    return probe_output()
