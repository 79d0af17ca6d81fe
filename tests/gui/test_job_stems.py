"""The stems of a finished job as the window shows them: each stem's mask, the quit question,
and the files written to hear them."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from tagbox_gui.core.audio.song import analysis_span
from tagbox_gui.core.dsp.display import mask_image
from tagbox_gui.gui.main_window import MainWindow
from tests.gui.fake_engine import fake_run, held_runs, write_song
from tests.gui.window_helpers import (
    answer_questions,
    make_window,
    next_frame,
    open_song,
    song_window,
)

STEPS = {("drums",): 2, ("piano",): 6}  # the fake engine's mask is its best step / 100


def _job_window(qtbot, model_dir, settings, song_path, before=None,
                words=("drums", "piano")) -> MainWindow:  # fmt: skip
    """A window whose job of ``words`` has finished, the first stem heard; the drums' mask
    differs from the piano's. ``before(window)`` is called before the job starts."""
    window = make_window(qtbot, model_dir, settings, backend="light")
    if before is not None:
        before(window)
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(2)

    def engine_run(config, song, store, cache):
        config = dataclasses.replace(config, steps=STEPS.get(config.tags, 2))
        return fake_run(config, length=analysis_span(song, config.region)[1])

    window.run_view.engine_run = engine_run
    for word in words:
        window.picker.set_picked(word, True)
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=20_000):
        assert window.run_view.start() is not None
    return window


def test_selecting_a_stem_shows_its_own_mask(qtbot, model_dir, settings, song_path) -> None:
    window = _job_window(qtbot, model_dir, settings, song_path)
    shown: list[np.ndarray] = []
    window.live.show_mask = lambda image, region: shown.append(image)
    estimates = window.run_view.jobs.shared()
    drums, piano = (mask_image(estimates[name]) for name in ("drums", "piano"))
    assert not np.allclose(drums, piano)
    for row, expected in ((1, piano), (0, drums), (2, np.clip(1 - drums - piano, 0, 1))):
        with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000):
            window.stems.setCurrentRow(row)
        qtbot.waitUntil(lambda: len(shown) > 0, timeout=5000)
        np.testing.assert_allclose(shown.pop(), expected, atol=1e-5)
    window.controller.shutdown(5000)


def test_quitting_during_a_job_says_which_stems_would_be_lost(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    gate = held_runs(window, ("piano",))  # the piano waits until the question is asked
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    for word in ("drums", "piano", "guitar"):
        window.picker.set_picked(word, True)
    assert window.run_view.start() is not None
    qtbot.waitUntil(lambda: "✓ drums" in window.run_panel.parts.text(), timeout=10_000)
    assert not window.close()  # No: the job goes on
    ((text,),) = [asked]
    assert "A run is going on" not in text
    assert text.startswith("A job of 3 instruments is going on; drums is separated. Its stem")
    assert "lost" in text and "export" in text and "drag" in text
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        gate.set()
    window.controller.shutdown(5000)


def test_hearing_a_jukebox_stem_before_its_licence_writes_it_off_the_gui_thread(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    from tagbox_gui.gui.widgets import stem_list

    writers: list[threading.Thread] = []
    export = stem_list.export_shared_stems

    def writing(*args, **kw):
        writers.append(threading.current_thread())
        return export(*args, **kw)

    monkeypatch.setattr(stem_list, "export_shared_stems", writing)

    def jukebox(window: MainWindow) -> None:  # the stems need the licence, not yet accepted
        monkeypatch.setattr(window.exports, "_needs_licence", lambda: True)

    window = _job_window(qtbot, model_dir, settings, song_path, before=jukebox)
    assert not window.exports.may_write_ahead()
    assert len(writers) == 1 and writers[0] is not threading.main_thread()
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000):
        window.stems.setCurrentRow(1)  # written once: read back from the same files
    assert len(writers) == 1
    window.controller.shutdown(5000)


def test_the_curves_and_meters_are_of_the_stem_selected(
    qtbot, model_dir, settings, song_path
) -> None:
    """After a job, the loss curves and the tag meters are those of the part whose stem is
    selected under Stems (its steps, the tags of its best step), not of the part that ran last;
    the rest was steered by no part: no curves, no meters."""
    window = _job_window(qtbot, model_dir, settings, song_path)
    window.confirm_quit = lambda: True
    live = window.live

    def shown() -> tuple[list[float], dict]:
        next_frame(qtbot, window)
        return live.loss.series("total")[0].tolist(), live.meters.values()

    assert shown() == ([1.0, 2.0], {"drums": (1.0, 0.0)})  # the first stem, selected at the end
    for row, expected in (
        (1, ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], {"piano": (1.0, 0.0)})),
        (2, ([], {})),
        (0, ([1.0, 2.0], {"drums": (1.0, 0.0)})),
    ):
        window.stems.setCurrentRow(row)
        assert shown() == expected
    window.controller.shutdown(5000)


