"""training.union: corpora joined by links, read like one corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.corpus import list_songs
from training.queries import load_queries, query_path
from training.union import join_corpora


def _corpus(root: Path, seed: int, n: int, soundfont: str, queries: bool = True) -> Path:
    (root / "songs").mkdir(parents=True)
    (root / "corpus.json").write_text(json.dumps({"seed": seed, "soundfonts": [soundfont]}))
    for index in range(n):
        song = f"s{seed}-{index:06d}"
        folder = root / "songs" / song
        folder.mkdir()
        np.save(folder / "stems.npy", np.full((2, 8), seed * 10 + index, dtype=np.int16))
        (folder / "meta.json").write_text(json.dumps({"id": song}))
        if queries:
            query_path(root, song).parent.mkdir(exist_ok=True)
            np.save(query_path(root, song), np.full((2, 3), index, dtype=np.float32))
    return root


def test_union_reads_like_one_corpus(tmp_path: Path) -> None:
    a = _corpus(tmp_path / "a", 0, 3, "timgm6mb")
    b = _corpus(tmp_path / "b", 1, 2, "fluidr3")
    out = tmp_path / "union"
    counts = join_corpora(out, [a, b])
    assert counts == {str(a): 3, str(b): 2}
    songs = list_songs(out)
    assert songs == ["s0-000000", "s0-000001", "s0-000002", "s1-000000", "s1-000001"]
    stems = np.load(out / "songs" / "s1-000001" / "stems.npy")
    assert int(stems[0, 0]) == 11
    assert load_queries(out, songs)["s1-000001"][0, 0] == 1.0
    manifest = json.loads((out / "corpus.json").read_text())
    assert [p["soundfonts"] for p in manifest["union_of"]] == [["timgm6mb"], ["fluidr3"]]


def test_rerun_picks_up_new_queries_and_songs(tmp_path: Path) -> None:
    a = _corpus(tmp_path / "a", 0, 2, "timgm6mb")
    b = _corpus(tmp_path / "b", 1, 2, "fluidr3", queries=False)
    out = tmp_path / "union"
    join_corpora(out, [a, b])
    assert not query_path(out, "s1-000000").exists()
    query_path(b, "s1-000000").parent.mkdir()
    np.save(query_path(b, "s1-000000"), np.zeros((2, 3), dtype=np.float32))
    join_corpora(out, [a, b])
    assert query_path(out, "s1-000000").is_file()
    assert not query_path(out, "s1-000001").exists()


def test_colliding_song_ids_are_refused(tmp_path: Path) -> None:
    a = _corpus(tmp_path / "a", 0, 2, "timgm6mb")
    b = _corpus(tmp_path / "b", 0, 1, "csound")
    with pytest.raises(SystemExit, match="s0-000000"):
        join_corpora(tmp_path / "union", [a, b])
    assert not (tmp_path / "union").exists()


def test_a_folder_that_is_no_corpus_is_refused(tmp_path: Path) -> None:
    a = _corpus(tmp_path / "a", 0, 1, "timgm6mb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="not a rendered corpus"):
        join_corpora(tmp_path / "union", [a, tmp_path / "empty"])


def test_a_real_file_in_the_way_is_never_replaced(tmp_path: Path) -> None:
    a = _corpus(tmp_path / "a", 0, 1, "timgm6mb")
    out = tmp_path / "union"
    (out / "songs" / "s0-000000").mkdir(parents=True)
    with pytest.raises(SystemExit, match="not a link"):
        join_corpora(out, [a])


def test_an_out_that_is_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    """It stopped with a traceback from making its songs folder."""
    a = _corpus(tmp_path / "a", 0, 1, "timgm6mb")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SystemExit) as exited:
        join_corpora(tmp_path / "file", [a])
    assert "is a file, not a folder" in str(exited.value.code)
    assert (tmp_path / "file").read_text() == "not a folder"


def test_a_join_stopped_while_it_writes_corpus_json_leaves_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """corpus.json was written in place: a join stopped half way left it cut short, and the
    union was no longer a corpus that anything could read. The temporary a kill leaves goes
    at the next join."""
    a = _corpus(tmp_path / "a", 0, 1, "timgm6mb")
    b = _corpus(tmp_path / "b", 1, 1, "fluidr3")
    out = tmp_path / "union"
    out.mkdir()
    (out / ".corpus.json.0123456789ab.part").write_text("{")  # a kill's, removed by a join
    join_corpora(out, [a])
    before = (out / "corpus.json").read_text()
    write_text = Path.write_text

    def stopped(self: Path, data: str, *args: object, **kwargs: object) -> int:
        write_text(self, data[: len(data) // 2])  # half of it written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", stopped)
    with pytest.raises(KeyboardInterrupt):
        join_corpora(out, [a, b])
    assert (out / "corpus.json").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["corpus.json", "queries", "songs"]
