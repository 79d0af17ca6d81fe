"""Audio playback for A/B listening, free of Qt.

The sounddevice callback runs on PortAudio's real-time thread, so it only copies from buffers
prepared beforehand: no allocation of sample buffers, no locks, no Qt, no device queries.
Everything the GUI changes (source, loop, seek) is handed over by swapping one reference or
tuple, which is atomic under the GIL. Switching source keeps the position, so mix / separated /
residual can be compared on the same bar. Without PortAudio or without an output device the
player stays usable as position bookkeeping and says why it cannot play. An output that fails
(none found, busy, refused, gone while playing) is tried again on the next Play, after PortAudio
listed the devices anew: a device plugged in or freed meanwhile is then used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from tagbox_gui.core.audio.output import fold, output_channels
from tagbox_gui.core.types import Region

try:  # PortAudio missing raises OSError on import; the rest of the app must still run.
    import sounddevice as _sd
except OSError:  # pragma: no cover - depends on the machine
    _sd = None

log = logging.getLogger(__name__)


class Stream(Protocol):
    """What the player needs of an output stream (sounddevice.OutputStream fits).

    A ``latency`` attribute (seconds of output the device buffers), where present, is played
    out in silence after the end before the player stops by itself; without it, none is.
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


def _sounddevice_factory(rate: int, channels: int, callback: Callable[..., None]) -> Stream:
    high = float(_sd.query_devices(kind="output")["default_high_output_latency"])
    return _sd.OutputStream(
        samplerate=rate,
        channels=channels,
        dtype="float32",
        callback=callback,
        latency=max(MIN_OUTPUT_LATENCY_S, high),
    )


def _probe_output() -> tuple[int, str]:
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


def _rescan_output() -> tuple[int, str]:
    """Make PortAudio list the devices anew, then probe the default output (see _probe_output).

    PortAudio lists the devices once, when it is initialized: a device plugged in later, or a
    new default, is seen only after it is terminated and initialized again (sounddevice's
    maintainer gives these two calls for it). No stream may be open meanwhile; the player's is
    closed. It takes milliseconds to a few tenths of a second, once per Play after a failure.
    """
    if _sd is None:
        return _probe_output()
    try:
        if _sd._initialized:
            _sd._terminate()
        _sd._initialize()
    except Exception:  # PortAudioError: keep what PortAudio lists now, if anything
        log.warning("cannot make PortAudio list the audio devices anew", exc_info=True)
    return _probe_output()