def test_the_mask_box_names_the_stem_whose_mask_it_shows(
    qtbot, model_dir, settings, song_path
) -> None:
    """A job keeps no steps: the box of the mask says which stem's mask it shows (the stem
    selected), and a single run's box speaks of its shown step again."""
    window = _job_window(qtbot, model_dir, settings, song_path)
    window.confirm_quit = lambda: True
    box = window.live.mask_box
    qtbot.waitUntil(lambda: box.title() == "Mask of drums", timeout=5000)
    for row, title in ((1, "Mask of piano"), (2, "Mask of the rest")):
        window.stems.setCurrentRow(row)
        qtbot.waitUntil(lambda title=title: box.title() == title, timeout=5000)
    assert "the rest" in box.toolTip()
    window.picker.set_picked("drums", False)  # the piano alone: a run with steps to show
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        assert window.run_view.start() is not None
    assert box.title() == "Mask of the shown step"
    window.controller.shutdown(5000)


def test_the_loss_and_tag_boxes_name_the_stem_they_show(
    qtbot, model_dir, settings, song_path
) -> None:
    """A job shows one part's loss curves and tag meters at a time: their boxes say whose, as
    the mask's box does; a single run's speak of the run and of its shown step."""
    window = _job_window(qtbot, model_dir, settings, song_path)
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails
    live = window.live

    def titles() -> tuple[str, str]:
        return live.loss_box.title(), live.meters_box.title()

    qtbot.waitUntil(lambda: titles() == ("Loss of drums", "Tags of drums"), timeout=5000)
    for row, whose in ((1, "piano"), (2, "the rest"), (0, "drums")):
        window.stems.setCurrentRow(row)
        assert titles() == (f"Loss of {whose}", f"Tags of {whose}")
        assert whose in live.loss_box.toolTip() and whose in live.meters_box.toolTip()
    gate = held_runs(window, ("piano",))  # the piano waits until the test has looked
    assert window.run_view.start() is not None
    qtbot.waitUntil(lambda: "✓ drums" in window.run_panel.parts.text(), timeout=10_000)
    qtbot.waitUntil(lambda: titles() == ("Loss of piano", "Tags of piano"), timeout=5000)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        gate.set()
    window.picker.set_picked("drums", False)  # the piano alone: a run with steps to show
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        assert window.run_view.start() is not None
    assert titles() == ("Loss of the run", "Tags of the shown step")
    window.controller.shutdown(5000)


def test_a_new_job_shows_no_mask_of_the_last_result(qtbot, model_dir, settings, song_path) -> None:
    """A job that starts takes the last result's mask off the box: until its first part ends
    the box is empty, titled with the part that runs, not the stem shown before."""
    window = _job_window(qtbot, model_dir, settings, song_path)
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails
    live = window.live
    window.stems.setCurrentRow(2)
    qtbot.waitUntil(lambda: live.mask_box.title() == "Mask of the rest", timeout=5000)
    qtbot.waitUntil(lambda: live.mask.image is not None, timeout=5000)
    begun = threading.Event()
    gate = held_runs(window, begun=begun)  # the first part waits until the test has looked
    assert window.run_view.start() is not None
    qtbot.waitUntil(begun.is_set, timeout=10_000)
    next_frame(qtbot, window)
    assert live.mask.image is None
    assert live.mask_box.title() == "Mask of drums"
    assert "the rest" not in live.mask_box.toolTip()
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        gate.set()
    window.controller.shutdown(5000)


def test_the_empty_loss_plot_says_why_a_one_pass_part_or_the_rest_has_no_losses(
    qtbot, model_dir, settings, song_path
) -> None:
    """While a job of one pass each runs, and after it for a stem of one pass or the rest, the
    empty loss plot says why it is empty, not "No steps yet" as if steps were to come; while
    it runs, the loss and tag boxes name the part under way."""
    window = make_window(qtbot, model_dir, settings, backend="learned")
    window.confirm_quit = lambda: True  # closed mid-job when an assertion fails
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(0)
    window.settings_panel.second_look.setChecked(False)
    gate = held_runs(window, ("piano",))  # the piano waits until the test has looked
    for word in ("drums", "piano"):
        window.picker.set_picked(word, True)
    line = window.live.loss.empty
    assert window.run_view.start() is not None
    qtbot.waitUntil(lambda: "✓ drums" in window.run_panel.parts.text(), timeout=10_000)
    assert line.isVisible() and line.text().startswith("One pass")
    live = window.live  # the boxes name the part under way, not the job's first
    qtbot.waitUntil(lambda: live.loss_box.title() == "Loss of piano", timeout=5000)
    assert live.meters_box.title() == "Tags of piano"
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=20_000):
        gate.set()
    for row, start in ((1, "One pass"), (2, "The rest"), (0, "One pass")):
        window.stems.setCurrentRow(row)
        qtbot.wait(50)
        assert line.isVisible() and line.text().startswith(start), line.text()
        assert not line.text().startswith("No steps yet")
    window.controller.shutdown(5000)


