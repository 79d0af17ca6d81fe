"""The CPU threads a separation computes on."""

from __future__ import annotations

import pytest
import torch

from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.separation import threads


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("logical", "torch_default", "want"),
    [(2, 2, 1), (1, 1, 1), (8, 4, 4), (4, 4, 3), (16, 8, 8)],
)
def test_automatic_leaves_a_cpu_free_within_torchs_default(
    monkeypatch, logical: int, torch_default: int, want: int
) -> None:
    monkeypatch.setattr(threads, "logical_cpus", lambda: logical)
    monkeypatch.setattr(threads, "_torch_default", lambda: torch_default)
    assert threads.automatic_threads() == want


def test_use_threads_sets_torchs_count() -> None:
    assert threads.use_threads(1) == 1 and torch.get_num_threads() == 1
    automatic = threads.automatic_threads()
    assert threads.use_threads() == automatic == torch.get_num_threads()
    assert 1 <= automatic <= threads.logical_cpus()


def test_automatic_is_read_from_torchs_own_default_not_a_setting_made_since() -> None:
    first = threads.automatic_threads()
    threads.use_threads(1)
    assert threads.automatic_threads() == first


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ConfigError, match="0 \\(automatic\\) or more"):
        threads.use_threads(-1)


def test_more_threads_than_the_cpus_is_refused(monkeypatch) -> None:
    # 100000 threads crashed the process (SIGSEGV in libgomp) instead of saying what is wrong.
    monkeypatch.setattr(threads, "logical_cpus", lambda: 4)
    assert threads.use_threads(4) == 4
    with pytest.raises(ConfigError, match="at most 4, the logical CPUs here"):
        threads.use_threads(5)
