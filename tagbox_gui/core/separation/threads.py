"""How many CPU threads a separation uses.

By default all the machine's logical CPUs but one, and never more than torch would use on its
own (its default is the number of physical cores). The one left free keeps the window, the
audio playback and whatever else runs beside the app - a DAW - responsive, and it keeps torch's
threads from waiting on each other when another program is busy: on a 2-core machine beside a
training job, separating one instrument of a 4-minute song took 63.5 s with torch's 2 threads
and 6.3 s with 1 (5.3 s and 5.9 s with the cores idle; docs/separator.md).
"""

from __future__ import annotations

import functools
import os

from tagbox_gui.core.errors import ConfigError

AUTOMATIC = 0
"""The thread count that stands for "choose for this machine"."""


def logical_cpus() -> int:
    """The logical CPUs this process may run on (its affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@functools.cache
def _torch_default() -> int:
    """torch's own thread count, read once, before this module first changes it."""
    import torch

    return torch.get_num_threads()


def automatic_threads() -> int:
    """All logical CPUs but one, at most torch's default, at least one."""
    return max(1, min(logical_cpus() - 1, _torch_default()))


def use_threads(threads: int = AUTOMATIC) -> int:
    """Make torch compute on ``threads`` CPU threads (:data:`AUTOMATIC`: :func:`automatic_threads`).

    Returns the count in use. ConfigError for a negative count, or one above the logical CPUs
    (the most the app's settings offer; far more crashes the process when the threads are
    made). Call it in the thread that computes: torch keeps the count per thread (threads
    started later take the last one set).
    """
    if threads < 0:
        raise ConfigError(f"the number of CPU threads must be {AUTOMATIC} (automatic) or more, "
                          f"not {threads}")  # fmt: skip
    if threads > logical_cpus():
        raise ConfigError(f"the number of CPU threads must be at most {logical_cpus()}, the "
                          f"logical CPUs here, not {threads}")  # fmt: skip
    import torch

    _torch_default()  # read before it is changed
    count = threads or automatic_threads()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
