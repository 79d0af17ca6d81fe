"""Export a trained separator as the app's package data, with a prototype query per instrument.

``python -m training.export --corpus /work/corpus-ship9 --run training/checkpoints/v9s``
writes ``tagbox_gui/resources/separator/separator.pt`` (weights, their query statistics and
the prototypes, loadable with ``weights_only``) and prints its sha256, which goes into
``core/separation/backends/learned.py`` (``WEIGHTS_SHA256``).

A prototype is the mean cached query of the training stems of an instrument: of a whole
family (``piano``, ``organ``, ``brass`` ...), or of a few General MIDI programs for the
app's instrument presets that are one instrument of a family (``violin``, ``flute`` ...).
``vocals`` has none: the corpus has no singing (GM choir "aahs" are not vocals), so vocals
are asked for by example.

With ``--run`` given more than once, the exported network is the element-wise mean of the
runs' weights (a "model soup", Wortsman et al., ICML 2022). That is only meaningful for runs
that continued one set of weights (the same start, a few thousand steps apart), so that their
weights lie in one basin; the runs must have the same network shape and the same query
statistics.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from tagbox_gui.core.audio.atomic import write_atomically, write_through
from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.separator import (
    QuerySeparator,
    SeparatorShape,
    load_separator,
    save_separator,
)
from tagbox_gui.core.store.models import file_sha256
from training.corpus import check_split, named_songs, split_songs
from training.outputs import check_output_file, writing
from training.queries import load_queries, query_path

PACKAGE = Path(__file__).parents[1] / "tagbox_gui"
PACKAGE_FILE = PACKAGE / "resources" / "separator" / "separator.pt"
LEARNED_MODULE = PACKAGE / "core" / "separation" / "backends" / "learned.py"

PROGRAM_PROTOTYPES: dict[str, tuple[int, ...]] = {
    "violin": (40, 110),
    "viola": (41,),
    "cello": (42,),
    "contrabass": (43,),
    "harp": (46,),
    "harpsichord": (6,),
    "electric_piano": (4, 5),
    "flute": (73,),
    "trumpet": (56,),
    "trombone": (57,),
    "saxophone": (64, 65, 66, 67),
    "clarinet": (71,),
    "sitar": (104,),
    "banjo": (105,),
    "acoustic_guitar": (24, 25),
    "electric_guitar": (26, 27, 28, 29, 30, 31),
}
"""Instruments that are a few programs of a family; every family is a prototype of its own."""

FAMILY_ALIASES: dict[str, tuple[str, ...]] = {"synth": ("synth_lead", "synth_pad")}


def instrument_prototypes(corpus: Path, songs: list[str]) -> dict[str, torch.Tensor]:
    """Mean query per family, per :data:`PROGRAM_PROTOTYPES` entry and per alias."""
    queries = load_queries(corpus, songs)
    by_family: dict[str, list[np.ndarray]] = {}
    by_program: dict[int, list[np.ndarray]] = {}
    for song in songs:
        meta = json.loads((corpus / "songs" / song / "meta.json").read_text())
        for index, stem in enumerate(meta["stems"]):
            by_family.setdefault(stem["family"], []).append(queries[song][index])
            if not stem.get("is_drum"):
                by_program.setdefault(int(stem["program"]), []).append(queries[song][index])
    rows = {name: rows for name, rows in by_family.items()}
    for name, programs in PROGRAM_PROTOTYPES.items():
        picked = [q for p in programs for q in by_program.get(p, [])]
        if picked:
            rows[name] = picked
    for name, families in FAMILY_ALIASES.items():
        rows[name] = [q for f in families for q in by_family.get(f, [])]
    return {name: torch.from_numpy(np.mean(r, axis=0)) for name, r in rows.items() if r}


def queried_training_songs(corpus: Path) -> list[str]:
    """The training songs of ``corpus`` whose queries are cached, which the prototypes are the
    mean queries of; SystemExit when there is none (a mistyped ``--corpus``, one not yet
    queried, or one whose split puts no song on the training side), rather than weights with
    no prototype, which nothing could ask by name."""
    train, valid = split_songs(corpus)
    check_split(corpus, train, valid, held_out=False)
    songs = [s for s in train if query_path(corpus, s).exists()]
    if not songs:
        raise SystemExit(f"{corpus}: no training song with cached queries (training.queries "
                         "caches them), so no prototype; check --corpus")  # fmt: skip
    return songs


def check_run_corpus(run: Path, corpus: Path, train_songs: list[str]) -> None:
    """SystemExit in one line unless ``train_songs`` (the queried training songs of ``corpus``)
    hold every training song that the run's ``last.pt`` records: the prototypes would
    otherwise be mean queries of another corpus, paired with the query statistics the network
    learned on its own. A run whose ``last.pt`` is gone, or records no songs (written before
    runs recorded them), is not checked."""
    last = run / "last.pt"
    if not last.is_file():
        return
    try:
        state = torch.load(last, map_location="cpu", weights_only=True)
    except UNREADABLE as exc:
        raise SystemExit(f"{last} cannot be read ({_reason(exc)}), so the songs the run trained "
                         "on cannot be checked against --corpus; put back a copy of "
                         "it") from exc  # fmt: skip
    recorded = state.get("songs") if isinstance(state, dict) else None
    have = set(train_songs)
    missing = [song for song in (recorded or {}).get("train", []) if song not in have]
    if missing:
        raise SystemExit(f"{corpus} does not hold the training songs of {last} with their "
                         f"queries ({named_songs(missing)}): give --corpus the corpus the run "
                         "trained on")  # fmt: skip


def run_weights(path: Path) -> tuple[QuerySeparator, int]:
    """The network and step of a run's ``separator.pt`` or ``best.pt``, or of its ``last.pt``.

    ``last.pt`` (the resumable checkpoint, which a run commits) serves where the exported files
    of a run, which are not committed, are missing: a fresh clone can export any committed run.
    """
    if not path.is_file():
        raise SystemExit(f"{path}: no such file (--weights names a run's separator.pt, best.pt "
                         "or last.pt; a fresh clone has only the committed last.pt)")  # fmt: skip
    try:
        return _read_run_weights(path)
    except UNREADABLE as exc:
        raise SystemExit(f"{path} is not a run's weights, or is damaged ({_reason(exc)}): "
                         "--weights names a run's separator.pt, best.pt or last.pt; put back "
                         "a copy of a damaged one") from exc  # fmt: skip


UNREADABLE = (ModelError, OSError, RuntimeError, EOFError, KeyError, TypeError, ValueError,
              pickle.UnpicklingError, zipfile.BadZipFile)  # fmt: skip
"""What reading a file that is not a run's weights, or is damaged, raises."""


