"""The download-free backend: gates on the NMF components of the mixture.

The mixture's magnitude spectrogram is factorised once per segment, ``|X| ≈ W H`` with K
components (KL-NMF, ``core.dsp.nmf``). It is first split into its harmonic and percussive parts by
median filtering (``core.dsp.nmf.harmonic_percussive``), which add up to it, and each part is
factorised on its own (K - P and P components): every component then models either steady
partials or broadband onsets, never a blend of both. The latent is one gate logit per component
(or, with ``gate_seconds``, per component and stretch of time, interpolated linearly). The gates
split every component's activation into a wanted part ``A = W (σ(G) ⊙ H)`` and the rest
``B = W ((1 - σ(G)) ⊙ H)``. The mask on the NMF grid is ``A^p / (A^p + B^p)``; with the
default p = 1 that is the gate-weighted share of the model in each bin, the posterior-mean
(Wiener) mask when a gate is the probability that its component belongs to the source. Other
FFT sizes get the engine's usual ratio mask of the signal this mask makes, so every resolution
the loss hears comes from the same decision.

It needs only the small taggers, runs on a laptop CPU and is deterministic for a seed: the
factorisation starts from a seeded draw and every gate starts at ``prior`` (0.5). Why these
settings, and what the backend does and does not achieve: ``docs/light_backend.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from tagbox_gui.core.dsp.nmf import harmonic_percussive, nmf
from tagbox_gui.core.dsp.spectral import istft, stft
from tagbox_gui.core.separation.backends.base import Backend
from tagbox_gui.core.types import ANALYSIS_RATE, TaggerSpec

if TYPE_CHECKING:
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.store.models import ModelStore
    from tagbox_gui.core.types import RunConfig

_TINY = 1e-20  # keeps ratios finite in digital silence


@dataclass(frozen=True)
class LightSettings:
    """How the mixture is factorised and how the gates shape the mask."""

    components: int = 40  # K, NMF components per segment
    nmf_fft: int = 2048  # FFT size of the factorised spectrogram
    nmf_iterations: int = 100
    beta: float = 1.0  # NMF divergence: 1 = Kullback-Leibler
    gate_seconds: float | None = None  # one gate per component per this many seconds; None: one
    power: float = 1.0  # 1: the gate-weighted share of the model in each bin (Wiener-style)
    prior: float = 0.5  # starting gate: the uninformed "belongs to the source or not"
    # > 0: factorise the harmonic and percussive parts apart, this many components for the
    # percussive one (a drum kit has a few distinct sounds; pitched parts need one per pitch).
    percussive_components: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.percussive_components < self.components:
            raise ValueError("percussive_components must be at least 0 and below components")


SETTINGS = LightSettings()
"""The backend's own settings (not part of RunConfig)."""

LIGHT_DEFAULTS: dict[str, Any] = {
    "taggers": (TaggerSpec("fcn", "mtat"),),
    "fft_sizes": (2048, 1024),
    "steps": 60,
    "lr": 0.1,
    "balance_tags": True,
}
"""The RunConfig fields the engine, CLI and GUI use when ``backend == "light"``.

FCN/MTAT alone: the two-tagger ensemble with FCN/Jamendo cost twice as much for no measured
gain. MTAT has no bass tag; :data:`core.separation.loading.FALLBACK_TAGGERS` covers words it lacks.
Two FFT sizes: the method's multi-resolution loss with two of the Jukebox backend's three
sizes, since each size is one more tagger pass. On dev it lifted every score measured, drums
most, for twice the CPU time of one size (docs/light_backend.md, section 7).
Balanced tags: one wanted tag against 49 avoided ones otherwise makes the loss mostly about
silencing genre and mood tags."""

DEFAULTS = LIGHT_DEFAULTS  # the name ``core.separation.loading.default_config`` reads


def create(
    config: RunConfig, store: ModelStore, device: torch.device, cache: ModelCache
) -> Callable[[], Backend]:
    """The per-segment factory; no model file is needed."""
    return lambda: LightBackend(SETTINGS, device)


