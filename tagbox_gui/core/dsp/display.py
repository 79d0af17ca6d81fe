"""Small images for display, computed without Qt: log-spaced frequency bands and mask images.

The mask image and the GUI's song spectrogram share one frequency layout (log-spaced bands
from :data:`DISPLAY_FMIN` to the Nyquist frequency), so a mask lines up with the song's
spectrogram row for row, and musical content is not squeezed into the bottom tenth of a
linear axis.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tagbox_gui.core.types import ANALYSIS_RATE, Estimate

DISPLAY_FMIN = 30.0
"""Lowest frequency (Hz) of a display image; the highest is the Nyquist frequency."""

MASK_IMAGE_SHAPE = (256, 800)
"""A mask image's (log-frequency bands, at most this many time columns)."""


def log_band_matrix(n_fft: int, rate: int, n_bins: int, fmin: float, fmax: float) -> np.ndarray:
    """Weights ``(n_bins, n_fft/2+1)`` averaging FFT bins into log-spaced bands.

    A band narrower than an FFT bin (low frequencies) takes the linear interpolation of the
    two FFT bins around its centre, so no band is empty.
    """
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    edges = np.geomspace(fmin, fmax, n_bins + 1)
    weights = np.zeros((n_bins, freqs.size), dtype=np.float32)
    for band in range(n_bins):
        inside = (freqs >= edges[band]) & (freqs < edges[band + 1])
        if inside.any():
            weights[band, inside] = 1.0 / inside.sum()
            continue
        position = math.sqrt(edges[band] * edges[band + 1]) * n_fft / rate
        low = min(int(position), freqs.size - 2)
        frac = position - low
        weights[band, low], weights[band, low + 1] = 1.0 - frac, frac
    return weights


@functools.lru_cache(maxsize=8)
def _mask_bands(n_fft: int) -> np.ndarray:
    bands = log_band_matrix(n_fft, ANALYSIS_RATE, MASK_IMAGE_SHAPE[0], DISPLAY_FMIN,
                            ANALYSIS_RATE / 2)  # fmt: skip
    bands.setflags(write=False)
    return bands


def mask_image(estimate: Estimate) -> np.ndarray:
    """A display image ``(bands, columns)`` in [0, 1] of an estimate's mask.

    It shows the largest FFT size's mask, whose bins are finest where the log axis spends most
    of its rows, averaged over time into at most ``MASK_IMAGE_SHAPE[1]`` columns and then into
    log-spaced bands from :data:`DISPLAY_FMIN` to the analysis signal's Nyquist frequency. An
    estimate without masks (free mode) gives a 1 x 1 zero image.
    """
    if not estimate.masks:
        return np.zeros((1, 1), dtype=np.float32)
    n_fft = max(estimate.masks)
    mask = np.asarray(estimate.masks[n_fft], dtype=np.float32)
    step = max(1, -(-mask.shape[1] // MASK_IMAGE_SHAPE[1]))
    columns = mask.shape[1] // step
    pooled = mask[:, : columns * step].reshape(mask.shape[0], columns, step).mean(axis=2)
    return np.ascontiguousarray(np.clip(_mask_bands(n_fft) @ pooled, 0.0, 1.0))
