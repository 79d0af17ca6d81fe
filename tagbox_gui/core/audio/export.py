"""Writing stems: their file names, provenance metadata, and the quantisation that keeps their
sum the song (the files themselves are written by ``core.audio.files``).

The stems must add back up to the song: the separated stem and the residual, or the stems of
several sources and their rest. In a float file that holds to float32 rounding. In a PCM file
(16/24-bit) the separated stems are quantised first and the residual (or rest) is computed from
them, so the decoded files sum to the song within one LSB of rounding (exactly when the song
itself is PCM of the same or a smaller bit depth). A separated stem past full scale (a float song
louder than 0 dBFS) is clipped, which is logged; what it exceeds by goes into the residual, so
the sum still holds. Where the residual would exceed full scale (a loud master, clipped at 0 dBFS,
whose stems add up past it), what it exceeds by goes into the stems that pulled it there, which
is logged too; only a song that is itself past full scale leaves more than the stems can take,
and that is clipped in the residual and logged.

The stems keep the song's speakers: where the song's container orders its channels otherwise
than the stems' (an OGG of 3 to 8 channels, in Vorbis order, written as WAV or FLAC, in WAVE
order), the channels of every stem are moved to where the stems' container puts each speaker,
so the stems add back up to the song speaker by speaker. WAV stems of 3 or more channels say
which speaker each channel is (WAVE_FORMAT_EXTENSIBLE: :func:`_channel_mask`); FLAC defines its
order by the channel count.

The stems are rendered and written block by block (``core.audio.stems.separated_blocks``), all
files of a set at once, so an export holds a few seconds of the song in float64, never all of it.

File names come from a template (``core.audio.naming``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tagbox_gui import APP_NAME, __version__
from tagbox_gui.core.audio.bext import stem_bext
from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.audio.files import (
    DEFAULT_EXPORT_FORMAT,
    ExportFormat,
    as_utf8,
    quantise,
    write_streams,
)
from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE, shared_stem_names, stem_names
from tagbox_gui.core.audio.output import channel_order, wave_channel_mask
from tagbox_gui.core.audio.stems import block_spans, separated_blocks
from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.folders import make_folders, not_a_folder, removed_on_failure
from tagbox_gui.core.types import Estimate

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

log = logging.getLogger(__name__)


JUKEBOX_LICENCE = (
    "Made with OpenAI's Jukebox VQ-VAE, whose weights OpenAI released under its Noncommercial "
    "Use License: do not use this audio commercially without checking that licence."
)


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
    only: Collection[int] | None = None,
) -> tuple[Path, Path]:
    """Render and write the separated stem and the residual; return their paths.

    Their names come from ``template`` (:func:`stem_names`; by default ``<song> - <tags>`` and
    ``<song> - no <tags>``). Both files are full length, at the song's rate and channel count
    (its speakers in the order of ``fmt``'s container), aligned at 0:00 (and, as WAV, placed on a
    DAW's timeline where a Broadcast WAV song is: :func:`_bext`), and the decoded files
    sum back to the song (see the module docstring). They
    appear together or not at all (:func:`write_together`): a failure or Ctrl+C leaves the
    folder as it was, old stems included. Existing stems of the same names are an
    :class:`AudioError` unless ``overwrite``. ``outdir`` is created if needed (and removed again
    if the writing fails). ``only`` (indices into the paths returned: 0 the separated stem, 1 the
    residual) writes just those files, each as the full export writes it; the others are
    neither written nor looked at, but their paths are returned all the same.
    """
    outdir = Path(outdir)
    names = stem_names(song.name, list(tags), template=template)
    provenance = dict(provenance or {})
    stems = ("separated", "residual (song minus separated)")
    targets = [_target(outdir, name, stem, provenance, fmt)
               for name, stem in zip(names, stems, strict=True)]  # fmt: skip
    written = _written(only, len(targets))
    refuse_the_song(song.path, [targets[i][0] for i in written])
    clipping = _Clipping(fmt, names)
    streams = [separated_blocks(song, estimate)]  # checks the estimate before any writing
    rows = _rows_as_written(song, streams, fmt, clipping)
    _write_in_new_folder(outdir, targets, [song.data.shape] * 2, rows, song.rate, fmt, overwrite,
                         _bext(song, targets, fmt), _channel_mask(song, fmt), written)  # fmt: skip
    clipping.warn(song.name)
    return targets[0][0], targets[1][0]


def export_shared_stems(
    song: Song,
    estimates: Mapping[str, Estimate],
    outdir: Path | str,
    fmt: ExportFormat = DEFAULT_EXPORT_FORMAT,
    provenance: Mapping[str, Mapping[str, str]] | None = None,
    *,
    overwrite: bool = False,
    template: str = DEFAULT_TEMPLATE,
    only: Collection[int] | None = None,
) -> tuple[list[Path], Path]:
    """Write one stem per separated source and one rest; return ``(stems, rest)`` paths.

    The sources share the mixture first (``core.audio.estimates.share``), so no energy is written
    twice. Each stem is quantised to ``fmt`` and the rest (``{stem}`` is ``no a + b + ...``) is
    the song minus all of them, so the decoded files add back up to the song as the two stems of
    :func:`export_stems` do. The names come from ``template`` (:func:`shared_stem_names`).
    ``provenance[name]`` goes into the stem of source ``name``; the rest says which backends
    made the stems (and the Jukebox licence where one was Jukebox). All the files appear together or
    not at all; ``overwrite`` and ``only`` (indices into the stems, the rest last) work as in
    :func:`export_stems`.
    """
    outdir = Path(outdir)
    names = shared_stem_names(song.name, list(estimates), template=template)
    shared = share(estimates)
    targets = [_target(outdir, file_name, "separated", (provenance or {}).get(name, {}), fmt)
               for file_name, name in zip(names[:-1], shared, strict=True)]  # fmt: skip
    rest = _rest_provenance(provenance or {})
    targets.append(_target(outdir, names[-1], "rest (song minus every stem)", rest, fmt))
    written = _written(only, len(targets))
    refuse_the_song(song.path, [targets[i][0] for i in written])
    streams = [separated_blocks(song, estimate) for estimate in shared.values()]
    clipping = _Clipping(fmt, names)
    rows = _rows_as_written(song, streams, fmt, clipping)
    _write_in_new_folder(outdir, targets, [song.data.shape] * len(targets), rows, song.rate, fmt,
                         overwrite, _bext(song, targets, fmt), _channel_mask(song, fmt),
                         written)  # fmt: skip
    clipping.warn(song.name)
    paths = [path for path, _ in targets]
    return paths[:-1], paths[-1]


def _written(only: Collection[int] | None, count: int) -> list[int]:
    """The indices of the files of a set of ``count`` to write: ``only``'s, in order, or all."""
    if only is None:
        return list(range(count))
    if not set(only) <= set(range(count)):
        raise ValueError(f"no such stems to write: {sorted(set(only) - set(range(count)))}")
    return sorted(set(only))


def refuse_the_song(song_path: Path, paths: Iterable[Path]) -> None:
    """AudioError (one sentence) when one of ``paths`` is the song's own file (the same file,
    whatever its spelling): a stem written there would replace the song, even with
    ``overwrite``, which is meant for old stems."""
    for path in paths:
        with contextlib.suppress(OSError):  # not there (yet): not the song
            if os.path.samefile(path, song_path):
                raise AudioError(f"'{path.name}' in '{path.parent}' is the song itself, which "
                                 "a stem must never replace; choose another folder or name "
                                 "template.")  # fmt: skip


def _rest_provenance(provenance: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The rest's metadata: the backends that made the stems it is the song without, and the
    Jukebox licence when one of them is Jukebox (the rest derives from its stems)."""
    backends = [made.get("backend", "").strip() for made in provenance.values()]
    backends = list(dict.fromkeys(backend for backend in backends if backend))
    rest = {"backend": ", ".join(backends)} if backends else {}
    if len(backends) > 1 and "jukebox" in (backend.lower() for backend in backends):
        rest["licence"] = JUKEBOX_LICENCE  # format_provenance adds it for Jukebox alone
    return rest


def _rows_as_written(
    song: Song,
    streams: Sequence[Iterator[tuple[slice, np.ndarray]]],
    fmt: ExportFormat,
    clipping: _Clipping,
) -> Iterator[list[np.ndarray]]:
    """Consecutive float64 blocks of every stem quantised to ``fmt``, then of the song minus all
    of them (the residual or the rest): writing that one as ``fmt`` only adds its own rounding,
    so the decoded files add back up to the song (see the module docstring). Every block is
    counted by ``clipping`` as it is before quantisation. The channels are put in the order
    ``fmt``'s container defines for the song's speakers (``core.audio.output.channel_order``)."""
    order = channel_order(song.channels, song.format, fmt.container)
    for rest in _song_blocks(song):
        blocks = [next(stream)[1] for stream in streams]  # the same blocks
        stems = [quantise(block, fmt) for block in blocks]
        for stem in stems:
            rest -= stem
        clipping.moved += _give_back(stems, rest, fmt)
        for index, block in enumerate([*blocks, rest]):
            clipping.add(index, block)
        row = [*stems, rest]
        yield row if order is None else [block[:, order] for block in row]


def _give_back(stems: list[np.ndarray], rest: np.ndarray, fmt: ExportFormat) -> int:
    """Move what the residual or rest (``rest``) exceeds a PCM format's full scale by into the
    stems (in place), so that the files still add up to the song; the number of samples moved.

    The rest goes past full scale where stems of the other sign pulled it there (a loud master
    whose stems add up past 0 dBFS, clipped when it was mastered): those stems first give
    back, at most down to silence, then any stem with room takes what is left. Whatever no
    stem can take stays, and is clipped (and logged) when the rest is written. Returns the
    number of samples whose excess moved in full.
    """
    if fmt.bits is None:
        return 0
    lsb = 2.0 ** (1 - fmt.bits)
    top = 1.0 - lsb  # the largest code, as quantise gives it
    over = rest - np.clip(rest, -1.0, top)
    moved = np.abs(over) > lsb / 2  # less is rounded into range when the rest is written
    if not moved.any():
        return 0
    for towards_silence in (True, False):
        for stem in stems:
            if towards_silence:
                wanted = np.clip(over, np.minimum(-stem, 0.0), np.maximum(-stem, 0.0))
            else:
                wanted = over
            taken = quantise(stem + wanted, fmt) - stem  # codes of the format, within range
            stem += taken
            rest -= taken
            over = rest - np.clip(rest, -1.0, top)
    # those with more left over are counted as clipped when the rest is written
    return int(np.count_nonzero(moved & (np.abs(over) <= lsb / 2)))


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
    bext: Sequence[bytes | None] | None,
    channel_mask: int | None,
    written: Sequence[int],
) -> None:
    """Write the files of ``rows`` whose indices are ``written`` together into ``outdir``,
    created first; what it created goes again on failure."""
    try:
        made = make_folders(outdir)
    except NotADirectoryError as exc:  # a file, or a link to no folder, on the way
        reason = not_a_folder(Path(exc.filename), "choose another folder")
        raise AudioError(f"'{exc.filename}' is {reason}.") from exc
    except OSError as exc:
        raise AudioError(
            f"cannot create '{outdir}' ({exc.strerror}); choose another folder."
        ) from exc
    with removed_on_failure(made):
        write_streams([targets[i] for i in written], [shapes[i][:2] for i in written],
                      ([row[i] for i in written] for row in rows), rate, fmt, overwrite,
                      None if bext is None else [bext[i] for i in written],
                      channel_mask)  # fmt: skip


def _bext(song: Song, targets: Sequence[tuple[Path, Mapping[str, str]]],
          fmt: ExportFormat) -> list[bytes | None] | None:  # fmt: skip
    """Each WAV stem's bext chunk, where the song is a Broadcast WAV: the song's, so that a DAW
    places the stem where it places the song, described as the stem (``core.audio.bext``)."""
    if song.bext is None or fmt.container != "WAV":
        return None
    history = _coding_history(song.rate, song.channels, fmt)
    return [stem_bext(song.bext, metadata["title"], history) for _, metadata in targets]


def _channel_mask(song: Song, fmt: ExportFormat) -> int | None:
    """The channel mask of the WAV stems of a song of 3 or more channels, so that a DAW knows
    which speaker each channel is: the song's own where it states one (a WAVE_FORMAT_EXTENSIBLE
    song), else WAVE's for its channel count (their channels are in WAVE's order:
    :func:`_rows_as_written`). None for mono and stereo stems, written as plain WAV, and for
    FLAC, whose order its channel count defines."""
    if fmt.container != "WAV" or song.channels < 3:
        return None
    return song.channel_mask or wave_channel_mask(song.channels)


def _coding_history(rate: int, channels: int, fmt: ExportFormat) -> str:
    """The EBU R98 coding-history line of a WAV stem: PCM at ``rate`` and ``fmt``'s word length,
    its mode where R98 names one (mono, stereo). R98 has no code for floating point, so a float
    stem says so in its free text."""
    mode = {1: "M=mono,", 2: "M=stereo,"}.get(channels, "")
    kind = "" if fmt.bits else ", 32-bit float"
    return f"A=PCM,F={rate},W={fmt.bits or 32},{mode}T={APP_NAME} {__version__} stem{kind}"


def _target(outdir: Path, name: str, stem: str, provenance: Mapping[str, str],
            fmt: ExportFormat) -> tuple[Path, dict[str, str]]:  # fmt: skip
    """A stem file's path and its metadata (a WAV's comment fitted to :data:`WAV_TEXT_BYTES`)."""
    metadata = {"title": name, "software": f"{APP_NAME} {__version__}"}
    comment = as_utf8(format_provenance(provenance, stem))  # measured in the bytes it takes
    metadata["comment"] = _fit_lines(comment, WAV_TEXT_BYTES) if fmt.container == "WAV" else comment
    return outdir / (name + fmt.extension), metadata


WAV_TEXT_BYTES = 2045
"""The longest text (UTF-8) libsndfile reads back from a WAV's INFO chunk (with its end and its
padding, 2047 bytes): a longer comment is written, but reads back as none (a comment naming an
example clip deep in folders)."""


def _fit_lines(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` bytes of UTF-8: its longest lines shortened in the middle
    (``…``) until it fits, so that every line keeps its key, and a path its start and file name."""
    lines = text.split("\n")
    while (excess := len("\n".join(lines).encode()) - limit) > 0:
        longest = max(range(len(lines)), key=lambda i: len(lines[i].encode()))
        shorter = _elide(lines[longest], len(lines[longest].encode()) - excess)
        if shorter == lines[longest]:  # only marks left: nothing more to take
            break
        lines[longest] = shorter
    return "\n".join(lines)


