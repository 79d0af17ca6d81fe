"""Several instruments in one job: every stem and the rest, progress, Stop, drags and
Export all stems…"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.estimates import quiet_stems
from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.settings import AppSettings
from tagbox_gui.gui.widgets.export_dialog import ExportDialog
from tests.gui.fake_engine import fake_player
from tests.gui.window_helpers import (
    answer_questions,
    export_and_wait,
    make_window,
    message_boxes,
    open_song,
    song_window,
)


@pytest.fixture
def real(qtbot, tmp_path: Path, model_dir: Path, song_path: Path) -> MainWindow:
    """A window with the real engine and the shipped separator (defaults: learned, one pass)."""
    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    window = MainWindow(ModelStore(model_dir), settings, player=fake_player())
    qtbot.addWidget(window)
    window.show()
    open_song(qtbot, window, song_path)
    yield window
    window.controller.shutdown(5000)


def test_a_job_without_the_second_look_keeps_the_first(qtbot, real, monkeypatch) -> None:
    from tagbox_gui.core.separation import job

    window = real
    window.settings_panel.second_look.setChecked(False)
    monkeypatch.setattr(job, "stem_levels", lambda mix, ests: {"drums": -9.0, "bass": -32.0})
    outcome = _job(qtbot, window, "drums", "bass")
    assert list(outcome.results) == ["drums", "bass"] and not outcome.refined
    assert window.run_panel.progress.value() == window.run_panel.progress.maximum() == 2
    assert window.run_panel._captions["step"].text() == "Stems"  # one pass each, and no more
    assert window.run_panel.status.text() == (
        "Separated drums, bass and the rest. Bass is very quiet (32 dB under the song): if it "
        "plays louder than that, it was not recognised. Select a few seconds where it plays, "
        "name it and add the region as an example."
    )
    assert "second look" not in window.run_view.jobs.provenance()["drums"]


def test_a_job_with_several_quiet_stems_tells_what_to_do_for_each(qtbot, real, monkeypatch) -> None:
    # two quiet stems were told to "name it": the advice agrees with the stems named
    from tagbox_gui.core.separation import job

    window = real
    window.settings_panel.second_look.setChecked(False)
    monkeypatch.setattr(job, "stem_levels", lambda mix, ests: {"drums": -31.0, "bass": -32.0})
    _job(qtbot, window, "drums", "bass")
    assert window.run_panel.status.text() == (
        "Separated drums, bass and the rest. Drums and bass are very quiet (31 and 32 dB under "
        "the song): if they play louder than that, they were not recognised. For each, select a "
        "few seconds where it plays, name it and add the region as an example."
    )


def _job(qtbot, window: MainWindow, *words: str, timeout: int = 60_000):
    for word in words:
        window.picker.set_picked(word, True)
    assert window.run_view.problem() == ""
    with qtbot.waitSignal(window.controller.run_finished, timeout=timeout) as blocker:
        assert window.run_view.start() is not None
    return blocker.args[0]


def test_a_job_makes_a_stem_per_instrument_and_the_rest_that_add_up(qtbot, real) -> None:
    window = real
    assert window.song_panel.region() is None  # the learned backend: the whole song by default
    panel, looks = window.run_panel, []
    show_refining = panel.show_refining
    panel.show_refining = lambda index, done: (looks.append(panel.status.text()),
                                               show_refining(index, done),
                                               looks.append(panel.progress.value()),
                                               looks.append(panel.status.text()))  # fmt: skip
    outcome = _job(qtbot, window, "drums", "bass", "piano")
    assert looks[2::3] == [f"Looking again at {name} without the others ({i} of 3)…"
                           for i, name in enumerate(["drums", "bass", "piano"], 1)]  # fmt: skip
    assert looks[1::3] == [3, 4, 5]  # a unit of progress per stem's second look
    assert looks[0].startswith("Separating piano")  # after the last part, one look per stem
    assert list(outcome.results) == ["drums", "bass", "piano"]
    assert not outcome.stopped and outcome.refined
    made = window.run_view.jobs.provenance()
    assert made["drums"]["second look"] == "asked again in the song without bass, piano"
    status = window.run_panel.status.text()
    assert status.startswith("Separated drums, bass, piano and the rest.")
    assert ("very quiet" in status) == bool(quiet_stems(outcome.levels))  # the rest, if any
    names = [window.stems.item(i).text() for i in range(window.stems.count())]
    assert names == ["My Song - drums", "My Song - bass", "My Song - piano",
                     "My Song - no drums + bass + piano"]  # fmt: skip
    text = window.run_panel.parts.text()
    assert all(f"✓ {w}" in text for w in ("drums", "bass", "piano"))
    assert window.run_panel.progress.value() == window.run_panel.progress.maximum() == 6
    captions = window.run_panel._captions  # one pass each, then the second looks
    assert (captions["step"].text(), captions["per_step"].text()) == ("Passes", "Time/pass")
    assert captions["step"].toolTip().endswith("looked at again once all are: 6 passes")
    assert window.run_panel.labels["step"].text() == "6 / 6"
    audition = window.audition  # a job keeps no steps: the panel says so, not "No run yet"
    assert audition.label.text() == "No steps kept in a job" and not audition.slider.isEnabled()
    assert not audition.follow.isEnabled() and not audition.best.isEnabled()
    assert audition.memory.text().startswith("Pick one of the 3 instruments under Stems")
    paths = window.stems.stem_files()
    data = [sf.read(str(p), dtype="float64", always_2d=True)[0] for p in paths]
    assert all(d.shape == window.song.data.shape for d in data)  # whole song, native format
    assert np.max(np.abs(sum(data) - window.song.data)) < 1e-6
    assert min(np.sqrt(np.mean(d**2)) for d in data) > 1e-4  # no stem is silence
    # several selected stems drag as several real files
    mime = window.stems.mimeData([window.stems.item(1), window.stems.item(3)])
    assert [Path(u.toLocalFile()) for u in mime.urls()] == [paths[1], paths[3]]
    # the transport plays the selected stem, read back from its file, and the song without it
    player = window.audition.transport.player
    qtbot.waitUntil(lambda: "separated" in player.sources, timeout=10_000)
    np.testing.assert_allclose(player._buffers["separated"], data[0], atol=1e-7)
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000) as loaded:
        window.stems.setCurrentRow(2)
    assert loaded.args[0] == "My Song - piano"
    np.testing.assert_allclose(player._buffers["separated"], data[2], atol=1e-7)
    np.testing.assert_allclose(player._buffers["residual"], window.song.data - data[2],
                               atol=1e-6)  # fmt: skip


def test_a_single_run_after_a_job_has_its_step_history_back(qtbot, real) -> None:
    window = real
    _job(qtbot, window, "drums", "bass")
    assert not window.audition.follow.isEnabled()
    window.picker.set_picked("bass", False)
    _job(qtbot, window)  # drums alone: a run of its own, not a job
    audition = window.audition
    qtbot.waitUntil(lambda: audition.label.text() == "One pass (no steps)", timeout=3000)
    assert not audition.follow.isEnabled()  # one pass: no newer preview to follow
    assert "one pass" in audition.follow.toolTip()  # not the job's reason
    assert audition.memory.text().startswith("One pass of the separator: no steps to go back")


def test_export_all_writes_every_stem_with_the_name_template(qtbot, real, tmp_path,
                                                             monkeypatch) -> None:  # fmt: skip
    window = real
    _job(qtbot, window, "drums", "bass")
    out = tmp_path / "exported"
    shown: list[str] = []

    def accept(dialog: ExportDialog) -> int:
        dialog.folder.setText(str(out))
        dialog.template.setText("{stem}")  # no song name: the stems' own names
        shown.append(dialog.files.text())
        dialog.template.setText("{song}")  # every stem would get one name: refused
        assert not dialog.save.isEnabled() and "name" in dialog.files.text()
        dialog.template.setText("{stem} ({song})")
        dialog.format.setCurrentIndex(dialog.format.findData("flac24"))
        return ExportDialog.DialogCode.Accepted

    monkeypatch.setattr(ExportDialog, "exec", accept)
    window.exports.ask()
    qtbot.waitUntil(lambda: not window.exports.busy, timeout=10_000)
    assert shown == ["drums.wav<br>bass.wav<br>no drums + bass.wav"]
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "bass (My Song).flac",
        "drums (My Song).flac",
        "no drums + bass (My Song).flac",
    ]
    assert window.settings.text("export/template") == "{stem} ({song})"
    back = sum(sf.read(str(out / f), dtype="float64", always_2d=True)[0] for f in files)
    assert np.max(np.abs(back - window.song.data)) < 2**-22  # 24-bit files add up
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    assert export_and_wait(qtbot, window, out, ExportFormat.FLAC24, "{stem} ({song})") is None
    assert len(asked) == 1 and all(f in asked[0] for f in files)  # asked before replacing


def test_stop_keeps_the_instruments_that_finished(qtbot, model_dir, settings, song_path) -> None:
    window = make_window(qtbot, model_dir, settings, backend="light", delay=0.05)
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(6)
    for word in ("drums", "piano", "guitar"):
        window.picker.set_picked(word, True)
    parts_done: list[int] = []

    def on_event(update) -> None:
        event = getattr(update, "event", None)
        if event is not None and event.result is not None:
            assert update.mask_image is not None and update.mask_image.ndim == 2
            parts_done.append(event.index)
            window.run_view.stop()  # during the second instrument at the latest

    window.controller.step_done.connect(on_event)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000) as blocker:
        assert window.run_view.start() is not None
    outcome = blocker.args[0]
    assert parts_done == [0] and outcome.stopped
    # piano too, at its best step, when the Stop came once it had made one
    kept = list(outcome.results)
    assert kept in (["drums"], ["drums", "piano"])
    assert [window.stems.item(i).text() for i in range(window.stems.count())] == [
        *(f"My Song - {name}" for name in kept), f"My Song - no {' + '.join(kept)}"]  # fmt: skip
    status = window.run_panel.status.text()
    left = ["piano", "guitar"][len(kept) - 1 :]
    assert f"kept {', '.join(kept)}" in status and f"{', '.join(left)} not separated" in status
    assert window.export_button.isEnabled()
    window.controller.shutdown(5000)


def test_the_job_driver_passes_commands_on_and_draws_masks_in_the_worker() -> None:
    import threading

    from tagbox_gui.core.separation.job import JobEvent, JobResult
    from tagbox_gui.core.types import Estimate, RunResult
    from tagbox_gui.gui.job_view import with_mask_images

    mask = np.full((513, 40), 0.25, dtype=np.float32)
    mask_estimate = Estimate(0, 40 * 512, {1024: mask})
    finished = RunResult(0, 0.0, 1, False, mask_estimate)
    heard: list[object] = []
    closed = threading.Event()

    def job():
        try:
            heard.append((yield JobEvent(0, "drums", 0, 2)))
            heard.append((yield None))
            heard.append((yield JobEvent(0, "drums", 1, 2, result=finished)))
            return JobResult({"drums": finished}, stopped=False, estimates={"drums": mask_estimate})
        finally:
            closed.set()

    driven = with_mask_images(job())
    began = driven.send(None)
    assert began.event.began and began.mask_image is None
    assert driven.send("first") is None
    ended = driven.send("second")
    assert ended.event.result is finished
    assert ended.mask_image.ndim == 2 and np.allclose(ended.mask_image, 0.25, atol=1e-6)
    with pytest.raises(StopIteration) as stop:
        driven.send("third")
    assert heard == ["first", "second", "third"]
    assert stop.value.value.estimates["drums"] is mask_estimate and closed.is_set()

    closed.clear()
    driven = with_mask_images(job())
    driven.send(None)
    driven.close()  # the worker closes a run it abandons: the job is closed with it
    assert closed.is_set()


def test_stop_during_the_second_look_keeps_the_first_and_says_so(qtbot, real, monkeypatch) -> None:
    import time

    from tagbox_gui.core.separation.refine import Refinement

    window = real
    look = Refinement.stem
    monkeypatch.setattr(Refinement, "stem", lambda self, name: time.sleep(1.0) or look(self, name))
    for word in ("drums", "bass"):
        window.picker.set_picked(word, True)
    looked: list[str] = []

    def on_event(update) -> None:
        event = getattr(update, "event", None)
        if event is not None and event.refining:
            looked.append(event.name)
            window.run_view.stop()  # during the first stem's second look (a slow one here)

    window.controller.step_done.connect(on_event)
    try:
        with qtbot.waitSignal(window.controller.run_finished, timeout=60_000) as blocker:
            assert window.run_view.start() is not None
    finally:
        window.controller.step_done.disconnect(on_event)
    outcome = blocker.args[0]
    assert looked[0] == "drums" and not outcome.stopped and not outcome.refined  # stopped at bass
    assert list(outcome.results) == ["drums", "bass"]  # both stems kept, as first looked at
    assert window.run_panel.status.text().startswith(
        "Separated drums, bass and the rest; the second look was stopped, so the stems keep "
        "their first."
    )
    assert "second look" not in window.run_view.jobs.provenance()["drums"]


def test_a_stem_that_cannot_be_heard_against_the_song_says_so(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    """Taking the stem from the song (for the residual) fails, e.g. out of memory on a long
    song or a stem file cut short: a message, not a silent worker and the old stem playing
    on under the new one's name."""
    from tagbox_gui.gui import job_view

    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=20_000):
        _job(qtbot, window, "drums", "piano")
    read = job_view.sf.read
    with monkeypatch.context() as patch:
        patch.setattr(job_view.sf, "read", lambda *a, **k: (read(*a, **k)[0][:-1], 48_000))
        window.stems.setCurrentRow(1)
        qtbot.waitUntil(
            lambda: window.statusBar().currentMessage().startswith("Cannot play My Song - piano"),
            timeout=10_000,
        )
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000) as loaded:
        window.stems.setCurrentRow(2)
    assert loaded.args[0] == "My Song - no drums + piano"
    window.controller.shutdown(5000)


def test_a_stem_selected_after_its_files_went_says_it_cannot_play(
    qtbot, model_dir, settings, song_path
) -> None:
    import shutil

    window = song_window(qtbot, model_dir, settings, song_path, 2, backend="light")
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=20_000):
        _job(qtbot, window, "drums", "piano")
    folder = window.stems.stem_files()[0].parent.parent  # the session's temporary folder
    shutil.rmtree(folder)
    folder.write_text("a file where the temporary folder was")  # it cannot be made again
    window.stems.setCurrentRow(1)  # a message, not an error out of the slot
    qtbot.waitUntil(  # the files are written again off the GUI thread, which fails there
        lambda: window.statusBar().currentMessage().startswith("Cannot play My Song - piano"),
        timeout=10_000,
    )
    qtbot.waitUntil(lambda: window.stems._pending is None, timeout=10_000)  # its end is known
    assert message_boxes() == []  # said once, as what the musician did: not as a drag
    folder.unlink()  # once it can be written again, the stem plays
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000) as loaded:
        window.stems.setCurrentRow(2)
    assert loaded.args[0] == "My Song - no drums + piano"
    window.controller.shutdown(5000)