def _read_run_weights(path: Path) -> tuple[QuerySeparator, int]:
    """:func:`run_weights` of a file that exists; raises one of :data:`UNREADABLE`."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict):
        raise TypeError(f"it holds a {type(data).__name__}, not a dict")
    if "model" not in data:
        net, extra = load_separator(path)
        return net, int(extra["step"])
    net = QuerySeparator(SeparatorShape(**data["shape"]))
    net.load_state_dict(data["model"], strict=True)
    return net.eval().requires_grad_(False), int(data["step"])


def _reason(exc: BaseException) -> str:
    """Why a file could not be read, in a few words: the first sentence of the error (of its
    cause, for the app's ModelError, which names the file again)."""
    if isinstance(exc, ModelError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!s}" if exc.args else "KeyError"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(exc).__name__


def average_networks(nets: list[QuerySeparator]) -> QuerySeparator:
    """The element-wise mean of networks of one shape and one query standardisation."""
    first = nets[0]
    states = [net.state_dict() for net in nets]
    for net, state in zip(nets[1:], states[1:], strict=True):
        if net.shape != first.shape:
            raise SystemExit(f"cannot average networks of shapes {first.shape} and {net.shape}")
        for key in ("query_mean", "query_std"):
            if not torch.equal(state[key], states[0][key]):
                raise SystemExit("cannot average networks with different query statistics")
    mean = QuerySeparator(first.shape)
    mean.load_state_dict({key: torch.stack([s[key] for s in states]).mean(0) for key in states[0]})
    return mean.eval().requires_grad_(False)


def write_weights(net: QuerySeparator, path: Path, extra: dict) -> None:
    """``save_separator`` to a temporary name beside ``path``, then renamed over it, so that an
    export stopped half way leaves ``path`` as it was: never a file cut short where the app
    looks for its weights, nor over the weights an export was reading."""
    with writing(path, f"{path.name} is as it was: free some space or give another --out"):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        write_through(path, lambda to: save_separator(net, to, extra), tmp)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export the separator as package data.")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True, action="append",
                        help="a training output folder; given more than once, the runs' "
                        "weights are averaged")  # fmt: skip
    parser.add_argument("--out", type=Path, default=PACKAGE_FILE)
    parser.add_argument("--weights", default="separator.pt",
                        help="which weights of the run: separator.pt (the last checkpoint's), "
                        "best.pt (the best validation's) or last.pt (the last checkpoint, "
                        "committed with the run)")  # fmt: skip
    args = parser.parse_args(argv)
    check_output_file(args.out, "--out file")  # before the weights are read
    train_songs = queried_training_songs(args.corpus)
    nets, steps = zip(*(run_weights(run / args.weights) for run in args.run), strict=True)
    for run in args.run:
        check_run_corpus(run, args.corpus, train_songs)
    net = nets[0] if len(nets) == 1 else average_networks(list(nets))
    step = max(steps)
    prototypes = instrument_prototypes(args.corpus, train_songs)
    extra: dict[str, object] = {"prototypes": prototypes, "step": step}
    if len(nets) > 1:
        extra["averaged"] = [f"{run.name}@{s}" for run, s in zip(args.run, steps, strict=True)]
    write_weights(net, args.out, extra)
    print(f"{args.out}: step {step}, {len(prototypes)} prototypes "
          f"({', '.join(sorted(prototypes))})")  # fmt: skip
    digest = file_sha256(args.out)
    if args.out.resolve() == PACKAGE_FILE.resolve():  # however it was named, the app checks it
        _record_sha256(digest)
    print(f"sha256 {digest}")


def _record_sha256(digest: str) -> None:
    """Write the shipped file's sha256 into the learned backend's registry entry."""
    text = LEARNED_MODULE.read_text()
    updated = re.sub(r'^WEIGHTS_SHA256 = "[0-9a-f]*"$', f'WEIGHTS_SHA256 = "{digest}"', text,
                     count=1, flags=re.MULTILINE)  # fmt: skip
    if updated == text and digest not in text:
        raise SystemExit(f"WEIGHTS_SHA256 not found in {LEARNED_MODULE}")
    write_atomically(LEARNED_MODULE, updated)  # a module never cut short


if __name__ == "__main__":
    main()
