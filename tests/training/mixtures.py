"""Helpers of the mixture sampler's tests: a synthetic corpus (no rendering needed), a sampler
on it, and the audio of a placed source rebuilt from the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.augment import source_audio
from training.mixes import MixSampler, Placement
from training.render import rms_db_per_second, to_int16
from training.stems import StemRef

RATE = 22050
SECONDS = 6
FAMILIES = ("piano", "guitar", "bass", "drums", "strings", "organ", "reed", "pipe")
N = 3 * RATE


def _stem(rng: np.random.Generator, silent_first_half: bool) -> np.ndarray:
    t = np.arange(SECONDS * RATE) / RATE
    x = np.sin(2 * np.pi * rng.uniform(80, 800) * t) * (0.3 + 0.1 * rng.standard_normal(t.size))
    if silent_first_half:
        x[: len(x) // 2] = 0.0
    return x


def write_corpus(out: Path) -> Path:
    """Twelve songs of 6 s in ``out``, four stems each from rotating families; the first stem of
    each is silent for its first 3 s."""
    rng = np.random.default_rng(1)
    for i in range(12):
        song = f"s0-{i:06d}"
        folder = out / "songs" / song
        folder.mkdir(parents=True)
        families = [FAMILIES[(i + k) % len(FAMILIES)] for k in range(4)]
        stems = [to_int16(_stem(rng, silent_first_half=(k == 0))) for k in range(4)]
        meta = {
            "id": song,
            "stems": [
                {
                    "name": f,
                    "family": f,
                    "program": 0,
                    "role": "x",
                    "rms_db_per_second": rms_db_per_second(s / 32768.0),
                }
                for f, s in zip(families, stems, strict=True)
            ],
        }
        np.save(folder / "stems.npy", np.stack(stems))
        (folder / "meta.json").write_text(json.dumps(meta))
    return out


def stem_crop(corpus: Path, ref: StemRef, start: int) -> np.ndarray:
    """``N`` samples of a stem from ``start``, as they are on disk."""
    stems = np.load(corpus / "songs" / ref.song / "stems.npy", mmap_mode="r")
    return stems[ref.index, start : start + N].astype(np.float64) / 32768.0


def placed_audio(corpus: Path, p: Placement) -> np.ndarray:
    """A source as the sampler says it placed it, rebuilt from the corpus."""
    stems = np.load(corpus / "songs" / p.ref.song / "stems.npy", mmap_mode="r")
    return p.gain * source_audio(stems[p.ref.index], p.start, N, p.eq, p.timbre)


def make_sampler(corpus: Path, seed: int = 0, eq_db: float = 8.0, p_song: float = 0.0,
                 p_timbre: float = 0.0, p_solo: float = 0.0,
                 p_refuse: float = 0.0, p_texture: float = 0.0,
                 p_look: float = 0.0, p_gap: float = 0.0) -> MixSampler:  # fmt: skip
    """A sampler of 3-s mixtures on ``corpus`` (pairs and absent sources 30 % each)."""
    rng = np.random.default_rng(seed)
    return MixSampler(corpus, seconds=3.0, rng=rng, p_pair=0.3, p_absent=0.3, eq_db=eq_db,
                      p_song=p_song, p_timbre=p_timbre, p_solo=p_solo,
                      p_refuse=p_refuse, p_texture=p_texture, p_look=p_look,
                      p_gap=p_gap)  # fmt: skip
