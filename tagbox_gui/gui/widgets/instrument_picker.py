"""The instruments one job separates: pick several ("drums, bass, piano"), or add examples.

Each pick becomes a stem of its own; the stems share the mix and a rest stem holds what none
took. An instrument is a word the backend knows (the learned separator's prototypes, or the
taggers' presets); an example is a stretch of the song, named by the user ("organ"), for an
instrument no word covers.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui import APP_NAME
from tagbox_gui.core.errors import listed
from tagbox_gui.core.separation.job_checks import stem_key
from tagbox_gui.core.types import Example
from tagbox_gui.gui.widgets import plain_text
from tagbox_gui.gui.widgets.focus import tab_after
from tagbox_gui.gui.widgets.plain_text import keep_ampersands
from tagbox_gui.gui.widgets.toggle_look import show_checked_clearly

MAIN_INSTRUMENTS = ("drums", "bass", "piano", "guitar", "strings", "organ", "brass", "synth")
COLUMNS = 3
NAME_ROLE = Qt.ItemDataRole.UserRole
NAME_PLACEHOLDER = "Name, e.g. organ"
PICK_SOME = "Pick the instruments to separate; each gets a stem, and the rest gets one."
NAME_FIRST = "Give the example a name first, e.g. organ"  # after a click with no name


@dataclass(frozen=True)
class Pick:
    """One stem to make: an instrument word, or a named example clip of the song."""

    name: str
    example: Example | None = None

    def describe(self) -> str:
        if self.example is None:
            return label_of(self.name)
        return f"{self.name} (like {self.example.start:.1f}–{self.example.end:.1f} s)"


def label_of(word: str) -> str:
    """``acoustic_guitar`` -> ``Acoustic guitar``."""
    text = word.replace("_", " ")
    return text[:1].upper() + text[1:]


def _listed(instruments: Sequence[Pick]) -> str:
    """Picks of instruments as a sentence names them, as their buttons do: "organ and bass"."""
    return listed([label_of(p.name).lower() for p in instruments])


class InstrumentPicker(QWidget):
    """Toggle buttons for the common instruments, a menu for the rest, and named examples.

    ``picks_changed`` fires after every change; ``example_requested(str)`` asks the window to
    add the song's current region as an example of that name (it answers with
    :meth:`add_example`); ``said(str)`` is a sentence for the status bar.
    """

    picks_changed = Signal()
    example_requested = Signal(str)
    said = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self._buttons: dict[str, QPushButton] = {}
        self._actions: dict[str, QAction] = {}
        self._picks: list[Pick] = []
        self._set_aside: list[Pick] = []  # picks of instruments not offered now, till they are
        self._why_no_example = ""  # why an example cannot be added now ('' where it can)
        self.why_none = ""  # why no instrument is offered, while none is (set_instruments)
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.more = QPushButton("More")  # a menu, like the Tags tab's More
        self.more.setMenu(QMenu(self.more))
        self.example_name = QLineEdit(placeholderText=NAME_PLACEHOLDER)
        self.example_name.setToolTip("The name of the stem the example asks for")
        self.example_name.setAccessibleName("Name of the example's stem")
        self.add_example_button = QPushButton("&Add the region as an example")
        self.add_example_button.setToolTip(
            "Separate, in the whole song, what sounds like the selected region"
        )
        self.add_example_button.clicked.connect(self._on_add_example_clicked)
        self.example_name.returnPressed.connect(self._on_add_example_clicked)
        self.example_name.textEdited.connect(self._on_example_name_edited)
        self.chosen = QListWidget()
        self.chosen.setToolTip("One stem each, plus the rest; Delete removes the selected one")
        self.chosen.setAccessibleName("Stems to separate")
        self.remove_button = QPushButton("R&emove")
        self.remove_button.setToolTip("Remove the selected stem from the list")
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.chosen.itemSelectionChanged.connect(self._on_chosen_selection_changed)
        self.clear_button = QPushButton("&Clear")
        self.clear_button.clicked.connect(self._on_clear_clicked)
        delete = QShortcut(self.chosen)  # Backspace too: a Mac's "delete" key is Backspace
        delete.setKeys([*QKeySequence.keyBindings(QKeySequence.StandardKey.Delete),
                        QKeySequence(Qt.Key.Key_Backspace)])  # fmt: skip
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self._on_remove_clicked)
        self.summary = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self._build_layout()
        self._refresh()

    def _build_layout(self) -> None:
        examples = QHBoxLayout()
        examples.addWidget(self.example_name, 1)
        examples.addWidget(self.add_example_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self.grid)
        layout.addLayout(examples)
        layout.addWidget(self.chosen, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)

    # ----- public API ------------------------------------------------------------------
    def set_instruments(
        self, words: Sequence[str], source: str = "the backend", why_none: str = ""
    ) -> str:
        """Offer these instrument words (``source``'s, e.g. "the light backend"): picks of
        instruments it lacks are dropped, and those dropped before come back where it has them
        (unless a stem of that name was picked meanwhile, or the picks were cleared). Where
        ``words`` is empty, the summary says ``why_none`` (when given). What was dropped and
        what came back, in a sentence each ('' for neither)."""
        self._words = list(dict.fromkeys(words))
        self.why_none = "" if self._words else why_none
        while self.grid.count():
            self.grid.takeAt(0).widget().setParent(None)
        self._buttons.clear()
        self._actions.clear()
        main = [w for w in MAIN_INSTRUMENTS if w in self._words]
        for index, word in enumerate(main):
            button = QPushButton(keep_ampersands(label_of(word)), checkable=True)
            show_checked_clearly(button)
            button.setToolTip(f"Separate the {label_of(word).lower()} into a stem of its own")
            button.toggled.connect(lambda on, w=word: self.set_picked(w, on))
            self._buttons[word] = button
            self.grid.addWidget(button, index // COLUMNS, index % COLUMNS)
        menu = self.more.menu()
        menu.clear()
        for word in sorted(w for w in self._words if w not in main):
            action = menu.addAction(keep_ampersands(label_of(word)))
            action.setCheckable(True)
            action.toggled.connect(lambda on, w=word: self.set_picked(w, on))
            self._actions[word] = action
        self.more.setEnabled(bool(self._actions))
        self.grid.addWidget(self.more, len(main) // COLUMNS, len(main) % COLUMNS)
        tab_after(self, [*self._buttons.values(), self.more])  # first in the panel
        dropped = [p for p in self._picks if p.example is None and p.name not in self._words]
        kept = [p for p in self._picks if p not in dropped]
        taken = {stem_key(p.name) for p in kept}  # picked meanwhile: that pick stays
        offered = [p for p in self._set_aside if p.name in self._words]
        back = [p for p in offered if stem_key(p.name) not in taken]
        self._set_aside = [p for p in self._set_aside if p not in offered] + dropped
        self._picks = kept + back
        self._refresh()
        said = []
        if dropped:
            said.append(f"Picks dropped, as {source} lacks them: {_listed(dropped)}; they come "
                        "back once they are offered again.")  # fmt: skip
        if back:
            said.append(f"Picks back, as {source} has them: {_listed(back)}.")
        return " ".join(said)

    def instruments(self) -> list[str]:
        return list(self._words)

    def picks(self) -> list[Pick]:
        """The stems to make, in the order they were picked."""
        return list(self._picks)

    def set_picked(self, word: str, on: bool) -> None:
        """Pick (or drop) the instrument ``word``; unknown words are ignored.

        Picked, it takes the place of an example of that name (ignoring case), as an example
        takes an instrument's; dropped, an example of that name stays.
        """
        picked = any(p.name == word and p.example is None for p in self._picks)
        if word not in self._words or on == picked:
            return
        if on:
            self._picks = self._other_picks(word)
            self._picks.append(Pick(word))
        else:
            self._picks = [p for p in self._picks if p.name != word or p.example is not None]
        self._refresh()

    def set_picks(self, picks: Sequence[Pick]) -> None:
        """Replace every pick (e.g. restored from settings); unknown words are skipped."""
        self._picks = [p for p in picks if p.example is not None or p.name in self._words]
        self._refresh()

    def _other_picks(self, name: str) -> list[Pick]:
        """The picks but the one that would be the stem ``name`` (``job_checks.stem_key``)."""
        return [p for p in self._picks if stem_key(p.name) != stem_key(name)]

    def add_example(self, name: str, example: Example) -> None:
        """Add the example of that name, in place of any stem of that name (ignoring case, as
        the stems' files do on some file systems)."""
        name = name.strip()
        self._picks = self._other_picks(name)
        self._picks.append(Pick(name, example))
        self.example_name.clear()
        self._refresh()

    @Slot()
    def clear(self) -> None:
        self._picks = []
        self._set_aside = []  # cleared too: none comes back with another backend
        self._refresh()

    def set_can_add_example(self, ok: bool, reason: str = "") -> None:
        self._why_no_example = "" if ok else reason
        self.add_example_button.setEnabled(ok)
        self.add_example_button.setToolTip(
            reason or "Separate, in the whole song, what sounds like the selected region"
        )

    # ----- refreshing ------------------------------------------------------------------
    def _refresh(self) -> None:
        picked = {p.name for p in self._picks if p.example is None}
        for word, button in self._buttons.items():
            button.blockSignals(True)
            button.setChecked(word in picked)
            button.blockSignals(False)
        for word, action in self._actions.items():
            action.blockSignals(True)
            action.setChecked(word in picked)
            action.blockSignals(False)
        self.chosen.clear()
        for pick in self._picks:
            item = QListWidgetItem(pick.describe())
            item.setData(NAME_ROLE, pick.name)
            self.chosen.addItem(item)
        self.remove_button.setEnabled(bool(self.chosen.selectedItems()))
        self.clear_button.setEnabled(bool(self._picks))
        names = [  # an instrument as its button says it ("acoustic guitar"); an example's as typed
            html.escape(p.name if p.example else label_of(p.name).lower()) for p in self._picks
        ]
        if names:
            summary = f"<b>{len(names)} stem{'s' * (len(names) > 1)} + the rest:</b> "
            self.summary.setText(summary + ", ".join(names))
        else:
            self.summary.setText(html.escape(self.why_none) or PICK_SOME)
        self.picks_changed.emit()

    # ----- slots -----------------------------------------------------------------------
    @Slot()
    def _on_add_example_clicked(self) -> None:
        if not self.add_example_button.isEnabled():  # Enter in the name field: same rule,
            self.said.emit(self._why_no_example)  # said there: the tooltip is not seen
            return
        name = self.example_name.text().strip()
        if not name:
            self.example_name.setFocus()
            self.example_name.setPlaceholderText(NAME_FIRST)
            return
        self.example_requested.emit(name)

    @Slot(str)
    def _on_example_name_edited(self, text: str) -> None:
        if text:  # a name is given: the next empty field shows the usual placeholder
            self.example_name.setPlaceholderText(NAME_PLACEHOLDER)

    @Slot()
    def _on_remove_clicked(self) -> None:
        selected = self.chosen.selectedItems()
        if not selected:  # (Delete with nothing selected): nothing to remove
            return
        row = self.chosen.row(selected[0])
        chosen = {item.data(NAME_ROLE) for item in selected}
        self._picks = [p for p in self._picks if p.name not in chosen]
        self._refresh()
        if self._picks:  # the next is selected, or the one before the last: Delete goes on
            self.chosen.setCurrentRow(min(row, len(self._picks) - 1))

    @Slot()
    def _on_clear_clicked(self) -> None:
        """Clear, once asked where examples would be lost: each took a region the musician
        selected (instruments are a click each to pick again)."""
        examples = [p.name for p in self._picks if p.example is not None]
        if examples:  # as StemListView.losing names what is lost
            what = "This example, a region" if len(examples) == 1 else "These examples, regions"
            question = f"{what} you selected, would be lost: {listed(examples)}. Clear every pick?"
            if plain_text.question(self, APP_NAME, question) != plain_text.Button.Yes:
                return
        self.clear()

    @Slot()
    def _on_chosen_selection_changed(self) -> None:
        self.remove_button.setEnabled(bool(self.chosen.selectedItems()))
