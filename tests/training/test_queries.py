"""Caching the stems' queries (``training.queries``): resumable, nothing half-written."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest

from training import queries
from training.queries import cache_queries, load_query_taggers, main, query_path


def _corpus(folder: Path, n_songs: int = 2) -> Path:
    """A corpus of ``n_songs`` silent one-stem songs (their queries are not computed here)."""
    for k in range(n_songs):
        song = folder / "songs" / f"s0-{k:06d}"
        song.mkdir(parents=True)
        np.save(song / "stems.npy", np.zeros((1, 100), np.int16))
        (song / "meta.json").write_text(json.dumps({"stems": [{"family": "piano"}]}))
    return folder


def test_a_cache_stopped_half_way_leaves_no_stray_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _corpus(tmp_path)
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


def test_a_corpus_without_songs_is_refused_rather_than_cached_as_done(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:  # a mistyped --corpus
        main(["--corpus", str(tmp_path / "nowhere"), "--models", str(tmp_path)])
    assert "no rendered songs" in str(exited.value.code)
    assert not (tmp_path / "nowhere").exists()


def test_missing_tagger_weights_are_one_line_saying_how_to_fetch_them(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus")
    with pytest.raises(SystemExit) as exited:
        main(["--corpus", str(corpus), "--models", str(tmp_path / "models")])
    message = str(exited.value.code)
    assert "no weights of the taggers fcn/mtat fcn/jamendo" in message
    assert f"tagbox models fetch fcn/mtat fcn/jamendo --model-dir {tmp_path / 'models'}" in message
    assert "\n" not in message


def test_a_corpus_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _corpus(tmp_path)
    monkeypatch.setattr(queries, "song_queries", lambda taggers, corpus, song: np.ones((1, 4)))

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(SystemExit) as exited:
        cache_queries([], corpus)
    message = str(exited.value.code)
    assert message.startswith(f"cannot write {query_path(corpus, 's0-000000')} (Read-only")


def test_a_song_whose_every_stem_was_dropped_gets_no_rows_and_the_others_are_cached(
    tmp_path: Path, model_dir: Path
) -> None:
    """training.render stores a song whose every stem was silent with no stems; the taggers
    cannot take a batch of none, and the cache stopped on that song at every run."""
    corpus = _corpus(tmp_path)
    np.save(corpus / "songs" / "s0-000000" / "stems.npy", np.zeros((0, 100), np.int16))
    assert cache_queries(load_query_taggers(model_dir), corpus) == 2
    empty, heard = (np.load(query_path(corpus, f"s0-00000{k}")) for k in (0, 1))
    assert heard.shape == (1, 228)
    assert empty.shape == (0, 228) and empty.dtype == np.float32


def test_a_resumed_cache_removes_the_temporaries_a_kill_left_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill while a query file is written leaves its hidden temporary, which the next run
    wrote beside, never over: it stayed for good."""
    corpus = _corpus(tmp_path)
    monkeypatch.setattr(queries, "song_queries", lambda taggers, corpus, song: np.ones((1, 4)))
    folder = corpus / "queries"
    folder.mkdir()
    left = [".s0-000000.npy.0123456789ab.part", ".s0-000001.npy.a1b2c3d4e5f6.part"]
    kept = [".s0-000000.npy.0123456789AB.part", ".s0-000000.npy.0123456789a.part",
            ".s0-000000.npy.part", "s0-000000.npy.0123456789ab.part",
            ".s0-000099.npy.0123456789ab.part", "notes.txt"]  # fmt: skip
    for name in left + kept:
        (folder / name).write_bytes(b"x")
    assert cache_queries([], corpus) == 2
    written = ["s0-000000.npy", "s0-000001.npy"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*kept, *written])
