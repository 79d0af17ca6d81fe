"""The main window's models, errors and life cycle: the first launch without weights, Help ▸
About, unexpected errors in the log and a dialog, closing during a run, `python -m tagbox_gui`."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from tagbox_gui import APP_NAME, __version__
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import REGISTRY
from tagbox_gui.gui.about import about_html
from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.widgets.run_panel import run_tip
from tests.gui.fake_engine import fake_player
from tests.gui.window_helpers import message_boxes, open_song, piano_run_window
from tests.httpserver import http_server  # noqa: F401  (fixture)


# ----- 7. models -----------------------------------------------------------------------
def test_first_launch_without_weights_offers_the_download(
    qtbot,
    tmp_path,
    model_dir,
    settings,
    http_server,  # noqa: F811
) -> None:
    from tests.conftest import require

    require(model_dir / "taggers/mtat/fcn/best_model.pth")
    server = http_server(model_dir)  # the shared folder is laid out like the store
    store = ModelStore(tmp_path / "empty-store", base_urls=[server.url])
    window = MainWindow(store, settings, player=fake_player())
    qtbot.addWidget(window)
    window.show()
    assert window.settings_panel.settings().taggers == ()
    assert window.settings_panel.problem() == ""  # the learned separator needs no tagger
    panel = window.settings_panel
    panel.backend.setCurrentIndex(panel.backend.findData("light"))
    assert "tagger" in window.settings_panel.problem()
    # the learned separator named an instrument without a tagger: a line, not a dialog
    panel.backend.setCurrentIndex(panel.backend.findData("learned"))
    assert window.models.first_launch_check(panel.needs_tagger()) is None
    assert "naming an instrument works" in window.statusBar().currentMessage()
    panel.backend.setCurrentIndex(panel.backend.findData("light"))
    assert window.run_view.missing_taggers() == ["fcn/mtat"]  # steering: Run offers it
    box = window.models.first_launch_check(panel.needs_tagger())
    assert box is not None and box.isVisible()
    assert "fcn/mtat (1.9 MB) and fcn/jamendo (1.9 MB)" in box.text()
    assert "needs no download" in box.text()
    next(b for b in box.buttons() if b.text() == "&Download").click()
    dialog = window.models.dialog
    assert dialog is not None and dialog.busy  # both taggers an example needs
    qtbot.waitUntil(lambda: not dialog.busy and store.status("fcn/jamendo") == "present",
                    timeout=20_000)  # fmt: skip
    assert store.status("fcn/mtat") == "present"
    assert window.settings_panel.settings().taggers == ("fcn/mtat",)
    assert [str(t) for t in window.tag_panel.board.taggers] == ["fcn/mtat"]
    assert window.settings_panel.problem() == ""
    assert window.models.first_launch_check() is None  # nothing to fetch any more
    dialog.close()


def test_a_backend_that_hears_instruments_with_taggers_says_why_it_offers_none(
    qtbot, tmp_path, settings, song_path
) -> None:
    """The light backend without a tagger offers no instrument: the Instruments tab and Run
    say that the taggers are missing, not "pick an instrument" where none can be picked."""
    window = MainWindow(ModelStore(tmp_path / "empty-store"), settings, player=fake_player())
    qtbot.addWidget(window)
    open_song(qtbot, window, song_path)
    panel = window.settings_panel
    panel.backend.setCurrentIndex(panel.backend.findData("light"))
    assert window.picker.instruments() == []
    for said in (window.picker.summary.text(), window.run_panel.run.toolTip()):
        assert "the light backend hears instruments with the music taggers" in said.lower()
        assert "Tools ▸ Models…" in said
    assert not window.run_panel.run.isEnabled()
    panel.backend.setCurrentIndex(panel.backend.findData("learned"))  # it offers its own
    assert window.picker.instruments()
    assert "Pick the instruments" in window.picker.summary.text()
    assert "Pick an instrument" in window.run_panel.run.toolTip()
    panel.backend.setCurrentIndex(panel.backend.findData("light"))  # remembered
    again = MainWindow(ModelStore(tmp_path / "empty-store"), settings, player=fake_player())
    qtbot.addWidget(again)  # launched on the light backend: says so from the start
    assert "hears instruments with the music taggers" in again.picker.summary.text()


EXAMPLE_TAGGERS = ("fcn/mtat", "fcn/jamendo")


def example_window(qtbot, store: ModelStore, settings, song_path) -> MainWindow:
    """A window with a song open, bass picked and the region added as the example "organ"."""
    from tests.gui.window_helpers import add_example

    window = MainWindow(store, settings, player=fake_player())
    qtbot.addWidget(window)
    open_song(qtbot, window, song_path)
    window.picker.set_picked("bass", True)
    add_example(window, "organ")
    return window


def press_run(qtbot, window: MainWindow) -> QMessageBox:
    """Press Run, which may start (nothing does here: the taggers are missing); the box asking
    for them."""
    assert window.run_view.problem() == "" and window.run_panel.run.isEnabled()
    window.run_panel.run.click()
    assert window.controller.state is RunState.IDLE  # no run: first the taggers
    (box,) = message_boxes()
    assert box.windowTitle() == "Taggers needed"
    return box


def test_run_by_example_without_its_taggers_downloads_both_once_asked(
    qtbot,
    tmp_path,
    model_dir,
    settings,
    song_path,
    http_server,  # noqa: F811
) -> None:
    from tests.conftest import require

    for name in EXAMPLE_TAGGERS:
        require(model_dir / REGISTRY[name].relpath)
    server = http_server(model_dir)  # the shared folder is laid out like the store
    store = ModelStore(tmp_path / "empty-store", base_urls=[server.url])
    window = example_window(qtbot, store, settings, song_path)
    assert "download fcn/mtat and fcn/jamendo" in window.run_panel.run.toolTip()
    box = press_run(qtbot, window)
    assert "fcn/mtat (1.9 MB) and fcn/jamendo (1.9 MB), MIT licence" in box.text()
    assert "an instrument named in one pass needs none" in box.text()
    download = next(b for b in box.buttons() if b.text() == "&Download")
    download.click()
    dialog = window.models.dialog
    assert dialog is not None and dialog.isVisible() and dialog.busy
    assert dialog.cancel_button.isEnabled() and not dialog.progress.isHidden()
    qtbot.waitUntil(lambda: all(store.status(n) == "present" for n in EXAMPLE_TAGGERS),
                    timeout=20_000)  # fmt: skip
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    assert sorted(server.requests) == sorted(f"/{REGISTRY[n].relpath}" for n in EXAMPLE_TAGGERS)
    assert "fcn/jamendo is installed" in dialog.message.text()
    assert window.run_view.missing_taggers() == []
    assert window.run_view.problem() == "" and window.run_panel.run.isEnabled()
    assert window.run_panel.run.toolTip() == run_tip()
    assert window.controller.state is RunState.IDLE  # the musician presses Run again
    dialog.close()
    window.controller.shutdown(5000)


def test_declining_the_taggers_an_example_needs_downloads_nothing(
    qtbot,
    tmp_path,
    model_dir,
    settings,
    song_path,
    http_server,  # noqa: F811
) -> None:
    import shutil

    from tests.conftest import require

    server = http_server(model_dir)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])  # fcn/mtat only
    store.location("fcn/mtat").parent.mkdir(parents=True)
    shutil.copyfile(require(model_dir / "taggers/mtat/fcn/best_model.pth"),
                    store.location("fcn/mtat"))  # fmt: skip
    window = example_window(qtbot, store, settings, song_path)
    box = press_run(qtbot, window)
    assert "needs fcn/jamendo (1.9 MB), MIT licence" in box.text()
    assert "fcn/mtat (" not in box.text()  # it is there
    next(b for b in box.buttons() if b.text() == "&Not now").click()
    assert "Nothing was downloaded" in window.statusBar().currentMessage()
    assert window.models.dialog is None and server.requests == []
    assert store.status("fcn/jamendo") == "missing"
    assert window.run_view.missing_taggers() == ["fcn/jamendo"]  # Run asks again
    assert "download fcn/jamendo" in window.run_panel.run.toolTip()
    window.controller.shutdown(5000)


def test_taggers_that_cannot_be_downloaded_are_said_so_and_nothing_is_kept(
    qtbot,
    tmp_path,
    model_dir,
    settings,
    song_path,
    http_server,  # noqa: F811
) -> None:
    from tests.httpserver import Fault

    server = http_server(model_dir, fault=Fault.NOT_FOUND)
    store = ModelStore(tmp_path / "empty-store", base_urls=[server.url])
    window = example_window(qtbot, store, settings, song_path)
    box = press_run(qtbot, window)
    next(b for b in box.buttons() if b.text() == "&Download").click()
    dialog = window.models.dialog
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    text = dialog.message.text()
    assert "fcn/mtat" in text and "HTTP 404" in text
    assert "fcn/jamendo was not downloaded" in text
    assert all(store.status(n) == "missing" for n in EXAMPLE_TAGGERS)
    assert not [p for p in store.root.rglob("*") if p.is_file()]  # no partial file either
    assert window.run_view.missing_taggers() == list(EXAMPLE_TAGGERS)  # Run asks again
    dialog.close()
    window.controller.shutdown(5000)


def test_first_launch_with_taggers_says_nothing(window: MainWindow) -> None:
    assert window.models.first_launch_check() is None


def test_about_says_what_separates_and_under_which_licences(window, monkeypatch) -> None:
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "about", lambda _parent, *text: shown.append(text))
    about = next(a for a in window.menuBar().actions() if a.text() == "&Help").menu().actions()[-1]
    about.trigger()
    [(title, text)] = shown
    assert title == f"About {APP_NAME}" and f"{APP_NAME} {__version__}" in text
    # the default backend is the learned separator, not TagBox alone; each licence is named
    assert "this project's own" in text and "Chen et al." in text and "TagBox" in text
    assert "MIT" in text and "non-commercial" in text


def test_about_says_where_the_separators_model_card_and_licence_are() -> None:
    text = about_html()
    card = "docs/separator.md"
    assert card in text and (Path(__file__).resolve().parents[2] / card).is_file()
    assert "SoundFonts" in text and "LICENSE" in text


# ----- 8. errors and the log -----------------------------------------------------------
def test_unexpected_exception_is_logged_and_shown(qtbot, window, tmp_path) -> None:
    import logging
    import sys

    from tagbox_gui.gui.errors import ExceptionHook, setup_logging

    log_file = setup_logging(tmp_path / "logs")
    hook = ExceptionHook()
    hook.install()
    try:
        try:
            raise ZeroDivisionError("a bug")
        except ZeroDivisionError:
            sys.excepthook(*sys.exc_info())
        qtbot.waitUntil(lambda: bool(message_boxes()), timeout=2000)
    finally:
        hook.uninstall()
    text = message_boxes()[-1].text()
    assert "ZeroDivisionError: a bug" in text and "tagbox-gui.log" in text
    for handler in logging.getLogger().handlers:
        handler.flush()
    logged = log_file.read_text()
    assert "unexpected error" in logged and "ZeroDivisionError: a bug" in logged
    assert "Traceback" in logged
    for box in message_boxes():
        box.close()
    logging.getLogger().removeHandler(
        next(
            h
            for h in logging.getLogger().handlers
            if getattr(h, "baseFilename", "") == str(log_file)
        )
    )


def raise_through(hook, exc: BaseException) -> None:
    """Hand ``exc`` to ``hook`` as Python hands it an exception nobody caught."""
    try:
        raise exc
    except type(exc) as caught:
        hook.hook(type(caught), caught, caught.__traceback__)


def test_an_unexpected_error_is_shown_while_another_program_is_in_front(
    qtbot, window, monkeypatch
) -> None:
    """With the musician in their audio editor, no window of the app is active: the dialog is
    the main window's still, not one that nothing holds (it was gone before it was shown)."""
    from PySide6.QtWidgets import QApplication

    from tagbox_gui.gui.errors import ExceptionHook

    monkeypatch.setattr(QApplication, "activeWindow", staticmethod(lambda: None))
    hook = ExceptionHook()
    raise_through(hook, ZeroDivisionError("a bug in the background"))
    qtbot.waitUntil(lambda: bool(message_boxes()), timeout=2000)
    (box,) = message_boxes()
    assert "ZeroDivisionError: a bug in the background" in box.text()
    assert box.parent() is window
    box.close()


