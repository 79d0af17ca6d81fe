"""What training minimises and how fast: the separation loss of a batch and the learning rate
of each step."""

from __future__ import annotations

import math

import torch

from tagbox_gui.core.nets.separator import QuerySeparator, inverse, spectrum
from training.config import TrainConfig


def separation_loss(net: QuerySeparator, mix: torch.Tensor, target: torch.Tensor,
                    query: torch.Tensor, snr_weight: float = 1.0,
                    absent_weight: float = 1.0) -> torch.Tensor:  # fmt: skip
    """Mean over the batch of minus the mean of SI-SDR and SNR (dB) of the masked mixture, / 10
    (the SNR weighed ``snr_weight`` against the SI-SDR's 1).

    Every example counts the same in dB whatever its level. The SI-SDR is taken from the
    cosine between estimate and target, ``10 log10((c² + ε) / (1 - c² + ε))`` with ε = 1e-3,
    so it lies in ±30 dB and a silent estimate scores its worst, -30 dB. (The first recipe
    computed it from energies with absolute floors, so an estimate whose energy fell under
    the floor scored 0 dB, better than any honest guess: the network learnt to silence
    sources it did not recognise, and on a sample library it had never heard it silenced
    guitar, piano and strings.) The SNR term keeps the level right, so the stems still add
    up to a sensible split of the song; it is capped at 30 dB. An absent source's term is the
    level of what leaks through, relative to the mixture, down to -30 dB, times
    ``absent_weight``. At weight 1 the two mistakes cost unequally: a present source at -10 dB
    in the mixture answered with a faint mask (SI-SDR about that of the mixture, SNR 0 dB)
    costs a few dB against an honest try (about 7 dB against SI-SDR and SNR of +2 dB), while an
    absent one answered with a stem at -10 dB costs 20 dB against silence; so where the
    network cannot tell, "absent" is its cheaper answer (docs/separator.md, "Run v17a").
    """
    spec_mix = spectrum(mix)
    estimate = inverse(net(spec_mix.abs(), query) * spec_mix, mix.shape[1])
    target_energy = target.pow(2).sum(dim=1)
    estimate_energy = estimate.pow(2).sum(dim=1)
    snr = 10 * torch.log10(
        target_energy.clamp_min(1e-10) / ((estimate - target).pow(2).sum(dim=1) + 1e-10)
    )
    cosine2 = (estimate * target).sum(dim=1).pow(2) / (estimate_energy * target_energy + 1e-20)
    si_sdr = 10 * torch.log10((cosine2 + 1e-3) / (1 - cosine2 + 1e-3))
    leak = 10 * torch.log10((estimate_energy + 1e-10) / mix.pow(2).sum(dim=1))
    present = target_energy > 1e-8
    gain = (si_sdr + snr_weight * snr.clamp(max=30.0)) / (1 + snr_weight)
    loss = torch.where(present, -gain, absent_weight * leak.clamp(min=-30.0))
    return loss.mean() / 10


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to ``config.lr``, then a cosine down to ``config.lr / 20`` at the end
    (``warmup`` 0: none)."""
    warm = min(1.0, (step + 1) / max(config.warmup, 1))
    progress = min(1.0, step / max(config.steps, 1))
    return config.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
