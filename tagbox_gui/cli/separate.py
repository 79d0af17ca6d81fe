"""`tagbox separate`: run the engine on a song and write the separated and residual stems."""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import sys
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from tagbox_gui.cli.common import (
    add_balance_tags,
    add_model_dir,
    comma_list,
    fft_sizes,
    parse_example,
    parse_example_region,
    parse_region,
    tagger_spec,
)
from tagbox_gui.core.audio.atomic import check_file, check_folder, write_atomically
from tagbox_gui.core.audio.estimates import describe_quiet, judges_quiet, quiet_stems, run_level
from tagbox_gui.core.errors import ConfigError, UserError
from tagbox_gui.core.separation.backends import BACKENDS
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import (
    Example,
    LookingAgain,
    Mode,
    Quantise,
    RunConfig,
    RunResult,
    StepResult,
    config_record,
)

if TYPE_CHECKING:
    from tagbox_gui.core.audio.export import ExportFormat
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.job import JobPart, JobResult

# The engine, torch and the audio stack are imported when the command runs, so that
# `tagbox --help` and the light sub-commands start quickly.
EXPORT_FORMATS = ("wav32", "wav24", "wav16", "flac24", "flac16")


DESCRIPTION = """\
Separate an instrument you name out of a song. Two stems are written into OUTDIR: the
instrument ("SONG - piano.wav") and everything else ("SONG - no piano.wav"); together they add
up to the song. With --each, one stem per instrument (named, or asked for by an example clip) and
a rest stem.

The default backend, learned, is a separator trained for this app: one pass, a few seconds, no
download. `tagbox tags` lists the instruments and tags you can name."""

EPILOG = """\
examples:
  tagbox separate "My Song.wav" --tags piano -o stems
      the piano, and the song without it: stems/My Song - piano.wav and
      stems/My Song - no piano.wav
  tagbox separate song.flac --each drums,bass --format flac24 -o stems
      a stem for the drums, one for the bass and one for the rest, as 24-bit FLAC
  tagbox separate song.wav --each drums,organ=organ.wav:3:8 -o stems
      the drums, what sounds like seconds 3-8 of organ.wav ("song - organ.wav"), and the rest
  tagbox separate song.wav --tags vocals --backend light --region 30:50 -o stems
      the vocals between 0:30 and 0:50, found by steering a music tagger (about a minute)

Stems already in OUTDIR are kept: the run stops and lists them unless --overwrite is given."""


@dataclass(frozen=True)
class EachEntry:
    """One stem of ``--each``: an instrument by name, or ``name`` by an example clip."""

    name: str
    example: Example | None = None


def parse_each(text: str) -> tuple[EachEntry, ...]:
    """``drums,organ=clip.wav:3:8``: instruments, or ``NAME=FILE[:START:END]`` by example.

    The clip is read as ``--example`` reads it (``parse_example``); whether its file can be
    read is checked before the first run. A bad entry is a one-line usage error.
    """
    entries: list[EachEntry] = []
    for item in comma_list(text):
        name, sep, clip = (part.strip() for part in item.partition("="))
        if not name:
            raise argparse.ArgumentTypeError(
                f"'{item}' has no name before '='; write "
                "NAME=FILE[:START:END], e.g. organ=organ.wav"
            )
        if sep and not clip:
            raise argparse.ArgumentTypeError(
                f"'{item}' names no example clip after '='; write "
                f"{name}=FILE or {name}=FILE:START:END"
            )
        entries.append(EachEntry(name, _each_example(clip) if sep else None))
    if not entries:
        raise argparse.ArgumentTypeError("name at least one instrument, e.g. drums,bass")
    return tuple(entries)


