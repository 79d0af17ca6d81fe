"""The options of `tagbox evaluate` (``tagbox evaluate --help`` shows them with their
defaults); the command itself is ``cli.evaluate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from tagbox_gui.cli.common import (
    add_balance_tags,
    add_model_dir,
    comma_list,
    fft_sizes,
    seed,
    tagger_spec,
)
from tagbox_gui.core.separation.backends import BACKENDS


def add_options(p: argparse.ArgumentParser) -> None:
    """Every option of `evaluate`, in the groups its help page shows."""
    _add_set(p.add_argument_group("the set and the scores"))
    _add_asking(p.add_argument_group("how each source is asked for (defaults differ by backend)"))
    _add_stems(p.add_argument_group("how a song's stems are made"))
    _add_running(p.add_argument_group("running"))


def _add_set(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "set_dir",
        type=Path,
        metavar="SET_DIR",
        help="a folder of songs with their true stems, laid out like shared/eval/dev",
    )
    group.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="EST_DIR",
        help="folder for the estimates and stems, made if missing (required)",
    )
    group.add_argument(
        "--sources",
        type=comma_list,
        metavar="A,B,...",
        help="evaluate only these sources (default: every source of the set)",
    )
    group.add_argument(
        "--score-from",
        type=float,
        default=0.0,
        metavar="S",
        help="score each song from S seconds on (the whole song is still separated); with "
        "--example-seconds S the example clips are not part of what is scored: a source whose "
        "clip was taken later, where it starts to play, is scored from S seconds after the clip "
        "starts (default: %(default)g)",
    )
    group.add_argument(
        "--json", type=Path, metavar="FILE", help="also write every score to FILE (default: none)"
    )


def _add_asking(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default="learned",
        help="the separator: learned, our trained one; light, NMF gates steered by the "
        "taggers; jukebox, the paper's VQ-VAE latent (default: %(default)s)",
    )
    group.add_argument(
        "--example-seconds",
        type=float,
        metavar="S",
        help="learned backend: a source it has no prototype for (e.g. vocals), or one named "
        "in --by-example, is asked for by the first S seconds of its true stem as the example "
        "clip; where the stem is silent throughout those, the S seconds from where it starts to "
        "play (see --score-from); one whose stem is silent, or has no such clip before its "
        "end, is not separated. At least 0.5, no longer than the longest song (default: none, "
        "so such a source is not separated; 3 with --by-example)",
    )
    group.add_argument(
        "--by-example",
        type=comma_list,
        metavar="A,B,...",
        help="learned backend: ask for these sources by example even if they have a prototype "
        "(default: none)",
    )
    group.add_argument(
        "--fit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the learned separator (0 steps) fits each source's prototype to the song, where "
        "the prototype has a fit (default: on)",
    )
    group.add_argument(
        "--tagger",
        action="append",
        type=tagger_spec,
        metavar="ARCH/DATASET",
        help="a tagger that steers the steps; repeat for several, and each source uses those "
        "that have a tag for it (default: {taggers}, or fcn/jamendo for a source those lack, "
        "e.g. bass)",
    )
    group.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="optimisation steps that steer each separation with the taggers; 0 is one pass "
        "of the learned separator (default: {steps})",
    )
    group.add_argument(
        "--lr", type=float, metavar="RATE", help="learning rate of those steps (default: {lr})"
    )
    group.add_argument(
        "--fft",
        type=fft_sizes,
        metavar="N,N,...",
        help="FFT sizes of the masks and the taggers' loss (default: {fft})",
    )
    add_balance_tags(group)


def _add_stems(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--share",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the sources of a song share its mixture: a bin the separations claim more than "
        "once is split in proportion to the claims (default: on)",
    )
    group.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --share, the learned separator looks at each source a second time, in the "
        "song without the other sources' first estimates (default: on)",
    )
    group.add_argument(
        "--alone",
        action="store_true",
        help="separate each source as one instrument asked for alone (tagbox separate --tags "
        "piano): a single run, looked at again beside the bass and the drums unless "
        "--no-refine, its stem not sharing the mix; implies --no-share (default: off)",
    )


def _add_running(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--seed", type=seed, default=0, metavar="N", help="random seed (default: %(default)s)"
    )
    group.add_argument(
        "--device",
        default="cpu",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to compute; auto takes a GPU if there is one (default: %(default)s, unlike "
        "separate's auto: the project's scores are measured on the CPU)",
    )
    group.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads of each separation, at most the logical CPUs (default: torch's, "
        "divided among the worker processes of --jobs)",
    )
    group.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="separate N pairs at once, in worker processes (no more than there are pairs "
        "left to separate; none when every estimate is kept) (default: %(default)s)",
    )
    add_model_dir(group)
