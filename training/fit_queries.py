"""Fit the prototypes to the song: a ridge regression per prototype, shipped with the weights.

``python -m training.fit_queries --weights V8tu.pt --corpus /work/corpus-u7 --out V8tu-fit.pt``
reads exported weights (``training.export``), mixes every training song of the corpus (its
stems at one RMS, each moved by a random gain of up to ±6 dB), asks the separator for each of
its stems by the prototypes that stem belongs to (its family's, and a program prototype's,
:data:`training.export.PROGRAM_PROTOTYPES`), and summarises each first look
(``core.nets.fitting.first_look_features``). For every prototype with at least
``--min-stems`` stems, a ridge regression from those features to the offset of the stem's own
standardised query from the prototype's is fitted, its strength chosen by 5-fold
cross-validation (its folds drawn from ``--seed``, as the mixes' gains are); a fit is kept only
where the cross-validated error is lower than the prototype's own (no offset). The fits go into
the weights' file as ``query_fits`` (``core.separation.backends.learned.load_fits``), and its
sha256 is printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.fitting import FEATURES, QueryFit, first_look_features, sample_chunks
from tagbox_gui.core.nets.separator import QuerySeparator, load_separator, spectrum
from tagbox_gui.core.store.models import file_sha256
from training.corpus import FULL_SCALE
from training.export import (
    FAMILY_ALIASES,
    PROGRAM_PROTOTYPES,
    queried_training_songs,
    write_weights,
)
from training.outputs import check_output_file
from training.queries import query_path

STRENGTHS = (30.0, 100.0, 300.0, 1000.0, 3000.0)
"""Ridge strengths tried, for features standardised to unit variance."""
FOLDS = 5


def stem_keys(stem: dict, prototypes: dict) -> list[str]:
    """The prototypes a corpus stem belongs to: its family's (or the alias's that holds it)
    and any program prototype of its program."""
    keys = [stem["family"]]
    keys += [alias for alias, families in FAMILY_ALIASES.items() if stem["family"] in families]
    if not stem.get("is_drum"):
        keys += [k for k, programs in PROGRAM_PROTOTYPES.items() if stem["program"] in programs]
    return [k for k in keys if k in prototypes]


def song_mix(stems: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The stems ``[n, samples]`` at one RMS, each moved by up to ±6 dB, peaking at 0.5."""
    rms = np.sqrt((stems.astype(np.float64) ** 2).mean(axis=1)) + 1e-9
    gains = 10 ** (rng.uniform(-6.0, 6.0, len(stems)) / 20) / rms
    mix = (stems * gains[:, None]).sum(axis=0)
    return (mix / (np.abs(mix).max() + 1e-9) * 0.5).astype(np.float32)


def collect(
    net: QuerySeparator, prototypes: dict, corpus: Path, seed: int, limit: int | None = None
) -> dict:
    """``{key: (features [n, FEATURES], offsets [n, dim])}`` over the corpus's training songs."""
    rng = np.random.default_rng(seed)
    songs = queried_training_songs(corpus)[:limit]
    rows: dict[str, tuple[list, list]] = {}
    std = net.query_std
    for song in tqdm(songs, desc=f"first looks in {corpus.name}", unit="song"):
        meta = json.loads((corpus / "songs" / song / "meta.json").read_text())
        asked = [(i, key) for i, stem in enumerate(meta["stems"])
                 for key in stem_keys(stem, prototypes)]  # fmt: skip
        if not asked:
            continue
        stems = np.load(corpus / "songs" / song / "stems.npy").astype(np.float32) / FULL_SCALE
        own = torch.from_numpy(np.load(query_path(corpus, song)))
        magnitude = spectrum(torch.from_numpy(song_mix(stems, rng))[None]).abs()[0]
        queries = torch.stack([prototypes[key] for _, key in asked])
        features = first_look_features(net, sample_chunks(magnitude), queries)
        for (index, key), row in zip(asked, features, strict=True):
            offset = (own[index] - prototypes[key]) / std
            rows.setdefault(key, ([], []))
            rows[key][0].append(row.numpy())
            rows[key][1].append(offset.numpy())
    return {k: (np.array(x, np.float64), np.array(y, np.float64)) for k, (x, y) in rows.items()}


