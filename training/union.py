"""Join rendered corpora into one, by links, so that training can draw on all of them.

``python -m training.union --out /work/corpus-ship /work/corpus /work/corpus-fr3`` makes
``OUT/songs/<song>`` a link to each part's song folder and ``OUT/queries/<song>.npy`` a link
to its cached query, where there is one. Training and export read the union like any
corpus; queries are computed in each part (``training.queries --corpus PART``) before joining,
since a query file written into the union would be a real file, which a later join refuses to
replace. Song ids carry their render seed (``s0-000012``), so parts rendered with
different seeds never collide; a collision is refused. Running it again refreshes the links
(for songs or queries made since) and never touches the parts.

This is how the shipped model adds FluidR3 (a corpus of its own, see ``training/README.md``)
to the development corpus without rendering that corpus again.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tagbox_gui.core.audio.atomic import remove_leftovers, write_atomically
from training.corpus import list_songs
from training.outputs import check_output_folder
from training.queries import query_path


def join_corpora(out: Path, parts: list[Path]) -> dict[str, int]:
    """Link the songs and cached queries of ``parts`` into ``out``; returns counts per part."""
    out = Path(out)
    owner: dict[str, Path] = {}
    manifests = []
    for part in parts:
        manifest = part / "corpus.json"
        if not manifest.is_file():
            raise SystemExit(f"{part}: not a rendered corpus (no corpus.json)")
        manifests.append({"path": str(part.resolve()), **json.loads(manifest.read_text())})
        for song in list_songs(part):
            if song in owner:
                raise SystemExit(f"song {song} is in both {owner[song]} and {part}")
            owner[song] = part
    check_output_folder(out, "union folder")  # a file, a read-only disk: refused in one line
    (out / "songs").mkdir(parents=True, exist_ok=True)
    (out / "queries").mkdir(parents=True, exist_ok=True)
    for song, part in owner.items():
        _link(out / "songs" / song, (part / "songs" / song).resolve())
        if query_path(part, song).is_file():
            _link(query_path(out, song), query_path(part, song).resolve())
    remove_leftovers(out, ("corpus.json",))  # of a join killed while it wrote it
    write_atomically(out / "corpus.json", json.dumps({"union_of": manifests}, indent=1) + "\n")
    return {str(part): sum(1 for p in owner.values() if p == part) for part in parts}


def _link(link: Path, target: Path) -> None:
    """Make ``link`` point at ``target``, replacing an older link (never a real file)."""
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return
        link.unlink()
    elif link.exists():
        raise SystemExit(f"{link} exists and is not a link; refusing to replace it")
    link.symlink_to(target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Join rendered corpora by links.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("parts", type=Path, nargs="+", help="rendered corpus folders")
    args = parser.parse_args(argv)
    counts = join_corpora(args.out, args.parts)
    for part, n in counts.items():
        print(f"{part}: {n} songs")


if __name__ == "__main__":
    main()
