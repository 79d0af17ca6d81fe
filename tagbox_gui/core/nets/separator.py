"""Our query-conditioned separator: a mask network on the mixture's STFT, asked in tag space.

The network hears the mono analysis signal at :data:`RATE` (22.05 kHz) through an STFT of
:data:`N_FFT` / :data:`HOP` (46 ms frames, 11.6 ms hop) and returns a soft mask in [0, 1] for
every bin. A query vector (what frozen taggers hear in the wanted source, see
``core.nets.queries``) conditions every block through FiLM: a scale and a shift per channel.

Layout (about 2 M parameters): log-magnitude -> per-frame linear projection to ``width``
channels -> ``layers`` bidirectional GRU blocks with residual connections -> a per-frame
linear head on [projection, last block] -> sigmoid mask of ``N_FFT // 2 + 1`` bins. With
``band_width`` set (about 0.9 M parameters more), a band branch (:class:`BandBranch`) keeps
the detail along frequency that one projection per frame loses: it adds to the projection and
corrects the head's logits bin by bin. Frames are processed in chunks (:func:`mask_long`) so a
whole song runs in bounded memory.

The mask is defined on frequencies up to 11.025 kHz. :func:`mask_for_stft` carries it onto
any STFT of the song at its own rate (bins matched by frequency, frames by time; above the
network's band, every bin takes the frame's mean mask over 8-10 kHz), so the stems keep
the song's rate, channels and length, and separated + residual == song.
"""

from __future__ import annotations

import itertools
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
    band_width: int = 0
    """Channels per frequency band of the band branch (:class:`BandBranch`); 0: none."""
    hidden: int = 0
    """Units per direction of each recurrent block's GRU; 0: ``width // 2``, whose two
    directions make the block's output as they are; otherwise a linear map takes their
    ``2 * hidden`` outputs back to ``width`` (:class:`RecurrentBlock`)."""


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
    """A bidirectional GRU over frames, layer norm, FiLM, and a residual connection.

    The GRU has ``hidden`` units per direction (0: ``width // 2``); with any other number, a
    linear map (``out``) takes its ``2 * hidden`` outputs back to ``width``.
    """

    def __init__(self, query_dim: int, width: int, hidden: int = 0) -> None:
        super().__init__()
        hidden = hidden or width // 2
        self.norm = nn.LayerNorm(width)
        self.gru = nn.GRU(width, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, width) if 2 * hidden != width else None
        self.film = FiLM(query_dim, width)

    def forward(self, x: Tensor, query: Tensor) -> Tensor:
        out, _ = self.gru(self.norm(x))
        if self.out is not None:
            out = self.out(out)
        return x + self.film(out, query)


def band_edges() -> list[int]:
    """Bin edges of the band branch's 48 bands: narrow where harmonics are dense.

    16 bands of 4 bins up to 1.4 kHz, 16 of 8 up to 4.1 kHz, 12 of 16 up to 8.3 kHz, and 4
    of about 32 up to 11 kHz (a bin is 21.5 Hz).
    """
    edges = [0]
    for width, stop in ((4, 64), (8, 192), (16, 384), (32, BINS - 33)):
        edges += list(range(edges[-1] + width, stop + 1, width))
    return [*edges, BINS]


