"""Fitting audio to an output device: channels it does not have folded down, a rate it does
not take converted (:func:`resample`).

A song with more channels than the device is folded down, never cut: on a mono device every
channel is averaged; on any other device the song is folded to stereo (played on the device's
first two channels, its front left and right). Where the file's channel mask (a WAVEX's) or
its container defines where each channel goes (:func:`speaker_layout`), the fold is the
ITU-R BS.775 one: the centre and the surrounds go into both front sides 3 dB down, the LFE is
left out, and a channel the mask names no speaker for goes equally into both. Otherwise the
first two channels are taken as left and right and the others go equally into both. A side
whose coefficients add up to more than 1 is scaled down until they add up to 1 (as FFmpeg
does), so the fold never clips what did not clip before, and every source folded the same way
keeps the same level: the A/B comparison stays fair.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from tagbox_gui.core.audio.song import resample_in_blocks

_WAVE_SPEAKERS = ("FL", "FR", "FC", "LFE", "BL", "BR", "FLC", "FRC", "BC", "SL", "SR", "TC",
                  "TFL", "TFC", "TFR", "TBL", "TBC", "TBR")  # fmt: skip
"""The speaker of each bit of a WAVE_FORMAT_EXTENSIBLE channel mask, lowest first: the order of
a WAV's channels."""
_WAVE_MASKS = {3: 0x7, 4: 0x33, 5: 0x37, 6: 0x3F, 7: 0x70F, 8: 0x63F}  # FLAC's, by count
UNPOSITIONED = "?"
"""The place in a layout (:func:`speaker_layout`) of a channel that has no speaker: one past
those a WAVE_FORMAT_EXTENSIBLE mask names. A fold to stereo puts it into both sides alike."""


def _wave_speakers(mask: int) -> tuple[str, ...]:
    """The speakers of ``mask``'s bits, in a WAV's channel order."""
    return tuple(speaker for bit, speaker in enumerate(_WAVE_SPEAKERS) if mask >> bit & 1)


_WAVE = {channels: _wave_speakers(mask) for channels, mask in _WAVE_MASKS.items()}
_VORBIS = {  # Vorbis I (and Opus's family 1) channel order, as libsndfile decodes OGG
    3: ("FL", "FC", "FR"),
    4: ("FL", "FR", "BL", "BR"),
    5: ("FL", "FC", "FR", "BL", "BR"),
    6: ("FL", "FC", "FR", "BL", "BR", "LFE"),
    7: ("FL", "FC", "FR", "SL", "SR", "BC", "LFE"),
    8: ("FL", "FC", "FR", "SL", "SR", "BL", "BR", "LFE"),
}
_LAYOUTS = {"WAV": _WAVE, "WAVEX": _WAVE, "W64": _WAVE, "RF64": _WAVE, "FLAC": _WAVE,
            "OGG": _VORBIS}  # fmt: skip

_DOWN = 1 / math.sqrt(2)  # -3 dB
_STEREO = {  # (into left, into right) of each speaker, ITU-R BS.775
    "FL": (1.0, 0.0),
    "FR": (0.0, 1.0),
    "FC": (_DOWN, _DOWN),
    "LFE": (0.0, 0.0),
    "BL": (_DOWN, 0.0),
    "BR": (0.0, _DOWN),
    "SL": (_DOWN, 0.0),
    "SR": (0.0, _DOWN),
    "BC": (0.5, 0.5),  # split between the back sides, then those 3 dB down
    "FLC": (1.0, 0.0),  # between the front left and the centre: as FFmpeg, on the left
    "FRC": (0.0, 1.0),
    "TC": (_DOWN, _DOWN),  # the heights: into their side 3 dB down, as the surrounds, or
    "TFL": (_DOWN, 0.0),  # into both where they are in the middle
    "TFC": (_DOWN, _DOWN),
    "TFR": (0.0, _DOWN),
    "TBL": (_DOWN, 0.0),
    "TBC": (0.5, 0.5),
    "TBR": (0.0, _DOWN),
    UNPOSITIONED: (1.0, 1.0),  # no place: into both sides alike, as without a layout
}


def speaker_layout(
    channels: int, container: str, mask: int | None = None
) -> tuple[str, ...] | None:
    """The speaker of each channel of a file of ``channels`` channels in ``container`` (the
    libsndfile format name, as :attr:`Song.format <tagbox_gui.core.audio.song.Song.format>`
    gives it), or None where the container does not say (AIFF, say) or there is nothing to
    fold (mono, stereo).

    ``mask``, a WAVE_FORMAT_EXTENSIBLE song's channel mask (:attr:`Song.channel_mask
    <tagbox_gui.core.audio.song.Song.channel_mask>`), names them as that format reads it (as
    the stems keep it): its speakers, in the order of its bits, are the first channels' (a
    quad of 0x107 is FL FR FC BC); the channels past them, or past the speakers WAVE knows,
    are :data:`UNPOSITIONED`; speakers past the channels are not there. Without a mask the
    container's order for the channel count is theirs."""
    if channels > 2 and mask:
        named = _wave_speakers(mask)[:channels]
        return named + (UNPOSITIONED,) * (channels - len(named))
    return _LAYOUTS.get(container.upper(), {}).get(channels)


