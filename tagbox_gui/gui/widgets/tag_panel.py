"""The tag panel: the chosen taggers' vocabulary, grouped, searchable, with presets.

Every tag is wanted, avoided or ignored. A click (or Enter) cycles a tag through wanted ->
avoided -> ignored -> default; the right-click menu sets a state directly. Tags left at the
default show the state the run gives them (avoided, as in the paper, unless "Avoid every other
tag" is off) in a muted style, the user's own choices in a strong one. In one pass (0 steps) the
run gives them no state, and they show none.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QFont,
    QIcon,
    QKeySequence,
    QPainter,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.core.errors import TagError
from tagbox_gui.core.separation.tags import check_contradictions
from tagbox_gui.core.types import TaggerSpec, TagState
from tagbox_gui.gui.engine_loader import LazyModule
from tagbox_gui.gui.errors import user_message
from tagbox_gui.gui.tag_states import TagBoard, TagRow
from tagbox_gui.gui.widgets.focus import tab_after
from tagbox_gui.gui.widgets.plain_text import keep_ampersands
from tagbox_gui.gui.widgets.shortcuts import FIND, shown

if TYPE_CHECKING:
    from tagbox_gui.core.separation.backends import learned
else:  # imported when first used: it loads torch (see tagbox_gui.gui.engine_loader)
    learned = LazyModule("tagbox_gui.core.separation.backends.learned")

WORD_ROLE = Qt.ItemDataRole.UserRole
MAIN_PRESETS = ("Vocals", "Piano", "Strings", "Drums", "Guitar", "Bass")
_STYLE = {  # state -> (mark, colour, label)
    TagState.WANTED: ("✓", QColor(46, 160, 67), "want"),
    TagState.AVOIDED: ("✕", QColor(207, 34, 46), "avoid"),
    TagState.IGNORED: ("–", QColor(130, 130, 130), "ignore"),
}
ONE_PASS_NOTE = (
    "One pass (0 steps) asks for the wanted instruments only; avoiding or ignoring tags needs "
    "some steps (Settings ▸ Steps)."
)
NO_TAGGER = (
    "<b>No tagger is chosen</b>, so there is no tag to click: tick one in Settings ▸ Taggers, "
    "or download one (Tools ▸ Models…). The learned separator needs none to separate an "
    "instrument named in the Instruments tab."
)
_GROUP_TITLES = {
    "instruments": "Instruments",
    "voice": "Voice",
    "genre": "Genre",
    "mood": "Mood",
    "other": "Other",
}


def _searchable(text: str) -> str:
    """``text`` as the tag search compares it: lower case, with hyphens, underscores, slashes
    and runs of spaces as one space (``Hip-Hop`` and ``hip  hop`` are both ``hip hop``)."""
    return " ".join(re.sub(r"[-_/]", " ", text.lower()).split())


def _choices(states: dict[str, TagState]) -> str:
    """``female vocal (wanted), rock (avoided)``."""
    return ", ".join(f"{label} ({state.value})" for label, state in states.items())


def state_icon(state: TagState, strong: bool) -> QIcon:
    """A round badge with the state's mark; pale when the state is only the default."""
    mark, colour, _ = _STYLE[state]
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    fill = QColor(colour)
    fill.setAlpha(255 if strong else 70)
    painter.setBrush(fill)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(1, 1, 14, 14)
    painter.setPen(QColor("white") if strong else colour.darker(120))
    font = painter.font()
    font.setBold(True)
    font.setPixelSize(11)
    painter.setFont(font)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, mark)
    painter.end()
    return QIcon(pixmap)


