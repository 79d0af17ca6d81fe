"""The training loss and schedule (no corpus needed)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from training.config import TrainConfig
from training.loss import learning_rate, separation_loss


class ConstantMask(torch.nn.Module):
    """A stand-in separator whose mask is one value everywhere."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, magnitude: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        return torch.full_like(magnitude, self.value)


@pytest.fixture
def mixture() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    target = 0.05 * torch.randn(2, 22050, generator=gen)
    other = 0.2 * torch.randn(2, 22050, generator=gen)
    return target + other, target


def _loss(value: float, mix: torch.Tensor, target: torch.Tensor) -> float:
    return separation_loss(ConstantMask(value), mix, target, torch.zeros(2, 4)).item()


def test_silence_is_the_worst_answer_for_a_present_source(mixture) -> None:
    mix, target = mixture
    silent = _loss(0.0, mix, target)
    # (-30 dB SI-SDR + 0 dB SNR) / 2, as a loss / 10
    assert silent == pytest.approx(1.5, abs=1e-3)
    for value in (1e-12, 1e-6, 0.2, 1.0):  # a faint estimate is judged by its shape
        assert _loss(value, mix, target) < silent
    assert _loss(1e-12, mix, target) == pytest.approx(_loss(1e-3, mix, target), abs=0.05)


def test_the_target_itself_scores_the_cap(mixture) -> None:
    _, target = mixture
    assert _loss(1.0, target, target) == pytest.approx(-3.0, abs=0.01)


def test_an_absent_source_is_scored_by_its_leak(mixture) -> None:
    mix, _ = mixture
    silence = torch.zeros_like(mix)
    assert _loss(1.0, mix, silence) == pytest.approx(0.0, abs=1e-4)  # all of it leaks
    assert _loss(0.1, mix, silence) == pytest.approx(-2.0, abs=1e-3)  # -20 dB
    assert _loss(0.0, mix, silence) == pytest.approx(-3.0, abs=1e-3)  # floor -30 dB


def test_without_the_snr_a_present_sources_loss_ignores_the_level(mixture) -> None:
    mix, target = mixture
    alone = [separation_loss(ConstantMask(v), mix, target, torch.zeros(2, 4), snr_weight=0.0).item()
             for v in (0.05, 0.5, 1.0)]  # fmt: skip
    assert alone[0] == pytest.approx(alone[1], abs=1e-4) == pytest.approx(alone[2], abs=1e-4)
    with_snr = [_loss(v, mix, target) for v in (0.05, 0.5)]  # the default weighs the level in
    assert abs(with_snr[0] - with_snr[1]) > 0.05
    silence = torch.zeros_like(mix)  # an absent source is still scored by its leak
    leak = separation_loss(ConstantMask(0.1), mix, silence, torch.zeros(2, 4), snr_weight=0.0)
    assert leak.item() == pytest.approx(-2.0, abs=1e-3)


def test_the_absent_weight_scales_the_leak_term_alone(mixture) -> None:
    mix, target = mixture
    silence = torch.zeros_like(mix)
    query = torch.zeros(2, 4)
    for weight in (0.25, 0.5):
        leak = separation_loss(ConstantMask(0.1), mix, silence, query, absent_weight=weight)
        assert leak.item() == pytest.approx(-2.0 * weight, abs=1e-3)  # -20 dB, weighed
        present = separation_loss(ConstantMask(0.3), mix, target, query, absent_weight=weight)
        assert present.item() == pytest.approx(_loss(0.3, mix, target), abs=1e-6)


def test_learning_rate_warms_up_then_decays_on_a_cosine() -> None:
    config = TrainConfig(steps=1000, lr=1e-3, warmup=100)
    rates = [learning_rate(config, step) for step in range(1000)]
    assert rates[0] == pytest.approx(1e-5, rel=0.01)
    assert max(rates) == pytest.approx(1e-3, rel=0.03)  # the cosine began during the warm-up
    assert all(a >= b for a, b in itertools.pairwise(rates[99:]))
    assert rates[550] == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(0.55 * math.pi))))
    assert learning_rate(config, 1000) == pytest.approx(5e-5)


def test_no_warm_up_starts_at_the_full_learning_rate() -> None:
    config = TrainConfig(steps=1000, lr=1e-3, warmup=0)  # --warmup 0: no warm-up
    assert learning_rate(config, 0) == pytest.approx(1e-3)
    assert learning_rate(config, 1000) == pytest.approx(5e-5)
