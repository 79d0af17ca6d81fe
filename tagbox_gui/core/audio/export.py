"""Writing stems: formats, file names, provenance metadata and atomic writes.

The stems must add back up to the song: the separated stem and the residual, or the stems of
several sources and their rest. In a float file that holds to float32 rounding. In a PCM file
(16/24-bit) the separated stems are quantised first and the residual (or rest) is computed from
them, so the decoded files sum to the song within one LSB of rounding (exactly when the song
itself is PCM of the same or a smaller bit depth) - unless the residual
would exceed full scale and has to be clipped, which is logged.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from tagbox_gui import APP_NAME, __version__
from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.audio.stems import render_stems, song_span
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
_MAX_NAME_BYTES = 200  # file names stay well below the 255-byte limit of common file systems
_ILLEGAL = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')  # Windows' set covers macOS and Linux too
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


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


def stem_names(song_name: str, tags: Iterable[str]) -> tuple[str, str]:
    """File names (without extension) of the stems: ``("<song> - a + b", "<song> - no a + b")``.

    Characters that Windows, macOS or Linux refuse in a file name are replaced by ``_``; the
    tag part is shortened (with an ellipsis) so the name stays within file-system limits.
    """
    song = _sanitise(song_name) or "song"
    label = _sanitise(" + ".join(t.strip() for t in tags if t.strip())) or "separated"
    budget = max(8, _MAX_NAME_BYTES - len(song.encode()) - len(" - no ") - len(".flac"))
    label = _shorten(label, budget)
    return _not_reserved(f"{song} - {label}"), _not_reserved(f"{song} - no {label}")


def _sanitise(text: str) -> str:
    return _ILLEGAL.sub("_", text).strip().rstrip(". ")


def _shorten(text: str, budget: int) -> str:
    if len(text.encode()) <= budget:
        return text
    while len((text + "…").encode()) > budget:
        text = text[:-1]
    return text.rstrip(". ") + "…"


def _not_reserved(name: str) -> str:
    return f"_{name}" if _RESERVED.match(name) else name


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
    must be among :data:`METADATA_KEYS`. Raises :class:`AudioError` if the file cannot be written.
    """
    path = Path(path)
    metadata = dict(metadata or {})
    unknown = set(metadata) - set(METADATA_KEYS)
    if unknown:
        raise ValueError(f"unsupported metadata keys {sorted(unknown)}; use {METADATA_KEYS}")
    samples = _file_samples(np.asarray(data), fmt)
    temp = _temp_beside(path)
    try:
        _write_file(temp, samples, rate, fmt, metadata)
        os.replace(temp, path)
    except (RuntimeError, OSError) as exc:
        temp.unlink(missing_ok=True)
        raise AudioError(
            f"cannot write '{path}' ({_reason(exc)}); check the folder and its free space."
        ) from exc
    except BaseException:  # interrupted: still leave nothing half-written behind
        temp.unlink(missing_ok=True)
        raise
    return path


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "error_string", "") or getattr(exc, "strerror", "") or exc).strip()
    return (text.splitlines()[-1] if text else type(exc).__name__).rstrip(".")


def _temp_beside(path: Path) -> Path:
    """An unused name in ``path``'s folder: the same file system, so the final rename is atomic.

    libsndfile creates the file itself, so it gets the user's usual permissions (umask).
    """
    if not path.parent.is_dir():
        raise AudioError(f"the folder '{path.parent}' does not exist; choose another folder.")
    return path.parent / f".{path.stem[:40]}.{secrets.token_hex(6)}.part"


def _file_samples(data: np.ndarray, fmt: ExportFormat) -> np.ndarray:
    """Samples in the dtype libsndfile writes without conversion loss."""
    data = data.reshape(-1, 1) if data.ndim == 1 else data
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


def _write_file(
    temp: Path, samples: np.ndarray, rate: int, fmt: ExportFormat, metadata: Mapping[str, str]
) -> None:
    frames, channels = samples.shape
    container = container_for(fmt, frames, channels)
    with sf.SoundFile(
        str(temp), "w", rate, channels, subtype=fmt.subtype, format=container
    ) as handle:
        for key, value in metadata.items():
            setattr(handle, key, value)
        handle.write(samples)


