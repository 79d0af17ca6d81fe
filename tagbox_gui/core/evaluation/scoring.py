"""How well a backend separates: BSS Eval v4 SDR on a rendered set with true stems.

A set is laid out like ``shared/eval/dev`` (``core.evaluation.sets``); estimates live in
``EST/<song>/<source>.wav``. The metric is museval's BSS Eval v4 SDR (images, one filter set per
track, 1 s windows with 1 s hop, median over windows). For a single source that SDR equals
``10 log10(|s|^2 / |s_hat - s|^2)`` on every window exactly, so it is computed here in NumPy.
``SDRi = SDR(estimate) - SDR(mixture used as the estimate)``.

That SDR is not scale-invariant, and on a mix of several equally loud sources attenuation alone
scores well: on shared/eval/dev, ``0.2 * mix`` gets a mean SDRi of 7.3 dB and silence 6.5 dB
(see docs/light_backend.md). So every score also carries the scale-invariant SDR (SI-SDR, Le
Roux et al. 2019) on the same windows: the estimate is projected on the reference in each
window, so a gain - constant or not across windows - earns nothing, and only separation
raises ``SI-SDRi``.

The SI-SDR is Le Roux et al.'s without its zero-mean step: no mean is removed from the
reference ``s`` or the estimate ``e``. In each window, ``a = <e, s> / <s, s>`` and
``SI-SDR = 10 log10(|a s|^2 / |e - a s|^2)`` on the samples as they are (+inf where
``e = a s``), so an offset in the estimate counts as error; the track's SI-SDR is the median
over the windows, those where the reference is all zeros left out, as for the SDR. The team's
scorer (``shared/eval/score.py``) has no SI-SDR: only the SDR is checked against it.

The edge cases follow the team's scorer (``shared/eval/score.py``): a missing estimate is
counted, not scored; a silent reference is skipped; a longer estimate is trimmed and a shorter
one zero-padded; stereo is averaged; another rate is resampled; NaN/Inf become 0; an all-zero
estimate scores 0 dB.

That last rule, museval's, gives silence an SDRi above 0 wherever the source is quieter than
the rest. The SI-SDR has no such rule to follow, and silence must not score there: a window
where the source plays and the estimate holds nothing of it (all zeros, or nothing along the
source: its projection on the source is zero, the limit of an ever smaller one) has an SI-SDR
of −∞ (it ranks last in the median, where museval's SDR leaves an all-zero window out), and an
estimate like that in half or more of those windows, or all zeros, is ``silent``: its SI-SDR is
undefined, and so is any mean SI-SDRi over it (``core.evaluation.report``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.evaluation.sets import list_set, stem_path

SILENCE_DB = -120.0  # a reference quieter than this over the whole song is "silent"

GAIN_ONLY = 0.2
"""The gain-only baseline is ``GAIN_ONLY * mix``: no separation, and an SDRi of about 7 dB on
dev. Every pair is scored against it too; its SI-SDRi is 0 by construction."""


@dataclass
class PairScore:
    """The score of one source of one song (``status``: ok, missing or skipped)."""

    song: str
    source: str
    status: str = "ok"
    sdr_est: float | None = None
    sdr_mix: float | None = None
    sdri: float | None = None
    si_sdr_est: float | None = None  # scale-invariant SDR; None for a silent estimate
    si_sdr_mix: float | None = None
    si_sdri: float | None = None
    sdri_gain_only: float | None = None  # the SDRi of GAIN_ONLY * mix against the same stem
    n_windows: int = 0
    zero_estimate: bool = False
    silent: bool = False  # nothing of the source in half or more of the windows where it plays
    notes: list[str] = field(default_factory=list)


def window_slices(n: int, win: int, hop: int) -> list[slice]:
    """museval's framing: full windows with hop ``hop``; one (short) window if ``win >= n``."""
    count = int(np.floor((n - win + hop) / hop)) if win < n else 1
    return [slice(t * hop, min(t * hop + win, n)) for t in range(count)]