def test_an_error_that_repeats_opens_one_dialog_and_logs_each(qtbot, window, caplog) -> None:
    """A bug in a timer's slot or a paint comes back every few milliseconds: one dialog says
    it, not one more each time (dozens a second, each over the last); each is logged. Once
    that dialog is closed, the next error has its own."""
    from tagbox_gui.gui.errors import ExceptionHook

    hook = ExceptionHook()
    for _ in range(20):
        raise_through(hook, ZeroDivisionError("a bug in a timer"))
    qtbot.waitUntil(lambda: bool(message_boxes()), timeout=2000)
    qtbot.wait(100)  # the queued errors have all arrived
    assert len(message_boxes()) == 1
    assert caplog.text.count("ZeroDivisionError: a bug in a timer") == 20
    message_boxes()[0].close()
    qtbot.waitUntil(lambda: not message_boxes(), timeout=2000)
    raise_through(hook, KeyError("another bug"))
    qtbot.waitUntil(lambda: bool(message_boxes()), timeout=2000)
    assert "KeyError" in message_boxes()[0].text()
    message_boxes()[0].close()


def test_an_unexpected_file_error_says_where_its_details_are(qtbot, window, tmp_path) -> None:
    """A file's error that nothing handled (a bug, not a refusal) was said as "A file … could
    not be used; check it and try again", without a word of the log that holds its traceback;
    it now says where that is, as any other unexpected error does. A file's error the window
    handles on purpose is said as before."""
    import logging

    from tagbox_gui.gui.errors import ExceptionHook, setup_logging, show_error

    written = setup_logging(tmp_path / "logs")
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "baseFilename", "") == str(written))
    try:
        missing = FileNotFoundError(2, "No such file or directory", "take 3.wav")
        raise_through(ExceptionHook(), missing)
        qtbot.waitUntil(lambda: bool(message_boxes()), timeout=2000)
        (unexpected,) = message_boxes()
        refused = PermissionError(13, "Permission denied", "mix.wav")
        handled = show_error(window, refused, "Cannot export the stems")
    finally:
        root.removeHandler(handler)
        handler.close()
    assert unexpected.text() == (
        "A file 'take 3.wav' could not be used (No such file or directory); check it and try "
        f"again; the details are in {written}."
    )
    assert handled.text() == (
        "A file 'mix.wav' could not be used (Permission denied); check it and try again."
    )
    unexpected.close()
    handled.close()


