"""A rendered corpus on disk: its finished songs, and their split into training and validation.

Each song is ``songs/<id>/stems.npy`` (int16 stems at :data:`SAMPLE_RATE`, full scale
:data:`FULL_SCALE`) with ``meta.json`` beside it (``training.render``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tagbox_gui.core.audio.atomic import write_through

SAMPLE_RATE = 22050
FULL_SCALE = 32768.0


def list_songs(corpus: Path) -> list[str]:
    """The ids of the finished songs of a corpus (both files present), sorted."""
    root = Path(corpus) / "songs"
    if not root.is_dir():
        return []
    return sorted(
        d.name
        for d in root.iterdir()
        if (d / "stems.npy").is_file() and (d / "meta.json").is_file()
    )


def song_hash(seed: int, song: str) -> int:
    """A 64-bit number that depends only on ``seed`` and the song's id (sha256-based)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{song}".encode()).digest()[:8], "big")


def split_songs(
    corpus: Path, valid_fraction: float = 0.05, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Deterministic (train, valid) split of the corpus's songs by a hash of their ids.

    A song keeps its side when the corpus grows. With at least two songs and a positive
    fraction, the validation side is never empty.
    """
    songs = list_songs(corpus)
    scores = {s: song_hash(seed, s) / 2**64 for s in songs}
    valid = [s for s in songs if scores[s] < valid_fraction]
    if not valid and valid_fraction > 0 and len(songs) >= 2:
        valid = [min(songs, key=scores.__getitem__)]
    train = [s for s in songs if s not in set(valid)]
    return train, valid


def check_split(corpus: Path, train: list[str], valid: list[str], held_out: bool = True) -> None:
    """SystemExit in one line when ``corpus`` has songs but its split (``train``, ``valid``)
    puts none on the training side, or, with ``held_out``, none on the held-out side (one song,
    or a few all hashed to one side): more songs must be rendered, which caching queries
    cannot mend."""
    sides = {"training": train, "held-out": valid} if held_out else {"training": train}
    for side, songs in sides.items():
        if not songs and (train or valid):
            raise SystemExit(f"{corpus}: its split by a hash of the song ids puts none of its "
                             f"{len(train + valid)} rendered songs on the {side} side; "
                             "render more songs (training.render --n-songs)")  # fmt: skip


def named_songs(songs: list[str]) -> str:
    """The first three of ``songs`` for a message, and how many more there are."""
    return ", ".join(songs[:3]) + (f" and {len(songs) - 3} more" if len(songs) > 3 else "")


def save_array(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as the ``.npy`` file ``path`` through a temporary and a rename
    (``write_through``): a song's stems or queries are whole or absent, even after Ctrl-C."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as file:  # a file, not a name: np.save would add ".npy" to it
            np.save(file, array)

    write_through(path, write)
