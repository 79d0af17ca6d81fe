"""Work done off the window's thread, and what it makes handed back to the window's thread.

A worker thread never calls a widget nor emits a signal of one: the object that asked may be
deleted while the work goes on (a dialog closed, the window quit), and a signal emitted while
its object is deleted in another thread is memory already freed. Workers hand what they make
to one :class:`_Inbox`, made in the window's thread when this module is imported and never
deleted; the inbox passes it on in the window's thread to the method that asked for it, if
that method's object is still there. Methods are held weakly and work is given plain
functions, so no worker ever holds the last reference to a Qt object: none is deleted in a
worker thread.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot
from shiboken6 import Shiboken

T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="background")


class _Inbox(QObject):
    """Lives in the window's thread for the whole run of the app: what workers hand back
    arrives here, queued, and goes on to the method that asked for it."""

    arrived = Signal(object, object)  # the receiving method (weakly held), what it gets

    def __init__(self) -> None:
        super().__init__()
        self.running = 0  # futures of when_done not yet handed back
        # queued even from this thread: a future already done when when_done() is called
        # runs its callback at once, and ``then`` must not run before its caller has returned
        self.arrived.connect(self._pass_on, Qt.ConnectionType.QueuedConnection)

    @Slot(object, object)
    def _pass_on(self, receiver: weakref.WeakMethod, value: object) -> None:
        if isinstance(value, _Ended):
            self.running -= 1
            value = value.future
        method = receiver()
        if method is None or not Shiboken.isValid(method.__self__):
            return  # its object is gone: nobody is waiting for this any more
        method(value)


class _Ended:
    """A future of :func:`when_done`, as it is handed back."""

    def __init__(self, future: Future) -> None:
        self.future = future


_INBOX = _Inbox()


def receiver(method: Callable[[T], Any]) -> weakref.WeakMethod:
    """``method`` (bound to a Qt object) held weakly, for :func:`hand_back` from a worker.
    Make it in the window's thread, before the work starts."""
    return weakref.WeakMethod(method)


def hand_back(to: weakref.WeakMethod, value: object) -> None:
    """From any thread: call ``to``'s method with ``value`` in the window's thread (queued),
    unless its object has been deleted by then."""
    _INBOX.arrived.emit(to, value)


def throttled(
    report: Callable[[float, float | None], None], interval: float
) -> Callable[[float, float | None], None]:
    """A worker's progress callback ``(done, total)`` that passes on to ``report`` (which hands
    it back) at most one call each ``interval`` seconds, and always the last (``done >=
    total``): more would only keep the window's thread busy. ``total`` is None where it is not
    known, 1 where left out (``done`` a fraction, as ``core.audio.song.Progress`` tells it)."""
    last = [0.0]

    def progress(done: float, total: float | None = 1.0) -> None:
        now = time.monotonic()
        if now - last[0] >= interval or (total is not None and done >= total):
            last[0] = now
            report(done, total)

    return progress


def run_in_background(
    work: Callable[..., T],
    *args: object,
    then: Callable[[Future[T]], Any],
    pool: ThreadPoolExecutor | None = None,
) -> Future[T]:
    """Run ``work(*args)`` in a worker thread (of ``pool``, or one shared by the app), then
    ``then(future)`` in the window's thread (:func:`when_done`). ``work`` should be a plain
    function: a bound method of a Qt object would keep that object alive from the worker."""
    future = (pool or _POOL).submit(work, *args)
    when_done(future, then)
    return future


def when_done(future: Future[T], then: Callable[[Future[T]], Any]) -> None:
    """Once ``future`` is done, call ``then(future)`` in the window's thread, where
    ``future.result()`` gives what its work returned or raises what it raised; not if
    ``then``'s object has been deleted by then. Call it from the window's thread."""
    to = receiver(then)
    _INBOX.running += 1
    future.add_done_callback(lambda done: hand_back(to, _Ended(done)))


def running() -> int:
    """How many futures of :func:`when_done` (and so of :func:`run_in_background`) have not
    been handed back yet (tests wait for none)."""
    return _INBOX.running
