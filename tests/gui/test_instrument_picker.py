"""The instrument picker on its own: instruments, examples and their names."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tagbox_gui.core.types import Example
from tagbox_gui.gui.widgets.instrument_picker import InstrumentPicker


def make_picker(qtbot) -> InstrumentPicker:
    picker = InstrumentPicker()
    qtbot.addWidget(picker)
    picker.set_instruments(["drums", "bass", "organ", "trumpet"])
    return picker


def test_an_instrument_and_an_example_of_its_name_stay_one_stem(qtbot) -> None:
    picker = make_picker(qtbot)
    example = Example(None, 1.0, 2.0)
    picker.add_example("organ", example)
    button = picker._buttons["organ"]
    assert not button.isChecked()  # the example is no pick of the instrument
    button.click()  # the instrument replaces the example, as an example replaces it
    assert [(p.name, p.example) for p in picker.picks()] == [("organ", None)]
    assert button.isChecked()
    picker.add_example("Organ", example)
    assert not button.isChecked()
    button.click()
    button.click()  # unticking the instrument drops only the instrument
    assert picker.picks() == []
    picker.add_example("Bass", example)
    picker.set_picked("bass", False)  # not picked as an instrument: the example stays
    assert [(p.name, p.example) for p in picker.picks()] == [("Bass", example)]


def test_enter_in_the_name_field_adds_only_when_the_button_may(qtbot) -> None:
    """Where the button may not, Enter says why (for the status bar): the button's tooltip,
    which says it, is not read by one typing in the field."""
    picker = make_picker(qtbot)
    asked: list[str] = []
    said: list[str] = []
    picker.example_requested.connect(asked.append)
    picker.said.connect(said.append)
    picker.set_can_add_example(False, "Open a song and choose the learned separator first.")
    picker.example_name.setText("lead")
    qtbot.keyClick(picker.example_name, Qt.Key.Key_Return)
    assert asked == [] and said == ["Open a song and choose the learned separator first."]
    picker.set_can_add_example(True)
    qtbot.keyClick(picker.example_name, Qt.Key.Key_Return)
    assert asked == ["lead"] and len(said) == 1


def test_the_summary_shows_an_examples_name_as_typed(qtbot) -> None:
    from PySide6.QtGui import QTextDocument

    picker = make_picker(qtbot)
    picker.add_example("<lead> & pad", Example(None, 1.0, 2.0))
    picker.set_picked("drums", True)
    shown = QTextDocument()  # the summary is rich text (its count in bold): drawn as this
    shown.setHtml(picker.summary.text())
    assert shown.toPlainText() == "2 stems + the rest: <lead> & pad, drums"


def test_the_name_first_hint_goes_once_a_name_is_typed(qtbot) -> None:
    """ "Give the example a name first" is said in the empty name field after a click without a
    name; once a name is typed, the field's usual placeholder is back for the next example."""
    picker = make_picker(qtbot)
    usual = picker.example_name.placeholderText()
    picker.add_example_button.click()
    assert picker.example_name.placeholderText() == "Give the example a name first, e.g. organ"
    qtbot.keyClicks(picker.example_name, "organ")
    picker.add_example("organ", Example(None, 1.0, 2.0))  # the window's answer: the field empties
    assert picker.example_name.text() == "" and picker.example_name.placeholderText() == usual


def test_remove_takes_only_the_picks_selected(qtbot) -> None:
    """With nothing selected, Remove is disabled and Delete removes nothing (not the last pick);
    with a pick selected, both remove that one, and then the next is selected (the one before,
    where the last went), as in a file manager's list, so Delete can be pressed again."""
    picker = make_picker(qtbot)
    picker.show()
    picker.activateWindow()  # shortcuts only reach the active window
    qtbot.waitUntil(picker.isActiveWindow, timeout=2000)
    for word in ("drums", "bass", "organ"):
        picker.set_picked(word, True)
    remove, chosen = picker.remove_button, picker.chosen
    assert not remove.isEnabled()
    chosen.setFocus()
    qtbot.keyClick(chosen, Qt.Key.Key_Delete)
    assert [p.name for p in picker.picks()] == ["drums", "bass", "organ"]
    chosen.setCurrentRow(1)
    assert remove.isEnabled()
    remove.click()
    assert [p.name for p in picker.picks()] == ["drums", "organ"]
    # Remove stays enabled: the next pick is now selected (it was disabled, nothing selected)
    assert remove.isEnabled() and [i.text() for i in chosen.selectedItems()] == ["Organ"]
    qtbot.keyClick(chosen, Qt.Key.Key_Delete)  # the last one: the one before it is selected
    assert [p.name for p in picker.picks()] == ["drums"]
    assert [i.text() for i in chosen.selectedItems()] == ["Drums"]
    qtbot.keyClick(chosen, Qt.Key.Key_Delete)
    assert picker.picks() == [] and not remove.isEnabled()


