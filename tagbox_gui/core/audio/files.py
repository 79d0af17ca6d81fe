"""Audio files written atomically, alone or as a set that appears all together or not at all:
the formats stems are written in, their quantisation, metadata, a full disk named as such, and
WAVs past 4 GiB (RF64)."""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from tagbox_gui.core.audio.bext import insert_chunk, set_channel_mask
from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.folders import format_size, nearest_folder

METADATA_KEYS = ("title", "artist", "album", "comment", "software", "date", "genre", "copyright")
"""Text fields written to both WAV (INFO chunk) and FLAC (Vorbis comments) by libsndfile."""

_WAV_LIMIT = 2**32 - 2**20  # bytes of samples; leaves room for the header and metadata
_SNDFILE_PATH_BYTES = 1024  # libsndfile refuses a path this long: "Supplied filename too long"


def open_sound(path: Path | str, mode: str = "r", **kwargs: object) -> sf.SoundFile:
    """``soundfile.SoundFile(path, mode, **kwargs)``, for any path the system takes.

    libsndfile refuses a path of 1 KiB or more (a few folders deep with long names, or a third
    as many characters in Chinese or Japanese), and soundfile one that is not valid UTF-8 (a
    name in Latin-1 from an old archive: "caf\xe9.wav"); such a file is opened by the system
    and handed to libsndfile as a file descriptor, which it reads and writes as it would the
    path.
    """
    if len(os.fsencode(path)) < _SNDFILE_PATH_BYTES and _utf8(str(path)):
        return sf.SoundFile(str(path), mode, **kwargs)  # type: ignore[arg-type]
    flags = os.O_RDONLY if mode == "r" else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o666)
    try:
        return sf.SoundFile(fd, mode, closefd=True, **kwargs)  # type: ignore[arg-type]
    except BaseException:
        with contextlib.suppress(OSError):  # libsndfile may have closed it already
            os.close(fd)
        raise


class ExportFormat(enum.Enum):
    """File format of exported stems."""

    WAV32 = "wav32"  # 32-bit float WAV: no clipping, sums back to float32 rounding
    WAV24 = "wav24"
    WAV16 = "wav16"
    FLAC24 = "flac24"
    FLAC16 = "flac16"

    @property
    def container(self) -> str:
        """libsndfile major format: ``WAV`` or ``FLAC``."""
        return "FLAC" if self.value.startswith("flac") else "WAV"

    @property
    def bits(self) -> int | None:
        """PCM bit depth, or None for float."""
        return None if self is ExportFormat.WAV32 else int(self.value[-2:])

    @property
    def subtype(self) -> str:
        """libsndfile subtype."""
        return "FLOAT" if self.bits is None else f"PCM_{self.bits}"

    @property
    def extension(self) -> str:
        """File name extension with the dot."""
        return "." + self.container.lower()


DEFAULT_EXPORT_FORMAT = ExportFormat.WAV32

FLAC_MAX_CHANNELS = 8
"""FLAC holds at most 8 channels; WAV (WAVE_FORMAT_EXTENSIBLE) many more."""


def check_channels(fmt: ExportFormat, channels: int) -> None:
    """AudioError (one sentence) unless ``fmt`` can hold ``channels`` channels: a song of more
    than :data:`FLAC_MAX_CHANNELS` has its stems written as WAV. Checked before a run, so that it
    does not end by refusing to write (libsndfile would only say "Format not recognised")."""
    if fmt.container == "FLAC" and channels > FLAC_MAX_CHANNELS:
        raise AudioError(f"FLAC holds at most {FLAC_MAX_CHANNELS} channels and the song has "
                         f"{channels}; write its stems as WAV, of any depth.")  # fmt: skip


def quantise(data: np.ndarray, fmt: ExportFormat) -> np.ndarray:
    """The float64 values ``data`` will have once written as ``fmt`` and read back."""
    if fmt.bits is None:
        return np.asarray(data, dtype=np.float32).astype(np.float64)
    scale = 2.0 ** (fmt.bits - 1)
    return np.clip(np.round(np.asarray(data, dtype=np.float64) * scale), -scale, scale - 1) / scale


