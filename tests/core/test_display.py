"""Display images: log-spaced bands and the mask image the engine sends with each preview."""

from __future__ import annotations

import numpy as np

from tagbox_gui.core.dsp.display import DISPLAY_FMIN, MASK_IMAGE_SHAPE, log_band_matrix, mask_image
from tagbox_gui.core.types import ANALYSIS_RATE, Estimate


def _band_edges() -> np.ndarray:
    return np.geomspace(DISPLAY_FMIN, ANALYSIS_RATE / 2, MASK_IMAGE_SHAPE[0] + 1)


def test_every_band_is_a_weighted_mean_of_fft_bins() -> None:
    weights = log_band_matrix(1024, 44_100, 128, 30.0, 22_050.0)
    assert weights.shape == (128, 513)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    assert (weights >= 0).all()
    # Narrow low bands interpolate between neighbouring bins; wide high bands average many.
    assert np.count_nonzero(weights[0]) <= 2 and np.count_nonzero(weights[-1]) > 20


def test_mask_image_puts_frequencies_on_the_log_axis() -> None:
    n_fft, frames = 2048, 130
    freqs = np.arange(n_fft // 2 + 1) * ANALYSIS_RATE / n_fft
    below_1k = (freqs < 1000.0).astype(np.float32)[:, None].repeat(frames, axis=1)
    other_size = np.full((513, frames), 0.5, dtype=np.float32)
    image = mask_image(Estimate(0, frames * 1024, masks={1024: other_size, n_fft: below_1k}))
    assert image.shape == (MASK_IMAGE_SHAPE[0], frames) and image.dtype == np.float32
    edges = _band_edges()
    low, high = edges[1:] < 950.0, edges[:-1] > 1050.0
    np.testing.assert_allclose(image[low], 1.0)  # the largest FFT size's mask is shown
    np.testing.assert_allclose(image[high], 0.0)
    # 1 kHz sits about 55 % of the way up a 30 Hz - 22 kHz log axis, not 5 % as on a linear one.
    assert 0.5 < low.sum() / len(low) < 0.6


def test_long_masks_are_averaged_over_time_into_at_most_the_column_limit() -> None:
    frames = 2 * MASK_IMAGE_SHAPE[1] + 1
    ramp = np.linspace(0.0, 1.0, frames, dtype=np.float32)[None].repeat(1025, axis=0)
    image = mask_image(Estimate(0, frames * 1024, masks={2048: ramp}))
    assert image.shape == (MASK_IMAGE_SHAPE[0], frames // 3)
    np.testing.assert_allclose(image[0, :2], [ramp[0, :3].mean(), ramp[0, 3:6].mean()], rtol=1e-5)
    assert image.min() >= 0.0 and image.max() <= 1.0


def test_an_estimate_without_masks_gives_an_empty_image() -> None:
    image = mask_image(Estimate(0, 10, audio=np.zeros(10, dtype=np.float32)))
    assert image.shape == (1, 1) and not image.any()