def _each_example(clip: str) -> Example:
    """``parse_example``, except that a missing file with a colon in its name is taken for a
    clip whose START:END is wrong (``clip.wav:3``, ``clip.wav:a:b``)."""
    example = parse_example(clip)
    if example.start is None and ":" in clip and not Path(clip).exists():
        raise argparse.ArgumentTypeError(f"'{clip}' is neither a file nor FILE:START:END in "
                                         "seconds, e.g. organ.wav:3:8")  # fmt: skip
    return example


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
    what = p.add_argument_group("what to separate")
    what.add_argument("song", type=Path, metavar="SONG", help="a WAV, FLAC, OGG, MP3 or AIFF file")
    what.add_argument(
        "--tags",
        type=comma_list,
        metavar="A,B",
        help="what to separate into one stem: instrument names or tags, e.g. piano or "
        "'acoustic guitar' (`tagbox tags` lists them)",
    )
    what.add_argument(
        "--each",
        type=parse_each,
        metavar="A,B,...",
        help="instead of --tags: separate each of these in its own run; their stems share the "
        "mix and a rest stem holds what none of them took. An entry is an instrument (drums), or "
        "NAME=FILE[:START:END] for what sounds like that clip, in a stem named NAME (organ="
        "organ.wav:3:8; learned backend)",
    )
    query = what.add_mutually_exclusive_group()
    query.add_argument(
        "--example",
        type=parse_example,
        metavar="FILE[:START:END]",
        help="learned backend: separate what sounds like this clip (seconds into FILE), e.g. "
        "an instrument no tag names (with --each: NAME=FILE[:START:END] entries instead)",
    )
    query.add_argument(
        "--example-region",
        type=parse_example_region,
        metavar="START:END",
        dest="example",
        help="learned backend: separate what sounds like this stretch of the song itself",
    )
    what.add_argument(
        "--region",
        type=parse_region,
        metavar="START:END",
        help="separate only this stretch, in seconds, e.g. 30:50 (default: the whole song); the "
        "stems keep the song's length, the separated one silent outside the stretch",
    )
    what.add_argument(
        "--avoid",
        type=comma_list,
        default=(),
        metavar="A,B",
        help="tags the separated stem must not have (default: with --steps, all not wanted)",
    )
    what.add_argument(
        "--ignore",
        type=comma_list,
        default=(),
        metavar="A,B",
        help="tags the steering leaves alone, neither wanted nor avoided (default: none)",
    )

    out = p.add_argument_group("where the stems go")
    out.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="OUTDIR",
        help="folder for the stems, made when they are written (required)",
    )
    out.add_argument(
        "--overwrite",
        action="store_true",
        help="replace stems of the same names already in OUTDIR (default: refuse and list them; "
        "song.mp3 and song.ogg make the same stem names)",
    )
    out.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default="wav32",
        help="file format of the stems: 32-bit float WAV, 24- or 16-bit WAV or FLAC "
        "(default: %(default)s, which never clips)",
    )
    out.add_argument(
        "--name-template",
        metavar="TEMPLATE",
        help="names of the stem files, from {{song}} (the song's file name) and {{stem}} (what "
        "the stem holds: piano, no piano, no drums + bass), e.g. '{{stem}} ({{song}})' (default: "
        "'{template}')",
    )
    out.add_argument(
        "--log-json",
        type=Path,
        metavar="FILE",
        help="also write the settings and every step's losses to FILE (default: none)",
    )

    how = p.add_argument_group("how (defaults differ by backend)")
    how.add_argument(
        "--backend",
        choices=BACKENDS,
        help="learned (default): our trained separator, one pass unless --steps; light: NMF "
        "gates steered by the taggers; jukebox: the paper's VQ-VAE latent (a large download)",
    )
    how.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="optimisation steps that steer the separation with the taggers; 0 is one pass of "
        "the learned separator (default: {steps})",
    )
    how.add_argument(
        "--lr",
        type=float,
        metavar="RATE",
        help="learning rate of those steps (default: {lr})",
    )
    how.add_argument(
        "--fft",
        type=fft_sizes,
        metavar="N,N,...",
        help="FFT sizes of the masks and the taggers' loss (default: {fft})",
    )
    how.add_argument(
        "--tagger",
        action="append",
        type=tagger_spec,
        metavar="ARCH/DATASET",
        help="a tagger that steers the steps; repeat for several (default: {taggers}, or "
        "fcn/jamendo for a word those lack, e.g. bass)",
    )
    add_balance_tags(how)
    how.add_argument(
        "--quantize",
        choices=[q.value for q in Quantise],
        help="jukebox backend: how its latent is quantised (default: {quantise})",
    )
    how.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.MASK.value,
        help="mask: the stem is the song through a mask; free: the decoded audio itself, "
        "jukebox only (default: %(default)s)",
    )
    how.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        help="with the learned backend: once every stem of --each is separated, look at each "
        "a second time, in the song without the others' stems; one instrument "
        "with 0 steps is looked at again in the song without the bass and the drums "
        "(default: on; --no-refine is faster)",
    )
    how.add_argument(
        "--fit",
        action=argparse.BooleanOptionalAction,
        help="with the learned backend, one instrument and 0 steps: fit the instrument's "
        "prototype to the song with a first look at 12 s of it (default: on where the "
        "instrument has a fit; --no-fit asks by the bare prototype)",
    )
    how.add_argument(
        "--seed", type=int, default=0, metavar="N", help="random seed (default: %(default)s)"
    )
    how.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="CPU threads to compute on; 0: all the CPUs but one, at most torch's default "
        "(default: %(default)s); on a busy machine fewer threads can be much faster",
    )
    how.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to compute; auto takes a GPU if there is one (default: %(default)s)",
    )

    models = p.add_argument_group("model files")
    add_model_dir(models)
    models.add_argument(
        "--jukebox-weights",
        type=Path,
        metavar="PATH",
        help="jukebox backend: this VQ-VAE file instead of the model folder's (default: none)",
    )
    p.fill_help = _describe_defaults
    p.set_defaults(func=main, stray_hint=stray_words_hint)