class Player:
    """Plays one of several equally long sources and switches between them without a gap.

    ``stream_factory`` opens the output stream; by default a sounddevice ``OutputStream`` on
    the default device. ``max_channels`` caps the channels of the stream (the device's limit).
    """

    def __init__(
        self, stream_factory: StreamFactory | None = None, max_channels: int | None = None
    ) -> None:
        self._rescan: Callable[[], tuple[int, str]] | None = None
        if stream_factory is None:
            channels, reason = _probe_output()
            # Without PortAudio nothing can play; without a device, the next Play looks again.
            self._factory: StreamFactory | None = _sounddevice_factory if _sd else None
            self._rescan = _rescan_output
            self._max_channels = channels
            self.unavailable_reason = reason
        else:
            self._factory = stream_factory
            self._max_channels = max_channels or 64
            self.unavailable_reason = ""
        self._stream: Stream | None = None
        self._originals: dict[str, np.ndarray] = {}  # as loaded: each is folded from these
        self._layout: tuple[str, ...] | None = None
        self._buffers: dict[str, np.ndarray] = {}
        self._source = ""
        self._active: np.ndarray | None = None  # the buffer the callback reads
        self._rate = 44_100
        self._channels = 1
        self._length = 0  # frames of the longest source
        self._frame = 0  # written by the callback only (while a stream exists)
        self._seek: tuple[int, int] = (0, 0)  # (serial, frame) written by the GUI thread
        self._seek_done = 0  # serial of the last seek the callback applied
        self._loop: tuple[int, int] | None = None
        self._playing = False
        self._drain = 0  # frames of silence to write past the end: the stream's latency
        self._silence = 0  # frames of silence written past the end so far (callback only)

    # ----- state -------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """True when audio can be played, as far as the last try to play knows."""
        return self._factory is not None and not self.unavailable_reason

    @property
    def can_try(self) -> bool:
        """True when Play tries the output: always but without PortAudio. After a failure
        (:attr:`unavailable_reason` says which) it tries again, on the devices listed anew."""
        return self._factory is not None

    @property
    def playing(self) -> bool:
        """True while playing; False once the stream stopped by itself (PortAudio aborts the
        stream when the callback raises)."""
        return self._playing and self._stream is not None and self._stream.active

    @property
    def rate(self) -> int:
        return self._rate

    @property
    def duration(self) -> float:
        """Seconds of the longest loaded source."""
        return self._length / self._rate

    @property
    def source(self) -> str:
        return self._source

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self._buffers)

    @property
    def loop(self) -> Region | None:
        if self._loop is None:
            return None
        return Region(self._loop[0] / self._rate, self._loop[1] / self._rate)

    @property
    def position(self) -> float:
        """Play position in seconds (a pending seek counts as done)."""
        serial, frame = self._seek
        if serial != self._seek_done:
            return frame / self._rate
        return self._frame / self._rate

    # ----- loading -----------------------------------------------------------------------
    def load(
        self,
        sources: Mapping[str, np.ndarray],
        rate: int,
        layout: tuple[str, ...] | None = None,
    ) -> None:
        """Replace all sources (each ``(frames, channels)`` or ``(frames,)``) at ``rate`` Hz.

        ``layout`` names the speaker of each channel where known
        (``core.audio.output.speaker_layout``): a device with fewer channels gets the sources
        folded down by it (``core.audio.output.fold``). The first source becomes the current
        one unless the current name is still present. The position is kept when it still lies
        inside the new material.
        """
        if not sources:
            raise ValueError("load() needs at least one source")
        position = self.position  # in seconds (a pending seek counts): the rate may change
        self.pause()
        self._close_stream()
        self._originals = {name: _own(data) for name, data in sources.items()}
        self._layout = layout
        self._channels = output_channels(self._source_channels(), self._max_channels)
        self._rate = int(rate)
        self._buffers = {name: self._prepare(data) for name, data in self._originals.items()}
        self._length = max(buf.shape[0] for buf in self._buffers.values())
        if self._source not in self._buffers:
            self._source = next(iter(self._buffers))
        self._active = self._buffers[self._source]
        self._loop = None
        self._frame = min(round(position * self._rate), self._length)
        self._seek_done = self._seek[0]

    def replace(self, name: str, data: np.ndarray) -> None:
        """Swap in new material for one source (e.g. the latest preview) while playing."""
        original = _own(data)
        buf = self._prepare(original)  # built here, not in the callback
        self._originals[name] = original
        self._buffers[name] = buf
        if name == self._source:
            self._active = buf
        self._length = max(self._length, buf.shape[0])

    def set_source(self, name: str) -> None:
        """Listen to another source from the same position."""
        if name not in self._buffers:
            raise KeyError(f"no source named {name!r}; loaded: {', '.join(self._buffers)}")
        self._source = name
        self._active = self._buffers[name]

    def _source_channels(self) -> int:
        return max(data.shape[1] for data in self._originals.values())

    def _prepare(self, data: np.ndarray) -> np.ndarray:
        """The buffer the callback plays: ``data`` with exactly the stream's channel count,
        folded down where it has more (``core.audio.output.fold``)."""
        return fold(data, self._channels, self._layout)

    # ----- transport ---------------------------------------------------------------------
    def play(self) -> None:
        """Start (or resume) playing; from the start again when at the end.

        When the output failed before, this is the retry: a new stream, on the default device
        as PortAudio lists it now. Failing again only updates :attr:`unavailable_reason`.
        """
        if self._factory is None or self._active is None:
            return
        self._close_if_aborted()
        if self._loop is None and self.position >= self.duration:
            self.seek(0.0)
        if self._stream is None:
            if self.unavailable_reason and not self._look_for_output():
                return
            try:
                stream = self._factory(self._rate, self._channels, self.callback)
            except Exception as exc:  # e.g. the device refuses this rate or channel count
                self._fail(f"the output refused: {exc}")
                return
            self._stream = stream
            self._drain = math.ceil(float(getattr(stream, "latency", 0.0)) * self._rate)
        self._playing = True
        if not self._stream.active:
            try:
                self._stream.start()
            except Exception as exc:  # PortAudioError: the device went away or is busy
                self._playing = False
                self._close_stream()
                self._fail(f"the output device failed: {exc}")
                return
        self.unavailable_reason = ""

    def pause(self) -> None:
        """Stop playing and keep the position."""
        if self._close_if_aborted():
            return
        self._playing = False
        if self._stream is not None and self._stream.active:
            try:
                self._stream.stop()
            except Exception:  # PortAudioError: the device went away; a new stream is opened
                log.warning("cannot stop the output stream", exc_info=True)
                self._close_stream()

    def _close_if_aborted(self) -> bool:
        """Whether the stream stopped by itself while playing, short of the end: then it is
        closed and the failure said, so that the next Play opens a new one.

        PortAudio aborts a stream whose device failed (unplugged, taken by another program) or
        whose callback raised; an aborted stream is inactive but not stopped and cannot simply
        be started again. (At the end, the callback itself stops playing first.)
        """
        stream = self._stream
        if not self._playing or stream is None or stream.active:
            return False
        self._playing = False
        self._close_stream()
        self._fail("the output stopped while playing")
        return True

    def _look_for_output(self) -> bool:
        """After a failure: whether there is an output to try, as PortAudio lists it now."""
        if self._rescan is None:  # a given stream factory: just try it again
            return True
        channels, reason = self._rescan()
        if channels <= 0:
            self.unavailable_reason = reason
            return False
        self._max_channels = channels
        wanted = output_channels(self._source_channels(), channels) if self._originals else 1
        if wanted != self._channels:  # another device than the song was loaded for
            self._channels = wanted  # folded anew from the originals, not from the last fold
            self._buffers = {name: self._prepare(data) for name, data in self._originals.items()}
            self._active = self._buffers[self._source]
        return True

    def _fail(self, why: str) -> None:
        """Say why playing failed in :attr:`unavailable_reason`; the next Play tries again."""
        log.warning("playback failed: %s", why)
        self.unavailable_reason = f"Playback is off because {why.rstrip('. ')}."

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` (clamped to the material); applied by the next callback."""
        frame = round(min(max(seconds, 0.0), self.duration) * self._rate)
        if self._stream is None or not self._stream.active:
            self._frame = frame  # no callback will run: apply it here
            self._seek_done = self._seek[0]
            return
        self._seek = (self._seek[0] + 1, frame)

    def set_loop(self, region: Region | None) -> None:
        """Loop over ``region`` (None: play through). Jumps into the region when outside it."""
        if region is None:
            self._loop = None
            return
        start = round(max(region.start, 0.0) * self._rate)
        end = round(min(region.end, self.duration) * self._rate)
        if end <= start:
            self._loop = None
            return
        self._loop = (start, end)
        if not start <= self.position * self._rate < end:
            self.seek(start / self._rate)

    def close(self) -> None:
        """Stop and release the output device."""
        self.pause()
        self._close_stream()

    def _close_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                stream.close()
            except Exception:  # PortAudioError: the device went away; the stream is gone too
                log.warning("cannot close the output stream", exc_info=True)

    # ----- real-time thread --------------------------------------------------------------
    def callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio's callback: fill ``outdata`` (frames, channels) from the current source."""
        pos = self._frame
        serial, target = self._seek
        if serial != self._seek_done:
            pos, self._seek_done = target, serial
        buf = self._active
        if not self._playing or buf is None:
            outdata.fill(0.0)
            self._frame = pos
            return
        written = 0
        while written < frames:
            loop = self._loop
            if loop is not None:
                if not loop[0] <= pos < loop[1]:
                    pos = loop[0]
                stop = loop[1]
            else:
                stop = self._length
            n = min(frames - written, stop - pos)
            if n <= 0:
                break
            _copy_block(outdata, written, buf, pos, n)
            written += n
            pos += n
        if written:
            self._silence = 0
        if written < frames:
            # Past the end: silence. The device still holds up to its latency of material,
            # which stopping the stream would drop; the player stops by itself once that much
            # silence has followed the end.
            outdata[written:].fill(0.0)
            self._silence += frames - written
            if self._silence > self._drain:
                self._playing = False
        self._frame = pos


def _copy_block(out: np.ndarray, at: int, buf: np.ndarray, pos: int, n: int) -> None:
    """Copy n frames of buf from pos into out at ``at``; zeros where buf is shorter."""
    have = max(0, min(n, buf.shape[0] - pos))
    if have:
        out[at : at + have] = buf[pos : pos + have]
    if have < n:
        out[at + have : at + n].fill(0.0)


def _own(data: np.ndarray) -> np.ndarray:
    """``data`` as read-only float32 ``(frames, channels)`` that no one else can change: a
    read-only array as it is (a song's data), a writable one copied."""
    array = np.asarray(data, dtype=np.float32)
    if array.flags.writeable and np.may_share_memory(array, data):
        array = array.copy()
    array = array[:, None] if array.ndim == 1 else array
    array.flags.writeable = False
    return array
