"""Songs: loading, and the analysis signal the optimisation works on.

A :class:`Song` holds the decoded file as it is (all channels, its own rate). The optimisation
works on :func:`analysis_signal`, a mono 44.1 kHz copy; ``render_stems`` (in
``core.audio.stems``) carries its estimate back onto the song, and ``export_stems`` (in
``core.audio.export``) writes the two stems.
"""

from __future__ import annotations

import contextlib
import errno
import stat
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from tagbox_gui.core.audio.bext import read_bext_and_mask
from tagbox_gui.core.audio.files import open_sound
from tagbox_gui.core.audio.mpeg import counted_frames
from tagbox_gui.core.errors import AudioError, ConfigError
from tagbox_gui.core.folders import format_size
from tagbox_gui.core.types import ANALYSIS_RATE, Example, Region

MIN_RATE = 8_000
MAX_RATE = 192_000
SUPPORTED = "WAV, FLAC, OGG, MP3 or AIFF"
"""Formats the app promises (libsndfile may read a few more)."""

_READ_FRAMES = 2**20  # frames decoded or resampled at a time: a cancel stops within a block
_SUM_FRAMES = 2**16  # frames squared at a time by loudest_region (0.5 MB a channel in float64)
_RIFF_CONTAINERS = ("WAV", "WAVEX", "RF64")  # libsndfile's names of the WAVs bext and masks are in
_ENVELOPE_SECONDS = 0.01  # block size of the coarse energy envelope used by loudest_region


@dataclass(frozen=True, eq=False)
class Song:
    """A decoded audio file: ``data`` is float32 ``(frames, channels)`` at ``rate`` (read-only)."""

    path: Path
    name: str  # file stem, used to name the stems
    data: np.ndarray
    rate: int
    subtype: str  # libsndfile subtype, e.g. PCM_16, PCM_24, FLOAT, VORBIS, MPEG_LAYER_III
    format: str  # libsndfile container, e.g. WAV, FLAC, OGG, MP3, AIFF
    bext: bytes | None = None  # a Broadcast WAV's bext chunk (its place on a DAW's timeline)
    channel_mask: int | None = None  # a WAVE_FORMAT_EXTENSIBLE's speakers, where it states them

    @property
    def frames(self) -> int:
        """Number of samples per channel."""
        return int(self.data.shape[0])

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.rate


class LoadCancelled(Exception):
    """A load (or a conversion of its audio) stopped because its ``cancel`` event was set
    (nobody wants it any more)."""


Progress = Callable[[float], None]
"""A progress callback: told the fraction done (0 to 1, rising, 1.0 last) after each block of
the work, in the thread that does it; it should be cheap (a block takes a fraction of a
second)."""