def _utf8(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 (no bytes a file name could not decode)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def write_audio(
    path: Path | str,
    data: np.ndarray,
    rate: int,
    fmt: ExportFormat = DEFAULT_EXPORT_FORMAT,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``data`` ``(frames, channels)`` or ``(frames,)`` atomically; return the path.

    The file is written to a temporary name in the same folder and renamed over ``path`` only
    when complete, so an error never leaves a half-written file (the temporary is removed).
    PCM samples are rounded to the nearest code and clipped to full scale; ``metadata`` keys
    must be among :data:`METADATA_KEYS`. Raises :class:`AudioError` if the file cannot be written
    (a full disk is named as such).
    """
    path = Path(path)
    return write_together([(path, data, metadata or {})], rate, fmt, overwrite=True)[0]


def write_together(
    files: Sequence[tuple[Path, np.ndarray, Mapping[str, str]]],
    rate: int,
    fmt: ExportFormat = DEFAULT_EXPORT_FORMAT,
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Write files ``(path, data, metadata)`` so that they appear all together or not at all.

    Every file is first written completely to a temporary beside its target; only then are they
    renamed into place. Whatever fails - a full disk, Ctrl+C, an error of any kind - the
    temporaries are removed and files this call replaced are put back, so a set of stems that add
    up to the song is never left half new and half old. Without ``overwrite`` an existing target
    is an :class:`AudioError` and nothing is written. The folders must exist.
    """
    arrays = [_two_dimensional(np.asarray(data)) for _, data, _ in files]
    targets = [(Path(path), metadata) for path, _, metadata in files]
    shapes = [(a.shape[0], a.shape[1]) for a in arrays]
    return write_streams(targets, shapes, [arrays], rate, fmt, overwrite)


def _two_dimensional(data: np.ndarray) -> np.ndarray:
    return data.reshape(-1, 1) if data.ndim == 1 else data


def write_streams(
    targets: Sequence[tuple[Path, Mapping[str, str]]],
    shapes: Sequence[tuple[int, int]],
    rows: Iterable[Sequence[np.ndarray]],
    rate: int,
    fmt: ExportFormat,
    overwrite: bool,
    bext: Sequence[bytes | None] | None = None,
    channel_mask: int | None = None,
) -> list[Path]:
    """:func:`write_together` for files that arrive in blocks: each row of ``rows`` holds the
    next block of every file, ``(frames, channels)``; ``shapes`` are the files' whole shapes.
    ``bext``, where given, holds a ``bext`` chunk's payload (Broadcast WAV) per file, put into
    each file that has one before it is renamed into place (``core.audio.bext``).
    ``channel_mask``, where given, says which speaker each channel is: every file is written as
    WAVE_FORMAT_EXTENSIBLE (WAVEX, or RF64 past 4 GiB) with it as its channel mask, set before
    the file is renamed into place. Only WAV files take either (ValueError otherwise)."""
    paths = [path for path, _ in targets]
    for _, metadata in targets:
        unknown = set(metadata) - set(METADATA_KEYS)
        if unknown:
            raise ValueError(f"unsupported metadata keys {sorted(unknown)}; use {METADATA_KEYS}")
    for _, channels in shapes:
        check_channels(fmt, channels)
    _refuse_existing(paths, overwrite)
    files: list[_TempFile] = []
    chunks = list(bext) if bext is not None else [None] * len(targets)
    if fmt.container != "WAV" and (channel_mask is not None or any(c is not None for c in chunks)):
        raise ValueError(
            f"a bext chunk or channel mask belongs in a WAV file, not in {fmt.container}"
        )
    try:
        for (path, metadata), shape, chunk in zip(targets, shapes, chunks, strict=True):
            files.append(_TempFile(path, shape, rate, fmt, metadata, len(targets), channel_mask))
            files[-1].bext = chunk
        for row in rows:
            for file, block in zip(files, row, strict=True):
                file.write(block)
        for file in files:
            file.close()
        _refuse_existing(paths, overwrite)  # another program may have written one meanwhile
        _rename_all([(file.temp, file.path) for file in files], len(files))
    finally:
        for file in files:
            file.discard()  # nothing left once renamed
    return paths


def as_utf8(text: str) -> str:
    """``text`` as a file's metadata holds it: what is not UTF-8 (a song's Latin-1 name, kept
    by Python as surrogates) becomes a �."""
    return text.encode(errors="surrogateescape").decode(errors="replace")


class _TempFile:
    """A file being written to a temporary beside ``path``; a failure is an AudioError that
    names ``path``. The temporary is removed unless it has been renamed into place."""

    def __init__(self, path: Path, shape: tuple[int, int], rate: int, fmt: ExportFormat,
                 metadata: Mapping[str, str], count: int,
                 channel_mask: int | None) -> None:  # fmt: skip
        self.path, self.fmt, self.count = path, fmt, count
        self.channel_mask = channel_mask
        self.temp = _temp_beside(path)
        self.bext: bytes | None = None  # a bext chunk's payload, put in once the file is done
        self._handle: sf.SoundFile | None = None
        try:
            self._guard(lambda: self._open(shape, rate, metadata))
        except BaseException:
            self.discard()
            raise

    def _open(self, shape: tuple[int, int], rate: int, metadata: Mapping[str, str]) -> None:
        frames, channels = shape
        container = container_for(self.fmt, frames, channels, self.channel_mask is not None)
        self._handle = open_sound(self.temp, "w", samplerate=rate, channels=channels,
                                  subtype=self.fmt.subtype, format=container)  # fmt: skip
        for key, value in metadata.items():
            setattr(self._handle, key, as_utf8(value))

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` ``(frames, channels)`` or ``(frames,)``."""
        samples = _file_samples(np.asarray(block), self.fmt)
        self._guard(lambda: self._handle.write(samples))  # type: ignore[union-attr]

    def close(self) -> None:
        """Finish the temporary (libsndfile writes what it still holds), with its channel mask
        and bext chunk."""
        handle, self._handle = self._handle, None
        if handle is not None:
            self._guard(handle.close)
            self._guard(self._edit_header)

    def _edit_header(self) -> None:
        try:
            if self.channel_mask is not None:
                set_channel_mask(self.temp, self.channel_mask)
            if self.bext is not None:
                insert_chunk(self.temp, b"bext", self.bext)
        except ValueError as exc:  # not a RIFF libsndfile wrote, or past RIFF's 4 GiB
            raise OSError(str(exc)) from exc

    def discard(self) -> None:
        """Close quietly and remove the temporary if it is still there."""
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(RuntimeError, OSError):
                handle.close()
        self.temp.unlink(missing_ok=True)

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except (RuntimeError, OSError) as exc:
            raise _cannot_write(self.path, exc, self.count) from exc


class DiskFull(AudioError):
    """Files do not fit on a disk. ``problem`` says which and what was kept, ``advice`` what
    to do: by default to free space or choose another folder; :meth:`advised` words it for
    files whose folder cannot be chosen."""

    def __init__(
        self, problem: str, advice: str = "free some disk space or choose another folder"
    ) -> None:
        self.problem, self.advice = problem, advice
        super().__init__(f"{problem}; {advice}.")

    def __reduce__(self) -> tuple[type[DiskFull], tuple[str, str]]:
        return type(self), (self.problem, self.advice)

    def advised(self, advice: str) -> DiskFull:
        """The same problem with ``advice`` as what to do."""
        return DiskFull(self.problem, advice)


def _cannot_write(path: Path, exc: BaseException, count: int) -> AudioError:
    """One sentence: which file, why (a full disk by name: :class:`DiskFull`), and that
    nothing was kept."""
    kept = "none of the stems was written" if count > 1 else "nothing was written"
    if _disk_full(path.parent, exc):
        return DiskFull(f"cannot write '{path}' (the disk is full), so {kept}")
    return AudioError(f"cannot write '{path}' ({_reason(exc)}), so {kept}; check the folder.")


_FULL = 1 << 20  # free bytes below which a failed write is put down to a full disk


def _disk_full(folder: Path, exc: BaseException) -> bool:
    """Whether a write failed for want of space: by its errno, or, for libsndfile (which only
    says "System error"), by the space left on the folder's file system."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        return shutil.disk_usage(folder).free < _FULL
    except OSError:
        return False


def check_space(folder: Path | str, fmt: ExportFormat, shapes: Sequence[tuple[int, int]]) -> None:
    """:class:`DiskFull` (one sentence) when the file system ``folder`` is on has less space
    free than WAV files of ``shapes`` take (:func:`space_for`). Checked before a CLI run and an
    export, so that neither ends on a full disk."""
    space = space_for(folder, fmt, shapes)
    if space is not None and space[0] > space[1]:
        need, free = space
        raise DiskFull(f"the stems take {format_size(need)} and the disk of '{folder}' has "
                       f"{format_size(free)} free")  # fmt: skip


def space_for(
    folder: Path | str, fmt: ExportFormat, shapes: Sequence[tuple[int, int]]
) -> tuple[int, int] | None:
    """``(need, free)``: the bytes that WAV files of ``shapes`` ``(frames, channels)`` take in
    ``fmt``, and the bytes free on the file system ``folder`` is on (or will be on: its nearest
    existing parent). None where nothing can be told: FLAC (compressed by an amount that
    depends on the audio), or a file system that says nothing of its space."""
    if fmt.container != "WAV":
        return None
    need = sum(frames * channels * (fmt.bits or 32) // 8 for frames, channels in shapes)
    place = nearest_folder(Path(folder))
    if place is None:  # its drive is not there: the writing will tell
        return None
    try:
        usage = shutil.disk_usage(place)
    except OSError:
        return None  # nothing known: the writing will tell
    if usage.total == 0:  # a file system that says nothing of its size (some network mounts)
        return None
    return need, usage.free


def refuse_folders(paths: Iterable[Path], instead: str = "choose another output folder") -> None:
    """AudioError (one sentence) when one of ``paths`` is a folder, which no stem replaces, not
    even with ``overwrite``; ``instead`` says what to do."""
    folders = [p for p in paths if os.path.isdir(p)]
    if folders:
        raise AudioError(f"'{folders[0]}' is a folder, so no stem can be written in its place; "
                         f"{instead}.")  # fmt: skip


def _refuse_existing(paths: Sequence[Path], overwrite: bool) -> None:
    refuse_folders(paths)
    existing = existing_files(paths)
    if existing and not overwrite:
        names = ", ".join(f"'{p.name}'" for p in existing)
        raise AudioError(f"{names} already exist{'s' if len(existing) == 1 else ''} in "
                         f"'{existing[0].parent}'; nothing was replaced.")  # fmt: skip


def existing_files(paths: Iterable[Path]) -> list[Path]:
    """Those of ``paths`` that exist already (the files an export would replace)."""
    return [Path(p) for p in paths if os.path.lexists(p)]


def _rename_all(moves: list[tuple[Path, Path]], count: int) -> None:
    """Rename each temporary onto its target; on any failure put every old file back."""
    backups: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for _, path in moves:
            if os.path.lexists(path):
                backups.append((_temp_beside(path, ".old"), path))
                os.replace(path, backups[-1][0])
        for temp, path in moves:
            os.replace(temp, path)
            placed.append(path)
    except BaseException as exc:  # Ctrl+C included: never leave a mix of new and old stems
        for path in placed:
            path.unlink(missing_ok=True)
        for backup, path in backups:
            if os.path.lexists(backup):
                os.replace(backup, path)
        if isinstance(exc, OSError):
            raise _cannot_write(moves[len(placed)][1], exc, count) from exc
        raise
    for backup, _ in backups:
        backup.unlink(missing_ok=True)


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "error_string", "") or getattr(exc, "strerror", "") or exc).strip()
    return (text.splitlines()[-1] if text else type(exc).__name__).rstrip(".")


def _temp_beside(path: Path, suffix: str = ".part") -> Path:
    """An unused name in ``path``'s folder: the same file system, so the final rename is atomic.

    libsndfile creates the file itself, so it gets the user's usual permissions (umask).
    """
    if not os.path.isdir(path.parent):
        raise AudioError(f"the folder '{path.parent}' does not exist; choose another folder.")
    return path.parent / f".{path.stem[:40]}.{secrets.token_hex(6)}{suffix}"


def _file_samples(data: np.ndarray, fmt: ExportFormat) -> np.ndarray:
    """Samples in the dtype libsndfile writes without conversion loss."""
    data = _two_dimensional(data)
    if fmt.bits is None:
        return data.astype(np.float32)
    # Integer codes shifted to the top of an int32: libsndfile keeps the top bits exactly,
    # whereas float input goes through a scale factor that has differed between its versions.
    scale = 2.0 ** (fmt.bits - 1)
    codes = np.rint(data * scale)  # a fresh float64 array: clip and shift it in place
    np.clip(codes, -scale, scale - 1, out=codes)
    shifted = codes.astype(np.int32)
    shifted <<= 32 - fmt.bits
    return shifted


def container_for(fmt: ExportFormat, frames: int, channels: int, extensible: bool = False) -> str:
    """libsndfile container for ``fmt``: RF64 (still a ``.wav``) when a WAV would pass 4 GiB,
    else WAVEX (WAVE_FORMAT_EXTENSIBLE, a WAV that can say which speaker each channel is) where
    ``extensible``.

    A RIFF WAV counts its size in 32 bits; RF64 is the standard 64-bit WAV that DAWs read (and
    libsndfile writes it WAVE_FORMAT_EXTENSIBLE).
    """
    data_bytes = frames * channels * (fmt.bits or 32) // 8
    if fmt.container == "WAV" and data_bytes > _WAV_LIMIT:
        return "RF64"
    return "WAVEX" if fmt.container == "WAV" and extensible else fmt.container
