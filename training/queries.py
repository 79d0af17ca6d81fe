"""Cache every stem's query: what the frozen taggers hear in it (``core.nets.queries``).

``python -m training.queries --corpus /work/corpus --models ../shared/models`` writes
``CORPUS/queries/<song>.npy`` (float32 ``[n_stems, dim]``, rows in the order of the song's
stems) for every rendered song that has none yet, so it resumes where it stopped and picks up
songs rendered since. Each query is computed once, from the whole stem.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tagbox_gui.core.nets.queries import QUERY_TAGGERS, query_of
from tagbox_gui.core.nets.taggers import Tagger, load_tagger
from training.corpus import FULL_SCALE, SAMPLE_RATE, list_songs, split_songs


def load_query_taggers(models: Path, device: str = "cpu") -> list[Tagger]:
    """The :data:`QUERY_TAGGERS`, from a folder laid out like ``shared/models``."""
    return [
        load_tagger(spec, models / "taggers" / spec.dataset / spec.arch / "best_model.pth", device)
        for spec in QUERY_TAGGERS
    ]


def query_path(corpus: Path, song: str) -> Path:
    """Where the queries of ``song``'s stems are cached."""
    return corpus / "queries" / f"{song}.npy"


def song_queries(taggers: list[Tagger], corpus: Path, song: str) -> np.ndarray:
    """Queries ``[n_stems, dim]`` of every stem of ``song`` (on the taggers' device)."""
    stems = np.load(corpus / "songs" / song / "stems.npy").astype(np.float32) / FULL_SCALE
    device = next(taggers[0].parameters()).device
    with torch.no_grad():
        return query_of(taggers, torch.from_numpy(stems).to(device), SAMPLE_RATE).cpu().numpy()


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, suffix=".npy")
    os.close(handle)
    np.save(name, array.astype(np.float32))
    os.replace(name, path)


def cache_queries(taggers: list[Tagger], corpus: Path) -> int:
    """Compute the queries of every song that has none cached; returns how many were made.

    The validation songs come first, so that training can start before the whole corpus is done.
    """
    valid = set(split_songs(corpus)[1])
    todo = [s for s in list_songs(corpus) if not query_path(corpus, s).exists()]
    todo.sort(key=lambda song: song not in valid)
    for song in tqdm(todo, desc="queries", unit="song"):
        _save(query_path(corpus, song), song_queries(taggers, corpus, song))
    return len(todo)


def load_queries(corpus: Path, songs: list[str]) -> dict[str, np.ndarray]:
    """The cached queries of ``songs`` (every one must exist)."""
    return {song: np.load(query_path(corpus, song)) for song in songs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Cache the taggers' query of every stem.")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True, help="folder with taggers/")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="where the taggers run, e.g. cuda")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    made = cache_queries(load_query_taggers(args.models, args.device), args.corpus)
    print(f"cached the queries of {made} songs in {args.corpus / 'queries'}")


if __name__ == "__main__":
    main()
