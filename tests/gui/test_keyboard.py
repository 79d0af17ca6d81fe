"""The window without a mouse: Space, Escape and Tab where a musician expects them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer, QTranslator
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDockWidget,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMenuBar,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTabBar,
    QTabWidget,
    QToolTip,
    QWidget,
)

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import REGISTRY
from tagbox_gui.core.types import Region
from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.widgets.export_dialog import ExportDialog
from tagbox_gui.gui.widgets.licence_dialog import LicenceDialog
from tagbox_gui.gui.widgets.models_dialog import ModelsDialog
from tests.gui.window_helpers import (
    answer_questions,
    make_window,
    open_song,
    piano_run_window,
    run_to_end,
)


def tab_to(qtbot, window: MainWindow, target, presses: int = 80) -> None:
    """Press Tab until ``target`` has the focus (it must be on the way)."""
    for _ in range(presses):
        if QApplication.focusWidget() is target:
            return
        qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_Tab)
    raise AssertionError(f"Tab never reached {target}")


def test_space_presses_a_button_reached_with_tab_and_plays_otherwise(
    qtbot, window: MainWindow, song_path
) -> None:
    open_song(qtbot, window, song_path)
    player = window.audition.transport.player
    drums = window.picker._buttons["drums"]
    tab_to(qtbot, window, drums)
    qtbot.keyClick(drums, Qt.Key.Key_Space)
    assert drums.isChecked() and [p.name for p in window.picker.picks()] == ["drums"]
    assert not player.playing
    qtbot.mouseClick(drums, Qt.MouseButton.LeftButton)  # off again, focused by the mouse:
    assert not drums.isChecked()
    whole = window.song_panel.whole_song
    ticked = whole.isChecked()
    whole.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.keyClick(whole, Qt.Key.Key_Space)  # Space plays, as before
    assert player.playing and whole.isChecked() == ticked


def test_space_opens_a_drop_down_list_reached_with_tab_and_plays_otherwise(
    qtbot, window: MainWindow, song_path
) -> None:
    """A drop-down list (Settings' backend) reached with Tab opens on Space, as on any
    desktop; focused by a click, Space leaves it closed and plays."""
    open_song(qtbot, window, song_path)
    player, combo = window.audition.transport.player, window.settings_panel.backend
    tabs = window.findChild(QTabWidget)
    tabs.setCurrentWidget(tabs.widget(2))
    tab_to(qtbot, window, combo)
    qtbot.keyClick(combo, Qt.Key.Key_Space)
    assert combo.view().isVisible() and not player.playing
    qtbot.keyClick(combo.view(), Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not combo.view().isVisible(), timeout=2000)
    reactivate(qtbot, window)
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)  # opens it: closed again
    combo.hidePopup()
    qtbot.waitUntil(lambda: not combo.view().isVisible(), timeout=2000)
    reactivate(qtbot, window)
    qtbot.keyClick(combo, Qt.Key.Key_Space)
    assert player.playing and not combo.view().isVisible()


def test_home_comma_and_period_move_the_play_position_from_the_side_columns(
    qtbot, window: MainWindow, song_path
) -> None:
    """From a button of a side column, docked or undocked, the keys move the play position;
    the tag tree keeps Home for its own first row, the tag search the comma it types."""
    open_song(qtbot, window, song_path)
    transport = window.audition.transport
    drums = window.picker._buttons["drums"]
    transport.seek(10.0)
    qtbot.keyClick(drums, Qt.Key.Key_Period)
    assert transport.position == pytest.approx(15.0)
    dock = next(d for d in window.findChildren(QDockWidget) if d.isAncestorOf(drums))
    dock.setFloating(True)
    qtbot.keyClick(drums, Qt.Key.Key_Comma)
    assert transport.position == pytest.approx(10.0)
    qtbot.keyClick(drums, Qt.Key.Key_Home)
    assert transport.position == pytest.approx(0.0)
    dock.setFloating(False)
    transport.seek(10.0)
    tabs = window.findChild(QTabWidget)
    tabs.setCurrentWidget(window.tag_panel)
    qtbot.keyClick(window.tag_panel.tree, Qt.Key.Key_Home)
    qtbot.keyClicks(window.tag_panel.search, "a,b")
    assert transport.position == pytest.approx(10.0)
    assert window.tag_panel.search.text() == "a,b"


def reactivate(qtbot, window: MainWindow) -> None:
    """Make ``window`` active again once a popup or a question on it has closed, as a
    desktop does (offscreen Qt leaves the activation with the closed one)."""
    qtbot.wait(100)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)


def test_escape_asks_before_it_stops_a_run_but_not_while_typing_or_in_a_popup(
    qtbot, monkeypatch, model_dir, settings, song_path
) -> None:
    """Escape with the focus in the window asks before it stops a run (answered No here); in a
    text field, an open menu or over a tooltip it only does what it does there. Run ▸ Stop
    chosen in the menu (or the Stop button) stops at once."""
    window = piano_run_window(qtbot, model_dir, settings, song_path, 500, delay=0.05)
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    window.run_view.start()
    tabs = window.findChild(QTabWidget)
    tabs.setCurrentWidget(window.tag_panel)
    search, tree = window.tag_panel.search, window.tag_panel.tree
    search.setFocus()
    qtbot.keyClicks(search, "pia")
    qtbot.keyClick(search, Qt.Key.Key_Escape)
    tree.setFocus()
    menu = window.menuBar().actions()[0].menu()
    menu.popup(window.mapToGlobal(QPoint(40, 40)))
    qtbot.waitUntil(menu.isVisible, timeout=2000)
    qtbot.keyClick(menu, Qt.Key.Key_Escape)
    assert not menu.isVisible()
    reactivate(qtbot, window)
    QToolTip.showText(tree.mapToGlobal(QPoint(10, 10)), "A tip", tree)
    qtbot.waitUntil(QToolTip.isVisible, timeout=2000)
    qtbot.keyClick(tree, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not QToolTip.isVisible(), timeout=2000)
    assert asked == [] and window.controller.state is RunState.RUNNING
    qtbot.keyClick(tree, Qt.Key.Key_Escape)
    assert len(asked) == 1 and "best step so far" in asked[0]
    assert window.controller.state is RunState.RUNNING  # answered No
    window.stop_action.trigger()
    assert len(asked) == 1 and window.controller.state is RunState.STOPPING
    window.controller.shutdown(5000)


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (("piano",), "Stop the run? It keeps nothing unless its first pass is done."),
        (("drums", "piano"), "Stop the job? The instruments separated so far are kept."),
    ],
)
def test_the_stop_question_of_one_pass_says_what_it_keeps(
    qtbot, monkeypatch, model_dir, settings, song_path, words, said
) -> None:
    """A run of one pass (the default) has no best step to keep: Escape's question says what
    stopping it keeps, not "its best step so far"."""
    from tests.gui.fake_engine import held_runs
    from tests.gui.window_helpers import make_window

    window = make_window(qtbot, model_dir, settings, backend="learned")
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(0)
    for word in words:
        window.picker.set_picked(word, True)
    gate = held_runs(window)  # the run waits until the test has asked
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    assert window.run_view.start() is not None
    qtbot.keyClick(window.run_panel, Qt.Key.Key_Escape)
    assert asked == [said]
    gate.set()
    window.controller.shutdown(5000)


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Escape])
def test_enter_or_escape_in_the_stop_question_keeps_the_run_going(
    qtbot, model_dir, settings, song_path, key: Qt.Key
) -> None:
    """Escape pressed twice (to close something that had closed already) or Enter answers
    No; Yes stops the run, which keeps its best step so far."""
    window = piano_run_window(qtbot, model_dir, settings, song_path, 500, delay=0.05)
    window.run_view.start()
    _answer_with(qtbot, key)
    qtbot.keyClick(window.run_panel, Qt.Key.Key_Escape)
    assert window.controller.state is RunState.RUNNING
    reactivate(qtbot, window)
    QTimer.singleShot(
        100, lambda: QApplication.activeModalWidget().button(QMessageBox.StandardButton.Yes).click()
    )
    with qtbot.waitSignal(window.controller.run_finished, timeout=5000) as blocker:
        qtbot.keyClick(window.run_panel, Qt.Key.Key_Escape)
    assert blocker.args[0].stopped


def test_the_pause_and_stop_buttons_and_the_stop_entry_show_their_keys(
    window: MainWindow,
) -> None:
    assert window.stop_action.shortcut().toString() == "Esc"
    for tip in (window.run_panel.stop.toolTip(), window.stop_action.statusTip()):
        assert "(Esc, which asks first)" in tip
    assert "(Ctrl+P)" in window.run_panel.pause.toolTip()


def tab_sequence(qtbot, start, presses: int) -> list:
    """The widgets Tab reaches from ``start``, in order."""
    start.setFocus(Qt.FocusReason.TabFocusReason)
    seen = []
    for _ in range(presses):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    return seen


def test_tab_reaches_the_instruments_and_presets_in_their_panel(
    qtbot, window: MainWindow, song_path
) -> None:
    open_song(qtbot, window, song_path)
    tabs = window.findChild(QTabWidget)
    picker = window.picker
    buttons = [b for b in picker._buttons.values() if b.isEnabled()]
    assert buttons
    seen = tab_sequence(qtbot, tabs.tabBar(), 6 + len(buttons))
    assert seen[: len(buttons) + 2] == [*buttons, picker.more, picker.example_name]
    tabs.setCurrentWidget(window.tag_panel)
    panel = window.tag_panel
    presets = panel.presets.findChildren(QPushButton)
    assert presets
    seen = tab_sequence(qtbot, panel.search, len(presets) + 1)
    assert seen == [*presets, panel.tree]


def test_tab_passes_the_side_columns_which_scroll_to_the_focused_control(
    qtbot, window: MainWindow
) -> None:
    """A side column's scroll area is no Tab stop of its own (it would show no focus); a control
    in it reached with Tab or Shift+Tab from outside the column is scrolled into view."""
    seen = tab_sequence(qtbot, window.centralWidget(), 40)
    assert window.stems in seen and window.picker.chosen in seen
    assert not [w for w in seen if isinstance(w, QScrollArea)]
    window.live.meters.set_tags([f"tag {i}" for i in range(40)])  # a column taller than the dock
    column = window.findChild(QScrollArea, "Run_scroll")
    scroll = column.verticalScrollBar()

    def stems_shown() -> bool:
        place = window.stems.mapTo(column.viewport(), QPoint())
        return column.viewport().rect().contains(QRect(place, window.stems.size()))

    qtbot.waitUntil(lambda: scroll.maximum() > 0 and not stems_shown(), timeout=2000)
    window.picker.chosen.setFocus(Qt.FocusReason.TabFocusReason)  # the left column's last
    qtbot.keyClick(window.picker.chosen, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.stems and stems_shown()
    qtbot.keyClick(window.stems, Qt.Key.Key_Tab)  # on, out of the column
    first = QApplication.focusWidget()
    assert first is not None and not column.isAncestorOf(first)
    scroll.setValue(0)
    qtbot.keyClick(first, Qt.Key.Key_Backtab)
    assert QApplication.focusWidget() is window.stems and stems_shown()


def test_enter_cycles_the_current_tag_like_a_click(qtbot, window: MainWindow) -> None:
    panel = window.tag_panel
    window.findChild(QTabWidget).setCurrentWidget(panel)
    item = panel.item("piano")
    panel.tree.setCurrentItem(item)
    panel.tree.setFocus()
    qtbot.keyClick(panel.tree, Qt.Key.Key_Return)
    assert panel.wanted() == ("piano",)
    qtbot.keyClick(panel.tree, Qt.Key.Key_Enter)
    assert panel.avoided() == ("piano",)
    group = item.parent()
    panel.tree.setCurrentItem(group)  # a group is no tag
    qtbot.keyClick(panel.tree, Qt.Key.Key_Return)
    assert panel.avoided() == ("piano",) and not panel.wanted()


CTRL = Qt.KeyboardModifier.ControlModifier


def test_ctrl_f_goes_to_the_tag_search_from_anywhere_with_its_text_selected(
    qtbot, window: MainWindow, song_path
) -> None:
    """Ctrl+F (the Find key) shows the Tags tab and puts the focus in its search, the text
    there selected: typing replaces it; Enter there changes no tag."""
    open_song(qtbot, window, song_path)
    tabs, panel, search = window.findChild(QTabWidget), window.tag_panel, window.tag_panel.search
    search.setText("pia")
    assert "Ctrl+F" in search.placeholderText()
    settings_page = tabs.widget([tabs.tabText(i) for i in range(tabs.count())].index("Settings"))
    for start, page in ((window.centralWidget(), window.picker),
                        (window.settings_panel.lr, settings_page), (search, panel)):  # fmt: skip
        tabs.setCurrentWidget(page)
        start.setFocus(Qt.FocusReason.MouseFocusReason)
        search.deselect()
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_F, CTRL)
        assert tabs.currentWidget() is panel and QApplication.focusWidget() is search
        assert search.selectedText() == "pia"
    qtbot.keyClicks(search, "drum")
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert search.text() == "drum" and QApplication.focusWidget() is search
    assert panel.wanted() == ()


def test_ctrl_1_2_3_show_the_side_tabs_which_say_so(qtbot, window: MainWindow) -> None:
    """Ctrl+1, Ctrl+2 and Ctrl+3 show the Instruments, Tags and Settings tabs (their tooltips
    say which) and put the focus on the tab bar, from a text field too, which types nothing
    for them; Escape there asks nothing while no run goes on."""
    tabs, name = window.findChild(QTabWidget), window.picker.example_name
    assert [tabs.tabText(i) for i in range(3)] == ["Instruments", "Tags", "Settings"]
    name.setText("lead")
    name.setFocus(Qt.FocusReason.MouseFocusReason)
    for index in (2, 1, 0):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key(Qt.Key.Key_1 + index), CTRL)
        assert tabs.currentIndex() == index and QApplication.focusWidget() is tabs.tabBar()
        assert f"(Ctrl+{index + 1})" in tabs.tabToolTip(index)
    assert name.text() == "lead"
    qtbot.keyClick(tabs.tabBar(), Qt.Key.Key_Escape)
    assert tabs.currentIndex() == 0 and QApplication.focusWidget() is tabs.tabBar()


def test_space_plays_and_pauses_once_ctrl_2_has_shown_a_side_tab(
    qtbot, window: MainWindow, song_path
) -> None:
    """A side tab's key puts the focus on the tab bar: Space still plays and pauses there
    (it is the window's, not the song view's)."""
    open_song(qtbot, window, song_path)
    tabs, player = window.findChild(QTabWidget), window.audition.transport.player
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_2, CTRL)
    assert tabs.currentWidget() is window.tag_panel
    assert QApplication.focusWidget() is tabs.tabBar()
    qtbot.keyClick(tabs.tabBar(), Qt.Key.Key_Space)
    assert player.playing
    qtbot.keyClick(tabs.tabBar(), Qt.Key.Key_Space)
    assert not player.playing and tabs.currentWidget() is window.tag_panel


NATIVE = QKeySequence.SequenceFormat.NativeText


class GermanKeyNames(QTranslator):
    """Qt's names of the keys as a German desktop writes them (Strg+R, Leertaste), where the
    portable names stay Ctrl+R and Space: as macOS writes ⌘R, the texts must follow."""

    def translate(self, context, source, disambiguation=None, n=-1):  # Qt override
        names = {"Ctrl": "Strg", "Space": "Leertaste"}
        return names.get(source, source) if context == "QShortcut" else source


def shown_texts(window: QWidget) -> list[str]:
    """What the musician reads in ``window`` that may name a key: tooltips, status tips,
    labels, placeholders and the tabs' tooltips, of its widgets and its actions."""
    texts = []
    for widget in window.findChildren(QWidget):
        texts += [widget.toolTip(), widget.statusTip(), widget.whatsThis()]
        texts += [widget.accessibleDescription()]
        if isinstance(widget, QLabel):
            texts.append(widget.text())
        if isinstance(widget, QLineEdit):
            texts.append(widget.placeholderText())
        if isinstance(widget, QTabBar):
            texts += [widget.tabToolTip(i) for i in range(widget.count())]
    for action in window.findChildren(QAction):
        texts += [action.toolTip(), action.statusTip(), action.whatsThis()]
    return [text for text in texts if text]


def test_every_key_a_text_names_is_written_as_its_shortcut_shows_it(
    qtbot, qapp, model_dir, settings, song_path
) -> None:
    """Each tooltip, hint and placeholder names the key of its own action or shortcut as the
    desktop writes it (⌘R on macOS, Strg+R on a German desktop), never a "Ctrl+" of its own."""
    names = GermanKeyNames()
    qapp.installTranslator(names)
    try:
        window = make_window(qtbot, model_dir, settings)

        def key(action: QAction) -> str:
            return f"({action.shortcut().toString(NATIVE)}"

        open_action = next(a for a in window.findChildren(QAction) if a.text() == "&Open…")
        transport = window.audition.transport
        empty = next(w for w in window.findChildren(QLabel) if "Open a song" in w.text())
        assert (
            key(open_action) in transport.play_button.toolTip() and key(open_action) in empty.text()
        )
        assert [t for t in shown_texts(window) if "Ctrl+" in t] == []
        open_song(qtbot, window, song_path)
        window.tag_panel.apply_preset("Piano")  # Run on: its tooltip names its key
        window.set_can_export(True)
        assert f"({transport.space.key().toString(NATIVE)})" in transport.play_button.toolTip()
        for action, control in ((window.run_action, window.run_panel.run),
                                (window.pause_action, window.run_panel.pause),
                                (window.stop_action, window.run_panel.stop),
                                (window.export_action, window.export_button)):  # fmt: skip
            assert key(action) in control.toolTip(), action.text()
        for action in (window.run_action, window.stop_action, window.export_action):
            assert key(action) in action.statusTip(), action.text()
        tabs, search = window.findChild(QTabWidget), window.tag_panel.search
        keyed = [s for s in window.findChildren(QShortcut) if s.parent() is window]
        assert len(keyed) >= 4  # the three side tabs' keys and Find
        for shortcut in keyed:
            shortcut.activated.emit()  # a side tab's key, or Find
            shows = (tabs.tabToolTip(tabs.currentIndex())
                     if QApplication.focusWidget() is tabs.tabBar()
                     else search.placeholderText())  # fmt: skip
            assert f"({shortcut.key().toString(NATIVE)})" in shows
        assert [t for t in shown_texts(window) if "Ctrl+" in t] == []
    finally:
        qapp.removeTranslator(names)


def test_a_recent_file_with_an_ampersand_shows_it(window: MainWindow, settings) -> None:
    settings.add_recent("/music/Rock & Roll.wav")
    window.recent_menu.aboutToShow.emit()
    text = window.recent_menu.actions()[0].text()
    assert re.sub("&(.)", r"\1", text) == "1 Rock & Roll.wav"  # as the menu shows it


def test_every_menu_entry_has_a_mnemonic(window: MainWindow, settings) -> None:
    for number in range(10):
        settings.add_recent(f"/music/song {number}.wav")
    window.recent_menu.aboutToShow.emit()
    menus = [action.menu() for action in window.menuBar().actions()]
    entries = [a for menu in menus for a in menu.actions() if not a.isSeparator()]
    entries += [a for a in window.recent_menu.actions() if not a.isSeparator()]
    assert len(entries) > 20
    for menu in [window.menuBar(), *menus, window.recent_menu]:
        keys = [QKeySequence.mnemonic(a.text()) for a in menu.actions() if not a.isSeparator()]
        assert all(not k.isEmpty() for k in keys), [a.text() for a in menu.actions()]
        assert len(set(keys)) == len(keys), [a.text() for a in menu.actions()]  # no clash


WINDOW_WIDE = (Qt.ShortcutContext.WindowShortcut, Qt.ShortcutContext.ApplicationShortcut)


@dataclass
class Shortcut:
    """A key of a QAction or QShortcut, where it is active (``context``, on ``owners``)."""

    keys: str
    context: Qt.ShortcutContext
    owners: list[QWidget]
    what: str

    def active_with_focus_on(self, widget: QWidget) -> bool:
        if self.context in WINDOW_WIDE:
            return True
        children = self.context is Qt.ShortcutContext.WidgetWithChildrenShortcut
        return any(o is widget or (children and o.isAncestorOf(widget)) for o in self.owners)

    def active_with(self, other: Shortcut) -> bool:
        """Whether the focus can be where both are active."""
        if self.context in WINDOW_WIDE or other.context in WINDOW_WIDE:
            return True
        return any(map(self.active_with_focus_on, other.owners)) or any(
            map(other.active_with_focus_on, self.owners)
        )


def shortcuts(window: QWidget) -> list[Shortcut]:
    """Every key of the QActions (the menus' included) and QShortcuts under ``window``."""
    found = []
    for action in window.findChildren(QAction):
        owners = [o for o in action.associatedObjects() if isinstance(o, QWidget)]
        found += [Shortcut(k.toString(), action.shortcutContext(), owners, action.text())
                  for k in action.shortcuts()]  # fmt: skip
    for shortcut in window.findChildren(QShortcut):
        owner, keys = shortcut.parent(), shortcut.keys()  # the widget it is made on
        found += [Shortcut(k.toString(), shortcut.context(), [owner], type(owner).__name__)
                  for k in keys]  # fmt: skip
    return found


def test_no_two_shortcuts_that_can_be_active_together_share_a_key(
    qtbot, window: MainWindow, song_path
) -> None:
    """Qt fires neither of two shortcuts active at once on the same key (it only warns,
    "Ambiguous shortcut overload"): each key does one thing wherever the focus is."""
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)  # the stems, the step history: every part of the window built
    # Escape as the status bar's Cancel is on only while Run ▸ Stop's is off (a song opening,
    # no run): test_song_loading checks that Escape does the one or the other then
    found = [s for s in shortcuts(window) if s.owners != [window.cancel_loading]]
    assert {"Ctrl+R", "Ctrl+F", "Ctrl+1", "Ctrl+2", "Ctrl+3", "Space", "Esc", "Del"} <= {
        s.keys for s in found
    }
    clashes = [
        f"{a.keys}: {a.what!r} and {b.what!r}"
        for i, a in enumerate(found)
        for b in found[i + 1 :]
        if a.keys == b.keys and a.active_with(b)
    ]
    assert clashes == []


