"""Caching the stems' queries (``training.queries``): resumable, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training import queries
from training.queries import cache_queries, query_path


def test_a_cache_stopped_half_way_leaves_no_stray_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in range(2):
        song = tmp_path / "songs" / f"s0-{k:06d}"
        song.mkdir(parents=True)
        np.save(song / "stems.npy", np.zeros((1, 100), np.int16))
        (song / "meta.json").write_text(json.dumps({"stems": [{"family": "piano"}]}))
    monkeypatch.setattr(queries, "song_queries", lambda taggers, corpus, song: np.ones((1, 4)))
    save = np.save

    def stopped(file: str, array: np.ndarray) -> None:
        save(file, array[:, :2])  # part of it written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", stopped)
    with pytest.raises(KeyboardInterrupt):
        cache_queries([], tmp_path)
    assert list((tmp_path / "queries").iterdir()) == []
    monkeypatch.setattr(np, "save", save)
    assert cache_queries([], tmp_path) == 2  # resumed: every song, whole
    assert np.load(query_path(tmp_path, "s0-000001")).shape == (1, 4)