def ridge(x: np.ndarray, y: np.ndarray, strength: float) -> QueryFit:
    """The ridge regression of ``y`` on standardised ``x`` (intercept not penalised)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    xs = (x - mean) / scale
    weights = np.linalg.solve(xs.T @ xs + strength * np.eye(xs.shape[1]),
                              xs.T @ (y - y.mean(axis=0)))  # fmt: skip
    return QueryFit(*(torch.from_numpy(a).float() for a in (mean, scale, weights, y.mean(axis=0))))


def predict(fit: QueryFit, x: np.ndarray) -> np.ndarray:
    """The standardised query offsets ``[n, dim]`` that ``fit`` predicts from the first-look
    features ``x`` ``[n, FEATURES]``."""
    return fit.offset(torch.from_numpy(x).float()).numpy()


def cross_validate(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The best strength and its cross-validated squared error as a fraction of the
    prototype's own (no offset): below 1, the fit asks better than the prototype."""
    order = np.random.default_rng(seed).permutation(len(x))
    folds = [order[k::FOLDS] for k in range(FOLDS)]
    errors = {}
    for strength in STRENGTHS:
        error = 0.0
        for held in folds:
            kept = np.setdiff1d(order, held)
            error += float(
                ((predict(ridge(x[kept], y[kept], strength), x[held]) - y[held]) ** 2).sum()
            )
        errors[strength] = error
    best = min(errors, key=errors.__getitem__)
    return best, errors[best] / float((y**2).sum())


def fit_all(rows: dict, min_stems: int, seed: int = 0) -> dict[str, QueryFit]:
    """A fit per prototype with enough stems whose cross-validated error beats no offset
    (folds drawn from ``seed``)."""
    fits = {}
    for key in sorted(rows):
        x, y = rows[key]
        if len(x) < min_stems:
            print(f"{key}: {len(x)} stems, too few; the prototype is left as it is")
            continue
        if not float((y**2).sum()) > 0:  # one stem, say: the prototype is its own query
            print(f"{key}: its stems are asked for by the prototype exactly; left as it is")
            continue
        strength, relative = cross_validate(x, y, seed)
        kept = relative < 1.0
        print(f"{key}: {len(x)} stems, strength {strength:g}, cross-validated error "
              f"{relative:.3f} of the prototype's{'' if kept else ': not kept'}")  # fmt: skip
        if kept:
            fits[key] = ridge(x, y, strength)
    return fits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fit the prototypes to the song.")
    parser.add_argument("--weights", type=Path, required=True, help="exported weights")
    more = "a rendered corpus with cached queries; give it again for more"
    parser.add_argument("--corpus", type=Path, action="append", required=True, help=more)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0,
                        help="draws the mixes' gains and the cross-validation's folds")  # fmt: skip
    parser.add_argument("--min-stems", type=int, default=150,
                        help="stems a prototype needs to be fitted (default: 150)")  # fmt: skip
    parser.add_argument("--limit", type=int, default=None, help="songs per corpus (tests)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.min_stems < 2:  # a fit is cross-validated: some stems held out, some fitted
        parser.error(f"--min-stems must be at least 2, not {args.min_stems}")
    torch.set_num_threads(args.threads)
    check_output_file(args.out, "--out file")  # before the first looks, not after them
    try:
        net, extra = load_separator(args.weights)
    except ModelError as exc:
        raise SystemExit(str(exc)) from exc
    if not extra.get("prototypes"):
        raise SystemExit(f"{args.weights} holds no prototypes to fit: give weights that "
                         "training.export wrote")  # fmt: skip
    prototypes = extra["prototypes"]
    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for index, corpus in enumerate(args.corpus):
        for key, (x, y) in collect(net, prototypes, corpus, args.seed + index, args.limit).items():
            old = rows.get(key)
            rows[key] = (x, y) if old is None else (np.vstack([old[0], x]), np.vstack([old[1], y]))
    fits = fit_all(rows, args.min_stems, args.seed)
    assert all(f.mean.shape[0] == FEATURES for f in fits.values())
    extra["query_fits"] = {key: fit.to_dict() for key, fit in fits.items()}
    write_weights(net, args.out, extra)  # stopped half way: --out (or --weights) as it was
    digest = file_sha256(args.out)
    print(f"{len(fits)} prototypes fitted to the song; wrote {args.out}, sha256 {digest}")


if __name__ == "__main__":
    main()
