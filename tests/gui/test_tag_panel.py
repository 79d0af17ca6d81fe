"""The tag panel: vocabulary rows, three visible states, presets, search, lacking marks."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tagbox_gui.core.nets.taggers import vocabulary
from tagbox_gui.core.separation.tags import resolve_targets
from tagbox_gui.core.types import TaggerSpec, TagState
from tagbox_gui.gui.tag_states import TagBoard
from tagbox_gui.gui.widgets.instrument_picker import label_of
from tagbox_gui.gui.widgets.tag_panel import TagPanel

MTAT = TaggerSpec("fcn", "mtat")
JAMENDO = TaggerSpec("fcn", "jamendo")


@pytest.fixture
def panel(qtbot) -> TagPanel:
    p = TagPanel()
    qtbot.addWidget(p)
    p.set_taggers([MTAT])
    p.resize(340, 800)
    p.show()
    return p


def click(qtbot, panel: TagPanel, word: str) -> None:
    item = panel.item(word)
    panel.tree.scrollToItem(item)
    rect = panel.tree.visualItemRect(item)
    with qtbot.waitSignal(panel.tags_changed, timeout=1000):
        qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def look(panel: TagPanel, word: str) -> tuple:
    """What the user sees of a row: state text, bold, struck out, italic, icon key."""
    item = panel.item(word)
    font = item.font(0)
    return (
        item.text(1),
        font.bold(),
        font.strikeOut(),
        font.italic(),
        item.icon(0).pixmap(16, 16).toImage().pixel(8, 8),
    )


def test_rows_are_the_vocabulary_grouped(panel: TagPanel) -> None:
    groups = panel.board.grouped()
    assert sum(len(rows) for rows in groups.values()) == 50
    assert {r.word for r in groups["instruments"]} >= {"piano", "guitar", "drums", "strings"}
    assert {r.word for r in groups["voice"]} >= {"female vocal", "no vocals"}
    titles = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert titles == ["Instruments", "Voice", "Genre", "Mood", "Other"][: len(titles)]


def test_click_cycles_three_visibly_different_states(qtbot, panel: TagPanel) -> None:
    default = look(panel, "piano")
    assert panel.state("piano") is TagState.AVOIDED and default[0] == "(avoid)"
    click(qtbot, panel, "piano")
    assert panel.state("piano") is TagState.WANTED and panel.wanted() == ("piano",)
    wanted = look(panel, "piano")
    click(qtbot, panel, "piano")
    assert panel.state("piano") is TagState.AVOIDED and panel.avoided() == ("piano",)
    avoided = look(panel, "piano")
    click(qtbot, panel, "piano")
    assert panel.state("piano") is TagState.IGNORED and panel.ignored() == ("piano",)
    ignored = look(panel, "piano")
    click(qtbot, panel, "piano")
    assert panel.board.explicit("piano") is None and look(panel, "piano") == default
    assert [s[0] for s in (wanted, avoided, ignored)] == ["want", "avoid", "ignore"]
    assert wanted[1] and avoided[2] and ignored[3]  # bold, struck out, italic
    assert len({wanted[4], avoided[4], ignored[4], default[4]}) == 4  # four different badges


def test_states_shown_are_the_losss_targets(panel: TagPanel) -> None:
    panel.apply_preset("Drums")
    panel.set_state("rock", TagState.IGNORED)
    panel.ignore_related.setChecked(True)
    targets = resolve_targets(
        "mtat", vocabulary("mtat"), panel.wanted(), panel.avoided(), panel.ignored(), True, True
    )
    shown = {row.tags["mtat"]: panel.state(row.word) for row in panel.board.rows}
    assert shown == dict(zip(vocabulary("mtat"), targets.states, strict=True))
    assert panel.state("beat") is TagState.IGNORED  # related to drums
    assert panel.state("piano") is TagState.AVOIDED


def test_avoid_others_off_ignores_the_rest(panel: TagPanel) -> None:
    panel.apply_preset("Piano")
    panel.avoid_others.setChecked(False)
    states = {panel.state(r.word) for r in panel.board.rows if r.word != "piano"}
    assert states == {TagState.IGNORED}


def test_presets_want_every_vocabularys_tags(qtbot, panel: TagPanel) -> None:
    panel.set_taggers([MTAT, JAMENDO])
    panel.apply_preset("Piano")
    assert panel.wanted() == ("piano",)
    assert panel.board.row("piano").tags == {"mtat": "piano", "jamendo": "instrument---piano"}
    assert panel.board.states_by_tagger("piano") == {
        "mtat": TagState.WANTED,
        "jamendo": TagState.WANTED,
    }
    assert panel.stem_words() == ("piano",)
    panel.apply_preset("Vocals")  # replaces the wanted set
    assert "piano" not in panel.wanted() and {"vocal", "singing", "voice"} <= set(panel.wanted())
    assert panel.stem_words() == ("vocals",)


def test_preset_buttons(qtbot, panel: TagPanel) -> None:
    from PySide6.QtWidgets import QPushButton

    buttons = {b.text(): b for b in panel.presets.findChildren(QPushButton)}
    assert {"Vocals", "Piano", "Strings", "Drums", "Guitar"} <= set(buttons)
    assert "Bass" not in buttons  # the mtat taggers have no bass tag
    with qtbot.waitSignal(panel.tags_changed):
        buttons["Guitar"].click()
    assert panel.wanted() == ("guitar",)


def test_search_filters_rows_and_groups(panel: TagPanel) -> None:
    panel.search.setText("vio")
    visible = [w for w, item in panel._items.items() if not item.isHidden()]
    assert visible == ["violin"]
    hidden_groups = [
        panel.tree.topLevelItem(i).isHidden() for i in range(panel.tree.topLevelItemCount())
    ]
    assert hidden_groups.count(False) == 1
    panel.search.clear()
    assert not any(item.isHidden() for item in panel._items.values())


def test_tags_a_chosen_tagger_lacks_are_marked(panel: TagPanel) -> None:
    panel.set_taggers([MTAT, JAMENDO])
    assert panel.board.lacking("beat") == ("fcn/jamendo",)
    assert panel.board.lacking("bass") == ("fcn/mtat",)
    assert panel.board.lacking("piano") == ()
    assert not panel.item("beat").icon(1).isNull()
    assert panel.item("piano").icon(1).isNull()
    assert "Not in the vocabulary of fcn/jamendo" in panel.item("beat").toolTip(0)
    panel.set_state("beat", TagState.WANTED)
    assert "fcn/jamendo cannot hear a wanted tag" in panel.summary.text()


def test_choices_survive_a_change_of_taggers() -> None:
    board = TagBoard([MTAT])
    board.apply_preset("Piano")
    board.set_state("rock", TagState.IGNORED)
    board.set_taggers([MTAT, JAMENDO])
    assert board.words(TagState.WANTED, explicit_only=True) == ("piano",)
    assert board.explicit("rock") is TagState.IGNORED
    board.set_taggers([JAMENDO])
    assert board.state("piano") is TagState.WANTED  # jamendo's instrument---piano


def test_choices_dropped_with_the_taggers_come_back_with_them() -> None:
    """A choice the new taggers cannot take is set aside, not forgotten: taggers that hear its
    tag bring it back, in the same state, unless the musician chose anew meanwhile."""
    board = TagBoard([MTAT])
    for word, state in (("female vocal", TagState.WANTED), ("piano", TagState.WANTED),
                        ("rock", TagState.AVOIDED), ("slow", TagState.IGNORED)):  # fmt: skip
        board.set_state(word, state)
    dropped, back = board.set_taggers([JAMENDO])
    assert dropped == {"female vocal": TagState.WANTED, "rock": TagState.AVOIDED,
                       "slow": TagState.IGNORED} and back == {}  # fmt: skip
    dropped, back = board.set_taggers([])
    assert dropped == {"piano": TagState.WANTED} and back == {}
    dropped, back = board.set_taggers([MTAT, JAMENDO])
    assert dropped == {}
    assert back == {"female vocal": TagState.WANTED, "rock": TagState.AVOIDED,
                    "slow": TagState.IGNORED, "piano": TagState.WANTED}  # fmt: skip
    assert set(board.words(TagState.WANTED, explicit_only=True)) == {"female vocal", "piano"}
    assert board.explicit("rock") is TagState.AVOIDED and board.explicit("slow") is TagState.IGNORED
    assert board.set_taggers([MTAT]) == ({}, {})  # back once: not said again


def test_a_choice_made_meanwhile_outlasts_the_one_set_aside() -> None:
    """A preset (which wants exactly its tags), Clear all choices, or a choice (back to the
    default too) of the same tag under the new taggers' name (jamendo's genre---rock for mtat's
    rock) is the musician's last word: the choice set aside does not come back over it."""
    board = TagBoard([MTAT])
    board.set_state("female vocal", TagState.WANTED)
    board.set_state("rock", TagState.AVOIDED)
    board.set_state("slow", TagState.IGNORED)
    board.set_taggers([JAMENDO])
    board.apply_preset("Guitar")  # wants only guitar: female vocal is wanted no more
    board.set_state("genre---rock", TagState.WANTED)  # rock, as jamendo names it
    _, back = board.set_taggers([MTAT, JAMENDO])
    assert back == {"slow": TagState.IGNORED}
    assert board.explicit("rock") is TagState.WANTED and board.explicit("female vocal") is None
    board.set_taggers([MTAT])
    board.set_state("rock", TagState.AVOIDED)
    board.set_taggers([JAMENDO])  # mtat's rock set aside
    for _ in range(4):  # clicked round, back to the default: a choice too
        board.cycle("genre---rock")
    _, back = board.set_taggers([MTAT])
    assert "rock" not in back and board.explicit("rock") is None
    board.set_state("female vocal", TagState.AVOIDED)
    board.set_taggers([JAMENDO])
    board.clear()  # Clear all choices: the ones set aside too
    assert board.set_taggers([MTAT]) == ({}, {}) and board.explicit("female vocal") is None