class BandBranch(nn.Module):
    """Spectral detail along frequency, for a trunk that sees each frame as one vector.

    Each band's log-magnitudes are projected to ``channels`` features (a linear map of its
    own per band), conditioned on the query by FiLM, and a bidirectional GRU runs across the
    bands of every frame, so a band hears its harmonics and neighbours (:meth:`features`).
    :meth:`summary` gives the trunk what the bands hold; :meth:`logits` turns band features
    and the trunk's output into a correction of the mask's logits per bin. Both outputs start
    at zero, so a trunk trained without the branch is unchanged until the branch learns.
    """

    def __init__(self, cond_dim: int, trunk: int, channels: int) -> None:
        super().__init__()
        edges = band_edges()
        widths = [b - a for a, b in itertools.pairwise(edges)]
        self.bands, widest = len(widths), max(widths)
        index = torch.zeros(self.bands, widest, dtype=torch.long)
        valid = torch.zeros(self.bands, widest)
        for k, (start, width) in enumerate(zip(edges[:-1], widths, strict=True)):
            index[k, :width] = torch.arange(start, start + width)
            valid[k, :width] = 1.0
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("valid", valid, persistent=False)
        self.register_buffer("flat", torch.nonzero(valid.flatten()).squeeze(1), persistent=False)
        scale = 1.0 / torch.tensor(widths, dtype=torch.float32).sqrt()
        self.split = nn.Parameter(torch.randn(self.bands, widest, channels) * scale[:, None, None])
        self.split_bias = nn.Parameter(torch.zeros(self.bands, channels))
        self.film = FiLM(cond_dim, channels)
        self.norm = nn.LayerNorm(channels)
        self.gru = nn.GRU(channels, channels // 2, batch_first=True, bidirectional=True)
        self.to_trunk = nn.Linear(self.bands * channels, trunk)
        nn.init.zeros_(self.to_trunk.weight)
        nn.init.zeros_(self.to_trunk.bias)
        self.from_trunk = nn.Linear(trunk, self.bands * channels)
        self.merge = nn.Parameter(torch.zeros(self.bands, channels, widest))
        self.merge_bias = nn.Parameter(torch.zeros(self.bands, widest))

    def features(self, x: Tensor, cond: Tensor) -> Tensor:
        """Band features ``[B, frames, bands, channels]`` of log-magnitudes ``[B, frames, BINS]``.

        The bands of every frame are one sequence for the GRU.
        """
        grouped = x[..., self.index] * self.valid  # [B, frames, bands, widest]
        h = torch.einsum("btkw,kwc->btkc", grouped, self.split) + self.split_bias
        batch, frames, bands, channels = h.shape
        h = F.gelu(self.film(h.reshape(batch, frames * bands, channels), cond))
        flat = h.reshape(batch * frames, bands, channels)
        out, _ = self.gru(self.norm(flat))
        return (flat + out).reshape(batch, frames, bands, channels)

    def summary(self, bands: Tensor) -> Tensor:
        """What the trunk is given, ``[B, frames, trunk]`` (zero at initialisation)."""
        return self.to_trunk(bands.flatten(2))

    def logits(self, bands: Tensor, trunk: Tensor) -> Tensor:
        """Mask-logit corrections ``[B, frames, BINS]`` (zero at initialisation)."""
        mixed = F.gelu(bands + self.from_trunk(trunk).reshape(bands.shape))
        out = torch.einsum("btkc,kcw->btkw", mixed, self.merge) + self.merge_bias
        return out.flatten(2)[..., self.flat]


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
        self.blocks = nn.ModuleList(
            [RecurrentBlock(width, width, shape.hidden) for _ in range(shape.layers)]
        )
        self.head = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, BINS))
        self.band = BandBranch(width, width, shape.band_width) if shape.band_width else None

    def embed(self, query: Tensor) -> Tensor:
        """The conditioning vector ``[B, width]`` of raw queries ``[B, query_dim]``."""
        return self.query_net((query - self.query_mean) / self.query_std)

    def forward(self, magnitude: Tensor, query: Tensor) -> Tensor:
        """Mask ``[B, BINS, frames]`` of magnitudes ``[B, BINS, frames]`` for raw ``query``."""
        cond = self.embed(query)
        scale = magnitude.pow(2).mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-5)
        x = torch.log1p(magnitude / scale).transpose(1, 2)  # [B, frames, BINS], gain-free
        projected = self.project(x)
        if self.band is not None:
            bands = self.band.features(x, cond)
            projected = projected + self.band.summary(bands)
        h0 = F.gelu(self.film_in(projected, cond))
        h = h0
        for block in self.blocks:
            h = block(h, cond)
        logits = self.head(torch.cat([h0, h], dim=-1))
        if self.band is not None:
            logits = logits + self.band.logits(bands, h)
        return torch.sigmoid(logits).transpose(1, 2)


