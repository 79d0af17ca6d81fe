"""Fixtures of the command line tests: a tiny set cut from shared/eval/dev, and torch's thread
count put back after a test that changes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.cli.evaluation_sets import SONGS
from tests.core.test_evaluation import cut_set


@pytest.fixture
def tiny_set(eval_dir: Path, tmp_path: Path) -> Path:
    """The first 3 s of two songs of the dev set."""
    return cut_set(eval_dir / "dev", tmp_path / "set", SONGS, 3.0)


@pytest.fixture
def keep_threads():
    """torch's thread count as it was before the test (in-process runs set it)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