def _describe_defaults(parser: argparse.ArgumentParser) -> None:
    """Fill each backend's defaults (``core.separation.loading.default_config``) into the help."""
    from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE
    from tagbox_gui.core.separation.loading import default_config

    configs = {backend: default_config(backend) for backend in BACKENDS}

    def each(value: Callable[[RunConfig], object]) -> str:
        return ", ".join(f"{backend} {value(config)}" for backend, config in configs.items())

    values = {
        "steps": each(lambda c: c.steps),
        "lr": each(lambda c: f"{c.lr:g}"),
        "fft": each(lambda c: ",".join(map(str, c.fft_sizes))),
        "taggers": each(lambda c: "+".join(map(str, c.taggers))),
        "quantise": configs["jukebox"].quantise.value,
        "template": DEFAULT_TEMPLATE,
    }
    for action in parser._actions:
        if action.dest == "balance_tags":
            action.help = ("wanted and avoided tags weigh half of the loss each, instead of one "
                           "equal weight per tag (default: "
                           f"{each(lambda c: 'on' if c.balance_tags else 'off')})")  # fmt: skip
        elif action.help and "{" in action.help:
            action.help = action.help.format(**values)


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


def stray_words_hint(args: argparse.Namespace, extra: list[str]) -> str:
    """The likely fix for words no argument takes, or ''.

    A musician may type ``tagbox separate song.wav piano`` or ``--tags piano guitar``: the
    instruments are named with ``--tags``, several of them separated by commas.
    """
    if args.each or args.example or any(word.startswith("-") for word in extra):
        return ""
    named = ",".join([*(args.tags or ()), *extra])
    fix = f"--tags {shlex.quote(named)}"
    return f" (name what to separate with --tags, commas between names: {fix})"


def main(args: argparse.Namespace) -> int:
    """Run `tagbox separate`."""
    from tagbox_gui.core.audio.export import stem_paths
    from tagbox_gui.core.audio.song import analysis_signal, load_song
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.job import looking_again
    from tagbox_gui.core.separation.threads import use_threads

    _check_request(args)
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
    runner = functools.partial(engine.run, measure_residual=False)
    if args.refine is not False:
        runner = looking_again(runner)
    run = runner(config, song, store, ModelCache())  # checks every setting
    paths = stem_paths(args.output, song.name, _stem_words(config), _format(args),
                       template=_template(args))  # fmt: skip
    _refuse_existing(paths, args)
    steps: list[StepResult] = []
    result = _drive(run, config, steps)
    paths = _export(song, config, result, args)
    if args.log_json:
        _write_json(args.log_json, _log(config, steps))
    print(f"separated: {paths[0]}\nresidual:  {paths[1]}")
    level = run_level(analysis_signal(song), result) if judges_quiet([config.backend]) else None
    if level is not None:
        name = " + ".join(_stem_words(config)) or "the separated stem"
        _note_quiet({name: level}, "--example-region START:END, or --example FILE:START:END")
    return 0


