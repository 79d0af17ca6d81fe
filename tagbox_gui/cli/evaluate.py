"""`tagbox evaluate`: separate every source of a set with true stems, then score the estimates
(``tagbox evaluate --help`` lists every option and its default).

The set is laid out like shared/eval/dev (``<song>/mix.flac``, ``<song>/stems/<source>.flac``,
``manifest.json``). Each source name is the wanted tag. The sources of a song share its mixture
(``core.audio.estimates.share``) unless ``--no-share``; before they do, the learned separator
looks at each a second time without the others (``core.separation.refine``) unless
``--no-refine``. With the learned backend (0 steps), a
source is asked for by its prototype, fitted to the song where it has a fit (``--no-fit``: the
bare prototype), or with ``--example-seconds`` by the start of its true stem (from where it
starts to play, for a stem silent throughout those seconds); ``--score-from S`` then scores
each song from S seconds on, and a pair whose clip was taken later from S seconds after the
clip starts, so that those clips are not part of what is scored
(``core.evaluation.pairs.plan_pairs``). Stems are written as
``EST_DIR/<song>/<source>.wav``, next to the kept estimates (``<source>.estimate.npz``); kept
estimates are not made again, so an interrupted run resumes; an estimate made with other settings,
other weights (the separator's; the taggers' in ``--model-dir`` for an example or steps), from
other audio or by other separating code is made again. ``--alone`` separates each source as one
instrument asked for alone is (``tagbox separate --tags piano``): a single run, with its own
second look beside the bass and the drums, its stem not sharing the mix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagbox_gui.cli.common import (
    describe_backend_defaults,
)
from tagbox_gui.cli.evaluate_options import add_options
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.types import RunConfig, StepResult, config_record

if TYPE_CHECKING:
    from tagbox_gui.core.evaluation.driver import EvaluationRun
    from tagbox_gui.core.evaluation.pairs import EvaluationPlan
    from tagbox_gui.core.evaluation.sets import Unlisted

# The engine, torch and the scorer are imported when the command runs, so that
# `tagbox --help` starts quickly.


DESCRIPTION = """\
Separate every source of a set of songs whose true stems are known, and score the stems: SDRi
and SI-SDRi per source, beside the SDRi of a plain 0.2 x mix (a gain and no separation, whose
SI-SDRi is 0). Only SI-SDRi measures separation. A set is laid out like shared/eval/dev
(SONG/mix.flac, SONG/stems/SOURCE.flac, manifest.json); each source's name is what is asked
for.

