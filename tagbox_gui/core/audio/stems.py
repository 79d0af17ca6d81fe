"""Carry an estimate made on the analysis signal onto every channel of the song at its own rate.

The optimisation sees a mono 44.1 kHz copy of one region of the song. Its masks live on that
copy's STFT grids (one per FFT size ``n``: periodic sqrt-Hann window, hop ``n/2``, centred
frames with reflect padding, as ``torch.stft`` does). To render stems at the song's own rate and
channel count, each mask is resampled onto an STFT of the original channel with the same
duration in seconds: FFT size ``n' = n * rate / 44100`` rounded to an even integer, hop ``n'/2``,
same window family. The mask is interpolated linearly in time (seconds of frame centres) and in
frequency (Hz); above 22.05 kHz (songs at higher rates) it keeps the top analysed bin's value.

Combining FFT sizes: the separated stem is the MEAN over FFT sizes of the per-size masked
signals ``istft(M_n * stft_n(x))``. The optimisation computed each resolution's loss on exactly
its own masked signal, so each of them is an estimate of the wanted source; averaging them equals
applying the mean of the mask operators, and no resolution is dropped (the published code only
exported the last FFT size's mask).

Only the region (plus one hop of real context either side for the STFT edges) is processed, so a
long song costs little. The result is full length and sample-aligned with the song: silent outside
the region, with a short raised-cosine fade at region edges that lie inside the song so the stems do
not click there. The residual is the song minus the separated stem, computed in float64.
"""

from __future__ import annotations

from math import gcd
from typing import TYPE_CHECKING

import numpy as np
from scipy import fft as sfft
from scipy.signal import resample_poly

from tagbox_gui.core.types import ANALYSIS_RATE, Estimate

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

FADE_SECONDS = 0.010
"""Length of the fades at region edges that lie inside the song."""

_CONTEXT_HOPS = 1  # frames of real song context beyond each region edge (one covers the edge)


def render_stems(song: Song, estimate: Estimate) -> tuple[np.ndarray, np.ndarray]:
    """Render the estimate onto the song: ``(separated, residual)``, float64 ``(frames, channels)``.

    Both are full length and aligned with the song sample for sample. ``separated`` is zero
    outside the estimate's region; ``residual = song - separated`` exactly (float64), so outside
    the region it equals the song. Mask mode averages the masked signals of all FFT sizes; free
    mode places the decoded audio (resampled to the song's rate) in every channel.
    """
    residual = np.asarray(song.data).astype(np.float64)  # a copy; becomes song - separated
    s0, s1 = song_span(estimate, song.rate, residual.shape[0])
    separated = np.zeros(residual.shape)  # calloc: untouched pages stay free until written
    if s1 > s0:
        if estimate.masks:
            part = _masked_region(song.data, song.rate, estimate, s0, s1)
        elif estimate.audio is not None:
            part = _free_region(estimate.audio, song.rate, s1 - s0, residual.shape[1])
        else:
            raise ValueError("the estimate holds neither masks nor audio")
        _apply_fades(part, song.rate, fade_in=s0 > 0, fade_out=s1 < residual.shape[0])
        separated[s0:s1] = part
        residual[s0:s1] -= part  # outside the region the residual is the song, bit for bit
    return separated, residual


def song_span(estimate: Estimate, rate: int, frames: int) -> tuple[int, int]:
    """The estimate's region ``[start, end)`` in samples of a song at ``rate`` with ``frames``."""
    if estimate.start < 0 or estimate.length < 0:
        raise ValueError(f"bad estimate region: start={estimate.start}, length={estimate.length}")
    s0 = min(frames, round(estimate.start * rate / ANALYSIS_RATE))
    s1 = min(frames, round((estimate.start + estimate.length) * rate / ANALYSIS_RATE))
    return s0, s1


def song_fft_size(n_fft: int, rate: int) -> int:
    """FFT size at ``rate`` that spans the same time as ``n_fft`` at 44.1 kHz (even, >= 2)."""
    return max(2, 2 * round(n_fft * rate / ANALYSIS_RATE / 2))


def sqrt_hann(n: int) -> np.ndarray:
    """Square root of the periodic Hann window of length ``n`` (float64)."""
    return np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n))


def _masked_region(
    original: np.ndarray, rate: int, estimate: Estimate, s0: int, s1: int
) -> np.ndarray:
    """Mean over FFT sizes of the masked region of every channel, ``(s1 - s0, channels)``."""
    total = np.zeros((s1 - s0, original.shape[1]))
    for n_fft, mask in estimate.masks.items():
        _check_mask(n_fft, mask, estimate.length)
        total += _masked_one_size(original, rate, estimate, n_fft, mask, s0, s1)
    return total / len(estimate.masks)


