"""The TagBox loss of one segment: masked mixture -> 16 kHz -> frozen taggers -> BCE.

For every FFT size n the mixture X_n is masked, S_n = M_n * X_n, and brought back to audio with
the mixture's phase. Each tagger hears the masked audio of every FFT size (one batched call) and
its loss is a BCE against the wanted / avoided tags (or, for an example, against what the
tagger hears in it); the total is the mean over tagger x FFT.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tagbox_gui.core.dsp.spectral import istft, resample, stft
from tagbox_gui.core.nets.taggers import TAGGER_RATE, Tagger
from tagbox_gui.core.separation.backends.base import Backend
from tagbox_gui.core.separation.targets import HeardTargets, TagTargets
from tagbox_gui.core.types import ANALYSIS_RATE, Mode

FREE_KEY = "free"
"""Loss-key suffix in free mode, where no FFT size is involved."""


@dataclass
class Evaluation:
    """One forward pass of the objective (tensors; the engine detaches what it keeps)."""

    total: torch.Tensor
    losses: dict[str, torch.Tensor]
    masks: dict[int, torch.Tensor]  # mask mode: fft -> (bins, frames)
    separated: torch.Tensor  # (T,): mean of the estimates of all FFT sizes (or the free audio)
    probs: dict[str, torch.Tensor]  # criterion key -> (50,) mean over the FFT sizes' estimates


@dataclass(frozen=True)
class Criterion:
    """A tagger and what it should say."""

    tagger: Tagger
    target: torch.Tensor  # (50,)
    weight: torch.Tensor  # (50,), 0 for ignored tags
    shown: tuple[int, ...]  # the outputs the meters show (the wanted tags)

    @classmethod
    def build(
        cls, tagger: Tagger, targets: TagTargets | HeardTargets, device: torch.device
    ) -> Criterion:
        target = torch.from_numpy(targets.target).to(device)
        weight = torch.from_numpy(targets.weight).to(device)
        return cls(tagger, target, weight, targets.shown)

    @property
    def key(self) -> str:
        return self.tagger.spec.key

    def loss(self, probs: torch.Tensor) -> torch.Tensor:
        """BCE of ``probs`` (rows of 50) against the target, mean over the tags in the loss."""
        per_tag = F.binary_cross_entropy(
            probs,
            self.target.expand_as(probs),
            weight=self.weight.expand_as(probs),
            reduction="none",
        )
        return per_tag.sum(dim=-1) / self.weight.sum().clamp_min(1.0)


class Objective:
    """The loss of one segment of the mixture, for a fixed backend instance."""

    def __init__(
        self,
        mix: torch.Tensor,
        fft_sizes: tuple[int, ...],
        criteria: list[Criterion],
        mode: Mode,
        hops_per_window: int = 2,
    ) -> None:
        self.mix = mix  # (1, T) analysis signal of the segment
        self.fft_sizes = fft_sizes
        self.criteria = criteria
        self.mode = mode
        self.hops_per_window = hops_per_window  # the STFTs' hop is n / hops_per_window
        self.mix_stfts = {n: stft(mix, n, hops_per_window) for n in fft_sizes}

    def _estimates(
        self, backend: Backend, latent: torch.Tensor
    ) -> tuple[list[str], torch.Tensor, dict[int, torch.Tensor]]:
        """Loss keys, one estimate per key ``[k, T]`` and the masks of the current latent."""
        length = self.mix.shape[-1]
        if self.mode is Mode.FREE:
            audio = backend.decode(latent)[..., :length].reshape(1, length)
            return [FREE_KEY], audio, {}
        masks = {
            n: m.reshape(m.shape[-2:]) for n, m in backend.masks(latent, self.mix_stfts).items()
        }
        estimates = torch.stack(
            [
                istft(masks[n] * self.mix_stfts[n][0], n, length, self.hops_per_window)
                for n in self.fft_sizes
            ]
        )
        return [str(n) for n in self.fft_sizes], estimates, masks

    @torch.no_grad()
    def separate(self, backend: Backend, latent: torch.Tensor) -> Evaluation:
        """Masks and the combined estimate of the latent, without the taggers (no loss)."""
        _, estimates, masks = self._estimates(backend, latent)
        nan = torch.tensor(float("nan"))
        return Evaluation(nan, {}, masks, estimates.mean(dim=0), {})

    def evaluate(self, backend: Backend, latent: torch.Tensor) -> Evaluation:
        """Loss terms, masks and the combined estimate for the current latent."""
        keys, estimates, masks = self._estimates(backend, latent)
        audio16 = resample(estimates, ANALYSIS_RATE, TAGGER_RATE)
        losses: dict[str, torch.Tensor] = {}
        probs: dict[str, torch.Tensor] = {}
        for criterion in self.criteria:
            rows = criterion.tagger.forward_batch(audio16)
            probs[criterion.key] = rows.detach().mean(dim=0)
            for key, value in zip(keys, criterion.loss(rows), strict=True):
                losses[f"{criterion.key}_{key}"] = value
        total = torch.stack(list(losses.values())).mean()
        return Evaluation(total, losses, masks, estimates.mean(dim=0), probs)

    @torch.no_grad()
    def wanted_probabilities(
        self, evaluation: Evaluation, residual: bool = True
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Each shown tag's probability (:attr:`Criterion.shown`: the wanted tags, or those
        heard most in an example) on the separated estimate and on the residual.

        On the separated side: the mean of what the taggers said of each FFT size's estimate
        (computed with the loss, so free). On the residual side: the taggers hear the mixture
        minus the combined estimate: one more forward pass, without gradients, that costs
        about as much as the loss's forward pass. ``residual=False`` skips it; that side is then
        empty.
        A tag several taggers have gets the mean of their probabilities.
        """
        residual16 = None
        if residual:
            residual16 = resample(
                (self.mix[0] - evaluation.separated)[None], ANALYSIS_RATE, TAGGER_RATE
            )
        sep: dict[str, list[float]] = {}
        res: dict[str, list[float]] = {}
        for criterion in self.criteria:
            on_separated = evaluation.probs[criterion.key].cpu()
            on_residual = None
            if residual16 is not None:
                on_residual = criterion.tagger.forward_batch(residual16)[0].cpu()
            for index in criterion.shown:
                tag = criterion.tagger.vocabulary[index]
                sep.setdefault(tag, []).append(float(on_separated[index]))
                if on_residual is not None:
                    res.setdefault(tag, []).append(float(on_residual[index]))
        return _means(sep), _means(res)


def _means(values: dict[str, list[float]]) -> dict[str, float]:
    return {key: sum(v) / len(v) for key, v in values.items()}