def test_a_choice_follows_its_tag_when_the_row_is_named_anew() -> None:
    """MTAT's "rock" row is jamendo's "genre---rock" once only jamendo is chosen (and back):
    the same row, whose choice is kept."""
    board = TagBoard([MTAT, JAMENDO])
    board.apply_preset("Piano")
    board.set_state("rock", TagState.AVOIDED)
    board.set_taggers([JAMENDO])
    assert board.row("genre---rock").tags == {"jamendo": "genre---rock"}
    assert board.explicit("genre---rock") is TagState.AVOIDED
    assert board.words(TagState.AVOIDED, explicit_only=True) == ("genre---rock",)
    assert board.words(TagState.WANTED, explicit_only=True) == ("piano",)
    board.set_taggers([MTAT, JAMENDO])
    assert board.explicit("rock") is TagState.AVOIDED
    assert board.words(TagState.WANTED, explicit_only=True) == ("piano",)


def test_the_context_menu_sets_a_state_and_goes_once_closed(qtbot, panel: TagPanel) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMenu

    item = panel.item("piano")
    panel.tree.scrollToItem(item)
    where = panel.tree.visualItemRect(item).center()
    chosen: list[str] = []

    def choose(label: str) -> None:
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        action = next(a for a in menu.actions() if a.text() == label)
        chosen.append(label)
        action.trigger()
        menu.close()

    for label in ("Want", "Ignore"):
        QTimer.singleShot(50, lambda label=label: choose(label))
        panel._on_tree_context_menu(where)  # the menu's exec returns once it is closed
    assert chosen == ["Want", "Ignore"] and panel.state("piano") is TagState.IGNORED

    def left_behind() -> list[QMenu]:  # the presets' "More" menu is its button's
        return [menu for menu in panel.findChildren(QMenu) if menu.parent() is panel]

    qtbot.waitUntil(lambda: not left_behind(), timeout=2000)