def _pages(widget: QWidget) -> dict[QStackedWidget, int]:
    """The page ``widget`` is on in each stacked widget it is in (a tab widget's pages too)."""
    pages = {}
    child, parent = widget, widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QStackedWidget):
            pages[parent] = parent.indexOf(child)
        child, parent = parent, parent.parentWidget()
    return pages


def _shown_together(a: QWidget | None, b: QWidget | None) -> bool:
    """Whether ``a`` and ``b`` (None: the menu bar, always there) can be on screen at once:
    not on two pages of one tab widget or stack, where Qt gives the hidden one's key no use."""
    if a is None or b is None:
        return True
    pages_a, pages_b = _pages(a), _pages(b)
    return all(pages_b[stack] == page for stack, page in pages_a.items() if stack in pages_b)


def mnemonic_clashes(root: QWidget) -> list[str]:
    """The Alt+letter keys used twice among the controls of ``root``'s window that can be
    shown together: its menu bar's menus, the labels that lead to a field, the buttons, the
    tabs and the group boxes."""
    bar = root.findChild(QMenuBar)
    keyed: list[tuple[str, QWidget | None]] = []
    if bar is not None:
        keyed += [(action.text(), None) for action in bar.actions()]
    keyed += [(label.text(), label) for label in root.findChildren(QLabel) if label.buddy()]
    keyed += [(button.text(), button) for button in root.findChildren(QAbstractButton)]
    keyed += [(tabs.tabText(i), tabs) for tabs in root.findChildren(QTabBar)
              for i in range(tabs.count())]  # fmt: skip
    keyed += [(box.title(), box) for box in root.findChildren(QGroupBox)]
    keys = [(text, widget, QKeySequence.mnemonic(text).toString()) for text, widget in keyed]
    return [
        f"{text!r} and {other!r}: {key}"
        for i, (text, widget, key) in enumerate(keys)
        for other, other_widget, other_key in keys[i + 1 :]
        if key and key == other_key and _shown_together(widget, other_widget)
    ]


