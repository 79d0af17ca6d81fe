"""Names with '&' in them (an example's stem "R&B keys", a song "Drum & Bass.wav", a folder
"R&D") keep it on the buttons, check boxes, menu entries, group boxes and labels with a buddy
that show them, where Qt takes '&' for a mnemonic: it hid it and underlined the next letter."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMenu

from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.widgets import ModelsDialog, instrument_picker, tag_panel
from tagbox_gui.gui.widgets.instrument_picker import InstrumentPicker
from tagbox_gui.gui.widgets.live_panel import LivePanel
from tagbox_gui.gui.widgets.recent_menu import fill_recent_menu
from tagbox_gui.gui.widgets.tag_panel import TagPanel
from tests.gui.widget_helpers import drawn


def test_instruments_with_an_ampersand_keep_it_on_their_buttons_and_menu_entries(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instrument_picker, "MAIN_INSTRUMENTS", ("drums", "r&b_keys"))
    picker = InstrumentPicker()
    qtbot.addWidget(picker)
    picker.set_instruments(["drums", "r&b_keys", "drum_&_bass"])
    button = picker._buttons["r&b_keys"]
    assert drawn(button.text()) == "R&b keys" and button.shortcut().isEmpty()
    assert drawn(picker._actions["drum_&_bass"].text()) == "Drum & bass"
    button.click()  # still the instrument it names
    assert [p.name for p in picker.picks()] == ["r&b_keys"]


def test_presets_with_an_ampersand_keep_it_on_their_buttons_and_menu_entries(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tag_panel, "MAIN_PRESETS", ("R&B",))
    panel = TagPanel()
    qtbot.addWidget(panel)
    monkeypatch.setattr(panel.board, "available_presets", lambda: ["R&B", "Drum & Bass"])
    monkeypatch.setattr(panel.board, "preset_words", lambda name: ())
    panel._build_presets()
    assert drawn(panel._preset_controls["R&B"].text()) == "R&B"
    assert drawn(panel._preset_controls["Drum & Bass"].text()) == "Drum & Bass"


def test_a_stems_name_with_an_ampersand_keeps_it_in_the_live_boxes_titles(qtbot) -> None:
    panel = LivePanel()
    qtbot.addWidget(panel)
    panel.reset(["total"], ["piano"], stem="R&B keys")
    panel.name_mask("R&B keys")
    for box in (panel.loss_box, panel.mask_box, panel.meters_box):
        assert drawn(box.title()).endswith(" of R&B keys"), box.title()


def test_recent_files_with_an_ampersand_keep_it(qtbot) -> None:
    menu = QMenu()
    fill_recent_menu(menu, ["/music/Drum & Bass.wav"], lambda path: None, lambda: None)
    assert drawn(menu.actions()[0].text()) == "1 Drum & Bass.wav"


def test_the_models_dialogs_message_keeps_an_ampersand_of_a_path(qtbot, tmp_path: Path) -> None:
    dialog = ModelsDialog(ModelStore(tmp_path / "store"))
    qtbot.addWidget(dialog)
    folder = tmp_path / "R&D" / "models"
    assert dialog.change_folder(str(folder))
    assert dialog.message.buddy() is not None  # so it is drawn with mnemonics
    assert f"Models are now stored in {folder};" in drawn(dialog.message.text())
