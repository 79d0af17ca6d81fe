"""The worker and the run controller: real QThreads, real signals, a fake engine."""

from __future__ import annotations

import threading

import pytest

from tagbox_gui.core.types import Command, CommandKind, RunConfig
from tagbox_gui.gui.controller import RunController, RunState
from tests.gui.fake_engine import fake_run, held_step


@pytest.fixture
def controller(qtbot):
    ctl = RunController()
    yield ctl
    assert ctl.shutdown(5000)


def _collect(ctl: RunController) -> list:
    steps: list = []
    ctl.step_done.connect(steps.append)
    return steps


def _start_long_run(qtbot, ctl: RunController) -> tuple[list, list[Command]]:
    """A 400-step run at lr 5 that takes its time; returns once two steps have arrived."""
    steps, received = _collect(ctl), []
    config = RunConfig(tags=("piano",), steps=400, lr=5.0, preview_every=1000)
    ctl.start(lambda: fake_run(config, delay=0.005, received=received))
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=3000)
    return steps, received


def test_runs_to_the_end(qtbot, controller) -> None:
    steps = _collect(controller)
    config = RunConfig(tags=("piano",), steps=12, preview_every=4)
    with qtbot.waitSignal(controller.run_finished, timeout=5000) as blocker:
        controller.start(lambda: fake_run(config))
    result = blocker.args[0]
    assert [s.step for s in steps] == list(range(1, 13))
    assert [s.step for s in steps if s.preview is not None] == [4, 8, 12]
    assert result.steps_done == 12 and not result.stopped and result.best_step == 12
    assert controller.state is RunState.IDLE
    qtbot.waitUntil(lambda: not controller.busy, timeout=2000)  # thread deleted


def test_pause_holds_between_steps_and_resume_continues(qtbot, controller) -> None:
    steps = _collect(controller)
    config = RunConfig(tags=("piano",), steps=30)
    reached, gate, loss = held_step(3)
    controller.start(lambda: fake_run(config, delay=0.01, loss=loss))
    qtbot.waitUntil(reached.is_set, timeout=3000)
    controller.pause()  # while step 3 is in flight
    assert controller.state is RunState.PAUSED
    gate.set()
    qtbot.waitUntil(lambda: len(steps) == 3, timeout=3000)  # the step in flight lands
    qtbot.wait(300)
    assert len(steps) == 3  # and no later one starts while paused
    with qtbot.waitSignal(controller.run_finished, timeout=5000):
        controller.resume()
    assert [s.step for s in steps] == list(range(1, 31))


def test_stop_returns_the_best_result_so_far(qtbot, controller) -> None:
    steps = _collect(controller)
    config = RunConfig(tags=("piano",), steps=1000)
    controller.start(lambda: fake_run(config, delay=0.005))
    qtbot.waitUntil(lambda: len(steps) >= 5, timeout=3000)
    with qtbot.waitSignal(controller.run_finished, timeout=5000) as blocker:
        controller.stop()
        assert controller.state is RunState.STOPPING
    result = blocker.args[0]
    assert result.stopped and result.steps_done == len(steps) < 1000
    assert result.best_step == steps[-1].step  # the fake's loss falls every step
    assert result.estimate is not None


def test_stop_while_paused(qtbot, controller) -> None:
    steps = _collect(controller)
    controller.start(lambda: fake_run(RunConfig(tags=("piano",), steps=500), delay=0.005))
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=3000)
    controller.pause()
    with qtbot.waitSignal(controller.run_finished, timeout=5000) as blocker:
        controller.stop()
    assert blocker.args[0].stopped


def test_stop_before_the_first_step_finishes_with_none(qtbot, controller) -> None:
    gate = threading.Event()

    def start():
        gate.wait(5)  # the factory runs in the worker thread: hold it until stop was asked
        return fake_run(RunConfig(tags=("piano",), steps=10))

    with qtbot.waitSignal(controller.run_finished, timeout=5000) as blocker:
        controller.start(start)
        controller.stop()
        gate.set()
    assert blocker.args[0] is None


def test_failure_becomes_a_signal(qtbot, controller) -> None:
    steps = _collect(controller)
    config = RunConfig(tags=("piano",), steps=10)
    with qtbot.waitSignal(controller.run_failed, timeout=5000) as blocker:
        controller.start(lambda: fake_run(config, fail_at=4))
    assert isinstance(blocker.args[0], MemoryError)
    assert [s.step for s in steps] == [1, 2, 3]
    assert controller.state is RunState.IDLE


