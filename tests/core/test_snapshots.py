"""The snapshot store keeps the newest preview and thins older ones under its budget."""

from __future__ import annotations

import numpy as np
import pytest

from tagbox_gui.core.separation.snapshots import DEFAULT_BUDGET_BYTES, SnapshotStore
from tagbox_gui.core.types import Estimate, Preview


def _preview(step: int, n: int = 1000) -> Preview:
    """A preview of n float32 samples, a 10x10 image and one 20x10 mask, marked with ``step``."""
    separated = np.full(n, step, dtype=np.float32)
    mask = np.full((20, 10), step / 1000, dtype=np.float32)
    estimate = Estimate(start=0, length=n, masks={512: mask})
    return Preview(separated, np.zeros((10, 10), np.float32), estimate)


SIZE = 1000 * 4 + 100 * 4 + 200 * 4  # bytes of one _preview()


def test_keeps_everything_within_budget() -> None:
    store = SnapshotStore(budget_bytes=100 * SIZE)
    for step in range(5, 55, 5):
        store.add(step, _preview(step))
    assert store.steps() == tuple(range(5, 55, 5))
    assert store.nbytes == 10 * SIZE
    assert store.latest().step == 50
    assert store.get(25).separated[0] == 25


def test_thins_evenly_and_keeps_first_and_newest() -> None:
    store = SnapshotStore(budget_bytes=8 * SIZE)
    for step in range(1, 101):
        store.add(step, _preview(step))
        assert store.nbytes <= store.budget_bytes
        assert store.latest().step == step
    steps = store.steps()
    assert len(steps) == 8
    assert steps[0] == 1 and steps[-1] == 100
    gaps = np.diff(steps)
    # Evenly spread: 99 steps over 7 holes is 14.1 on average; no hole is more than twice that.
    assert gaps.max() <= 2 * 99 / 7, steps


def test_nearest_step_and_its_content() -> None:
    store = SnapshotStore(budget_bytes=100 * SIZE)
    for step in (10, 20, 40):
        store.add(step, _preview(step))
    assert store.get(20).step == 20
    assert store.get(14).step == 10
    assert store.get(30).step == 40  # a tie goes to the later step
    assert store.get(1000).step == 40
    np.testing.assert_allclose(store.get(40).estimate.masks[512], 0.04, rtol=1e-6)


def test_snapshot_larger_than_budget_keeps_only_the_newest() -> None:
    store = SnapshotStore(budget_bytes=SIZE // 2)
    store.add(1, _preview(1))
    store.add(2, _preview(2))
    assert store.steps() == (2,)
    assert store.nbytes == SIZE


def test_rejects_out_of_order_steps_and_bad_budget() -> None:
    store = SnapshotStore()
    assert store.budget_bytes == DEFAULT_BUDGET_BYTES
    assert store.get(3) is None and store.latest() is None
    store.add(5, _preview(5))
    with pytest.raises(ValueError):
        store.add(5, _preview(5))
    with pytest.raises(ValueError):
        SnapshotStore(budget_bytes=0)


def test_clear_forgets_everything() -> None:
    store = SnapshotStore()
    store.add(1, _preview(1))
    store.clear()
    assert len(store) == 0 and store.nbytes == 0 and store.steps() == ()
    store.add(1, _preview(1))  # a new run may start at step 1 again
    assert store.steps() == (1,)