def framewise_sdr(ref: np.ndarray, est: np.ndarray, win: int, hop: int) -> np.ndarray:
    """SDR in dB of every window (NaN where the reference or the estimate is all zeros)."""
    out = np.full(len(window_slices(len(ref), win, hop)), np.nan)
    for i, sl in enumerate(window_slices(len(ref), win, hop)):
        r, e = ref[sl], est[sl]
        if not np.any(r) or not np.any(e):
            continue  # museval leaves such windows undefined
        err = np.sum((e - r) ** 2)
        out[i] = np.inf if err == 0 else 10 * np.log10(np.sum(r**2) / err)
    return out


def framewise_si_sdr(ref: np.ndarray, est: np.ndarray, win: int, hop: int) -> np.ndarray:
    """Scale-invariant SDR in dB of every window: NaN where the reference is all zeros, −∞
    where it plays and the estimate holds nothing of it (all zeros, or orthogonal to it: its
    projection on the source is zero).

    In each window the reference is scaled to the estimate's projection on it, so the score
    does not change when the estimate is multiplied by any non-zero gain; no mean is removed
    first (the definition is in the module's docstring).
    """
    out = np.full(len(window_slices(len(ref), win, hop)), np.nan)
    for i, sl in enumerate(window_slices(len(ref), win, hop)):
        r, e = ref[sl], est[sl]
        if not np.any(r):
            continue
        target = (np.dot(e, r) / np.dot(r, r)) * r
        power, err = np.sum(target**2), np.sum((e - target) ** 2)
        if power == 0:  # nothing of the source was given
            out[i] = -np.inf
        else:
            out[i] = np.inf if err == 0 else 10 * np.log10(power / err)
    return out


def _median(frames: np.ndarray) -> float:
    frames = frames[~np.isnan(frames)]
    return float(np.median(frames)) if frames.size else float("nan")


def track_sdr(ref: np.ndarray, est: np.ndarray, rate: int, window_s: float = 1.0) -> float:
    """museval's per-track SDR: the median of the window SDRs, undefined windows ignored."""
    step = round(window_s * rate)
    return _median(framewise_sdr(ref, est, step, step))


def track_si_sdr(ref: np.ndarray, est: np.ndarray, rate: int, window_s: float = 1.0) -> float:
    """The median over windows of the scale-invariant SDR (same windows as :func:`track_sdr`);
    −∞ when the estimate holds nothing of the source in half or more of the windows where it
    plays (see :func:`framewise_si_sdr`)."""
    step = round(window_s * rate)
    return _median(framewise_si_sdr(ref, est, step, step))


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """A file as float64 mono (channels averaged) and its rate."""
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot read {path} ({exc}); check that it is an audio file") from exc
    return data.mean(axis=1), int(rate)


def conform_estimate(
    est: np.ndarray, rate: int, channels: int, ref_len: int, ref_rate: int, notes: list[str]
) -> np.ndarray:
    """Bring an estimate onto the reference's rate and length, noting every change."""
    if channels > 1:
        notes.append(f"estimate has {channels} channels: averaged to mono")
    if rate != ref_rate:
        from scipy.signal import resample_poly

        frac = Fraction(ref_rate, rate).limit_denominator(1000)
        est = resample_poly(est, frac.numerator, frac.denominator)
        notes.append(f"estimate at {rate} Hz: resampled to {ref_rate} Hz")
    finite = np.isfinite(est)
    if not np.all(finite):
        notes.append(f"{int(np.sum(~finite))} non-finite samples set to 0")
        est = np.where(finite, est, 0.0)
    if len(est) != ref_len:
        diff = len(est) - ref_len
        action = "trimmed" if diff > 0 else "zero-padded"
        notes.append(f"length {len(est)} vs reference {ref_len} ({diff:+d} samples): {action}")
        est = est[:ref_len] if diff > 0 else np.pad(est, (0, -diff))
    return est