def controls_without_alt_key(root: QWidget, exempt: dict[QWidget, str]) -> list[str]:
    """The buttons and check boxes under ``root`` with a text but no Alt key (none of their
    own, and no label with one leads to them), and the labels with none that lead to a control
    taking the focus; those in ``exempt`` aside (each with how else the keyboard reaches it)."""
    labels = [label for label in root.findChildren(QLabel) if label.buddy() is not None]
    led = [label.buddy() for label in labels if not QKeySequence.mnemonic(label.text()).isEmpty()]
    missing = [
        button.text()
        for button in root.findChildren(QAbstractButton)
        if button.text() and button not in exempt and button not in led
    ]
    missing += [
        label.text()
        for label in labels
        if label not in exempt and label.buddy().focusPolicy() != Qt.FocusPolicy.NoFocus
    ]
    return [text for text in missing if QKeySequence.mnemonic(text).isEmpty()]


def window_without_alt_keys(window: MainWindow) -> dict[QWidget, str]:
    """The main window's controls that have no Alt key, and how the keyboard reaches each.
    Its always-shown part and its Settings tab have more controls than there are keys."""
    song, audition, settings = window.song_panel, window.audition, window.settings_panel
    exempt: dict[QWidget, str] = {
        window.run_panel.run: "Ctrl+R",
        window.run_panel.pause: "Ctrl+P",
        window.run_panel.stop: "Esc",
        window.cancel_loading: "Esc while no run goes on (Tab during one)",
        window.export_button: "Ctrl+E",
        settings.reset: "Tools ▸ Reset settings to defaults",
    }
    captions = {label.text(): label for label in window.findChildren(QLabel) if label.buddy()}
    exempt[captions["to"]] = "Tab from the region's start, which Re&gion reaches"
    later = [*settings.fft_buttons.values()][1:]
    exempt |= dict.fromkeys(later, "Tab from the first FFT size, which FFT si&zes reaches")
    names = [*window.picker._buttons.values(), window.picker.more]
    names += window.tag_panel.presets.findChildren(QPushButton)
    exempt |= dict.fromkeys(names, "instruments' names, which change with the taggers: Tab")
    views = [song.zoom, song.show_all, captions["Step"], audition.follow, audition.best]
    return exempt | dict.fromkeys(views, "Tab: they change only what the plots show")


