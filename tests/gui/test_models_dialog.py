"""The models dialog against a local HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractButton

from tagbox_gui.core.folders import format_size
from tagbox_gui.core.store.download import DownloadCancelled
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import JUKEBOX, REGISTRY
from tagbox_gui.gui.widgets import LicenceDialog, ModelsDialog
from tests.conftest import require
from tests.gui.widget_helpers import drawn
from tests.httpserver import Fault, Ranges, http_server  # noqa: F401  (fixture)

FCN = "fcn/mtat"
CRNN = "crnn/mtat"
HCNN = "hcnn/mtat"  # no checksum in the registry: a checkpoint-like file is "unknown checksum"


def open_dialog(qtbot, store: ModelStore) -> ModelsDialog:
    dialog = ModelsDialog(store)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "verifying" not in dialog._statuses.values(), timeout=10_000)
    return dialog


def wait_idle(qtbot, dialog: ModelsDialog) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    qtbot.waitUntil(lambda: "verifying" not in dialog._statuses.values(), timeout=10_000)


def click(qtbot, button) -> None:
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def mirror(tmp_path: Path, relpath: str, size: int) -> Path:
    """A folder laid out like the store holding ``relpath`` with ``size`` bytes, which start as
    torch.save's (zip) files do: a file without a known checksum must look like a checkpoint."""
    root = tmp_path / "mirror"
    target = root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"PK\x03\x04" + bytes(range(256)) * (size // 256 - 1) + bytes(252))
    return root


def jukebox_mirror(tmp_path: Path, fixtures_dir: Path) -> Path:
    """A folder laid out like the store holding a Jukebox VQ-VAE that loads (random weights of
    the published layout): the registry knows no checksum for it, so a download must load."""
    root = tmp_path / "mirror"
    target = root / REGISTRY[JUKEBOX].relpath
    target.parent.mkdir(parents=True)
    shutil.copyfile(require(fixtures_dir / "jukebox" / "vqvae_random.pth.tar"), target)
    return root


def store_holding(tmp_path: Path, server, name: str, data: bytes) -> ModelStore:
    """A store at ``tmp_path / "store"`` downloading from ``server`` whose ``name`` file holds
    ``data``."""
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    store.location(name).parent.mkdir(parents=True)
    store.location(name).write_bytes(data)
    return store


def download_selected(qtbot, dialog: ModelsDialog, name: str) -> list:
    """Select ``name``, click Download and wait for the job's end: ``job_finished``'s args."""
    dialog.select_model(name)
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        click(qtbot, dialog.download_button)
    return finished.args


def test_statuses_present_missing_verified_corrupt(qtbot, tmp_path: Path, model_dir) -> None:
    store = ModelStore(tmp_path / "store")
    real = require(model_dir / "taggers/mtat/fcn/best_model.pth")
    store.location(FCN).parent.mkdir(parents=True)
    shutil.copyfile(real, store.location(FCN))  # a copy in a temporary store, not the repo
    store.location(CRNN).parent.mkdir(parents=True)
    store.location(CRNN).write_bytes(b"not a checkpoint")
    store.location(HCNN).parent.mkdir(parents=True)
    store.location(HCNN).write_bytes(b"PK\x03\x04unknown")  # starts like a checkpoint
    dialog = open_dialog(qtbot, store)
    assert dialog.tree.topLevelItemCount() == len(REGISTRY)
    assert dialog.status(FCN) == "verified"
    assert dialog.status(CRNN) == "mismatch"
    assert dialog.status(HCNN) == "unknown checksum"
    assert dialog.status(JUKEBOX) == "missing"
    assert dialog._item(CRNN).text(3) == "corrupt (checksum mismatch)"
    dialog.select_model(FCN)
    assert not dialog.download_button.isEnabled()  # already there and verified
    dialog.select_model(CRNN)
    assert dialog.download_button.isEnabled()  # a corrupt file can be downloaded again


def test_download_with_progress(qtbot, tmp_path: Path, model_dir, http_server) -> None:  # noqa: F811
    require(model_dir / "taggers/mtat/fcn/best_model.pth")
    server = http_server(model_dir)  # the shared folder is laid out like the store
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    dialog = open_dialog(qtbot, store)
    dialog.select_model(FCN)
    seen: list[int] = []
    dialog.progressed.connect(lambda done, total: seen.append(done))
    with (
        qtbot.waitSignal(dialog.models_changed, timeout=10_000),
        qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished,
    ):
        click(qtbot, dialog.download_button)
        assert dialog.busy and not dialog.progress.isHidden()
        assert not dialog.download_button.isEnabled()
    assert finished.args == [FCN, "installed"]
    assert seen and seen[-1] == REGISTRY[FCN].size
    assert server.requests == ["/taggers/mtat/fcn/best_model.pth"]
    wait_idle(qtbot, dialog)
    assert dialog.status(FCN) == "verified"
    assert store.verify(FCN) == "verified"
    assert dialog.progress.isHidden()
    assert "installed" in dialog.message.text()


def test_cancel_leaves_nothing(qtbot, tmp_path: Path, http_server) -> None:  # noqa: F811
    root = mirror(tmp_path, REGISTRY[HCNN].relpath, 2 * 1024 * 1024)
    server = http_server(root, chunk_delay=0.05)  # 32 chunks: about 1.6 s
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    dialog = open_dialog(qtbot, store)
    dialog.select_model(HCNN)
    with qtbot.waitSignal(dialog.progressed, timeout=5000):
        click(qtbot, dialog.download_button)
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        click(qtbot, dialog.cancel_button)
    assert finished.args == [HCNN, "cancelled"]
    assert dialog.status(HCNN) == "missing"
    assert "cancelled" in dialog.message.text()
    folder = store.location(HCNN).parent
    assert not store.location(HCNN).exists() and not list(folder.glob("*.part"))


def test_cancel_keeps_what_came_where_the_server_names_its_file(
    qtbot,
    tmp_path: Path,
    http_server,  # noqa: F811
) -> None:
    """A server that names its file (an ETag): what came is kept beside the file, the model
    is still missing, and the message says how much was kept."""
    root = mirror(tmp_path, REGISTRY[HCNN].relpath, 2 * 1024 * 1024)
    server = http_server(root, chunk_delay=0.05, validators=True)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    dialog = open_dialog(qtbot, store)
    dialog.select_model(HCNN)
    with qtbot.waitSignal(dialog.progressed, timeout=5000):
        click(qtbot, dialog.download_button)
    qtbot.wait(300)  # some chunks come
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        click(qtbot, dialog.cancel_button)
    assert finished.args == [HCNN, "cancelled"]
    kept = store.kept(HCNN)
    assert kept > 0 and dialog.status(HCNN) == "missing"
    assert dialog.message.text() == (
        f"Download of {HCNN} cancelled; the {format_size(kept)} received are kept, and the next "
        "download of it goes on from there."
    )
    going_on = f"missing — {format_size(kept)} of a download kept: Download goes on from there"
    assert dialog._item(HCNN).text(3) == going_on


def test_a_part_kept_before_the_window_opened_is_shown_until_the_download_ends(
    qtbot,
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A part that a download kept (in the window, or with `tagbox models fetch`) is said in
    the model's status as the window opens; once the download that goes on from it is done,
    the model is verified and the part is no more."""
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    cancel = threading.Event()
    with pytest.raises(DownloadCancelled):
        store.fetch(FCN, progress=lambda done, _: done and cancel.set(), cancel=cancel)
    kept = store.kept(FCN)
    assert kept > 0
    dialog = open_dialog(qtbot, store)
    going_on = f"missing — {format_size(kept)} of a download kept: Download goes on from there"
    assert dialog.status(FCN) == "missing" and dialog._item(FCN).text(3) == going_on
    dialog.select_model(FCN)
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        click(qtbot, dialog.download_button)
    assert finished.args == [FCN, "installed"]
    wait_idle(qtbot, dialog)
    assert server.ranges_asked[-1] == f"bytes={kept}-"
    assert dialog._item(FCN).text(3) == "verified" and store.kept(FCN) == 0


def test_cancelling_one_of_several_downloads_ends_them_all(
    qtbot,
    tmp_path: Path,
    http_server,  # noqa: F811
) -> None:
    root = mirror(tmp_path, REGISTRY[HCNN].relpath, 2 * 1024 * 1024)
    server = http_server(root, chunk_delay=0.05)  # 32 chunks: about 1.6 s
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    dialog = open_dialog(qtbot, store)
    with qtbot.waitSignal(dialog.progressed, timeout=5000):
        dialog.download_all([HCNN, CRNN])
    assert dialog.selected_model() == HCNN
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        click(qtbot, dialog.cancel_button)
    assert finished.args == [HCNN, "cancelled"]
    qtbot.wait(200)  # time for a next download to start, were it to
    assert not dialog.busy and server.requests == [f"/{REGISTRY[HCNN].relpath}"]
    assert dialog.message.text() == (
        f"Download of {HCNN} cancelled; nothing was kept. {CRNN} was not downloaded."
    )
    assert not [p for p in store.root.rglob("*") if p.is_file()]


def test_failed_download_says_what_to_do(qtbot, tmp_path: Path, http_server) -> None:  # noqa: F811
    root = mirror(tmp_path, REGISTRY[HCNN].relpath, 4096)
    server = http_server(root, fault=Fault.NOT_FOUND)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    dialog = open_dialog(qtbot, store)
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        dialog.download(HCNN)
    assert finished.args == [HCNN, "failed"]
    text = dialog.message.text()
    assert "HTTP 404" in text and "the server did not send it" in text
    # the advice names this window's buttons, not commands of a terminal it was not opened in
    assert "tagbox models" not in text and "`" not in text
    assert "install it with Locate file…" in text
    assert drawn(dialog.download_button.text()) == "Download"
    assert drawn(dialog.locate_button.text()) == "Locate file…"
    assert dialog.status(HCNN) == "missing" and not dialog.busy


def test_a_download_of_another_file_says_so_in_the_window(
    qtbot,
    tmp_path: Path,
    model_dir,
    http_server,  # noqa: F811
) -> None:
    require(model_dir / REGISTRY[FCN].relpath)
    server = http_server(model_dir, fault=Fault.CORRUPT)  # every byte comes, one of them wrong
    dialog = open_dialog(qtbot, ModelStore(tmp_path / "store", base_urls=[server.url]))
    assert download_selected(qtbot, dialog, FCN) == [FCN, "failed"]
    text = dialog.message.text()
    assert "what arrived is not the expected best_model.pth" in text
    assert "connection" not in text and "tagbox models" not in text
    assert "click Download again" in text and "install it with Locate file…" in text


def test_each_button_has_an_alt_key_of_its_own_and_the_words_stay(qtbot, tmp_path: Path) -> None:
    """Download, Locate file…, Change folder…, Use the default folder, Cancel download and Close
    are pressed with Alt and a letter of their own, as the window's menus and fields are; the
    advice names them as they are drawn."""
    dialog = open_dialog(qtbot, ModelStore(tmp_path / "store"))
    texts = [button.text() for button in dialog.findChildren(QAbstractButton)]
    assert sorted(map(drawn, texts)) == [
        "Cancel download", "Change folder…", "Close", "Download", "Locate file…",
        "Use the default folder",
    ]  # fmt: skip
    keys = [QKeySequence.mnemonic(text) for text in texts]
    assert all(not key.isEmpty() for key in keys) and len(set(keys)) == len(keys), texts
    dialog.select_model(FCN)
    asked: list[str] = []
    dialog.choose_file = lambda info: asked.append(info.name)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=2000)
    qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_L, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: asked == [FCN], timeout=2000)  # the button's click is animated


def test_jukebox_needs_the_licence(
    qtbot,
    tmp_path: Path,
    http_server,  # noqa: F811
    fixtures_dir: Path,
) -> None:
    root = jukebox_mirror(tmp_path, fixtures_dir)
    server = http_server(root)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    dialog = open_dialog(qtbot, store)
    asked = []
    dialog.ask_licence = lambda info: asked.append(info) or False  # declined
    dialog.select_model(JUKEBOX)
    click(qtbot, dialog.download_button)
    assert asked[0].licence_text == REGISTRY[JUKEBOX].licence_text
    assert not dialog.busy and server.requests == []  # nothing was fetched
    dialog.ask_licence = lambda info: True
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        click(qtbot, dialog.download_button)
    assert finished.args == [JUKEBOX, "installed"]
    wait_idle(qtbot, dialog)
    assert dialog.status(JUKEBOX) == "unknown checksum"  # OpenAI publishes no checksum
    assert store.location(JUKEBOX).read_bytes() == (root / REGISTRY[JUKEBOX].relpath).read_bytes()


def test_licence_dialog_shows_the_text(qtbot) -> None:
    info = REGISTRY[JUKEBOX]
    dialog = LicenceDialog(info)
    qtbot.addWidget(dialog)
    assert dialog.text.toPlainText() == info.licence_text
    assert "Noncommercial" in dialog.windowTitle() + dialog.text.toPlainText()
    dialog.show()
    click(qtbot, dialog.accept_button)
    assert dialog.result() == LicenceDialog.DialogCode.Accepted


def test_locate_file_installs_and_checks(qtbot, tmp_path: Path, model_dir) -> None:
    real = require(model_dir / "taggers/mtat/fcn/best_model.pth")
    store = ModelStore(tmp_path / "store")
    dialog = open_dialog(qtbot, store)
    wrong = tmp_path / "best_model.pth"
    wrong.write_bytes(b"something else")
    dialog.choose_file = lambda info: str(wrong)
    dialog.select_model(FCN)
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        click(qtbot, dialog.locate_button)
    assert finished.args == [FCN, "failed"]
    assert FCN in dialog.message.text() and "again" in dialog.message.text()
    assert dialog.status(FCN) == "missing"
    dialog.choose_file = lambda info: str(real)
    with qtbot.waitSignal(dialog.models_changed, timeout=10_000):
        click(qtbot, dialog.locate_button)
    wait_idle(qtbot, dialog)
    assert dialog.status(FCN) == "verified"
    assert real.is_file()  # copied, not moved
    dialog.choose_file = lambda info: None  # the file chooser was cancelled
    click(qtbot, dialog.locate_button)
    assert not dialog.busy


def test_closing_cancels_a_download(qtbot, tmp_path: Path, http_server) -> None:  # noqa: F811
    root = mirror(tmp_path, REGISTRY[HCNN].relpath, 2 * 1024 * 1024)
    server = http_server(root, chunk_delay=0.05)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    dialog = open_dialog(qtbot, store)
    with qtbot.waitSignal(dialog.progressed, timeout=5000):
        dialog.download(HCNN)
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        dialog.reject()
    assert finished.args == [HCNN, "cancelled"]
    assert not store.location(HCNN).exists()


def test_a_failed_download_over_a_corrupt_file_still_shows_it_corrupt(
    qtbot,
    tmp_path: Path,
    http_server,  # noqa: F811
) -> None:
    """The file the failed download would have replaced is still the corrupt one: the dialog
    must keep saying so (and keep Download enabled), not call it "present"."""
    server = http_server(tmp_path, fault=Fault.NOT_FOUND)
    dialog = open_dialog(qtbot, store_holding(tmp_path, server, FCN, b"not a checkpoint"))
    assert dialog.status(FCN) == "mismatch"
    assert download_selected(qtbot, dialog, FCN) == [FCN, "failed"]
    wait_idle(qtbot, dialog)
    assert dialog.status(FCN) == "mismatch"
    assert dialog._item(FCN).text(3) == "corrupt (checksum mismatch)"
    assert dialog.download_button.isEnabled()


def test_an_older_check_does_not_overwrite_a_newer_one(qtbot, tmp_path: Path, model_dir) -> None:
    import threading

    store = ModelStore(tmp_path / "store")
    store.location(CRNN).parent.mkdir(parents=True)
    store.location(CRNN).write_bytes(b"not a checkpoint")
    real_verify, first_check = store.verify, threading.Event()
    calls: list[str] = []

    def verify(name: str) -> str:
        calls.append(name)
        if len(calls) == 1:  # the check the dialog starts on opening: slow, of the old file
            status = real_verify(name)
            first_check.wait(10)
            return status
        return real_verify(name)

    store.verify = verify
    dialog = ModelsDialog(store)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: calls == [CRNN], timeout=5000)  # read the corrupt file, still busy
    shutil.copyfile(require(model_dir / "taggers/mtat/crnn/best_model.pth"), store.location(CRNN))
    dialog._verify_one(CRNN)  # as after an install: a newer check of the new file
    qtbot.waitUntil(lambda: dialog.status(CRNN) == "verified", timeout=5000)
    first_check.set()  # the old check ends now with "mismatch"
    with qtbot.waitSignal(dialog.verification_finished, timeout=5000):
        pass
    qtbot.wait(50)
    assert dialog.status(CRNN) == "verified"


def test_enter_in_the_licence_dialog_does_not_accept_it(qtbot) -> None:
    """Accepting a licence binds the stems made with the model: a stray Enter must decline,
    not accept; Accept is a deliberate choice."""
    from PySide6.QtWidgets import QApplication

    dialog = LicenceDialog(REGISTRY[JUKEBOX])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5000)
    assert dialog.decline_button.isDefault() and not dialog.accept_button.isDefault()
    qtbot.keyClick(QApplication.focusWidget() or dialog, Qt.Key.Key_Return)
    assert dialog.result() == LicenceDialog.DialogCode.Rejected and not dialog.isVisible()


def test_download_waits_for_the_check_of_a_model_that_is_there(qtbot, tmp_path: Path) -> None:
    import threading

    store = ModelStore(tmp_path / "store")
    store.location(CRNN).parent.mkdir(parents=True)
    store.location(CRNN).write_bytes(b"not a checkpoint")  # corrupt: to download again
    real_verify, checked = store.verify, threading.Event()

    def verify(name: str) -> str:
        checked.wait(10)  # a large file takes a while to hash
        return real_verify(name)

    store.verify = verify
    dialog = ModelsDialog(store)
    qtbot.addWidget(dialog)
    dialog.select_model(CRNN)
    assert dialog.status(CRNN) == "verifying" and not dialog.download_button.isEnabled()
    checked.set()
    qtbot.waitUntil(lambda: dialog.status(CRNN) == "mismatch", timeout=5000)
    assert dialog.download_button.isEnabled()


def test_an_unexpected_failure_of_an_install_is_logged_with_its_traceback(
    qtbot, tmp_path: Path, monkeypatch, caplog
) -> None:
    store = ModelStore(tmp_path / "store")
    dialog = open_dialog(qtbot, store)

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the install")

    monkeypatch.setattr(store, "install_file", broken)
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        dialog.install(FCN, str(tmp_path / "best_model.pth"))
    assert finished.args == [FCN, "failed"]
    assert "unexpected error" in dialog.message.text().lower()
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert logged and "a bug in the install" in str(logged[-1].exc_info[1])  # the details


def test_an_unexpected_failure_of_a_check_ends_it_and_lets_the_user_try_again(
    qtbot, tmp_path: Path, monkeypatch, caplog
) -> None:
    store = ModelStore(tmp_path / "store")
    for name in (FCN, CRNN, HCNN):  # present: checked when the dialog opens
        target = store.location(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"PK\x03\x04" + bytes(1020))

    def broken(name: str) -> str:
        raise RuntimeError("a bug in the check")

    monkeypatch.setattr(store, "verify", broken)
    dialog = open_dialog(qtbot, store)  # waits until no model is "verifying…"
    assert dialog.status(HCNN) == "check failed"
    assert dialog._item(HCNN).text(3).startswith("check failed")
    said = dialog.message.text()
    assert "Checking fcn/mtat, crnn/mtat and hcnn/mtat failed" in said  # all, not the last
    dialog.select_model(HCNN)
    assert dialog.download_button.isEnabled() and dialog.locate_button.isEnabled()
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert logged and "a bug in the check" in str(logged[-1].exc_info[1])


def test_download_progress_says_sizes_in_decimal_units(qtbot, tmp_path: Path) -> None:
    dialog = open_dialog(qtbot, ModelStore(tmp_path / "store"))
    dialog._on_progressed(850_000, REGISTRY[FCN].size)
    assert dialog.progress.format() == "850 kB of 1.9 MB"
    assert dialog.progress.accessibleDescription() == "850 kB of 1.9 MB downloaded"
    dialog._on_progressed(12_345_678, None)  # no length sent: no total to say
    assert dialog.progress.accessibleDescription() == "12.3 MB downloaded"


def test_the_missing_taggers_message_says_their_sizes_in_decimal_units(
    qtbot, tmp_path: Path
) -> None:
    """The taggers are 1,902,8xx bytes: 1.9 MB, as a file manager says (not 2**20-byte "2 MB")."""
    from PySide6.QtWidgets import QMainWindow

    from tagbox_gui.gui.models_prompt import ModelsPrompt

    window = QMainWindow()
    qtbot.addWidget(window)
    text = ModelsPrompt(window, ModelStore(tmp_path / "store")).missing_message()
    assert "fcn/mtat (1.9 MB) and fcn/jamendo (1.9 MB), MIT licence" in text


def test_reopening_the_dialog_looks_at_the_store_again(qtbot, tmp_path: Path, model_dir) -> None:
    """Files change while the dialog is closed (the command line, a file manager): opened again
    from Tools ▸ Models…, it must say what is there now, so a file gone or corrupted since can
    be downloaded again from it, not stay "verified" with Download off."""
    from PySide6.QtWidgets import QMainWindow

    from tagbox_gui.gui.models_prompt import ModelsPrompt

    store = ModelStore(tmp_path / "store")
    for name in (FCN, CRNN):
        store.location(name).parent.mkdir(parents=True)
        shutil.copyfile(require(model_dir / REGISTRY[name].relpath), store.location(name))
    window = QMainWindow()
    qtbot.addWidget(window)
    prompt = ModelsPrompt(window, store)
    dialog = prompt.show_dialog()
    wait_idle(qtbot, dialog)
    assert dialog.status(FCN) == dialog.status(CRNN) == "verified"
    dialog.close()
    store.location(FCN).unlink()
    store.location(CRNN).write_bytes(b"not a checkpoint")
    assert prompt.show_dialog(CRNN) is dialog
    wait_idle(qtbot, dialog)
    assert dialog.status(FCN) == "missing" and dialog.status(CRNN) == "mismatch"
    assert dialog.download_button.isEnabled()


def test_a_file_without_a_known_checksum_can_be_downloaded_again(
    qtbot,
    tmp_path: Path,
    http_server,  # noqa: F811
    fixtures_dir: Path,
) -> None:
    """Where the registry knows no checksum (Harmonic CNN, Jukebox), a file that starts like a
    checkpoint may still be truncated, and a run then asks to fetch it again: the dialog must
    let the musician download it again, and the download must replace it."""
    root = jukebox_mirror(tmp_path, fixtures_dir)
    server = http_server(root)
    store = store_holding(tmp_path, server, JUKEBOX, b"PK\x03\x04truncated")
    dialog = open_dialog(qtbot, store)
    dialog.ask_licence = lambda info: True
    assert dialog.status(JUKEBOX) == "unknown checksum"
    assert download_selected(qtbot, dialog, JUKEBOX) == [JUKEBOX, "installed"]
    assert server.requests == [f"/{REGISTRY[JUKEBOX].relpath}"]
    data = (root / REGISTRY[JUKEBOX].relpath).read_bytes()
    assert store.location(JUKEBOX).read_bytes() == data


def test_the_model_folder_can_be_changed_in_the_dialog(qtbot, tmp_path: Path) -> None:
    """Change folder… points the store at another folder (a larger disk): the list says what
    that one holds, the window is told to remember it, and the files before stay."""
    store = ModelStore(tmp_path / "first")
    store.location(HCNN).parent.mkdir(parents=True)
    store.location(HCNN).write_bytes(b"PK\x03\x04unknown")
    dialog = open_dialog(qtbot, store)
    assert dialog.status(HCNN) == "unknown checksum"
    dialog.choose_folder = lambda: str(tmp_path / "second" / "models")  # made when written
    with qtbot.waitSignal(dialog.folder_changed, timeout=5000) as changed:
        click(qtbot, dialog.folder_button)
    assert changed.args == [str(tmp_path / "second" / "models")]
    assert store.root == tmp_path / "second" / "models"
    wait_idle(qtbot, dialog)
    assert dialog.status(HCNN) == "missing"  # not in the new folder
    assert (tmp_path / "first" / store.location(HCNN).relative_to(store.root)).is_file()
    assert "now stored in" in dialog.message.text() and "first" in dialog.message.text()


def test_choosing_the_folder_already_used_changes_nothing_and_says_so(
    qtbot, tmp_path: Path
) -> None:
    """The folder in use chosen again: nothing to remember, and the message does not speak of
    a move, nor of files left behind in the same folder."""
    store = ModelStore(tmp_path / "store")
    dialog = open_dialog(qtbot, store)
    wait_idle(qtbot, dialog)
    changed: list[str] = []
    dialog.folder_changed.connect(changed.append)
    assert dialog.change_folder(str(tmp_path / "store"))
    assert changed == [] and store.root == tmp_path / "store"
    text = dialog.message.text()
    assert "already stored in" in text and "now" not in text and "stay there" not in text


def test_a_model_folder_that_cannot_be_written_is_refused(qtbot, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    dialog = open_dialog(qtbot, store)
    (tmp_path / "a file").write_text("not a folder")
    refused = []
    dialog.folder_changed.connect(refused.append)
    assert not dialog.change_folder(str(tmp_path / "a file"))
    assert store.root == tmp_path / "store" and refused == []
    assert "is a file, not a folder" in dialog.message.text()


def test_a_model_folder_set_when_the_app_started_is_not_changed_here(qtbot, tmp_path) -> None:
    store = ModelStore(tmp_path / "store")
    dialog = open_dialog(qtbot, store)
    assert dialog.folder_button.isEnabled()
    dialog.set_folder_set_by("--model-dir")
    assert not dialog.folder_button.isEnabled() and "--model-dir" in dialog.folder_button.toolTip()
    assert not dialog.change_folder(str(tmp_path / "other")) and store.root == tmp_path / "store"


def test_a_model_folder_that_cannot_be_made_points_to_change_folder(
    qtbot, tmp_path: Path, model_dir
) -> None:
    """A file where the model's folder must go: the window advises its own Change folder…,
    not the command line's --model-dir."""
    text = _install_where_the_folder_cannot_be_made(qtbot, tmp_path, model_dir)
    assert "is a file, not a folder" in text and "Change folder…" in text
    assert "--model-dir" not in text and "TAGBOX_MODEL_DIR" not in text


def test_a_model_folder_fixed_at_start_that_cannot_be_made_points_to_what_fixed_it(
    qtbot, tmp_path: Path, model_dir
) -> None:
    """With the folder set by --model-dir (or $TAGBOX_MODEL_DIR), Change folder… is disabled:
    the advice names what set the folder, not the button that cannot be used."""
    for set_by, told in (("--model-dir", "another --model-dir"),
                         ("$TAGBOX_MODEL_DIR", "$TAGBOX_MODEL_DIR to another folder")):  # fmt: skip
        text = _install_where_the_folder_cannot_be_made(qtbot, tmp_path, model_dir, set_by)
        assert "is a file, not a folder" in text and "Change folder…" not in text
        assert told in text and "start TagBox again" in text


def _install_where_the_folder_cannot_be_made(
    qtbot, tmp_path: Path, model_dir: Path, set_by: str = ""
) -> str:
    """Locate file… for fcn/mtat into a store whose folder is a file (the folder fixed at start
    by ``set_by``, if any): the failure the window shows."""
    real = require(model_dir / "taggers/mtat/fcn/best_model.pth")
    (tmp_path / "store").write_text("a file where the folder goes")
    dialog = open_dialog(qtbot, ModelStore(tmp_path / "store"))
    dialog.set_folder_set_by(set_by)
    dialog.choose_file = lambda info: str(real)
    dialog.select_model(FCN)
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000) as finished:
        click(qtbot, dialog.locate_button)
    assert finished.args == [FCN, "failed"]
    return dialog.message.text()


def test_the_default_model_folder_can_be_used_again(qtbot, tmp_path: Path, monkeypatch) -> None:
    """A remembered folder that is gone (a drive unplugged): Use the default folder switches the
    store to the default one, which need not exist yet (a folder picker cannot choose it) and
    may be made by a download, and tells the window to forget the remembered folder (''). It is
    off once the default is in use, and while --model-dir or $TAGBOX_MODEL_DIR fixed the folder."""
    monkeypatch.delenv("TAGBOX_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    default = tmp_path / "cache" / "tagbox-gui" / "models"
    store = ModelStore(tmp_path / "Disk" / "models", make_root=False)
    dialog = open_dialog(qtbot, store)
    assert (
        "Use the default folder" in dialog.message.text() and str(default) in dialog.message.text()
    )
    dialog.set_folder_set_by("--model-dir")
    assert not dialog.default_button.isEnabled()
    assert "--model-dir" in dialog.default_button.toolTip()
    dialog.set_folder_set_by("")
    with qtbot.waitSignal(dialog.folder_changed, timeout=5000) as changed:
        click(qtbot, dialog.default_button)
    assert changed.args == [""]
    assert store.root == default and not store.root_gone() and not default.exists()
    wait_idle(qtbot, dialog)
    assert dialog.status(FCN) == "missing"
    assert str(default) in dialog.message.text() and "is not there" not in dialog.message.text()
    assert not dialog.default_button.isEnabled() and dialog.folder_button.isEnabled()


def test_each_column_is_wide_enough_for_its_words_at_the_dialogs_size(qtbot, tmp_path) -> None:
    """What each model is is read whole where the dialog has room: the room left by the name,
    licence and status goes to it, not to the status; a longer status later widens its column."""
    dialog = open_dialog(qtbot, ModelStore(tmp_path / "store"))
    dialog.show()
    qtbot.waitExposed(dialog)
    tree = dialog.tree
    for column in range(tree.columnCount()):
        assert tree.columnWidth(column) >= tree.sizeHintForColumn(column), column
    dialog._set_status(FCN, "check failed")  # the longest status
    qtbot.wait(50)  # the header lays out again
    status = 3
    assert tree.columnWidth(status) >= tree.sizeHintForColumn(status)
    assert sum(map(tree.columnWidth, range(tree.columnCount()))) <= tree.viewport().width()
