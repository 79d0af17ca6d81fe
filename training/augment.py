"""Changes of a source's sound in a training mixture (numpy only; ``training.mixes`` and
``training.timbres`` draw them): an equaliser, changes of timbre (resampling, soft clipping, a
room) and of texture (dynamics, a chorus), a gap where the source is silent, and the imperfect
first look that the second look hears a song through (:func:`without_others`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from training.corpus import FULL_SCALE, SAMPLE_RATE

EQ_POINTS = (60.0, 150.0, 400.0, 1000.0, 2500.0, 6000.0)  # Hz, the equaliser's control points
ENVELOPE_SECONDS = 0.02  # texture: the window of the envelope that dynamics follow
GAP_FADE_SECONDS = 0.01  # gaps: the fade out of and back into a gap
LOOK_FFT = 1024  # second look: the STFT it takes them away on (the separator's, hop n/4)


@dataclass(frozen=True)
class Timbre:
    """A random change of a source's timbre beyond the equaliser (:func:`source_audio`)."""

    rate: float = 1.0  # resampling factor: pitch, formants and tempo times ``rate``
    drive: float = 0.0  # soft clipper's drive (0: none)
    room: float = 0.0  # RT60 of the synthetic room in seconds (0: none)
    wet: float = 0.0  # the room's share of the sound
    room_seed: int = 0  # seed of the room's noise
    dynamics: float = 0.0  # exponent of the envelope's gain: > 0 expands, < 0 compresses
    detune: float = 0.0  # the chorus copy's detuning in cents (0: no chorus)
    delay: float = 0.0  # the chorus copy's delay in seconds
    chorus: float = 0.0  # the chorus copy's level against the dry sound
    gap: tuple[float, float] = (0.0, 0.0)  # the share of the crop where it is silent (from, to)

    def span(self, n: int) -> int:
        """How many input samples make ``n`` output samples."""
        return n if self.rate == 1.0 else math.ceil((n - 1) * self.rate) + 1


