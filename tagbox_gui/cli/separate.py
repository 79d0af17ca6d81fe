"""`tagbox separate`: run the engine on a song and write the separated and residual stems."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from collections.abc import Collection, Generator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from tagbox_gui.cli.common import (
    CLOSE_PROGRAMS,
    describe_backend_defaults,
    out_of_memory_said,
    terminate_as_ctrl_c,
)
from tagbox_gui.cli.models import fetch_missing
from tagbox_gui.cli.separate_options import (
    DESCRIPTION,
    EPILOG,
    EachEntry,
    add_options,
    check_request,
    stray_words_hint,
)
from tagbox_gui.cli.separate_outputs import (
    check_outputs,
    check_targets,
    log_record,
    run_inputs,
    write_json,
)
from tagbox_gui.cli.separate_progress import (
    NOTHING_WRITTEN,
    WRITING_STOPPED,
    JobProgress,
    run_stopped,
)
from tagbox_gui.core.audio.estimates import for_each, judges_quiet, quiet_groups, run_level
from tagbox_gui.core.errors import ConfigError, UserError, is_out_of_memory
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import (
    LookingAgain,
    Mode,
    Quantise,
    RunConfig,
    RunResult,
    StepResult,
)

# The engine, torch and the audio stack are imported when the command runs, so that
# `tagbox --help` and the light sub-commands start quickly.
if TYPE_CHECKING:
    from tagbox_gui.core.audio.files import ExportFormat
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.job import JobPart, JobResult


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `separate` sub-command, with a help page a musician can use."""
    p = subparsers.add_parser(
        "separate",
        help="separate an instrument you name out of a song",
        usage="%(prog)s SONG (--tags A,B | --each A,B | --example FILE | --example-region "
        "START:END) -o OUTDIR [options]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p)
    p.fill_help = describe_backend_defaults
    p.set_defaults(func=main, stray_hint=stray_words_hint)


class _StoreWithJukebox(ModelStore):
    """The model store, except that the Jukebox weights come from a given file."""

    def __init__(self, root: Path | None, jukebox: Path) -> None:
        super().__init__(root)
        self._jukebox = jukebox

    def jukebox_path(self) -> Path:
        if not os.path.isfile(self._jukebox):
            raise ConfigError(f"Jukebox weights not found: {self._jukebox}")
        return self._jukebox


def build_config(
    args: argparse.Namespace, store: ModelStore, entry: EachEntry | None = None
) -> RunConfig:
    """The run configuration: the backend's defaults, overridden by the given options.

    ``entry`` (``--each`` makes one configuration per entry) replaces ``--tags`` and
    ``--example``: its name is the wanted instrument, or its example clip is the query.
    """
    backend = args.backend or "learned"
    if entry is None:
        tags, example = tuple(args.tags or ()), args.example
    else:
        tags, example = ((), entry.example) if entry.example else ((entry.name,), None)
    changes = {
        "tags": tags,
        "avoid": tuple(args.avoid),
        # tags named to avoid are the only ones avoided: the others are left out of the loss
        "avoid_others": False if args.avoid else None,
        "ignore": tuple(args.ignore),
        "taggers": tuple(args.tagger) if args.tagger else None,
        "steps": args.steps,
        "lr": args.lr,
        "fft_sizes": args.fft,
        "quantise": Quantise(args.quantize) if args.quantize else None,
        "mode": Mode(args.mode),
        "region": args.region,
        "device": args.device,
        "seed": args.seed,
        "balance_tags": args.balance_tags,
        "example": example,
        "fit_to_song": args.fit,
    }
    from tagbox_gui.core.separation.loading import default_config, taggers_for

    config = default_config(backend, **{k: v for k, v in changes.items() if v is not None})
    if not args.tagger:  # no tagger chosen: take ones that have every wanted tag, e.g. for bass
        chosen = taggers_for(config.tags, config.taggers)
        config = replace(config, taggers=chosen or config.taggers)
    return config


def main(args: argparse.Namespace) -> int:
    """Run `tagbox separate`. SIGTERM (``timeout``, ``kill``, a script that gives up) ends it
    as Ctrl+C does: the stems being written are removed and old ones stay whole, where the
    default action of SIGTERM would leave temporaries behind, or new stems beside old ones."""
    with terminate_as_ctrl_c():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    from tagbox_gui.core.audio.export import stem_paths
    from tagbox_gui.core.audio.song import analysis_signal
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.job import looking_again
    from tagbox_gui.core.separation.loading import models_in_use
    from tagbox_gui.core.separation.memory import keep_freed_memory_if_steering
    from tagbox_gui.core.separation.threads import use_threads
    from tagbox_gui.core.separation.validation import validate

    check_request(args)
    check_outputs(args)  # before the first step, creating nothing
    use_threads(args.threads)
    if args.jukebox_weights is not None:
        store: ModelStore = _StoreWithJukebox(args.model_dir, args.jukebox_weights)
    else:
        store = ModelStore(args.model_dir)
    if args.each is not None:
        return _separate_each(args, store)
    song = _load_song(args)
    config = build_config(args, store)
    validate(config, song)  # what needs no model is checked before any model loads
    paths = stem_paths(args.output, song.name, _stem_words(config), _format(args),
                       template=_template(args))  # fmt: skip
    check_targets(args, paths, run_inputs(song, [config]))
    _check_space(args, song, len(paths))
    fetch_missing(store, models_in_use(config))  # asked on a terminal, before anything loads
    keep_freed_memory_if_steering([config])  # the process ends with the run
    runner = functools.partial(engine.run, measure_residual=False)
    if args.refine is not False:
        runner = looking_again(runner)
    steps: list[StepResult] = []
    with out_of_memory_said("the run", _shorter_region(args)):
        with _said_if_stopped(f"the run stopped while the models were loading; {NOTHING_WRITTEN}"):
            run = runner(config, song, store, ModelCache())  # loads the models, checks the rest
        result = _drive(run, config, steps)
    _warn_if_failed(result.second_look_failed)
    _warn_if_cut_short(result)
    _say_best_step(result, config.steps)
    with out_of_memory_said("writing the stems"), _said_if_stopped(WRITING_STOPPED):
        paths = _export(song, config, result, args)
    print(f"separated: {paths[0]}\nresidual:  {paths[1]}")
    if args.log_json:
        _write_log(args.log_json, log_record(config, steps, result))
    level = run_level(analysis_signal(song), result) if judges_quiet([config.backend]) else None
    if level is not None:
        name = " + ".join(_stem_words(config)) or "the separated stem"
        how = "--example-region START:END, or --example FILE:START:END"
        _note_quiet({name: level}, how, [name] if config.example is not None else [])
    return 0


def _separate_each(args: argparse.Namespace, store: ModelStore) -> int:
    """``--each``: one run per entry (``core.separation.job``), then stems that share the mix,
    and the rest."""
    from tagbox_gui.core.audio.export import export_shared_stems, shared_stem_paths
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.job import JobPart, run_job
    from tagbox_gui.core.separation.memory import keep_freed_memory_if_steering
    from tagbox_gui.core.separation.provenance import job_provenance
    from tagbox_gui.core.separation.validation import validate

    if args.mode != Mode.MASK.value:
        raise ConfigError("--each needs mask mode: free-mode stems have no mask to share")
    song = _load_song(args)
    parts = [JobPart(entry.name, build_config(args, store, entry)) for entry in args.each]
    keep_freed_memory_if_steering(part.config for part in parts)
    for part in parts:  # every entry's settings, before any model loads
        validate(part.config, song)
    paths = shared_stem_paths(args.output, song.name, [p.name for p in parts], _format(args),
                              template=_template(args))  # fmt: skip
    check_targets(args, paths, run_inputs(song, [part.config for part in parts]))
    _check_space(args, song, len(paths))
    cache = ModelCache()
    with _said_if_stopped(f"the job stopped while the models were loading; {NOTHING_WRITTEN}"):
        for part in parts:  # every entry's clip and models, up front
            _prepare(part, song, store, cache)
    runner = functools.partial(engine.run, measure_residual=False)
    with out_of_memory_said("the job", _shorter_region(args)):
        job = run_job(
            parts, song, store, cache, runner, checked=True, second_look=args.refine is not False
        )
        result, steps = _drive_job(job, parts, _shorter_region(args))
    alone = [r.second_look_failed for r in result.results.values() if r.second_look_failed]
    _warn_if_failed(result.second_look_failed or next(iter(alone), ""))
    for part in parts:
        part_result = result.results.get(part.name)
        if part_result is not None:
            _warn_if_cut_short(part_result, part.name)
            _say_best_step(part_result, part.config.steps, part.name)
    if result.stopped:  # nothing stops it here but a part that made no estimate
        raise UserError("a run ended before its first step; nothing was written")
    provenance = job_provenance(song.path.name, parts, result)
    with out_of_memory_said("writing the stems"), _said_if_stopped(WRITING_STOPPED):
        stems, rest = export_shared_stems(song, result.estimates, args.output, _format(args),
                                          provenance, overwrite=args.overwrite,
                                          template=_template(args))  # fmt: skip
    for part, path in zip(parts, stems, strict=True):
        print(f"{part.name}: {path}")
    print(f"rest: {rest}")
    if args.log_json:
        logs = {p.name: log_record(p.config, steps[p.name], result.results[p.name],
                                   result.looked_beside(p.name), result.second_look_failed)
                for p in parts}  # fmt: skip
        _write_log(args.log_json, logs)
    if judges_quiet(part.config.backend for part in parts):
        examples = [part.name for part in parts if part.config.example is not None]
        _note_quiet(result.levels, "--each NAME=FILE:START:END", examples)
    return 0


def _note_quiet(levels: dict[str, float], how: str, examples: Collection[str] = ()) -> None:
    """Tell, on stderr, which stems came out very quiet, and how to ask for them instead: by
    an example (``how``), or, for those asked for by an example already (``examples``), by a
    clearer one."""
    for said, by_example, count in quiet_groups(levels, examples):
        advice = (
            "Try a clip where it plays more clearly, ideally alone"
            if by_example
            else f"Ask for it by an example, a few seconds where it plays ({how})"
        )
        print(f"note: {said}. {for_each(advice, count)}.", file=sys.stderr)


def _drive_job(
    job: Generator, parts: list[JobPart], helps: str
) -> tuple[JobResult, dict[str, list[StepResult]]]:
    """Run a job to its end with a progress bar per part; its result and each part's steps. As
    it ends early (Ctrl+C, SIGTERM, a part that fails), it says how far it got
    (:class:`JobProgress`): a UserError, or running out of memory (``helps`` says what else
    helps), in one line naming what failed; any other error (a bug) with its traceback, after a
    line naming what failed."""
    from tagbox_gui.core.separation.job import failed_while

    steps: dict[str, list[StepResult]] = {part.name: [] for part in parts}
    progress = JobProgress()
    bar = None
    try:
        while True:
            event = next(job)
            if event is None:
                continue
            if event.refining:  # beside the other stems, or in a job of one the helpers
                progress.looking_again(event.name)
                _say_looking_again(event.name, event.beside if len(parts) == 1 else ("others",))
            elif event.began:
                progress.began(parts[event.index])
                print(f"separating {event.name}", file=sys.stderr)
                bar = _progress_bar(parts[event.index].config.steps)
            elif event.step is not None:
                progress.stepped()
                steps[event.name].append(event.step)
                if bar is not None:
                    _advance(bar, event.step)
            elif event.result is not None:
                progress.ended(event.name)
                if bar is not None:
                    bar.close()
    except StopIteration as end:
        result = end.value
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"tagbox: {progress.stopped()}", file=sys.stderr)
        raise
    except UserError as exc:
        failure = progress.failed(exc)
        if failure is exc:
            raise
        raise failure from exc
    except Exception as exc:
        what = progress.under_way() or failed_while(exc)
        if not what:  # before the first part: said as the job's (``out_of_memory_said``)
            raise
        if bar is not None:
            bar.close()
        told = f"{progress.so_far()}, so {NOTHING_WRITTEN}"
        if is_out_of_memory(exc):
            raise UserError(
                f"{what} ran out of memory{told}; {CLOSE_PROGRAMS}, or {helps}"
            ) from exc
        print(f"tagbox: {what} failed{told}", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
        job.close()
    return result, steps


def _prepare(part: JobPart, song: Song, store: ModelStore, cache: ModelCache) -> None:
    """Check one ``--each`` entry before any run, the taggers it needs and the store lacks
    offered first (``cli.models.fetch_missing``), then ``core.separation.job_checks.check_part``; a
    problem is the usual one-line error, naming the entry when it is an example (a UserError:
    the errors that carry more than their message, e.g. a missing model's, take no message)."""
    from tagbox_gui.core.separation.job_checks import check_part
    from tagbox_gui.core.separation.loading import models_in_use

    try:
        fetch_missing(store, models_in_use(part.config))  # asked on a terminal, before it loads
        check_part(part, song, store, cache)
    except UserError as exc:
        if part.config.example is None:
            raise
        raise UserError(f"--each {part.name}={part.config.example.path}: {exc}") from exc


def _load_song(args: argparse.Namespace) -> Song:
    """The song, once it is known that ``--format`` can hold its channels. Where reading it
    runs out of memory, the line says to cut it, not to separate a stretch of it: a run reads
    all of the song, with ``--region`` too."""
    from tagbox_gui.core.audio.files import check_channels
    from tagbox_gui.core.audio.song import load_song

    what = "run" if args.each is None else "job"
    with _said_if_stopped(f"the {what} stopped while the song was being read; {NOTHING_WRITTEN}"):
        helps = ("cut it into shorter files (in an audio editor): a run reads all of the song, "
                 "even with a region")  # fmt: skip
        with out_of_memory_said("reading the song", helps):
            song = load_song(args.song)
    check_channels(_format(args), song.channels)
    return song


def _shorter_region(args: argparse.Namespace) -> str:
    """What helps a run that ran out of memory: a shorter stretch of the song to separate."""
    if args.region is not None:
        return "give a shorter --region"
    return "separate a shorter stretch of the song (--region START:END)"


def _write_log(path: Path, data: dict) -> None:
    """Write the ``--log-json`` record (``write_json``) once the stems are written; Ctrl+C or
    SIGTERM while it is written says that the stems are there and the log is not (no part of
    it is: ``write_json`` writes atomically, and a file it would replace stays as it was)."""
    with _said_if_stopped(f"stopped while writing the --log-json file '{path}'; the stems were "
                          "written, the log was not"):  # fmt: skip
        write_json(path, data)


def _check_space(args: argparse.Namespace, song: Song, count: int) -> None:
    """AudioError, before the first step, if ``count`` stems of ``song`` cannot fit on the disk
    of the output folder (``core.audio.files.check_space``)."""
    from tagbox_gui.core.audio.files import check_space

    check_space(args.output, _format(args), [(song.frames, song.channels)] * count)


def _template(args: argparse.Namespace) -> str:
    from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE

    return args.name_template if args.name_template is not None else DEFAULT_TEMPLATE


def _format(args: argparse.Namespace) -> ExportFormat:
    from tagbox_gui.core.audio.files import ExportFormat

    return ExportFormat(args.format)


def _drive(run: Generator, config: RunConfig, steps: list[StepResult]) -> RunResult:
    """Run to the end with a progress bar, collecting ``steps``; UserError if it made nothing.
    As Ctrl+C or SIGTERM ends it, it says how far it got: the steps made, the single pass not
    done, or the second look under way; and that no stem was written."""
    from tagbox_gui.core.separation.engine import run_to_end

    bar = _progress_bar(config.steps)

    def on_step(step: StepResult) -> None:
        steps.append(step)
        _advance(bar, step)

    name = " + ".join(_stem_words(config))
    looking = False

    def on_looking_again(stage: LookingAgain) -> None:
        nonlocal looking
        looking = True
        _say_looking_again(name, stage.helpers)

    try:
        result = run_to_end(run, on_step, on_looking_again)
    except KeyboardInterrupt:
        bar.close()
        where = (f"the run stopped during the second look at {name}" if looking
                 else run_stopped("the run", len(steps), config.steps))  # fmt: skip
        print(f"tagbox: {where}; {NOTHING_WRITTEN}", file=sys.stderr)
        raise
    finally:
        bar.close()
    if result.estimate is None:
        raise UserError("the run ended before its first step; nothing was written")
    return result


def _warn_if_failed(second_look: str) -> None:
    """Say on stderr that the second look failed (``second_look``: why), if it did: the stems
    are written from the first look."""
    if second_look:
        print(f"tagbox: warning: the second look failed ({second_look}); the stems are the "
              "first look", file=sys.stderr)  # fmt: skip


def _warn_if_cut_short(result: RunResult, name: str = "") -> None:
    """Say on stderr that a step ended the run (of stem ``name``) early, if one did (it ran
    out of memory, or its loss was not a finite number): the stems are of the best step
    before it."""
    if result.cut_short_at:
        of = f" of {name}" if name else ""
        print(f"tagbox: warning: step {result.cut_short_at}{of} {result.cut_short_by}; the "
              f"stems are of step {result.best_step}, the best before it",
              file=sys.stderr)  # fmt: skip


def _say_best_step(result: RunResult, steps: int, name: str = "") -> None:
    """Say on stderr which step of a steered run of ``steps`` steps (of stem ``name``) the
    stems are of, and its loss: the best one, which need not be the last the progress bar
    showed. A run cut short says it in its warning instead (:func:`_warn_if_cut_short`)."""
    from tagbox_gui.core.separation.provenance import of_steps

    if steps and result.best_step and not result.cut_short_at:
        stems = f"the {name} stem is" if name else "the stems are"
        print(f"{stems} of step {result.best_step} {of_steps(steps, result.steps_done)}, the "
              f"best (loss {result.best_total:.4f})", file=sys.stderr)  # fmt: skip


@contextlib.contextmanager
def _said_if_stopped(what: str) -> Iterator[None]:
    """Say ``what`` on stderr (where the command stopped, and what that left on disk) if Ctrl+C
    or SIGTERM ends the block; ``cli.main`` then says which of them it was and sets the exit
    status."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"tagbox: {what}", file=sys.stderr)
        raise


def _say_looking_again(name: str, beside: Sequence[str]) -> None:
    """Tell, on stderr, that stem ``name`` is being looked at again without ``beside``."""
    print(f"looking again at {name} without the {' and the '.join(beside)}", file=sys.stderr)


def _progress_bar(total: int) -> tqdm:
    """The progress bar of one run's steps, on stderr; none for a one-pass run (0 steps)."""
    return tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True, disable=total == 0)


def _advance(bar: tqdm, step: StepResult) -> None:
    bar.set_postfix(loss=f"{step.total:.4f}", s_step=f"{step.seconds:.2f}")
    bar.update(1)


def _export(song, config: RunConfig, result: RunResult, args: argparse.Namespace):
    from tagbox_gui.core.audio.export import export_stems
    from tagbox_gui.core.audio.files import ExportFormat
    from tagbox_gui.core.separation.provenance import stem_provenance

    fmt = ExportFormat(args.format)
    provenance = stem_provenance(song.path.name, config, result.best_step,
                                 helpers=result.helpers, made=result.steps_done)  # fmt: skip
    return export_stems(song, result.estimate, args.output, _stem_words(config), fmt, provenance,
                        overwrite=args.overwrite, template=_template(args))  # fmt: skip


def _stem_words(config: RunConfig) -> tuple[str, ...]:
    """What the stems are named after: the tags, or what the example is."""
    if config.tags or config.example is None:
        return config.tags
    if config.example.path is None:
        return ("example",)
    return (Path(config.example.path).stem,)  # a clip named for what plays in it
