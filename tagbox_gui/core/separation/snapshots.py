"""A memory-bounded history of a run's previews, so a user can go back to an earlier step.

Every preview of a run (separated audio of the region, mask image, exportable estimate) is a
few megabytes; a long run makes hundreds. The store keeps the newest one always, the oldest one
while it can, and thins the ones in between so that what remains stays under a byte budget and
is spread as evenly over the run as possible: when it must drop one, it drops the snapshot whose
neighbours are closest together, so the largest hole it leaves is as small as it can be.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tagbox_gui.core.types import Estimate, Preview

DEFAULT_BUDGET_BYTES = 256 * 2**20
"""Default budget: 256 MiB (the History line says 268 MB: the app shows every size in decimal
units): about 25 previews of a 20 s region steered by the light backend with three FFT sizes,
each about 10.5 MB (the History line of such a run), spread over the run by thinning."""


@dataclass(frozen=True)
class Snapshot:
    """The preview of one step, as kept for going back to it."""

    step: int
    separated: np.ndarray  # float32 (n,), region at the analysis rate
    mask_image: np.ndarray
    estimate: Estimate

    @property
    def nbytes(self) -> int:
        """Memory held by this snapshot."""
        return self.separated.nbytes + self.mask_image.nbytes + self.estimate.nbytes

    @classmethod
    def of(cls, step: int, preview: Preview) -> Snapshot:
        """The snapshot of ``preview``, taken at ``step``."""
        return cls(step, preview.separated, preview.mask_image, preview.estimate)


def nearest_step(steps: Iterable[int], step: int) -> int:
    """Of ``steps`` (not empty), ``step`` itself or the one nearest to it (the later on a tie)."""
    return min(steps, key=lambda s: (abs(s - step), -s))


class SnapshotStore:
    """Step -> snapshot, newest always kept, older ones thinned to stay within ``budget_bytes``.

    A single snapshot larger than the budget is still kept (the newest is never dropped), so
    the store can exceed the budget by at most one snapshot's size in that case.
    """

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        if budget_bytes <= 0:
            raise ValueError("the snapshot budget must be positive")
        self.budget_bytes = int(budget_bytes)
        self._items: dict[int, Snapshot] = {}
        self._nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held by the kept snapshots."""
        return self._nbytes

    def steps(self) -> tuple[int, ...]:
        """The kept steps, ascending."""
        return tuple(self._items)

    def add(self, step: int, preview: Preview) -> Snapshot:
        """Keep the preview of ``step`` (later than every kept step), thinning older ones."""
        if self._items and step <= next(reversed(self._items)):
            raise ValueError(f"step {step} is not after the newest kept step")
        snapshot = Snapshot.of(step, preview)
        self._items[step] = snapshot
        self._nbytes += snapshot.nbytes
        self._thin()
        return snapshot

    def latest(self) -> Snapshot | None:
        """The newest snapshot, or None when the store is empty."""
        return self._items[next(reversed(self._items))] if self._items else None

    def get(self, step: int) -> Snapshot | None:
        """The snapshot of ``step``, or of the nearest kept step (the later one on a tie)."""
        if not self._items:
            return None
        return self._items[nearest_step(self._items, step)]

    def clear(self) -> None:
        """Forget every snapshot (a new run starts)."""
        self._items.clear()
        self._nbytes = 0

    def _thin(self) -> None:
        while self._nbytes > self.budget_bytes and len(self._items) > 1:
            victim = self._victim()
            self._nbytes -= self._items.pop(victim).nbytes

    def _victim(self) -> int:
        """The step whose removal leaves the smallest hole; the oldest when only two remain."""
        steps = list(self._items)
        if len(steps) == 2:
            return steps[0]
        # Inner steps only: the first keeps the run's start, the last is the newest.
        gaps = [(steps[i + 1] - steps[i - 1], steps[i]) for i in range(1, len(steps) - 1)]
        return min(gaps)[1]
