"""What a job refuses before any of its parts runs (``core.separation.job``): stem names that
are empty, twice the same or one file name, parts whose stems cannot share the song, and each
part's own settings, example clip and models. The window asks the same questions as the picks
change (``gui.run_problems``), so Run says why it is off."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tagbox_gui.core.errors import AudioError, ConfigError
from tagbox_gui.core.types import JobPart, Mode, RunConfig

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.store.models import ModelStore


def stem_key(name: str) -> str:
    """What two stem names must differ in to be two stems: their words, not their case or outer
    spaces (file names ignore case on some file systems)."""
    return name.strip().lower()


def check_parts(parts: Sequence[JobPart], song: Song, store: ModelStore, cache: ModelCache) -> None:
    """Raise the error any part would fail with, before anything runs.

    Names must be distinct (ignoring case: some file systems do) and not empty, and so must the
    stems' file names (:func:`check_file_names`); each part's settings must hold on their own
    (``validation.check_settings``: an FFT size given twice is said as such, not as another
    grid); the stems of several parts must be able to share the mixture
    (:func:`check_sharing`); then each part is checked as :func:`check_part` does.
    """
    from tagbox_gui.core.separation.validation import check_settings

    if not parts:
        raise ConfigError("name at least one instrument to separate")
    names = [stem_key(part.name) for part in parts]
    if any(not name for name in names):
        raise ConfigError("every stem needs a name")
    if len(set(names)) != len(names):
        twice = next(part.name for part in parts if names.count(stem_key(part.name)) > 1)
        raise ConfigError(f"'{twice}' is asked for twice; give each stem its own name")
    check_file_names(parts, song)
    for part in parts:
        check_settings(part.config)
    check_sharing(parts, song)
    for part in parts:
        check_part(part, song, store, cache)


def check_file_names(parts: Sequence[JobPart], song: Song) -> None:
    """Raise a ConfigError, before any part runs, when two stems of ``parts`` would be written
    under one file name (``core.audio.naming.shared_stem_names``): names that differ only in
    what a file name cannot hold, e.g. ``a/b`` and ``a:b``."""
    from tagbox_gui.core.audio.naming import shared_stem_names

    try:
        shared_stem_names(song.name, [part.name for part in parts])
    except AudioError as exc:
        raise ConfigError(str(exc).rstrip(".")) from None


def check_sharing(parts: Sequence[JobPart], song: Song) -> None:
    """Raise the error sharing the stems of ``parts`` would end the job with
    (``core.audio.estimates.share``), before any part runs: with two parts or more, each must
    make masks (mask mode), of the same stretch of the song, at the same FFT sizes and hop."""
    from tagbox_gui.core.audio.song import analysis_span

    if len(parts) < 2:
        return
    for part in parts:
        if part.config.mode is not Mode.MASK:
            raise ConfigError(f"'{part.name}' would be separated in free mode, and the stems of "
                              "several instruments share the song by their masks; choose mask "
                              "mode")  # fmt: skip
    first = parts[0]
    for part in parts[1:]:
        config, other = part.config, first.config
        if analysis_span(song, config.region) != analysis_span(song, other.region):
            raise ConfigError(f"'{part.name}' would be separated in {_where(config)} and "
                              f"'{first.name}' in {_where(other)}; the stems of one job share one "
                              "stretch of the song: separate them all in the same one")  # fmt: skip
        if sorted(config.fft_sizes) != sorted(other.fft_sizes) or (
            config.backend != other.backend and _hop(config) != _hop(other)
        ):
            raise ConfigError(f"'{part.name}' would be separated at other FFT sizes or another "
                              f"hop than '{first.name}'; the stems of one job share one grid: "
                              "give them the same settings")  # fmt: skip


def _hop(config: RunConfig) -> int:
    """The hops per window of the masks a run of ``config`` makes (loads its backend)."""
    from tagbox_gui.core.separation.loading import hops_per_window

    return hops_per_window(config.backend)


def _where(config: RunConfig) -> str:
    """The stretch of the song a run of ``config`` separates, in words."""
    region = config.region
    return "the whole song" if region is None else f"{region.start:g}-{region.end:g} s"


def check_part(part: JobPart, song: Song, store: ModelStore, cache: ModelCache) -> None:
    """Raise the error the part's run would fail with: its settings, its example clip (the
    file, the stretch, whether the backend can be asked by example), the word its backend is
    asked for, and its taggers when it steers; the models are loaded into ``cache``."""
    from tagbox_gui.core.audio.song import example_clip
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.loading import build_criteria, create_backend_factory
    from tagbox_gui.core.separation.validation import validate

    config = part.config
    validate(config, song)
    device = engine.resolve_device(config.device)
    clip = example_clip(config.example, song) if config.example is not None else None
    if clip is not None or not config.steps:  # refuses an example the backend cannot use,
        create_backend_factory(config, store, device, cache, clip)  # or a word it lacks
    if config.steps:
        build_criteria(config, store, device, cache, clip)