def export_stems(
    song: Song,
    estimate: Estimate,
    outdir: Path | str,
    tags: Iterable[str],
    fmt: ExportFormat = DEFAULT_EXPORT_FORMAT,
    provenance: Mapping[str, str] | None = None,
) -> tuple[Path, Path]:
    """Render and write ``<song> - <tags>`` and ``<song> - no <tags>``; return their paths.

    Both files are full length, at the song's rate and channel count, aligned at 0:00, and the
    decoded files sum back to the song (see the module docstring). ``outdir`` is created if
    needed; existing files of the same names are replaced (each atomically: if the second
    write fails, the first stem is already complete on disk).
    """
    outdir = _make_folder(outdir)
    separated, residual = stems_as_written(song, estimate, fmt)
    provenance = dict(provenance or {})
    paths = [
        _write_stem(outdir, name, data, stem, provenance, song.rate, fmt)
        for name, data, stem in zip(
            stem_names(song.name, list(tags)),
            (separated, residual),
            ("separated", "residual (song minus separated)"),
            strict=True,
        )
    ]
    return paths[0], paths[1]


def export_shared_stems(
    song: Song,
    estimates: Mapping[str, Estimate],
    outdir: Path | str,
    fmt: ExportFormat = DEFAULT_EXPORT_FORMAT,
    provenance: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[list[Path], Path]:
    """Write one stem per separated source and one rest; return ``(stems, rest)`` paths.

    The sources share the mixture first (``core.audio.estimates.share``), so no energy is written
    twice. Each stem is quantised to ``fmt`` and the rest (``<song> - no a + b + ...``) is the
    song minus all of them, so the decoded files add back up to the song as the two stems of
    :func:`export_stems` do. ``provenance[name]`` goes into the stem of source ``name``.
    """
    outdir = _make_folder(outdir)
    names = list(estimates)
    rest = np.asarray(song.data, dtype=np.float64).copy()
    written: list[tuple[str, np.ndarray, str, Mapping[str, str]]] = []
    for name, estimate in share(estimates).items():
        separated, _ = render_stems(song, estimate)
        separated = quantise(separated, fmt)
        rest -= separated
        written.append((stem_names(song.name, [name])[0], separated, "separated",
                        (provenance or {}).get(name, {})))  # fmt: skip
    _warn_clipping(rest, fmt, song.name)
    written.append((stem_names(song.name, names)[1], rest, "rest (song minus every stem)", {}))
    paths = [_write_stem(outdir, *item, song.rate, fmt) for item in written]
    return paths[:-1], paths[-1]


def _make_folder(outdir: Path | str) -> Path:
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AudioError(
            f"cannot create '{outdir}' ({exc.strerror}); choose another folder."
        ) from exc
    return outdir


def _write_stem(outdir: Path, name: str, data: np.ndarray, stem: str,
                provenance: Mapping[str, str], rate: int, fmt: ExportFormat) -> Path:  # fmt: skip
    metadata = {"title": name, "software": f"{APP_NAME} {__version__}"}
    metadata["comment"] = format_provenance(provenance, stem)
    return write_audio(outdir / (name + fmt.extension), data, rate, fmt, metadata)


def stems_as_written(
    song: Song, estimate: Estimate, fmt: ExportFormat
) -> tuple[np.ndarray, np.ndarray]:
    """The stems with the separated one quantised to ``fmt`` and the residual computed from it.

    Writing the residual as ``fmt`` then only adds its own rounding, so the decoded files add
    back up to the song (see the module docstring).
    """
    separated, residual = render_stems(song, estimate)
    s0, s1 = song_span(estimate, song.rate, song.frames)  # outside it: 0 and the song itself
    separated[s0:s1] = quantise(separated[s0:s1], fmt)
    residual[s0:s1] = np.asarray(song.data[s0:s1], dtype=np.float64) - separated[s0:s1]
    _warn_clipping(residual, fmt, song.name)
    return separated, residual


def _warn_clipping(residual: np.ndarray, fmt: ExportFormat, name: str) -> None:
    if fmt.bits is None:
        return
    scale = 2.0 ** (fmt.bits - 1)  # codes beyond [-scale, scale - 1] after rounding get clipped
    clipped = int(np.count_nonzero(np.abs(residual * scale + 0.5) > scale))
    if clipped:
        log.warning(
            "%s: %d residual samples exceed full scale and are clipped in %s; the stems will "
            "not sum exactly there (export as wav32 to avoid it)",
            name,
            clipped,
            fmt.value,
        )
