"""Export… never replaces stems without asking, and writes both stems or neither."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.gui.main_window import MainWindow
from tests.gui.window_helpers import open_song, run_to_end

STEMS = ["My Song - no piano.wav", "My Song - piano.wav"]


def _old_stems(folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    for name in STEMS:
        sf.write(folder / name, [[0.25]] * 10, 48_000)
    return {name: (folder / name).read_bytes() for name in STEMS}


def _answer(monkeypatch: pytest.MonkeyPatch, button: QMessageBox.StandardButton) -> list[str]:
    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_export_asks_before_replacing_and_no_keeps_the_old_stems(
    qtbot, window: MainWindow, song_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    out = tmp_path / "out"
    old = _old_stems(out)
    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
    assert window.export_to(out, ExportFormat.WAV32) is None
    assert len(asked) == 1 and all(name in asked[0] for name in STEMS)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old  # untouched, nothing added

    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    paths = window.export_to(out, ExportFormat.WAV32)
    assert paths is not None and len(asked) == 1
    assert sorted(p.name for p in out.iterdir()) == STEMS
    assert all(sf.info(p).frames == window.song.frames for p in paths)  # the new stems


def test_export_to_a_new_folder_asks_nothing(
    qtbot, window: MainWindow, song_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: pytest.fail("nothing to replace"))
    assert window.export_to(tmp_path / "new", ExportFormat.WAV16) is not None
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == STEMS
