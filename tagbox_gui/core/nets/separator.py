"""Our query-conditioned separator: a mask network on the mixture's STFT, asked in tag space.

The network hears the mono analysis signal at :data:`RATE` (22.05 kHz) through an STFT of
:data:`N_FFT` / :data:`HOP` (46 ms frames, 11.6 ms hop) and returns a soft mask in [0, 1] for
every bin. A query vector (what frozen taggers hear in the wanted source, see
``core.nets.queries``) conditions every block through FiLM: a scale and a shift per channel.

Layout (about 2 M parameters): log-magnitude -> per-frame linear projection to ``width``
channels -> ``layers`` bidirectional GRU blocks with residual connections -> a per-frame
linear head on [projection, last block] -> sigmoid mask of ``N_FFT // 2 + 1`` bins. Frames
are processed in chunks (:func:`mask_long`) so a whole song runs in bounded memory.

The mask is defined on frequencies up to 11.025 kHz. :func:`mask_for_stft` carries it onto
any STFT of the song at its own rate (bins matched by frequency, frames by time; above the
network's band, every bin takes the frame's mean mask over 8-10 kHz), so the stems keep
the song's rate, channels and length, and separated + residual == song.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tagbox_gui.core.errors import ModelError

RATE = 22_050
"""Sample rate the separator listens at."""

N_FFT = 1024
HOP = 256
BINS = N_FFT // 2 + 1
HIGH_BAND_HZ = (8_000.0, 10_000.0)
"""Bins whose mean mask is carried to the frequencies above the network's band."""


@dataclass(frozen=True)
class SeparatorShape:
    """The hyper-parameters that fix the network's tensors (stored with the weights)."""

    query_dim: int
    width: int = 256
    layers: int = 3


def spectrum(x: Tensor) -> Tensor:
    """Complex STFT ``[B, BINS, frames]`` of ``x [B, samples]`` at :data:`RATE`."""
    window = torch.hann_window(N_FFT, device=x.device, dtype=x.dtype)
    return torch.stft(x, N_FFT, HOP, window=window, center=True, return_complex=True)


def inverse(spec: Tensor, length: int) -> Tensor:
    """Inverse of :func:`spectrum`, ``[B, length]``."""
    window = torch.hann_window(N_FFT, device=spec.device, dtype=spec.real.dtype)
    return torch.istft(spec, N_FFT, HOP, window=window, center=True, length=length)


class FiLM(nn.Module):
    """A scale and a shift per channel, both made from the query."""

    def __init__(self, query_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(query_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, query: Tensor) -> Tensor:
        """``x [B, frames, C]`` scaled by ``1 + gamma`` and shifted by ``beta``."""
        gamma, beta = self.proj(query).unsqueeze(1).chunk(2, dim=-1)
        return x * (1 + gamma) + beta


class RecurrentBlock(nn.Module):
    """A bidirectional GRU over frames, layer norm, FiLM, and a residual connection."""

    def __init__(self, query_dim: int, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.gru = nn.GRU(width, width // 2, batch_first=True, bidirectional=True)
        self.film = FiLM(query_dim, width)

    def forward(self, x: Tensor, query: Tensor) -> Tensor:
        out, _ = self.gru(self.norm(x))
        return x + self.film(out, query)


class QuerySeparator(nn.Module):
    """Mixture magnitude and query in, a soft mask ``[B, BINS, frames]`` out."""

    def __init__(self, shape: SeparatorShape) -> None:
        super().__init__()
        self.shape = shape
        self.register_buffer("query_mean", torch.zeros(shape.query_dim))
        self.register_buffer("query_std", torch.ones(shape.query_dim))
        self.query_net = nn.Sequential(
            nn.Linear(shape.query_dim, shape.width), nn.GELU(), nn.Linear(shape.width, shape.width)
        )
        width = shape.width
        self.project = nn.Linear(BINS, width)
        self.film_in = FiLM(width, width)
        self.blocks = nn.ModuleList([RecurrentBlock(width, width) for _ in range(shape.layers)])
        self.head = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, BINS))

    def embed(self, query: Tensor) -> Tensor:
        """The conditioning vector ``[B, width]`` of raw queries ``[B, query_dim]``."""
        return self.query_net((query - self.query_mean) / self.query_std)

    def forward(self, magnitude: Tensor, query: Tensor) -> Tensor:
        """Mask ``[B, BINS, frames]`` of magnitudes ``[B, BINS, frames]`` for raw ``query``."""
        cond = self.embed(query)
        scale = magnitude.pow(2).mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-5)
        x = torch.log1p(magnitude / scale).transpose(1, 2)  # [B, frames, BINS], gain-free
        h0 = F.gelu(self.film_in(self.project(x), cond))
        h = h0
        for block in self.blocks:
            h = block(h, cond)
        return torch.sigmoid(self.head(torch.cat([h0, h], dim=-1))).transpose(1, 2)


