"""Loss targets: for each output of a tagger, what it should be and how much it weighs.

:class:`TagTargets` come from the user's words (``core.separation.tags.resolve_targets``: each tag
WANTED, AVOIDED or IGNORED); :class:`HeardTargets` from what a tagger hears in an example clip
(``core.separation.tags.heard_targets``). The objective (``core.separation.objective``) reads
``target``, ``weight`` and ``shown`` alike from either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagbox_gui.core.types import TagState

__all__ = ["SHOWN_HEARD_TAGS", "HeardTargets", "TagTargets"]


@dataclass(frozen=True)
class TagTargets:
    """The loss targets of one tagger: what each of its outputs should be, and which count."""

    dataset: str
    vocabulary: tuple[str, ...]
    states: tuple[TagState, ...]
    balanced: bool = False  # wanted and avoided tags weigh half of the loss each

    @property
    def target(self) -> np.ndarray:
        """1 for wanted tags, 0 otherwise (float32, one per output)."""
        return np.array([s is TagState.WANTED for s in self.states], dtype=np.float32)

    @property
    def weight(self) -> np.ndarray:
        """Each tag's weight in the loss (float32): 0 for ignored tags; 1 for the others, or,
        when ``balanced``, the wanted and the avoided tags share equal halves of the same total
        (one wanted tag then weighs as much as all 49 avoided ones together)."""
        wanted = np.array([s is TagState.WANTED for s in self.states])
        avoided = np.array([s is TagState.AVOIDED for s in self.states])
        weight = (wanted | avoided).astype(np.float32)
        if self.balanced and wanted.any() and avoided.any():
            total = weight.sum()
            weight[wanted] = total / (2 * wanted.sum())
            weight[avoided] = total / (2 * avoided.sum())
        return weight

    @property
    def wanted(self) -> tuple[str, ...]:
        return tuple(t for t, s in zip(self.vocabulary, self.states, strict=True)
                     if s is TagState.WANTED)  # fmt: skip

    @property
    def shown(self) -> tuple[int, ...]:
        """The outputs the meters show: the wanted tags."""
        return tuple(i for i, s in enumerate(self.states) if s is TagState.WANTED)


SHOWN_HEARD_TAGS = 3
"""How many of the tags heard most in an example the meters show at most."""


@dataclass(frozen=True)
class HeardTargets:
    """The loss targets of one tagger steered towards an example clip: every tag's target is
    the probability the tagger hears in the example, except the avoided tags (0) and the
    ignored ones (no weight)."""

    vocabulary: tuple[str, ...]
    heard: tuple[float, ...]
    avoided: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()

    @property
    def target(self) -> np.ndarray:
        """The example's probability per output, 0 for avoided tags (float32)."""
        target = np.array(self.heard, dtype=np.float32)
        target[[t in self.avoided for t in self.vocabulary]] = 0.0
        return target

    @property
    def weight(self) -> np.ndarray:
        """1 per output, 0 for ignored tags (float32)."""
        return np.array([t not in self.ignored for t in self.vocabulary], dtype=np.float32)

    @property
    def shown(self) -> tuple[int, ...]:
        """The outputs the meters show: the tags heard with a probability of at least 0.5 in
        the example (the :data:`SHOWN_HEARD_TAGS` heard most), or else the one heard most;
        never an avoided or ignored tag."""
        counted = [i for i, t in enumerate(self.vocabulary) if t not in self.avoided | self.ignored]
        ranked = sorted(counted, key=lambda i: -self.heard[i])
        likely = [i for i in ranked[:SHOWN_HEARD_TAGS] if self.heard[i] >= 0.5]
        return tuple(likely or ranked[:1])
