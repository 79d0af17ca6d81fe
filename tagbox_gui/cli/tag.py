"""`tagbox tag FILE`: what a tagger hears in an audio file.

The taggers hear the file as the separation's loss hears a song: mixed down to mono and
resampled to the analysis rate (44.1 kHz, ``core.audio.song.analysis_signal``), then to their
16 kHz as the loss resamples what it separates (``core.separation.objective``), whatever the
file's own rate (a 16 kHz file too: through 44.1 kHz it loses a little of its top, just below
8 kHz, as it does in a separation), and window by window as the loss does. Text output lists
the top tags of the mean over windows; ``--json`` gives every window's probabilities.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tagbox_gui.cli.common import add_model_dir, out_of_memory_said, split_name_hint
from tagbox_gui.core.errors import AudioError, ConfigError
from tagbox_gui.core.types import TaggerSpec

if TYPE_CHECKING:
    from torch import Tensor

DEFAULT_TAGGER = "fcn/mtat"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tag`` sub-command."""
    parser = subparsers.add_parser(
        "tag",
        help="show the tags a tagger hears in an audio file",
        description="Tag an audio file with one of the frozen taggers the separation uses.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="audio file to tag")
    parser.add_argument(
        "--tagger",
        default=DEFAULT_TAGGER,
        metavar="ARCH/DATASET",
        help=f"tagger to use, e.g. musicnn/jamendo (default: {DEFAULT_TAGGER})",
    )
    parser.add_argument(
        "--weights", type=Path, metavar="PATH", help="checkpoint file (default: the model folder)"
    )
    add_model_dir(parser)
    parser.add_argument("--json", action="store_true", help="print every window as JSON")
    parser.add_argument(
        "--top", type=int, default=10, metavar="N", help="tags to list (default: 10)"
    )
    parser.set_defaults(func=run, stray_hint=lambda args, extra: split_name_hint(args.file, extra))


def run(args: argparse.Namespace) -> int:
    """Tag ``args.file`` and print the result; returns the exit status."""
    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, not {args.top}")
    spec = TaggerSpec.parse(args.tagger)
    # torch is imported here, not at module level, so `tagbox --help` stays fast.
    import torch

    from tagbox_gui.core.nets.taggers import check_spec, load_tagger

    check_spec(spec)
    with out_of_memory_said("tagging the file", "tag a shorter file (cut in an audio editor)"):
        audio = _audio16k(args.file)
        tagger = load_tagger(spec, _weights(spec, args))
        with torch.no_grad():
            windows = tagger.window_probs(torch.from_numpy(audio))
    if not bool(torch.isfinite(windows).all()):  # load_song refuses the levels that do this
        raise AudioError(f"{spec} gave probabilities that are not numbers for '{args.file.name}'")
    mean = windows.mean(dim=0)
    if args.json:
        print(json.dumps(_as_json(spec, tagger.vocabulary, windows, mean)))
    else:
        seconds = len(audio) / 16000
        count = windows.shape[0]
        print(
            f"{spec} on '{args.file.name}' ({seconds:.1f} s, {count} window"
            f"{'s' if count > 1 else ''} of {tagger.window / 16000:g} s):"
        )
        print(_top_tags(tagger.vocabulary, mean.tolist(), args.top))
    return 0


def _weights(spec: TaggerSpec, args: argparse.Namespace) -> Path:
    """``--weights`` if given, else the model store's file (ModelError naming the fetch command)."""
    if args.weights is not None:
        return args.weights
    from tagbox_gui.core.store.models import ModelStore

    return ModelStore(args.model_dir).tagger_path(spec)


def _audio16k(path: Path) -> np.ndarray:
    """The file as the separation's loss hears it: mono float32 at the taggers' rate, resampled
    from the song's analysis signal (44.1 kHz), not from the file's own rate. ConfigError where
    that is silent: tags of digital silence would be noise."""
    import torch

    from tagbox_gui.core.audio.song import analysis_signal, load_song
    from tagbox_gui.core.dsp.spectral import resample
    from tagbox_gui.core.nets.taggers import TAGGER_RATE
    from tagbox_gui.core.types import ANALYSIS_RATE

    song = load_song(path)
    mono = np.array(analysis_signal(song))  # a copy: the shared one is read-only
    if not np.any(mono):
        cancels = np.any(song.data)  # one channel is the other upside down
        cancel = " once its channels are mixed to mono (they cancel out)" if cancels else ""
        raise ConfigError(f"'{path}' is silent{cancel}, which is what the taggers hear: there "
                          "is nothing to tag; choose a file where something plays")  # fmt: skip
    _warn_if_nearly_silent(path, mono)
    with torch.no_grad():
        return resample(torch.from_numpy(mono), ANALYSIS_RATE, TAGGER_RATE).numpy()


def _warn_if_nearly_silent(path: Path, mono: np.ndarray) -> None:
    """Warn (the tags are still printed) where the file's loudest second, as the taggers hear
    it, is under the level an example clip must reach: its tags are those of a noise floor."""
    from tagbox_gui.core.audio.song import EXAMPLE_FLOOR_DB, loudest_second_db
    from tagbox_gui.core.types import ANALYSIS_RATE

    level = loudest_second_db(mono, ANALYSIS_RATE)
    if level < EXAMPLE_FLOOR_DB:
        print(f"tagbox: warning: '{path.name}' is nearly silent: its loudest second is at "
              f"{level:.1f} dBFS, under the {EXAMPLE_FLOOR_DB:g} dBFS an example clip needs, "
              "so its tags are those of a noise floor (hiss, dither)", file=sys.stderr)  # fmt: skip


def _as_json(
    spec: TaggerSpec, tags: tuple[str, ...], windows: Tensor, mean: Tensor
) -> dict[str, object]:
    return {
        "tagger": str(spec),
        "tags": list(tags),
        "windows": windows.tolist(),
        "mean": mean.tolist(),
    }


def _top_tags(tags: tuple[str, ...], probs: list[float], top: int) -> str:
    ranked = sorted(zip(probs, tags, strict=True), key=lambda item: -item[0])[:top]
    width = max(len(tag) for _, tag in ranked)
    return "\n".join(f"  {tag.ljust(width)}  {prob:.3f}" for prob, tag in ranked)