ASK_RUN = MainWindow.confirm_new_run  # the real one, before a test replaces it


def test_every_control_has_an_alt_key_of_its_own_in_the_window_and_its_dialogs(
    qtbot, monkeypatch, window: MainWindow, song_path, model_dir
) -> None:
    """Alt+letter reaches each button, check box and field: Qt presses none of two that
    share it (both on screen); the window's listed ones are reached otherwise."""
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    assert mnemonic_clashes(window) == []
    assert controls_without_alt_key(window, window_without_alt_keys(window)) == []
    monkeypatch.setattr(window.models, "missing_message", lambda: "No tagger is installed.")
    boxes = [window.models.first_launch_check(True), window.models.offer(["fcn/jamendo"])]

    def exec_(box: QMessageBox) -> int:  # the question before a run, answered No
        boxes.append(box)
        box.button(QMessageBox.StandardButton.No).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    assert ASK_RUN(window, "These stems were never exported or dragged out.") is False
    export = ExportDialog(lambda template: ["a.wav"], "/tmp", ExportFormat.WAV32, "{song}")
    models = ModelsDialog(ModelStore(model_dir))
    licence = LicenceDialog(next(info for info in REGISTRY.values() if info.needs_acceptance))
    for root in (export, models, licence, *boxes):
        qtbot.addWidget(root)
        assert mnemonic_clashes(root) == [], type(root).__name__
        assert controls_without_alt_key(root, {}) == [], type(root).__name__


