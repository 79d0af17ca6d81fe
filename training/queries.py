"""Cache every stem's query: what the frozen taggers hear in it (``core.nets.queries``).

``python -m training.queries --corpus /work/corpus --models ../shared/models`` writes
``CORPUS/queries/<song>.npy`` (float32 ``[n_stems, dim]``, rows in the order of the song's
stems) for every rendered song that has none yet, so it resumes where it stopped and picks up
songs rendered since. Each query is computed once, from the whole stem.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tagbox_gui.core.audio.atomic import remove_leftovers
from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.queries import QUERY_TAGGERS, query_of
from tagbox_gui.core.nets.taggers import Tagger, load_tagger
from tagbox_gui.core.separation.memory import keep_freed_memory
from tagbox_gui.core.types import TaggerSpec
from training.corpus import FULL_SCALE, SAMPLE_RATE, list_songs, save_array, split_songs
from training.mixes import Example
from training.outputs import writing
from training.stems import StemRef

PROTOTYPE_SHARE = 0.2
"""Of the single-source examples, the share asked for by the family's mean query (as by tag)."""


def tagger_path(models: Path, spec: TaggerSpec) -> Path:
    """Where a folder laid out like ``shared/models`` (the model store's layout) keeps a
    tagger's weights."""
    return models / "taggers" / spec.dataset / spec.arch / "best_model.pth"


def load_query_taggers(models: Path, device: str = "cpu") -> list[Tagger]:
    """The :data:`QUERY_TAGGERS`, from a folder laid out like ``shared/models``."""
    return [load_tagger(spec, tagger_path(models, spec), device) for spec in QUERY_TAGGERS]


def command_taggers(models: Path, device: str) -> list[Tagger]:
    """:func:`load_query_taggers` for the command line: SystemExit in one line when the
    weights are missing (saying how to fetch them into ``models``) or cannot be loaded."""
    missing = [spec for spec in QUERY_TAGGERS if not tagger_path(models, spec).is_file()]
    if missing:
        names = " ".join(f"{spec.arch}/{spec.dataset}" for spec in missing)
        taggers = "tagger" if len(missing) == 1 else "taggers"
        raise SystemExit(f"--models {models}: no weights of the {taggers} {names} at "
                         f"{tagger_path(models, missing[0])}; `tagbox models fetch {names} "
                         f"--model-dir {models}` fetches them")  # fmt: skip
    try:
        return load_query_taggers(models, device)
    except ModelError as exc:
        raise SystemExit(f"--models {models}: {exc}") from exc


def query_path(corpus: Path, song: str) -> Path:
    """Where the queries of ``song``'s stems are cached."""
    return corpus / "queries" / f"{song}.npy"


def song_queries(taggers: list[Tagger], corpus: Path, song: str) -> np.ndarray:
    """Queries ``[n_stems, dim]`` of every stem of ``song`` (on the taggers' device); no rows
    for a song whose every stem ``training.render`` dropped as silent."""
    stems = np.load(corpus / "songs" / song / "stems.npy").astype(np.float32) / FULL_SCALE
    device = next(taggers[0].parameters()).device
    with torch.no_grad():
        if not len(stems):  # the taggers take no empty batch: a silent second's query, no row
            silence = torch.zeros(1, SAMPLE_RATE, device=device)
            return query_of(taggers, silence, SAMPLE_RATE)[:0].cpu().numpy()
        return query_of(taggers, torch.from_numpy(stems).to(device), SAMPLE_RATE).cpu().numpy()


def cache_queries(taggers: list[Tagger], corpus: Path) -> int:
    """Compute the queries of every song that has none cached; returns how many were made.

    The validation songs come first, so that training can start before the whole corpus is done.
    """
    valid = set(split_songs(corpus)[1])
    todo = [s for s in list_songs(corpus) if not query_path(corpus, s).exists()]
    todo.sort(key=lambda song: song not in valid)
    # The temporaries of a run killed while it wrote them: they would stay for good.
    remove_leftovers(corpus / "queries", {query_path(corpus, song).name for song in todo})
    for song in tqdm(todo, desc="queries", unit="song"):
        path = query_path(corpus, song)
        rows = song_queries(taggers, corpus, song).astype(np.float32)
        with writing(path, "the songs before it keep theirs: free some space, or make the "
                     "corpus writable, and run the same command again"):  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True)
            save_array(path, rows)
    return len(todo)


def load_queries(corpus: Path, songs: list[str]) -> dict[str, np.ndarray]:
    """The cached queries of ``songs`` (every one must exist)."""
    return {song: np.load(query_path(corpus, song)) for song in songs}


class QueryBank:
    """The cached queries of the training stems, their statistics and family prototypes."""

    def __init__(self, corpus: Path, songs: list[str]) -> None:
        self.queries = load_queries(corpus, songs)
        self.families: dict[str, list[tuple[str, int]]] = {}
        for song in songs:
            meta = json.loads((corpus / "songs" / song / "meta.json").read_text())
            for index, stem in enumerate(meta["stems"]):
                self.families.setdefault(stem["family"], []).append((song, index))
        rows = np.concatenate(list(self.queries.values()))
        self.mean, self.std = rows.mean(axis=0), rows.std(axis=0) + 1e-3
        self.prototypes = {
            family: np.mean([self.queries[s][i] for s, i in refs], axis=0)
            for family, refs in self.families.items()
        }

    def of(self, ref: StemRef) -> np.ndarray:
        """The cached query of one stem."""
        return self.queries[ref.song][ref.index]

    def choose(self, example: Example, rng: np.random.Generator, noise: float,
               prototype_share: float = PROTOTYPE_SHARE) -> np.ndarray:  # fmt: skip
        """The query that asks for ``example``'s target, as a user might give it.

        A single source (or an absent family) is asked for with the family's prototype (as by
        tag) with probability ``prototype_share``; otherwise, 5 times in 8 with the stem's own
        query, 3 in 8 with another stem of its family (as by an example of that sound, or of a
        similar one). Solo and refusal examples are always asked for by prototype: what they
        teach is that a family's prototype takes every program of its family, and only those,
        when one plays alone.
        """
        if example.kind == "pair":
            query = np.mean([self.of(ref) for ref in example.targets], axis=0)
        elif example.kind in ("solo", "refuse"):
            query = self.prototypes[example.targets[0].family]
        else:
            (ref,) = example.targets
            draw = rng.random()
            if draw < (1 - prototype_share) * 5 / 8:
                query = self.of(ref)
            elif draw < 1 - prototype_share:
                refs = self.families[ref.family]
                song, index = refs[int(rng.integers(len(refs)))]
                query = self.queries[song][index]
            else:
                query = self.prototypes[ref.family]
        query = query + noise * self.std * rng.standard_normal(query.shape)
        if rng.random() < 0.1:  # one tagger's part dropped (replaced by its mean)
            half = query.shape[0] // 2
            part = slice(0, half) if rng.random() < 0.5 else slice(half, None)
            query[part] = self.mean[part]
        return query.astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Cache the taggers' query of every stem.")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True, help="folder with taggers/")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="where the taggers run, e.g. cuda")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not list_songs(args.corpus):  # a mistyped --corpus, or one not rendered yet
        raise SystemExit(f"{args.corpus}: no rendered songs (training.render makes them); "
                         "check --corpus")  # fmt: skip
    keep_freed_memory()  # the taggers' passes twice as fast (core.separation.memory)
    made = cache_queries(command_taggers(args.models, args.device), args.corpus)
    print(f"cached the queries of {made} songs in {args.corpus / 'queries'}")


if __name__ == "__main__":
    main()
