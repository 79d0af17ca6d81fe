"""The Export all stems… dialog on its own: its folder, its name template and what it shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QPushButton

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.audio.naming import shared_stem_names
from tagbox_gui.gui.widgets.export_dialog import ExportDialog


def _names(template: str) -> list[str]:
    return shared_stem_names("My Song", ["piano", "drums"], template=template)


def test_typing_a_template_never_widens_the_dialog(qtbot, tmp_path: Path) -> None:
    """What a template says (why it cannot name the stems, or the stems' long names) is shown
    in the dialog's width: a sentence wraps, a name too long for a line is shortened in its
    middle (all of it in the tooltip), rather than the dialog growing past the screen."""
    dialog = ExportDialog(_names, str(tmp_path), ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    width = dialog.width()
    for template in ("{so", "{stem}}", "x" * 150 + "{stem}", "{song} - {stem}"):
        dialog.template.setText(template)
        qtbot.wait(10)  # the layout follows
        assert dialog.width() == width, template
    dialog.template.setText("x" * 150 + "{stem}")
    qtbot.wait(10)
    full = [name + ".wav" for name in _names(dialog.template.text())]
    assert dialog.files.toolTip() == "\n".join(full)
    room = dialog.files.contentsRect().width()
    shown = dialog.files.text().split("<br>")
    assert len(shown) == 3 and all("…" in line for line in shown)
    assert all(dialog.files.fontMetrics().horizontalAdvance(line) <= room for line in shown)
    dialog.template.setText("{song} - {stem}")
    assert dialog.files.toolTip() == ""  # every name shown whole
    assert dialog.files.text().split("<br>") == [
        name + ".wav" for name in _names("{song} - {stem}")
    ]


def test_what_the_dialog_says_is_never_cut_off(qtbot, tmp_path: Path) -> None:
    """A sentence that wraps to more lines than the dialog had room for makes it taller."""
    dialog = ExportDialog(_names, str(tmp_path), ExportFormat.WAV16, peak=2.0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    for template in ("{so", "{song} - {stem}", "{song} {" + "x" * 60 + "}", "{stem}"):
        dialog.template.setText(template)
        qtbot.wait(10)  # the layout follows
        label = dialog.files
        assert label.height() >= label.heightForWidth(label.width()), template
    dialog.resize(dialog.width(), 50)  # as small as it goes
    qtbot.wait(10)
    assert dialog.files.height() >= dialog.files.heightForWidth(dialog.files.width())


def test_why_a_template_cannot_name_the_stems_reads_as_a_sentence(qtbot, tmp_path: Path) -> None:
    """As an error dialog says it (``user_message``): a capital first, a full stop last."""
    from PySide6.QtGui import QTextDocument

    dialog = ExportDialog(_names, str(tmp_path), ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    said = []
    for template in ("", "{song}", "{so", "{stem}.wav", "{Stem}"):
        dialog.template.setText(template)
        shown = QTextDocument()
        shown.setHtml(dialog.files.text())
        said.append(shown.toPlainText())
    assert all(text.startswith("The name template '") for text in said), said
    assert all(text.endswith(".") for text in said), said


def test_spaces_around_a_typed_or_pasted_folder_are_not_part_of_it(qtbot, tmp_path: Path) -> None:
    """A path pasted with a space before it is still a full path, and one with a space after
    it names that folder, not a new one whose name ends in a space (which Windows refuses)."""
    dialog = ExportDialog(_names, str(tmp_path), ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    for text in (f" {tmp_path}", f"{tmp_path} ", f"\t{tmp_path}  "):
        dialog.folder.setText(text)
        assert dialog.save.isEnabled(), repr(text)
        assert dialog.chosen()[0] == tmp_path, repr(text)
    dialog.folder.setText("  ~/stems ")
    assert dialog.chosen()[0] == Path.home() / "stems"


def test_browse_opens_where_the_folder_is_or_was(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remembered folder that is gone (a deleted project, an unplugged disk) or one typed
    with ``~``: Browse opens at the nearest folder still there, not wherever the app started."""
    from tagbox_gui.gui.widgets import export_dialog

    opened: list[str] = []
    monkeypatch.setattr(export_dialog.QFileDialog, "getExistingDirectory",
                        lambda parent, title, start: opened.append(start) or "")  # fmt: skip
    dialog = ExportDialog(_names, str(tmp_path / "gone" / "deeper"), ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    browse = next(b for b in dialog.findChildren(QPushButton) if b.text() == "&Browse…")
    for text in (str(tmp_path / "gone" / "deeper"), "~", "", "stems"):
        dialog.folder.setText(text)
        browse.click()
    assert opened == [str(tmp_path), str(Path.home()), str(Path.home()), str(Path.home())]
    assert dialog.folder.text() == "stems"  # cancelled: the folder stays as typed


@pytest.mark.parametrize(
    ("over_db", "said"),
    [(0.0001, "peaks just over full scale:"), (0.04, "peaks just over full scale:"),
     (0.06, "peaks 0.1 dB over full scale:"), (6.02, "peaks 6.0 dB over full scale:")],
)  # fmt: skip
def test_a_peak_just_over_full_scale_is_never_said_to_be_0_db_over(
    qtbot, tmp_path: Path, over_db: float, said: str
) -> None:
    """A peak too little over full scale to show in tenths of a dB (a sample of 1.0001) still
    clips in 16 or 24 bits: it is "just over", not "0.0 dB over"."""
    peak = 10 ** (over_db / 20)
    dialog = ExportDialog(_names, str(tmp_path), ExportFormat.WAV24, peak=peak)
    qtbot.addWidget(dialog)
    assert said in dialog.files.text() and "0.0 dB" not in dialog.files.text()


def test_typing_a_folder_checks_its_disk_once_typing_pauses(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The free space is asked of the folder's disk once the dialog opens, then once typing
    in the folder field pauses, not on every key (on a slow network mount each ask stalls)."""
    import shutil

    from tagbox_gui.core.audio import files

    usage = shutil.disk_usage(tmp_path)
    asked: list[Path] = []

    def disk_usage(place: str) -> object:
        asked.append(Path(place))
        return usage._replace(free=1)

    monkeypatch.setattr(files.shutil, "disk_usage", disk_usage)
    dialog = ExportDialog(_names, str(tmp_path), ExportFormat.WAV32, frames=1000, channels=2)
    qtbot.addWidget(dialog)
    assert asked == [tmp_path] and dialog.space.text().endswith("the disk has 1 B free.")
    dialog.folder.setText("")
    qtbot.keyClicks(dialog.folder, str(tmp_path / "stems"))  # one edit a key, quickly
    assert asked == [tmp_path]
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=2000)
    qtbot.wait(500)  # and no more after
    assert asked == [tmp_path, tmp_path]  # the disk "stems" will be on
    assert dialog.space.isVisibleTo(dialog)


def _told(qtbot, dialog: ExportDialog, folder: Path | str) -> str:
    """What the line under the folder says once ``folder`` is typed and typing pauses."""
    dialog.folder.setText(str(folder))
    qtbot.waitUntil(lambda: not dialog._space_check.isActive(), timeout=2000)
    return dialog.space.text() if dialog.space.isVisibleTo(dialog) else ""


def test_a_file_where_the_folder_should_be_is_said_before_save(qtbot, tmp_path: Path) -> None:
    """A file at the folder's path, or on its way, is said under the folder as the export would
    say it (``core.folders.why_not_a_folder``), and Save is disabled, not left to fail."""
    song = tmp_path / "song.wav"
    song.write_bytes(b"")
    dialog = ExportDialog(_names, str(song), ExportFormat.WAV32)  # as it opens, too
    qtbot.addWidget(dialog)
    assert dialog.space.text() == f"'{song}' is a file, not a folder; choose another folder."
    assert not dialog.save.isEnabled()
    assert _told(qtbot, dialog, tmp_path) == "" and dialog.save.isEnabled()
    assert _told(qtbot, dialog, song / "stems") == (
        f"'{song / 'stems'}' is under '{song}', which is a file, not a folder; "
        "choose another folder."
    )
    assert not dialog.save.isEnabled()
    dialog.template.setText("{stem}")  # another template: the folder is still refused
    qtbot.waitUntil(lambda: not dialog._space_check.isActive(), timeout=2000)
    assert not dialog.save.isEnabled()


def test_a_folder_not_there_is_said_with_where_save_makes_it(qtbot, tmp_path: Path) -> None:
    """A remembered folder on a drive not plugged in would be made where the drive was
    mounted: it is said not to exist yet, with the nearest folder there is; Save stays on."""
    dialog = ExportDialog(_names, str(tmp_path), ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    width = dialog.width()
    stems = tmp_path / "Drive" / ("long name " * 20) / "stems"
    assert _told(qtbot, dialog, stems) == (
        f"'{stems}' does not exist yet; Save makes it inside '{tmp_path}'."
    )
    assert dialog.save.isEnabled() and dialog.width() == width  # the sentence wraps
    assert dialog.space.height() >= dialog.space.heightForWidth(dialog.space.width())
    assert _told(qtbot, dialog, tmp_path) == ""  # an ordinary folder: nothing is said


def test_a_folder_that_cannot_be_written_in_is_said_before_save(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only folder, or one that cannot be made in the nearest folder there is, is said
    under the folder and Save is disabled."""
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode)
    )
    dialog = ExportDialog(_names, str(tmp_path), ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    assert _told(qtbot, dialog, locked) == (
        f"'{locked}' cannot be written in (a read-only disk, or another user's folder); "
        "choose another folder."
    )
    assert not dialog.save.isEnabled()
    assert _told(qtbot, dialog, locked / "new") == (
        f"'{locked / 'new'}' cannot be made: '{locked}' cannot be written in (a read-only "
        "disk, or another user's folder); choose another folder."
    )
    assert not dialog.save.isEnabled()
    assert _told(qtbot, dialog, tmp_path) == "" and dialog.save.isEnabled()


def test_an_edit_of_the_template_or_format_keeps_save_off_for_a_refused_folder(
    qtbot, tmp_path: Path
) -> None:
    """A folder the check refused stays refused while the template or the format changes:
    Save is not on meanwhile, in the pause before the folder is checked again."""
    song = tmp_path / "song.wav"
    song.write_bytes(b"")
    dialog = ExportDialog(_names, str(song), ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    assert not dialog.save.isEnabled()
    dialog.template.setText("{stem}")
    assert not dialog.save.isEnabled()
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.FLAC24.value))
    assert not dialog.save.isEnabled()
    dialog.template.setText("{song}")  # names two stems alike: said, and fixed again
    dialog.template.setText("{song} {stem}")
    assert not dialog.save.isEnabled()
    assert _told(qtbot, dialog, tmp_path) == "" and dialog.save.isEnabled()
    dialog.template.setText("{stem}")  # an accepted folder keeps Save on
    assert dialog.save.isEnabled()


def test_a_folder_of_which_nothing_is_there_is_said_before_save(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Windows a drive not plugged in takes its root with it: nothing of the folder is
    there, which is said, and Save is disabled."""
    import os

    gone = Path("/no such drive/stems")
    is_folder, there = os.path.isdir, os.path.lexists
    monkeypatch.setattr(os.path, "isdir", lambda p: Path(p).anchor != gone.anchor and is_folder(p))
    monkeypatch.setattr(os.path, "lexists", lambda p: Path(p).anchor != gone.anchor and there(p))
    dialog = ExportDialog(_names, "", ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    assert _told(qtbot, dialog, gone) == (
        f"'{gone}' cannot be made: nothing of it is there (a drive not plugged in?); "
        "choose another folder."
    )
    assert not dialog.save.isEnabled()