def stop_if_cancelled(cancel: threading.Event | None) -> None:
    """Raise :class:`LoadCancelled` if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise LoadCancelled


def load_song(
    path: Path | str, cancel: threading.Event | None = None, progress: Progress | None = None
) -> Song:
    """Decode an audio file (all channels, its own rate) into a :class:`Song`.

    Raises :class:`AudioError` with one sentence, naming the file by the path given, for a
    missing or unreadable file, an empty one (a WAV whose header says so, but not its size, is
    said to be a recording never finished), one that does not say its length (a FLAC encoded
    to a pipe), a rate outside 8-192 kHz, or samples that are NaN,
    infinite or beyond :data:`MAX_PEAK`; :class:`LoadCancelled` once ``cancel`` is set (it is
    looked at between blocks of :data:`_READ_FRAMES` frames: a 2-hour song takes half a minute).
    ``progress`` is told the fraction decoded after each block.
    """
    path = Path(path)
    with _decoding(path) as handle:
        data = _read_all(handle, cancel, progress)
        rate, subtype, container = handle.samplerate, handle.subtype, handle.format
    _check_decoded(path, data, container)
    data.flags.writeable = False  # a Song is shared between threads: nobody edits it in place
    riff = str(container) in _RIFF_CONTAINERS
    bext, mask = read_bext_and_mask(path) if riff else (None, None)
    return Song(path, path.stem, data, int(rate), str(subtype), str(container), bext, mask)


@contextlib.contextmanager
def _decoding(path: Path) -> Iterator[sf.SoundFile]:
    """``path`` opened to be decoded, its rate checked: AudioError naming it where it cannot
    be opened or read (here or in the block)."""
    check_song_file(path)
    try:
        with open_sound(path) as handle:
            _check_rate(path, handle.samplerate)
            _check_length_known(path, handle.frames)
            if str(handle.format) == "MP3":
                _check_mpeg_length(path, handle.frames, handle.samplerate)
            yield handle
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise _unreadable(path, exc) from exc


def _read_all(
    handle: sf.SoundFile, cancel: threading.Event | None, progress: Progress | None
) -> np.ndarray:
    """The samples from ``handle``'s start to its end, float32 ``(frames, channels)``, decoded
    a block at a time (as ``handle.read()`` would at once: its frames may be fewer than the
    header says, and the block that finds the end tells ``progress`` 1.0)."""
    data = np.empty((handle.frames, handle.channels), dtype=np.float32)
    done = 0
    while done < len(data):
        stop_if_cancelled(cancel)
        block = data[done : done + _READ_FRAMES]
        got = len(handle.read(dtype="float32", always_2d=True, out=block))
        done += got
        short = got < len(block)
        if progress is not None:
            progress(1.0 if short else done / len(data))
        if short:
            break
    return data[:done]


def check_song_file(path: Path) -> None:
    """AudioError unless ``path`` is a non-empty file this process may open (nothing is
    decoded: cheap enough to check before asking anything). Where the system
    says why not (permission denied, a name too long), the error says so: libsndfile would only
    say "System error", and a folder that may not be searched hides whether the file exists."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise AudioError(f"'{path}' does not exist; choose a {SUPPORTED} file.") from exc
        raise _cannot_open(path, exc) from exc
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(f"'{path}' is a folder, not an audio file; choose a {SUPPORTED} file.")
    if not stat.S_ISREG(info.st_mode):  # a pipe or a device: opening one may wait forever
        raise AudioError(f"'{path}' is not a file on disk (a pipe or a device); choose a "
                         f"{SUPPORTED} file.")  # fmt: skip
    if info.st_size == 0:
        raise AudioError(f"'{path}' is an empty file (0 bytes); choose a {SUPPORTED} file.")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise _cannot_open(path, exc) from exc


def _cannot_open(path: Path, exc: OSError) -> AudioError:
    reason = exc.strerror or type(exc).__name__
    return AudioError(f"'{path}' cannot be opened ({reason}); check that it can be read, or "
                      "choose another file.")  # fmt: skip


_UNREADABLE_FORMATS = {".m4a": "M4A", ".mp4": "MP4", ".aac": "AAC", ".alac": "ALAC",
                       ".wma": "WMA", ".ape": "APE", ".wv": "WavPack"}  # fmt: skip
"""Songs' formats that libsndfile cannot decode, by the ending of their name."""


def _unreadable(path: Path, exc: Exception) -> AudioError:
    """The AudioError for a file libsndfile cannot decode: one in a format of its own is named
    with how to convert it (libsndfile only says "Format not recognised")."""
    kind = _UNREADABLE_FORMATS.get(path.suffix.lower())
    if kind is None:
        return AudioError(
            f"'{path}' cannot be read as audio ({_reason(exc)}); use a {SUPPORTED} file."
        )
    return AudioError(f"'{path}' is in {kind} format, which cannot be opened here; "
                      f"{_how_to_convert(path)}.")  # fmt: skip


def _how_to_convert(path: Path) -> str:
    return (f"convert it to WAV or FLAC first (in an audio editor, or with ffmpeg -i "
            f'"{path.name}" "{path.stem}.wav")')  # fmt: skip


