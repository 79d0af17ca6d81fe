"""Owns the engine runs of the window: one current run, results of older runs dropped."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from tagbox_gui.core.types import Command
from tagbox_gui.gui.worker import EngineRun, EngineWorker

log = logging.getLogger(__name__)


class RunState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"


class RunController(QObject):
    """Starts, pauses and stops engine runs, each in its own QThread.

    Each run gets an id; signals from a worker whose id is not the current one (a run that was
    replaced or is still winding down) are dropped, so a late step can never land in a new
    run's plots. A thread and its worker are let go in exactly one place,
    :meth:`_on_thread_finished`, in the window's thread, once the thread has ended.
    """

    step_done = Signal(object)  # StepResult of the current run
    run_finished = Signal(object)  # RunResult, or None when stopped before the first step
    run_failed = Signal(object)  # the exception that ended the current run
    state_changed = Signal(object)  # RunState

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._run_id = 0
        self._state = RunState.IDLE
        self._threads: dict[QThread, EngineWorker] = {}
        self._current: EngineWorker | None = None

    @property
    def run_id(self) -> int:
        return self._run_id

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def busy(self) -> bool:
        """True while any worker thread (current or winding down) is alive."""
        return bool(self._threads)

    def start(self, start: Callable[[], EngineRun]) -> int:
        """Start a run from a generator factory (called in the worker thread); its run id."""
        if self._current is not None:
            self._current.stop()  # its remaining signals are dropped by id
        self._run_id += 1
        worker = EngineWorker(self._run_id, start)
        thread = QThread()
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.step_done.connect(self._on_worker_step_done)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        thread.finished.connect(self._on_thread_finished)
        self._threads[thread] = worker
        self._current = worker
        thread.start()
        self._set_state(RunState.RUNNING)
        return self._run_id

    def pause(self) -> None:
        if self._current is not None and self._state is RunState.RUNNING:
            self._current.pause()
            self._set_state(RunState.PAUSED)

    def resume(self) -> None:
        if self._current is not None and self._state is RunState.PAUSED:
            self._current.resume()
            self._set_state(RunState.RUNNING)

    def stop(self) -> None:
        """Ask the current run to stop after its step; it still reports its best result."""
        if self._current is not None and self._state in (RunState.RUNNING, RunState.PAUSED):
            self._current.stop()
            self._set_state(RunState.STOPPING)

    def send(self, command: Command) -> None:
        if self._current is not None:
            self._current.send(command)

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Stop every worker and wait for its thread (closeEvent); False if one did not end."""
        ok = True
        for thread, worker in list(self._threads.items()):
            worker.stop()
            thread.quit()
            ok = (thread.wait() if timeout_ms < 0 else thread.wait(timeout_ms)) and ok
        self._current = None
        self._set_state(RunState.IDLE)
        return ok

    def _set_state(self, state: RunState) -> None:
        if state is not self._state:
            self._state = state
            self.state_changed.emit(state)

    def _is_current(self, run_id: int) -> bool:
        return self._current is not None and run_id == self._current.run_id

    @Slot(int, object)
    def _on_worker_step_done(self, run_id: int, step: object) -> None:
        if self._is_current(run_id):
            self.step_done.emit(step)

    @Slot(int, object)
    def _on_worker_finished(self, run_id: int, result: object) -> None:
        if self._is_current(run_id):
            self._current = None
            self._set_state(RunState.IDLE)
            self.run_finished.emit(result)

    @Slot(int, object)
    def _on_worker_failed(self, run_id: int, error: object) -> None:
        log.error("run %d failed", run_id, exc_info=error)
        if self._is_current(run_id):
            self._current = None
            self._set_state(RunState.IDLE)
            self.run_failed.emit(error)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        if self._threads.pop(thread, None) is not None:  # type: ignore[call-overload]
            # Python owns the thread and its worker. Both are deleted here, in this thread,
            # once the thread has wholly ended (wait() lets go of the GIL while its last lines
            # run): a deleteLater() would have the ending thread delete the worker while this
            # one may be dropping the worker's last reference.
            thread.wait()