def _elide(line: str, limit: int) -> str:
    """``line`` in at most ``limit`` bytes of UTF-8 (and never less than ``…``): its middle
    replaced by ``…``."""
    head, tail = line[: len(line) // 2], line[len(line) // 2 :]
    while len(f"{head}…{tail}".encode()) > limit and (head or tail):
        head, tail = (head[:-1], tail) if len(head) >= len(tail) else (head, tail[1:])
    return f"{head}…{tail}"


class _Clipping:
    """Counts the samples of each file (the stems, then the residual or rest) that a PCM format
    has to clip, to warn once about them all."""

    def __init__(self, fmt: ExportFormat, names: Sequence[str]) -> None:
        self.fmt = fmt
        self.names = list(names)
        self.counts = [0] * len(self.names)
        self.moved = 0  # samples whose excess over full scale moved from the rest to the stems

    def add(self, index: int, block: np.ndarray) -> None:
        """Count the samples of file ``index``'s next ``block`` (float, before quantisation)."""
        if self.fmt.bits is not None:
            scale = 2.0 ** (self.fmt.bits - 1)  # codes beyond [-scale, scale - 1] get clipped
            self.counts[index] += int(np.count_nonzero(np.abs(block * scale + 0.5) > scale))

    def warn(self, name: str) -> None:
        """Log what was clipped, if anything: a stem's excess went into the residual or rest,
        which still sums with it to the song; the residual's own clipping breaks that sum."""
        *stems, rest = self.counts
        for file_name, count in zip(self.names, stems, strict=False):
            if count:
                log.warning(
                    "%s: %d samples of the stem '%s' exceed full scale and are clipped in %s; "
                    "what they exceed by goes into '%s' (and, past its full scale, the other "
                    "stems), so the files still add up to the song (export as wav32 to avoid it)",
                    name,
                    count,
                    file_name,
                    self.fmt.value,
                    self.names[-1],
                )
        if self.moved:
            log.warning(
                "%s: %d samples of '%s' would exceed full scale in %s; what they exceed by is "
                "in the stems, so that all of them still add up to the song (export as wav32 "
                "to keep each stem as it was separated)",
                name,
                self.moved,
                self.names[-1],
                self.fmt.value,
            )
        if rest:
            log.warning(
                "%s: %d residual samples exceed full scale and are clipped in %s; the stems will "
                "not sum exactly there (export as wav32 to avoid it)",
                name,
                rest,
                self.fmt.value,
            )
