"""The scores of a set summarised: one row per source and ``ALL``, as a text table or a JSON
report beside every pair's score (``scoring.PairScore``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tagbox_gui.core.audio.atomic import write_json_atomically
from tagbox_gui.core.evaluation.scoring import GAIN_ONLY, PairScore


def left_out(scores: list[PairScore]) -> list[tuple[PairScore, str]]:
    """The scored pairs left out of a mean, each with why. One whose SDRi is not a finite
    number (e.g. the SDR of a mix that is its source alone is infinite) counts in no mean, nor
    in a row's ``n``; one whose SDRi is a number but SI-SDRi is not (an estimate, or a mix,
    that is its source scaled: an SI-SDR of +inf) counts in ``n`` and the SDRi means but in no
    mean or median SI-SDRi. A silent estimate has no SI-SDRi: the ``silent`` column counts it."""
    out = []
    for s in scores:
        if s.status != "ok":
            continue
        if not _counted(s):
            out.append((s, "an SDR that is not a finite number, e.g. of a mix that is its "
                           "source alone: in no mean"))  # fmt: skip
        elif s.si_sdri is not None and not math.isfinite(s.si_sdri):
            scaled = [side for side, value in (("estimate", s.si_sdr_est), ("mix", s.si_sdr_mix))
                      if value == math.inf]  # fmt: skip
            what = f"the {' and the '.join(scaled)} is its source scaled, an SI-SDR of +inf"
            out.append((s, f"{what if scaled else 'an SI-SDR that is not a finite number'}: "
                           "in no mean or median SI-SDRi"))  # fmt: skip
    return out


def left_out_line(scores: list[PairScore]) -> str | None:
    """The line under the table naming the pairs left out of a mean and why (:func:`left_out`);
    None when every scored pair counts."""
    if not (pairs := left_out(scores)):
        return None
    return "left out of the means: " + "; ".join(f"{s.song}/{s.source} ({why})" for s, why in pairs)


def _counted(score: PairScore) -> bool:
    return score.status == "ok" and score.sdri is not None and math.isfinite(score.sdri)


def _row(scores: list[PairScore]) -> dict[str, float | int | None]:
    ok = [s for s in scores if _counted(s)]
    values = np.array([s.sdri for s in ok])
    si = _finite(s.si_sdri for s in ok)
    # over every scored pair: one silent wherever the source plays has no SDR (no window)
    silent = sum(s.status == "ok" and s.silent for s in scores)
    ranked = np.concatenate([si, np.full(silent, -np.inf)])  # a silent estimate ranks last
    median_si = float(np.median(ranked)) if ranked.size else None
    gain = _finite(s.sdri_gain_only for s in ok)
    scores_out = [s for s, _ in left_out(scores)]
    nonfinite_si = sum(_counted(s) for s in scores_out)
    return {
        "n": len(ok),
        "missing": sum(s.status == "missing" for s in scores),
        "skipped": sum(s.status == "skipped" for s in scores),
        "nonfinite": len(scores_out) - nonfinite_si,
        "nonfinite_si_sdri": nonfinite_si,  # counted in n, in no mean or median SI-SDRi
        "zero_est": sum(s.status == "ok" and s.zero_estimate for s in scores),
        "silent": silent,
        "mean_sdri": float(values.mean()) if ok else None,
        "median_sdri": float(np.median(values)) if ok else None,
        "mean_sdr_est": float(np.mean([s.sdr_est for s in ok])) if ok else None,
        "mean_sdr_mix": float(np.mean([s.sdr_mix for s in ok])) if ok else None,
        # a mean over a silent estimate, whose SI-SDR is undefined, is undefined too
        "mean_si_sdri": float(si.mean()) if si.size and not silent else None,
        "median_si_sdri": median_si if median_si is not None and np.isfinite(median_si) else None,
        "mean_sdri_gain_only": float(gain.mean()) if gain.size else None,
    }


def _finite(values: Iterable[float | None]) -> np.ndarray:
    """The values that are numbers: not None, NaN or infinite."""
    return np.array([v for v in values if v is not None and math.isfinite(v)])


def summarise(results: list[PairScore]) -> dict[str, dict[str, float | int | None]]:
    """One row per source, in order of first appearance, and ``ALL`` over every pair."""
    by_source: dict[str, list[PairScore]] = {}
    for score in results:
        by_source.setdefault(score.source, []).append(score)
    rows = {source: _row(scores) for source, scores in by_source.items()}
    rows["ALL"] = _row(results)
    rows["ALL"]["mean_sdr_est"] = rows["ALL"]["mean_sdr_mix"] = None
    return rows


def format_table(rows: dict[str, dict[str, float | int | None]]) -> str:
    """The per-source table as text (mean/median SDRi, mean SDRs, counts, mean/median SI-SDRi,
    and the mean SDRi of the gain-only baseline, ``gainSDRi``), with a legend of the counts
    under it. ``zero`` counts the estimates that are all zeros, ``silent`` those that hold
    nothing of the source where it plays (silent there, or orthogonal to it: ``scoring``),
    over which no mean SI-SDRi is given."""

    def num(value: float | int | None, width: int = 9) -> str:
        return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"

    lines = [f"{'source':<12}{'meanSDRi':>9}{'medSDRi':>9}{'SDRest':>9}{'SDRmix':>9}"
             f"{'n':>5}{'miss':>6}{'skip':>6}{'zero':>6}{'silent':>7}{'meanSI-SDRi':>12}"
             f"{'medSI-SDRi':>11}{'gainSDRi':>9}"]  # fmt: skip
    for source, r in rows.items():
        lines.append(
            f"{source:<12}{num(r['mean_sdri'])}{num(r['median_sdri'])}{num(r['mean_sdr_est'])}"
            f"{num(r['mean_sdr_mix'])}{r['n']:>5}{r['missing']:>6}{r['skipped']:>6}{r['zero_est']:>6}"
            f"{r['silent']:>7}{num(r['mean_si_sdri'], 12)}{num(r['median_si_sdri'], 11)}"
            f"{num(r['mean_sdri_gain_only'])}"
        )
    lines += [
        "n = pairs (a source of a song) scored, each in the SDRi means; miss = no estimate, not "
        "scored;",
        "skip = not scored (a silent true stem, or nothing to score);",
        "zero = estimates all zeros, each an SDR of 0 dB; silent = estimates with nothing of the "
        "source in",
        "half or more of the seconds it plays, over which no mean SI-SDRi is given",
    ]
    return "\n".join(lines)


def write_report(path: Path, results: list[PairScore], extra: dict[str, object]) -> None:
    """Write the summary, every pair's score and ``extra`` (settings, timings) as strict JSON:
    a score that is not finite (the SDR of a mix that is its one source) is null."""
    report = {
        "metric": "BSS Eval v4 SDR (museval images, 1 s windows, median over windows); "
        "SDRi = SDR(estimate) - SDR(mixture); SI-SDRi = SI-SDR(estimate) - SI-SDR(mixture), "
        "the scale-invariant SDR (Le Roux et al. 2019, no mean removed) on the same windows; the "
        "gain-only "
        f"baseline is {GAIN_ONLY:g} * mix (its SDRi: sdri_gain_only)",
        **extra,
        "summary": summarise(results),
        "left_out_of_means": [
            {"song": s.song, "source": s.source, "why": why} for s, why in left_out(results)
        ],
        "results": [asdict(s) for s in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, report)
