"""The command line of `tagbox separate`: its help, its options, and the checks of what they
ask for that need no song (options that do not go together, a name given twice)."""

from __future__ import annotations

import argparse
import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from tagbox_gui.cli.common import (
    add_balance_tags,
    add_model_dir,
    comma_list,
    fft_sizes,
    parse_example,
    parse_example_region,
    parse_region,
    seed,
    split_name_hint,
    tagger_spec,
)
from tagbox_gui.core.errors import ConfigError, listed
from tagbox_gui.core.separation.backends import BACKENDS
from tagbox_gui.core.types import Example, Mode, Quantise

EXPORT_FORMATS = ("wav32", "wav24", "wav16", "flac24", "flac16")


DESCRIPTION = """\
Separate an instrument you name out of a song. Two stems are written into OUTDIR: the
instrument ("SONG - piano.wav") and everything else ("SONG - no piano.wav"); together they add
up to the song. With --each, one stem per instrument (named, or asked for by an example clip) and
a rest stem.

The default backend, learned, is a separator trained for this app: one pass, a few seconds, no
download for an instrument you name (an example clip needs the taggers fcn/mtat and
fcn/jamendo). `tagbox tags` lists the instruments and tags you can name."""

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
    for item in _items(text):
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
        entries.append(EachEntry(name, parse_example(clip) if sep else None))
    if not entries:
        raise argparse.ArgumentTypeError("name at least one instrument, e.g. drums,bass")
    return tuple(entries)


def _items(text: str) -> list[str]:
    """The comma-separated entries of ``--each``, except that an example clip whose file name
    has a comma in it (``organ=Organ, take 2.wav:3:8``) stays one entry: a clip that is not
    there is joined with the words after it while that names a file that is."""
    items, words = [], text.split(",")
    while words:
        item, words = words[0], words[1:]
        _, sep, clip = item.partition("=")
        if sep and clip.strip() and not _clip_exists(clip):
            for count in range(len(words), 0, -1):
                joined = ",".join([item, *words[:count]])
                if _clip_exists(joined.partition("=")[2]):
                    item, words = joined, words[count:]
                    break
        items.append(item)
    return [item.strip() for item in items if item.strip()]


def _clip_exists(clip: str) -> bool:
    """Whether ``clip`` (``FILE`` or ``FILE:START:END``) names a file that is there."""
    try:
        # os.path: False, not an error, in a folder that may not be searched
        return os.path.isfile(parse_example(clip.strip()).path or "")
    except argparse.ArgumentTypeError:
        return False


def add_options(p: argparse.ArgumentParser) -> None:
    """Add every option of `tagbox separate` to ``p``, in groups a musician can scan."""
    _add_what(p.add_argument_group("what to separate"))
    _add_where(p.add_argument_group("where the stems go"))
    _add_how(p.add_argument_group("how (defaults differ by backend)"))
    _add_model_files(p.add_argument_group("model files"))


def _add_what(what: argparse._ArgumentGroup) -> None:
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
        help="tags the separated stem must not have; the steering then leaves the other tags "
        "alone (default: with --steps, every tag not wanted)",
    )
    what.add_argument(
        "--ignore",
        type=comma_list,
        default=(),
        metavar="A,B",
        help="tags the steering leaves alone, neither wanted nor avoided (default: none)",
    )


def _add_where(out: argparse._ArgumentGroup) -> None:
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
        help="file format of the stems: 32-bit float WAV, 24- or 16-bit WAV or FLAC (FLAC: "
        "songs of up to 8 channels) (default: %(default)s, which never clips)",
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
        help="also write a JSON record of the run to FILE (default: none): its settings "
        '("config"; null for those that did not act, as in the stems\' metadata), every '
        'step\'s losses ("steps"), the step the stems are of ("best_step", its loss '
        '"best_total"; 0 and null for a single pass), the step that cut the run short and why '
        '("cut_short_at", "cut_short_by"; null if none did), and whether the stem had a second '
        'look ("second_look"), without which stems ("second_look_beside") or why it failed '
        '("second_look_failed"; null if it did not); with --each, one such record per part, '
        "under its name. A file already there is replaced only with --overwrite",
    )