def test_tags_a_tagger_hears_as_one_refuse_run_before_it_starts(qtbot, window, song_path) -> None:
    """mtat hears female and male vocals apart, jamendo as one tag: Run says so, not the run."""
    from dataclasses import replace

    from tests.gui.window_helpers import open_song

    open_song(qtbot, window, song_path)
    panel = window.settings_panel
    panel.set_settings(replace(panel.settings(), taggers=("fcn/mtat",)))
    tags = window.tag_panel
    tags.set_state("female vocal", TagState.WANTED)
    tags.set_state("male vocal", TagState.AVOIDED)
    assert window.run_view.problem() == ""  # two tags of mtat: keep one voice, avoid the other
    panel.set_settings(replace(panel.settings(), taggers=("fcn/mtat", "fcn/jamendo")))
    problem = window.run_view.problem()
    assert "'female vocal' (wanted) and 'male vocal' (avoided)" in problem
    assert "instrument---voice to the jamendo taggers" in problem
    assert "instrument---voice to the jamendo taggers" in tags.summary.text()
    assert window.run_view.start() is None


def test_choices_the_new_taggers_lack_are_said_when_dropped(qtbot, window) -> None:
    from dataclasses import replace

    panel = window.settings_panel
    panel.set_settings(replace(panel.settings(), taggers=("fcn/mtat",)))
    tags = window.tag_panel
    for word, state in (("female vocal", TagState.WANTED), ("piano", TagState.WANTED),
                        ("rock", TagState.AVOIDED)):  # fmt: skip
        tags.set_state(word, state)
    panel.set_settings(replace(panel.settings(), taggers=("fcn/jamendo",)))
    assert tags.wanted() == ("piano",) and tags.avoided() == ()  # jamendo lacks the others
    said = window.statusBar().currentMessage()
    assert "female vocal (wanted), rock (avoided)" in said and "fcn/jamendo" in said
    assert "they come back once taggers that hear them are chosen" in said
    panel.set_settings(replace(panel.settings(), taggers=("fcn/jamendo", "fcn/mtat")))
    assert set(tags.wanted()) == {"piano", "female vocal"} and tags.avoided() == ("rock",)
    back = window.statusBar().currentMessage()
    assert back == ("Tags back, as fcn/mtat, fcn/jamendo can hear them: female vocal (wanted), "
                    "rock (avoided).")  # fmt: skip
    panel.set_settings(replace(panel.settings(), taggers=("fcn/mtat",)))
    assert window.statusBar().currentMessage() == back  # nothing dropped or back: said once


