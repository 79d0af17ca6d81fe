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

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.types import Estimate


def can_refine(estimates: Mapping[str, Estimate]) -> bool:
    """Whether the stems get a second look: two or more, every one masks of the learned
    separator with the query that made them."""
    return len(estimates) >= 2 and all(
        est.masks and est.audio is None and est.query is not None for est in estimates.values()
    )


class Refinement:
    """The second look at the stems of one song (module docstring), one stem at a time.

    ``estimates`` are the stems' first estimates (shared here); :meth:`stem` gives one stem's
    second estimate, and :meth:`shared` all of them sharing the mixture again. The separator
    is the one the learned backend loads (``load_shipped``), on the device it is on.
    """

    def __init__(self, song: Song, estimates: Mapping[str, Estimate], cache: ModelCache) -> None:
        if not can_refine(estimates):
            raise ValueError("only two or more masks of the learned separator are refined")
        self.first = share(estimates)
        some = next(iter(self.first.values()))
        self.length, self.hops = some.length, some.hops_per_window
        self.net = load_shipped(cache)[0]
        device = self.net.query_mean.device
        mix = analysis_signal(song)[some.start : some.start + some.length]
        mix_t = torch.from_numpy(np.ascontiguousarray(mix)).to(device).reshape(1, -1)
        self._spectra = {n: stft(mix_t, n, self.hops) for n in some.masks}
        self._claimed = {n: sum(est.masks[n] for est in self.first.values()) for n in some.masks}

    @torch.no_grad()
    def stem(self, name: str) -> Estimate:
        """Stem ``name``'s second estimate: the mean of its first mask and the separator's
        mask of the song without the other stems (not yet shared)."""
        first = self.first[name]
        net = self.net
        device = net.query_mean.device
        query = torch.from_numpy(first.query).to(device)  # type: ignore[arg-type]
        backend = LearnedBackend(net, (query - net.query_mean) / net.query_std, SETTINGS)
        masks = {}
        for n, spectrum in self._spectra.items():
            keep = np.clip(1.0 - (self._claimed[n] - first.masks[n]), 0.0, 1.0)
            keep_t = torch.from_numpy(keep.astype(np.float32)).to(device)
            without_others = istft(spectrum * keep_t, n, self.length, self.hops)
            latent = backend.init_latent(without_others, seed=0)
            second = backend.masks(latent, {n: spectrum})[n][0].cpu().numpy()
            masks[n] = ((first.masks[n] + keep * second) / 2).astype(np.float32)
        return replace(first, masks=masks)

    def shared(self, second: Mapping[str, Estimate]) -> dict[str, Estimate]:
        """The stems sharing the mixture: the second estimates given, the first for the rest."""
        return share({name: second.get(name, est) for name, est in self.first.items()})


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
    return refinement.shared({name: refinement.stem(name) for name in refinement.first})