def test_commands_reach_the_generator(qtbot, controller) -> None:
    steps, received = _start_long_run(qtbot, controller)
    controller.send(Command(CommandKind.SET_LR, 0.5))
    controller.send(Command(CommandKind.PREVIEW))
    qtbot.waitUntil(lambda: any(s.preview is not None for s in steps), timeout=3000)
    with qtbot.waitSignal(controller.run_finished, timeout=5000):
        controller.stop()
    assert [c.kind for c in received] == [CommandKind.SET_LR, CommandKind.PREVIEW, CommandKind.STOP]
    assert steps[0].lr == 5.0 and steps[-1].lr == 0.5


def test_only_the_newest_learning_rate_queued_while_paused_counts(qtbot, controller) -> None:
    steps, received = _start_long_run(qtbot, controller)
    controller.pause()
    qtbot.wait(100)  # the step in flight lands
    held = len(steps)
    for lr in (1.0, 2.0, 0.25):
        controller.send(Command(CommandKind.SET_LR, lr))
    controller.send(Command(CommandKind.PREVIEW))
    controller.resume()
    qtbot.waitUntil(lambda: len(steps) >= held + 3, timeout=3000)
    with qtbot.waitSignal(controller.run_finished, timeout=5000):
        controller.stop()
    assert [(c.kind, c.value) for c in received[:2]] == [
        (CommandKind.SET_LR, 0.25),
        (CommandKind.PREVIEW, None),
    ]
    assert {s.lr for s in steps[:held]} == {5.0}
    assert [s.lr for s in steps[held:]] == [0.25] * (len(steps) - held)  # no 1.0 or 2.0


def test_a_new_run_drops_the_old_runs_results(qtbot, controller) -> None:
    steps = _collect(controller)
    finished: list = []
    controller.run_finished.connect(finished.append)
    slow = RunConfig(tags=("piano",), steps=1000)
    first = controller.start(lambda: fake_run(slow, delay=0.005, tag=100.0))
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=3000)
    config = RunConfig(tags=("piano",), steps=20)
    with qtbot.waitSignal(controller.run_finished, timeout=5000) as blocker:
        second = controller.start(lambda: fake_run(config, delay=0.002))
        mark = len(steps)
    assert second == first + 1
    later = steps[mark:]
    assert [s.step for s in later] == list(range(1, 21))  # none from the first run
    assert all(s.total < 100 for s in later)
    assert finished == [blocker.args[0]] and not blocker.args[0].stopped
    qtbot.waitUntil(lambda: not controller.busy, timeout=3000)  # both threads gone


def test_shutdown_waits_for_a_running_worker(qtbot) -> None:
    ctl = RunController()
    steps = _collect(ctl)
    ctl.start(lambda: fake_run(RunConfig(tags=("piano",), steps=10_000), delay=0.005))
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=3000)
    thread = next(iter(ctl._threads))
    assert ctl.shutdown(5000)
    assert thread.isFinished()
    assert ctl.state is RunState.IDLE


def test_a_thread_is_let_go_only_once_it_has_wholly_ended(qtbot, controller) -> None:
    """Qt emits a thread's ``finished`` while the thread is still ending. The controller must
    not let the thread and its worker go (Python deletes them in this thread) before it has
    ended: here the thread spends 0.3 s more on its way out."""
    import time

    from PySide6.QtCore import Qt, QTimer

    said: list[str] = []

    def last_lines() -> None:  # run by the ending thread itself (a direct connection)
        time.sleep(0.3)
        said.append("thread ended")

    def look() -> None:
        if not controller.busy and "let go" not in said:
            said.append("let go")

    poll = QTimer(interval=1, timeout=look)
    config = RunConfig(tags=("piano",), steps=2)
    with qtbot.waitSignal(controller.run_finished, timeout=5000):
        controller.start(lambda: fake_run(config, delay=0.2))  # time to connect below
        thread = next(iter(controller._threads))
        thread.finished.connect(last_lines, Qt.ConnectionType.DirectConnection)
        poll.start()
    qtbot.waitUntil(lambda: "let go" in said, timeout=3000)
    poll.stop()
    assert said == ["thread ended", "let go"]