class LightBackend(Backend):
    """NMF gates as the latent; see the module docstring."""

    name = "light"
    licence = "no model weights (NMF of the song itself)"

    def __init__(self, settings: LightSettings = SETTINGS, device: torch.device | str = "cpu"):
        self.settings = settings
        self.device = torch.device(device)
        self._mix_spec: torch.Tensor | None = None  # complex (F, N) on the NMF grid
        self._W: torch.Tensor | None = None  # (F, K)
        self._H: torch.Tensor | None = None  # (K, N)
        self._V_hat: torch.Tensor | None = None  # (F, N) = W H
        self._length = 0

    def gate_count(self, length: int) -> int:
        """Gates per component for a segment of ``length`` samples."""
        seconds = self.settings.gate_seconds
        if seconds is None:
            return 1
        return max(1, math.ceil(length / ANALYSIS_RATE / seconds))

    def init_latent(self, mix: torch.Tensor, seed: int) -> torch.Tensor:
        """Factorise the segment; gate logits ``[K, S]`` at ``logit(prior)`` (0: masks at 0.5)."""
        mix = mix.reshape(1, -1).to(self.device, torch.float32)
        self._length = mix.shape[-1]
        spec = stft(mix, self.settings.nmf_fft)[0]
        self._mix_spec = spec
        self._W, self._H = self._factorise(spec.abs(), seed)
        self._V_hat = self._W @ self._H
        shape = (self.settings.components, self.gate_count(self._length))
        start = math.log(self.settings.prior / (1 - self.settings.prior))
        return torch.full(shape, start, device=self.device, requires_grad=True)

    def _factorise(self, V: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``W, H`` of the whole spectrogram, or of its harmonic and percussive parts apart."""
        st = self.settings
        if st.percussive_components <= 0:
            result = nmf(V, st.components, st.nmf_iterations, st.beta, seed)
            return result.W, result.H
        parts = zip(harmonic_percussive(V), (st.components - st.percussive_components,
                                              st.percussive_components), strict=True)  # fmt: skip
        results = [nmf(part, k, st.nmf_iterations, st.beta, seed + i)
                   for i, (part, k) in enumerate(parts)]  # fmt: skip
        return torch.cat([r.W for r in results], 1), torch.cat([r.H for r in results], 0)

    def gates(self, latent: torch.Tensor) -> torch.Tensor:
        """Per-frame gates ``[K, N]`` in (0, 1): sigmoid, linearly interpolated in time."""
        frames = self._frames()
        g = torch.sigmoid(latent)
        if g.shape[1] == 1:
            return g.expand(-1, frames)
        return F.interpolate(g[None], size=frames, mode="linear", align_corners=True)[0]

    def nmf_mask(self, latent: torch.Tensor) -> torch.Tensor:
        """The Wiener-style mask ``A^p / (A^p + B^p)`` on the NMF grid, ``(F, N)``."""
        W, H, V_hat = self._factors()
        # Shares of the model in each bin rather than raw magnitudes: the ratio stays defined
        # in bins the factorisation barely reaches (A and B both tiny there).
        total = V_hat + _TINY
        wanted = (W @ (H * self.gates(latent))) / total
        rest = ((V_hat - wanted * total) / total).clamp_min(0)
        p = self.settings.power
        return wanted**p / (wanted**p + rest**p + _TINY)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """The mixture under the NMF mask, ``[1, T]``."""
        mask = self.nmf_mask(latent)
        return istft(mask * self._mix_spec, self.settings.nmf_fft, self._length)[None]

    def masks(
        self, latent: torch.Tensor, mix_stfts: dict[int, torch.Tensor]
    ) -> dict[int, torch.Tensor]:
        """The NMF mask at its own FFT size; the ratio mask of its signal at the others."""
        mask = self.nmf_mask(latent)
        out: dict[int, torch.Tensor] = {}
        audio = None
        for n_fft, mix_spec in mix_stfts.items():
            if n_fft == self.settings.nmf_fft and mix_spec.shape[-1] == mask.shape[-1]:
                out[n_fft] = mask.reshape(mix_spec.shape)
                continue
            if audio is None:
                audio = istft(mask * self._mix_spec, self.settings.nmf_fft, self._length)[None]
            dec = stft(audio, n_fft).abs()
            out[n_fft] = dec / (torch.maximum(dec, mix_spec.abs()) + 1e-8)
        return out

    def _frames(self) -> int:
        return self._factors()[1].shape[1]

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._W is None or self._H is None or self._V_hat is None:
            raise RuntimeError("call init_latent before using the light backend")
        return self._W, self._H, self._V_hat