def test_picks_another_backend_lacks_are_said_when_dropped_and_back(qtbot, window) -> None:
    """The Instruments tab may be out of sight: the status bar says which picks a switch of
    backend dropped, as it lacks them, and which a switch back picked again."""
    from dataclasses import replace

    panel, picker = window.settings_panel, window.picker
    panel.set_settings(replace(panel.settings(), backend="learned"))
    light = window.settings_view.instrument_words("light")
    lacking = next(w for w in picker.instruments() if w not in light)
    picker.set_picked(lacking, True)
    panel.set_settings(replace(panel.settings(), backend="light"))
    assert picker.picks() == []
    said = window.statusBar().currentMessage()
    assert said.startswith("Picks dropped, as the light backend lacks them: ")
    assert label_of(lacking).lower() in said
    panel.set_settings(replace(panel.settings(), backend="learned"))
    assert [p.name for p in picker.picks()] == [lacking]
    assert window.statusBar().currentMessage() == (
        f"Picks back, as the learned separator has them: {label_of(lacking).lower()}."
    )


def test_one_pass_says_before_run_which_tags_it_cannot_use(qtbot, model_dir, settings, song_path):
    """The learned separator's one pass (its default, 0 steps) is asked for an instrument by
    name: an avoided tag, or a wanted one it has no prototype for, needs steering steps."""
    from tests.gui.window_helpers import make_window, open_song

    window = make_window(qtbot, model_dir, settings, backend="learned")
    open_song(qtbot, window, song_path)
    assert window.settings_panel.steps.value() == 0
    tags, run = window.tag_panel, window.run_view
    tags.set_state("piano", TagState.WANTED)
    assert run.problem() == ""
    tags.set_state("guitar", TagState.AVOIDED)
    assert "give some steps in Settings" in run.problem() and run.start() is None
    tags.set_state("guitar", None)
    tags.set_state("piano", None)
    tags.set_state("female vocal", TagState.WANTED)
    assert "knows no female vocal" in run.problem() and run.start() is None
    window.settings_panel.steps.setValue(10)
    assert run.problem() == ""


