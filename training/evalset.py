"""Write songs of a rendered corpus as an evaluation set, laid out like ``shared/eval/dev``.

``tagbox evaluate SET`` then scores the separator on whole songs of our own composer exactly
as it scores ``shared/eval/dev``: the same command, defaults, sharing and scorer. A song
keeps every stem it has in its mixture; its sources (what is asked for and scored) are the
band families it plays. As in that set, the stems' levels are balanced: each stem's RMS over
the song is drawn uniformly within ±``spread_db``/2 dB of the others, and the mixture is
brought to a peak of -1 dBFS. Stems are stored as 16-bit FLAC at the corpus's rate and the
mixture is the exact integer sum of the stored stems.

Which songs: the validation side of the corpus's split (the songs training never draws from;
the default), or all of them (a corpus that was never trained on)::

    python -m training.evalset --corpus /work/corpus-band --out /work/sets/band-valid
    python -m training.evalset --corpus /work/corpus-band-fr3 --out /work/sets/band-fr3 --all
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from tagbox_gui.core.audio.atomic import write_atomically
from training.corpus import FULL_SCALE, SAMPLE_RATE, list_songs, song_hash, split_songs
from training.families import BAND_FAMILIES
from training.outputs import check_output_folder

PEAK_DB = -1.0
PARTIAL = ".partial"  # where a song is written before it is renamed into the set
SPREAD_DB = 6.0


def balance(
    stems: np.ndarray, rng: np.random.Generator, spread_db: float = SPREAD_DB
) -> tuple[np.ndarray, list[float]]:
    """Stems (float, [n, samples]) at balanced levels as int16, and the offsets drawn (dB).

    Each stem's RMS is set to a common level plus an offset uniform in ±``spread_db``/2;
    then one gain for all brings the sum's peak to :data:`PEAK_DB`.
    """
    rms = np.sqrt(np.mean(np.square(stems, dtype=np.float64), axis=1))
    offsets = rng.uniform(-spread_db / 2, spread_db / 2, len(stems))
    scaled = stems / np.maximum(rms, 1e-9)[:, None] * (10.0 ** (offsets / 20.0))[:, None]
    peak = float(np.max(np.abs(scaled.sum(axis=0))))
    scaled *= 10.0 ** (PEAK_DB / 20.0) / max(peak, 1e-9)
    ints = np.round(scaled * FULL_SCALE).astype(np.int64)
    return np.clip(ints, -FULL_SCALE, FULL_SCALE - 1).astype(np.int16), [float(o) for o in offsets]


def _is_band_song(families: list[str]) -> bool:
    """Whether a song of stems of ``families`` goes into a set: a band family and another."""
    return len(families) >= 2 and any(f in BAND_FAMILIES for f in families)


def _plays_band(corpus: Path, song: str) -> bool:
    meta = json.loads((Path(corpus) / "songs" / song / "meta.json").read_text())
    return _is_band_song([s["family"] for s in meta["stems"]])


def write_song(corpus: Path, song: str, out: Path, seed: int, spread_db: float) -> dict | None:
    """Write one song's mixture and band stems under ``out/song``; its manifest entry.

    Songs without a band family, or with a single stem, are skipped (``None``).
    """
    folder = Path(corpus) / "songs" / song
    meta = json.loads((folder / "meta.json").read_text())
    families = [s["family"] for s in meta["stems"]]
    if not _is_band_song(families):
        return None
    sources = sorted(f for f in families if f in BAND_FAMILIES)
    stems = np.load(folder / "stems.npy").astype(np.float64) / FULL_SCALE
    ints, offsets = balance(stems, np.random.default_rng(song_hash(seed, song)), spread_db)
    mix = ints.astype(np.int32).sum(axis=0)
    if np.max(np.abs(mix)) >= FULL_SCALE:
        raise ValueError(f"{song}: the mixture clips")  # cannot happen at a -1 dBFS peak
    partial = out / PARTIAL / song  # the song goes into the set whole, or not at all
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "stems").mkdir(parents=True)
    try:
        sf.write(partial / "mix.flac", mix.astype(np.int16), SAMPLE_RATE, subtype="PCM_16")
        for family, stem in zip(families, ints, strict=True):
            if family in BAND_FAMILIES:
                sf.write(partial / "stems" / f"{family}.flac", stem, SAMPLE_RATE,
                         subtype="PCM_16")  # fmt: skip
        shutil.rmtree(out / song, ignore_errors=True)  # one written before, with other levels
        partial.rename(out / song)
    finally:
        shutil.rmtree(out / PARTIAL, ignore_errors=True)
    return {
        "id": song,
        "sources": sources,
        "others": sorted(f for f in families if f not in BAND_FAMILIES),
        "soundfont": meta["soundfont"],
        "level_offset_db": {f: round(o, 2) for f, o in zip(families, offsets, strict=True)},
    }


def write_set(
    corpus: Path,
    out: Path,
    songs: list[str],
    seed: int = 0,
    spread_db: float = SPREAD_DB,
) -> dict:
    """Write ``songs`` of ``corpus`` as an evaluation set in ``out``; returns its manifest.

    Each song is written into a folder of its own under ``out/.partial`` and renamed into
    place once whole, and ``manifest.json`` is removed first and written last (to a temporary
    name, then renamed), so a run stopped half way leaves whole songs and no manifest that
    describes others (``tagbox evaluate`` then lists the songs from the folders).
    """
    if not any(_plays_band(corpus, song) for song in songs):  # before a set there is touched
        raise ValueError(f"{corpus}: none of the {len(songs)} songs plays a band family")
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    entries = [e for song in songs if (e := write_song(corpus, song, out, seed, spread_db))]
    manifest = {
        "generator": "training.evalset",
        "corpus": str(corpus),
        "seed": seed,
        "spread_db": spread_db,
        "peak_db": PEAK_DB,
        "sample_rate": SAMPLE_RATE,
        "songs": entries,
    }
    write_atomically(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m training.evalset``."""
    ap = argparse.ArgumentParser(
        prog="python -m training.evalset", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--all", action="store_true", help="every song (default: the validation side only)"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the level offsets")
    ap.add_argument("--spread-db", type=float, default=SPREAD_DB)
    args = ap.parse_args(argv)
    songs = list_songs(args.corpus) if args.all else split_songs(args.corpus)[1]
    if not songs:
        raise SystemExit(f"{args.corpus}: no finished songs")
    check_output_folder(args.out, "set folder")  # a file, a read-only disk: before any song
    try:
        manifest = write_set(args.corpus, args.out, songs, args.seed, args.spread_db)
    except ValueError as exc:  # no song plays a band family
        raise SystemExit(str(exc)) from exc
    n = sum(len(e["sources"]) for e in manifest["songs"])
    print(f"{args.out}: {len(manifest['songs'])} songs, {n} sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
