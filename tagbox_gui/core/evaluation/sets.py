"""A set with true stems on disk, laid out like ``shared/eval/dev``: ``SET/<song>/mix.flac``,
``SET/<song>/stems/<source>.flac`` (or ``.wav``) and ``SET/manifest.json`` listing the songs
and their sources; which songs and sources it holds, and whether their files can be read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from tagbox_gui.core.audio.song import EXAMPLE_FLOOR_DB, MIN_AUDIO_SECONDS, loudest_second_db
from tagbox_gui.core.errors import AudioError, ConfigError


def stem_path(set_dir: Path, song: str, source: str) -> Path:
    """The true stem of a source (``.flac`` or ``.wav``)."""
    for ext in (".flac", ".wav"):
        path = set_dir / song / "stems" / f"{source}{ext}"
        if path.is_file():
            return path
    raise AudioError(f"'{set_dir / song / 'stems'}' has no stem '{source}' (.flac or .wav); "
                     "check the set folder")  # fmt: skip


def sound_span(path: Path) -> tuple[float | None, float]:
    """Where an audio file starts to play - its first sample other than zero, in seconds
    (None: it is all zeros) - and its length, reading it block by block only that far;
    AudioError naming the file when it cannot be read as audio."""
    try:
        with sf.SoundFile(str(path)) as handle:
            rate, length = handle.samplerate, handle.frames / handle.samplerate
            read = 0
            for block in handle.blocks(65_536, dtype="float32", always_2d=True):
                playing = np.flatnonzero(np.any(block != 0, axis=1))
                if playing.size:
                    return (read + int(playing[0])) / rate, length
                read += len(block)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot read {path} ({exc}); check that it is an audio file") from exc
    return None, length


def heard_from(path: Path, start: float) -> float | None:
    """The start, in seconds, of the first second of an audio file from ``start`` on (1-s
    windows from there, its channels mixed to mono) loud enough to be an example clip's
    loudest (its ``loudest_second_db`` reaches ``EXAMPLE_FLOOR_DB``, as ``example_clip`` asks,
    in ``core.audio.song``); None where none is, read block by block only that far. AudioError
    naming the file when it cannot be read."""
    try:
        with sf.SoundFile(str(path)) as handle:
            rate = handle.samplerate
            first = round(start * rate)
            handle.seek(first)
            for index, block in enumerate(handle.blocks(rate, dtype="float32", always_2d=True)):
                if loudest_second_db(block.mean(axis=1), rate) >= EXAMPLE_FLOOR_DB:
                    return (first + index * rate) / rate
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot read {path} ({exc}); check that it is an audio file") from exc
    return None


def list_set(set_dir: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(song, sources) of a set, from its manifest or, without one, from its folders.

    Without a manifest, a song is a folder holding ``mix.flac`` or ``stems/`` (other folders,
    e.g. an estimates folder, are no songs), and its sources are the ``.flac`` and ``.wav``
    files of its ``stems/``. A song folder without ``stems/``, or with none of those files in
    it, is refused (AudioError naming it), as a listed stem that is missing is
    (:func:`check_set`): its sources would be left out of the scores unsaid.
    """
    manifest = set_dir / "manifest.json"
    if manifest.is_file():
        return _read_manifest(manifest)
    found = []
    for song in sorted(p for p in set_dir.iterdir() if _is_song(p)):
        if not (song / "stems").is_dir():
            raise AudioError(f"the song folder '{song}' has no stems folder (its true stems, "
                             "stems/<source>.flac or .wav); add it, or move the song out of "
                             "the set")  # fmt: skip
        stems = sorted(
            {p.stem for p in (song / "stems").iterdir() if p.suffix in (".flac", ".wav")}
        )
        if not stems:
            raise AudioError(f"'{song / 'stems'}' holds no true stem (<source>.flac or .wav); "
                             "add them, or move the song out of the set")  # fmt: skip
        found.append((song.name, tuple(stems)))
    if not found:
        raise AudioError(f"{set_dir} holds no songs; give a folder laid out like shared/eval/dev")
    return found


class Unlisted(NamedTuple):
    """What of a set its listing leaves out (:func:`unlisted`), sorted: song folders by name,
    true stems as ``<song>/<source>``."""

    songs: list[str]
    stems: list[str]


def unlisted(set_dir: Path, listed: list[tuple[str, tuple[str, ...]]]) -> Unlisted:
    """The song folders of a set (each holding ``mix.flac`` or ``stems/``), and true stems
    (``.flac``, ``.wav``) of its listed songs, that ``listed`` (its :func:`list_set`) leaves
    out: they are not evaluated, which a manifest of a deliberate subset may mean. Nothing for
    a set without a manifest, whose listing is its folders."""
    sources = dict(listed)
    songs = sorted(p.name for p in set_dir.iterdir() if _is_song(p) and p.name not in sources)
    stems = []
    for song, song_sources in sources.items():
        folder = set_dir / song / "stems"
        if folder.is_dir():
            names = {p.stem for p in folder.iterdir() if p.suffix in (".flac", ".wav")}
            stems += [f"{song}/{name}" for name in sorted(names - set(song_sources))]
    return Unlisted(songs, stems)


def _is_song(folder: Path) -> bool:
    """Whether a folder of a set without a manifest is a song's: it holds a mixture or stems."""
    return folder.is_dir() and ((folder / "mix.flac").exists() or (folder / "stems").exists())