def _answer_with(qtbot, key: Qt.Key) -> None:
    """Press ``key`` in the question box that is about to be asked."""

    def press() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        qtbot.keyClick(box.focusWidget() or box, key)

    QTimer.singleShot(100, press)


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Escape])
def test_enter_or_escape_in_the_quit_question_during_a_run_keeps_the_window(
    qtbot, window: MainWindow, key: Qt.Key
) -> None:
    """Quitting during a run loses it: a stray Enter (after Ctrl+Q, say) must not say Yes."""
    _answer_with(qtbot, key)
    assert window.confirm_quit() is False


def test_arrow_and_page_keys_in_the_region_boxes_move_the_region_at_once(
    qtbot, window: MainWindow, song_path
) -> None:
    """Up / Down move a region box by half a second, Page Up / Page Down by 5 s: the region
    on the waveform (and the one a run takes) follows each key, not only once the box loses
    the focus; the end stays half a second after the start."""
    open_song(qtbot, window, song_path)
    panel = window.song_panel
    panel.set_region(Region(8.0, 28.0))
    panel.start.setFocus(Qt.FocusReason.TabFocusReason)
    with qtbot.waitSignal(panel.region_changed, timeout=1000):
        qtbot.keyClick(panel.start, Qt.Key.Key_Up)
    assert panel.waveform.region() == Region(8.5, 28.0)
    qtbot.keyClick(panel.start, Qt.Key.Key_PageUp)
    assert panel.waveform.region() == Region(13.5, 28.0) == panel.region()
    panel.end.setFocus(Qt.FocusReason.TabFocusReason)
    for _ in range(3):
        qtbot.keyClick(panel.end, Qt.Key.Key_PageDown)
    assert panel.waveform.region() == Region(13.5, 14.0) == panel.region()
    assert QApplication.focusWidget() is panel.end


