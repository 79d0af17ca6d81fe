"""Carry an estimate made on the analysis signal onto every channel of the song at its own rate.

The optimisation sees a mono 44.1 kHz copy of one region of the song. Its masks live on that
copy's STFT grids (one per FFT size ``n``: periodic sqrt-Hann window, hop ``n/v`` where ``v``
is the estimate's ``hops_per_window``, 2 or 4, centred frames with reflect padding, as
``torch.stft`` does). To render stems at the song's own rate and channel count, each mask is
resampled onto an STFT of the original channel with the same duration in seconds: FFT size
``n' = n * rate / 44100`` rounded to a multiple of ``v``, hop ``n'/v``, same window family.
The mask is interpolated linearly in time (seconds of frame centres) and in frequency (Hz);
above 22.05 kHz (songs at higher rates) it keeps the top analysed bin's value.

Combining FFT sizes: the separated stem is the MEAN over FFT sizes of the per-size masked
signals ``istft(M_n * stft_n(x))``. The optimisation computed each resolution's loss on exactly
its own masked signal, so each of them is an estimate of the wanted source; averaging them equals
applying the mean of the mask operators, and no resolution is dropped (the published code only
exported the last FFT size's mask).

Only the region (plus one hop of real context either side for the STFT edges) is processed, so a
long song costs little. The result is full length and sample-aligned with the song: silent outside
the region, with a short raised-cosine fade at region edges that lie inside the song so the stems do
not click there. The residual is the song minus the separated stem, computed in float64.

Memory stays bounded whatever the song's length: :func:`separated_blocks` renders the song in
blocks of :data:`BLOCK_SECONDS`. Every block computes the STFT frames that overlap it (one frame
either side of its hops), on the grid anchored at the region's start that a whole-region
rendering uses, so each sample is the same overlap-add of the same two frames: the blocks put
together are the whole rendering, not an approximation of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from math import gcd
from typing import TYPE_CHECKING

import numpy as np

from tagbox_gui.core.types import ANALYSIS_RATE, Estimate

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

FADE_SECONDS = 0.010
"""Length of the fades at region edges that lie inside the song."""

BLOCK_SECONDS = 4.0
"""Length of the blocks :func:`separated_blocks` renders one at a time (bounds the memory)."""

_CONTEXT_HOPS = 1  # grid frames before the region start (kept out of the sum); the frames kept
# still reach into the song on either side of the region, so its edges hear real context

_Renderer = Callable[[int, int], np.ndarray]  # (b0, b1) -> separated samples (b1 - b0, channels)


def render_stems(song: Song, estimate: Estimate) -> tuple[np.ndarray, np.ndarray]:
    """Render the estimate onto the song: ``(separated, residual)``, float64 ``(frames, channels)``.

    Both are full length and aligned with the song sample for sample. ``separated`` is zero
    outside the estimate's region; ``residual = song - separated`` exactly (float64), so outside
    the region it equals the song. Mask mode averages the masked signals of all FFT sizes; free
    mode places the decoded audio (resampled to the song's rate) in every channel. A caller that
    writes the stems should take :func:`separated_blocks` instead: it never holds the whole song
    in float64.
    """
    residual = np.asarray(song.data).astype(np.float64)  # a copy; becomes song - separated
    separated = np.zeros(residual.shape)  # calloc: untouched pages stay free until written
    for span, part in separated_blocks(song, estimate):
        if part.any():  # outside the region the residual is the song, bit for bit
            separated[span] = part
            residual[span] -= part
    return separated, residual


def separated_blocks(
    song: Song, estimate: Estimate, block_seconds: float = BLOCK_SECONDS
) -> Iterator[tuple[slice, np.ndarray]]:
    """The separated stem of the whole song, block by block: ``(span, samples)`` pairs.

    The spans are consecutive, cut the song into blocks of ``block_seconds`` and cover it from
    its first sample to its last; ``samples`` is float64 ``(span length, channels)``, zero outside
    the estimate's region. Put together they equal :func:`render_stems`' ``separated``. The
    estimate is checked here (ValueError), before the first block is asked for.
    """
    s0, s1 = song_span(estimate, song.rate, song.frames)
    render = _renderer(song, estimate, s0, s1) if s1 > s0 else None
    return _blocks(song, render, (s0, s1), block_spans(song, block_seconds))


def block_spans(song: Song, block_seconds: float = BLOCK_SECONDS) -> list[slice]:
    """The consecutive blocks of ``block_seconds`` :func:`separated_blocks` cuts the song into."""
    size = max(1, round(block_seconds * song.rate))
    return [slice(b0, min(song.frames, b0 + size)) for b0 in range(0, song.frames, size)]


def _blocks(
    song: Song, render: _Renderer | None, region: tuple[int, int], spans: list[slice]
) -> Iterator[tuple[slice, np.ndarray]]:
    s0, s1 = region
    for span in spans:
        b0, b1 = span.start, span.stop
        block = np.zeros((b1 - b0, song.channels))
        r0, r1 = max(b0, s0), min(b1, s1)
        if render is not None and r1 > r0:
            part = render(r0, r1)
            _fade(part, song.rate, r0 - s0, (s0, s1), song.frames)
            block[r0 - b0 : r1 - b0] = part
        yield span, block


def _renderer(song: Song, estimate: Estimate, s0: int, s1: int) -> _Renderer:
    """What renders ``[b0, b1)`` of the region ``[s0, s1)``; the estimate is checked first."""
    if estimate.masks:
        for n_fft, mask in estimate.masks.items():
            _check_mask(n_fft, mask, estimate.length, estimate.hops_per_window)
        return lambda b0, b1: _masked_block(song.data, song.rate, estimate, (s0, s1), (b0, b1))
    if estimate.audio is not None:
        placed = _free_signal(estimate.audio, song.rate, s1 - s0)
        return lambda b0, b1: np.repeat(placed[b0 - s0 : b1 - s0, None], song.channels, axis=1)
    raise ValueError("the estimate holds neither masks nor audio")


def song_span(estimate: Estimate, rate: int, frames: int) -> tuple[int, int]:
    """The estimate's region ``[start, end)`` in samples of a song at ``rate`` with ``frames``."""
    if estimate.start < 0 or estimate.length < 0:
        raise ValueError(f"bad estimate region: start={estimate.start}, length={estimate.length}")
    s0 = min(frames, round(estimate.start * rate / ANALYSIS_RATE))
    s1 = min(frames, round((estimate.start + estimate.length) * rate / ANALYSIS_RATE))
    return s0, s1


def song_fft_size(n_fft: int, rate: int, hops_per_window: int = 2) -> int:
    """FFT size at ``rate`` that spans the same time as ``n_fft`` at 44.1 kHz: a multiple of
    ``hops_per_window`` (so the hop is whole), at least that."""
    v = hops_per_window
    return max(v, v * round(n_fft * rate / ANALYSIS_RATE / v))


def sqrt_hann(n: int) -> np.ndarray:
    """Square root of the periodic Hann window of length ``n`` (float64)."""
    return np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n))