def equalise(audio: np.ndarray, eq: tuple[float, ...], rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` through a zero-phase equaliser: ``eq[k]`` dB at ``EQ_POINTS[k]``.

    The gain curve is linear in dB over log-frequency between the points and flat beyond
    them. An empty ``eq`` returns the audio unchanged.
    """
    if not eq:
        return audio
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(len(audio), 1.0 / rate)
    db = np.interp(np.log(np.maximum(freqs, 1.0)), np.log(EQ_POINTS), np.asarray(eq))
    return np.fft.irfft(spectrum * 10.0 ** (db / 20.0), n=len(audio)).astype(audio.dtype)


def resample(audio: np.ndarray, rate: float, n: int) -> np.ndarray:
    """``n`` samples of ``audio`` read ``rate`` times faster (linear interpolation).

    ``audio`` needs ``Timbre(rate).span(n)`` samples.
    """
    if rate == 1.0:
        return audio[:n]
    return np.interp(np.arange(n) * rate, np.arange(len(audio)), audio).astype(audio.dtype)


def soft_clip(audio: np.ndarray, drive: float) -> np.ndarray:
    """``audio`` through ``tanh``, driven so that its peak goes in at ``drive`` (0: unchanged)."""
    peak = float(np.max(np.abs(audio)))
    if drive <= 0 or peak <= 0:
        return audio
    return (np.tanh(audio * (drive / peak)) * (peak / math.tanh(drive))).astype(audio.dtype)


def room(audio: np.ndarray, rt60: float, wet: float, seed: int,
         rate: int = SAMPLE_RATE) -> np.ndarray:  # fmt: skip
    """``audio`` in a synthetic room: Gaussian noise decaying by 60 dB in ``rt60`` seconds.

    The response has unit energy; ``wet`` of the result is the room, ``1 - wet`` the dry sound.
    """
    if rt60 <= 0 or wet <= 0:
        return audio
    length = round(rt60 * rate)
    t = np.arange(length, dtype=np.float32) / np.float32(rate)
    noise = np.random.default_rng(seed).standard_normal(length, dtype=np.float32)
    response = noise * np.float32(10.0) ** (np.float32(-3.0 / rt60) * t)
    response /= np.sqrt(np.sum(response**2))
    size = scipy.fft.next_fast_len(len(audio) + length - 1, real=True)
    tail = scipy.fft.irfft(scipy.fft.rfft(audio, size) * scipy.fft.rfft(response, size), size)
    return ((1.0 - wet) * audio + wet * tail[: len(audio)]).astype(audio.dtype)


def dynamics(audio: np.ndarray, exponent: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` times its own envelope, relative to its RMS, to the power ``exponent``.

    The envelope is the RMS over :data:`ENVELOPE_SECONDS`; the gain is clipped to ±20 dB.
    Above 0 the loud moments get louder and the tails shorter (an expander: a sharper attack,
    a faster decay); below 0 the tails are raised (a compressor: a longer sustain). 0 returns
    the audio unchanged.
    """
    if exponent == 0:
        return audio
    window = max(1, round(ENVELOPE_SECONDS * rate))
    padded = np.pad(np.square(audio, dtype=np.float64), (window // 2, window - 1 - window // 2))
    total = np.concatenate(([0.0], np.cumsum(padded)))
    power = np.maximum(total[window:] - total[:-window], 0.0) / window  # centred moving mean
    level = np.sqrt(np.mean(np.square(audio, dtype=np.float64))) + 1e-6
    gain = np.clip(((np.sqrt(power) + 1e-6) / level) ** exponent, 0.1, 10.0)
    return (audio * gain).astype(audio.dtype)


def chorus(audio: np.ndarray, cents: float, delay: float, wet: float,
           rate: int = SAMPLE_RATE) -> np.ndarray:  # fmt: skip
    """``audio`` with a copy of itself detuned by ``cents`` and delayed by ``delay`` seconds,
    at ``wet`` times its level (a layered or doubled sample); 0 cents: unchanged.

    The copy is read ``2^(cents/1200)`` times faster around the crop's middle, so its delay
    drifts by a few milliseconds across a crop, as in a chorus.
    """
    if cents == 0 or wet <= 0:
        return audio
    n = len(audio)
    where = (np.arange(n) - n / 2) * 2.0 ** (cents / 1200.0) + n / 2 - delay * rate
    copy = np.interp(where, np.arange(n), audio, left=0.0, right=0.0)
    return ((audio + wet * copy) / (1.0 + wet)).astype(audio.dtype)


def without_others(mix: np.ndarray, target: np.ndarray, recall: float,
                   leak: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The mixture and its target as the second look hears them: the other sources taken away
    by an imperfect first look (``core.separation.refine``).

    In each bin of an STFT, with r the others' share of the magnitude, ``recall * r +
    leak * (1 - r)`` is taken away: most of where the others dominate, a little of where the
    target does. The target loses what the mixture loses (a second look keeps only what it
    hears). Both come back as float32 of the mixture's length.
    """
    from scipy.signal import istft, stft  # imported here: scipy.signal takes a second

    hop = LOOK_FFT // 4
    _, _, spec = stft(np.stack([target, mix - target]), nperseg=LOOK_FFT,
                      noverlap=LOOK_FFT - hop)  # fmt: skip
    own, others = np.abs(spec[0]), np.abs(spec[1])
    share_of_others = others / (own + others + 1e-12)
    keep = 1.0 - (recall * share_of_others + leak * (1.0 - share_of_others))
    heard = np.stack([(spec[0] + spec[1]) * keep, spec[0] * keep])
    _, out = istft(heard, nperseg=LOOK_FFT, noverlap=LOOK_FFT - hop)
    n = len(mix)
    out = np.pad(out[:, :n], ((0, 0), (0, max(0, n - out.shape[1]))))
    return out[0].astype(np.float32), out[1].astype(np.float32)


def source_audio(data: np.ndarray, start: int, n: int, eq: tuple[float, ...] = (),
                 timbre: Timbre = Timbre()) -> np.ndarray:  # fmt: skip
    """The ``n`` samples (float32, full scale 1) that a stem's crop from ``start`` becomes.

    Resampled, equalised, changed in dynamics, doubled by a chorus, soft-clipped, silenced in
    its gap and put in a room (whose tail rings on into the gap), in that order.
    """
    raw = data[start : start + timbre.span(n)].astype(np.float32) / np.float32(FULL_SCALE)
    audio = dynamics(equalise(resample(raw, timbre.rate, n), eq), timbre.dynamics)
    audio = chorus(audio, timbre.detune, timbre.delay, timbre.chorus)
    audio = silence(soft_clip(audio, timbre.drive), timbre.gap)
    return room(audio, timbre.room, timbre.wet, timbre.room_seed)


def silence(audio: np.ndarray, gap: tuple[float, float], rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` silent over ``gap`` (shares of its length, from and to), faded out before it
    and in after it over :data:`GAP_FADE_SECONDS`: an instrument that stops or enters within
    the crop. An empty gap returns ``audio`` itself."""
    n = len(audio)
    first, last = round(gap[0] * n), round(gap[1] * n)
    if last <= first:
        return audio
    fade = max(1, round(GAP_FADE_SECONDS * rate))
    t = np.arange(n, dtype=np.float64)
    into = np.clip((first - t) / fade, 0.0, 1.0) if first > 0 else np.zeros(n)
    out_of = np.clip((t - last) / fade, 0.0, 1.0) if last < n else np.zeros(n)
    envelope = np.maximum(into, out_of)
    return (audio * envelope.astype(np.float32)).astype(audio.dtype)