def test_backspace_removes_the_selected_pick_as_delete_does(qtbot) -> None:
    """A Mac's key marked "delete" is Backspace (Delete is fn+delete): it removes the
    selected pick too."""
    picker = make_picker(qtbot)
    picker.show()
    picker.activateWindow()  # shortcuts only reach the active window
    qtbot.waitUntil(picker.isActiveWindow, timeout=2000)
    for word in ("drums", "bass"):
        picker.set_picked(word, True)
    picker.chosen.setFocus()
    picker.chosen.setCurrentRow(0)
    qtbot.keyClick(picker.chosen, Qt.Key.Key_Backspace)
    assert [p.name for p in picker.picks()] == ["bass"]


def test_more_fills_its_column_like_the_instruments_and_reads_as_the_tags_tabs_more(qtbot) -> None:
    """The menu of the other instruments is a button as wide as the instruments' above it,
    named "More" like the Tags tab's menu of presets (a menu, not a window: no "…")."""
    picker = make_picker(qtbot)
    picker.set_instruments(["drums", "bass", "piano", "guitar", "trumpet"])
    picker.resize(380, 400)
    picker.show()
    qtbot.waitExposed(picker)
    above = picker._buttons["bass"]  # More is the fifth: second column, second row
    assert picker.more.geometry().left() == above.geometry().left()
    assert picker.more.width() == above.width()
    assert picker.more.text() == "More"
    menu, opened = picker.more.menu(), []
    menu.aboutToShow.connect(lambda: (opened.append(True), menu.close()))
    qtbot.mouseClick(picker.more, Qt.MouseButton.LeftButton)  # opens the menu, as before
    assert opened and [a.text() for a in menu.actions()] == ["Trumpet"]


def test_the_summary_names_the_instruments_as_the_list_does(qtbot) -> None:
    """The separator's words are written with underscores ("acoustic_guitar"); its buttons, menu
    and list say "Acoustic guitar", and so does the summary, in its sentence's lower case."""
    from PySide6.QtGui import QTextDocument

    picker = make_picker(qtbot)
    picker.set_instruments(["drums", "acoustic_guitar", "synth_pad"])
    picker.set_picked("acoustic_guitar", True)
    picker.set_picked("synth_pad", True)
    picker.add_example("my_lead", Example(None, 1.0, 2.0))  # an example's name as typed
    shown = QTextDocument()
    shown.setHtml(picker.summary.text())
    assert shown.toPlainText() == "3 stems + the rest: acoustic guitar, synth pad, my_lead"
    assert picker.chosen.item(0).text() == "Acoustic guitar"


def test_remove_speaks_of_the_one_pick_the_list_lets_select(qtbot) -> None:
    """The list selects one pick at a time, so Remove's tooltip speaks of one stem."""
    from PySide6.QtWidgets import QAbstractItemView

    picker = make_picker(qtbot)
    assert picker.chosen.selectionMode() == QAbstractItemView.SelectionMode.SingleSelection
    assert picker.remove_button.toolTip() == "Remove the selected stem from the list"


def test_clear_asks_before_losing_an_example(qtbot, monkeypatch) -> None:
    """Each example took a region the musician selected: Clear asks before it drops one (No,
    the default, keeps every pick). Instruments alone are a click each to pick again: no
    question then."""
    from PySide6.QtWidgets import QMessageBox

    from tests.gui.window_helpers import answer_questions

    picker = make_picker(qtbot)
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    picker.set_picked("drums", True)
    picker.set_picked("bass", True)
    picker.clear_button.click()
    assert asked == [] and picker.picks() == []
    picker.set_picked("drums", True)
    picker.add_example("lead", Example(None, 1.0, 2.0))
    picker.clear_button.click()
    assert len(asked) == 1 and "lead" in asked[0]
    assert [p.name for p in picker.picks()] == ["drums", "lead"]
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    picker.clear_button.click()
    assert len(asked) == 1 and picker.picks() == []


def test_picks_a_backend_lacks_are_said_dropped_and_come_back_with_one_that_has_them(
    qtbot,
) -> None:
    """Another backend (its instruments): the picks it lacks are dropped, and set_instruments
    says which and why (for the status bar); once offered again they are picked again, unless
    a stem of that name was picked meanwhile, or the picks were cleared."""
    picker = make_picker(qtbot)  # drums, bass, organ, trumpet
    for word in ("organ", "drums", "trumpet"):
        picker.set_picked(word, True)
    picker.add_example("lead", Example(None, 1.0, 2.0))
    said = picker.set_instruments(["drums", "bass"], "the light backend")
    assert [p.name for p in picker.picks()] == ["drums", "lead"]
    assert said == ("Picks dropped, as the light backend lacks them: organ and trumpet; they "
                    "come back once they are offered again.")  # fmt: skip
    picker.add_example("Trumpet", Example(None, 3.0, 4.0))  # a stem of that name meanwhile
    said = picker.set_instruments(["drums", "bass", "organ", "trumpet"], "the learned separator")
    assert [p.name for p in picker.picks()] == ["drums", "lead", "Trumpet", "organ"]
    assert said == "Picks back, as the learned separator has them: organ."
    assert picker._buttons["organ"].isChecked() and not picker._actions["trumpet"].isChecked()
    assert picker.set_instruments(["drums", "bass", "organ"], "the learned separator") == ""
    picker.set_instruments(["drums"], "the light backend")
    picker.clear()
    assert picker.set_instruments(["drums", "organ"], "the learned separator") == ""
    assert picker.picks() == []