def test_arrow_keys_change_the_learning_rate_by_a_tenth_of_it_or_less(
    qtbot, window: MainWindow
) -> None:
    """The light backend's 0.1 (or the learned one's 0.05) one key down is a little less, not
    the box's minimum: a fixed step of 0.1 took it to 0.0001, a run that learns nothing."""
    lr = window.settings_panel.lr
    tabs = window.findChild(QTabWidget)
    tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index("Settings"))
    lr.setFocus(Qt.FocusReason.TabFocusReason)
    for start in (0.1, 0.05, 5.0):
        for key, sign in ((Qt.Key.Key_Down, -1), (Qt.Key.Key_Up, 1)):
            lr.setValue(start)
            qtbot.keyClick(lr, key)
            assert 0 < sign * (lr.value() - start) <= start / 10 + 1e-9, (start, lr.value())


def test_ctrl_r_right_after_typing_a_region_time_runs_on_the_time_typed(
    qtbot, window: MainWindow, song_path
) -> None:
    """A time typed in a region box and not yet entered (the box still has the focus) is the
    one shown: Ctrl+R runs on it, not on the region before it."""
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    panel = window.song_panel
    panel.set_region(Region(8.0, 28.0))
    configs = []
    engine_run = window.run_view.engine_run
    window.run_view.engine_run = lambda config, *rest: (
        configs.append(config) or engine_run(config, *rest)
    )
    panel.start.setFocus(Qt.FocusReason.TabFocusReason)
    panel.start.selectAll()
    qtbot.keyClicks(panel.start, "12")
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        qtbot.keyClick(panel.start, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert configs[0].region == Region(12.0, 28.0) == panel.waveform.region()
