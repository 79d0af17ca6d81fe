"""What a run checks before it starts: its settings against the song, and the audio it hears.

:func:`validate` refuses settings the engine (``core.separation.engine``) cannot run, with a
ConfigError that says what to change; :func:`nothing_heard` says why a run hears only silence.
"""

from __future__ import annotations

import numpy as np

from tagbox_gui.core.audio.song import MIN_AUDIO_SECONDS, Song, analysis_span, shorter_than
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.nets.taggers import vocabularies
from tagbox_gui.core.separation.loading import hops_per_window
from tagbox_gui.core.separation.tags import check_contradictions
from tagbox_gui.core.types import Region, RunConfig, check_lr

__all__ = ["check_settings", "nothing_heard", "validate"]


def check_settings(config: RunConfig) -> None:
    """ConfigError for settings no song can run with: steps, learning rate, FFT sizes, taggers
    and tags (checked before a set's first song, too)."""
    if config.steps < 0:
        raise ConfigError("steps must be 0 (one pass of the learned separator) or more")
    check_lr(config.lr)
    if not config.fft_sizes or any(n < 64 or n % 2 for n in config.fft_sizes):
        raise ConfigError("FFT sizes must be even numbers of at least 64, e.g. 2048,1024,512")
    twice = [n for n in dict.fromkeys(config.fft_sizes) if config.fft_sizes.count(n) > 1]
    if twice:
        raise ConfigError(f"the FFT size {twice[0]} is given twice; give each once")
    hops = hops_per_window(config.backend)
    if any(n % hops for n in config.fft_sizes):
        raise ConfigError(f"the {config.backend} backend's FFT sizes must be multiples of {hops} "
                          "(its hop is a quarter of a frame), e.g. 2048,1024")  # fmt: skip
    if not config.taggers:
        raise ConfigError("choose at least one tagger, e.g. fcn/mtat")
    twice = [str(t) for t in dict.fromkeys(config.taggers) if config.taggers.count(t) > 1]
    if twice:
        raise ConfigError(f"the tagger {twice[0]} is chosen twice; name each tagger once")
    check_contradictions(config.tags, config.avoid, config.ignore, vocabularies(config.taggers))


def validate(config: RunConfig, song: Song) -> tuple[int, int]:
    """Check the settings (:func:`check_settings`) and them against ``song``; the region (the
    whole song if none) as ``(start, length)`` in samples of its analysis signal
    (``core.audio.song.analysis_span``)."""
    check_settings(config)
    region, duration = config.region, song.duration
    if region is None:
        if duration < MIN_AUDIO_SECONDS:  # the same rule as for a region
            shown = song.frames * 1000 // song.rate / 1000  # rounded down: never "0.50 s"
            # under a millisecond it would be "0 s", as if the file held nothing: count samples
            size = f"{shown:g} s" if shown else _samples(song.frames)
            raise ConfigError(f"the song is shorter than half a second ({size}); "
                              "choose a longer one")  # fmt: skip
    else:
        if not (0 <= region.start < region.end <= duration + 1e-6):
            raise ConfigError(f"region {region.start:g}-{region.end:g} s is outside the song "
                              f"(0-{duration:.2f} s) or empty")  # fmt: skip
        if shorter_than(region.start, region.end, MIN_AUDIO_SECONDS):
            raise ConfigError("the region is shorter than half a second; choose a longer one")
    start, length = analysis_span(song, region)
    longest = max(config.fft_sizes)
    if longest > length:
        what = "song" if region is None else "region"
        fits = 2 ** int(np.log2(length))
        raise ConfigError(f"FFT size {longest} is longer than the {what} ({length} samples "
                          f"at 44.1 kHz); use sizes up to {fits}")  # fmt: skip
    return start, length


def _samples(count: int) -> str:
    return f"{count} sample{'' if count == 1 else 's'}"


def nothing_heard(song: Song, region: Region | None) -> str:
    """Why a run hears nothing in the song or its ``region``: it is silent, or its channels
    cancel out in the mono mix the separator hears (one is the other upside down)."""
    what = "the song" if region is None else "the chosen part of the song"
    part = song.data
    if region is not None:
        part = part[round(region.start * song.rate) : round(region.end * song.rate)]
    if np.any(part):
        return (f"{what} is silent once its channels are mixed to mono, which is what the "
                "separator hears: they cancel out (one is the other with its polarity "
                "inverted); invert the polarity of one channel first")  # fmt: skip
    if region is None:
        return "the song is silent: there is nothing to separate"
    return "the chosen part of the song is silent; choose another region"
