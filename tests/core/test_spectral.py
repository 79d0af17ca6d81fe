"""STFT/iSTFT, the sinc resampler and the taggers' spectral front ends, against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tagbox_gui.core.dsp import spectral
from tagbox_gui.core.dsp.spectral import (
    HarmonicSTFT,
    MelSpectrogram,
    PowerSpectrogram,
    amplitude_to_db,
    harmonic_centre_frequencies,
    istft,
    resample,
    sinc_resample_kernel,
    sqrt_hann,
    stft,
)

RATE_PAIRS = [(44100, 16000), (48000, 16000), (22050, 16000), (16000, 44100), (32000, 16000)]


def _signal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


# ---------------------------------------------------------------------------- STFT / iSTFT


def test_sqrt_hann_is_periodic_and_cached() -> None:
    n = 16
    expected = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n))
    window = sqrt_hann(n)
    np.testing.assert_allclose(window.numpy(), expected, atol=1e-6)
    assert sqrt_hann(n) is window
    assert sqrt_hann(n, dtype=torch.float64) is not window


def _numpy_stft(x: np.ndarray, n: int) -> np.ndarray:
    padded = np.pad(x, n // 2, mode="reflect")
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n))
    hop = n // 2
    frames = 1 + (len(padded) - n) // hop
    segments = np.stack([padded[f * hop : f * hop + n] * window for f in range(frames)], axis=1)
    return np.fft.rfft(segments, axis=0)


@pytest.mark.parametrize("n_fft", [256, 1024])
def test_stft_matches_numpy(n_fft: int) -> None:
    x = _signal(5000)
    spec = stft(torch.from_numpy(x), n_fft)
    expected = _numpy_stft(x, n_fft)
    assert spec.shape == (n_fft // 2 + 1, 5000 // (n_fft // 2) + 1) == expected.shape
    np.testing.assert_allclose(spec.numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("shape", [(7000,), (2, 7001), (2, 3, 4096)])
@pytest.mark.parametrize("n_fft", [512, 2048])
def test_istft_inverts_stft(shape: tuple[int, ...], n_fft: int) -> None:
    x = torch.from_numpy(_signal(math.prod(shape)).reshape(shape))
    spec = stft(x, n_fft)
    assert spec.shape[:-2] == shape[:-1] and spec.shape[-2] == n_fft // 2 + 1
    back = istft(spec, n_fft, shape[-1])
    assert back.shape == x.shape
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-12)
    back32 = istft(stft(x.float(), n_fft), n_fft, shape[-1])
    np.testing.assert_allclose(back32.numpy(), x.numpy(), atol=2e-6)


# ---------------------------------------------------------------------------- resampling


def _numpy_resample_matrix(n: int, orig: int, new: int, float32_phase: bool) -> np.ndarray:
    """H with y = H x: y[j] = sum_i x[i] h(i/orig - j/new), h = Hann-windowed sinc, 6 zero
    crossings, cut-off 0.99 of the lower Nyquist; dense, float64.

    ``float32_phase`` rounds j/new (per polyphase branch) to float32 the way torchaudio's
    kernel does; without it this is the exact formula.
    """
    g = math.gcd(orig, new)
    orig, new = orig // g, new // g
    base, width = min(orig, new) * 0.99, 6
    block, phase = np.divmod(np.arange(math.ceil(new * n / orig)), new)
    if float32_phase:
        frac = (phase.astype(np.float32) / np.float32(new)).astype(np.float64)
    else:
        frac = phase / new
    t = (np.arange(n)[None, :] / orig - block[:, None] - frac[:, None]) * base
    t = np.clip(t, -width, width)
    return np.sinc(t) * np.cos(np.pi * t / (2 * width)) ** 2 * base / orig


def _numpy_resample(x: np.ndarray, orig: int, new: int, float32_phase: bool) -> np.ndarray:
    return _numpy_resample_matrix(len(x), orig, new, float32_phase) @ x


@pytest.mark.parametrize(("orig", "new"), RATE_PAIRS)
def test_resample_matches_numpy_formula(orig: int, new: int) -> None:
    x = _signal(1500, seed=orig)
    got = resample(torch.from_numpy(x), orig, new).numpy()
    same_rounding = _numpy_resample(x, orig, new, float32_phase=True)
    exact = _numpy_resample(x, orig, new, float32_phase=False)
    assert got.shape == (math.ceil(new * len(x) / orig),)
    np.testing.assert_allclose(got, same_rounding, atol=1e-12)
    # torchaudio's float32 phase moves the taps by ~1e-6 of a sample: negligible for audio.
    np.testing.assert_allclose(got, exact, atol=1e-5 * np.abs(x).max())
    got32 = resample(torch.from_numpy(x).float(), orig, new).numpy()
    np.testing.assert_allclose(got32, same_rounding, atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 440, 441, 442, 44100, 123457])
def test_resample_length(n: int) -> None:
    for orig, new in RATE_PAIRS:
        assert resample(torch.zeros(n), orig, new).shape[-1] == math.ceil(new * n / orig)


@pytest.mark.parametrize("freq", [440.0, 3000.0, 5000.0])
def test_tone_below_cutoff_keeps_its_amplitude(freq: float) -> None:
    # The Hann-windowed sinc with 6 zero crossings is flat to ~1e-3 up to 5 kHz and rolls
    # off from there to the 7.92 kHz cut-off (7 kHz keeps 81%), as torchaudio's does.
    t = np.arange(3 * 44100) / 44100
    y = resample(torch.from_numpy(np.sin(2 * np.pi * freq * t)), 44100, 16000).numpy()
    t16 = np.arange(len(y)) / 16000
    inner = slice(1000, -1000)  # away from the zero-padded edges
    np.testing.assert_allclose(y[inner], np.sin(2 * np.pi * freq * t16)[inner], atol=5e-3)


def test_tone_above_new_nyquist_is_removed() -> None:
    t = np.arange(44100) / 44100
    y = resample(torch.from_numpy(np.sin(2 * np.pi * 12000 * t)), 44100, 16000).numpy()
    # Without the low-pass it would alias to 4 kHz at full level (rms 0.71); measured 1.8e-3.
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) < 3e-3


def test_resample_is_differentiable_as_the_transposed_matrix() -> None:
    x = torch.from_numpy(_signal(900)).requires_grad_(True)
    weights = _signal(math.ceil(160 * 900 / 441), seed=1)
    (resample(x, 44100, 16000) * torch.from_numpy(weights)).sum().backward()
    matrix = _numpy_resample_matrix(900, 44100, 16000, float32_phase=True)
    np.testing.assert_allclose(x.grad.numpy(), matrix.T @ weights, atol=1e-12)


def test_resample_kernel_cache_shapes_and_identity() -> None:
    x = torch.from_numpy(_signal(3000)).float()
    assert torch.equal(resample(x[None, None], 44100, 16000)[0, 0], resample(x, 44100, 16000))
    assert resample(x, 16000, 16000) is x
    kernel, width = sinc_resample_kernel(44100, 16000)
    assert sinc_resample_kernel(88200, 32000)[0] is kernel  # same reduced ratio 441:160
    assert kernel.shape == (160, 1, 2 * width + 441) and width == 17
    assert sinc_resample_kernel(44100, 16000, torch.float64)[0].dtype == torch.float64
    with pytest.raises(ValueError, match="positive integers"):
        resample(x, 44100.5, 16000)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        resample(x, 0, 16000)


# ---------------------------------------------------------------------------- front ends


def test_amplitude_to_db_floors_at_minus_100() -> None:
    power = torch.tensor([0.0, 1e-12, 1e-10, 1.0, 100.0])
    np.testing.assert_allclose(amplitude_to_db(power).numpy(), [-100, -100, -100, 0, 20])


def test_power_and_mel_spectrogram_match_numpy() -> None:
    x = _signal(4000)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(512) / 512)
    spectrogram = PowerSpectrogram(512).double()
    spectrogram.window.copy_(torch.from_numpy(window))
    power = spectrogram(torch.from_numpy(x)[None])[0].numpy()
    padded = np.pad(x, 256, mode="reflect")
    frames = np.stack([padded[f * 256 : f * 256 + 512] * window for f in range(16)], axis=1)
    np.testing.assert_allclose(power, np.abs(np.fft.rfft(frames, axis=0)) ** 2, rtol=1e-9)
    mel = MelSpectrogram(512, 3).double()
    mel.spectrogram.window.copy_(torch.from_numpy(window))
    fb = np.random.default_rng(2).random((257, 3))
    mel.mel_scale.fb.copy_(torch.from_numpy(fb))
    np.testing.assert_allclose(mel(torch.from_numpy(x)[None])[0].numpy(), fb.T @ power, rtol=1e-9)


def test_harmonic_centre_frequencies() -> None:
    f0, level = harmonic_centre_frequencies(16000, 6, 2)
    assert level == 128 and f0.shape == (768,) and f0.dtype == np.float32
    midi = 24 + np.arange(128) / 2  # C1 upwards in half semitones, below E6 (1333 Hz / 6th)
    fundamentals = 440 * 2 ** ((midi - 69) / 12)
    expected = np.concatenate([fundamentals * k for k in range(1, 7)])
    np.testing.assert_allclose(f0, expected, rtol=1e-6)
    assert f0[0] == pytest.approx(32.703, abs=1e-3)


def test_harmonic_filterbank_is_triangular() -> None:
    hstft = HarmonicSTFT().double()
    with torch.no_grad():
        hstft.bw_Q.fill_(1.3)
        fb = hstft.filterbank().numpy()
    bins = np.linspace(0, 8000, 257)[:, None]
    f0 = hstft.f0.numpy()[None]
    bandwidth = (0.1079 * f0 + 24.7) / 1.3
    expected = np.maximum(0, 1 - 2 * np.abs(bins - f0) / bandwidth)
    np.testing.assert_allclose(fb, expected, atol=1e-9)
    with torch.no_grad():
        out = hstft(torch.from_numpy(_signal(8000))[None])
    assert out.shape == (1, 6, 128, 8000 // 256 + 1)


def test_caches_are_per_device_and_dtype() -> None:
    spectral._SQRT_HANN.clear()
    sqrt_hann(64)
    sqrt_hann(64, dtype=torch.float64)
    assert set(spectral._SQRT_HANN) == {
        (64, torch.device("cpu"), torch.float32),
        (64, torch.device("cpu"), torch.float64),
    }
