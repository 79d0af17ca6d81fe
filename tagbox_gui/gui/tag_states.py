"""What the tag panel shows, without Qt: rows, the user's choices and the resulting tag states.

A row is one tag as a musician reads it (``piano``), merged across the vocabularies of the
chosen taggers (mtat ``piano`` and jamendo ``instrument---piano``). The user sets a row to
wanted, avoided or ignored, or leaves it at the default; the state every row actually gets in
the loss is computed with :func:`tagbox_gui.core.separation.tags.resolve_targets`, the function
the engine uses, so what the panel shows is what the run does.

A choice of a row the new taggers lack is set aside, not forgotten: taggers that hear one of
its tags again bring it back, unless the musician chose anew meanwhile (the row of that label
under the new taggers, even back to the default; a preset for a wanted row; Clear all choices).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tagbox_gui.core.errors import TagError
from tagbox_gui.core.separation.tags import (
    PRESETS,
    TAG_GROUPS,
    Preset,
    display_name,
    find_preset,
    instrument_tags,
    resolve_targets,
    tag_group,
)
from tagbox_gui.core.types import TaggerSpec, TagState


def _vocabulary(dataset: str) -> tuple[str, ...]:
    """The tags of ``dataset`` (imported when first asked for: the taggers' module loads torch,
    and a board without taggers, as the window starts with, needs none)."""
    from tagbox_gui.core.nets.taggers import vocabulary

    return vocabulary(dataset)


@dataclass(frozen=True)
class TagRow:
    """One displayed tag: the word sent to the engine and its tag in each dataset."""

    word: str
    label: str
    group: str
    tags: dict[str, str]  # dataset -> exact tag


class TagBoard:
    """Rows for a set of taggers, the user's explicit states and the effective ones."""

    def __init__(self, taggers: Sequence[TaggerSpec] = ()) -> None:
        self.avoid_others = True
        self.ignore_related = False
        self._explicit: dict[str, TagState] = {}
        self._set_aside: dict[str, tuple[TagRow, TagState]] = {}  # label -> row, its choice
        self._by_word: dict[str, TagRow] = {}
        self.set_taggers(taggers)

    # ----- rows ------------------------------------------------------------------------
    def set_taggers(
        self, taggers: Sequence[TaggerSpec]
    ) -> tuple[dict[str, TagState], dict[str, TagState]]:
        """Rebuild the rows for these taggers; choices of rows that remain are kept (also
        where the row's word changes: mtat ``rock`` is ``genre---rock`` with jamendo alone).
        The choices dropped, of rows these taggers lack, and those back, of rows dropped
        before that these taggers have again: each label -> state."""
        old_rows = {w: self._by_word[w] for w in self._explicit if w in self._by_word}
        self.taggers = tuple(taggers)
        self.datasets = tuple(dict.fromkeys(spec.dataset for spec in self.taggers))
        self.vocabularies = {d: _vocabulary(d) for d in self.datasets}
        self.rows = _build_rows(self.vocabularies)
        self._by_word = {row.word: row for row in self.rows}
        word_of = {(d, t): row.word for row in self.rows for d, t in row.tags.items()}

        def word_now(row: TagRow) -> str | None:  # an old row's word here, by any of its tags
            return next((word_of[tag] for tag in row.tags.items() if tag in word_of), None)

        explicit: dict[str, TagState] = {}
        dropped: dict[str, TagState] = {}
        for old, state in self._explicit.items():
            word: str | None = old
            if old not in self._by_word:  # the row may remain under another word
                word = word_now(old_rows[old]) if old in old_rows else None
            if word is not None:
                explicit.setdefault(word, state)
            elif old in old_rows:
                dropped[old_rows[old].label] = state
                self._set_aside[old_rows[old].label] = (old_rows[old], state)
        back: dict[str, TagState] = {}
        for label, (row, state) in list(self._set_aside.items()):
            word = word_now(row)
            if word is not None:
                del self._set_aside[label]
                if word not in explicit:  # else chosen anew meanwhile: that choice stays
                    explicit[word] = state
                    back[label] = state
        self._explicit = explicit
        self._effective = self._compute()
        return dropped, back

    def row(self, word: str) -> TagRow:
        return self._by_word[word]

    def grouped(self) -> dict[str, list[TagRow]]:
        """Rows by group, in :data:`TAG_GROUPS` order, each group sorted by label."""
        groups: dict[str, list[TagRow]] = {g: [] for g in TAG_GROUPS}
        for row in self.rows:
            groups[row.group].append(row)
        return {g: sorted(rows, key=lambda r: r.label.lower()) for g, rows in groups.items()}

    # ----- states ----------------------------------------------------------------------
    def state(self, word: str) -> TagState:
        """The state the run gives this row (wanted wins when taggers disagree)."""
        states = self._effective[word].values()
        return TagState.WANTED if TagState.WANTED in states else next(iter(states))

    def states_by_tagger(self, word: str) -> dict[str, TagState]:
        return dict(self._effective[word])

    def explicit(self, word: str) -> TagState | None:
        return self._explicit.get(word)

    def set_state(self, word: str, state: TagState | None) -> None:
        """Set a row (None: back to the default); a choice of its label set aside is over."""
        if word not in self._by_word:
            raise KeyError(word)
        self._set_aside.pop(self._by_word[word].label, None)
        if state is None:
            self._explicit.pop(word, None)
        else:
            self._explicit[word] = state
        self._effective = self._compute()

    def cycle(self, word: str) -> None:
        """One click: default -> wanted -> avoided -> ignored -> default."""
        order = [None, TagState.WANTED, TagState.AVOIDED, TagState.IGNORED]
        current = order.index(self._explicit.get(word))
        self.set_state(word, order[(current + 1) % len(order)])

    def set_options(self, avoid_others: bool, ignore_related: bool) -> None:
        self.avoid_others, self.ignore_related = avoid_others, ignore_related
        self._effective = self._compute()

    def clear(self) -> None:
        """Every row back to the default, and no choice set aside comes back."""
        self._explicit.clear()
        self._set_aside.clear()
        self._effective = self._compute()

    def apply_preset(self, name: str) -> None:
        """Want exactly the preset's tags (in every chosen vocabulary that has them): no wanted
        row set aside comes back."""
        words = self.preset_words(name)
        self._set_aside = {
            label: aside for label, aside in self._set_aside.items()
            if aside[1] is not TagState.WANTED
        }  # fmt: skip
        for word in self.words(TagState.WANTED, explicit_only=True):
            del self._explicit[word]
        for word in words:
            self._explicit[word] = TagState.WANTED
        self._effective = self._compute()

    def preset_words(self, name: str) -> tuple[str, ...]:
        """The rows the preset ``name`` wants (KeyError for no preset of that name)."""
        preset = find_preset(name)
        if preset is None:
            raise KeyError(name)
        return tuple(row.word for row in self.rows if _in_preset(row, preset))

    def stem_words(self) -> tuple[str, ...]:
        """Short names of what is wanted, for stem file names: a preset's name when the wanted
        rows are exactly that preset's, else the wanted rows' labels."""
        wanted = set(self.words(TagState.WANTED, explicit_only=True))
        for preset in PRESETS:
            rows = set(self.preset_words(preset.name))
            if rows and rows == wanted:
                return (preset.name.lower(),)
        return tuple(self.row(w).label for w in self.words(TagState.WANTED, explicit_only=True))

    def available_presets(self) -> list[str]:
        """Presets with a wanted tag in at least one chosen vocabulary."""
        return [p.name for p in PRESETS if any(p.wanted.get(d) for d in self.datasets)]

    def words(self, state: TagState, explicit_only: bool = False) -> tuple[str, ...]:
        """Row words in ``state`` (the user's explicit choices only, if asked)."""
        if explicit_only:
            return tuple(w for w, s in self._explicit.items() if s is state)
        return tuple(row.word for row in self.rows if self.state(row.word) is state)

    def lacking(self, word: str) -> tuple[str, ...]:
        """The chosen taggers (``arch/dataset``) that cannot hear this word."""
        vocabs = self.vocabularies
        return tuple(
            str(spec)
            for spec in self.taggers
            if not _resolves(word, spec.dataset, vocabs[spec.dataset])
        )

    def _compute(self) -> dict[str, dict[str, TagState]]:
        per_dataset = {d: self._dataset_states(d, v) for d, v in self.vocabularies.items()}
        return {row.word: {d: per_dataset[d][t] for d, t in row.tags.items()} for row in self.rows}

    def _dataset_states(self, dataset: str, vocab: tuple[str, ...]) -> dict[str, TagState]:
        wanted = [w for w in self.words(TagState.WANTED, True) if _resolves(w, dataset, vocab)]
        avoid = self.words(TagState.AVOIDED, True)
        ignore = self.words(TagState.IGNORED, True)
        if wanted:
            targets = resolve_targets(
                dataset, vocab, tuple(wanted), avoid, ignore, self.avoid_others, self.ignore_related
            )
            return dict(zip(vocab, targets.states, strict=True))
        # Nothing wanted yet: show the defaults the run would apply, with the explicit choices.
        default = TagState.AVOIDED if self.avoid_others else TagState.IGNORED
        states = dict.fromkeys(vocab, default)
        for word, state in self._explicit.items():
            for tag in _tags_of(word, dataset, vocab):
                states[tag] = state
        return states


def _in_preset(row: TagRow, preset: Preset) -> bool:
    return any(tag in preset.wanted.get(d, ()) for d, tag in row.tags.items())


def _build_rows(vocabularies: dict[str, tuple[str, ...]]) -> list[TagRow]:
    merged: dict[str, dict[str, str]] = {}
    for dataset, vocab in vocabularies.items():
        for tag in vocab:
            merged.setdefault(display_name(tag).lower(), {})[dataset] = tag
    rows = []
    for tags in merged.values():
        first = next(iter(tags.values()))
        label = display_name(first)
        # The label is the word when it names this tag in every dataset that has the row;
        # otherwise the exact tag of the first dataset (the others then lack it).
        ok = all(tag in _tags_of(label, d, vocabularies[d]) for d, tag in tags.items())
        word = label if ok else first
        rows.append(TagRow(word, label, tag_group(first), tags))
    return rows


def _tags_of(word: str, dataset: str, vocab: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return instrument_tags(word, dataset, vocab)
    except TagError:
        return ()


def _resolves(word: str, dataset: str, vocab: tuple[str, ...]) -> bool:
    return bool(_tags_of(word, dataset, vocab))
