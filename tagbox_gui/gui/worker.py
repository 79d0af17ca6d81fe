"""Drives the engine generator in a QThread and turns what it yields into signals."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator

from PySide6.QtCore import QObject, QThread, Signal, Slot

from tagbox_gui.core.types import Command, CommandKind, RunResult, StepResult

EngineRun = Generator[StepResult, Command | None, RunResult]


class EngineWorker(QObject):
    """Runs one engine generator to its end; every signal carries the run id it belongs to.

    Pause is a wait on an Event between steps (the engine itself never blocks); stop sends
    ``Command(STOP)`` so the generator returns its best result.
    """

    step_done = Signal(int, object)  # run id, StepResult
    finished = Signal(int, object)  # run id, RunResult (None: stopped before the first step)
    failed = Signal(int, object)  # run id, Exception

    def __init__(self, run_id: int, start: Callable[[], EngineRun]) -> None:
        super().__init__()
        self.run_id = run_id
        self._start = start
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._commands: deque[Command] = deque()
        self._lock = threading.Lock()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()  # a paused worker must wake up to stop

    def send(self, command: Command) -> None:
        """Queue a command (SET_LR, PREVIEW) for the next step; thread-safe.

        A new SET_LR replaces one still queued (the engine takes one command per step, so
        several changes made while paused would otherwise be applied one step after another).
        """
        with self._lock:
            if command.kind is CommandKind.SET_LR:
                kept = [c for c in self._commands if c.kind is not CommandKind.SET_LR]
                self._commands = deque(kept)
            self._commands.append(command)

    def _next_command(self) -> Command | None:
        with self._lock:
            return self._commands.popleft() if self._commands else None

    @Slot()
    def run(self) -> None:
        try:
            result = self._drive()
        except Exception as exc:  # reported to the GUI as a dialog, never a crash
            self.failed.emit(self.run_id, exc)
        else:
            self.finished.emit(self.run_id, result)
        finally:
            QThread.currentThread().quit()  # from here: needs no event loop in the GUI thread

    def _drive(self) -> RunResult | None:
        gen = self._start()
        command: Command | None = None
        started = False
        try:
            while True:
                self._resume.wait()
                if self._stop.is_set():
                    if not started:
                        return None
                    command = Command(CommandKind.STOP)
                elif started:  # a fresh generator takes None
                    command = self._next_command()
                self.step_done.emit(self.run_id, gen.send(command))
                started, command = True, None
        except StopIteration as end:
            return end.value
        finally:
            gen.close()
