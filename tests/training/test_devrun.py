"""training/device/devrun.py: what an arm leaves in $OUT fits what the device tool brings back."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

DEVRUN = Path(__file__).resolve().parents[2] / "training" / "device" / "devrun.py"


@pytest.fixture
def devrun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("OUT", str(tmp_path / "out"))  # read when the script starts
    spec = importlib.util.spec_from_file_location("devrun", DEVRUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arm(folder: Path, last: bytes) -> Path:
    folder.mkdir()
    for name in ("separator.pt", "best.pt"):
        (folder / name).write_bytes(b"weights")
    (folder / "last.pt").write_bytes(last)
    (folder / "log.jsonl").write_text('{"step": 1}\n')
    return folder


def test_a_large_checkpoint_comes_back_in_parts(devrun: ModuleType, tmp_path: Path) -> None:
    last = bytes(range(40))
    arm = _arm(tmp_path / "w384", last)
    devrun.keep_for_return(arm, limit=16)
    names = sorted(path.name for path in arm.iterdir())
    assert names == ["last.pt.0", "last.pt.1", "last.pt.2", "log.jsonl"]
    assert all((arm / name).stat().st_size <= 16 for name in names)
    assert b"".join((arm / f"last.pt.{i}").read_bytes() for i in range(3)) == last


def test_a_small_checkpoint_stays_whole(devrun: ModuleType, tmp_path: Path) -> None:
    arm = _arm(tmp_path / "ctl", b"0123456789")
    devrun.keep_for_return(arm, limit=16)
    assert sorted(path.name for path in arm.iterdir()) == ["last.pt", "log.jsonl"]
    assert (arm / "last.pt").read_bytes() == b"0123456789"
