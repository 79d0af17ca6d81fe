"""`tagbox tags`: the names `tagbox separate --tags` understands, for each backend and tagger."""

from __future__ import annotations

import argparse
import textwrap

from tagbox_gui.cli.common import tagger_spec

_WIDTH = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tags`` sub-command."""
    parser = subparsers.add_parser(
        "tags",
        help="list the instrument names and tags you can separate",
        description=(
            "List the names that `tagbox separate --tags` (and --each, --avoid, --ignore) "
            "understands. The learned backend, the default, is asked for an instrument it was "
            "trained on; with --steps the taggers steer it too, so the instrument must be one "
            "they know as well. The light and jukebox backends steer music taggers: they take "
            "instrument names, which stand for the right tags of each tagger, and every tag of "
            "a tagger's vocabulary (see --tagger)."
        ),
    )
    parser.add_argument(
        "--tagger",
        type=tagger_spec,
        metavar="ARCH/DATASET",
        help="also list every tag of this tagger's vocabulary, by group, e.g. fcn/jamendo",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print the names; with ``--tagger``, that tagger's whole vocabulary too."""
    from tagbox_gui.core.nets.taggers import DATASETS, check_spec, vocabulary
    from tagbox_gui.core.separation.backends.learned import load_shipped
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.tags import PRESETS, TAG_GROUPS, tag_group

    if args.tagger is not None:
        check_spec(args.tagger)
    _, prototypes = load_shipped(ModelCache())
    print("The learned backend (the default) separates these instruments:")
    print(_wrapped(", ".join(sorted(prototypes))))
    print()
    print("The taggers (light and jukebox backends, learned with --steps) take these names:")
    for preset in PRESETS:
        datasets = ", ".join(d for d in DATASETS if preset.wanted.get(d))
        also = f"; also {', '.join(preset.aliases)}" if preset.aliases else ""
        print(_wrapped(f"{preset.name.lower()} (taggers trained on {datasets}{also})"))
    print()
    if args.tagger is None:
        print(f"Every tag of a tagger: tagbox tags --tagger fcn/mtat (datasets: "
              f"{', '.join(DATASETS)}).")  # fmt: skip
        return 0
    tags = vocabulary(args.tagger.dataset)
    print(f"Tags of {args.tagger}, to give as written:")
    for group in TAG_GROUPS:
        names = [tag for tag in tags if tag_group(tag) == group]
        if names:
            print(_wrapped(f"{group}: {', '.join(names)}"))
    return 0


def _wrapped(text: str) -> str:
    return textwrap.fill(
        text, _WIDTH, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False
    )