def _masked_block(
    original: np.ndarray,
    rate: int,
    estimate: Estimate,
    region: tuple[int, int],
    block: tuple[int, int],
) -> np.ndarray:
    """Mean over FFT sizes of the masked ``block`` of every channel, ``(b1 - b0, channels)``."""
    total = np.zeros((block[1] - block[0], original.shape[1]))
    for n_fft, mask in estimate.masks.items():
        total += _masked_one_size(original, rate, estimate, n_fft, mask, region, block)
    return total / len(estimate.masks)


def _check_mask(n_fft: int, mask: np.ndarray, length: int, hops_per_window: int) -> None:
    if hops_per_window not in (2, 4):
        raise ValueError(f"hops per window must be 2 or 4, not {hops_per_window}")
    hop = n_fft // hops_per_window
    expected = (n_fft // 2 + 1, 1 + length // max(1, hop))
    if n_fft < hops_per_window or n_fft % hops_per_window or mask.shape != expected:
        raise ValueError(f"mask for FFT size {n_fft} has shape {mask.shape}, expected {expected}")


def _masked_one_size(
    original: np.ndarray,
    rate: int,
    estimate: Estimate,
    n_fft: int,
    mask: np.ndarray,
    region: tuple[int, int],
    block: tuple[int, int],
) -> np.ndarray:
    """``istft(mask' * stft(x))`` over ``block`` of ``region`` for one FFT size, on the song's grid.

    With ``v`` hops per window, frame ``u`` spans hop blocks ``u`` to ``u + v - 1`` from ``lo``
    and is centred at ``s0 + (u - k) * hop``: aligned with the region start like the analysis
    frames, with k frames of real context before it. Hop block ``j`` is the overlap-add of
    frames ``j - v + 1`` to ``j``, so the block needs frames ``j0 - v + 1`` to ``j1 - 1`` and
    nothing else.
    """
    (s0, _), (b0, b1) = region, block
    v = estimate.hops_per_window
    n = song_fft_size(n_fft, rate, v)
    hop = n // v
    k = _CONTEXT_HOPS
    lo = s0 - (k + v // 2) * hop  # first sample of the padded region (may be < 0: reflected)
    j0, j1 = (b0 - lo) // hop, -(-(b1 - lo) // hop)  # the hop blocks that hold [b0, b1)
    begin = lo + (j0 - v + 1) * hop  # first sample of frame j0 - v + 1
    index = _reflect_index(np.arange(begin, lo + (j1 + v - 1) * hop), original.shape[0])
    segment = np.asarray(original[index], dtype=np.float64)
    units = np.arange(j0 - v + 1, j1)
    centres = (s0 + (units - k) * hop) / rate - estimate.start / ANALYSIS_RATE
    # Frames centred before the region start are left out, as the analysis STFT had none: at
    # hop n/4 the one centred a hop before would reach a hop into the region.
    live = (units >= k).astype(np.float64)[None, :, None]
    song_mask = _carry_mask(mask, n_fft, n, rate, centres, v) * live
    out = _istft_blocks(_stft_blocks(segment.T, n, v) * song_mask, n, v)
    envelope = _istft_blocks(live, n, v, spectral=False)
    first = b0 - begin  # in hop block v - 1 or later: all of its frames are here
    return (out[:, first : first + b1 - b0] / envelope[:, first : first + b1 - b0]).T


def _reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """Map indices outside ``[0, size)`` back inside by mirror reflection (edge not repeated)."""
    if size < 2:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    folded = np.mod(index, period)
    return np.where(folded >= size, period - folded, folded)


def _stft_blocks(signal: np.ndarray, n: int, v: int) -> np.ndarray:
    """STFT of ``signal`` ``(channels, (frames + v - 1) * n/v)``: ``(channels, frames, n/2 + 1)``.

    Frames start every hop ``n/v`` from the first sample, so frame ``u`` is blocks ``u`` to
    ``u + v - 1`` of the signal cut into hops; the caller has already added the edge padding.
    """
    blocks = signal.reshape(signal.shape[0], -1, n // v)
    count = blocks.shape[1] - v + 1
    frames = np.concatenate([blocks[:, i : i + count] for i in range(v)], axis=-1)
    frames *= sqrt_hann(n)
    from scipy import fft as sfft  # imported here: the window shows before scipy is loaded

    return sfft.rfft(frames, axis=-1)


def _istft_blocks(spectra: np.ndarray, n: int, v: int, spectral: bool = True) -> np.ndarray:
    """Windowed overlap-add of frames (inverse of ``_stft_blocks`` up to the window envelope).

    With ``spectral=False`` the frames are taken as all-ones time signals, which gives the
    envelope sum of squared windows that the overlap-add must be divided by (inside: 1 at hop
    n/2 by the sqrt-Hann construction, 2 at hop n/4; dividing also guards the edges).
    """
    hop = n // v
    window = sqrt_hann(n)
    if spectral:
        from scipy import fft as sfft

        frames = sfft.irfft(spectra, n=n, axis=-1)
        frames *= window
    else:
        frames = np.broadcast_to(spectra, (*spectra.shape[:2], n)) * window**2
    channels, count = frames.shape[:2]
    out = np.zeros((channels, count + v - 1, hop))
    for i in range(v):
        out[:, i : i + count] += frames[..., i * hop : (i + 1) * hop]
    return out.reshape(channels, -1)


def _carry_mask(
    mask: np.ndarray, n_fft: int, n: int, rate: int, centres: np.ndarray, v: int
) -> np.ndarray:
    """Interpolate an analysis-grid mask onto the song grid: ``(frames, n/2 + 1)``.

    Linear in Hz and in seconds of frame centres, clamped at the ends. Frequencies above the
    analysis Nyquist (22.05 kHz, present only in songs at higher rates) take the value of the top
    analysed bin: the taggers never heard that band, so the nearest decision is the best guess,
    it keeps the mask continuous (a hard step would ring), and whatever lives up there is shared
    between the stems in the same proportion as the top of the audible band. Only the analysis
    frames around ``centres`` are interpolated in frequency (a block of the song, not all of it).
    """
    analysis_hz = np.arange(mask.shape[0]) * ANALYSIS_RATE / n_fft
    song_hz = np.arange(n // 2 + 1) * rate / n
    analysis_times = np.arange(mask.shape[1]) * (n_fft // v) / ANALYSIS_RATE
    if len(analysis_times) < 2:
        column = _interp_rows(np.asarray(mask[:, :1], dtype=np.float64), analysis_hz, song_hz)
        return np.repeat(column.T, len(centres), axis=0)
    lower, weight = _bracket(analysis_times, centres)
    first, last = int(lower.min()), int(lower.max()) + 2
    columns = np.asarray(mask[:, first:last], dtype=np.float64)
    by_freq = _interp_rows(columns, analysis_hz, song_hz).T
    lower -= first
    return by_freq[lower] * (1.0 - weight) + by_freq[lower + 1] * weight


def _interp_rows(values: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 of ``values`` from uniform points ``src`` to ``dst``."""
    if len(src) < 2:
        return np.repeat(values[:1], len(dst), axis=0)
    lower, weight = _bracket(src, dst)
    return values[lower] * (1.0 - weight) + values[lower + 1] * weight


def _bracket(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For uniform points ``src`` (at least two): the row below each of ``dst`` (clamped so that
    the row above exists) and the weight ``[len(dst), 1]`` of the row above."""
    pos = np.clip((dst - src[0]) / (src[1] - src[0]), 0.0, len(src) - 1)
    lower = np.minimum(pos.astype(np.int64), len(src) - 2)
    return lower, (pos - lower)[:, None]


def _free_signal(audio: np.ndarray, rate: int, length: int) -> np.ndarray:
    """Free mode: the decoded audio at the song's rate, mono, ``length`` long (float64)."""
    signal = np.asarray(audio, dtype=np.float64).reshape(-1)
    if rate != ANALYSIS_RATE:
        from scipy.signal import resample_poly  # imported here: scipy.signal takes ~1 s

        common = gcd(rate, ANALYSIS_RATE)
        signal = resample_poly(signal, rate // common, ANALYSIS_RATE // common)
    placed = np.zeros(length)
    placed[: min(length, len(signal))] = signal[:length]
    return placed


def _fade(part: np.ndarray, rate: int, offset: int, region: tuple[int, int], frames: int) -> None:
    """Raised-cosine fades (in place) at region edges that lie inside the song.

    ``part`` starts ``offset`` samples into the region ``[s0, s1)`` of a song of ``frames``.
    """
    s0, s1 = region
    length = s1 - s0
    size = min(round(FADE_SECONDS * rate), length // 2)
    if size < 1:
        return
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(size) + 0.5) / size)
    end = offset + part.shape[0]
    if s0 > 0 and offset < size:  # the fade in: ramp[i] at region sample i
        part[: size - offset] *= ramp[offset:end, None]
    if s1 < frames and end > length - size:  # the fade out: ramp[length - 1 - i] at sample i
        lo = max(offset, length - size)
        part[lo - offset :] *= ramp[length - 1 - np.arange(lo, end), None]
