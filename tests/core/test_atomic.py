"""write_atomically: a reader sees the old file or the whole new one, also when two writers
write the same file at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagbox_gui.core.audio.atomic import (
    check_file,
    check_folder,
    remove_leftovers,
    write_atomically,
    write_through,
)
from tagbox_gui.core.errors import ConfigError


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


def test_a_file_written_through_a_link_updates_what_the_link_points_to(tmp_path: Path) -> None:
    """As ``open(path, "w")`` would: the rename goes over the link's target, so a link such as
    ``latest.json -> runs/7.json`` stays a link (the rename had replaced it with a file)."""
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "7.json"
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(Path("runs") / "7.json")
    write_atomically(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["7.json"]  # no temporary
    dangling = tmp_path / "next.json"
    dangling.symlink_to(Path("runs") / "8.json")  # a link to a file still to be made
    write_atomically(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "runs" / "8.json").read_text() == "made"


def test_a_link_that_leads_back_to_itself_is_refused_in_a_sentence(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"'.*a' is a symbolic link that leads back to itself"):
        check_file(tmp_path / "a", "--log-json file")
    with pytest.raises(ConfigError, match=r"output folder .* leads back to itself"):
        check_folder(tmp_path / "b")
    with pytest.raises(ConfigError, match="leads back to itself"):
        check_folder(tmp_path / "a" / "stems")


def test_a_link_to_a_folder_that_is_not_there_is_said_to_be_one(tmp_path: Path) -> None:
    # A link to a drive not plugged in (~/Stems -> /media/usb/Stems): it was said to be 'a
    # file, not a folder'. Nothing is made where it points (onto the disk under the mount).
    (tmp_path / "Stems").symlink_to(tmp_path / "usb" / "Stems")
    for folder in (tmp_path / "Stems", tmp_path / "Stems" / "take 1"):
        with pytest.raises(ConfigError) as error:
            check_folder(folder)
        text = str(error.value)
        assert f"a link to '{tmp_path / 'usb' / 'Stems'}', which is not there" in text
        assert "not a folder" not in text and "\n" not in text
    assert not (tmp_path / "usb").exists()
    (tmp_path / "notes.txt").write_text("a file")
    (tmp_path / "Notes").symlink_to(tmp_path / "notes.txt")  # a link to a file is a file
    with pytest.raises(ConfigError, match=r"'.*Notes' is a file, not a folder"):
        check_folder(tmp_path / "Notes")


def test_the_leftovers_removed_are_the_temporaries_write_through_names(tmp_path: Path) -> None:
    """A kill leaves write_through's temporary under the name it drew; only such names of the
    files named go."""
    drawn: list[Path] = []
    write_through(tmp_path / "stems.npy", lambda tmp: drawn.append(tmp) or tmp.write_bytes(b"x"))
    drawn[0].write_bytes(b"left by a kill")
    other = tmp_path / drawn[0].name.replace("stems.npy", "meta.json")
    other.write_bytes(b"another file's")
    remove_leftovers(tmp_path, {"stems.npy"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other.name, "stems.npy"])
