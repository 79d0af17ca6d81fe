"""How much of a stem its family's prototype takes when the stem plays alone, per GM program.

Every band source of every song of an evaluation set is separated ALONE, asked for by the
prototype of its family, and the mask's mean weighted by the stem's power is printed per
General MIDI program: near 1, the prototype reaches that program; near 0, the separator treats
the program as absent even with nothing else playing. The programs come from the set's
manifest (``shared/eval/dev`` names them) or from the corpus the set was written from
(``training/evalset.py`` sets: pass ``--corpus``). Weights: the shipped ones, or ``--weights``.

With ``--other``, each stem alone is also asked for by the prototype of every other source
named in ``--sources``, and the mask taken is printed per pair: here near 0 is right, since
the stem is not what was asked for. A separator that takes a lone stem whatever the query
(run v12s) scores high on both.

    python -m benchmarks.prototype_reach --set /work/sets/band-valid --corpus /work/corpus-band \
        [--weights V8tu.pt] [--sources guitar,piano,strings] [--other]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from tagbox_gui.core.dsp.spectral import resample
from tagbox_gui.core.evaluation.scoring import read_mono
from tagbox_gui.core.nets.separator import RATE, QuerySeparator, load_separator, mask_long, spectrum
from tagbox_gui.core.separation.backends.learned import WEIGHTS_SHA256, weights_path
from training.families import GM_NAMES


def magnitude_of(stem: np.ndarray, rate: int) -> torch.Tensor:
    """The separator's input for ``stem`` played alone: its magnitude spectrogram at RATE."""
    return spectrum(resample(torch.from_numpy(stem).float()[None], rate, RATE)).abs()


def reach(net: QuerySeparator, magnitude: torch.Tensor, query: torch.Tensor) -> float:
    """The power-weighted mean of the mask ``query`` gives a stem of ``magnitude`` alone."""
    with torch.no_grad():
        mask = mask_long(net, magnitude, query[None])[0]
    power = magnitude[0].pow(2)
    return float((mask * power).sum() / power.sum().clamp_min(1e-20))


def programs_of(song: dict, corpus: Path | None) -> dict[str, int]:
    """Each source's GM program: from the manifest, else from the corpus's ``meta.json``."""
    stems = song.get("stems")
    if stems and all("program" in stem for stem in stems.values()):
        return {name: int(stem["program"]) for name, stem in stems.items()}
    if corpus is None:
        raise SystemExit(f"{song['id']}: the manifest names no programs; give --corpus")
    meta = json.loads((corpus / "songs" / song["id"] / "meta.json").read_text())
    return {stem["family"]: int(stem["program"]) for stem in meta["stems"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, required=True, dest="set_dir")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--sources", default="guitar,piano,strings")
    parser.add_argument("--other", action="store_true", help="also ask as the other sources")
    args = parser.parse_args()
    torch.set_num_threads(2)
    path = args.weights or weights_path()
    net, extra = load_separator(path, None if args.weights else WEIGHTS_SHA256)
    manifest = json.loads((args.set_dir / "manifest.json").read_text())
    sources = args.sources.split(",")
    found: dict[tuple[str, int], list[float]] = defaultdict(list)
    wrong: dict[tuple[str, str], list[float]] = defaultdict(list)  # (source, asked as)
    for song in manifest["songs"]:
        programs = programs_of(song, args.corpus)
        for source in sources:
            if source not in song["sources"]:
                continue
            stem, rate = read_mono(args.set_dir / song["id"] / "stems" / f"{source}.flac")
            magnitude = magnitude_of(stem, rate)
            found[(source, programs[source])].append(
                reach(net, magnitude, extra["prototypes"][source])
            )
            for asked in sources if args.other else ():
                if asked != source:
                    wrong[(source, asked)].append(reach(net, magnitude, extra["prototypes"][asked]))
    print(f"{path.name} on {args.set_dir}: mask taken of a stem alone, by its family's prototype")
    for (source, program), values in sorted(found.items()):
        print(f"{source:8s} {program:3d} {GM_NAMES[program][:26]:26s} n={len(values):2d} "
              f"mean {np.mean(values):.2f} min {np.min(values):.2f}")  # fmt: skip
    by_source: dict[str, list[float]] = defaultdict(list)
    for (source, _), values in found.items():
        by_source[source].extend(values)
    for source, values in by_source.items():
        print(f"{source:8s} all programs n={len(values):2d} mean {np.mean(values):.3f}")
    every = [v for values in by_source.values() for v in values]
    print(f"every stem n={len(every)} mean {np.mean(every):.3f}")
    if wrong:
        print("asked for as another source (near 0 is right):")
        for (source, asked), values in sorted(wrong.items()):
            print(f"{source:8s} as {asked:8s} n={len(values):2d} mean {np.mean(values):.3f}")
        print(f"every pair mean {np.mean([v for vs in wrong.values() for v in vs]):.3f}")


if __name__ == "__main__":
    main()