class TagPanel(QWidget):
    """Tag states for the run; ``tags_changed`` fires after every change."""

    tags_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = TagBoard()
        self._items: dict[str, QTreeWidgetItem] = {}
        self._preset_controls: dict[str, QPushButton | QAction] = {}
        self._icons = {(s, strong): state_icon(s, strong) for s in _STYLE for strong in (0, 1)}
        self._warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        find = shown(FIND)
        self.search = QLineEdit(
            placeholderText=f"Search the tags by name ({find})", clearButtonEnabled=True
        )
        self.search.setAccessibleName("Search tags")
        self.search.setAccessibleDescription(
            f"Shows only the tags whose name has this text ({find} comes here)"
        )
        self.search.textChanged.connect(self._on_search_text_changed)
        self.presets = QWidget()
        self.presets_layout = QGridLayout(self.presets)
        self.presets_layout.setContentsMargins(0, 0, 0, 0)
        self.tree = QTreeWidget(columnCount=2, headerHidden=True, rootIsDecorated=True)
        self.tree.setAccessibleName("Tags")
        self.tree.setAccessibleDescription("Each tag of the taggers: wanted, avoided, or neither")
        self.tree.setUniformRowHeights(True)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.itemClicked.connect(self._on_tree_item_clicked)
        self.tree.customContextMenuRequested.connect(self._on_tree_context_menu)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):  # the keyboard's click on a tag
            cycle = QShortcut(QKeySequence(key), self.tree)
            cycle.setContext(Qt.ShortcutContext.WidgetShortcut)
            cycle.activated.connect(self._on_tree_enter)
        self.avoid_others = QCheckBox("&Avoid every other tag (as in the paper)", checked=True)
        self.ignore_related = QCheckBox("Ignore tags that go &with the wanted ones")
        for box in (self.avoid_others, self.ignore_related):
            box.toggled.connect(self._on_options_toggled)
        self.summary = QLabel(wordWrap=True)
        self.steering = True  # the run steers with the taggers (steps > 0), see set_steering
        self._build_layout()

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.search)
        layout.addWidget(self.presets)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.avoid_others)
        layout.addWidget(self.ignore_related)
        hint = QLabel(
            "Click a tag (or press Enter): want → avoid → ignore → default. Right-click for a menu."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(hint)
        layout.addWidget(self.summary)

    # ----- public API ------------------------------------------------------------------
    def set_taggers(self, taggers: Sequence[TaggerSpec]) -> str:
        """Show the vocabulary of these taggers (choices of tags that remain are kept, and
        those dropped before come back where these taggers have their tags); what was dropped,
        of tags these taggers lack, and what came back, in a sentence each ('' for neither)."""
        dropped, back = self.board.set_taggers(taggers)
        self._build_presets()
        self._build_tree()
        self._on_board_changed()
        names = ", ".join(map(str, taggers))
        said = []
        if dropped:
            why = f"{names} cannot hear them" if taggers else "no tagger is chosen"
            said.append(f"Tags dropped, as {why}: {_choices(dropped)}; they come back once "
                        "taggers that hear them are chosen.")  # fmt: skip
        if back:
            said.append(f"Tags back, as {names} can hear them: {_choices(back)}.")
        return " ".join(said)

    def set_steering(self, steering: bool) -> None:
        """Whether the run steers with the taggers (steps > 0): a one pass (0 steps) asks the
        learned separator for the wanted instruments only, so the options that set the other
        tags are off, so are the presets it knows no instrument of, the rows left at the default
        show no state, and the summary says so."""
        self.steering = steering
        why = "" if steering else ONE_PASS_NOTE
        for box in (self.avoid_others, self.ignore_related):
            box.setEnabled(steering)
            box.setToolTip(why)
        self._update_presets()
        self._restyle_items()
        self._update_summary()

    def wanted(self) -> tuple[str, ...]:
        """Words the run wants (for ``RunConfig.tags``)."""
        return self.board.words(TagState.WANTED, explicit_only=True)

    def stem_words(self) -> tuple[str, ...]:
        """What the stems are named after (``piano`` for ``<song> - piano``)."""
        return self.board.stem_words()

    def avoided(self) -> tuple[str, ...]:
        return self.board.words(TagState.AVOIDED, explicit_only=True)

    def ignored(self) -> tuple[str, ...]:
        return self.board.words(TagState.IGNORED, explicit_only=True)

    def state(self, word: str) -> TagState:
        return self.board.state(word)

    def problem(self) -> str:
        """Why a run cannot take these choices (a tagger would be asked for one tag in two
        states, as the run refuses it), or ''."""
        try:
            check_contradictions(self.wanted(), self.avoided(), self.ignored(),
                                 self.board.vocabularies)  # fmt: skip
        except TagError as exc:
            return user_message(exc)
        return ""

    def set_state(self, word: str, state: TagState | None) -> None:
        self.board.set_state(word, state)
        self._on_board_changed()

    def apply_preset(self, name: str) -> None:
        self.board.apply_preset(name)
        self._on_board_changed()

    def item(self, word: str) -> QTreeWidgetItem:
        return self._items[word]

    def find(self) -> None:
        """Put the focus in the search, its text selected (the Find key, shown in the search)."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    # ----- building --------------------------------------------------------------------
    def _build_presets(self) -> None:
        while self.presets_layout.count():
            self.presets_layout.takeAt(0).widget().deleteLater()
        self._preset_controls.clear()
        names = self.board.available_presets()
        main = [n for n in MAIN_PRESETS if n in names]
        added: list[QWidget] = []
        for index, name in enumerate(main):
            button = QPushButton(keep_ampersands(name))
            added.append(button)
            button.clicked.connect(lambda _=False, n=name: self.apply_preset(n))
            self._preset_controls[name] = button
            self.presets_layout.addWidget(button, index // 3, index % 3)
        more = [n for n in names if n not in main]
        if more:
            button = QPushButton("More")
            added.append(button)
            menu = QMenu(button)
            menu.setToolTipsVisible(True)  # why a preset is off
            for name in more:
                self._preset_controls[name] = menu.addAction(
                    keep_ampersands(name), lambda n=name: self.apply_preset(n)
                )
            button.setMenu(menu)
            self.presets_layout.addWidget(button, len(main) // 3, len(main) % 3)
        tab_after(self.presets, added)  # between the search field and the tags
        self._update_presets()

    def _update_presets(self) -> None:
        """Each preset on, or off with the reason: one pass asks the learned separator for the
        preset's tags by name, so a preset it has no prototype for needs steps or an example."""
        for name, control in self._preset_controls.items():
            words = () if self.steering else self.board.preset_words(name)
            known = all(learned.has_prototype(w) for w in words)
            control.setEnabled(known)
            control.setToolTip(
                f"Want the {name.lower()} tags of every chosen tagger"
                if known
                else f"In one pass (0 steps) the learned separator knows no {name.lower()}: give "
                "some steps in Settings to steer by the tags, or add an example clip of it in "
                "the Instruments tab."
            )

    def _build_tree(self) -> None:
        self.tree.clear()
        self._items.clear()
        for group, rows in self.board.grouped().items():
            if not rows:
                continue
            parent = QTreeWidgetItem(self.tree, [_GROUP_TITLES[group], ""])
            font = parent.font(0)
            font.setBold(True)
            parent.setFont(0, font)
            parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for row in rows:
                item = QTreeWidgetItem(parent, [row.label, ""])
                item.setData(0, WORD_ROLE, row.word)
                self._items[row.word] = item
            parent.setExpanded(group in ("instruments", "voice"))

    # ----- refreshing ------------------------------------------------------------------
    def _on_board_changed(self) -> None:
        self._restyle_items()
        self._update_summary()
        self._on_search_text_changed(self.search.text())
        self.tags_changed.emit()

    def _restyle_items(self) -> None:
        for word, item in self._items.items():
            self._style_item(item, self.board.row(word))

    def _style_item(self, item: QTreeWidgetItem, row: TagRow) -> None:
        state = self.board.state(row.word)
        strong = self.board.explicit(row.word) is not None or state is TagState.WANTED
        plain = not (strong or self.steering)  # one pass gives a default row no state
        _, colour, label = _STYLE[state]
        lacking = self.board.lacking(row.word)
        item.setIcon(0, QIcon() if plain else self._icons[(state, int(strong))])
        font = QFont(item.font(0))
        font.setBold(state is TagState.WANTED)
        font.setStrikeOut(state is TagState.AVOIDED and strong)
        font.setItalic(state is TagState.IGNORED and not plain)
        item.setFont(0, font)
        item.setText(1, "" if plain else label if strong else f"({label})")
        item.setForeground(1, QBrush(colour if strong else colour.lighter(140)))
        ignored = state is TagState.IGNORED and not plain
        item.setForeground(0, QBrush(QColor(130, 130, 130)) if ignored else QBrush())
        item.setIcon(1, self._warning if lacking else QIcon())
        item.setToolTip(0, self._tooltip(row, lacking, plain))
        item.setToolTip(1, item.toolTip(0))

    def _tooltip(self, row: TagRow, lacking: tuple[str, ...], plain: bool) -> str:
        states = self.board.states_by_tagger(row.word)
        lines = [
            f"{row.tags[d]} ({d})" + ("" if plain else f": {_STYLE[s][2]}")
            for d, s in states.items()
        ]
        if lacking:
            lines.append(f"Not in the vocabulary of {', '.join(lacking)}.")
        return "\n".join(lines)

    def _update_summary(self) -> None:
        wanted = self.wanted()
        if not self.board.taggers:  # no tag to click: the list is empty
            self.summary.setText(NO_TAGGER)
            return
        if not wanted:
            self.summary.setText("<b>No tag wanted yet.</b> Click a tag or a preset.")
            return
        counts = {s: len(self.board.words(s)) for s in _STYLE}
        text = f"<b>Wanted:</b> {', '.join(self.board.row(w).label for w in wanted)}<br>" + (
            f"{counts[TagState.WANTED]} wanted, {counts[TagState.AVOIDED]} avoided, "
            f"{counts[TagState.IGNORED]} ignored"
            if self.steering
            else ONE_PASS_NOTE
        )
        missing = {t for w in wanted for t in self.board.lacking(w)} if self.steering else ()
        if missing:
            text += (
                f"<br><span style='color:#cf222e'>⚠ {', '.join(sorted(missing))} cannot "
                "hear a wanted tag; the run will refuse it.</span>"
            )
        problem = self.problem()
        if problem:
            text += f"<br><span style='color:#cf222e'>⚠ {html.escape(problem)}</span>"
        self.summary.setText(text)

    # ----- slots -----------------------------------------------------------------------
    @Slot(str)
    def _on_search_text_changed(self, text: str) -> None:
        needle = _searchable(text)
        for index in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(index)
            shown = 0
            for child in (parent.child(i) for i in range(parent.childCount())):
                row = self.board.row(child.data(0, WORD_ROLE))
                hit = (
                    not needle
                    or needle in _searchable(row.label)
                    or any(needle in _searchable(t) for t in row.tags.values())
                )
                child.setHidden(not hit)
                shown += hit
            parent.setHidden(shown == 0)
            parent.setText(1, f"{shown}")
            if needle and shown:
                parent.setExpanded(True)

    @Slot(QTreeWidgetItem, int)
    def _on_tree_item_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        word = item.data(0, WORD_ROLE)
        if word is not None:
            self.board.cycle(word)
            self._on_board_changed()

    @Slot()
    def _on_tree_enter(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self._on_tree_item_clicked(item)

    @Slot(QPoint)
    def _on_tree_context_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        word = item.data(0, WORD_ROLE) if item is not None else None
        if word is None:
            return
        menu = QMenu(self)
        for state, (_, _, label) in _STYLE.items():
            menu.addAction(
                self._icons[(state, 1)], label.capitalize(), lambda s=state: self.set_state(word, s)
            )
        menu.addSeparator()
        menu.addAction("Back to default", lambda: self.set_state(word, None))
        menu.addAction("Clear all choices", self._on_clear)
        menu.exec(self.tree.viewport().mapToGlobal(pos))
        menu.deleteLater()  # one menu per right-click: else each stays a child of the panel

    @Slot()
    def _on_clear(self) -> None:
        self.board.clear()
        self._on_board_changed()

    @Slot()
    def _on_options_toggled(self) -> None:
        self.board.set_options(self.avoid_others.isChecked(), self.ignore_related.isChecked())
        self._on_board_changed()