def _check_mask(n_fft: int, mask: np.ndarray, length: int) -> None:
    hop = n_fft // 2
    expected = (n_fft // 2 + 1, 1 + length // hop)
    if n_fft < 2 or n_fft % 2 or mask.shape != expected:
        raise ValueError(f"mask for FFT size {n_fft} has shape {mask.shape}, expected {expected}")


def _masked_one_size(
    original: np.ndarray,
    rate: int,
    estimate: Estimate,
    n_fft: int,
    mask: np.ndarray,
    s0: int,
    s1: int,
) -> np.ndarray:
    """``istft(mask' * stft(x))`` over ``[s0, s1)`` for one FFT size, on the song's grid."""
    n = song_fft_size(n_fft, rate)
    hop = n // 2
    # Frame centres s0 + (u - k) * hop: aligned with the region start like the analysis frames,
    # with k frames of real context before it and enough after it to cover s1 - 1 twice.
    k = _CONTEXT_HOPS
    frames = -(-(s1 - s0) // hop) + 2 * k + 1
    lo = s0 - (k + 1) * hop  # first sample of the padded stretch (may be < 0: reflected)
    index = _reflect_index(np.arange(lo, lo + (frames + 1) * hop), original.shape[0])
    segment = np.asarray(original[index], dtype=np.float64)
    centres = (s0 + (np.arange(frames) - k) * hop) / rate - estimate.start / ANALYSIS_RATE
    song_mask = _carry_mask(np.asarray(mask, dtype=np.float64), n_fft, n, rate, centres)
    out = _istft_blocks(_stft_blocks(segment.T, n) * song_mask, n)
    envelope = _istft_blocks(np.ones((1, frames, 1)), n, spectral=False)
    first = s0 - lo
    return (out[:, first : first + s1 - s0] / envelope[:, first : first + s1 - s0]).T


def _reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """Map indices outside ``[0, size)`` back inside by mirror reflection (edge not repeated)."""
    if size < 2:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    folded = np.mod(index, period)
    return np.where(folded >= size, period - folded, folded)


def _stft_blocks(signal: np.ndarray, n: int) -> np.ndarray:
    """STFT of ``signal`` ``(channels, (frames + 1) * n/2)``: ``(channels, frames, n/2 + 1)``.

    Frames start every hop ``n/2`` from the first sample, so frame ``u`` is blocks ``u`` and
    ``u + 1`` of the signal cut into hops; the caller has already added the edge padding.
    """
    hop = n // 2
    blocks = signal.reshape(signal.shape[0], -1, hop)
    frames = np.concatenate([blocks[:, :-1], blocks[:, 1:]], axis=-1)
    return sfft.rfft(frames * sqrt_hann(n), axis=-1)


def _istft_blocks(spectra: np.ndarray, n: int, spectral: bool = True) -> np.ndarray:
    """Windowed overlap-add of frames (inverse of ``_stft_blocks`` up to the window envelope).

    With ``spectral=False`` the frames are taken as all-ones time signals, which gives the
    envelope sum of squared windows that the overlap-add must be divided by (1 inside, by the
    sqrt-Hann/hop-n/2 construction, but dividing removes rounding and guards the edges).
    """
    hop = n // 2
    window = sqrt_hann(n)
    if spectral:
        frames = sfft.irfft(spectra, n=n, axis=-1) * window
    else:
        frames = np.broadcast_to(spectra, (*spectra.shape[:2], n)) * window**2
    channels, count = frames.shape[:2]
    out = np.zeros((channels, count + 1, hop))
    out[:, :-1] += frames[..., :hop]
    out[:, 1:] += frames[..., hop:]
    return out.reshape(channels, -1)


def _carry_mask(mask: np.ndarray, n_fft: int, n: int, rate: int, centres: np.ndarray) -> np.ndarray:
    """Interpolate an analysis-grid mask onto the song grid: ``(frames, n/2 + 1)``.

    Linear in Hz and in seconds of frame centres, clamped at the ends. Frequencies above the
    analysis Nyquist (22.05 kHz, present only in songs at higher rates) take the value of the top
    analysed bin: the taggers never heard that band, so the nearest decision is the best guess,
    it keeps the mask continuous (a hard step would ring), and whatever lives up there is shared
    between the stems in the same proportion as the top of the audible band.
    """
    analysis_hz = np.arange(mask.shape[0]) * ANALYSIS_RATE / n_fft
    song_hz = np.arange(n // 2 + 1) * rate / n
    analysis_times = np.arange(mask.shape[1]) * (n_fft // 2) / ANALYSIS_RATE
    by_freq = _interp_rows(mask, analysis_hz, song_hz)
    return _interp_rows(by_freq.T, analysis_times, centres)


def _interp_rows(values: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 of ``values`` from uniform points ``src`` to ``dst``."""
    if len(src) < 2:
        return np.repeat(values[:1], len(dst), axis=0)
    pos = np.clip((dst - src[0]) / (src[1] - src[0]), 0.0, len(src) - 1)
    lower = np.minimum(pos.astype(np.int64), len(src) - 2)
    weight = (pos - lower)[:, None]
    return values[lower] * (1.0 - weight) + values[lower + 1] * weight


def _free_region(audio: np.ndarray, rate: int, length: int, channels: int) -> np.ndarray:
    """Free mode: the decoded audio at the song's rate, same in every channel, ``length`` long."""
    signal = np.asarray(audio, dtype=np.float64).reshape(-1)
    if rate != ANALYSIS_RATE:
        common = gcd(rate, ANALYSIS_RATE)
        signal = resample_poly(signal, rate // common, ANALYSIS_RATE // common)
    placed = np.zeros(length)
    placed[: min(length, len(signal))] = signal[:length]
    return np.repeat(placed[:, None], channels, axis=1)


def _apply_fades(part: np.ndarray, rate: int, fade_in: bool, fade_out: bool) -> None:
    """Raised-cosine fades (in place) at region edges that lie inside the song."""
    size = min(round(FADE_SECONDS * rate), part.shape[0] // 2)
    if size < 1:
        return
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(size) + 0.5) / size)
    if fade_in:
        part[:size] *= ramp[:, None]
    if fade_out:
        part[-size:] *= ramp[::-1, None]
