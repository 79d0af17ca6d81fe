"""Writing stems: formats, file names, provenance metadata and atomic writes.

The stems must add back up to the song: the separated stem and the residual, or the stems of
several sources and their rest. In a float file that holds to float32 rounding. In a PCM file
(16/24-bit) the separated stems are quantised first and the residual (or rest) is computed from
them, so the decoded files sum to the song within one LSB of rounding (exactly when the song
itself is PCM of the same or a smaller bit depth) - unless the residual
would exceed full scale and has to be clipped, which is logged.

The stems are rendered and written block by block (``core.audio.stems.separated_blocks``), all
files of a set at once, so an export holds a few seconds of the song in float64, never all of it.

File names come from a template (``core.audio.naming``).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from tagbox_gui import APP_NAME, __version__
from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE, shared_stem_names, stem_names
from tagbox_gui.core.audio.stems import block_spans, separated_blocks
from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.types import Estimate

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

log = logging.getLogger(__name__)

JUKEBOX_LICENCE = (
    "Made with OpenAI's Jukebox VQ-VAE, whose weights OpenAI released under its Noncommercial "
    "Use License: do not use this audio commercially without checking that licence."
)
METADATA_KEYS = ("title", "artist", "album", "comment", "software", "date", "genre", "copyright")
"""Text fields written to both WAV (INFO chunk) and FLAC (Vorbis comments) by libsndfile."""

_WAV_LIMIT = 2**32 - 2**20  # bytes of samples; leaves room for the header and metadata


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


def quantise(data: np.ndarray, fmt: ExportFormat) -> np.ndarray:
    """The float64 values ``data`` will have once written as ``fmt`` and read back."""
    if fmt.bits is None:
        return np.asarray(data, dtype=np.float32).astype(np.float64)
    scale = 2.0 ** (fmt.bits - 1)
    return np.clip(np.round(np.asarray(data, dtype=np.float64) * scale), -scale, scale - 1) / scale


def format_provenance(provenance: Mapping[str, str], stem: str) -> str:
    """The comment text written into a stem: one ``key: value`` line per item.

    ``stem`` says which stem the file is. When ``provenance["backend"]`` is ``jukebox`` the line
    about OpenAI's non-commercial licence is added unless a ``licence`` item is given.
    """
    lines = [f"{APP_NAME} {__version__}", f"stem: {stem}"]
    lines += [f"{key}: {' '.join(str(value).split())}" for key, value in provenance.items()]
    has_licence = any(key.lower() in {"licence", "license"} for key in provenance)
    if provenance.get("backend", "").strip().lower() == "jukebox" and not has_licence:
        lines.append(f"licence: {JUKEBOX_LICENCE}")
    return "\n".join(lines)


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
    return _write_streams(targets, shapes, [arrays], rate, fmt, overwrite)


def _two_dimensional(data: np.ndarray) -> np.ndarray:
    return data.reshape(-1, 1) if data.ndim == 1 else data


def _write_streams(
    targets: Sequence[tuple[Path, Mapping[str, str]]],
    shapes: Sequence[tuple[int, int]],
    rows: Iterable[Sequence[np.ndarray]],
    rate: int,
    fmt: ExportFormat,
    overwrite: bool,
) -> list[Path]:
    """:func:`write_together` for files that arrive in blocks: each row of ``rows`` holds the
    next block of every file, ``(frames, channels)``; ``shapes`` are the files' whole shapes."""
    paths = [path for path, _ in targets]
    for _, metadata in targets:
        unknown = set(metadata) - set(METADATA_KEYS)
        if unknown:
            raise ValueError(f"unsupported metadata keys {sorted(unknown)}; use {METADATA_KEYS}")
    _refuse_existing(paths, overwrite)
    files: list[_TempFile] = []
    try:
        for (path, metadata), shape in zip(targets, shapes, strict=True):
            files.append(_TempFile(path, shape, rate, fmt, metadata, len(targets)))
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