def score_arrays(
    score: PairScore, ref: np.ndarray, est: np.ndarray, mix: np.ndarray, rate: int
) -> None:
    """Fill ``score`` with the (SI-)SDR of ``est`` and of ``mix`` against ``ref`` (same length)."""
    score.sdr_mix = track_sdr(ref, mix, rate)
    score.si_sdr_mix = track_si_sdr(ref, mix, rate)
    score.sdri_gain_only = track_sdr(ref, GAIN_ONLY * mix, rate) - score.sdr_mix
    if not np.any(est):
        # museval refuses an all-zero estimate; 0 dB is its SNR and museval's limit.
        score.zero_estimate = score.silent = True
        score.notes.append("estimate is all zeros: scored as SDR 0 dB, SI-SDR undefined")
        score.sdr_est = 0.0
        score.n_windows = int(np.sum(~np.isnan(framewise_sdr(ref, mix, rate, rate))))
    else:
        score.sdr_est = track_sdr(ref, est, rate)
        si_sdr = track_si_sdr(ref, est, rate)
        if si_sdr == -math.inf:
            score.silent = True
            score.notes.append("estimate holds nothing of the source (all zeros, or nothing "
                               "along it) in half or more of the windows where it plays: "
                               "SI-SDR undefined")  # fmt: skip
        else:
            score.si_sdr_est, score.si_sdri = si_sdr, si_sdr - score.si_sdr_mix
        score.n_windows = int(np.sum(~np.isnan(framewise_sdr(ref, est, rate, rate))))
    score.sdri = score.sdr_est - score.sdr_mix
    if not (math.isfinite(score.sdr_est) and math.isfinite(score.sdr_mix)):
        score.notes.append("non-finite SDR (a window with zero error or no usable window)")


def find_estimate(est_dir: Path, song: str, source: str) -> Path | None:
    """``EST/<song>/<source>.wav`` or ``.flac``, whichever exists."""
    for ext in (".wav", ".flac"):
        path = est_dir / song / f"{source}{ext}"
        if path.is_file():
            return path
    return None


def score_source(
    set_dir: Path, est_dir: Path, song: str, source: str, score_from: float = 0.0
) -> PairScore:
    """Score one estimate of a set (reads the mixture, the true stem and the estimate).

    Only the song from ``score_from`` seconds on is scored (the estimate is conformed to
    the whole song first), e.g. to leave out a stretch that served as an example clip;
    ValueError for a ``score_from`` that is negative (it would count from the song's end) or
    not a finite number.
    """
    if not 0.0 <= score_from < math.inf:
        raise ValueError(f"score_from must be a number of seconds, 0 or more, not {score_from}")
    result = PairScore(song, source)
    mix, rate = read_mono(set_dir / song / "mix.flac")
    ref, ref_rate = read_mono(stem_path(set_dir, song, source))
    if ref_rate != rate or len(ref) != len(mix):
        result.status = "skipped"
        result.notes.append("reference stem and mixture differ in rate or length")
        return result
    first = round(score_from * rate)
    if first >= len(ref):
        result.status = "skipped"
        result.notes.append(f"the song ends before {score_from:g} s: nothing to score")
        return result
    full_length = len(ref)
    ref, mix = ref[first:], mix[first:]
    if not np.any(ref) or 20 * np.log10(np.sqrt(np.mean(ref**2)) + 1e-300) < SILENCE_DB:
        result.status = "skipped"
        result.notes.append("silent reference: not scored")
        return result
    path = find_estimate(est_dir, song, source)
    if path is None:
        result.status = "missing"
        return result
    try:
        data, est_rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        result.status = "missing"
        result.notes.append(f"unreadable estimate: {exc}")
        return result
    est = conform_estimate(data.mean(axis=1), est_rate, data.shape[1], full_length, rate,
                           result.notes)  # fmt: skip
    score_arrays(result, ref, est[first:], mix, rate)
    return result


def score_set(
    set_dir: Path,
    est_dir: Path,
    sources: tuple[str, ...] | None = None,
    score_from: float = 0.0,
) -> list[PairScore]:
    """Score every (listed) source of every song of a set, from ``score_from`` seconds on."""
    results = []
    for song, song_sources in list_set(set_dir):
        for source in song_sources:
            if sources is None or source in sources:
                results.append(score_source(set_dir, est_dir, song, source, score_from))
    return results
