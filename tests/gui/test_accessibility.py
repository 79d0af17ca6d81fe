"""Every control a musician can reach has a name a screen reader can say.

Qt names a button by its text and a field by the label it is the buddy of; a slider, a spin
box without a label, an icon button, a list, a plot or a pane that takes the focus has no name
unless it is given one.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFormLayout,
    QGraphicsView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QScrollBar,
    QTabBar,
    QTabWidget,
    QWidget,
)

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import REGISTRY
from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.widgets.export_dialog import ExportDialog
from tagbox_gui.gui.widgets.licence_dialog import LicenceDialog
from tagbox_gui.gui.widgets.models_dialog import ModelsDialog
from tests.gui.window_helpers import make_window, open_song, run_to_end

CONTROLS = (
    QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox, QLineEdit, QAbstractItemView,
    QGraphicsView,
)  # fmt: skip
DISPLAYS = (QGraphicsView, QProgressBar)  # plots, meters, progress: a name and what they show


def _qt_own(widget: QWidget) -> bool:
    """A part Qt builds inside another control (a spin box's text field, a combo box's popup,
    a field's clear button, a tab bar's scroll buttons, scroll bars, headers): named by Qt or
    through its owner."""
    if isinstance(widget, (QScrollBar, QHeaderView)) or widget.objectName().startswith("qt_"):
        return True
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, (QComboBox, QLineEdit, QAbstractSpinBox, QTabBar)):
            return True
        if type(parent).__name__ == "QComboBoxPrivateContainer":
            return True
        parent = parent.parentWidget()
    return False


def _takes_focus(widget: QWidget) -> bool:
    """Whether Tab or a click can put the focus on ``widget`` itself (a screen reader then
    announces it); one that hands its focus on (a scroll area's viewport, a tab widget) is
    announced as the widget it hands it to."""
    if isinstance(widget, QLabel) and not widget.text():
        return False  # a selectable label with nothing to select yet (the song's title)
    return widget.focusPolicy() != Qt.FocusPolicy.NoFocus and widget.focusProxy() is None


def unnamed_controls(root: QWidget) -> list[str]:
    """The controls under ``root`` that a screen reader would announce with no name, the plots
    and meters with no description, and the icon-only buttons that show no tooltip."""
    unnamed = []
    for widget in root.findChildren(QWidget):
        checked = isinstance(widget, (*CONTROLS, *DISPLAYS)) or _takes_focus(widget)
        if not checked or _qt_own(widget):
            continue
        interface = QAccessible.queryAccessibleInterface(widget)
        where = f"{type(widget).__name__} in {type(widget.parentWidget()).__name__}"
        if interface is None or not interface.text(QAccessible.Text.Name).strip():
            unnamed.append(f"{where}: {widget.toolTip()!r}")
        elif isinstance(widget, DISPLAYS) and not interface.text(QAccessible.Text.Description):
            unnamed.append(f"{where} {interface.text(QAccessible.Text.Name)!r}: no description")
        icon_only = isinstance(widget, QAbstractButton) and not widget.text()
        if icon_only and not widget.toolTip():
            unnamed.append(f"{where}: an icon without a tooltip")
    return unnamed


def _said(widget: QWidget) -> tuple[str, str]:
    """What a screen reader says of ``widget``: its name and its description."""
    interface = QAccessible.queryAccessibleInterface(widget)
    return interface.text(QAccessible.Text.Name), interface.text(QAccessible.Text.Description)


def test_every_control_of_the_window_has_a_name(qtbot, window, song_path: Path) -> None:
    assert unnamed_controls(window) == []
    open_song(qtbot, window, song_path)
    assert unnamed_controls(window) == []
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)  # the meters, the stems, the step history
    assert unnamed_controls(window) == []
    transport = window.audition.transport
    name = lambda: QAccessible.queryAccessibleInterface(transport.play_button).text(  # noqa: E731
        QAccessible.Text.Name
    )
    assert name() == "Play"
    transport.play_button.click()  # the icon and the name follow what a click would do next
    qtbot.waitUntil(lambda: name() == "Pause", timeout=2000)
    transport.play_button.click()
    qtbot.waitUntil(lambda: name() == "Play", timeout=2000)


def test_the_meters_progress_and_loss_plot_say_their_numbers(qtbot, window, song_path) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=12)
    meters = window.live.meters.findChildren(QProgressBar)
    assert meters
    for meter in meters:  # "piano, separated": "How sure the taggers are of piano …: 0.62"
        name, description = _said(meter)
        assert name.startswith("piano, ") and description.endswith(f": {meter.text()}")
    assert "Step 12 / 12" in _said(window.run_panel.progress)[1]
    assert "Step 12: total " in _said(window.live.loss.plot_widget)[1]


def unlabelled_fields(root: QWidget) -> list[str]:
    """The rows of the forms under ``root`` whose label is not the buddy of the row's first
    control, or has no mnemonic (``test_keyboard.mnemonic_clashes`` finds one used twice)."""
    problems = []
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if label is None or field is None:
                continue  # a row across the form (the dialog's buttons)
            items = [field] if field.layout() is None else _items(field.layout())
            controls = [i.widget() for i in items if i.widget() and _takes_focus(i.widget())]
            text = label.widget().text()
            if controls and label.widget().buddy() is not controls[0]:
                problems.append(f"{text!r} is not the buddy of {type(controls[0]).__name__}")
            if controls and QKeySequence.mnemonic(text).isEmpty():
                problems.append(f"{text!r} has no mnemonic")
    return problems


def _items(layout) -> list:
    return [layout.itemAt(i) for i in range(layout.count())]


def _alt(qtbot, window: QWidget, key: Qt.Key) -> QWidget | None:
    """The widget Alt+``key`` gives the focus to."""
    qtbot.keyClick(QApplication.focusWidget() or window, key, Qt.KeyboardModifier.AltModifier)
    return QApplication.focusWidget()


def test_form_labels_are_buddies_whose_mnemonics_reach_their_field(
    qtbot, window, song_path: Path
) -> None:
    assert unlabelled_fields(window) == []
    open_song(qtbot, window, song_path)
    assert _alt(qtbot, window, Qt.Key.Key_G) is window.song_panel.start  # "Re&gion"
    tabs = window.findChild(QTabWidget)
    tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index("Settings"))
    panel = window.settings_panel
    assert _alt(qtbot, window, Qt.Key.Key_S) is panel.steps
    assert _alt(qtbot, window, Qt.Key.Key_Z) is panel.fft_buttons[4096]  # "FFT si&zes": a row
    assert "FFT size 4096" in _said(panel.fft_buttons[4096])[1]
    export = ExportDialog(lambda template: ["a.wav"], "/tmp", ExportFormat.WAV32, "{song}")
    qtbot.addWidget(export)
    assert unlabelled_fields(export) == []
    assert _said(export.folder)[0] == "Folder"  # its label's, not a name of its own
    export.show()
    export.activateWindow()
    qtbot.waitUntil(export.isActiveWindow, timeout=2000)
    assert _alt(qtbot, export, Qt.Key.Key_F) is export.folder
    assert _alt(qtbot, export, Qt.Key.Key_N) is export.template


def test_every_control_of_the_dialogs_has_a_name(qtbot, model_dir: Path) -> None:
    export = ExportDialog(lambda template: ["a.wav"], "/tmp", ExportFormat.WAV32, "{song}")
    models = ModelsDialog(ModelStore(model_dir))
    licence = LicenceDialog(next(info for info in REGISTRY.values() if info.needs_acceptance))
    for dialog in (export, models, licence):
        qtbot.addWidget(dialog)
        assert unnamed_controls(dialog) == [], type(dialog).__name__


def test_the_export_button_and_menu_entry_have_one_name(window) -> None:
    """The Stems box's button and File ▸ Export all stems… start one action: one name."""
    assert window.export_action.text().replace("&", "") == "Export all stems…"
    assert window.export_button.text().replace("&", "") == "Export all stems…"


def test_export_all_says_why_it_is_off_and_its_shortcut_when_on(qtbot, window, song_path) -> None:
    """Off without stems, Export all stems… (the button's tooltip, the menu entry's status tip
    in the status bar) says how to get some; on, it names its key."""
    open_song(qtbot, window, song_path)
    tips = lambda: (window.export_button.toolTip(), window.export_action.statusTip())  # noqa: E731
    assert not window.export_button.isEnabled() and not window.export_action.isEnabled()
    assert all("run a separation" in tip for tip in tips())
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    assert window.export_button.isEnabled() and window.export_action.isEnabled()
    assert all("Ctrl+E" in tip for tip in tips())


def test_run_entry_is_on_with_the_run_button_and_says_why_it_is_off(
    qtbot, model_dir, settings, song_path: Path
) -> None:
    """Run ▸ Run (Ctrl+R) is on exactly when the Run button is: off, the entry's status tip
    (in the status bar) says why, as the button's tooltip does; on, both name Ctrl+R."""
    window = make_window(qtbot, model_dir, settings, delay=0.01)
    window.confirm_quit = lambda: True
    button, action = window.run_panel.run, window.run_action
    tips = lambda: (button.toolTip(), action.statusTip())  # noqa: E731

    def off_saying(words: str) -> bool:
        return (
            not button.isEnabled()
            and not action.isEnabled()
            and all(words in tip for tip in tips())
        )

    assert off_saying("Open a song first")
    open_song(qtbot, window, song_path)
    assert off_saying("Pick an instrument")
    window.tag_panel.apply_preset("Piano")
    assert button.isEnabled() and action.isEnabled() and all("Ctrl+R" in tip for tip in tips())
    window.settings_panel.steps.setValue(5000)
    assert window.run_view.start() is not None
    assert off_saying("A run is going on")
    window.run_view.stop()
    qtbot.waitUntil(lambda: window.controller.state is RunState.IDLE, timeout=10_000)
    assert button.isEnabled() and action.isEnabled() and all("Ctrl+R" in tip for tip in tips())
