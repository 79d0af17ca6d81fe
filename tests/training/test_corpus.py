"""The corpus's files: an array is written whole or not at all, with the usual file mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from training.corpus import save_array


def test_an_array_is_saved_whole_under_its_own_name_with_the_usual_mode(tmp_path: Path) -> None:
    path = tmp_path / "stems.npy"
    save_array(path, np.arange(6, dtype=np.int16).reshape(2, 3))
    assert [p.name for p in tmp_path.iterdir()] == ["stems.npy"]  # no ".npy" added, no temporary
    assert np.load(path).tolist() == [[0, 1, 2], [3, 4, 5]]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # as any file the user makes


def test_a_save_stopped_half_way_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stems.npy"
    save_array(path, np.zeros(4, np.float32))
    save = np.save

    def stopped(file, array: np.ndarray) -> None:
        save(file, array[:2])  # part of it written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", stopped)
    with pytest.raises(KeyboardInterrupt):
        save_array(path, np.ones(4, np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["stems.npy"]
    assert np.load(path).tolist() == [0.0, 0.0, 0.0, 0.0]
