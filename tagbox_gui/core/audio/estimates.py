"""Estimates on disk, several sources of one song sharing the mixture, and how loud they are.

When several instruments are separated from the same song, each run decides on its own, so
their masks can claim the same time-frequency bin more than once: on the dev set the five
light-backend masks of a song add up to about 2.3 on average. Sources add up to the mixture, so
:func:`share` divides the masks of every bin whose claims add up to more than one by their sum.
A contested bin is split in proportion to the claims and never handed out twice; where the
claims add up to less than one the remainder stays in the residual, which therefore still holds
whatever no listed source took. A single source is left as it is.

:func:`stem_levels` (a job's stems) and :func:`run_level` (a single run's) say how loud a stem
is against the song, so that a stem the separator all but left empty (:func:`quiet_stems`) can
be pointed out to the musician.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from tagbox_gui.core.audio.atomic import write_atomically
from tagbox_gui.core.errors import ConfigError, listed
from tagbox_gui.core.types import Estimate, RunResult

ESTIMATE_FORMAT = 3
"""Version of the .npz layout :func:`save_estimate` writes (3: with the learned query)."""
_READABLE = (1, 2, 3)  # 1: before hops_per_window was stored (always 2 then); 2: no query


_SHARED = 1.0 + 1e-6  # claims that add up to at most this (float32 rounding of shared masks)


def share(estimates: Mapping[str, Estimate], *, in_place: bool = False) -> dict[str, Estimate]:
    """The estimates of several sources of one region, sharing each bin (module docstring).

    Every estimate must be a mask estimate of the same region with the same FFT sizes, as the
    runs of one song with one configuration make; anything else raises ConfigError. With
    ``in_place``, the masks are divided where they are, for a caller that owns them (a long
    song's masks are large).
    """
    items = list(estimates.items())
    if len(items) < 2:
        return dict(items)
    first = items[0][1]
    for name, est in items:
        if est.audio is not None or not est.masks:
            raise ConfigError(f"'{name}' was separated in free mode: it has no mask to share")
        if (est.start, est.length, sorted(est.masks), est.hops_per_window) != (
            first.start, first.length, sorted(first.masks), first.hops_per_window
        ):  # fmt: skip
            raise ConfigError(f"'{name}' covers another region, FFT sizes or hop than the others")
    shared: dict[str, dict[int, np.ndarray]] = {name: {} for name, _ in items}
    for n_fft in first.masks:
        masks = [est.masks[n_fft] for _, est in items]
        divisor = _claims(masks)
        if divisor.max() <= _SHARED:  # no bin claimed twice (e.g. shared already): as they are
            for (name, _), mask in zip(items, masks, strict=True):
                shared[name][n_fft] = mask
            continue
        for (name, _), mask in zip(items, masks, strict=True):
            if in_place:
                shared[name][n_fft] = np.divide(mask, divisor, out=mask)
            else:
                shared[name][n_fft] = (mask / divisor).astype(np.float32, copy=False)
    return {name: replace(est, masks=shared[name]) for name, est in items}


QUIET_DB = -25.0
"""A stem at this level below the song or lower is called very quiet (:func:`quiet_stems`): in
a band, an instrument the separator recognised is rarely that far down, while one it did not
recognise comes out 20 dB or more under its true level (docs/separator.md)."""

_LEVEL_FRAMES = 4096  # frames of the song's spectrum computed at a time (memory stays small)


def stem_levels(mix: np.ndarray, estimates: Mapping[str, Estimate]) -> dict[str, float]:
    """Each mask estimate's level against the song over its region, in dB: the energy of the
    masked spectrum over the song's, on the grid of its largest FFT size.

    ``mix`` is the song's analysis signal (``core.audio.song.analysis_signal``). The song's
    spectrum is made once per grid, a few thousand frames at a time, for all the estimates on
    it. A region without sound gives ``-inf``; free-mode estimates (no mask) are left out.
    """
    grids: dict[tuple[int, int, int, int], dict[str, np.ndarray]] = {}
    for name, est in estimates.items():
        if est.masks:
            n = max(est.masks)
            grid = grids.setdefault((est.start, est.length, n, est.hops_per_window), {})
            grid[name] = est.masks[n]
    levels = {}
    for (start, length, n, hops), masks in grids.items():
        region = np.asarray(mix[start : start + length], dtype=np.float32)
        padded = np.pad(region, n // 2, mode="reflect" if len(region) > n // 2 else "constant")
        window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
        frames_total = next(iter(masks.values())).shape[1]
        kept, total = dict.fromkeys(masks, 0.0), 0.0
        for f0 in range(0, frames_total, _LEVEL_FRAMES):
            f1 = min(frames_total, f0 + _LEVEL_FRAMES)
            frames = _frames(padded, f0, f1, n, n // hops) * window
            power = np.abs(np.fft.rfft(frames, axis=1)).T ** 2  # (bins, frames)
            total += float(np.sum(power))
            for name, mask in masks.items():
                kept[name] += float(np.sum(mask[:, f0:f1] ** 2 * power))
        for name in masks:
            ok = kept[name] > 0 and total > 0
            levels[name] = float(10 * np.log10(kept[name] / total)) if ok else -np.inf
    return {name: levels[name] for name in estimates if name in levels}


def run_level(mix: np.ndarray, result: RunResult) -> float | None:
    """A run's separated stem against the song over the run's region, in dB: the level
    :func:`quiet_stems` judges a single run by (a job's stems are judged by :func:`stem_levels`,
    from their masks, since a job keeps no separated signal).

    ``mix`` is the song's analysis signal; ``result.separated`` is peak-normalised, as a run
    returns it, and is brought back to the song's level. None for a run with no result.
    """
    if result.estimate is None or result.separated is None:
        return None
    est = result.estimate
    region = np.asarray(mix[est.start : est.start + est.length], dtype=np.float32)
    peak = float(np.max(np.abs(region))) if len(region) else 0.0
    n = min(len(region), len(result.separated))
    return level_db(result.separated[:n] * np.float32(peak or 1.0), region[:n])


def level_db(signal: np.ndarray, reference: np.ndarray) -> float:
    """The energy of ``signal`` against ``reference``'s, in dB (``-inf`` for silence)."""
    energy = float(np.sum(np.square(signal, dtype=np.float64)))
    total = float(np.sum(np.square(reference, dtype=np.float64)))
    return 10 * float(np.log10(energy / total)) if energy > 0 and total > 0 else -np.inf


def judges_quiet(backends: Iterable[str]) -> bool:
    """Whether stems made by ``backends`` are judged for being very quiet (:data:`QUIET_DB`):
    only when every one is the learned separator, the backend whose "not recognised" answer
    the threshold was measured on (another backend's quiet stem means something else)."""
    names = list(backends)
    return bool(names) and all(name == "learned" for name in names)


def quiet_stems(levels: Mapping[str, float], threshold: float = QUIET_DB) -> dict[str, float]:
    """The stems at ``threshold`` dB below the song or lower, with their levels."""
    return {name: level for name, level in levels.items() if level <= threshold}


def quiet_groups(
    levels: Mapping[str, float], examples: Collection[str] = ()
) -> list[tuple[str, bool, int]]:
    """The very quiet stems of ``levels`` in words (:func:`describe_quiet`), those asked for
    by name apart from those asked for by an example (named in ``examples``), since an example
    already was the advice for the first: ``(words, by example, how many)`` for each group that
    has any, the advice to each worded for that many (:func:`for_each`)."""
    groups = []
    for by_example in (False, True):
        group = {n: v for n, v in levels.items() if (n in examples) == by_example}
        quiet = quiet_stems(group)
        if quiet:
            groups.append((describe_quiet(quiet), by_example, len(quiet)))
    return groups


def for_each(advice: str, count: int) -> str:
    """``advice`` worded for one quiet stem ("Ask for it by an example…"), for ``count`` of
    them: as it is for one, "For each, ask for it by an example…" for several."""
    return advice if count == 1 else f"For each, {advice[0].lower()}{advice[1:]}"


def describe_quiet(quiet: Mapping[str, float]) -> str:
    """``quiet`` (:func:`quiet_stems`) in words, with what that means, e.g. "guitar and strings
    are very quiet (30 and 31 dB under the song): if they play louder than that, they were not
    recognised; organ is silent: if it plays in the song, it was not recognised"; '' when there
    are none."""
    faint = {name: level for name, level in quiet.items() if np.isfinite(level)}
    silent = [name for name in quiet if name not in faint]
    said = []
    if faint:
        levels = listed([f"{-level:.0f}" for level in faint.values()])
        said.append(f"{listed(list(faint))} {_are(faint)} very quiet ({levels} dB under the song): "
                    f"{_not_recognised(faint, 'louder than that')}")  # fmt: skip
    if silent:
        said.append(f"{listed(silent)} {_are(silent)} silent: "
                    f"{_not_recognised(silent, 'in the song')}")  # fmt: skip
    return "; ".join(said)


def _are(names: Collection[str]) -> str:
    return "is" if len(names) == 1 else "are"


def _not_recognised(names: Collection[str], playing: str) -> str:
    """What a stem of ``names`` this quiet means: the instrument, where it plays ``playing``,
    was not recognised."""
    if len(names) == 1:
        return f"if it plays {playing}, it was not recognised"
    return f"if they play {playing}, they were not recognised"


def _frames(padded: np.ndarray, f0: int, f1: int, n: int, hop: int) -> np.ndarray:
    """Frames ``f0 .. f1 - 1`` of a centred STFT of the signal ``padded`` by ``n / 2`` on each
    side, zero past its end: ``(frames, n)``."""
    start, length = f0 * hop, (f1 - f0 - 1) * hop + n
    span = padded[start : start + length]
    if len(span) < length:
        span = np.pad(span, (0, length - len(span)))
    return np.lib.stride_tricks.sliding_window_view(span, n)[::hop]


def _claims(masks: list[np.ndarray]) -> np.ndarray:
    """What the masks claim of each bin in all, at least 1: one array, not a stack of them (a
    long song's masks are large)."""
    total = np.array(masks[0], dtype=np.result_type(*masks))
    for mask in masks[1:]:
        total += mask
    return np.maximum(total, 1.0, out=total)


def save_estimate(path: Path, estimate: Estimate) -> None:
    """Write ``estimate`` as a compressed ``.npz``, atomically (a partial file never shows)."""
    arrays: dict[str, np.ndarray] = {
        "format": np.array(ESTIMATE_FORMAT),
        "start": np.array(estimate.start),
        "length": np.array(estimate.length),
        "hops_per_window": np.array(estimate.hops_per_window),
    }
    for n_fft, mask in estimate.masks.items():
        arrays[f"mask_{n_fft}"] = mask.astype(np.float32)
    if estimate.audio is not None:
        arrays["audio"] = estimate.audio.astype(np.float32)
    if estimate.query is not None:
        arrays["query"] = estimate.query.astype(np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, buffer.getvalue())


def load_estimate(path: Path) -> Estimate:
    """Read an estimate written by :func:`save_estimate`; ConfigError if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) not in _READABLE:
                raise ConfigError(f"'{path}' is an estimate of another format version")
            masks = {int(k.removeprefix("mask_")): data[k] for k in data.files
                     if k.startswith("mask_")}  # fmt: skip
            audio = data["audio"] if "audio" in data.files else None
            hops = int(data["hops_per_window"]) if "hops_per_window" in data.files else 2
            query = data["query"] if "query" in data.files else None
            return Estimate(int(data["start"]), int(data["length"]), masks, audio, hops, query)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"'{path}' is not a readable estimate ({exc})") from exc