def _separate_each(args: argparse.Namespace, store: ModelStore) -> int:
    """``--each``: one run per entry (``core.separation.job``), then stems that share the mix,
    and the rest."""
    from tagbox_gui.core.audio.export import export_shared_stems, shared_stem_paths
    from tagbox_gui.core.audio.song import load_song
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.job import JobPart, run_job
    from tagbox_gui.core.separation.provenance import job_provenance

    if args.mode != Mode.MASK.value:
        raise ConfigError("--each needs mask mode: free-mode stems have no mask to share")
    song = load_song(args.song)
    parts = [JobPart(entry.name, build_config(args, store, entry)) for entry in args.each]
    cache = ModelCache()
    for part in parts:  # every entry's settings, clip and models, up front
        _prepare(part, song, store, cache)
    paths = shared_stem_paths(args.output, song.name, [p.name for p in parts], _format(args),
                              template=_template(args))  # fmt: skip
    _refuse_existing(paths, args)
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
        _note_quiet(result.levels, "--each NAME=FILE:START:END")
    return 0


def _note_quiet(levels: dict[str, float], how: str) -> None:
    """Tell, on stderr, which stems came out very quiet, and how to ask for them instead."""
    said = describe_quiet(quiet_stems(levels))
    if said:
        print(f"note: {said}. An instrument that plays louder than that was not recognised: "
              f"ask for it by an example, a few seconds where it plays ({how}).",
              file=sys.stderr)  # fmt: skip


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


def _check_request(args: argparse.Namespace) -> None:
    """ConfigError for options that do not go together or name a file that is not there."""
    if args.tags is not None and args.each is not None:
        raise ConfigError("give either --tags (one separation) or --each (one per instrument)")
    if args.tags is None and args.each is None and args.example is None:
        raise ConfigError("say what to separate: --tags piano, --each drums,bass or --example")
    if args.each is not None and args.example is not None:
        raise ConfigError(
            "--example asks for one stem; with --each give the clip as an entry "
            "NAME=FILE[:START:END], e.g. --each drums,organ=organ.wav:3:8"
        )
    if args.each is not None:
        _check_each_names(args.each)
    if args.name_template is not None:
        from tagbox_gui.core.audio.naming import check_template

        check_template(args.name_template)
    if args.jukebox_weights is not None:
        if not args.jukebox_weights.is_file():
            what = "is a folder" if args.jukebox_weights.is_dir() else "does not exist"
            raise ConfigError(f"--jukebox-weights '{args.jukebox_weights}' {what}; give the "
                              "Jukebox VQ-VAE file (vqvae.pth.tar)")  # fmt: skip
        if (args.backend or "learned") != "jukebox":
            raise ConfigError("--jukebox-weights is used only by the jukebox backend; add "
                              "--backend jukebox")  # fmt: skip


def _check_each_names(entries: tuple[EachEntry, ...]) -> None:
    """ConfigError if two entries have one name (in any case: it names their files)."""
    seen: dict[str, str] = {}
    for entry in entries:
        first = seen.get(entry.name.casefold())
        if first is None:
            seen[entry.name.casefold()] = entry.name
        else:
            also = f" (as '{first}' and '{entry.name}')" if first != entry.name else ""
            raise ConfigError(f"--each names '{entry.name}' twice{also}; give every stem "
                              "its own name")  # fmt: skip


def _check_outputs(args: argparse.Namespace) -> None:
    """Every path the run will write, checked before its first step; nothing is created."""
    check_folder(args.output)
    if args.log_json is not None:
        check_file(args.log_json, "--log-json file")


def _refuse_existing(paths: list[Path] | tuple[Path, ...], args: argparse.Namespace) -> None:
    """ConfigError listing the stems already in the output folder, unless ``--overwrite``."""
    from tagbox_gui.core.audio.export import existing_files

    existing = existing_files(paths)
    if existing and not args.overwrite:
        names = ", ".join(f"'{path.name}'" for path in existing)
        raise ConfigError(f"{names} {'is' if len(existing) == 1 else 'are'} already in "
                          f"'{args.output}'; add --overwrite to replace "
                          f"{'it' if len(existing) == 1 else 'them'}, or choose another "
                          "folder with -o")  # fmt: skip


def _template(args: argparse.Namespace) -> str:
    from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE

    return args.name_template if args.name_template is not None else DEFAULT_TEMPLATE


def _format(args: argparse.Namespace) -> ExportFormat:
    from tagbox_gui.core.audio.export import ExportFormat

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
    from tagbox_gui.core.audio.export import ExportFormat, export_stems
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