class _TempFile:
    """A file being written to a temporary beside ``path``; a failure is an AudioError that
    names ``path``. The temporary is removed unless it has been renamed into place."""

    def __init__(self, path: Path, shape: tuple[int, int], rate: int, fmt: ExportFormat,
                 metadata: Mapping[str, str], count: int) -> None:  # fmt: skip
        self.path, self.fmt, self.count = path, fmt, count
        self.temp = _temp_beside(path)
        self._handle: sf.SoundFile | None = None
        try:
            self._guard(lambda: self._open(shape, rate, metadata))
        except BaseException:
            self.discard()
            raise

    def _open(self, shape: tuple[int, int], rate: int, metadata: Mapping[str, str]) -> None:
        frames, channels = shape
        container = container_for(self.fmt, frames, channels)
        self._handle = sf.SoundFile(str(self.temp), "w", rate, channels,
                                    subtype=self.fmt.subtype, format=container)  # fmt: skip
        for key, value in metadata.items():
            setattr(self._handle, key, value)

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` ``(frames, channels)`` or ``(frames,)``."""
        samples = _file_samples(np.asarray(block), self.fmt)
        self._guard(lambda: self._handle.write(samples))  # type: ignore[union-attr]

    def close(self) -> None:
        """Finish the temporary (libsndfile writes what it still holds)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            self._guard(handle.close)

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
            raise AudioError(_cannot_write(self.path, exc, self.count)) from exc


def _cannot_write(path: Path, exc: BaseException, count: int) -> str:
    """One sentence: which file, why (a full disk by name), and that nothing was kept."""
    full = _disk_full(path.parent, exc)
    reason = "the disk is full" if full else _reason(exc)
    kept = "none of the stems was written" if count > 1 else "nothing was written"
    advice = "free some disk space or choose another folder" if full else "check the folder"
    return f"cannot write '{path}' ({reason}), so {kept}; {advice}."


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


def _refuse_existing(paths: Sequence[Path], overwrite: bool) -> None:
    folders = [p for p in paths if p.is_dir()]
    if folders:
        raise AudioError(f"'{folders[0]}' is a folder, so no stem can be written in its place; "
                         "choose another output folder.")  # fmt: skip
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
            raise AudioError(_cannot_write(moves[len(placed)][1], exc, count)) from exc
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
    if not path.parent.is_dir():
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


def container_for(fmt: ExportFormat, frames: int, channels: int) -> str:
    """libsndfile container for ``fmt``: RF64 (still a ``.wav``) when a WAV would pass 4 GiB.

    A RIFF WAV counts its size in 32 bits; RF64 is the standard 64-bit WAV that DAWs read.
    """
    data_bytes = frames * channels * (fmt.bits or 32) // 8
    if fmt.container == "WAV" and data_bytes > _WAV_LIMIT:
        return "RF64"
    return fmt.container


def export_stems(
    song: Song,
    estimate: Estimate,
    outdir: Path | str,
    tags: Iterable[str],
    fmt: ExportFormat = DEFAULT_EXPORT_FORMAT,
    provenance: Mapping[str, str] | None = None,
    *,
    overwrite: bool = False,
    template: str = DEFAULT_TEMPLATE,
) -> tuple[Path, Path]:
    """Render and write the separated stem and the residual; return their paths.

    Their names come from ``template`` (:func:`stem_names`; by default ``<song> - <tags>`` and
    ``<song> - no <tags>``). Both files are full length, at the song's rate and channel count,
    aligned at 0:00, and the decoded files sum back to the song (see the module docstring). They
    appear together or not at all (:func:`write_together`): a failure or Ctrl+C leaves the
    folder as it was, old stems included. Existing stems of the same names are an
    :class:`AudioError` unless ``overwrite``. ``outdir`` is created if needed (and removed again
    if the writing fails).
    """
    outdir = Path(outdir)
    names = stem_names(song.name, list(tags), template=template)
    provenance = dict(provenance or {})
    stems = ("separated", "residual (song minus separated)")
    targets = [_target(outdir, name, stem, provenance, fmt)
               for name, stem in zip(names, stems, strict=True)]  # fmt: skip
    clipping = _Clipping(fmt)
    streams = [separated_blocks(song, estimate)]  # checks the estimate before any writing
    rows = _counted(_rows_as_written(song, streams, fmt), clipping)
    paths = _write_in_new_folder(outdir, targets, [song.data.shape] * 2, rows, song.rate, fmt,
                                 overwrite)  # fmt: skip
    clipping.warn(song.name)
    return paths[0], paths[1]


def export_shared_stems(
    song: Song,
    estimates: Mapping[str, Estimate],
    outdir: Path | str,
    fmt: ExportFormat = DEFAULT_EXPORT_FORMAT,
    provenance: Mapping[str, Mapping[str, str]] | None = None,
    *,
    overwrite: bool = False,
    template: str = DEFAULT_TEMPLATE,
) -> tuple[list[Path], Path]:
    """Write one stem per separated source and one rest; return ``(stems, rest)`` paths.

    The sources share the mixture first (``core.audio.estimates.share``), so no energy is written
    twice. Each stem is quantised to ``fmt`` and the rest (``{stem}`` is ``no a + b + ...``) is
    the song minus all of them, so the decoded files add back up to the song as the two stems of
    :func:`export_stems` do. The names come from ``template`` (:func:`shared_stem_names`).
    ``provenance[name]`` goes into the stem of source ``name``. All the files appear together or
    not at all, and ``overwrite`` works as in :func:`export_stems`.
    """
    outdir = Path(outdir)
    names = shared_stem_names(song.name, list(estimates), template=template)
    shared = share(estimates)
    targets = [_target(outdir, file_name, "separated", (provenance or {}).get(name, {}), fmt)
               for file_name, name in zip(names[:-1], shared, strict=True)]  # fmt: skip
    targets.append(_target(outdir, names[-1], "rest (song minus every stem)", {}, fmt))
    streams = [separated_blocks(song, estimate) for estimate in shared.values()]
    clipping = _Clipping(fmt)
    rows = _counted(_rows_as_written(song, streams, fmt), clipping)
    paths = _write_in_new_folder(outdir, targets, [song.data.shape] * len(targets), rows,
                                 song.rate, fmt, overwrite)  # fmt: skip
    clipping.warn(song.name)
    return paths[:-1], paths[-1]


def _rows_as_written(
    song: Song, streams: Sequence[Iterator[tuple[slice, np.ndarray]]], fmt: ExportFormat
) -> Iterator[list[np.ndarray]]:
    """Consecutive float64 blocks of every stem quantised to ``fmt``, then of the song minus all
    of them (the residual or the rest): writing that one as ``fmt`` only adds its own rounding,
    so the decoded files add back up to the song (see the module docstring)."""
    for rest in _song_blocks(song):
        stems = [quantise(next(stream)[1], fmt) for stream in streams]  # the same blocks
        for stem in stems:
            rest -= stem
        yield [*stems, rest]


def _song_blocks(song: Song) -> Iterator[np.ndarray]:
    """The song in float64 copies, in the blocks of ``separated_blocks``."""
    for span in block_spans(song):
        yield np.asarray(song.data[span], dtype=np.float64)


def stem_paths(outdir: Path | str, song_name: str, tags: Iterable[str], fmt: ExportFormat, *,
               template: str = DEFAULT_TEMPLATE) -> tuple[Path, Path]:  # fmt: skip
    """The files :func:`export_stems` writes: the separated stem and the residual."""
    separated, residual = stem_names(song_name, list(tags), template=template)
    return Path(outdir) / (separated + fmt.extension), Path(outdir) / (residual + fmt.extension)


def shared_stem_paths(outdir: Path | str, song_name: str, names: Sequence[str],
                      fmt: ExportFormat, *, template: str = DEFAULT_TEMPLATE,
                      ) -> list[Path]:  # fmt: skip
    """The files :func:`export_shared_stems` writes: one stem per name, then the rest."""
    file_names = shared_stem_names(song_name, names, template=template)
    return [Path(outdir) / (name + fmt.extension) for name in file_names]


def _write_in_new_folder(
    outdir: Path,
    targets: Sequence[tuple[Path, Mapping[str, str]]],
    shapes: Sequence[tuple[int, ...]],
    rows: Iterable[Sequence[np.ndarray]],
    rate: int,
    fmt: ExportFormat,
    overwrite: bool,
) -> list[Path]:
    """Write the files of ``rows`` together into ``outdir``, created first; what it created goes
    again on failure."""
    created = _make_folder(outdir)
    try:
        return _write_streams(targets, [(s[0], s[1]) for s in shapes], rows, rate, fmt, overwrite)
    except BaseException:
        for folder in reversed(created):
            with contextlib.suppress(OSError):  # not empty: somebody else wrote there
                folder.rmdir()
        raise


def _make_folder(outdir: Path) -> list[Path]:
    """Create ``outdir`` and its missing parents; return those it created, outermost first."""
    missing = [folder for folder in (outdir, *outdir.parents) if not os.path.lexists(folder)]
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AudioError(
            f"cannot create '{outdir}' ({exc.strerror}); choose another folder."
        ) from exc
    return missing[::-1]


def _target(outdir: Path, name: str, stem: str, provenance: Mapping[str, str],
            fmt: ExportFormat) -> tuple[Path, dict[str, str]]:  # fmt: skip
    """A stem file's path and its metadata."""
    metadata = {"title": name, "software": f"{APP_NAME} {__version__}"}
    metadata["comment"] = format_provenance(provenance, stem)
    return outdir / (name + fmt.extension), metadata


def _counted(
    rows: Iterable[Sequence[np.ndarray]], clipping: _Clipping
) -> Iterator[Sequence[np.ndarray]]:
    """``rows`` as they are, the last block of each (the residual or rest) counted for clipping."""
    for row in rows:
        clipping.add(row[-1])
        yield row


class _Clipping:
    """Counts the residual samples a PCM format has to clip, to warn once about them all."""

    def __init__(self, fmt: ExportFormat) -> None:
        self.fmt = fmt
        self.count = 0

    def add(self, residual: np.ndarray) -> None:
        if self.fmt.bits is not None:
            scale = 2.0 ** (self.fmt.bits - 1)  # codes beyond [-scale, scale - 1] get clipped
            self.count += int(np.count_nonzero(np.abs(residual * scale + 0.5) > scale))

    def warn(self, name: str) -> None:
        if self.count:
            log.warning(
                "%s: %d residual samples exceed full scale and are clipped in %s; the stems will "
                "not sum exactly there (export as wav32 to avoid it)",
                name,
                self.count,
                self.fmt.value,
            )
