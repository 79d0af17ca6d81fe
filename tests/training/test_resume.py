"""A run that cannot resume says why and what to do, and leaves what it has as it was."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from training.config import TrainConfig
from training.train import train

pytestmark = pytest.mark.slow

TINY = TrainConfig(steps=10, batch=2, seconds=1.0, warmup=1, width=8, layers=1,
                   checkpoint_every=5, valid_every=10, valid_examples=2)  # fmt: skip


@pytest.mark.parametrize("keep", [0, 100, 0.5])  # empty, cut in its header, cut half way
def test_a_checkpoint_cut_short_is_one_clear_error(
    corpus: Path, tmp_path: Path, keep: float
) -> None:
    train(corpus, tmp_path, replace(TINY, steps=5))
    last = tmp_path / "last.pt"
    data = last.read_bytes()
    cut = data[: int(keep * len(data)) if isinstance(keep, float) else keep]
    last.write_bytes(cut)
    with pytest.raises(SystemExit) as exited:
        train(corpus, tmp_path, TINY)
    message = str(exited.value.code)
    assert message.startswith(f"{last} cannot be read (") and "remove it to train" in message
    assert last.read_bytes() == cut  # nothing taken away: a copy of it may be put back


def test_a_file_that_is_not_a_runs_checkpoint_is_one_clear_error(
    corpus: Path, tmp_path: Path
) -> None:
    torch.save({"weights": torch.zeros(3)}, tmp_path / "last.pt")
    with pytest.raises(SystemExit, match=r"is not a checkpoint of training\.train"):
        train(corpus, tmp_path, TINY)
