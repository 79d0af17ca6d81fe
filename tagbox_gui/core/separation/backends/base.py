"""The contract between the engine and a latent backend."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class Backend(ABC):
    """Maps a latent (the only thing the optimisation moves) to an estimate of the source.

    The engine makes ONE INSTANCE PER SEGMENT of the song (a backend may keep state about
    its segment, e.g. a factorisation of it), calls :meth:`init_latent` once, then every step
    :meth:`masks` for the mask mode or :meth:`decode` for the free mode. ``mix`` is the
    analysis signal of the segment: float32 ``[1, T]`` at 44.1 kHz, peak-normalised.

    Each backend module exposes ``create(config: RunConfig, store: ModelStore,
    device: torch.device, cache: ModelCache) -> Callable[[], Backend]``: a factory the engine
    calls per segment. Heavy models are loaded once by ``create`` through
    ``cache.get(key, load)`` (``core.separation.cache.ModelCache``), so later runs reuse them.
    """

    name: str = ""
    licence: str = ""  # shown with the stems it made
    one_pass: bool = False  # its first latent already separates: a run may have 0 steps

    @abstractmethod
    def init_latent(self, mix: torch.Tensor, seed: int) -> torch.Tensor:
        """A fresh leaf tensor (requires_grad) for this segment."""

    @abstractmethod
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """The audio the latent stands for, ``[1, T]`` like ``mix``."""

    def query(self, latent: torch.Tensor) -> torch.Tensor | None:
        """The query ``[1, dim]`` of a query-conditioned separator that ``latent`` stands for,
        kept with the estimate (``core.types.Estimate.query``); None (the default) for a
        backend that has none."""
        return None

    def constrain(self, latent: torch.Tensor) -> None:
        """Called after every optimisation step, to keep ``latent`` where it may go (in place).

        The default leaves it free.
        """
        return None

    def masks(
        self, latent: torch.Tensor, mix_stfts: dict[int, torch.Tensor]
    ) -> dict[int, torch.Tensor]:
        """Soft masks in [0, 1] for each FFT size, shaped like ``mix_stfts[n]``.

        The default is the published TagBox mask ``|J| / (max(|J|, |X|) + eps)`` where J is the
        STFT of :meth:`decode`. A backend that builds masks directly may override it.
        """
        from tagbox_gui.core.dsp.spectral import stft

        audio = self.decode(latent)
        out = {}
        for n_fft, mix_spec in mix_stfts.items():
            dec = stft(audio, n_fft).abs()
            out[n_fft] = dec / (torch.maximum(dec, mix_spec.abs()) + 1e-8)
        return out