def _reason(exc: Exception) -> str:
    """libsndfile's own short reason (e.g. 'Format not recognised'), without the file path."""
    text = str(getattr(exc, "error_string", "") or exc).strip()
    return (text.splitlines()[-1] if text else type(exc).__name__).rstrip(".")


def _check_rate(path: Path, rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            f"'{path}' has a sample rate of {rate} Hz, outside the supported 8-192 kHz; "
            "resample it first."
        )


_UNKNOWN_FRAMES = 2**63 - 1
"""libsndfile's frame count for a file whose header does not say its length: a FLAC encoded to
a pipe (``ffmpeg ... -f flac -``, a recording cut into segments) says 0 samples, "unknown" in
FLAC. libsndfile cannot go to the end of such a file, which reading its last samples does."""


def _check_length_known(path: Path, frames: int) -> None:
    if frames == _UNKNOWN_FRAMES:
        raise AudioError(f"'{path}' does not say how long it is (a FLAC saved by a stream or "
                         "segment recorder), so it cannot be read to its end here; "
                         f"{_how_to_convert(path)}.")  # fmt: skip


_MPEG_SLACK = 4 * 1152
"""Samples an MPEG file's frames may hold beyond the length libsndfile reads from its header:
the encoder's delay and padding and the Xing or Info frame (up to 2,700 measured)."""


def _check_mpeg_length(path: Path, frames: int, rate: int) -> None:
    """AudioError where libsndfile would stop decoding an MP3 before its last frame: a
    variable-bitrate file without a Xing or Info header (see ``core.audio.mpeg``)."""
    counted = counted_frames(path)
    if counted is not None and counted > frames + _MPEG_SLACK:
        raise AudioError(f"'{path}' does not say how long it is (a variable-bitrate MP3 "
                         f"without a Xing or Info header), and would be read only to "
                         f"{frames / rate:.1f} s of its {counted / rate:.1f} s; "
                         f"{_how_to_convert(path)}.")  # fmt: skip


_HEADER_BYTES = 1 << 16
"""More than a WAV that holds no audio takes (its header and tags)."""


def _check_decoded(path: Path, data: np.ndarray, container: str) -> None:
    """AudioError where the samples decoded from ``path`` (of libsndfile's ``container``) are
    none (:func:`_check_header_finished` for a WAV) or not audio (:func:`_check_samples`)."""
    if str(container) in _RIFF_CONTAINERS:
        _check_header_finished(path, data)
    _check_samples(path, data)


def _check_header_finished(path: Path, data: np.ndarray) -> None:
    """AudioError where a WAV reads as no frames but is larger than its header: a recorder that
    stopped or crashed leaves the data chunk marked 0 bytes long, the samples behind it.
    ffmpeg reads such a chunk to the end of the file."""
    if len(data) == 0 and (size := path.stat().st_size) > _HEADER_BYTES:
        raise AudioError(f"'{path}' holds no audio by its header (zero length), though the file "
                         f"is {format_size(size)}: a recording whose header was never finished "
                         "(the recorder stopped or crashed), say; ffmpeg recovers it: ffmpeg -i "
                         f'"{path.name}" "{path.stem} (repaired){path.suffix}".')  # fmt: skip


MAX_PEAK = 1e12
"""The largest sample a song may hold, in times full scale (a float file may pass 1.0). The
spectra are float32: a 2048-point frame of samples near 1e15 overflows its power, and no
recording comes near this."""


def _check_samples(path: Path, data: np.ndarray) -> None:
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(f"'{path}' holds no audio (zero length); choose another file.")
    if not np.isfinite(data).all():
        raise AudioError(
            f"'{path}' contains NaN or infinite samples; repair or re-export the file."
        )
    if (peak := float(np.max(np.abs(data)))) > MAX_PEAK:
        raise AudioError(f"'{path}' has samples up to {peak:.3g} times full scale, too loud to "
                         "be audio at any level (a float file written wrongly?); repair or "
                         "re-export the file.")  # fmt: skip


_ANALYSED: weakref.WeakKeyDictionary[Song, np.ndarray] = weakref.WeakKeyDictionary()


