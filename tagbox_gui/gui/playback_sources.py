"""The player's sources as loaded, and the buffers made of them for the output (no Qt).

Folding channels down (``core.audio.output.fold``) is quick and done where it is asked for;
converting the rate for an output that does not take the song's (``core.audio.output.
resample``) takes seconds for a whole song, so it runs in a worker thread and the player
takes the buffers once all of them are made (:meth:`Sources.converted`). A conversion no
longer wanted (another song, new material, the player closed) stops within a block, so that
the worker is free at once for the next one, and quitting does not wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from tagbox_gui.core.audio.output import fold, resample

_CONVERTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playback-rate")


class Sources:
    """Named sources at one rate, with the speakers of their channels where known."""

    def __init__(self) -> None:
        self.originals: dict[str, np.ndarray] = {}  # read-only (frames, channels)
        self.rate = 44_100
        self.layout: tuple[str, ...] | None = None
        # name -> (the buffer being made, the event that stops making it)
        self._pending: dict[str, tuple[Future[np.ndarray], threading.Event]] = {}
        self._pending_for: tuple[int, int] = (0, 0)  # (channels, rate) they are made for

    def load(self, sources: Mapping[str, np.ndarray], rate: int,
             layout: tuple[str, ...] | None) -> None:  # fmt: skip
        """Replace all sources; conversions of the old ones are dropped."""
        self.cancel()
        self.originals = {name: own(data) for name, data in sources.items()}
        self.rate, self.layout = int(rate), layout

    def put(self, name: str, data: np.ndarray) -> None:
        """Replace (or add) one source."""
        self.originals[name] = own(data)

    @property
    def channels(self) -> int:
        """The most channels of any source."""
        return max(data.shape[1] for data in self.originals.values())

    def buffer(self, name: str, channels: int) -> np.ndarray:
        """The source ``name`` with ``channels`` channels, at the sources' rate."""
        return fold(self.originals[name], channels, self.layout)

    def convert(self, names: Iterable[str], channels: int, rate: int) -> None:
        """Start making the buffers of ``names`` for ``channels`` channels at ``rate``, in the
        worker thread (a source asked for again is made anew). Buffers still being made for
        another channel count or rate are dropped."""
        if self._pending_for != (channels, rate):
            self.cancel()
        self._pending_for = (channels, rate)
        for name in names:
            if name in self._pending:
                _drop(self._pending.pop(name))
            data, layout, own_rate = self.originals[name], self.layout, self.rate
            cancel = threading.Event()
            future = _CONVERTER.submit(_converted, data, channels, layout, own_rate, rate,
                                       cancel)  # fmt: skip
            self._pending[name] = (future, cancel)

    @property
    def converting(self) -> int | None:
        """The rate of the buffers being made, or None."""
        return self._pending_for[1] if self._pending else None

    def converted(self) -> tuple[int, dict[str, np.ndarray]] | None:
        """The rate and the buffers being made, once all of them are (then they are no longer
        pending); None before. Raises what stopped making one (MemoryError, say)."""
        if not self._pending or not all(f.done() for f, _ in self._pending.values()):
            return None
        pending, self._pending = self._pending, {}
        return self._pending_for[1], {name: f.result() for name, (f, _) in pending.items()}

    def cancel(self) -> None:
        """Drop the buffers being made (one already being made stops within a block)."""
        for conversion in self._pending.values():
            _drop(conversion)
        self._pending = {}


def _drop(conversion: tuple[Future[np.ndarray], threading.Event]) -> None:
    """Stop making a buffer: never started, or stopped between blocks (its result unused)."""
    future, cancel = conversion
    cancel.set()
    future.cancel()


def _converted(data: np.ndarray, channels: int, layout: tuple[str, ...] | None, rate: int,
               new_rate: int, cancel: threading.Event) -> np.ndarray:  # fmt: skip
    return resample(fold(data, channels, layout), rate, new_rate, cancel)


def own(data: np.ndarray) -> np.ndarray:
    """``data`` as read-only float32 ``(frames, channels)`` that no one else can change: a
    read-only array as it is (a song's data), a writable one copied."""
    array = np.asarray(data, dtype=np.float32)
    if array.flags.writeable and np.may_share_memory(array, data):
        array = array.copy()
    array = array[:, None] if array.ndim == 1 else array
    array.flags.writeable = False
    return array
