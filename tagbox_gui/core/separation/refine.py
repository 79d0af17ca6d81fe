"""A second look at each stem of a job: the learned separator asked again without the others.

When several instruments of one song are asked for, each is first separated on its own and the
stems share the mixture (``core.audio.estimates.share``). The separator separates better from
a mixture of fewer sources, so each stem k made by it is then asked for again, with the same
query, from the song without the other stems' first estimates: with the shared first masks
m̃, ``keep_k = clip(1 - sum_{j != k} m̃_j, 0, 1)``, the separator runs on the song masked by
``keep_k``, its mask ``m2_k`` is carried onto the song's grid, and the stem's mask becomes
``(m̃_k + keep_k * m2_k) / 2``. Then the stems share the mixture again. The mean keeps what
another stem wrongly took in the first pass, which the second alone would lose. One pass of
the network more per stem; see docs/separator.md, "A second look at each stem", for what it
gained on held-out songs. A stem asked for alone, or made by another backend, is only shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.audio.song import analysis_signal
from tagbox_gui.core.dsp.spectral import istft, stft
from tagbox_gui.core.separation.backends.learned import SETTINGS, LearnedBackend, load_shipped
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.engine import run_segments
from tagbox_gui.core.separation.segments import stitch_frames
from tagbox_gui.core.types import RunConfig

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.types import Estimate


def can_refine(estimates: Mapping[str, Estimate]) -> bool:
    """Whether the stems get a second look: two or more, every one masks of the learned
    separator with the query that made them, all of one region on one grid."""
    grids = {(e.start, e.length, tuple(sorted(e.masks)), e.hops_per_window)
             for e in estimates.values()}  # fmt: skip
    return (
        len(estimates) >= 2
        and len(grids) == 1
        and all(e.masks and e.audio is None and e.query is not None for e in estimates.values())
    )


class Refinement:
    """The second look at the stems of one song (module docstring), one stem at a time.

    ``estimates`` are the stems' first estimates, not yet shared; :meth:`stem` gives one
    stem's second estimate, and :meth:`shared` all of them sharing the mixture again. The
    separator is the one the learned backend loads (``load_shipped``), on the device it is on.
    Only the sum of the first masks is kept beside them (a long song's masks are large).
    """

    def __init__(self, song: Song, estimates: Mapping[str, Estimate], cache: ModelCache) -> None:
        if not can_refine(estimates):
            raise ValueError("only two or more masks of the learned separator, on one grid, "
                             "are refined")  # fmt: skip
        self.firsts = dict(estimates)
        some = next(iter(self.firsts.values()))
        self.length, self.hops = some.length, some.hops_per_window
        self.net = load_shipped(cache)[0]
        mix = analysis_signal(song)[some.start : some.start + some.length]
        mix = mix / max(float(np.max(np.abs(mix))), 1e-12)  # peak-normalised, as the engine's
        device = self.net.query_mean.device
        self._mix = torch.from_numpy(np.ascontiguousarray(mix)).to(device).reshape(1, -1)
        self._claimed = {n: sum(e.masks[n] for e in self.firsts.values()) for n in some.masks}
        self._segments = run_segments(  # as the engine cuts a run with its default length
            self.length, list(some.masks), self.hops, RunConfig.segment_seconds
        )

    @torch.no_grad()
    def stem(self, name: str) -> Estimate:
        """Stem ``name``'s second estimate: the mean of its first mask (shared) and the
        separator's mask of the song without the other stems (not yet shared)."""
        first = self.firsts[name]
        net = self.net
        query = torch.from_numpy(first.query).to(self._mix.device)  # type: ignore[arg-type]
        backend = LearnedBackend(net, (query - net.query_mean) / net.query_std, SETTINGS)
        masks = {}
        for n, claimed in self._claimed.items():  # in place where it can: masks are large
            divisor = np.maximum(claimed, 1.0)  # as share() divides: m~ = m / max(sum m, 1)
            keep = np.subtract(claimed, first.masks[n], dtype=np.float32)
            np.clip(np.subtract(1.0, np.divide(keep, divisor, out=keep), out=keep), 0, 1, out=keep)
            second = self._mask_without_others(backend, keep, n)
            second *= keep
            second += np.divide(first.masks[n], divisor, out=divisor)
            second *= 0.5
            masks[n] = second
        return replace(first, masks=masks)

    def _mask_without_others(self, backend: LearnedBackend, keep: np.ndarray, n: int) -> np.ndarray:
        """The separator's mask ``(bins, frames)`` of the song masked by ``keep`` on the grid of
        FFT size ``n``, made segment by segment and crossfaded as the engine makes the first
        (so the memory it takes does not grow with the song)."""
        hop = n // self.hops
        device = self._mix.device
        parts = []
        for segment in self._segments:
            spectrum = stft(self._mix[:, segment.start : segment.end], n, self.hops)
            first_frame = segment.start // hop
            kept = keep[:, first_frame : first_frame + spectrum.shape[-1]]
            kept_t = torch.from_numpy(np.ascontiguousarray(kept)).to(device)
            without_others = istft(spectrum * kept_t, n, segment.length, self.hops)
            latent = backend.init_latent(without_others, seed=0)
            parts.append(backend.masks(latent, {n: spectrum})[n][0].cpu().numpy())
        return stitch_frames(self._segments, parts, hop, keep.shape[1])

    def shared(self, second: Mapping[str, Estimate]) -> dict[str, Estimate]:
        """The stems sharing the mixture: the second estimates of every stem (made by
        :meth:`stem`, so they are divided in place), in the order of the first."""
        return share({name: second[name] for name in self.firsts}, in_place=True)


def shared_estimates(
    song: Song,
    estimates: Mapping[str, Estimate],
    cache: ModelCache | None = None,
    refine: bool = True,
) -> dict[str, Estimate]:
    """The stems of one song sharing the mixture, looked at a second time (module docstring)
    when ``refine`` and :func:`can_refine`."""
    if not (refine and can_refine(estimates)):
        return share(estimates)
    refinement = Refinement(song, estimates, cache or ModelCache())
    return refinement.shared({name: refinement.stem(name) for name in refinement.firsts})