def test_an_error_in_a_plain_thread_is_logged_and_shown_once(qtbot, window, caplog) -> None:
    """An exception no plain Python thread caught went past the hook (Python hands it to
    ``threading.excepthook``, not ``sys.excepthook``): it was printed to the terminal, with no
    entry in the log and no dialog. It is now logged and shown as the others are, and the hook
    Python had is given back when the app's goes."""
    import threading

    from tagbox_gui.gui.errors import ExceptionHook

    def fail() -> None:
        raise ZeroDivisionError("a bug in a thread")

    before = threading.excepthook
    hook = ExceptionHook()
    hook.install()
    try:
        thread = threading.Thread(target=fail, name="a-plain-thread")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: bool(message_boxes()), timeout=2000)
        qtbot.wait(100)  # nothing else is on its way
    finally:
        hook.uninstall()
    assert threading.excepthook is before
    (box,) = message_boxes()
    assert "ZeroDivisionError: a bug in a thread" in box.text()
    (record,) = [r for r in caplog.records if "a bug in a thread" in r.getMessage()]
    assert record.levelname == "ERROR" and record.threadName == "a-plain-thread"
    assert "Traceback" in record.getMessage()
    box.close()


def help_entry(window: MainWindow, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return next(a for a in menu.actions() if a.text() == text)


def test_help_names_the_log_file_where_its_folder_cannot_be_shown(
    window, tmp_path, monkeypatch
) -> None:
    """No file manager to open it (a minimal desktop, a remote session): Help ▸ Open log
    folder did nothing, without a word; it now says where the log file is."""
    import logging

    from PySide6.QtGui import QDesktopServices

    from tagbox_gui.gui.errors import setup_logging

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or False)
    written = setup_logging(tmp_path / "logs")
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "baseFilename", "") == str(written))
    try:
        help_entry(window, "Open &log folder").trigger()
    finally:
        root.removeHandler(handler)
        handler.close()
    assert [Path(url.toLocalFile()) for url in opened] == [tmp_path / "logs"]
    (box,) = message_boxes()
    assert str(written) in box.text()
    box.close()