def test_one_pass_greys_out_the_steering_options_and_says_why(qtbot, model_dir, settings) -> None:
    from tests.gui.window_helpers import make_window

    window = make_window(qtbot, model_dir, settings, backend="learned")
    tags = window.tag_panel
    tags.set_state("piano", TagState.WANTED)
    assert window.settings_panel.steps.value() == 0
    for box in (tags.avoid_others, tags.ignore_related):
        assert not box.isEnabled() and "0 steps" in box.toolTip()
    assert "avoided" not in tags.summary.text() and "One pass" in tags.summary.text()
    window.settings_panel.steps.setValue(10)
    assert tags.avoid_others.isEnabled() and tags.ignore_related.isEnabled()
    assert "1 wanted, 49 avoided" in tags.summary.text()


def test_one_pass_shows_the_rows_left_at_the_default_as_plain(panel: TagPanel) -> None:
    """One pass avoids no tag: a row left at the default shows no state (not '(avoid)'), as
    it shows again once the run steers."""
    panel.set_state("piano", TagState.WANTED)
    panel.set_state("guitar", TagState.AVOIDED)
    panel.set_steering(False)
    assert look(panel, "drums")[:4] == ("", False, False, False)
    assert panel.item("drums").icon(0).isNull()
    assert "avoid" not in panel.item("drums").toolTip(0)
    assert look(panel, "piano")[0] == "want" and look(panel, "guitar")[0] == "avoid"
    panel.set_steering(True)
    assert look(panel, "drums")[0] == "(avoid)" and not panel.item("drums").icon(0).isNull()
    assert "avoid" in panel.item("drums").toolTip(0)


def test_one_pass_offers_no_preset_the_separator_knows_not(qtbot, panel: TagPanel) -> None:
    """One pass asks the learned separator for the preset's tags by name: a preset it has no
    prototype for (vocals) is off, saying why and what to do, and on again with steps."""
    from PySide6.QtWidgets import QPushButton

    panel.set_taggers([MTAT, JAMENDO])
    buttons = {b.text(): b for b in panel.presets.findChildren(QPushButton)}
    more = {a.text(): a for a in buttons["More"].menu().actions()}
    panel.set_steering(False)
    vocals = buttons["Vocals"]
    assert not vocals.isEnabled()
    assert "knows no vocals" in vocals.toolTip() and "steps in Settings" in vocals.toolTip()
    assert "example" in vocals.toolTip()
    assert buttons["Piano"].isEnabled() and buttons["Bass"].isEnabled()
    assert more["Synth"].isEnabled() and more["Violin"].isEnabled()
    panel.set_taggers([MTAT])  # presets built anew in one pass: still off
    buttons = {b.text(): b for b in panel.presets.findChildren(QPushButton)}
    assert not buttons["Vocals"].isEnabled()
    panel.set_steering(True)
    assert buttons["Vocals"].isEnabled() and "knows no" not in buttons["Vocals"].toolTip()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("hip hop", "Hip-Hop"),
        ("HIP  hop", "Hip-Hop"),
        ("hip_h", "Hip-Hop"),
        ("mood theme", "emotional"),
    ],
)
def test_search_ignores_case_hyphens_and_spaces(panel: TagPanel, text: str, found: str) -> None:
    """msd's 'Hip-Hop' is found as 'hip hop'; part of a word still finds it."""
    panel.set_taggers([TaggerSpec("fcn", "msd"), JAMENDO])
    panel.search.setText(text)
    visible = {panel.board.row(w).label for w, item in panel._items.items() if not item.isHidden()}
    assert found in visible


def test_with_no_tagger_chosen_the_panel_says_why_it_is_empty_and_where_taggers_come_from(
    qtbot,
) -> None:
    empty = TagPanel()
    qtbot.addWidget(empty)
    empty.set_taggers([])
    assert empty.tree.topLevelItemCount() == 0
    said = empty.summary.text()
    assert "Click a tag" not in said  # there is none to click
    assert "No tagger is chosen" in said and "Settings" in said and "Models" in said
    empty.set_taggers([MTAT])
    assert "Click a tag or a preset" in empty.summary.text()