def test_a_single_run_after_a_job_shows_no_mask_of_the_jobs_stems(
    qtbot, model_dir, settings, song_path
) -> None:
    """A single run that starts after a job takes the shown stem's mask off the box: it would
    read as the mask of the run's shown step, which has none until its first preview."""
    window = _job_window(qtbot, model_dir, settings, song_path)
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    live = window.live
    qtbot.waitUntil(lambda: live.mask.image is not None, timeout=5000)
    begun = threading.Event()
    gate = held_runs(window, begun=begun)  # the run waits until the test has looked
    window.picker.set_picked("drums", False)  # the piano alone: a single run
    assert window.run_view.start() is not None
    qtbot.waitUntil(begun.is_set, timeout=10_000)
    next_frame(qtbot, window)
    assert live.mask_box.title() == "Mask of the shown step"
    assert live.mask.image is None
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        gate.set()
    next_frame(qtbot, window)
    assert live.mask.image is not None  # the best step's, once it is shown
    window.controller.shutdown(5000)


def test_the_rest_is_named_whole_at_the_default_size(qtbot, model_dir, settings, tmp_path) -> None:
    """The rest of four instruments has a long name: in a window of 1280 x 720 it is shown
    whole (on two lines), not cut in the middle."""
    from PySide6.QtCore import QRect, Qt

    song_path = write_song(tmp_path / "Come Together.wav", seconds=5.0)
    window = _job_window(qtbot, model_dir, settings, song_path,
                         words=("drums", "piano", "guitar", "strings"))  # fmt: skip
    window.resize(1280, 720)
    qtbot.wait(50)
    stems, metrics = window.stems, window.stems.fontMetrics()
    rest = stems.item(stems.count() - 1)
    assert rest.text() == "Come Together - no drums + piano + guitar + strings"
    width = stems.viewport().width()
    assert metrics.horizontalAdvance(rest.text()) > width  # too long for one line
    for row in range(stems.count()):
        item = stems.item(row)
        rect = stems.visualItemRect(item)
        wrapped = metrics.boundingRect(QRect(0, 0, min(rect.width(), width) - 8, 10_000),
                                       Qt.TextFlag.TextWordWrap, item.text())  # fmt: skip
        assert wrapped.height() <= rect.height(), item.text()  # every line of it shown
    window.controller.shutdown(5000)


def test_the_quit_question_of_a_job_names_what_its_stems_lose_in_good_english() -> None:
    from tagbox_gui.gui.job_view import job_quit_text

    assert job_quit_text(3, []).startswith("A job of 3 instruments is going on; none is")
    one = job_quit_text(3, ["drums"])
    assert "; drums is separated. Its stem is lost on quitting: to keep it, stop" in one
    assert "export it or drag it out first" in one and one.endswith("Stop it and quit?")
    two = job_quit_text(3, ["drums", "bass"])
    assert "; drums and bass are separated. Their stems are lost on quitting" in two
    assert "drums, bass and piano are" in job_quit_text(4, ["drums", "bass", "piano"])


def test_hearing_a_stem_whose_files_were_removed_writes_them_again_off_the_gui_thread(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    """The stems' files went (the Dragged stems folder emptied by hand while the app runs):
    selecting another stem writes them again in the writer's thread, the window not waiting."""
    from tagbox_gui.gui.widgets import stem_list

    window = _job_window(qtbot, model_dir, settings, song_path)
    written = window.stems.stem_files()
    for path in written:
        path.unlink()
    writers: list[threading.Thread] = []
    export = stem_list.export_shared_stems

    def writing(*args, **kw):
        writers.append(threading.current_thread())
        return export(*args, **kw)

    monkeypatch.setattr(stem_list, "export_shared_stems", writing)
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000):
        window.stems.setCurrentRow(1)
    assert len(writers) == 1 and writers[0] is not threading.main_thread()
    assert all(path.is_file() for path in written)
    window.controller.shutdown(5000)
