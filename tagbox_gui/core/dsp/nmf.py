"""Non-negative matrix factorisation of magnitude spectrograms (beta-divergence, torch).

``V ≈ W @ H`` with ``V`` of shape (F, N), ``W`` (F, K) spectral templates and ``H`` (K, N)
activations. The multiplicative updates of Févotte & Idier (2011, "Algorithms for NMF with
the beta-divergence") with their exponent ``gamma(beta)`` decrease the divergence at every
iteration for any beta, so the factorisation is monotone and, started from a seeded draw,
deterministic on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_TINY = 1e-12  # keeps ratios finite where the spectrogram is digitally silent


@dataclass(frozen=True)
class NMFResult:
    """A factorisation ``V ≈ W @ H`` and its divergence after each iteration."""

    W: torch.Tensor  # (F, K), columns normalised to unit sum
    H: torch.Tensor  # (K, N)
    history: tuple[float, ...]  # beta-divergence D(V | WH) after each iteration

    def components(self) -> torch.Tensor:
        """Each component's magnitude spectrogram ``W_k H_k``: (K, F, N)."""
        return self.W.T[:, :, None] * self.H[:, None, :]


def beta_divergence(V: torch.Tensor, V_hat: torch.Tensor, beta: float) -> torch.Tensor:
    """Sum of d_beta(V | V_hat) over all bins: beta 2 half squared error, 1 KL, 0 Itakura-Saito."""
    V = V.clamp_min(_TINY)
    V_hat = V_hat.clamp_min(_TINY)
    if beta == 1:
        return (V * torch.log(V / V_hat) - V + V_hat).sum()
    if beta == 0:
        ratio = V / V_hat
        return (ratio - torch.log(ratio) - 1).sum()
    terms = V**beta + (beta - 1) * V_hat**beta - beta * V * V_hat ** (beta - 1)
    return terms.sum() / (beta * (beta - 1))


def _gamma(beta: float) -> float:
    """Exponent that makes the multiplicative update monotone (Févotte & Idier, 2011)."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def _update_h(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor, beta: float) -> torch.Tensor:
    V_hat = (W @ H).clamp_min(_TINY)
    if beta == 1:
        # KL: the denominator W^T 1 is a column sum, which saves a product per update.
        return H * (W.T @ (V / V_hat)) / W.sum(dim=0).clamp_min(_TINY)[:, None]
    num = W.T @ (V * V_hat ** (beta - 2))
    den = (W.T @ V_hat ** (beta - 1)).clamp_min(_TINY)
    return H * (num / den) ** _gamma(beta)


def _update_w(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor, beta: float) -> torch.Tensor:
    return _update_h(V.T, H.T, W.T, beta).T


def initial_factors(V: torch.Tensor, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded positive start: uniform draws scaled so that ``W @ H`` has the mean of ``V``,
    on ``V``'s device (drawn on the CPU, so a seed starts alike on every device)."""
    gen = torch.Generator().manual_seed(seed)
    f, n = V.shape
    scale = (V.mean().clamp_min(_TINY) / k) ** 0.5
    W = (torch.rand(f, k, generator=gen, dtype=V.dtype).to(V.device) + 0.1) * scale
    H = (torch.rand(k, n, generator=gen, dtype=V.dtype).to(V.device) + 0.1) * scale
    return W, H


def nmf(
    V: torch.Tensor,
    k: int,
    iterations: int = 100,
    beta: float = 1.0,
    seed: int = 0,
    track: bool = False,
) -> NMFResult:
    """Factorise a non-negative (F, N) matrix with ``k`` components.

    ``beta`` picks the divergence (1 = KL, the usual choice for magnitude spectrograms;
    0 = Itakura-Saito). Runs on ``V``'s device and dtype without gradients; the same
    ``seed`` on the same machine gives the same factors. ``track`` records the divergence after
    every iteration in ``history`` (one more product per iteration).
    """
    if V.ndim != 2 or k < 1 or iterations < 0:
        raise ValueError("nmf needs a 2-D V, k >= 1 and iterations >= 0")
    V = V.detach().clamp_min(0)
    with torch.no_grad():
        W, H = initial_factors(V, k, seed)
        history = []
        for _ in range(iterations):
            H = _update_h(V, W, H, beta)
            W = _update_w(V, W, H, beta)
            if track:
                history.append(float(beta_divergence(V, W @ H, beta)))
        # Unit-sum templates: the scale lives in H, which keeps activations comparable.
        norms = W.sum(dim=0).clamp_min(_TINY)
        W, H = W / norms, H * norms[:, None]
    return NMFResult(W=W, H=H, history=tuple(history))


def median_filter(V: torch.Tensor, kernel: int, dim: int) -> torch.Tensor:
    """Running median of a 2-D ``V`` along ``dim`` over ``kernel`` (odd) values, edges mirrored."""
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError("the median kernel must be a positive odd number")
    x = V if dim == 1 else V.T
    half = min(kernel // 2, x.shape[1] - 1)  # reflect padding needs fewer than the length
    padded = F.pad(x[None], (half, half), mode="reflect")[0] if half > 0 else x
    out = padded.unfold(1, 2 * half + 1, 1).median(dim=-1).values
    return out if dim == 1 else out.T


def harmonic_percussive(
    V: torch.Tensor, kernel: int = 17, power: float = 2.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a magnitude spectrogram ``(F, N)`` into harmonic and percussive parts that add to it.

    Fitzgerald's median filtering (2010): a median along time keeps steady partials, a median
    along frequency keeps broadband onsets; each bin of ``V`` is shared between the two by the
    soft mask ``h^p / (h^p + q^p)`` of the filtered spectrograms (an even split where both
    are zero).
    """
    V = V.detach().clamp_min(0)
    with torch.no_grad():
        h = median_filter(V, kernel, dim=1) ** power
        q = median_filter(V, kernel, dim=0) ** power
        share = torch.where(h + q > 0, h / (h + q).clamp_min(_TINY), torch.full_like(h, 0.5))
    return V * share, V * (1 - share)
