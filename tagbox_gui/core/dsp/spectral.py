"""Differentiable signal processing: STFT/iSTFT, resampling and the taggers' front ends.

Everything here is plain torch (no torchaudio, which does not load with torch 2.13) and keeps
the autograd graph, because the optimisation differentiates the tagger loss with respect to the
audio. The resampler and the mel / dB front end reproduce torchaudio's ``Resample``,
``MelSpectrogram`` and ``AmplitudeToDB`` with their default arguments, which the published
taggers were trained and evaluated with.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor, nn

# --------------------------------------------------------------------------------------------
# Engine STFT: periodic sqrt-Hann window, hop n/2 (or n/4), centred frames with reflect
# padding.
# --------------------------------------------------------------------------------------------

_SQRT_HANN: dict[tuple[int, torch.device, torch.dtype], Tensor] = {}


def sqrt_hann(
    n_fft: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> Tensor:
    """The square root of a periodic Hann window of ``n_fft`` samples (cached per device/dtype).

    At hop n/2 the squared window sums to one, so analysis and synthesis with it reconstruct
    the signal exactly.
    """
    key = (n_fft, torch.device(device), dtype)
    window = _SQRT_HANN.get(key)
    if window is None:
        window = torch.hann_window(n_fft, periodic=True, dtype=dtype, device=device).sqrt()
        _SQRT_HANN[key] = window
    return window


def stft(x: Tensor, n_fft: int, hops_per_window: int = 2) -> Tensor:
    """Complex STFT ``[..., n_fft/2+1, frames]`` of real ``x [..., T]`` (sqrt-Hann, hop
    ``n_fft / hops_per_window``: n/2 by default, n/4 for a mask with a finer time grid)."""
    lead = x.shape[:-1]
    window = sqrt_hann(n_fft, x.device, x.dtype)
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]),
        n_fft,
        hop_length=n_fft // hops_per_window,
        window=window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: Tensor, n_fft: int, length: int, hops_per_window: int = 2) -> Tensor:
    """Inverse of :func:`stft`: real ``[..., length]`` from ``[..., n_fft/2+1, frames]``.

    At hop n/4 the squared windows overlap-add to two, not one; ``torch.istft`` divides by
    their sum, so the inverse is exact at either hop."""
    lead = spec.shape[:-2]
    window = sqrt_hann(n_fft, spec.device, spec.real.dtype)
    audio = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]),
        n_fft,
        hop_length=n_fft // hops_per_window,
        window=window,
        center=True,
        normalized=False,
        onesided=True,
        length=length,
    )
    return audio.reshape(*lead, length)


# --------------------------------------------------------------------------------------------
# Resampling: torchaudio's default Resample (windowed sinc, Hann, 6 zero crossings, rolloff 0.99)
# --------------------------------------------------------------------------------------------

LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99


def _reduced(orig: int, new: int) -> tuple[int, int]:
    if int(orig) != orig or int(new) != new or orig <= 0 or new <= 0:
        raise ValueError(f"sample rates must be positive integers, got {orig} and {new}")
    gcd = math.gcd(int(orig), int(new))
    return int(orig) // gcd, int(new) // gcd


@functools.lru_cache(maxsize=16)
def _sinc_kernel64(orig: int, new: int) -> tuple[Tensor, int]:
    """The polyphase kernel ``[new, 1, 2*width + orig]`` in float64, and its half width.

    Output phase j (time j/new) weights input sample i (time i/orig) with
    sinc(pi*base*(i/orig - j/new)) * hann, base = min(orig, new) * rolloff; shifting j by
    ``new`` shifts i by ``orig``, hence a conv1d with stride ``orig``.
    """
    orig, new = _reduced(orig, new)
    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_FILTER_WIDTH * orig / base)
    idx = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    # torchaudio divides an integer arange by `new` in the default dtype (float32) before
    # adding the float64 offsets; doing the same keeps our kernel bit-equal to theirs.
    phase = torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new
    t = ((phase.double() + idx) * base).clamp(-LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH)
    window = torch.cos(t * math.pi / LOWPASS_FILTER_WIDTH / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), t.sin() / t)
    return sinc * window * (base / orig), width


_KERNELS: dict[tuple[int, int, torch.dtype, torch.device], Tensor] = {}


def sinc_resample_kernel(
    orig: int, new: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> tuple[Tensor, int]:
    """Cached resampling kernel ``[new', 1, K]`` for ``orig -> new`` Hz and its half width."""
    kernel64, width = _sinc_kernel64(*_reduced(orig, new))
    key = (*_reduced(orig, new), dtype, torch.device(device))
    kernel = _KERNELS.get(key)
    if kernel is None:
        kernel = kernel64.to(device=device, dtype=dtype)
        _KERNELS[key] = kernel
    return kernel, width


def resample(x: Tensor, orig: int, new: int) -> Tensor:
    """Resample ``x [..., T]`` from ``orig`` to ``new`` Hz; length ``ceil(new * T / orig)``.

    Differentiable; equal to ``torchaudio.functional.resample`` with default arguments.
    """
    if orig == new:
        return x
    orig_r, new_r = _reduced(orig, new)
    kernel, width = sinc_resample_kernel(orig, new, x.dtype, x.device)
    length = x.shape[-1]
    flat = x.reshape(-1, length)
    padded = nn.functional.pad(flat, (width, width + orig_r))
    out = nn.functional.conv1d(padded[:, None], kernel, stride=orig_r)
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    target = math.ceil(new_r * length / orig_r)
    return out[:, :target].reshape(*x.shape[:-1], -1)


# --------------------------------------------------------------------------------------------
# Tagger front ends. Module and buffer names follow the published checkpoints' keys
# (`spec.spectrogram.window`, `spec.mel_scale.fb`, `hstft.spec.window`, `hstft.bw_Q`).
# --------------------------------------------------------------------------------------------

AMIN = 1e-10


def amplitude_to_db(power: Tensor) -> Tensor:
    """10*log10(max(power, 1e-10)): torchaudio's AmplitudeToDB (power, ref 1, no top_db)."""
    return 10.0 * torch.log10(torch.clamp(power, min=AMIN))


class PowerSpectrogram(nn.Module):
    """|STFT|^2 with a stored window, hop n/2, centred frames with reflect padding."""

    def __init__(self, n_fft: int = 512) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, x: Tensor) -> Tensor:
        spec = torch.stft(
            x,
            self.n_fft,
            hop_length=self.window.numel() // 2,
            win_length=self.window.numel(),
            window=self.window,
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        # abs().pow(2) rather than re^2 + im^2: the same operations as torchaudio, so the
        # numbers (and gradients) agree to the last bits.
        return spec.abs().pow(2.0)


class MelScale(nn.Module):
    """Projects a power spectrogram ``[B, F, T]`` onto the stored filterbank ``fb [F, M]``."""

    def __init__(self, n_freqs: int = 257, n_mels: int = 96) -> None:
        super().__init__()
        self.register_buffer("fb", torch.zeros(n_freqs, n_mels))

    def forward(self, power: Tensor) -> Tensor:
        return torch.matmul(power.transpose(-1, -2), self.fb).transpose(-1, -2)


class MelSpectrogram(nn.Module):
    """Mel power spectrogram ``[B, n_mels, frames]`` (torchaudio's MelSpectrogram, power 2)."""

    def __init__(self, n_fft: int = 512, n_mels: int = 96) -> None:
        super().__init__()
        self.spectrogram = PowerSpectrogram(n_fft)
        self.mel_scale = MelScale(n_fft // 2 + 1, n_mels)

    def forward(self, x: Tensor) -> Tensor:
        return self.mel_scale(self.spectrogram(x))


def harmonic_centre_frequencies(
    sample_rate: int = 16000, n_harmonic: int = 6, semitone_scale: int = 2
) -> tuple[np.ndarray, int]:
    """Centre frequencies of HarmonicCNN's filters (float32, harmonic-major) and bands per harmonic.

    Fundamentals are spaced 1/semitone_scale semitones apart from C1 (MIDI 24) up to (but
    excluding) the note nearest to the frequency whose ``n_harmonic``-th harmonic is Nyquist.
    """
    low_midi = 24
    top_hz = sample_rate / (2 * n_harmonic)
    high_midi = int(np.round(12 * (np.log2(top_hz) - np.log2(440.0)) + 69))
    level = (high_midi - low_midi) * semitone_scale
    midi = np.linspace(low_midi, high_midi, level + 1)[:-1]
    hz = 440.0 * (2.0 ** ((midi - 69.0) / 12.0))
    harmonics = np.concatenate([hz * (k + 1) for k in range(n_harmonic)])
    return harmonics.astype(np.float32), level


class HarmonicSTFT(nn.Module):
    """HarmonicCNN's front end: triangular band-pass filters at harmonics of MIDI-spaced f0s.

    Output ``[B, n_harmonic, level, frames]`` in dB. The bandwidth of a filter at f is
    (0.1079 f + 24.7) / Q with the learnt Q (``bw_Q``), as in Won et al. (ICASSP 2020).
    """

    BW_ALPHA = 0.1079
    BW_BETA = 24.7

    def __init__(self, sample_rate: int = 16000, n_fft: int = 512, n_harmonic: int = 6) -> None:
        super().__init__()
        self.n_harmonic = n_harmonic
        self.spec = PowerSpectrogram(n_fft)
        self.bw_Q = nn.Parameter(torch.ones(1))
        f0, self.level = harmonic_centre_frequencies(sample_rate, n_harmonic)
        self.register_buffer("f0", torch.from_numpy(f0), persistent=False)
        bins = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1)
        self.register_buffer("fft_bins", bins, persistent=False)

    def filterbank(self) -> Tensor:
        """The triangular filterbank ``[n_bins, n_bands]`` for the current ``bw_Q``."""
        bw = ((self.BW_ALPHA * self.f0 + self.BW_BETA) / self.bw_Q)[None]
        f0 = self.f0[None]
        bins = self.fft_bins[:, None]
        # Same association order as the published code, so float32 rounding agrees.
        up = torch.matmul(bins, 2 / bw) + 1 - (2 * f0 / bw)
        down = torch.matmul(bins, -2 / bw) + 1 + (2 * f0 / bw)
        return torch.clamp(torch.minimum(down, up), min=0.0)

    def forward(self, x: Tensor) -> Tensor:
        power = self.spec(x)  # [B, F, T]; the bank is 257 x 768, far cheaper than the CNN
        bands = torch.matmul(power.transpose(1, 2), self.filterbank()).transpose(1, 2)
        b, _, frames = bands.shape
        return amplitude_to_db(bands.reshape(b, self.n_harmonic, self.level, frames))
