"""`tagbox separate`: run the engine on a song and write the separated and residual stems."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Collection, Generator, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from tagbox_gui.cli.common import describe_backend_defaults
from tagbox_gui.cli.separate_options import (
    DESCRIPTION,
    EPILOG,
    EachEntry,
    add_options,
    check_request,
    stray_words_hint,
)
from tagbox_gui.core.audio.atomic import (
    check_file,
    check_file_apart,
    check_folder,
    write_atomically,
)
from tagbox_gui.core.audio.estimates import judges_quiet, quiet_groups, run_level
from tagbox_gui.core.errors import ConfigError, UserError
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import (
    LookingAgain,
    Mode,
    Quantise,
    RunConfig,
    RunResult,
    StepResult,
    config_record,
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
        usage="%(prog)s SONG (--tags A,B | --each A,B | --example FILE) -o OUTDIR [options]",
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
        if not self._jukebox.is_file():
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
    """Run `tagbox separate`."""
    from tagbox_gui.core.audio.export import stem_paths
    from tagbox_gui.core.audio.song import analysis_signal, load_song
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.job import looking_again
    from tagbox_gui.core.separation.memory import keep_freed_memory_if_steering
    from tagbox_gui.core.separation.threads import use_threads

    check_request(args)
    _check_outputs(args)  # before the first step, creating nothing
    use_threads(args.threads)
    if args.jukebox_weights is not None:
        store: ModelStore = _StoreWithJukebox(args.model_dir, args.jukebox_weights)
    else:
        store = ModelStore(args.model_dir)
    if args.each is not None:
        return _separate_each(args, store)
    song = load_song(args.song)
    config = build_config(args, store)
    keep_freed_memory_if_steering([config])  # the process ends with the run
    runner = functools.partial(engine.run, measure_residual=False)
    if args.refine is not False:
        runner = looking_again(runner)
    run = runner(config, song, store, ModelCache())  # checks every setting
    paths = stem_paths(args.output, song.name, _stem_words(config), _format(args),
                       template=_template(args))  # fmt: skip
    _check_targets(args, paths, _inputs(song, [config]))
    steps: list[StepResult] = []
    result = _drive(run, config, steps)
    paths = _export(song, config, result, args)
    if args.log_json:
        _write_json(args.log_json, _log(config, steps))
    print(f"separated: {paths[0]}\nresidual:  {paths[1]}")
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
    from tagbox_gui.core.audio.song import load_song
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.job import JobPart, run_job
    from tagbox_gui.core.separation.memory import keep_freed_memory_if_steering
    from tagbox_gui.core.separation.provenance import job_provenance

    if args.mode != Mode.MASK.value:
        raise ConfigError("--each needs mask mode: free-mode stems have no mask to share")
    song = load_song(args.song)
    parts = [JobPart(entry.name, build_config(args, store, entry)) for entry in args.each]
    keep_freed_memory_if_steering(part.config for part in parts)
    cache = ModelCache()
    for part in parts:  # every entry's settings, clip and models, up front
        _prepare(part, song, store, cache)
    paths = shared_stem_paths(args.output, song.name, [p.name for p in parts], _format(args),
                              template=_template(args))  # fmt: skip
    _check_targets(args, paths, _inputs(song, [part.config for part in parts]))
    runner = functools.partial(engine.run, measure_residual=False)
    job = run_job(
        parts, song, store, cache, runner, checked=True, second_look=args.refine is not False
    )
    result, logs = _drive_job(job, parts)
    if result.stopped:  # nothing stops it here but a part that made no estimate
        raise UserError("a run ended before its first step; nothing was written")
    provenance = job_provenance(song.path.name, parts, result)
    stems, rest = export_shared_stems(song, result.estimates, args.output, _format(args),
                                      provenance, overwrite=args.overwrite,
                                      template=_template(args))  # fmt: skip
    if args.log_json:
        _write_json(args.log_json, logs)
    for part, path in zip(parts, stems, strict=True):
        print(f"{part.name}: {path}")
    print(f"rest: {rest}")
    if judges_quiet(part.config.backend for part in parts):
        examples = [part.name for part in parts if part.config.example is not None]
        _note_quiet(result.levels, "--each NAME=FILE:START:END", examples)
    return 0


def _note_quiet(levels: dict[str, float], how: str, examples: Collection[str] = ()) -> None:
    """Tell, on stderr, which stems came out very quiet, and how to ask for them instead: by
    an example (``how``), or, for those asked for by an example already (``examples``), by a
    clearer one."""
    for said, by_example in quiet_groups(levels, examples):
        advice = (
            "try a clip where it plays more clearly, ideally alone"
            if by_example
            else f"ask for it by an example, a few seconds where it plays ({how})"
        )
        print(f"note: {said}. An instrument that plays louder than that was not recognised: "
              f"{advice}.", file=sys.stderr)  # fmt: skip


def _drive_job(job: Generator, parts: list[JobPart]) -> tuple[JobResult, dict[str, list]]:
    """Run a job to its end with a progress bar per part; its result and each part's log."""
    steps: dict[str, list[StepResult]] = {part.name: [] for part in parts}
    bar = None
    try:
        while True:
            event = next(job)
            if event is None:
                continue
            if event.refining:  # beside the other stems, or in a job of one the helpers
                _say_looking_again(event.name, event.beside if len(parts) == 1 else ("others",))
            elif event.began:
                print(f"separating {event.name}", file=sys.stderr)
                total = parts[event.index].config.steps
                bar = _progress_bar(total)
            elif event.step is not None and bar is not None:
                steps[event.name].append(event.step)
                _advance(bar, event.step)
            elif event.result is not None and bar is not None:
                bar.close()
    except StopIteration as end:
        result = end.value
    finally:
        if bar is not None:
            bar.close()
        job.close()
    return result, {p.name: _log(p.config, steps[p.name]) for p in parts}


