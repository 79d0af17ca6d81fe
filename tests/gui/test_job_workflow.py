"""A job of several instruments as a musician lives it: a part that fails, the progress and
ETA, the stems' files and their drags."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from tagbox_gui.core.audio.song import analysis_span
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.widgets.transport import NO_RUN, NOTHING_KEPT, RUNNING
from tests.gui.fake_engine import fake_run, held_job_starts, held_runs
from tests.gui.window_helpers import drag_out, fake_clock, make_window, open_song, song_window


def _start_job(qtbot, window: MainWindow, *words: str, signal: str = "run_finished"):
    for word in words:
        window.picker.set_picked(word, True)
    with qtbot.waitSignal(getattr(window.controller, signal), timeout=20_000) as blocker:
        assert window.run_view.start() is not None
    return blocker.args[0]


def _names(window: MainWindow) -> list[str]:
    return [window.stems.item(i).text() for i in range(window.stems.count())]


def _job_whose_second_look_fails(qtbot, model_dir, settings, song_path, monkeypatch,
                                 error: Exception) -> MainWindow:  # fmt: skip
    """A finished job of drums and bass whose second look raised ``error``; the run panel
    says so, whatever the error's own words."""
    from tagbox_gui.core.separation import refine

    class Refinement:  # stands in for the learned separator's second look
        def __init__(self, song, firsts, cache) -> None:
            self.firsts = firsts

        def stem(self, name: str):
            raise error

    monkeypatch.setattr(refine, "Refinement", Refinement)
    monkeypatch.setattr(refine, "can_refine", lambda firsts: True)
    window = make_window(qtbot, model_dir, settings, backend="learned")
    open_song(qtbot, window, song_path)
    _start_job(qtbot, window, "drums", "bass", signal="run_finished")
    qtbot.wait(50)
    assert window.run_panel.status.text().startswith(
        "Separated drums, bass and the rest; the second look failed (out of memory), so the "
        "stems keep their first."
    )
    return window


