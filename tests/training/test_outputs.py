"""Outputs the training commands cannot write are one line, never a traceback."""

from __future__ import annotations

import errno
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from training.config import TrainConfig
from training.train import train

TINY = TrainConfig(steps=4, batch=2, seconds=1.0, width=8, layers=1, checkpoint_every=2,
                   valid_every=4, valid_examples=2)  # fmt: skip


def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every folder made from now on fails as on a read-only disk (root may write anywhere)."""

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every torch file written from now on stops half way, as on a full disk."""

    def cut_short(obj: object, path: object, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"PK")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", cut_short)


def test_a_run_folder_that_is_a_file_is_refused_in_one_line(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit) as exited:
        train(corpus, tmp_path / "taken" / "run", TINY)
    assert "is under" in str(exited.value.code) and "a file, not a folder" in str(exited.value.code)


def test_a_read_only_run_folder_is_refused_before_the_run_starts(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _read_only(monkeypatch)
    with pytest.raises(SystemExit) as exited:
        train(corpus, tmp_path / "run", TINY)
    message = str(exited.value.code)
    assert "Read-only file system" in message and "\n" not in message
    assert not (tmp_path / "run").exists()


def test_a_full_disk_stops_a_run_with_one_line_and_no_temporaries(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _full_disk(monkeypatch)
    with pytest.raises(SystemExit) as exited:
        train(corpus, out, replace(TINY, steps=2))
    message = str(exited.value.code)
    assert re.match(rf"cannot write {re.escape(str(out))}/\w+\.pt \(the disk is full\); ", message)
    assert "run the same command again" in message and "\n" not in message
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def run(corpus: Path, tmp_path: Path) -> Path:
    """A finished tiny run, to export."""
    train(corpus, tmp_path / "run", TINY)
    return tmp_path / "run"


def test_an_export_to_a_read_only_place_is_refused_before_the_weights_are_read(
    corpus: Path, run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.export import main as export

    _read_only(monkeypatch)
    with pytest.raises(SystemExit) as exited:
        export(
            ["--corpus", str(corpus), "--run", str(run), "--out", str(tmp_path / "new" / "x.pt")]
        )
    message = str(exited.value.code)
    assert "cannot write the folder of the --out file" in message and "Read-only" in message


def test_an_export_on_a_full_disk_leaves_the_old_file_and_says_so_in_one_line(
    corpus: Path, run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.export import main as export

    out = tmp_path / "x.pt"
    out.write_bytes(b"the weights before")
    _full_disk(monkeypatch)
    with pytest.raises(SystemExit) as exited:
        export(["--corpus", str(corpus), "--run", str(run), "--out", str(out)])
    message = str(exited.value.code)
    assert message.startswith(f"cannot write {out} (the disk is full); x.pt is as it was")
    assert out.read_bytes() == b"the weights before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "x.pt"]


def test_fit_queries_refuses_an_out_it_cannot_write_before_the_first_looks(
    corpus: Path, run: Path, tmp_path: Path
) -> None:
    from training.fit_queries import main as fit_queries

    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit) as exited:
        fit_queries(["--weights", str(run / "separator.pt"), "--corpus", str(corpus),
                     "--out", str(tmp_path / "taken" / "fit.pt"), "--threads", "1"])  # fmt: skip
    assert "a file, not a folder" in str(exited.value.code)