def test_help_says_there_is_no_log_file_where_none_could_be_written(window, monkeypatch) -> None:
    """A log folder that could not be written (the app runs on, logging to the terminal):
    Help ▸ Open log folder opened a folder where no log is, or nothing; it now says so."""
    import logging

    from PySide6.QtGui import QDesktopServices

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "baseFilename", "").endswith("tagbox-gui.log")]
    for handler in ours:
        root.removeHandler(handler)
    try:
        help_entry(window, "Open &log folder").trigger()
    finally:
        for handler in ours:
            root.addHandler(handler)
    assert opened == []
    (box,) = message_boxes()
    assert "no log file" in box.text().lower() and "terminal" in box.text()
    box.close()


def test_user_messages_are_one_sentence() -> None:
    from tagbox_gui.core.errors import AudioError
    from tagbox_gui.gui.errors import Doing, user_message

    assert user_message(AudioError("'x.wav' holds no audio; choose another file")) == (
        "'x.wav' holds no audio; choose another file."
    )
    oom = user_message(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), Doing.RUN)
    assert "shorter region" in oom and "CPU" in oom
    assert "permission" in user_message(PermissionError(13, "Permission denied", "/x")).lower()


def test_closing_during_a_run_waits_for_the_worker(qtbot, model_dir, settings, song_path) -> None:
    window = piano_run_window(qtbot, model_dir, settings, song_path, 100_000, delay=0.01)
    window.run_view.start()
    qtbot.waitUntil(lambda: window.live.loss.count >= 2, timeout=3000)
    threads = list(window.controller._threads)
    window.confirm_quit = lambda: True
    assert window.close()
    assert all(t.isFinished() for t in threads)


