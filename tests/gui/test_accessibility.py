"""Every control a musician can reach has a name a screen reader can say.

Qt names a button by its text and a field by the label it is the buddy of; a slider, a spin
box without a label, an icon button, a list or a plot has no name unless it is given one.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QGraphicsView,
    QHeaderView,
    QLineEdit,
    QScrollBar,
    QWidget,
)

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.widgets.export_dialog import ExportDialog
from tagbox_gui.gui.widgets.models_dialog import ModelsDialog
from tests.gui.window_helpers import open_song

CONTROLS = (
    QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox, QLineEdit, QAbstractItemView,
    QGraphicsView,
)  # fmt: skip


def _qt_own(widget: QWidget) -> bool:
    """A part Qt builds inside another control (a spin box's text field, a combo box's popup,
    a field's clear button, scroll bars, headers): named by Qt or through its owner."""
    if isinstance(widget, (QScrollBar, QHeaderView)) or widget.objectName().startswith("qt_"):
        return True
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, (QComboBox, QLineEdit, QAbstractSpinBox)):
            return True
        if type(parent).__name__ == "QComboBoxPrivateContainer":
            return True
        parent = parent.parentWidget()
    return False


def unnamed_controls(root: QWidget) -> list[str]:
    """The controls under ``root`` that a screen reader would announce with no name."""
    unnamed = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or _qt_own(widget):
            continue
        interface = QAccessible.queryAccessibleInterface(widget)
        if interface is None or not interface.text(QAccessible.Text.Name).strip():
            owner = widget.parentWidget()
            unnamed.append(f"{type(widget).__name__} in {type(owner).__name__}: "
                           f"{widget.toolTip()!r}")  # fmt: skip
    return unnamed


def test_every_control_of_the_window_has_a_name(qtbot, window, song_path: Path) -> None:
    open_song(qtbot, window, song_path)
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


def test_every_control_of_the_dialogs_has_a_name(qtbot, model_dir: Path) -> None:
    export = ExportDialog(lambda template: ["a.wav"], "/tmp", ExportFormat.WAV32, "{song}")
    models = ModelsDialog(ModelStore(model_dir))
    for dialog in (export, models):
        qtbot.addWidget(dialog)
        assert unnamed_controls(dialog) == [], type(dialog).__name__
