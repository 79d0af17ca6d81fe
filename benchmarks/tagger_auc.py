"""Do the taggers hear the right instrument on isolated stems? Prints one AUC per tag.

For every song of an eval set (``SET/<song>/stems/<source>.flac``, 44.1 kHz), each stem is
resampled to 16 kHz with our resampler and tagged (mean probability over windows). For each
source that has a tag in the tagger's vocabulary (e.g. piano -> 'piano' for MTAT,
'instrument---piano' for MTG-Jamendo), the AUC says how well that tag's probability tells the
stems of that source (positives) from the other stems (negatives): 1 is perfect, 0.5 chance.

    python benchmarks/tagger_auc.py [--eval-dir ../shared/eval/dev] [--tagger fcn/mtat ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from this_checkout import REPO

from tagbox_gui.core.dsp.spectral import resample
from tagbox_gui.core.nets.taggers import TAGGER_RATE, Tagger, load_tagger
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import TaggerSpec

TAG_NAMES = {  # source name -> tag name per dataset (sources without a tag are skipped)
    "mtat": {"drums": "drums", "piano": "piano", "strings": "strings", "guitar": "guitar"},
    "jamendo": {s: f"instrument---{s}" for s in ("drums", "piano", "strings", "guitar", "bass")},
    "msd": {"guitar": "guitar"},
}


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting one half (Mann-Whitney U / n m)."""
    diff = positives[:, None] - negatives[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def stem_probabilities(tagger: Tagger, song_dir: Path) -> dict[str, np.ndarray]:
    """Mean tag probabilities of every stem of one song, keyed by source name."""
    result = {}
    for path in sorted((song_dir / "stems").glob("*.flac")):
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        with torch.no_grad():
            audio = resample(torch.from_numpy(data.mean(axis=1)), rate, TAGGER_RATE)
            result[path.stem] = tagger(audio).numpy()
    return result


def tag_aucs(tagger: Tagger, eval_dir: Path) -> dict[str, float]:
    """AUC of each source's tag over all stems of ``eval_dir``."""
    rows = [
        (source, probs)
        for song in sorted(p for p in eval_dir.iterdir() if (p / "stems").is_dir())
        for source, probs in stem_probabilities(tagger, song).items()
    ]
    sources = np.array([source for source, _ in rows])
    scores = np.stack([probs for _, probs in rows])
    result = {}
    for source, tag in TAG_NAMES[tagger.spec.dataset].items():
        if source not in sources:
            continue
        column = scores[:, tagger.vocabulary.index(tag)]
        result[tag] = auc(column[sources == source], column[sources != source])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval" / "dev")
    parser.add_argument("--tagger", action="append", type=TaggerSpec.parse)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    store = ModelStore(args.model_dir)
    for spec in args.tagger or [TaggerSpec("fcn", "mtat")]:
        start = time.perf_counter()
        tagger = load_tagger(spec, store.tagger_path(spec))
        aucs = tag_aucs(tagger, args.eval_dir)
        seconds = time.perf_counter() - start
        cells = "  ".join(f"{tag}={value:.3f}" for tag, value in aucs.items())
        print(f"{spec}: {cells}  ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