def wave_channel_mask(channels: int) -> int | None:
    """The WAVE_FORMAT_EXTENSIBLE channel mask of WAVE's (and FLAC's) layout of ``channels``
    channels (6: 0x3F, FL FR FC LFE BL BR); None where it defines none (more than 8), or
    there are no surround speakers to name (mono, stereo)."""
    return _WAVE_MASKS.get(channels)


def channel_order(channels: int, source: str, target: str) -> list[int] | None:
    """Where each channel of a file in container ``target`` comes from in audio decoded from a
    file in container ``source`` (libsndfile format names): ``data[:, order]`` puts the song's
    speakers where ``target`` defines them (a 5.1 OGG's centre, second in Vorbis order, is
    third in a WAV or FLAC). None where nothing moves: both containers order the channels
    alike, or one of them does not say where each goes (:func:`speaker_layout`)."""
    have, want = speaker_layout(channels, source), speaker_layout(channels, target)
    if have is None or want is None or have == want:
        return None
    return [have.index(speaker) for speaker in want]


def output_channels(channels: int, device: int) -> int:
    """Channels to open on a device of ``device`` output channels (0: not known yet) for audio
    of ``channels``: all of them where it has as many, else 1 on a mono device and 2 (a fold
    to stereo) on any other. Mono audio gets 2 where the device has them, the same signal on
    both sides: some audio systems (JACK, some PulseAudio setups) play a one-channel stream
    on the left speaker only."""
    if device <= 0:
        return channels
    if channels == 1:
        return min(device, 2)
    if channels <= device:
        return channels
    return 1 if device == 1 else 2


def fold_matrix(channels: int, out: int, layout: tuple[str, ...] | None = None) -> np.ndarray:
    """``(channels, out)`` gains that fold ``channels`` into ``out`` = 1 or 2 (see the module).

    ``layout`` (:func:`speaker_layout`) is used when it names ``channels`` speakers.
    """
    if out == 1:
        return np.full((channels, 1), 1.0 / channels, dtype=np.float32)
    if out != 2 or channels <= out:
        raise ValueError(f"cannot fold {channels} channels into {out}")
    if layout is not None and len(layout) == channels:
        gains = np.array([_STEREO[speaker] for speaker in layout], dtype=np.float64)
    else:  # left and right first, then channels of unknown place: into both sides alike
        gains = np.ones((channels, 2))
        gains[0, 1] = gains[1, 0] = 0.0
    sums = gains.sum(axis=0)
    return (gains / np.maximum(sums, 1.0)).astype(np.float32)


def fold(data: np.ndarray, out: int, layout: tuple[str, ...] | None = None) -> np.ndarray:
    """``data`` ``(frames, channels)`` as ``(frames, out)`` C-contiguous float32: widened
    (one channel into all), kept, or folded down (:func:`fold_matrix`)."""
    data = np.asarray(data, dtype=np.float32)
    data = data[:, None] if data.ndim == 1 else data
    channels = data.shape[1]
    if channels == out:
        return np.ascontiguousarray(data)
    if channels == 1:  # a mono preview of a stereo song: the same signal on every side
        return np.ascontiguousarray(np.repeat(data, out, axis=1))
    if channels < out:  # fewer channels than the stream: the rest stay silent
        widened = np.zeros((data.shape[0], out), dtype=np.float32)
        widened[:, :channels] = data
        return widened
    matrix = fold_matrix(channels, out, layout)
    folded = np.zeros((data.shape[0], out), dtype=np.float32)
    for channel in range(channels):  # channel by channel: no float64 or (frames, channels) copy
        for side in range(out):
            if matrix[channel, side]:
                folded[:, side] += matrix[channel, side] * data[:, channel]
    return folded


def resample(
    data: np.ndarray, rate: int, new_rate: int, cancel: threading.Event | None = None
) -> np.ndarray:
    """``data`` ``(frames, channels)`` at ``rate`` as C-contiguous float32 at ``new_rate``,
    as long in seconds (``ceil(frames * new_rate / rate)`` frames), channel by channel and a
    block at a time (``core.audio.song.resample_in_blocks``: the same samples as at once;
    :class:`~tagbox_gui.core.audio.song.LoadCancelled` between blocks once ``cancel`` is set).
    About a second per channel of a 5 minute song: call it off the GUI thread."""
    frames, channels = data.shape
    out = np.empty((-(-frames * new_rate // rate), channels), dtype=np.float32)
    for channel in range(channels):

        def read(first: int, last: int, channel: int = channel) -> np.ndarray:
            return data[first:last, channel]

        resample_in_blocks(read, frames, rate, new_rate, out[:, channel], cancel)
    return out
