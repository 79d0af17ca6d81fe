"""Work off the window's thread (gui.background): what it makes comes back in the window's
thread, to objects that are still there, and no worker keeps a Qt object alive."""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import Future

import pytest
from PySide6.QtCore import QObject

from tagbox_gui.gui import background


class Asker(QObject):
    """Asks for work and notes, with the thread, what comes back."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[str, object]] = []

    def take(self, done: Future) -> None:
        try:
            value = done.result()
        except Exception as exc:
            value = exc
        self.got.append((threading.current_thread().name, value))

    def take_value(self, value: object) -> None:
        self.got.append((threading.current_thread().name, value))


def _fails() -> None:
    raise ValueError("no such thing")


def test_the_outcome_comes_back_in_the_windows_thread(qtbot) -> None:
    asker = Asker()
    background.run_in_background(sum, [1, 2, 3], then=asker.take)
    background.run_in_background(_fails, then=asker.take)
    qtbot.waitUntil(lambda: background.running() == 0, timeout=5000)
    assert len(asker.got) == 2
    assert {thread for thread, _ in asker.got} == {threading.main_thread().name}
    values = [value for _, value in asker.got]
    assert 6 in values
    assert any(isinstance(v, ValueError) and str(v) == "no such thing" for v in values)


def test_then_never_runs_before_its_caller_has_returned(qtbot) -> None:
    """Work that has ended by the time it is handed over (a file that fails at once) still
    comes back later, from the event loop: the caller has not yet noted what it asked."""
    asker = Asker()
    done: Future[int] = Future()
    done.set_result(7)
    background.when_done(done, asker.take)
    assert asker.got == []
    qtbot.waitUntil(lambda: background.running() == 0, timeout=5000)
    assert asker.got == [(threading.main_thread().name, 7)]


def test_a_worker_hands_values_back_one_by_one(qtbot) -> None:
    asker = Asker()
    to = background.receiver(asker.take_value)
    worker = threading.Thread(target=lambda: [background.hand_back(to, n) for n in range(3)])
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(asker.got) == 3, timeout=5000)
    assert asker.got == [(threading.main_thread().name, n) for n in range(3)]


def test_work_keeps_no_asker_alive_and_calls_none_that_is_gone(qtbot) -> None:
    """The asker (a dialog closed meanwhile, say) goes when the window's thread lets it go,
    not when the worker ends: so it is never deleted in a worker thread."""
    release = threading.Event()
    asker = Asker()
    gone = weakref.ref(asker)
    background.run_in_background(release.wait, 5.0, then=asker.take)
    del asker
    assert gone() is None  # nothing in the worker held it
    release.set()
    qtbot.waitUntil(lambda: background.running() == 0, timeout=5000)


def test_an_asker_whose_qt_object_was_deleted_is_not_called(qtbot) -> None:
    release = threading.Event()
    asker = Asker()
    background.run_in_background(release.wait, 5.0, then=asker.take)
    asker.deleteLater()
    qtbot.waitUntil(lambda: not _valid(asker), timeout=2000)
    release.set()
    qtbot.waitUntil(lambda: background.running() == 0, timeout=5000)
    assert asker.got == []


def test_a_method_of_a_plain_object_is_refused() -> None:
    """Only bound methods are held weakly; a lambda would die at once."""
    with pytest.raises(TypeError):
        background.receiver(lambda value: None)


def _valid(obj: QObject) -> bool:
    from shiboken6 import Shiboken

    return Shiboken.isValid(obj)
