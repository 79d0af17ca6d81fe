"""keep_freed_memory: glibc serves large blocks from its heap and keeps them for reuse."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tagbox_gui.core.separation import memory
from tests.conftest import REPO

# Run in a child process: the allocator's settings last as long as the process.
_PROBE = textwrap.dedent(
    """
    import ctypes
    import numpy as np
    from tagbox_gui.core.separation.memory import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    mapped = lambda: libc.mallinfo2().hblkhd
    block = np.ones(100 * 2**20 // 8)  # 100 MiB
    before = mapped()
    del block
    kept = keep_freed_memory()
    block = np.ones(100 * 2**20 // 8)
    after = mapped()
    del block
    again = np.ones(100 * 2**20 // 8)  # served from what the last one left in the heap
    print(kept, before, after, libc.mallinfo2().fordblks < 2**20)
    """
)


def test_large_blocks_come_from_the_heap_and_stay_there() -> None:
    if not sys.platform.startswith("linux"):
        assert memory.keep_freed_memory() is False
        return
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=True)  # fmt: skip
    kept, before, after, reused = result.stdout.split()
    assert kept == "True"  # this project's machines run glibc
    assert int(before) >= 100 * 2**20  # by default a 100 MiB block is its own mapping
    assert int(after) < 2**20  # now it comes from the heap
    assert reused == "True"  # and the freed block served the next one


def test_nothing_changes_where_the_c_library_is_not_glibc(monkeypatch) -> None:
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.keep_freed_memory() is False


def test_only_a_steered_run_keeps_freed_memory(monkeypatch) -> None:
    from tagbox_gui.core.separation.loading import default_config

    calls: list[bool] = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(True) or True)
    one_pass, steered = default_config("learned"), default_config("light")
    assert one_pass.steps == 0 and steered.steps > 0
    assert memory.keep_freed_memory_if_steering([one_pass, one_pass]) is False and calls == []
    assert memory.keep_freed_memory_if_steering(iter([one_pass, steered])) is True
    assert calls == [True]