def analysis_signal(
    song: Song, cancel: threading.Event | None = None, progress: Progress | None = None
) -> np.ndarray:
    """The song as the optimisation hears it: float32 mono at 44.1 kHz, not normalised.

    Channels are averaged, then resampled with a polyphase (Kaiser-windowed sinc) filter at the
    exact rational ratio. Its length is ``ceil(frames * 44100 / rate)``. It is made once per
    :class:`Song` (a resampled 4-minute song takes about a second) and shared by everyone who
    asks, so it is read-only, like the song's data; it goes when the song does. It is made
    :data:`_READ_FRAMES` frames at a time (the same samples as at once), and
    :class:`LoadCancelled` stops it between them once ``cancel`` is set; ``progress`` is told
    the fraction made after each (nothing where it was made already).
    """
    signal = _ANALYSED.get(song)
    if signal is None:
        signal = _ANALYSED.setdefault(song, _mono_resampled(song, cancel, progress))
    return signal


def _mono_resampled(
    song: Song, cancel: threading.Event | None, progress: Progress | None
) -> np.ndarray:
    """The analysis signal made a block at a time (:func:`resample_in_blocks`): no float64
    copy of the whole song."""
    data = np.asarray(song.data)
    signal = np.empty(-(-song.frames * ANALYSIS_RATE // song.rate), dtype=np.float32)

    def mono(first: int, last: int) -> np.ndarray:
        return data[first:last].mean(axis=1, dtype=np.float64)  # no float64 copy: 7x faster

    resample_in_blocks(mono, song.frames, song.rate, ANALYSIS_RATE, signal, cancel, progress)
    signal.flags.writeable = False
    return signal


def resample_in_blocks(read: Callable[[int, int], np.ndarray], frames: int, rate: int,
                       new_rate: int, out: np.ndarray, cancel: threading.Event | None = None,
                       progress: Progress | None = None) -> None:  # fmt: skip
    """Resample one signal of ``frames`` frames at ``rate`` into ``out`` at ``new_rate``
    (``ceil(frames * new_rate / rate)`` samples): a polyphase Kaiser-windowed sinc filter at
    the exact ratio (scipy's ``resample_poly``), the same samples as at once, made
    :data:`_READ_FRAMES` input frames at a time, each block read as ``read(first, last)``;
    :class:`LoadCancelled` stops it between blocks once ``cancel`` is set, and ``progress`` is
    told the fraction of the input done after each.

    A block is read with the input beyond it that the filter reaches (``margin``), and starts
    on an input frame where an output sample falls, so each output sample is summed as at once.
    """
    common = gcd(rate, new_rate)
    up, down = new_rate // common, rate // common
    reach = 10 * max(up, down) // up + 2  # resample_poly's filter: 10 zero crossings a side
    margin = -(-reach // down) * down  # input frames, a whole number of output steps
    step = max(1, _READ_FRAMES // down) * down
    for start in range(0, frames, step):
        stop_if_cancelled(cancel)
        end = min(frames, start + step)
        first, last = max(0, start - margin), min(frames, end + margin)
        block = read(first, last)
        if up != down:
            from scipy.signal import resample_poly  # imported here: scipy.signal takes ~1 s

            block = resample_poly(block, up, down)
        skip = first * up // down
        begin, until = start * up // down, -(-end * up // down)
        out[begin:until] = block[begin - skip : until - skip]
        if progress is not None:
            progress(end / frames)


def analysis_span(song: Song, region: Region | None) -> tuple[int, int]:
    """``(start, length)`` of ``region`` (whole song if None) in samples of the analysis signal.

    This is what an :class:`~tagbox_gui.core.types.Estimate` stores; the region is clamped to
    the song. A region that ends at the song's last sample ends where the analysis signal does:
    rounded in seconds it could stop a sample or two short at rates above 44.1 kHz, and the
    stems would then leave the song's last samples out and fade out before its end.
    """
    total = -(-song.frames * ANALYSIS_RATE // song.rate)
    if region is None:
        return 0, total
    start = min(total, max(0, round(region.start * ANALYSIS_RATE)))
    end = min(total, max(start, round(region.end * ANALYSIS_RATE)))
    if round(region.end * song.rate) >= song.frames:
        end = total
    return start, end - start


def loudest_region(song: Song, seconds: float = 20.0) -> Region:
    """The ``seconds``-long stretch of the song with the most energy (whole song if shorter).

    Works on a 10 ms energy envelope (sum of squares over all channels) with a running sum, so
    a long song costs one pass over its samples.
    """
    if seconds <= 0 or song.duration <= seconds:
        return Region(0.0, song.duration)
    block = max(1, round(_ENVELOPE_SECONDS * song.rate))
    energy = _block_energy(song.data, block)
    count = len(energy)
    width = min(count, max(1, int(seconds * song.rate // block)))
    running = np.concatenate([[0.0], np.cumsum(energy)])
    best = int(np.argmax(running[width:] - running[:-width]))
    start = best * block / song.rate
    return Region(start, min(song.duration, start + seconds))


def _block_energy(data: np.ndarray, block: int) -> np.ndarray:
    """The sum of squares (float64) over all channels of each whole ``block`` of frames of
    ``data``, summed :data:`_SUM_FRAMES` frames at a time: a float64 copy of all the samples
    would take twice the song's memory (1.3 GB for a 30-minute song)."""
    count = len(data) // block
    energy = np.empty(count)
    step = max(1, _SUM_FRAMES // block)  # blocks summed at a time
    for first in range(0, count, step):
        blocks = min(step, count - first)
        squares = np.square(data[first * block : (first + blocks) * block], dtype=np.float64)
        energy[first : first + blocks] = squares.sum(axis=1).reshape(blocks, block).sum(axis=1)
    return energy


MIN_AUDIO_SECONDS = 0.5
"""Shortest audio a run separates: a whole song and a region alike."""

MIN_EXAMPLE_SECONDS = MIN_AUDIO_SECONDS
"""Shortest example clip: the same rule as the shortest region."""


def shorter_than(start: float, end: float, seconds: float) -> bool:
    """Whether the stretch from ``start`` to ``end`` (in seconds) lasts less than ``seconds``,
    as their decimals say: 0.20-0.70 s is half a second, though ``0.7 - 0.2`` is
    0.49999999999999994 in binary floating point (a nanosecond of slack, far under a sample)."""
    return end - start < seconds - 1e-9


EXAMPLE_FLOOR_DB = -60.0
"""The RMS level (dBFS, full scale 1) that an example clip, mixed to mono as the taggers hear
it, must reach in its loudest second (of 1-s windows from its start). The separator learnt its
queries from stems that reach it: the training corpus drops a stem none of whose seconds does
as silent (``training/render.py``, ``SILENT_DB``, measured the same way). A query hears the clip
brought to one peak (``backends.learned.EXAMPLE_PEAK``), so a quieter one, a stretch where
nothing plays but hiss, dither or a tail of reverb, would ask for that noise floor raised 60 dB
or more. The example clips of the evaluation sets reach -30 dBFS or more."""


class ExampleError(ConfigError):
    """An example clip that :func:`example_clip` refuses: the message is "the example
    <``example``> <``problem``>", and a front end that asks for several stems, each by its own
    example, finds by ``example`` whose it is and may say it in its own words."""

    def __init__(self, example: Example, problem: str) -> None:
        self.example, self.problem = example, problem
        super().__init__(f"the example {example} {problem}")

    def __reduce__(self) -> tuple[type[ExampleError], tuple[Example, str]]:
        return type(self), (self.example, self.problem)  # e.g. from an evaluation's worker


def example_clip(example: Example, song: Song) -> tuple[np.ndarray, int]:
    """The mono samples and rate of an example clip: a stretch of a file or of ``song``. Of a
    file, only the stretch is decoded (and checked as :func:`load_song` checks a song).

    Raises AudioError (file problems) or :class:`ExampleError` (a stretch outside the audio or
    shorter than :data:`MIN_EXAMPLE_SECONDS`, or quieter than :data:`EXAMPLE_FLOOR_DB`), naming
    the clip.
    """
    if example.path is None:
        start, end = _example_span(example, song.duration, "the song")
        span, rate = song.data[round(start * song.rate) : round(end * song.rate)], song.rate
    else:
        span, rate = _read_example(example, example.path)
    clip = np.asarray(span, dtype=np.float32).mean(axis=1)
    level = loudest_second_db(clip, rate)
    if level >= EXAMPLE_FLOOR_DB:
        return clip, rate
    if any(loudest_second_db(channel, rate) >= EXAMPLE_FLOOR_DB for channel in span.T):
        raise ExampleError(example, "is silent once its channels are mixed to mono, which is "
                           "what the taggers hear: they cancel out (one is the other with its "
                           "polarity inverted); invert the polarity of one channel first, or "
                           "choose another clip")  # fmt: skip
    if not np.any(clip):
        raise ExampleError(example, "is silent; choose a stretch where the instrument plays")
    raise ExampleError(example, f"is nearly silent: its loudest second is at {level:.1f} dBFS, "
                       f"under the {EXAMPLE_FLOOR_DB:g} dBFS an example needs, so it would ask "
                       "for its noise floor (hiss, dither); choose a stretch where the "
                       "instrument plays")  # fmt: skip


def loudest_second_db(samples: np.ndarray, rate: int) -> float:
    """The RMS level in dBFS (full scale 1) of the loudest second of mono ``samples``: of
    1-s windows from the start, a partial last one counted; -inf for digital silence. An
    example clip must reach :data:`EXAMPLE_FLOOR_DB` by it."""
    starts = np.arange(0, len(samples), rate)
    energy = np.add.reduceat(np.square(samples), starts, dtype=np.float64)
    power = float(np.max(energy / np.diff(starts, append=len(samples))))
    return 10 * np.log10(power) if power > 0 else -np.inf


_SEEK_LEAD_SECONDS = 0.2
"""Audio decoded before a stretch of a file and dropped: an MP3 decoder's first ~65 ms after a
seek are not the file's samples (they lack the frames before), those after are."""


def _read_example(example: Example, name: str) -> tuple[np.ndarray, int]:
    """The samples ``(frames, channels)`` and rate of the stretch of the file ``name`` that
    ``example`` names, checked as :func:`load_song` checks a whole file."""
    path = Path(name)
    with _decoding(path) as handle:
        rate = handle.samplerate
        if not handle.frames:  # no stretch to choose: told as a song would be
            _check_decoded(path, np.empty((0, handle.channels), np.float32), handle.format)
        start, end = _example_span(example, handle.frames / rate, name)
        first = round(start * rate)
        lead = min(first, round(_SEEK_LEAD_SECONDS * rate))
        handle.seek(first - lead)
        data = handle.read(round(end * rate) - first + lead, dtype="float32", always_2d=True)
        data = data[lead:]
    _check_samples(path, data)
    return data, int(rate)


def _example_span(example: Example, duration: float, where: str) -> tuple[float, float]:
    """``(start, end)`` in seconds of ``example`` in audio of ``duration`` seconds (``where``
    names that audio); ExampleError for a stretch outside it or too short."""
    start = 0.0 if example.start is None else example.start
    end = duration if example.end is None else example.end
    if not 0 <= start < end:
        raise ExampleError(example, "is empty or starts before 0 s; give START < END, in seconds")
    if end > duration + 1e-6:
        raise ExampleError(example, f"ends after {where} does ({duration:.2f} s); choose a "
                           "stretch inside it")  # fmt: skip
    if shorter_than(start, end, MIN_EXAMPLE_SECONDS):
        raise ExampleError(example, f"is shorter than {MIN_EXAMPLE_SECONDS:g} s; choose a longer "
                           "stretch")  # fmt: skip
    return start, end
