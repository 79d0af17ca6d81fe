"""Out of memory, the dialog's advice fits what was being done: a shorter region helps a run,
not the opening of a long song or the writing of its stems."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.gui import song_loader
from tagbox_gui.gui.main_window import MainWindow
from tests.gui.window_helpers import message_boxes, open_song

RUN_ADVICE = "shorter region"


def shown_message(qtbot) -> str:
    qtbot.waitUntil(lambda: bool(message_boxes()), timeout=5000)
    box = message_boxes()[-1]
    text = box.text()
    box.close()
    return text


def test_a_song_too_long_to_open_is_not_told_to_choose_a_shorter_region(
    qtbot, window: MainWindow, song_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def load_song(path, cancel=None, progress=None):
        raise MemoryError("Unable to allocate 10.6 GiB for an array")

    monkeypatch.setattr(song_loader, "load_song", load_song)
    window.open_song(song_path)
    text = shown_message(qtbot)
    assert text.startswith("Opening the song ran out of memory")
    assert RUN_ADVICE not in text and "run" not in text.lower().split()


def test_stems_that_cannot_be_written_for_memory_say_so(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = separated

    def writing(*args, **kwargs):
        def write():
            raise MemoryError("Unable to allocate 1.2 GiB for an array")

        return write

    monkeypatch.setattr(window.stems, "writing", writing)
    with qtbot.waitSignal(window.exports.finished, timeout=10_000) as done:
        assert window.exports.export_to(tmp_path / "out", ExportFormat.FLAC24) is not None
    assert done.args == [None]
    text = shown_message(qtbot)
    assert text.startswith("Writing the stems ran out of memory") and RUN_ADVICE not in text


def test_a_run_out_of_memory_keeps_its_advice(qtbot, window: MainWindow, song_path: Path) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")

    def engine_run(config, song, store, cache):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        yield  # a generator, as the engine's run is

    window.run_view.engine_run = engine_run
    with qtbot.waitSignal(window.controller.run_failed, timeout=5000):
        assert window.run_view.start() is not None
    text = shown_message(qtbot)
    assert text.startswith("The run ran out of memory") and RUN_ADVICE in text


def test_a_run_cut_short_by_memory_shows_its_best_step_and_says_why(
    qtbot, window: MainWindow, song_path: Path
) -> None:
    """The engine ends a steered run whose step ran out of memory with its best step before
    it: the window lists those stems and says so, with no error dialog."""
    from dataclasses import replace

    from tagbox_gui.core.audio.song import analysis_span
    from tests.gui.fake_engine import fake_run
    from tests.gui.window_helpers import run_to_end

    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")

    def engine_run(config, song, store, cache):
        result = yield from fake_run(config, length=analysis_span(song, config.region)[1])
        return replace(result, cut_short_at=result.steps_done + 1, cut_short_by="ran out of memory")

    window.run_view.engine_run = engine_run
    result = run_to_end(qtbot, window, steps=6)
    status = window.run_panel.status.text()
    assert status.startswith(f"Step 7 ran out of memory: ended after 6 steps; best step "
                             f"{result.best_step}"), status  # fmt: skip
    assert window.stems.count() == 2 and not message_boxes()


@pytest.mark.parametrize(("set_by", "way"), [
    ("", "choose another model folder with Change folder… (Tools ▸ Models…)"),
    ("--model-dir", "start TagBox again with another --model-dir"),
])  # fmt: skip
def test_a_model_folder_that_cannot_be_searched_is_told_in_the_windows_words(
    qtbot, window: MainWindow, song_path: Path, monkeypatch: pytest.MonkeyPatch, set_by, way
) -> None:
    """The store's advice names the window's ways, not the command line's option (unless the
    app was started with it)."""
    from tagbox_gui.core.store import models

    monkeypatch.setattr(models, "_file_state", lambda path: (None, "Permission denied"))
    window.models.folder_set_by = set_by
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")

    def engine_run(config, song, store, cache):
        store.path("fcn/mtat")
        yield  # a generator, as the engine's run is

    window.run_view.engine_run = engine_run
    with qtbot.waitSignal(window.controller.run_failed, timeout=5000):
        assert window.run_view.start() is not None
    text = shown_message(qtbot)
    assert text.startswith("Model fcn/mtat cannot be looked up in ")
    assert text.endswith(f"(Permission denied); check the permissions of its folders, or {way}.")


def test_a_model_missing_when_the_run_needs_it_is_told_in_the_windows_words(
    qtbot, window: MainWindow, song_path: Path
) -> None:
    """A model gone from the folder once the run started (or one the run needs that Run's
    check does not know of) names the window's download, not the command line's."""
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")

    def engine_run(config, song, store, cache):
        store.jukebox_path()
        yield  # a generator, as the engine's run is

    window.run_view.engine_run = engine_run
    with qtbot.waitSignal(window.controller.run_failed, timeout=5000):
        assert window.run_view.start() is not None
    assert shown_message(qtbot) == (f"Model jukebox-vqvae-5b is not installed in "
                                    f"{window.store.root}; download it with Download (Tools ▸ "
                                    "Models…).")  # fmt: skip