def mask_long(
    net: QuerySeparator, magnitude: Tensor, query: Tensor, chunk: int = 256, overlap: int = 32
) -> Tensor:
    """:meth:`QuerySeparator.forward` over any number of frames, in overlapping chunks.

    Chunks of ``chunk`` frames (3 s, the length of the training crops) overlap by ``overlap``
    frames and are cross-faded linearly. All chunks run as one batch, so the recurrent layers
    take ``chunk`` sequential steps however long the song is.
    """
    frames = magnitude.shape[-1]
    if frames <= chunk:
        return net(magnitude, query)
    step = chunk - overlap
    starts = list(range(0, frames - overlap, step))
    starts[-1] = max(0, frames - chunk)
    pieces = torch.stack([magnitude[..., s : s + chunk] for s in starts], dim=0)
    count, batch = pieces.shape[:2]
    flat = pieces.reshape(count * batch, BINS, -1)
    masks = net(flat, query.repeat(count, 1)).reshape(count, batch, BINS, -1)
    out = magnitude.new_zeros(magnitude.shape)
    weight = magnitude.new_zeros(frames)
    ramp = torch.ones(chunk, dtype=magnitude.dtype)
    fade = torch.linspace(0, 1, overlap + 2, dtype=magnitude.dtype)[1:-1]
    ramp[:overlap], ramp[-overlap:] = fade, fade.flip(0)
    for index, start in enumerate(starts):
        out[..., start : start + chunk] += masks[index] * ramp
        weight[start : start + chunk] += ramp
    return out / weight.clamp_min(1e-6)


def mask_for_stft(mask: Tensor, rate: int, n_fft: int, hop: int, frames: int) -> Tensor:
    """Carry a separator mask ``[BINS, m]`` onto an STFT at ``rate`` ``[n_fft//2+1, frames]``.

    Frame ``i`` of the target (centred at ``i * hop / rate`` s) takes the separator frames
    around that time, linearly interpolated; bin ``k`` (``k * rate / n_fft`` Hz) the nearest
    frequencies likewise; above the separator's band, the mean over :data:`HIGH_BAND_HZ`.
    """
    times = torch.arange(frames, dtype=torch.float64) * hop / rate * RATE / HOP
    mask = _interp_last(mask.double(), times)  # [BINS, frames]
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * rate / n_fft
    low = freqs <= RATE / 2 - RATE / N_FFT
    lo, hi = (int(f * N_FFT / RATE) for f in HIGH_BAND_HZ)
    out = mask[lo:hi].mean(dim=0, keepdim=True).expand(freqs.numel(), -1).clone()
    out[low] = _interp_last(mask.t(), freqs[low] * N_FFT / RATE).t()
    return out.float()


def _interp_last(values: Tensor, positions: Tensor) -> Tensor:
    """``values [..., n]`` linearly interpolated at fractional ``positions`` (clamped)."""
    n = values.shape[-1]
    positions = positions.clamp(0, n - 1)
    left = positions.floor().long().clamp(max=n - 1)
    right = (left + 1).clamp(max=n - 1)
    frac = (positions - left).to(values.dtype)
    return values[..., left] * (1 - frac) + values[..., right] * frac


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_separator(net: QuerySeparator, path: Path, extra: dict | None = None) -> None:
    """Write ``net`` as a plain dict of tensors and numbers, loadable with ``weights_only``."""
    torch.save({"shape": asdict(net.shape), "state": net.state_dict(), **(extra or {})}, path)


def load_separator(path: Path, sha256: str | None = None) -> tuple[QuerySeparator, dict]:
    """Load a separator saved by :func:`save_separator` (no pickled code is run).

    With ``sha256``, the file must have that digest. Returns the network in eval mode and the
    file's other entries. Raises ModelError naming the file for anything unusable.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"the separator weights are missing: {path} does not exist")
    if sha256 is not None and sha256_of(path) != sha256:
        raise ModelError(f"{path} is not the separator this version ships (sha256 differs)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        net = QuerySeparator(SeparatorShape(**data["shape"]))
        net.load_state_dict(data["state"], strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError, OSError,
            pickle.UnpicklingError, zipfile.BadZipFile) as exc:  # fmt: skip
        raise ModelError(
            f"{path} is not a separator checkpoint ({type(exc).__name__}); fetch or reinstall it"
        ) from exc
    net.eval().requires_grad_(False)
    return net, {k: v for k, v in data.items() if k not in ("shape", "state")}