def mask_long(
    net: QuerySeparator,
    magnitude: Tensor,
    query: Tensor,
    chunk: int = 256,
    overlap: int = 32,
    group: int = 12,
) -> Tensor:
    """:meth:`QuerySeparator.forward` over any number of frames, in overlapping chunks.

    Chunks of ``chunk`` frames (3 s, the length of the training crops) overlap by ``overlap``
    frames and are cross-faded linearly. They run ``group`` at a time as one batch (about 30 s
    of song), so the memory a song needs does not grow with its length. On a 4-minute song
    (one thread), groups of 12 took no longer than all chunks in one batch; with the band
    branch, half as long and with half the memory.
    """
    frames = magnitude.shape[-1]
    if frames <= chunk:
        return net(magnitude, query)
    step = chunk - overlap
    starts = list(range(0, frames - overlap, step))
    starts[-1] = max(0, frames - chunk)
    pieces = torch.stack([magnitude[..., s : s + chunk] for s in starts], dim=0)
    masks = torch.cat([
        net(part.reshape(-1, BINS, chunk), query.repeat(part.shape[0], 1)).reshape(part.shape)
        for part in pieces.split(group)
    ])  # fmt: skip
    out = magnitude.new_zeros(magnitude.shape)
    weight = magnitude.new_zeros(frames)
    ramp = magnitude.new_ones(chunk)  # on the song's device, as the masks are
    fade = torch.linspace(0, 1, overlap + 2, dtype=magnitude.dtype, device=magnitude.device)[1:-1]
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
    step = hop * RATE / (rate * HOP)  # separator frames per target frame: 1.0 exactly at 44.1 kHz
    times = torch.arange(frames, dtype=torch.float64) * step
    mask = _interp_last(mask.float(), times)  # [BINS, frames]; positions in float64
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * rate / n_fft
    low = freqs <= RATE / 2 - RATE / N_FFT
    lo, hi = (int(f * N_FFT / RATE) for f in HIGH_BAND_HZ)
    out = mask[lo:hi].mean(dim=0, keepdim=True).expand(freqs.numel(), -1).clone()
    out[low] = _interp_last(mask.t(), freqs[low] * N_FFT / RATE).t()
    return out.float()


def _interp_last(values: Tensor, positions: Tensor) -> Tensor:
    """``values [..., n]`` linearly interpolated at fractional ``positions`` (clamped).

    Positions 0, 1, 2, ... (a song at 44.1 kHz on the separator's own grid, the usual case)
    are the values themselves: they are returned as they are, without interpolating."""
    n = values.shape[-1]
    if positions.numel() <= n and torch.equal(
        positions, torch.arange(positions.numel(), dtype=positions.dtype)
    ):
        return values[..., : positions.numel()]
    positions = positions.to(values.device).clamp(0, n - 1)  # made on the CPU
    left = positions.floor().long().clamp(max=n - 1)
    right = (left + 1).clamp(max=n - 1)
    frac = (positions - left).to(values.dtype)
    return values[..., left] * (1 - frac) + values[..., right] * frac


def save_separator(net: QuerySeparator, path: Path, extra: dict | None = None) -> None:
    """Write ``net`` as a plain dict of tensors and numbers, loadable with ``weights_only``."""
    torch.save({"shape": asdict(net.shape), "state": net.state_dict(), **(extra or {})}, path)


def load_separator(path: Path) -> tuple[QuerySeparator, dict]:
    """Load a separator saved by :func:`save_separator` (no pickled code is run).

    Returns the network in eval mode and the file's other entries. Raises ModelError naming
    the file for anything unusable.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"the separator weights are missing: {path} does not exist")
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
