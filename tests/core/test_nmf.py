"""NMF: monotone convergence for KL and IS, determinism, and recovery of a planted factorisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tagbox_gui.core.dsp.nmf import beta_divergence, harmonic_percussive, median_filter, nmf


def _planted(f: int = 60, n: int = 80, k: int = 4, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(f, k, generator=gen) @ torch.rand(k, n, generator=gen)


@pytest.mark.parametrize("beta", [1.0, 0.0, 0.5, 2.0])
def test_divergence_never_increases(beta: float) -> None:
    V = _planted() + 0.01
    history = np.array(nmf(V, 6, iterations=60, beta=beta, seed=3, track=True).history)
    assert len(history) == 60
    # Multiplicative updates with Févotte & Idier's exponent are monotone (up to float32 noise).
    assert np.all(np.diff(history) <= 1e-5 * history[:-1])
    assert history[-1] < 0.5 * history[0]


def test_kl_fits_a_planted_low_rank_matrix() -> None:
    V = _planted()
    result = nmf(V, 4, iterations=400, beta=1.0, seed=0, track=True)
    relative = float(beta_divergence(V, result.W @ result.H, 1.0)) / float(V.sum())
    assert relative < 1e-3
    # The recorded divergence is the one of the returned factors (up to float32 rounding).
    final = float(beta_divergence(V, result.W @ result.H, 1.0))
    assert result.history[-1] == pytest.approx(final, rel=1e-3)


def test_same_seed_same_factors_other_seed_other_factors() -> None:
    V = _planted() + 0.05
    a = nmf(V, 5, iterations=30, seed=7)
    b = nmf(V, 5, iterations=30, seed=7)
    c = nmf(V, 5, iterations=30, seed=8)
    assert torch.equal(a.W, b.W) and torch.equal(a.H, b.H)
    assert not torch.allclose(a.W, c.W)


def test_factors_are_nonnegative_with_unit_sum_templates() -> None:
    V = _planted() + 0.05
    result = nmf(V, 5, iterations=20, seed=0)
    assert result.W.shape == (60, 5) and result.H.shape == (5, 80)
    assert (result.W >= 0).all() and (result.H >= 0).all()
    torch.testing.assert_close(result.W.sum(dim=0), torch.ones(5))
    comps = result.components()
    assert comps.shape == (5, 60, 80)
    torch.testing.assert_close(comps.sum(dim=0), result.W @ result.H, rtol=1e-5, atol=1e-6)


def test_silent_input_stays_finite() -> None:
    result = nmf(torch.zeros(10, 12), 3, iterations=10, seed=0, track=True)
    assert torch.isfinite(result.W).all() and torch.isfinite(result.H).all()
    assert all(np.isfinite(result.history))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        nmf(torch.ones(3), 2)
    with pytest.raises(ValueError):
        nmf(torch.ones(3, 3), 0)


def test_median_filter_matches_a_direct_median_with_mirrored_edges() -> None:
    V = torch.rand(9, 12, generator=torch.Generator().manual_seed(2))
    padded = np.pad(V.numpy(), ((0, 0), (2, 2)), mode="reflect")
    direct = np.stack([np.median(padded[:, j : j + 5], axis=1) for j in range(12)], axis=1)
    np.testing.assert_allclose(median_filter(V, 5, dim=1).numpy(), direct, rtol=0, atol=0)
    np.testing.assert_allclose(median_filter(V.T, 5, dim=0).numpy(), direct.T, rtol=0, atol=0)
    short = torch.rand(3, 2)  # shorter than the kernel: the window shrinks, no error
    assert median_filter(short, 17, dim=1).shape == short.shape
    with pytest.raises(ValueError, match="odd"):
        median_filter(V, 4, dim=1)


def test_harmonic_percussive_parts_add_up_and_find_lines_and_clicks() -> None:
    V = torch.full((64, 64), 0.01)
    V[20, :] = 1.0  # a steady partial: a horizontal line
    V[:, 40] = 1.0  # a click: a vertical line
    harmonic, percussive = harmonic_percussive(V, kernel=9)
    torch.testing.assert_close(harmonic + percussive, V)
    assert float(harmonic.min()) >= 0 and float(percussive.min()) >= 0
    assert float(harmonic[20, 5]) > 0.99 and float(percussive[50, 40]) > 0.99
    silent_h, silent_p = harmonic_percussive(torch.zeros(8, 8))
    assert float(silent_h.abs().sum() + silent_p.abs().sum()) == 0.0


def test_factors_are_made_on_the_device_of_the_spectrogram() -> None:
    # "meta" stands in for CUDA: factors drawn on the CPU and mixed with it fail the same way.
    V = torch.ones(9, 12, device="meta")
    result = nmf(V, 3, iterations=2, seed=0)
    assert result.W.device == V.device and result.W.shape == (9, 3)
    assert result.H.device == V.device and result.H.shape == (3, 12)