def _read_manifest(manifest: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(song, sources) listed by a manifest; AudioError naming it if it is not one, lists a
    song or source that is a path rather than a name (its files would be read, and its
    estimates written, outside the set and the estimates folder), a song without sources
    (nothing of it would be scored, unsaid), or a song, or a source of a song, twice."""
    layout = '{"songs": [{"id": "band000", "sources": ["bass", "drums"]}, ...]}'
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AudioError(f"'{manifest}' cannot be read as JSON ({exc}); repair it, or remove it "
                         "to list the songs from the folders") from exc  # fmt: skip
    try:
        songs = [(song["id"], tuple(song["sources"])) for song in data["songs"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise AudioError(f"'{manifest}' does not list the songs as {layout}") from exc
    names = [name for song, sources in songs for name in (song, *sources)]
    listed = all(isinstance(song["sources"], list) for song in data["songs"])  # not "drums"
    if not songs or not listed or not all(isinstance(n, str) and n.strip() for n in names):
        raise AudioError(f"'{manifest}' does not list the songs as {layout}")
    if path := next((n for n in names if not _is_plain_name(n)), None):
        raise AudioError(f"'{manifest}' lists '{path}': a song or source must be a name, not a "
                         "path (a song is a folder of the set, a source a file in its stems "
                         "folder); list names only")  # fmt: skip
    if bare := [song for song, sources in songs if not sources]:
        more = f" (nor of {len(bare) - 1} more)" if len(bare) > 1 else ""
        raise AudioError(f"'{manifest}' lists no source of the song '{bare[0]}'{more}; list "
                         f"each song's sources as {layout}, or leave the song out")  # fmt: skip
    ids = [song for song, _ in songs]
    for song, sources in songs:  # one listed twice would be scored twice
        what = (f"the song '{song}'" if ids.count(song) > 1
                else next((f"the source '{source}' of '{song}'" for source in sources
                           if sources.count(source) > 1), None))  # fmt: skip
        if what is not None:
            raise AudioError(f"'{manifest}' lists {what} twice; list each once")
    return songs


def _is_plain_name(name: str) -> bool:
    """Whether ``name`` names a file or folder where it is, not a path that reaches another
    folder (``..``, ``a/b``, an absolute path; ``\\`` too, a separator on Windows)."""
    return name not in (".", "..") and not any(sep in name for sep in "/\\")


def check_set(
    set_dir: Path, score_from: float = 0.0, example_seconds: float | None = None
) -> list[tuple[str, tuple[str, ...]]]:
    """(song, sources) of a set, once every listed song folder is known to hold its mixture
    and every listed true stem, at the mixture's rate, length and channels (the scores average
    the channels of each to mono, as the team's scorer does), and the mixture to last the
    half second a run needs (AudioError naming the first that is missing or is not: its scores
    would be skipped, or the run would fail, after the songs before it were separated), some
    song to go on past ``score_from`` seconds, by a sample as the scores count them
    (ConfigError: nothing would be scored) and some song to last ``example_seconds``
    (ConfigError: no example clip that long could be taken)."""
    songs = list_set(set_dir)
    longest, scored = 0.0, False
    for song, sources in songs:
        mix = set_dir / song / "mix.flac"
        if not mix.is_file():
            raise AudioError(f"the song folder '{set_dir / song}' has no mix.flac; check the set")
        frames, rate, channels = _header(mix)
        if frames < MIN_AUDIO_SECONDS * rate:
            raise AudioError(f"'{mix}' has {frames} samples at {rate} Hz, shorter than half a "
                             "second, too short to separate; remove the song from the "
                             "set")  # fmt: skip
        longest = max(longest, frames / rate)
        scored = scored or round(score_from * rate) < frames  # as score_source counts samples
        for source in sources:
            stem = stem_path(set_dir, song, source)
            found = _header(stem)
            if found[:2] != (frames, rate):
                raise AudioError(f"'{stem}' has {found[0]} samples at {found[1]} Hz, its mix "
                                 f"{frames} at {rate} Hz: a true stem must match its mix sample "
                                 "for sample; check the set")  # fmt: skip
            if found[2] != channels:
                raise AudioError(f"the true stem '{source}' of the song '{song}' has {found[2]} "
                                 f"channels, its mix {channels}: the scores average each to mono, "
                                 "so a stem must have its mix's channels to be scored against "
                                 f"it; check '{stem}'")  # fmt: skip
    if not scored:
        raise ConfigError(f"--score-from {score_from:g} leaves nothing to score: every song "
                          f"of '{set_dir}' ends by {longest:.1f} s")  # fmt: skip
    if example_seconds is not None and example_seconds > longest + 1e-6:
        raise ConfigError(f"--example-seconds {example_seconds:g} is longer than every song of "
                          f"'{set_dir}' (the longest lasts {longest:.1f} s)")  # fmt: skip
    return songs


def _header(path: Path) -> tuple[int, int, int]:
    """The length in samples, the rate and the channels of an audio file, from its header only
    (so a damaged file is found before any work); AudioError naming the file when it cannot be
    read as audio."""
    try:
        info = sf.info(str(path))
        return info.frames, info.samplerate, info.channels
    except (sf.LibsndfileError, RuntimeError) as exc:
        reason = str(getattr(exc, "error_string", "") or exc).strip().rstrip(".")
        raise AudioError(f"'{path}' cannot be read as audio ({reason}); check the set") from exc
