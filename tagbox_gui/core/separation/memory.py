"""How the C allocator of this process treats large blocks: kept for reuse, not handed back.

The taggers' convolutions make activations of hundreds of MB on every pass. glibc serves each
block over 32 MB with a fresh ``mmap`` and unmaps it when it is freed, so every pass
page-faults its memory in again: on this project's 2-core machine more than half of the time
of a tagger's pass was the kernel's. :func:`keep_freed_memory` asks glibc to serve every block
from its heap and to keep what is freed there for the next pass (``mallopt``: no ``mmap``,
a trim threshold of 2 GiB). Measured on that machine:

- ``tagbox separate`` of a 60 s song with 8 steps of the light backend, 2 threads, the whole
  command: 17.1-18.0 → 12.9-13.1 s, peak RSS 1.23-1.27 → 1.39-1.41 GiB;
- the cached queries of a training corpus, 1 thread: 1.57-1.64 → 0.75-0.77 s per song;
- one pass of the learned separator: no change (its recurrent core works in small blocks).

The price is memory: the peak is some 10-30 % higher, and what the process has used stays
with it until it exits. So it is for processes that end with their work: ``tagbox separate``
and ``tagbox evaluate`` when they steer, and ``training.queries``. Not the window, which stays
open between runs; nor training, where 30 steps of the separator took the same time with it.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Iterable

from tagbox_gui.core.types import RunConfig

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_MAX = -4
_KEEP_BYTES = 2**31 - 1  # the largest trim threshold mallopt takes (an int)


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks of any size for reuse (see the module's docstring); True
    when it did, False where the C library is not glibc (nothing is changed there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl has mallopt too)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES) == 1
    if not done:
        log.warning("glibc refused mallopt; large blocks are mapped and unmapped as usual")
    return done


def keep_freed_memory_if_steering(configs: Iterable[RunConfig]) -> bool:
    """:func:`keep_freed_memory` when any of these runs steers (steps > 0), since the taggers
    then run at every step; a run of one pass has nothing to gain. True when it did."""
    return any(config.steps > 0 for config in configs) and keep_freed_memory()
