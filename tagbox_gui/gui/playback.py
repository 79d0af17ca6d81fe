"""Audio playback for A/B listening, free of Qt.

The sounddevice callback runs on PortAudio's real-time thread, so it only copies from buffers
prepared beforehand: no allocation of sample buffers, no locks, no Qt, no device queries.
Everything the GUI changes (source, loop, seek) is handed over by swapping one reference or
tuple, which is atomic under the GIL; the block itself is written by ``playback_render``. The
callback makes no Python object it could do without: while it plays, what it hands back to
the GUI thread is built anew only at a seek or another loop, and the fade's gains are made for
every channel beforehand, so that blending them in makes no temporary array.
Switching source keeps the position, so mix / separated / residual can be compared on the same
bar; the switch fades from one to the other over ``SWITCH_FADE_S`` rather than clicking, and
so does a seek while playing, from the old position to the new.
The position is the one heard: the output's latency behind what the callback wrote.
Without PortAudio or without an output device the player stays usable as position
bookkeeping and says why it cannot play. An output that fails (none found, busy, refused, gone
while playing) is tried again on the next Play, after PortAudio listed the devices anew: a
device plugged in or freed meanwhile is then used. Channels the output lacks are folded down;
an output that refuses the rate gets the sources converted to its own, in a worker thread
(``playback_sources``); positions stay in seconds of the song.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tagbox_gui.core.audio.output import output_channels
from tagbox_gui.core.types import Region
from tagbox_gui.gui import output_device
from tagbox_gui.gui.output_device import Stream, StreamFactory
from tagbox_gui.gui.playback_render import Stretch, crossfade, render
from tagbox_gui.gui.playback_sources import Sources

log = logging.getLogger(__name__)

# A switch of source while playing (or new material for the one heard) fades over this long,
# from the old to the new at the same position, and a seek from the old position to the new:
# a hard switch between two different signals is a step in the waveform, heard as a click.
SWITCH_FADE_S = 0.01


class Player:
    """Plays one of several equally long sources and switches between them without a gap.

    ``stream_factory`` opens the output stream; by default a sounddevice ``OutputStream`` on
    the default device. ``max_channels`` caps the channels of the stream (the device's limit);
    ``device_rate`` is the rate tried when the factory refuses the sources' own.
    """

    def __init__(
        self,
        stream_factory: StreamFactory | None = None,
        max_channels: int | None = None,
        device_rate: int | None = None,
    ) -> None:
        self._rescan: Callable[[], tuple[int, str]] | None = None
        self._device_rate: Callable[[], int | None] = lambda: device_rate
        if stream_factory is None:
            device = output_device
            self._device_rate = device.default_rate
            channels, reason = device.probe_output()
            # Without PortAudio nothing can play; without a device, the next Play looks again.
            self._factory: StreamFactory | None = device.sounddevice_factory if device._sd else None
            self._rescan = device.rescan_output
            self._max_channels = channels
            self.unavailable_reason = reason
        else:
            self._factory = stream_factory
            self._max_channels = max_channels or 64
            self.unavailable_reason = ""
        self._stream: Stream | None = None
        self._sources = Sources()  # as loaded: the buffers are made from these
        self._start_when_converted = False
        self.note = ""  # what the player is doing meanwhile, e.g. converting the rate
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
        # Frames the stream holds before they are heard: the playhead is that far behind what
        # was written, and that much silence follows the end before the player stops.
        self._latency = 0
        # Where the frame heard now is, written by the callback only (while a stream runs):
        # the frames written so far, and (the stretch they end in, the one before where the
        # loop changed), replaced only when it changes and always before the count moves on.
        self._written = 0
        self._played: tuple[Stretch, Stretch | None] = (Stretch(0, 0, None), None)
        self._silence = 0  # frames of silence written past the end so far (callback only)
        # The switch fade (SWITCH_FADE_S), made for the rate and channels in _set_buffers:
        self._fade_gains = np.ones((1, 1), dtype=np.float32)  # (frames, channels), rising to 1
        self._fade_old = np.zeros((1, 1), dtype=np.float32)  # the old buffer's block of it
        self._heard: np.ndarray | None = None  # the buffer of the last block (callback only)
        self._fade_from: np.ndarray | None = None  # the buffer faded out (callback only)
        self._fade_pos = 0  # where its material goes on (callback only)
        self._fade_at = 0  # frames of the fade done so far (callback only)

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
        """Play position in seconds: while playing, of the frame heard now (the output's
        latency after it was written; the seek's target or the play start until it is heard);
        else where playing stopped. A pending seek counts as done."""
        serial, frame = self._seek
        if serial != self._seek_done:
            return frame / self._rate
        if self._stream is None or not self._stream.active:
            return self._frame / self._rate
        # The count first: the callback replaces _played before it moves the count on, so the
        # stretch read is never older than the count.
        total = self._written
        stretch, before = self._played
        heard = total - self._latency
        if heard < stretch.since and before is not None:
            stretch = before
        return stretch.frame(heard, self._length) / self._rate

    @property
    def _next_frame(self) -> int:
        """The frame the callback plays next (a pending seek counts as done)."""
        serial, frame = self._seek
        return frame if serial != self._seek_done else self._frame

    # ----- loading -----------------------------------------------------------------------
    def load(
        self,
        sources: Mapping[str, np.ndarray],
        rate: int,
        layout: tuple[str, ...] | None = None,
    ) -> None:
        """Replace all sources (each ``(frames, channels)`` or ``(frames,)``) at ``rate`` Hz;
        ``layout``: the speakers of their channels where known (``core.audio.output``).

        The first source becomes the current one unless the current name is still present.
        The position is kept when it still lies inside the new material.
        """
        if not sources:
            raise ValueError("load() needs at least one source")
        self.pause()
        self._close_stream()
        self._sources.load(sources, rate, layout)
        self._start_when_converted, self.note = False, ""
        self._loop = None
        self._make_buffers(output_channels(self._sources.channels, self._max_channels))

    def replace(self, name: str, data: np.ndarray) -> None:
        """Swap in new material for one source (e.g. the latest preview) while playing."""
        self._sources.put(name, data)
        rate = self._sources.converting or self._rate
        if rate != self._sources.rate:  # played converted to the output's rate
            self._sources.convert([name], self._channels, rate)
            return  # swapped in once converted (poll)
        self._install({name: self._sources.buffer(name, self._channels)})

    def set_source(self, name: str) -> None:
        """Listen to another source from the same position."""
        if name not in self._buffers:
            raise KeyError(f"no source named {name!r}; loaded: {', '.join(self._buffers)}")
        self._source = name
        self._active = self._buffers[name]

    def _make_buffers(self, channels: int) -> None:
        """All buffers anew from the sources, for ``channels`` channels at their own rate.
        Only while no stream is open."""
        self._sources.cancel()
        self._channels = channels
        names = self._sources.originals
        buffers = {name: self._sources.buffer(name, channels) for name in names}
        self._set_buffers(buffers, self._sources.rate)

    def _set_buffers(self, buffers: dict[str, np.ndarray], rate: int) -> None:
        """Play ``buffers`` (every source) at ``rate``, keeping the position (a pending seek
        counts) and the loop in seconds. Only while no stream is open."""
        position, loop = self.position, self.loop
        self._rate, self._buffers = rate, buffers
        fade = max(1, round(SWITCH_FADE_S * rate))
        gains = np.arange(1, fade + 1, dtype=np.float32) / fade
        self._fade_gains = np.repeat(gains[:, None], self._channels, axis=1)
        self._fade_old = np.zeros((fade, self._channels), dtype=np.float32)
        self._heard, self._fade_from = None, None
        if self._source not in buffers:
            self._source = next(iter(buffers))
        self._active = buffers[self._source]
        self._length = max(buf.shape[0] for buf in buffers.values())
        self._frame = min(round(position * rate), self._length)
        self._seek_done = self._seek[0]
        self.set_loop(loop, enter=False)

    def _install(self, buffers: dict[str, np.ndarray]) -> None:
        """Swap in buffers at the current rate (the callback goes on with the new ones)."""
        self._buffers.update(buffers)
        self._active = self._buffers.get(self._source, self._active)
        self._length = max(buf.shape[0] for buf in self._buffers.values())

    @property
    def starting(self) -> bool:
        """True while Play waits for the sources converted to the output's rate."""
        return self._start_when_converted

    @property
    def needs_polling(self) -> bool:
        """Whether the position or :meth:`poll` can change unasked (playing, converting)."""
        return self._playing or self._start_when_converted or bool(self._sources.converting)

    def poll(self) -> bool:
        """Take the buffers converted in the worker thread, once all are; then play if Play
        was pressed meanwhile. Call it often (the transport does, ~30 times a second); True
        when something changed (playing, the reason, the sources, the duration)."""
        try:
            converted = self._sources.converted()
        except Exception as exc:  # MemoryError, say: said like any other failure to play
            self._start_when_converted, self.note = False, ""
            self._fail(f"the audio could not be converted to the output's rate: {exc}")
            return True
        if converted is None:
            return False
        rate, buffers = converted
        if rate != self._rate:  # every source, made because the output refused their rate
            self._set_buffers(buffers, rate)
        else:
            self._install(buffers)
        self.note = ""
        if self._start_when_converted:
            self._start_when_converted = False
            self.play()
        return True

    # ----- transport ---------------------------------------------------------------------
    def play(self) -> None:
        """Start (or resume) playing; from the start (of the loop) again when at the end.

        When the output failed before, this is the retry: a new stream, on the default device
        as PortAudio lists it now. Failing again only updates :attr:`unavailable_reason`.
        """
        if self._factory is None or self._active is None:
            return
        self._close_if_aborted()
        if self._next_frame >= self._length:  # from the start again (of the loop, if any)
            self.seek(0.0 if self._loop is None else self._loop[0] / self._rate)
        if self._stream is None:
            if (self._sources.converting or self._rate) != self._rate:
                self._start_when_converted = True  # plays once converted (poll)
                return
            if self.unavailable_reason and not self._look_for_output():
                return
            try:
                stream = self._factory(self._rate, self._channels, self.callback)
            except Exception as exc:  # e.g. the device refuses this rate or channel count
                if not self._convert_for_output():
                    self._fail(f"the output refused: {exc}")
                return
            self._stream = stream
            self._latency = math.ceil(float(getattr(stream, "latency", 0.0)) * self._rate)
        self._playing = True
        if not self._stream.active:
            self._heard = None  # set while no callback runs: what was heard before was paused
            self._played, self._written = (Stretch(0, self._frame, self._loop), None), 0
            try:
                self._stream.start()
            except Exception as exc:  # PortAudioError: the device went away or is busy
                self._playing = False
                self._close_stream()
                self._fail(f"the output device failed: {exc}")
                return
        self.unavailable_reason = ""

    def pause(self) -> None:
        """Stop playing (or waiting to play) and keep the position."""
        self._start_when_converted = False
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
        wanted = output_channels(self._sources.channels, channels)
        if wanted != self._channels:  # another device than the song was loaded for
            self._make_buffers(wanted)  # folded anew from the originals, not from the last fold
        return True

    def _convert_for_output(self) -> bool:
        """After the output refused to open: whether it opens at its own default rate. Then
        the sources are converted to that rate in the worker thread, and play once they are
        (:meth:`poll`)."""
        rate = self._device_rate()
        if not rate or rate == self._rate:
            return False
        try:
            self._factory(rate, self._channels, self.callback).close()
        except Exception:  # it refuses that rate too: the first reason is the one to say
            return False
        log.info("the output takes %d Hz, not %d Hz: converting to it", rate, self._rate)
        self._sources.convert(self._sources.originals, self._channels, rate)
        self._start_when_converted, self.unavailable_reason = True, ""
        self.note = (f"Converting the audio to {rate / 1000:g} kHz for the output, which does "
                     f"not take {self._sources.rate / 1000:g} kHz…")  # fmt: skip
        return True

    def _fail(self, why: str) -> None:
        """Say why playing failed in :attr:`unavailable_reason`; the next Play tries again."""
        log.warning("playback failed: %s", why)
        self.unavailable_reason = f"Playback is off because {why.rstrip('. ')}."

    def toggle(self) -> None:
        if self.playing or self.starting:
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

    def set_loop(self, region: Region | None, enter: bool = True) -> None:
        """Loop over ``region`` (None: play through). Jumps into the region when outside it,
        unless not to ``enter`` it (the same loop on new material keeps the position); a seek
        outside it plays from there (on into the loop from before it)."""
        self._loop = None if region is None else self.loop_frames(region)
        if enter and self._loop is not None:
            start, end = self._loop
            if not start <= self._next_frame < end:
                self.seek(start / self._rate)

    def loop_frames(self, region: Region) -> tuple[int, int] | None:
        """The (start, end) frames of the material a loop over ``region`` plays; None where it
        holds none (shorter than a frame, or outside the material): no loop."""
        start = round(max(region.start, 0.0) * self._rate)
        end = round(min(region.end, self.duration) * self._rate)
        return (start, end) if start < end else None

    def close(self) -> None:
        """Stop and release the output device; a conversion under way stops within a block."""
        self.pause()
        self._close_stream()
        self._sources.cancel()
        self.note = ""

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
        serial, target = self._seek
        seeking = serial != self._seek_done
        pos = target if seeking else self._frame
        total = self._written
        buf, loop = self._active, self._loop
        if not self._playing or buf is None:
            outdata.fill(0.0)
            self._played = (Stretch(total + frames, pos, loop), None)
            self._written = total + frames
            self._frame, self._seek_done = pos, serial
            self._heard = None  # nothing sounded: the next block starts without a fade
            return
        if seeking or self._heard is None:  # what the device still holds is not this material
            self._played = (Stretch(total, pos, loop), None)
        elif loop != self._played[0].loop:  # the same material plays on, round another loop
            self._played = (Stretch(total, pos, loop), self._played[0])
        length = self._length
        start = pos
        pos, written = render(outdata, frames, buf, pos, loop, length)
        if written:
            self._silence = 0
        if written < frames:
            # Past the end: silence. The device still holds up to its latency of material,
            # which stopping the stream would drop; the player stops by itself once that much
            # silence has followed the end.
            outdata[written:].fill(0.0)
            self._silence += frames - written
            if self._silence > self._latency:
                self._playing = False
        self._fade(outdata, buf, self._frame, start, frames, loop, length)
        self._written = total + frames
        # The seek counts as done only now: until then the GUI thread reads it as pending.
        self._frame, self._seek_done = pos, serial

    def _fade(self, outdata: np.ndarray, buf: np.ndarray, left: int, start: int, frames: int,
              loop: tuple[int, int] | None, length: int) -> None:  # fmt: skip
        """Fade the block just written from ``buf`` from ``start`` in over what the block
        before went on to, where that is other material: another buffer (a switch of source,
        new material), or another position (a seek) than where the block before ``left``
        off. The old material is rendered on from there into a block made beforehand and
        blended out, also into the silence past the end (a seek to the very end)."""
        if buf is not self._heard or start != left:
            self._fade_from = self._heard  # None after silence: no fade
            self._fade_pos = left
            self._fade_at = 0
            self._heard = buf
        old, at = self._fade_from, self._fade_at
        if old is None:
            return
        n = min(frames, len(self._fade_gains) - at)
        scratch = self._fade_old[:n]
        self._fade_pos, done = render(scratch, n, old, self._fade_pos, loop, length)
        scratch[done:].fill(0.0)  # the old material ended: faded out from silence
        crossfade(outdata[:n], scratch, self._fade_gains[at : at + n])
        self._fade_at = at + n
        if self._fade_at >= len(self._fade_gains):
            self._fade_from = None
