"""`tagbox models`: list, fetch, verify and install the model files the application uses.

Model names are the registry's (:data:`tagbox_gui.core.store.registry.REGISTRY`): ``fcn/mtat`` style
for taggers, ``jukebox-vqvae-5b`` for the Jukebox VQ-VAE. The model folder is ``--model-dir``,
else ``$TAGBOX_MODEL_DIR``, else the per-user cache; ``$TAGBOX_MODEL_BASE_URL`` points fetches
at a mirror laid out like the store.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from tagbox_gui.cli.common import add_model_dir, terminate_as_ctrl_c
from tagbox_gui.core.errors import ModelError, listed
from tagbox_gui.core.folders import format_size
from tagbox_gui.core.separation.checkpoints import check_model_file
from tagbox_gui.core.store.download import Progress
from tagbox_gui.core.store.failures import Advised
from tagbox_gui.core.store.keeping import kept_in_brief, kept_said
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import (
    REGISTRY,
    TAGGERS_FOR,
    ModelInfo,
    check_licence,
    described,
    model_info,
)

_NAME_HELP = "model name, e.g. fcn/mtat (`tagbox models list` lists them)"
_ACCEPT_LICENSE_HELP = (
    "accept the model's licence where it asks for consent (Jukebox: non-commercial)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` sub-command and its actions."""
    parser = subparsers.add_parser(
        "models",
        help="list, download and check model files",
        description=(
            "List, download, verify and install model files. Taggers are named ARCH/DATASET "
            "(e.g. fcn/mtat), the Jukebox VQ-VAE jukebox-vqvae-5b. $TAGBOX_MODEL_BASE_URL "
            "makes fetch use a mirror laid out like the model folder."
        ),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    add_model_dir(common)

    listing = actions.add_parser("list", parents=[common], help="show every model and its status")
    listing.set_defaults(func=_list)

    fetch = actions.add_parser("fetch", parents=[common], help="download models")
    fetch.add_argument("names", nargs="+", metavar="NAME", help=_NAME_HELP)
    fetch.add_argument("--accept-license", action="store_true", help=_ACCEPT_LICENSE_HELP)
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    fetch.set_defaults(func=_fetch)

    verify = actions.add_parser("verify", parents=[common], help="check files against sha256")
    verify.add_argument("names", nargs="*", metavar="NAME", help="models to check (default: all)")
    verify.set_defaults(func=_verify)

    install = actions.add_parser(
        "install", parents=[common], help="copy a hand-downloaded model file into the store"
    )
    install.add_argument("name", metavar="NAME", help=_NAME_HELP)
    install.add_argument(
        "file", type=Path, metavar="FILE", help="the downloaded file, checked before it is copied"
    )
    install.add_argument("--accept-license", action="store_true", help=_ACCEPT_LICENSE_HELP)
    install.set_defaults(func=_install)


def _store(args: argparse.Namespace) -> ModelStore:
    return ModelStore(args.model_dir)


def _size(info: ModelInfo) -> str:
    if info.size is None:
        return "unknown"
    return format_size(info.size)


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = [("NAME", "KIND", "LICENCE", "SIZE", "SHA256", "STATUS")]
    for info in REGISTRY.values():
        checksum = "known" if info.sha256 else "unknown"
        status = store.status(info.name)
        if kept := store.kept(info.name):  # a download that stopped part of the way
            status += f" ({kept_in_brief(kept, 'fetch')})"
        rows.append((info.name, info.kind, info.licence, _size(info), checksum, status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    print(f"Model folder: {store.root}")
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    """Fetch each model named, on past those that fail, and the status 2 (as for any error) if
    any failed. Each failure is one line on stderr; one whose cause an earlier model's failure
    had (a server refusing every request, say) is not said again: a last line names those
    models with their cause."""
    store = _store(args)
    infos = [model_info(name) for name in args.names]
    for info in infos:  # refuse before any download starts
        check_licence(info, args.accept_license)
    failed = 0
    again: dict[str, list[str]] = {}  # a cause said in full -> the models that failed of it after
    for info in infos:
        try:
            _fetch_one(store, info, args.force, args.accept_license)
        except ModelError as exc:  # this model's: the next may still come
            failed += 1
            cause = exc.cause if isinstance(exc, Advised) else None
            if cause in again:
                again[cause].append(info.name)
                continue
            if cause is not None:
                again[cause] = []
            print(f"tagbox: error: {exc}", file=sys.stderr)
    for cause, names in again.items():
        if names:
            print(f"tagbox: error: could not download {listed(names)} either, for the same reason "
                  f"({cause})", file=sys.stderr)  # fmt: skip
    return 2 if failed else 0


def _fetch_one(store: ModelStore, info: ModelInfo, force: bool, accept_license: bool) -> None:
    if not force and store.verify(info.name) in ("verified", "unknown checksum"):
        print(f"{info.name}: already present at {store.location(info.name)}")
        return
    try:
        with terminate_as_ctrl_c(), _ProgressBar(info.name) as progress:
            path = store.fetch(
                info.name,
                progress=progress,
                accept_license=accept_license,
                force=force,  # a fresh download, not going on from what one kept
                check=check_model_file,
            )
    except KeyboardInterrupt:  # Ctrl+C, SIGTERM
        print(f"{info.name}: {kept_said(store.kept(info.name))}", file=sys.stderr)
        raise
    print(f"{info.name}: saved to {path}")


def on_a_terminal() -> bool:
    """Whether someone can be asked: standard input and error are a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def fetch_missing(store: ModelStore, names: Iterable[str]) -> None:
    """Bring the models of ``names`` that ``store`` lacks into it before a run loads them: on a
    terminal, once the musician agrees to what they are for and their size; declined, or with
    no terminal, a ModelError naming them all and the one command that fetches them. A model
    whose licence asks for consent (Jukebox), and a store whose folder is gone, are left to
    the refusal of the run that loads them."""
    missing = [i for i in map(model_info, store.missing(names)) if not i.needs_acceptance]
    if not missing:
        return
    them = "them" if len(missing) > 1 else "it"
    absent = [i.name for i in missing]
    command = f"tagbox models fetch {' '.join(absent)}"
    refusal = ModelError(
        f"{listed(absent)} {'are' if len(missing) > 1 else 'is'} not "
        f"installed in {store.root} ({TAGGERS_FOR}); download {them} with `{command}`"
    )
    if not on_a_terminal():
        raise refusal
    print(f"This run needs {described(absent)}, not installed in {store.root}: {TAGGERS_FOR}.",
          file=sys.stderr)  # fmt: skip
    print(f"Download {them} now (once: kept there)? [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise refusal
    for info in missing:
        _fetch_one(store, info, force=False, accept_license=False)


class _ProgressBar:
    """A tqdm bar on stderr driven by the store's ``(done, total)`` callback."""

    def __init__(self, name: str) -> None:
        self._bar = tqdm(desc=name, unit="B", unit_scale=True, file=sys.stderr, leave=True)

    def __enter__(self) -> Progress:
        return self._update

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    def _update(self, done: int, total: int | None) -> None:
        if done < self._bar.n or total != self._bar.total:
            # Another mirror started over, or the size became known.
            self._bar.reset(total=total)
        self._bar.update(done - self._bar.n)


def _verify(args: argparse.Namespace) -> int:
    """Check each model; 1 if a file mismatches or cannot be read, a model named is missing, or
    none is there."""
    store = _store(args)
    names = [model_info(name).name for name in args.names] or list(REGISTRY)
    width = max(len(name) for name in names)
    results = {name: store.verify(name) for name in names}
    for name, result in results.items():
        print(f"{name.ljust(width)}  {result}")
    mismatches = [name for name, result in results.items() if result == "mismatch"]
    unreadable = [name for name, result in results.items() if result == "unreadable"]
    missing = [name for name, result in results.items() if result == "missing"]
    if mismatches:
        print(f"tagbox: {len(mismatches)} model file(s) do not match their checksum; "
              "download them again with `tagbox models fetch NAME --force`",
              file=sys.stderr)  # fmt: skip
    elif unreadable:
        print(f"tagbox: {', '.join(unreadable)} cannot be read in {store.root}; check the "
              "files' permissions", file=sys.stderr)  # fmt: skip
    elif args.names and missing:
        print(f"tagbox: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
              f"installed in {store.root}; download with `tagbox models fetch NAME`",
              file=sys.stderr)  # fmt: skip
    elif len(missing) == len(results):
        print(f"tagbox: no model is installed in {store.root}; download one with "
              "`tagbox models fetch fcn/mtat`, or choose the folder with --model-dir",
              file=sys.stderr)  # fmt: skip
    else:
        return 0
    return 1


def _install(args: argparse.Namespace) -> int:
    store = _store(args)
    with terminate_as_ctrl_c():  # a kill leaves no partial copy in the model folder
        path = store.install_file(
            args.name, args.file, accept_license=args.accept_license, check=check_model_file
        )
    print(f"{model_info(args.name).name}: installed at {path} ({store.verify(args.name)})")
    return 0