def _add_how(how: argparse._ArgumentGroup) -> None:
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
        "--seed", type=seed, default=0, metavar="N", help="random seed (default: %(default)s)"
    )
    how.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="CPU threads to compute on, at most the logical CPUs; 0: all the CPUs but one, at "
        "most torch's default (default: %(default)s); on a busy machine fewer threads can be "
        "much faster",
    )
    how.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to compute; auto takes a GPU if there is one (default: %(default)s)",
    )


def _add_model_files(models: argparse._ArgumentGroup) -> None:
    add_model_dir(models)
    models.add_argument(
        "--jukebox-weights",
        type=Path,
        metavar="PATH",
        help="jukebox backend: this VQ-VAE file instead of the model folder's (default: none)",
    )


def stray_words_hint(args: argparse.Namespace, extra: list[str]) -> str:
    """The likely fix for words no argument takes, or ''.

    A musician may type ``tagbox separate song.wav piano`` or ``--tags piano guitar``: the
    instruments are named with ``--tags``, several of them separated by commas. A song's name
    with spaces, typed without quotes, is told to go in quotes (``split_name_hint``).
    """
    quotes = split_name_hint(args.song, extra)
    if quotes:
        return quotes
    if args.each or args.example or any(word.startswith("-") for word in extra):
        return ""
    named = ",".join([*(args.tags or ()), *extra])
    fix = f"--tags {shlex.quote(named)}"
    return f" (name what to separate with --tags, commas between names: {fix})"


def check_request(args: argparse.Namespace) -> None:
    """ConfigError for options that do not go together or name a file that is not there."""
    if args.tags is not None and args.each is not None:
        raise ConfigError("give either --tags (one separation) or --each (one per instrument)")
    if args.tags is None and args.each is None and args.example is None:
        raise ConfigError("say what to separate: --tags piano, --each drums,bass, --example "
                          "FILE or --example-region START:END")  # fmt: skip
    if args.each is not None and args.example is not None:
        raise ConfigError(
            "--example asks for one stem; with --each give the clip as an entry "
            "NAME=FILE[:START:END], e.g. --each drums,organ=organ.wav:3:8"
        )
    backend = args.backend or "learned"
    if args.mode == Mode.FREE.value and backend != "jukebox":
        raise ConfigError(f"--mode free is the jukebox backend's, whose VQ-VAE decodes audio of "
                          f"its own; the {backend} backend only masks the song: leave --mode "
                          "out, or add --backend jukebox")  # fmt: skip
    if backend == "learned" and not args.steps:
        _refuse_steering_without_steps(args)
    if args.each is not None:
        _check_each_names(args.each)
    if args.name_template is not None:
        from tagbox_gui.core.audio.naming import check_template

        check_template(args.name_template)
    if args.jukebox_weights is not None:
        what = _not_a_file(args.jukebox_weights)
        if what:
            raise ConfigError(f"--jukebox-weights '{args.jukebox_weights}' {what}; give the "
                              "Jukebox VQ-VAE file (vqvae.pth.tar)")  # fmt: skip
        if backend != "jukebox":
            raise ConfigError("--jukebox-weights is used only by the jukebox backend; add "
                              "--backend jukebox")  # fmt: skip


def _refuse_steering_without_steps(args: argparse.Namespace) -> None:
    """ConfigError for an option that only steers the steps (``--lr``, ``--tagger``,
    ``--balance-tags``) given to a one-pass run of the learned separator, which would not use
    it: the musician likely meant to steer, and forgot ``--steps``."""
    given = [option for option, value in (("--lr", args.lr), ("--tagger", args.tagger),
             ("--balance-tags", args.balance_tags)) if value is not None]  # fmt: skip
    if given:
        one = len(given) == 1
        raise ConfigError(f"{listed(given)} only steer{'s' if one else ''} the taggers' "
                          "steps: with 0 steps the learned separator would not use "
                          f"{'it' if one else 'them'}; add --steps N, or leave "
                          f"{'it' if one else 'them'} out")  # fmt: skip


def _not_a_file(path: Path) -> str:
    """Why ``path`` is not a file ('' if it is): a folder, a pipe or a device, not there, or not
    to be looked up."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "does not exist"
    except OSError as exc:  # a folder on its way that may not be searched
        return f"cannot be looked up ({exc.strerror or type(exc).__name__})"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder"
    return "" if stat.S_ISREG(info.st_mode) else "is not a file on disk (a pipe or a device)"


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
