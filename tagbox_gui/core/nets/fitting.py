"""A prototype fitted to the song: the query an instrument's stem would have, predicted from
what the separator first hears when asked by the prototype.

A family's prototype is the mean query of very different sounds (a harpsichord and a grand
piano are both "piano"), so it asks for none of them well; asked with a stem's own query
instead, the separator does much better (docs/separator.md, "What limits it"). Here the own
query is predicted. The separator is asked by the prototype on a few chunks of the song, once
per run (:func:`sample_chunks`, analysed from those stretches of the song alone by
:func:`song_chunks`); the first look it gives is summarised by :func:`look_features`
(its spectral envelope in log-spaced bands, how much that varies over time, and its share
of the mixture per band); and a linear map fitted on the training songs (:class:`QueryFit`,
ridge regression, ``training.fit_queries``) turns that into an offset of the standardised
query. The fits ship with the weights, one per prototype that had enough training stems.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tagbox_gui.core.dsp.spectral import resample
from tagbox_gui.core.nets.separator import (
    BINS,
    HOP,
    N_FFT,
    RATE,
    QuerySeparator,
    mask_long,
    spectrum,
)

LOW_HZ = 30.0
CHUNK = 256
"""Frames of one chunk (3 s at the separator's rate): the network's own unit of work."""
CHUNKS = 4
"""Chunks of the run's audio the prototype is asked in, evenly spread (12 s of a song)."""
SILENCE_DB = -60.0
"""A hop of a song this far under the song's mean power, or further, is silence to the fit:
digital silence, dither, a noise floor (:func:`song_chunks`)."""


def band_matrix() -> Tensor:
    """``[BANDS, BINS]``: which band a bin is in, of 48 log-spaced bands from 30 Hz to half the
    rate, the ones that hold no bin left out (the lowest are narrower than a bin)."""
    freqs = torch.arange(BINS, dtype=torch.float64) * RATE / (2 * (BINS - 1))
    edges = torch.logspace(
        torch.log10(torch.tensor(LOW_HZ)), torch.log10(torch.tensor(RATE / 2)), 49,
        dtype=torch.float64,
    )  # fmt: skip
    index = torch.bucketize(freqs, edges, right=True) - 1
    matrix = torch.zeros(48, BINS, dtype=torch.float32)
    inside = (index >= 0) & (index < 48)
    matrix[index[inside], torch.arange(BINS)[inside]] = 1.0
    return matrix[matrix.sum(dim=1) > 0]


_BAND_MATRIX = band_matrix()
BANDS = _BAND_MATRIX.shape[0]
FEATURES = 3 * BANDS + 1


def look_features(magnitude: Tensor, mask: Tensor) -> Tensor:
    """What a first look ``mask`` of ``magnitude`` (both ``[BINS, frames]``) sounds like,
    ``[FEATURES]``, free of the song's level: the first look's mean log power per band less
    its mean over bands (the envelope), its standard deviation over time per band, its log
    share of the mixture's power per band, and its log share of the whole."""
    bands = _BAND_MATRIX.to(magnitude)
    look = bands @ (mask * magnitude).pow(2) + 1e-12
    mix = bands @ magnitude.pow(2) + 1e-12
    level = torch.log10(look)
    envelope = level.mean(dim=1) - level.mean()
    spread = level.std(dim=1)
    share = torch.log10(look.sum(dim=1)) - torch.log10(mix.sum(dim=1))
    whole = torch.log10(look.sum() / mix.sum())
    return torch.cat([envelope, spread, share, whole[None]])


def chunk_starts(frames: int, chunks: int = CHUNKS) -> list[int] | None:
    """The first frames of ``chunks`` chunks of :data:`CHUNK` frames evenly spread over
    ``frames``, or None when ``frames`` is no longer than they are (then all is one chunk)."""
    if frames <= chunks * CHUNK:
        return None
    return torch.linspace(0, frames - CHUNK, chunks).round().long().tolist()


def sample_chunks(magnitude: Tensor, chunks: int = CHUNKS) -> Tensor:
    """``[n, BINS, frames]``: at most ``chunks`` chunks of :data:`CHUNK` frames of
    ``magnitude`` ``[BINS, frames]``, evenly spread (:func:`chunk_starts`); all of it as one
    when it is no longer."""
    starts = chunk_starts(magnitude.shape[-1], chunks)
    if starts is None:
        return magnitude[None]
    return torch.stack([magnitude[:, s : s + CHUNK] for s in starts])


def sounding_starts(quiet: np.ndarray) -> list[int] | None:
    """:func:`chunk_starts` for a song whose hops (its separator frames) are ``quiet``
    ``[frames]`` (silence to the fit: :data:`SILENCE_DB`) or not, spread over the chunks in
    which at most a tenth of the hops are quiet rather than over all of them; the same starts
    where no chunk holds more (most songs), and where every chunk does (a song of sparse
    clicks: nothing to prefer)."""
    frames = len(quiet)
    if frames <= CHUNKS * CHUNK:
        return None
    quiet_before = np.concatenate([[0], np.cumsum(quiet)])
    in_chunk = quiet_before[CHUNK:] - quiet_before[:-CHUNK]  # for each start 0..frames-CHUNK
    eligible = np.flatnonzero(in_chunk <= CHUNK // 10)
    if len(eligible) == 0:
        return chunk_starts(frames)
    picks = np.round(np.linspace(0, len(eligible) - 1, CHUNKS)).astype(int)
    return [int(e) for e in eligible[picks]]


def hop_powers(signal: np.ndarray, rate: int) -> np.ndarray:
    """``[frames]`` float64: the mean power of ``signal`` ``[samples]`` at ``rate`` in each hop
    of the separator's frames of it (0 for a hop past its end)."""
    samples = len(signal)
    frames = -(-samples * RATE // rate) // HOP + 1
    edges = np.minimum(np.arange(frames + 1) * HOP * rate // RATE, samples)
    sizes = np.diff(edges)
    powers = np.zeros(frames)
    full = sizes > 0  # only the hops at the end can be empty
    if full.any():
        sums = np.add.reduceat(np.square(signal), edges[:-1][full], dtype=np.float64)
        powers[full] = sums / sizes[full]
    return powers


def song_chunks(signal: Tensor, rate: int) -> Tensor:
    """:func:`sample_chunks` of the separator's magnitude of ``signal`` ``[samples]`` at
    ``rate``, made from those stretches of it alone (with a margin on each side, so each
    chunk's frames are those of the whole song's spectrogram) rather than from all of it.

    The chunks are spread over the song from its first sound to its last: the silence a song
    file often starts and ends with is left out (digital silence, or dither or a noise floor
    :data:`SILENCE_DB` under the song's mean power). The first and last chunks took it, and
    the separator's look at half a chunk of silence made features no training song had (1.5 s
    of it at each end of the dev songs moved their fitted queries by 1.5 to 2.6 standard
    deviations, and their mean SI-SDRi from 4.4 dB without a fit to -0.1). A sound shorter
    than a chunk is looked at with the silence around it, as it was. Silence inside the song
    (a break) is left out too: the chunks are spread over those that hear sound almost
    throughout (:func:`sounding_starts`)."""
    heard = signal.detach().cpu().numpy()  # hops are measured here, on any device
    power = float(np.mean(np.square(heard), dtype=np.float64)) if len(heard) else 0.0
    floor = power * 10 ** (SILENCE_DB / 10)
    first, end = _sounding_span(heard, rate, floor)
    signal = signal[first:end]
    length = -(-signal.shape[-1] * RATE // rate)  # at RATE, as resample gives
    starts = sounding_starts(hop_powers(heard[first:end], rate) <= floor)
    if starts is None:
        return spectrum(resample(signal[None], rate, RATE)).abs()
    step = RATE // math.gcd(rate, RATE)  # a stretch starts where both rates have a sample
    align = HOP * step // math.gcd(HOP, step)  # ... and on a frame of the separator
    pieces = []
    for start in starts:
        first = max(0, (start * HOP - 2 * N_FFT) // align * align)
        last = min(length, (start + CHUNK) * HOP + 2 * N_FFT)
        stretch = signal[first * rate // RATE : -(-last * rate // RATE)]
        magnitude = spectrum(resample(stretch[None], rate, RATE)[:, : last - first]).abs()[0]
        offset = start - first // HOP
        pieces.append(magnitude[:, offset : offset + CHUNK])
    return torch.stack(pieces)


def _sounding_span(signal: np.ndarray, rate: int, floor: float) -> tuple[int, int]:
    """``(first, end)``: the samples of ``signal`` from its first sound to its last
    (:func:`song_chunks`), where they are at least a chunk apart, else all of it: cut where the
    hops louder than ``floor`` begin and end, and never before its first sample of sound or
    after its last."""
    whole = (0, len(signal))
    loud = np.flatnonzero(hop_powers(signal, rate) > floor)
    if len(loud) == 0:
        return whole
    sound = signal != 0
    first = max(int(loud[0]) * HOP * rate // RATE, int(np.argmax(sound)))
    last = min((int(loud[-1]) + 1) * HOP * rate // RATE, len(signal)) - 1
    last = min(last, len(signal) - 1 - int(np.argmax(sound[::-1])))
    return (first, last + 1) if last - first >= CHUNK * HOP * rate // RATE else whole


@torch.no_grad()
def first_look_features(net: QuerySeparator, pieces: Tensor, queries: Tensor) -> Tensor:
    """:func:`look_features` ``[k, FEATURES]`` of the separator's first look at the chunks
    ``pieces`` ``[n, BINS, frames]`` of a song (:func:`sample_chunks`, :func:`song_chunks`),
    asked by each raw query of ``queries`` ``[k, dim]`` (one pass of the network for all)."""
    n, k = pieces.shape[0], queries.shape[0]
    batch = pieces.repeat(k, 1, 1)  # query-major: [k * n, BINS, frames]
    masks = mask_long(net, batch, queries.repeat_interleave(n, dim=0))
    joined = pieces.permute(1, 0, 2).reshape(BINS, -1)
    looks = masks.reshape(k, n, BINS, -1).permute(0, 2, 1, 3).reshape(k, BINS, -1)
    return torch.stack([look_features(joined, look) for look in looks])


@dataclass(frozen=True)
class QueryFit:
    """A ridge regression from :func:`look_features` to the offset of a stem's own
    standardised query from its prototype's: ``((features - mean) / scale) @ weights + bias``."""

    mean: Tensor  # [FEATURES]
    scale: Tensor  # [FEATURES]
    weights: Tensor  # [FEATURES, query_dim]
    bias: Tensor  # [query_dim]

    def offset(self, features: Tensor) -> Tensor:
        """The predicted offset ``[query_dim]`` for ``features`` ``[FEATURES]``."""
        return ((features - self.mean) / self.scale) @ self.weights + self.bias

    def to(self, device: torch.device) -> QueryFit:
        """The same fit on ``device``."""
        return QueryFit(self.mean.to(device), self.scale.to(device), self.weights.to(device),
                        self.bias.to(device))  # fmt: skip

    def to_dict(self) -> dict[str, Tensor]:
        return {"mean": self.mean, "scale": self.scale, "weights": self.weights, "bias": self.bias}

    @classmethod
    def from_dict(cls, data: dict[str, Tensor]) -> QueryFit:
        fit = cls(**{k: data[k].float() for k in ("mean", "scale", "weights", "bias")})
        if fit.weights.shape[0] != FEATURES or fit.weights.shape[1] != fit.bias.shape[0]:
            raise ValueError(f"a query fit of shape {tuple(fit.weights.shape)} is not "
                             f"[{FEATURES}, query dim]")  # fmt: skip
        return fit


def fitted_latent(net: QuerySeparator, fit: QueryFit, pieces: Tensor, start: Tensor) -> Tensor:
    """The standardised query ``[dim]`` of a prototype (standardised ``start`` ``[dim]``)
    fitted to the song whose chunks are ``pieces`` ``[n, BINS, frames]`` (:func:`song_chunks`):
    the prototype is asked on them, and its first look moves it."""
    raw = start * net.query_std + net.query_mean
    return start + fit.offset(first_look_features(net, pieces, raw[None])[0])