def test_a_part_that_fails_keeps_the_instruments_that_finished(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    from tagbox_gui.gui import job_view

    shown: list[tuple] = []
    monkeypatch.setattr(job_view, "show_error", lambda *args, **kw: shown.append(args))
    window = song_window(qtbot, model_dir, settings, song_path, 3, backend="light")

    def engine_run(config, song, store, cache):  # piano runs out of memory at its 2nd step
        fail_at = 2 if config.tags == ("piano",) else None
        return fake_run(config, length=analysis_span(song, config.region)[1], fail_at=fail_at)

    window.run_view.engine_run = engine_run
    error = _start_job(qtbot, window, "drums", "piano", "guitar", signal="run_failed")
    qtbot.wait(50)
    assert _names(window) == ["My Song - drums", "My Song - no drums"]  # drums kept
    assert window.export_button.isEnabled() and window.exports.file_names() is not None
    panel = window.run_panel
    assert panel.status.text() == (
        "Separating piano failed: kept drums and the rest; piano, guitar not separated."
    )
    assert "▸" not in panel.parts.text() and "✓ drums" in panel.parts.text()
    assert panel.labels["eta"].text() == "–"
    ((_, shown_error, title),) = shown
    assert isinstance(shown_error, MemoryError) and title == "Separating piano failed"
    assert error.__cause__ is shown_error
    paths = window.stems.stem_files()  # the kept stems are real files, as after a Stop
    assert [p.name for p in paths] == ["My Song - drums.wav", "My Song - no drums.wav"]
    window.controller.shutdown(5000)


def test_a_part_that_fails_when_its_finished_parts_cannot_be_kept_says_both(
    qtbot, model_dir, settings, song_path, monkeypatch, caplog
) -> None:
    """Piano runs out of memory, and sharing the song among the stems of the parts that
    finished, to keep them, runs out of memory too: the window said only "The job failed; no
    stem was kept.", as if no part had failed on its own; it now says which part failed, that
    keeping the finished ones failed too, and why."""
    from tagbox_gui.core.separation import job
    from tagbox_gui.gui import job_view

    shown: list[tuple] = []
    monkeypatch.setattr(job_view, "show_error", lambda *args, **kw: shown.append(args))
    shared: list[int] = []

    def share(*args, **kw):
        shared.append(1)
        raise MemoryError("Unable to allocate 2.00 GiB for an array")

    monkeypatch.setattr(job, "share", share)
    window = song_window(qtbot, model_dir, settings, song_path, 3, backend="light")

    def engine_run(config, song, store, cache):  # piano runs out of memory at its 2nd step
        fail_at = 2 if config.tags == ("piano",) else None
        return fake_run(config, length=analysis_span(song, config.region)[1], fail_at=fail_at)

    window.run_view.engine_run = engine_run
    error = _start_job(qtbot, window, "drums", "piano", "guitar", signal="run_failed")
    qtbot.wait(50)
    assert shared == [1]
    assert window.run_panel.status.text() == (
        "Separating piano failed, and keeping drums failed too (out of memory); no stem was kept."
    )
    assert _names(window) == [] and not window.export_button.isEnabled()
    ((_, shown_error, title),) = shown  # the part's error, as when the others are kept
    assert isinstance(shown_error, MemoryError) and title == "Separating piano failed"
    assert error.__cause__ is shown_error
    assert "Unable to allocate 2.00 GiB" in caplog.text  # the sharing's error is logged too
    window.controller.shutdown(5000)


@pytest.mark.parametrize(("failing", "what"), [
    ("share", "Sharing the stems"), ("stem_levels", "Measuring the stems' levels"),
])  # fmt: skip
def test_a_failure_after_the_last_part_names_what_failed_and_keeps_the_parts(
    qtbot, model_dir, settings, song_path, monkeypatch, failing, what
) -> None:
    """Every part separated, sharing the song among their stems, or measuring the stems'
    levels, runs out of memory (a long song): the window says which, not that the last part
    failed, and keeps the parts (the sharing made again for them)."""
    from tagbox_gui.core.separation import job
    from tagbox_gui.gui import job_view

    shown: list[tuple] = []
    monkeypatch.setattr(job_view, "show_error", lambda *args, **kw: shown.append(args))
    calls: list[int] = []
    real = getattr(job, failing)

    def fails_once(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError
        return real(*args, **kw)

    monkeypatch.setattr(job, failing, fails_once)
    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    error = _start_job(qtbot, window, "drums", "piano", signal="run_failed")
    qtbot.wait(50)
    assert calls and window.run_panel.status.text() == (
        f"{what} failed: kept drums, piano and the rest."
    )
    assert _names(window) == ["My Song - drums", "My Song - piano", "My Song - no drums + piano"]
    ((_, shown_error, title),) = shown
    assert isinstance(shown_error, MemoryError) and title == f"{what} failed"
    assert error.__cause__ is shown_error
    window.controller.shutdown(5000)


def test_a_part_cut_short_by_memory_keeps_its_best_step_and_the_job_says_so(
    qtbot, model_dir, settings, song_path
) -> None:
    from dataclasses import replace

    window = song_window(qtbot, model_dir, settings, song_path, 3, backend="light")

    def engine_run(config, song, store, cache):  # piano's 3rd step runs out of memory
        result = yield from fake_run(config, length=analysis_span(song, config.region)[1])
        return (
            replace(result, cut_short_at=3, cut_short_by="ran out of memory")
            if config.tags == ("piano",)
            else result
        )

    window.run_view.engine_run = engine_run
    outcome = _start_job(qtbot, window, "drums", "piano")
    best = outcome.results["piano"].best_step
    assert window.run_panel.status.text() == (
        "Separated drums, piano and the rest. Step 3 of piano ran out of memory: its stem is "
        f"of step {best}, the best before it."
    )
    assert _names(window)[:2] == ["My Song - drums", "My Song - piano"]
    window.controller.shutdown(5000)


@pytest.mark.parametrize("words", [("drums", "piano", "guitar"), ("drums", "piano")])
def test_a_stop_during_a_steered_part_keeps_its_best_step_and_says_so(
    qtbot, model_dir, settings, song_path, words
) -> None:
    """Stop at piano's 2nd step of 20 ("Stopping after this step…") keeps the steps made, as a
    single run's Stop does: the job ends with drums and piano, the rest the song without
    them, and the panel says which were kept and that piano's stem is of its best step."""
    window = song_window(qtbot, model_dir, settings, song_path, 20, backend="light", delay=0.02)
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails

    def on_event(update) -> None:
        event = update.event if update is not None else None
        if event is not None and event.name == "piano" and getattr(event.step, "step", 0) == 2:
            window.run_view.stop()

    window.controller.step_done.connect(on_event)
    outcome = _start_job(qtbot, window, *words)
    qtbot.wait(50)
    piano = outcome.results["piano"]
    assert outcome.stopped and list(outcome.results) == ["drums", "piano"]
    assert piano.stopped and 2 <= piano.steps_done < 20  # the step under way is made too
    assert _names(window) == ["My Song - drums", "My Song - piano", "My Song - no drums + piano"]
    left = "; guitar not separated." if "guitar" in words else "."
    assert window.run_panel.status.text() == (
        f"Stopped: kept drums, piano and the rest{left} Of the 20 steps of piano, "
        f"{piano.steps_done} were made: its stem is of step {piano.best_step}, the best of them."
    )
    assert "✓ piano" in window.run_panel.parts.text()
    window.controller.shutdown(5000)


def test_a_first_part_that_fails_says_which_and_keeps_nothing(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    from tagbox_gui.gui import job_view

    monkeypatch.setattr(job_view, "show_error", lambda *args, **kw: None)
    window = make_window(qtbot, model_dir, settings, backend="light", fail_at=2)
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(3)
    _start_job(qtbot, window, "drums", "piano", signal="run_failed")
    qtbot.wait(50)
    assert window.run_panel.status.text() == "Separating drums failed; nothing was separated."
    assert "▸" not in window.run_panel.parts.text()
    assert window.stems.count() == 0 and not window.export_button.isEnabled()
    assert "Pick" not in window.audition.memory.text()  # no stem to pick under Stems
    window.controller.shutdown(5000)


def test_a_second_look_that_fails_keeps_every_stem_as_first_separated(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    window = _job_whose_second_look_fails(qtbot, model_dir, settings, song_path, monkeypatch,
                                          MemoryError("out of memory"))  # fmt: skip
    assert _names(window) == ["My Song - drums", "My Song - bass", "My Song - no drums + bass"]
    assert "second look" not in window.run_view.jobs.provenance()["drums"]
    window.controller.shutdown(5000)


CUDA_OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 7.79 GiB of "
    "which 1.02 GiB is free. Including non-PyTorch memory, this process has 6.75 GiB memory in "
    "use. Of the allocated memory 6.20 GiB is allocated by PyTorch, and 0.31 GiB is reserved by "
    "PyTorch but unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation."
)


def test_a_second_look_out_of_gpu_memory_says_so_in_a_few_words(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    window = _job_whose_second_look_fails(qtbot, model_dir, settings, song_path, monkeypatch,
                                          RuntimeError(CUDA_OOM))  # fmt: skip
    assert "PYTORCH" not in window.run_panel.status.text()
    window.controller.shutdown(5000)


def test_the_eta_of_a_job_counts_neither_its_checks_nor_loading_the_models(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    import time

    from tagbox_gui.core.separation import job

    check = job.check_parts
    monkeypatch.setattr(job, "check_parts", lambda *a: time.sleep(0.5) or check(*a))
    window = make_window(qtbot, model_dir, settings, backend="light")

    def engine_run(config, song, store, cache):
        def run():
            time.sleep(0.5)  # the run loads its models before its first step
            length = analysis_span(song, config.region)[1]
            return (yield from fake_run(config, length=length, delay=0.01))

        return run()

    window.run_view.engine_run = engine_run
    open_song(qtbot, window, song_path)
    panel = window.run_panel
    combo = window.settings_panel.backend
    seen: dict[str, float] = {}  # each job's time per unit once its first unit is done

    def on_event(update) -> None:  # after the job's view has shown the update
        if panel.clock.step >= 1 and combo.currentData() not in seen:
            seen[combo.currentData()] = panel.clock.per_step
            window.run_view.stop()

    window.controller.step_done.connect(on_event)
    for backend, steps, caption in (("learned", 0, "Passes"), ("light", 200, "Steps")):
        combo.setCurrentIndex(combo.findData(backend))
        window.settings_panel.steps.setValue(steps)
        for word in ("drums", "piano"):
            window.picker.set_picked(word, True)
        assert window.run_view.start() is not None
        qtbot.waitUntil(lambda: window.controller.state.value == "idle", timeout=10_000)
        assert panel._captions["step"].text() == caption
        # the first unit's own 0.01 s, not the checks' nor the loading's 0.5 s
        assert seen[backend] < 0.3, (backend, seen)
    window.controller.shutdown(5000)


def test_the_eta_of_a_jobs_later_part_counts_not_loading_its_models(
    qtbot, model_dir, settings, song_path
) -> None:
    """Each steered part loads its models (1 s here) before its first step: the time per step
    after piano's first step is the steps' own, not that second as well."""
    import time

    window = song_window(qtbot, model_dir, settings, song_path, 10, backend="light")
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails

    def engine_run(config, song, store, cache):
        time.sleep(1.0)  # the run loads its models before its first step
        return fake_run(config, length=analysis_span(song, config.region)[1], delay=0.01)

    window.run_view.engine_run = engine_run
    panel, per_step = window.run_panel, []

    def on_event(update) -> None:  # after the job's view has shown the update
        event = update.event if update is not None else None
        if event is None or event.name != "piano":
            return
        if event.began:  # the time per step of drums' steps
            per_step.append(panel.clock.per_step)
        elif getattr(event.step, "step", 0) == 1:
            per_step.append(panel.clock.per_step)
            window.run_view.stop()

    window.controller.step_done.connect(on_event)
    _start_job(qtbot, window, "drums", "piano")
    before, after = per_step
    # the smoothed time per step moves a fifth of the way to piano's first step's time: 0.01 s
    # (+0.002), not the second of loading as well (+0.2)
    assert after < 0.8 * before + 0.1, per_step
    window.controller.shutdown(5000)


def test_the_eta_of_a_one_pass_job_counts_not_loading_each_parts_models(
    qtbot, model_dir, settings, song_path
) -> None:
    """Each part separated in one pass loads its models (1 s here) before its pass of 0.01 s:
    the time per stem and the ETA after each part are the passes' own, as a steered part's."""
    import time

    window = song_window(qtbot, model_dir, settings, song_path, 0, backend="learned")
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails

    def engine_run(config, song, store, cache):
        time.sleep(1.0)  # the run loads its models before its pass
        return fake_run(config, length=analysis_span(song, config.region)[1], delay=0.01)

    window.run_view.engine_run = engine_run
    panel, seen = window.run_panel, {}

    def on_event(update) -> None:  # after the job's view has shown the update
        event = update.event if update is not None else None
        if event is not None and event.result is not None:
            seen[event.name] = (panel.clock.per_step, panel.clock.eta)
            if event.name == "piano":
                window.run_view.stop()

    window.controller.step_done.connect(on_event)
    _start_job(qtbot, window, "drums", "piano")
    assert panel._captions["step"].text() == "Passes"
    assert set(seen) == {"drums", "piano"}, seen
    for name, (per_step, eta) in seen.items():
        assert per_step < 0.1 and eta < 0.1, (name, seen)  # not the second of loading
    window.controller.shutdown(5000)


def test_the_stems_of_a_job_replaced_or_closed_leave_no_files_unless_dragged(
    qtbot, model_dir, settings, song_path, tmp_path
) -> None:
    window = make_window(qtbot, model_dir, settings, backend="light")
    window.stems._export_root = tmp_path / "temp"  # where the drags' files are written
    window.stems._export_root.mkdir()
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(2)
    folders = []
    for words in (("drums", "piano"), (), ()):  # three jobs on the same song
        with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=20_000):
            _start_job(qtbot, window, *words)  # each plays its first stem, from its file
        folders.append(window.stems.stem_files()[0].parent)
        if len(folders) == 1:  # the first job's drums are dragged into a DAW
            drag_out(window.stems, 0, Qt.DropAction.CopyAction)
    qtbot.waitUntil(lambda: not folders[1].exists(), timeout=5000)  # replaced, never dragged
    assert (folders[0] / "My Song - drums.wav").is_file()
    window.close()
    qtbot.waitUntil(lambda: not folders[2].exists(), timeout=5000)
    assert list(folders[0].parent.iterdir()) == [folders[0]]


def test_the_time_per_stem_of_a_second_look_counts_not_setting_it_up(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    """The second look is set up (2 s here) before its first stem's look (0.05 s): the time per
    stem after that look is the look's own, as a part's is without loading its models."""
    from tagbox_gui.core.separation import refine
    from tagbox_gui.gui.widgets import run_panel

    now = fake_clock(monkeypatch, run_panel)  # the run's clock: the second look alone moves it
    parts_shown = threading.Event()  # the window has taken the last part's end

    class Refinement:  # a second look slow to set up, quick at each stem
        def __init__(self, song, firsts, cache) -> None:
            parts_shown.wait(10)  # else the setting up may be over before the window sees that
            now[0] += 2.0
            self.firsts = firsts

        def stem(self, name: str):
            now[0] += 0.05
            yield  # after a segment
            return self.firsts[name]

    monkeypatch.setattr(refine, "Refinement", Refinement)
    monkeypatch.setattr(refine, "can_refine", lambda firsts: True)
    window = make_window(qtbot, model_dir, settings, backend="learned")
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails
    open_song(qtbot, window, song_path)
    clock, seen = window.run_panel.clock, []

    def on_event(update) -> None:  # after the job's view has shown the update
        if update is None:
            return
        if update.event.refining:
            seen.append(clock.per_step)
        elif update.event.result is not None and update.event.index == 1:
            parts_shown.set()

    window.controller.step_done.connect(on_event)
    _start_job(qtbot, window, "drums", "bass")
    before, after = seen  # at the first look's start, and once it is done
    # the smoothed time per stem moves a fifth of the way to the look's time: 0.05 s, not 2 s
    assert after < 0.8 * before + 0.2, seen
    window.controller.shutdown(5000)


def test_a_second_look_stopped_does_not_show_the_job_done(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    import time

    from tagbox_gui.core.separation import refine

    class Refinement:  # a slow second look, stopped during the first stem's
        def __init__(self, song, firsts, cache) -> None:
            self.firsts = firsts

        def stem(self, name: str):
            time.sleep(0.3)
            yield  # after a segment
            return self.firsts[name]

    monkeypatch.setattr(refine, "Refinement", Refinement)
    monkeypatch.setattr(refine, "can_refine", lambda firsts: True)
    window = make_window(qtbot, model_dir, settings, backend="learned")
    open_song(qtbot, window, song_path)

    def on_event(update) -> None:
        if update is not None and update.event.refining:
            window.run_view.stop()

    window.controller.step_done.connect(on_event)
    outcome = _start_job(qtbot, window, "drums", "bass", "piano")
    assert not outcome.refined and list(outcome.results) == ["drums", "bass", "piano"]
    panel = window.run_panel
    assert panel.status.text().startswith("Separated drums, bass, piano and the rest; the second")
    assert panel.progress.value() < panel.progress.maximum() == 6  # 3 passes, 3 looks asked
    assert panel.labels["step"].text() != "6 / 6" and panel.labels["eta"].text() == "–"
    window.controller.shutdown(5000)


def test_a_learning_rate_set_during_a_job_holds_for_its_later_parts(
    qtbot, model_dir, settings, song_path
) -> None:
    window = make_window(qtbot, model_dir, settings, backend="light", delay=0.02)
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(6)
    assert window.settings_panel.settings().lr != 0.5
    rates: list[tuple[str, float]] = []

    def on_event(update) -> None:
        if update is not None and update.event.step is not None:
            rates.append((update.event.name, update.event.step.lr))
            if len(rates) == 2:
                window.settings_panel.lr.setValue(0.5)  # "from the next step", the bar says

    window.controller.step_done.connect(on_event)
    _start_job(qtbot, window, "drums", "piano")
    assert rates[-7] == ("drums", 0.5)  # from a step after the change
    assert {(name, lr) for name, lr in rates[-6:]} == {("piano", 0.5)}  # not the job's first
    made = window.run_view.jobs.provenance()  # each stem's best (last) step was made at 0.5
    assert made["drums"]["learning rate"] == made["piano"]["learning rate"] == "0.5"
    window.controller.shutdown(5000)


@pytest.mark.parametrize("ending", ["stopped", "failed"])
def test_a_job_that_ends_with_no_stem_plays_the_song_not_the_last_jobs_stem(
    qtbot, model_dir, settings, song_path, monkeypatch, ending
) -> None:
    from tagbox_gui.gui import job_view

    monkeypatch.setattr(job_view, "show_error", lambda *args, **kw: None)
    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    transport = window.audition.transport
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=20_000):
        _start_job(qtbot, window, "drums", "piano")
    said = window.statusBar().currentMessage()  # what the two buttons play, not all that was done
    assert said == "Separated: My Song - drums; Residual: the song without it"
    transport.seek(12.0)
    transport.toggle()
    gate = held_job_starts(monkeypatch)

    def engine_run(config, song, store, cache):  # the next job: failing at its first step
        length = analysis_span(song, config.region)[1]
        return fake_run(config, length=length, fail_at=1 if ending == "failed" else None)

    window.run_view.engine_run = engine_run
    signal = window.controller.run_finished if ending == "stopped" else window.controller.run_failed
    with qtbot.waitSignal(signal, timeout=20_000):
        assert window.run_view.start() is not None
        if ending == "stopped":
            window.run_view.stop()  # before its first part begins
        gate.set()
    assert window.stems.count() == 0  # no stem is listed: none is offered to listen to
    assert transport.player.sources == ("mix",) and transport.player.playing
    assert transport.position == pytest.approx(12.0, abs=0.1)
    transport.player.close()
    window.controller.shutdown(5000)


@pytest.mark.parametrize("next_run", ["job", "one pass"])
def test_a_new_run_plays_the_song_not_the_last_jobs_stems_until_it_has_its_own(
    qtbot, model_dir, settings, song_path, next_run
) -> None:
    """The Stems list is emptied as a job or a single run starts: the transport leaves the
    last job's stems with it, playing the song's mix on (Separated and Residual off) until
    the new run has a stem to hear."""
    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    transport = window.audition.transport
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=20_000):
        _start_job(qtbot, window, "drums", "piano")
    assert transport.player.sources == ("mix", "separated", "residual")
    transport.seek(12.0)
    transport.toggle()
    gate = held_runs(window)  # the next run waits, as it would loading its models
    if next_run == "one pass":
        window.picker.set_picked("piano", False)
        combo = window.settings_panel.backend
        combo.setCurrentIndex(combo.findData("learned"))
        window.settings_panel.steps.setValue(0)
    assert window.run_view.start() is not None
    assert window.run_view.job_active is (next_run == "job")
    assert window.stems.count() == 0
    assert transport.player.sources == ("mix",) and transport.player.playing
    assert not transport.source_buttons["separated"].isEnabled()
    assert not transport.source_buttons["residual"].isEnabled()
    assert transport.source_buttons["separated"].toolTip() == RUNNING  # not "No run yet"
    assert transport.position == pytest.approx(12.0, abs=0.1)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        gate.set()
    transport.player.close()
    window.controller.shutdown(5000)


def test_closing_during_a_job_goes_at_once_and_waits_for_the_part_out_of_sight(
    qtbot, model_dir, settings, song_path
) -> None:
    import time

    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    busy = threading.Event()

    def engine_run(config, song, store, cache):  # a part that takes a while to end
        def run():
            busy.set()
            time.sleep(1.0)
            return (yield from fake_run(config, length=analysis_span(song, config.region)[1]))

        return run()

    window.run_view.engine_run = engine_run
    for word in ("drums", "piano"):
        window.picker.set_picked(word, True)
    assert window.run_view.start() is not None
    assert busy.wait(10)
    seen: list[bool] = []
    shutdown = window.controller.shutdown
    window.controller.shutdown = lambda *a: seen.append(window.isVisible()) or shutdown(*a)
    window.confirm_quit = lambda: True
    assert window.close()
    assert seen == [False]  # hidden while the part ends: not a frozen window on screen
    assert settings.window_state("geometry") is not None  # the layout as it was shown


def test_the_hint_under_the_transport_offers_only_the_stems_listed(
    qtbot, model_dir, settings, song_path
) -> None:
    """Until the job ends its Stems list is empty: the hint under the transport does not ask
    to pick one there; a job stopped during its second part offers the stems it kept, not
    all."""
    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails
    gate = held_runs(window, ("piano",))  # piano waits until the test lets it go
    memory = window.audition.memory
    for word in ("drums", "piano", "guitar"):
        window.picker.set_picked(word, True)
    assert window.run_view.start() is not None
    qtbot.waitUntil(lambda: window.run_view.jobs.done == ["drums"], timeout=10_000)
    assert window.stems.count() == 0
    assert "Pick" not in memory.text() and "Stems" in memory.text(), memory.text()
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        window.run_view.stop()
        gate.set()
    assert _names(window) == ["My Song - drums", "My Song - piano", "My Song - no drums + piano"]
    assert memory.text().startswith("Pick one of the 2 instruments under Stems"), memory.text()
    window.controller.shutdown(5000)


def test_a_job_refused_before_it_began_marks_no_instrument_as_separating(
    qtbot, model_dir, settings, tmp_path, monkeypatch
) -> None:
    """An example clip that is silent is refused before any part runs: no instrument is left
    marked as being separated, and the panel says that nothing was."""
    import soundfile as sf

    from tagbox_gui.core.types import Region
    from tagbox_gui.gui import job_view
    from tests.gui.fake_engine import write_song
    from tests.gui.window_helpers import add_example

    shown: list[BaseException] = []
    monkeypatch.setattr(job_view, "show_error", lambda parent, error, *a, **k: shown.append(error))
    path = write_song(tmp_path / "My Song.wav")
    data, rate = sf.read(str(path), always_2d=True)
    data[: 3 * rate] = 0  # silence for the first 3 s
    sf.write(str(path), data, rate, subtype="PCM_24")
    window = make_window(qtbot, model_dir, settings, backend="learned")
    open_song(qtbot, window, path)
    window.song_panel.set_region(Region(0.5, 2.5))
    add_example(window, "lead")
    window.picker.set_picked("drums", True)
    with qtbot.waitSignal(window.controller.run_failed, timeout=20_000):
        assert window.run_view.start() is not None
    panel = window.run_panel
    assert "▸" not in panel.parts.text() and "○ lead" in panel.parts.text()
    assert panel.status.text() == "The job failed before any instrument was separated."
    assert len(shown) == 1 and "silent" in str(shown[0])
    window.controller.shutdown(5000)


def test_a_silent_example_is_said_to_be_the_example_of_its_stem(
    qtbot, model_dir, settings, tmp_path
) -> None:
    """A job asks for several instruments, each by its own example: the one that is refused
    for being silent is named (as the window names it), in a job and in a run of one stem; an
    example the musician named "example" is not taken for the region used as the example."""
    import soundfile as sf

    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.types import Region
    from tests.gui.fake_engine import write_song
    from tests.gui.window_helpers import add_example, message_boxes

    path = write_song(tmp_path / "My Song.wav")
    data, rate = sf.read(str(path), always_2d=True)
    data[: 3 * rate] = 0  # silence for the first 3 s
    sf.write(str(path), data, rate, subtype="PCM_24")
    window = make_window(qtbot, model_dir, settings, backend="learned")
    window.run_view.engine_run = engine.run  # a run of one stem is checked as it starts
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, path)
    for name, region in (("organ", Region(10.0, 12.0)), ("lead", Region(0.5, 2.5)),
                         ("example", Region(0.5, 2.5))):  # fmt: skip
        window.song_panel.set_region(region)
        add_example(window, name)
    picked = window.picker.picks()
    silent = "0.5–2.5 s of the song, is silent; choose a stretch where the instrument plays."
    for parts, whose in (("organ, lead", "The example of lead"), ("lead", "The example of lead"),
                         ("example", "The example of example"),
                         ("region", "The region used as the example")):  # fmt: skip
        if parts == "organ, lead":
            window.picker.set_picks([p for p in picked if p.name in ("organ", "lead")])
        elif parts in ("lead", "example"):  # one stem: a run, not a job
            window.picker.set_picks([p for p in picked if p.name == parts])
        else:  # "Use the region as the example": its stem is "example" too
            window.picker.set_picks([])
            window.song_panel.set_region(Region(0.5, 2.5))
            window.song_panel.as_example.setChecked(True)
            parts = "example"
        assert ", ".join(p.name for p in window.run_view.parts()) == parts
        with qtbot.waitSignal(window.controller.run_failed, timeout=20_000):
            assert window.run_view.start() is not None
        qtbot.waitUntil(lambda: bool(message_boxes()), timeout=2000)
        box = message_boxes()[-1]
        assert box.text() == f"{whose}, {silent}"
        box.close()
        qtbot.waitUntil(lambda: not message_boxes(), timeout=2000)
    window.controller.shutdown(5000)


def test_a_job_stopping_says_so_until_it_has_stopped(qtbot, model_dir, settings, song_path) -> None:
    """A step that arrives after Stop (the part was making it) does not put "Separating drums
    (1 of 2)…" back in place of "Stopping…"."""
    window = song_window(qtbot, model_dir, settings, song_path, 4, backend="light", delay=0.3)
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails
    panel, said = window.run_panel, []

    def on_event(update) -> None:  # after the job's view has shown the update
        if window.controller.state.value == "stopping":
            said.append(panel.status.text())
        elif update is not None and update.event.step is not None:
            window.run_view.stop()  # while the part makes its next step

    window.controller.step_done.connect(on_event)
    for word in ("drums", "piano"):
        window.picker.set_picked(word, True)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000) as blocker:
        assert window.run_view.start() is not None
    assert said and set(said) == {"Stopping after this step…"}
    drums = blocker.args[0].results["drums"]  # the step under way was made, and kept
    assert panel.status.text() == (
        "Stopped: kept drums and the rest; piano not separated. Of the 4 steps of drums, "
        f"{drums.steps_done} were made: its stem is of step {drums.best_step}, the best of them."
    )
    window.controller.shutdown(5000)


def test_a_steered_job_of_the_learned_separator_counts_its_second_look_in_the_open(
    qtbot, model_dir, settings, song_path
) -> None:
    """5 steps for each of 2 instruments, then a second look at each: the count says 12, and
    its tooltip says what the 2 beyond the steps are (it said "Steps of all 2 instruments")."""
    window = song_window(qtbot, model_dir, settings, song_path, 5, backend="learned")
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails
    gate = held_runs(window)
    for word in ("drums", "piano"):
        window.picker.set_picked(word, True)
    assert window.run_view.start() is not None
    caption = window.run_panel._captions["step"]
    assert window.run_panel.progress.maximum() == 12 and caption.text() == "Steps"
    assert caption.toolTip() == (
        "Steps of all 2 instruments, then a second look at each once all are separated: 12 in all"
    )
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        gate.set()
    window.controller.shutdown(5000)


def test_separated_and_residual_say_why_they_are_off_during_a_first_run_and_after_none(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    """Before any run they say there was none; while the first runs, that it is going on;
    after a job that kept nothing, that it kept nothing."""
    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    separated = window.audition.transport.source_buttons["separated"]
    assert separated.toolTip() == NO_RUN
    gate = held_job_starts(monkeypatch)
    for word in ("drums", "piano"):
        window.picker.set_picked(word, True)
    assert window.run_view.start() is not None
    assert separated.toolTip() == RUNNING
    window.run_view.stop()  # before any part begins: nothing kept
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        gate.set()
    assert window.stems.count() == 0 and not separated.isEnabled()
    assert separated.toolTip() == NOTHING_KEPT
    window.controller.shutdown(5000)