def _prepare(part: JobPart, song: Song, store: ModelStore, cache: ModelCache) -> None:
    """Check one ``--each`` entry before any run (``core.separation.job.check_part``); a
    problem is the usual one-line error, naming the entry when it is an example."""
    from tagbox_gui.core.separation.job import check_part

    try:
        check_part(part, song, store, cache)
    except UserError as exc:
        if part.config.example is None:
            raise
        raise type(exc)(f"--each {part.name}={part.config.example.path}: {exc}") from exc


def _check_outputs(args: argparse.Namespace) -> None:
    """Every path the run will write, checked before its first step; nothing is created."""
    check_folder(args.output)
    if args.log_json is not None:
        check_file(args.log_json, "--log-json file")
        check_file_apart(args.log_json, args.output, "--log-json file", "output folder")


def _check_targets(args: argparse.Namespace, stems: Sequence[Path], inputs: Sequence[Path]) -> None:
    """ConfigError, before the first step, for a file this run must not write: a stem that is
    an audio file it reads (never, not even with ``--overwrite``), a stem already there (unless
    ``--overwrite``), or a ``--log-json`` file that is either (:func:`_check_log_target`)."""
    for stem in stems:
        if any(_same_file(stem, path) for path in inputs):
            raise ConfigError(f"the stem '{stem.name}' would replace an audio file this run "
                              "reads; choose another folder with -o or another "
                              "--name-template")  # fmt: skip
    _refuse_existing(stems, args)
    _check_log_target(args, stems, inputs)


def _refuse_existing(paths: list[Path] | tuple[Path, ...], args: argparse.Namespace) -> None:
    """ConfigError listing the stems already in the output folder, unless ``--overwrite``."""
    from tagbox_gui.core.audio.files import existing_files

    existing = existing_files(paths)
    if existing and not args.overwrite:
        names = ", ".join(f"'{path.name}'" for path in existing)
        raise ConfigError(f"{names} {'is' if len(existing) == 1 else 'are'} already in "
                          f"'{args.output}'; add --overwrite to replace "
                          f"{'it' if len(existing) == 1 else 'them'}, or choose another "
                          "folder with -o")  # fmt: skip


def _inputs(song: Song, configs: Iterable[RunConfig]) -> list[Path]:
    """The audio files a run reads: the song, and the example clips' files."""
    clips = [Path(c.example.path) for c in configs if c.example and c.example.path is not None]
    return [song.path, *clips]


def _check_log_target(
    args: argparse.Namespace, stems: Sequence[Path], inputs: Sequence[Path]
) -> None:
    """ConfigError if ``--log-json`` would replace a file: a stem of this run or an audio file it
    reads (never), or any other file already there (unless ``--overwrite``)."""
    log = args.log_json
    if log is None:
        return
    if any(_same_file(log, path) for path in stems):
        raise ConfigError(f"--log-json '{log}' is one of the stems this run writes; choose "
                          "another file")  # fmt: skip
    if any(_same_file(log, path) for path in inputs):
        raise ConfigError(f"--log-json '{log}' is an audio file this run reads; choose "
                          "another file")  # fmt: skip
    if os.path.lexists(log) and not args.overwrite:
        raise ConfigError(f"--log-json '{log}' is already there; add --overwrite to replace "
                          "it, or choose another file")  # fmt: skip


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (by path, or by the file itself where both exist)."""
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _template(args: argparse.Namespace) -> str:
    from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE

    return args.name_template if args.name_template is not None else DEFAULT_TEMPLATE


def _format(args: argparse.Namespace) -> ExportFormat:
    from tagbox_gui.core.audio.files import ExportFormat

    return ExportFormat(args.format)


def _drive(run: Generator, config: RunConfig, steps: list[StepResult]) -> RunResult:
    """Run to the end with a progress bar, collecting ``steps``; UserError if it made nothing."""
    from tagbox_gui.core.separation.engine import run_to_end

    bar = _progress_bar(config.steps)

    def on_step(step: StepResult) -> None:
        steps.append(step)
        _advance(bar, step)

    def on_looking_again(stage: LookingAgain) -> None:
        _say_looking_again(" + ".join(_stem_words(config)), stage.helpers)

    try:
        result = run_to_end(run, on_step, on_looking_again)
    finally:
        bar.close()
    if result.estimate is None:
        raise UserError("the run ended before its first step; nothing was written")
    return result


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
    provenance = stem_provenance(song.path.name, config, result.best_step, helpers=result.helpers)
    return export_stems(song, result.estimate, args.output, _stem_words(config), fmt, provenance,
                        overwrite=args.overwrite, template=_template(args))  # fmt: skip


def _stem_words(config: RunConfig) -> tuple[str, ...]:
    """What the stems are named after: the tags, or what the example is."""
    if config.tags or config.example is None:
        return config.tags
    if config.example.path is None:
        return ("example",)
    return (Path(config.example.path).stem,)  # a clip named for what plays in it


def _log(config: RunConfig, steps: list[StepResult]) -> dict:
    return {
        "config": config_record(config),
        "steps": [
            {"step": s.step, "total": s.total, "losses": s.losses, "grad_norm": s.grad_norm,
             "seconds": s.seconds}
            for s in steps
        ],
    }  # fmt: skip


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # checked before the run (_check_outputs)
    write_atomically(path, json.dumps(data, indent=1))
