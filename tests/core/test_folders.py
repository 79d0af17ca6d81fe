"""Folders made for a file, and removed again when what follows fails; sizes as the app says
them (``core.folders``)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tagbox_gui.core.folders import (
    format_size,
    make_folders,
    nearest_folder,
    removed_on_failure,
    standing_in_the_way,
    why_not_a_folder,
)


def test_the_missing_folders_are_made_and_named_outermost_first(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    made = make_folders(tmp_path / "a" / "b" / "c")
    assert made == [tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"]
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert make_folders(tmp_path / "a") == []  # there before: none made


def test_a_file_on_the_way_is_named_and_nothing_is_made(tmp_path: Path) -> None:
    (tmp_path / "song.wav").write_bytes(b"x")
    with pytest.raises(NotADirectoryError) as caught:
        make_folders(tmp_path / "song.wav" / "stems" / "more")
    assert caught.value.filename == str(tmp_path / "song.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav"]


def test_folders_made_before_one_that_cannot_be_are_removed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mkdir = Path.mkdir

    def full(self: Path, *args: object, **kwargs: object) -> None:
        if self.name == "c":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", full)
    with pytest.raises(OSError, match="No space"):
        make_folders(tmp_path / "a" / "b" / "c")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_removes_the_empty_folders_made_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "there").mkdir()
    made = make_folders(tmp_path / "there" / "a" / "b")
    with pytest.raises(KeyboardInterrupt), removed_on_failure(made):
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["there"]
    assert list((tmp_path / "there").iterdir()) == []  # there before: kept

    made = make_folders(tmp_path / "x" / "y")
    (tmp_path / "x" / "other.txt").write_text("somebody else's")
    with pytest.raises(OSError), removed_on_failure(made):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not (tmp_path / "x" / "y").exists()  # empty: removed
    assert (tmp_path / "x" / "other.txt").is_file()  # not empty: kept


def test_nothing_is_removed_when_the_block_succeeds(tmp_path: Path) -> None:
    made = make_folders(tmp_path / "a" / "b")
    with removed_on_failure(made):
        pass
    assert (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1049, "1.0 kB"),
        (12_345, "12.3 kB"),
        (99_949, "99.9 kB"),
        (99_950, "100 kB"),  # three figures at most: no "100.0 kB"
        (850_000, "850 kB"),
        (999_499, "999 kB"),
        (999_999, "1.0 MB"),  # not "1000 kB"
        (10**6, "1.0 MB"),
        (1_902_815, "1.9 MB"),
        (12_300_000, "12.3 MB"),
        (268_435_456, "268 MB"),  # 256 MiB, in the decimal units of the rest
        (999_999_999, "1.0 GB"),
        (1_500_000_000, "1.5 GB"),
        (10**12, "1.0 TB"),
        (5 * 10**15, "5000 TB"),  # the largest unit goes on counting
    ],
)
def test_a_size_is_said_in_decimal_units_with_three_figures_at_most(
    n_bytes: int, text: str
) -> None:
    assert format_size(n_bytes) == text


@pytest.mark.skipif(os.name != "posix", reason="symbolic links as POSIX has them")
def test_what_stands_in_the_way_of_a_folder_is_the_nearest_thing_there(tmp_path: Path) -> None:
    """A file or a link to what is not there, at the path or above it; nothing where the path
    is a folder or can be made."""
    link, usb, file = tmp_path / "models", tmp_path / "usb" / "models", tmp_path / "notes.txt"
    link.symlink_to(usb)
    file.write_text("")
    assert standing_in_the_way(tmp_path) is None
    assert standing_in_the_way(tmp_path / "new" / "models") is None
    assert standing_in_the_way(link) == link == standing_in_the_way(link / "tagbox" / "fcn")
    assert standing_in_the_way(file / "models") == file
    usb.mkdir(parents=True)  # the drive is plugged in
    assert standing_in_the_way(link / "tagbox") is None


@pytest.mark.skipif(os.name != "posix", reason="symbolic links as POSIX has them")
def test_why_a_path_cannot_be_a_folder_names_what_stands_in_its_way(tmp_path: Path) -> None:
    link, file = tmp_path / "models", tmp_path / "notes.txt"
    link.symlink_to(tmp_path / "usb" / "models")
    file.write_text("")
    instead = "choose another place"
    assert why_not_a_folder(tmp_path / "new" / "models", instead) == ""
    assert why_not_a_folder(file, instead) == "is a file, not a folder; choose another place"
    assert why_not_a_folder(file / "stems", instead) == (
        f"is under '{file}', which is a file, not a folder; choose another place"
    )
    assert why_not_a_folder(link / "tagbox", instead) == (
        f"is under '{link}', which is a link to '{tmp_path / 'usb' / 'models'}', which is not "
        "there (a drive not plugged in?); plug it in, or choose another place"
    )


def test_the_nearest_folder_is_the_path_or_the_nearest_one_above_it_still_there(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "song.wav").write_bytes(b"x")
    assert nearest_folder(tmp_path / "a") == tmp_path / "a"
    assert nearest_folder(tmp_path / "a" / "gone" / "deeper") == tmp_path / "a"  # renamed
    assert nearest_folder(tmp_path / "a" / "song.wav") == tmp_path / "a"  # a file: its folder
    assert nearest_folder(Path("/no such drive/music")) == Path("/")


def test_nothing_of_a_path_there_has_no_nearest_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows a drive not plugged in takes its root with it ('E:\\' is no folder either):
    nothing at or above the path is a folder, which is said (None), and the free space of a
    folder there is not known, rather than failing."""
    from tagbox_gui.core.audio.files import ExportFormat, space_for

    gone = Path("/no such drive/music")
    is_folder = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda p: Path(p).anchor != gone.anchor and is_folder(p))
    assert nearest_folder(gone) is None
    assert space_for(gone / "stems", ExportFormat.WAV16, [(48_000, 2)]) is None


def test_nothing_stands_in_the_way_of_a_path_of_which_nothing_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A folder on a drive not plugged in, on Windows, where the drive's root goes too: nothing
    stands in its way (None, ''), rather than failing; making it says why it cannot be made."""
    gone = Path("/no such drive/stems")
    is_folder, there = os.path.isdir, os.path.lexists
    monkeypatch.setattr(os.path, "isdir", lambda p: Path(p).anchor != gone.anchor and is_folder(p))
    monkeypatch.setattr(os.path, "lexists", lambda p: Path(p).anchor != gone.anchor and there(p))
    assert standing_in_the_way(gone) is None
    assert why_not_a_folder(gone, "choose another place") == ""