def test_python_m_tagbox_gui_starts(tmp_path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "tagbox_gui", "--version"], capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    assert out.stdout.strip().startswith("tagbox-gui ")


def test_quitting_during_a_model_download_asks_and_no_lets_it_go_on(
    qtbot,
    tmp_path,
    settings,
    http_server,  # noqa: F811
) -> None:
    from tests.gui.test_models_dialog import HCNN, mirror

    root = mirror(tmp_path, REGISTRY[HCNN].relpath, 2 * 1024 * 1024)
    server = http_server(root, chunk_delay=0.05)  # 32 chunks: about 1.6 s
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    window = MainWindow(store, settings, player=fake_player())
    qtbot.addWidget(window)
    window.show()
    dialog = window.models.show_dialog(HCNN)
    with qtbot.waitSignal(dialog.progressed, timeout=5000):
        dialog.download(HCNN)
    asked: list[str] = []
    window.confirm_discard = lambda question: asked.append(question) or False
    assert not window.close()
    assert len(asked) == 1 and f"{HCNN} is still downloading" in asked[0]
    assert dialog.busy and window.models.downloading() == HCNN  # still going
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        window.confirm_discard = lambda question: asked.append(question) or True
        assert window.close()
    assert finished.args == [HCNN, "cancelled"] and not store.location(HCNN).exists()
