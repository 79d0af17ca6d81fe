"""write_atomically: a reader sees the old file or the whole new one, also when two writers
write the same file at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagbox_gui.core.audio.atomic import write_atomically


def test_two_writers_of_one_file_each_rename_their_own_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    replace = Path.replace
    calls = []

    def interleaved(self: Path, dest: Path) -> Path:
        calls.append(self.name)
        if len(calls) == 1:  # another process writes the same file between our write and rename
            write_atomically(target, "second writer, whole")
        return replace(self, dest)

    monkeypatch.setattr(Path, "replace", interleaved)
    write_atomically(target, "first writer, whole")
    assert target.read_text() == "first writer, whole"  # the last rename wins, whole
    assert len(set(calls)) == 2  # two temporaries, one per writer
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")

    def full_disk(self: Path, data: str) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError):
        write_atomically(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