The stems go to EST_DIR/SONG/SOURCE.wav, beside the estimates they are made from: an
interrupted run resumes where it stopped, and an estimate made with other settings, weights or
audio, or by another version of the app, is made again."""

EPILOG = """\
examples:
  tagbox evaluate ../shared/eval/dev -o est
      the learned separator with the defaults
  tagbox evaluate ../shared/eval/dev -o est-light --backend light --jobs 2 --json light.json
      the light backend, two separations at once, every score written to light.json
  tagbox evaluate ../shared/eval/dev-duets -o est-duets --by-example organ,trumpet \\
      --example-seconds 3 --score-from 3
      organ and trumpet asked for by the first 3 s of their true stems, each song scored
      from 3 s on, so that the clips are not part of what is scored (a stem silent in its
      first 3 s: the 3 s from where it starts to play, and its scores from 3 s after)"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evaluate` sub-command, with a help page that says every default."""
    p = subparsers.add_parser(
        "evaluate",
        help="separate every source of a set with true stems and score it (SDRi, SI-SDRi)",
        usage="%(prog)s SET_DIR -o EST_DIR [options]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p)
    p.fill_help = describe_backend_defaults
    p.set_defaults(func=main)


def build_config(args: argparse.Namespace) -> RunConfig:
    """The backend's defaults, overridden by the given options (tags are set per source)."""
    from tagbox_gui.core.separation.loading import default_config

    changes = {
        "taggers": tuple(args.tagger) if args.tagger else None,
        "steps": args.steps,
        "lr": args.lr,
        "fft_sizes": args.fft,
        "seed": args.seed,
        "device": args.device,
        "balance_tags": args.balance_tags,
        "fit_to_song": args.fit,
        "preview_every": 1_000_000,  # nobody watches: no previews beyond the first and last
    }
    return default_config(args.backend, **{k: v for k, v in changes.items() if v is not None})


def check_set(
    set_dir: Path,
    sources: tuple[str, ...] | None = None,
    score_from: float = 0.0,
    by_example: tuple[str, ...] = (),
    example_seconds: float | None = None,
) -> list[tuple[str, tuple[str, ...]]]:
    """The set's songs and their sources (``sets.list_set``); a clear error for a folder that
    is not a complete set, sources (``--sources``, ``--by-example``) none of its songs has, a
    ``--by-example`` source left out of ``--sources``, a ``--score-from`` that every song ends
    before (nothing would be scored) or an ``--example-seconds`` longer than every song."""
    from tagbox_gui.core.evaluation import sets

    if not set_dir.is_dir():
        raise ConfigError(f"'{set_dir}' is not a folder; give a set laid out like shared/eval/dev")
    songs = sets.list_set(set_dir)  # the names first: a typo is said before the lengths
    known = sorted({source for _, song_sources in songs for source in song_sources})
    for option, names in (("--sources", sources or ()), ("--by-example", by_example)):
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigError(f"{option}: no song of '{set_dir}' has a source '{unknown[0]}'; its "
                              f"sources are {', '.join(known)}")  # fmt: skip
    unused = [name for name in by_example if sources and name not in sources]
    if unused:
        raise ConfigError(f"--by-example: {unused[0]} is not evaluated; name it in --sources "
                          "too")  # fmt: skip
    sets.check_set(set_dir, score_from, example_seconds)  # each file's header is read once
    return songs


def check_outputs(args: argparse.Namespace) -> None:
    """Every path the run writes, checked before the first separation; nothing is created. The
    estimates folder must not be the set or in one of its songs' folders, among the files the
    run reads. The ``--json`` file must not stand where the estimates go: the folder, one
    above it, a song's folder in it or a file in one (a stem, an estimate), which the report
    would replace; nor be the set's manifest or in one of its songs' folders (a mix, a true
    stem), which the run reads."""
    from tagbox_gui.core.audio.atomic import check_file, check_file_apart, check_folder
    from tagbox_gui.core.evaluation.sets import list_set

    check_folder(args.output, "estimates folder")
    est_dir, set_dir = args.output.resolve(), args.set_dir.resolve()
    songs = {name for name, _ in list_set(args.set_dir)}
    if est_dir == set_dir or (
        set_dir in est_dir.parents and est_dir.relative_to(set_dir).parts[0] in songs
    ):
        where = "the set" if est_dir == set_dir else "in a song's folder of the set"
        raise ConfigError(f"the estimates folder '{args.output}' is {where} '{args.set_dir}', "
                          "whose mixes and true stems the run reads; choose a folder outside "
                          "the set's songs, e.g. est")  # fmt: skip
    if args.json is None:
        return
    check_file(args.json, "--json file")
    check_file_apart(args.json, args.output, "--json file", "estimates folder")
    report = args.json.resolve()
    if est_dir in report.parents:
        song = report.relative_to(est_dir).parts[0]
        if song in songs:
            raise ConfigError(f"the --json file '{args.json}' is (or is in) the folder of the "
                              f"song '{song}' in the estimates folder, where its stems and "
                              "estimates go; choose a file outside the songs' folders")  # fmt: skip
    if set_dir in report.parents:
        first = report.relative_to(set_dir).parts[0]
        if first == "manifest.json" or first in songs:
            what = "the manifest" if first == "manifest.json" else f"in the song '{first}'"
            raise ConfigError(f"the --json file '{args.json}' is {what} of the set "
                              f"'{args.set_dir}', which the run reads; choose a file outside "
                              "the set's songs")  # fmt: skip


class _Progress:
    """One bar over every optimisation step of every pair to separate, naming the pairs under
    way (several with --jobs); over the pairs themselves when each is one pass (0 steps)."""

    def __init__(self, todo: list[str], steps: int) -> None:
        from tqdm import tqdm

        self.todo = set(todo)  # the keys of the pairs to separate (others are reported too)
        self.made = 0  # of them, those separated so far
        self.by_pair = steps == 0
        total, unit = (len(todo), "separation") if self.by_pair else (len(todo) * steps, "step")
        self.bar = tqdm(total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)
        self.active: list[str] = []

    def __call__(self, key: str, step: StepResult | None) -> None:
        if step is None:  # a pair ended, or was not to separate
            if key in self.active:
                self.active.remove(key)
                self.bar.set_description(", ".join(self.active), refresh=False)
            if key in self.todo:
                self.made += 1
                if self.by_pair:
                    self.bar.update(1)
            return
        if key not in self.active:
            self.active.append(key)
            self.bar.set_description(", ".join(self.active), refresh=False)
        # With several pairs under way, one loss figure would flicker between them.
        loss = {"loss": f"{step.total:.3f}"} if len(self.active) == 1 else {}
        self.bar.set_postfix(loss, refresh=False)
        self.bar.update(1)


def main(args: argparse.Namespace) -> int:
    """Separate, score, print the table and write the JSON; 0 when it ran."""
    from tagbox_gui.core.evaluation import driver, pairs, recipes, sets
    from tagbox_gui.core.separation.memory import keep_freed_memory_if_steering
    from tagbox_gui.core.separation.validation import check_settings
    from tagbox_gui.core.store.models import ModelStore

    _check_numbers(args)
    if args.sources == ():  # `--sources ""`, `--sources ,`: not every source
        raise ConfigError("--sources names no source; give one or more, e.g. --sources "
                          "drums,bass, or leave it out for every source")  # fmt: skip
    if args.by_example == ():  # `--by-example ,`: a slip, not "none by example"
        raise ConfigError("--by-example names no source; give one or more, e.g. --by-example "
                          "organ,trumpet, or leave it out")  # fmt: skip
    sources = args.sources
    plan = _plan(args, sources)
    pairs.check_asking(args.backend, plan)  # before the set is read
    listed = check_set(args.set_dir, sources, args.score_from, plan.by_example,
                       plan.example_seconds)  # fmt: skip
    check_outputs(args)
    config = build_config(args)
    check_settings(config)  # before the progress bar, not at the first pair
    keep_freed_memory_if_steering([config])  # the process ends with the run
    store = ModelStore(args.model_dir)
    planned = pairs.plan_pairs(args.set_dir, args.output, config, store, plan)
    progress = _Progress([p.key for p in planned if not p.done and p.supported], config.steps)
    try:  # the pairs counted are those separated: planned once, each example stem read once
        run = driver.evaluate_pairs(planned, args.set_dir, args.output, store, plan, progress,
                                    args.jobs, args.threads)  # fmt: skip
    except KeyboardInterrupt:  # Ctrl+C, or SIGTERM
        progress.bar.close()
        print(f"tagbox: the evaluation stopped after {progress.made} of {len(progress.todo)} "
              "separations; those made are kept, and the same command goes on from them",
              file=sys.stderr)  # fmt: skip
        raise
    finally:
        progress.bar.close()
    made_by = recipes.made_by([p.config for p in planned if p.supported] or [config], store)
    left = sets.unlisted(args.set_dir, listed)
    _print_report(args, config, plan, run, made_by, left)
    if args.json:
        _write_report(args, config, plan, run, made_by, left)
    return 0


def _check_numbers(args: argparse.Namespace) -> None:
    """ConfigError for a thread count under 1 or above the logical CPUs, a job count under 1,
    a negative --score-from or an --example-seconds shorter than the shortest example clip
    (or not a number); the threads are set."""
    from tagbox_gui.core.audio.song import MIN_EXAMPLE_SECONDS
    from tagbox_gui.core.separation.threads import use_threads

    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError("--threads must be at least 1")
        use_threads(args.threads)
    if args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    if not 0.0 <= args.score_from < float("inf"):
        raise ConfigError("--score-from must be a number of seconds, 0 or more")
    if args.example_seconds is not None and not (
        MIN_EXAMPLE_SECONDS <= args.example_seconds < float("inf")
    ):
        raise ConfigError(f"--example-seconds must be a number of seconds, at least "
                          f"{MIN_EXAMPLE_SECONDS:g} (the shortest example clip)")  # fmt: skip


def _plan(args: argparse.Namespace, sources: tuple[str, ...] | None) -> EvaluationPlan:
    """What the run separates and how it makes the stems, from the options."""
    from tagbox_gui.core.evaluation.pairs import EvaluationPlan
    from tagbox_gui.core.separation.loading import FALLBACK_TAGGERS

    example_seconds = args.example_seconds
    if args.by_example and example_seconds is None:
        example_seconds = 3.0
    return EvaluationPlan(
        sources=sources,
        fallback=() if args.tagger else FALLBACK_TAGGERS,
        example_seconds=example_seconds,
        by_example=tuple(args.by_example or ()),
        shared=args.share and not args.alone,
        refined=args.refine,
        alone=args.alone,
        score_from=args.score_from,
    )


def _print_report(
    args: argparse.Namespace,
    config: RunConfig,
    plan: EvaluationPlan,
    run: EvaluationRun,
    made_by: dict[str, Any],
    left: Unlisted,
) -> None:
    """The table of scores, headed by what made them (``recipes.made_by``), with the gain-only
    baseline, the cost and what was left out (``left``: of the set, by its manifest)."""
    from tagbox_gui.core.evaluation import pairs, report, scoring

    sharing = _sharing(plan, config.backend)
    span = f", scored from {args.score_from:g} s" if args.score_from else ""
    print(f"SDRi and SI-SDRi (dB; BSS Eval v4 SDR and scale-invariant SDR, each the median over "
          f"1 s windows of a song) of {args.output} ({sharing}{span})")  # fmt: skip
    steps = f"{config.steps} step{'s' if config.steps != 1 else ''}"
    print(f"set '{args.set_dir}': {config.backend} backend, {steps}; made by "
          f"{_made_by_line(made_by)} (in full in --json)")  # fmt: skip
    print(report.format_table(report.summarise(run.scores)))
    print(f"gainSDRi: the SDRi of {scoring.GAIN_ONLY:g} x mix, a gain and no separation (its "
          "SI-SDRi is 0); only SI-SDRi measures separation")  # fmt: skip
    print(_cost_line(run))
    if note := _unlisted_line(args.set_dir, left):
        print(note)
    if run.resumed:
        print(f"{len(run.resumed)} estimates were already there and kept (resumed run)")
    if run.remade:
        print(f"{len(run.remade)} estimates had been made otherwise (settings, weights, audio or "
              "code) and were made again")  # fmt: skip
    if left_out := report.left_out_line(run.scores):
        print(left_out)
    if at_start := [key for key, (start, _) in run.examples.items() if not start]:
        print(f"asked for by the first {plan.example_seconds:g} s of their true stems: "
              f"{', '.join(at_start)}")  # fmt: skip
    if run.examples and args.score_from < (plan.example_seconds or 0.0):
        print(f"the example clips are part of what is scored; --score-from "
              f"{plan.example_seconds:g} leaves them out")  # fmt: skip
    if run.late_examples:
        late = ", ".join(f"{key} (at {start:.2f} s)" for key, start in run.late_examples.items())
        print(f"asked for by a clip from where they start to play, and scored from "
              f"{args.score_from:g} s after it starts: {late}")  # fmt: skip
    by_reason: dict[str, list[str]] = {}
    for key, reason in run.unsupported.items():
        by_reason.setdefault(reason, []).append(key)
    for reason, keys in by_reason.items():
        learned = config.backend == "learned" and reason == pairs.unsupported_reason(config)
        hint = "; --example-seconds S asks for it by its true stem" if learned else ""
        print(f"not separated ({reason}{hint}): {', '.join(keys)}")


def _write_report(
    args: argparse.Namespace,
    config: RunConfig,
    plan: EvaluationPlan,
    run: EvaluationRun,
    made_by: dict[str, Any],
    left: Unlisted,
) -> None:
    """Every score, the settings, the weights and code that made the estimates
    (``recipes.made_by``), each separation's cost and what of the set its manifest leaves out
    (``left``), as JSON in ``--json``."""
    from tagbox_gui.core.evaluation import report

    extra = {"set": str(args.set_dir), "estimates": str(args.output), **made_by,
             "config": {**config_record(config), "shared": plan.shared,
                        "refined": plan.refined and (plan.shared or plan.alone),
                        "alone": plan.alone, "example_seconds": plan.example_seconds,
                        "by_example": list(plan.by_example)},
             "score_from_seconds": args.score_from,
             "jobs": args.jobs,
             "workers": run.workers,
             "threads": run.threads,
             "unsupported": list(run.unsupported),
             "examples": run.examples,
             "late_examples": run.late_examples,
             "unlisted": left._asdict(),
             "timings": {k: vars(t) for k, t in run.timings.items()}}  # fmt: skip
    report.write_report(args.json, run.scores, extra)


def _sharing(plan: EvaluationPlan, backend: str) -> str:
    """How the stems were made, for the table's title."""
    looked = plan.refined and backend == "learned"
    if plan.alone:
        return "each source alone" + (", looked at again beside its helpers" if looked else "")
    sharing = "sources share the mix" if plan.shared else "each source on its own"
    if plan.shared and looked:
        sharing += ", each looked at twice"
    return sharing


def _made_by_line(made_by: dict[str, Any]) -> str:
    """The weights and code of ``recipes.made_by``, each by the start of its sha256."""
    named = [("separator", made_by["separator_sha256"]), *made_by["model_sha256"].items(),
             ("code", made_by["code_sha256"])]  # fmt: skip
    return ", ".join(f"{name} sha256 {sha[:12] if sha else '(missing)'}" for name, sha in named
                     if sha or name != "separator")  # fmt: skip


def _unlisted_line(set_dir: Path, left: Unlisted) -> str | None:
    """The line saying how many song folders and true stems of the set its manifest does not
    list (``left``), so they were not evaluated; None when it lists them all."""
    songs, stems = len(left.songs), len(left.stems)
    if not songs and not stems:
        return None
    counts = [f"{n} {what}{'s' if n != 1 else ''}"
              for n, what in ((songs, "song folder"), (stems, "true stem")) if n]  # fmt: skip
    return f"not evaluated: {' and '.join(counts)} of '{set_dir}' that its manifest does not list"


def _cost_line(run: EvaluationRun) -> str:
    import numpy as np

    if not run.timings:
        return "CPU time: no separation timed"
    cpu = np.array([t.cpu_s for t in run.timings.values()])
    wall = np.array([t.wall_s for t in run.timings.values()])
    separations = f"{len(cpu)} separation{'s' if len(cpu) > 1 else ''}"
    return (f"CPU time per source per song: mean {cpu.mean():.1f} s, median {np.median(cpu):.1f} s "
            f"(wall {wall.mean():.1f} s) over {separations}")  # fmt: skip
