"""Which models are installed, and getting the missing ones (download or a local file).

Verification (hashing), downloads and installs all run in worker threads; the dialog only
shows their progress. The store's ``fetch`` reports progress from its thread through a relay
QObject, whose queued signal lands in the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.core.audio.atomic import check_folder
from tagbox_gui.core.errors import UserError, listed
from tagbox_gui.core.folders import format_size, in_the_way, make_folders, standing_in_the_way
from tagbox_gui.core.separation.checkpoints import check_model_file
from tagbox_gui.core.store.download import DownloadCancelled
from tagbox_gui.core.store.failures import Advised, Ways
from tagbox_gui.core.store.keeping import kept_in_brief, kept_said
from tagbox_gui.core.store.models import ENV_MODEL_DIR, ModelStore, default_root
from tagbox_gui.core.store.registry import REGISTRY, ModelInfo
from tagbox_gui.gui.background import hand_back, receiver, run_in_background, throttled
from tagbox_gui.gui.widgets.licence_dialog import LicenceDialog
from tagbox_gui.gui.widgets.plain_text import keep_ampersands

DOWNLOAD, LOCATE = "Download", "Locate file…"  # the buttons, as the advice names them
CHANGE_FOLDER, CANCEL_DOWNLOAD = "Change folder…", "Cancel download"
USE_DEFAULT = "Use the default folder"
WAYS = Ways(
    retry=f"click {DOWNLOAD} again",
    install=f"install it with {LOCATE}",
    folder=f"choose another model folder with {CHANGE_FOLDER}",
    download=f"download it with {DOWNLOAD}",
)
"""The ways on after a model store's failure (a failed download), as this window offers them."""


def ways_for(folder_set_by: str) -> Ways:
    """:data:`WAYS`, with another folder chosen where ``folder_set_by`` (``--model-dir``, or
    ``$TAGBOX_MODEL_DIR``) fixed it when the app started: Change folder… is disabled then."""
    if not folder_set_by:
        return WAYS
    if folder_set_by == f"${ENV_MODEL_DIR}":
        other = f"set {folder_set_by} to another folder and start TagBox again"
    else:
        other = f"start TagBox again with another {folder_set_by}"
    return replace(WAYS, folder=other)


def folder_gone(store: ModelStore, where: str = "", folder_set_by: str = "") -> str:
    """What to say where the store's folder is gone (``ModelStore.root_gone``): one remembered,
    or one ``folder_set_by`` gave (``--model-dir``, ``$TAGBOX_MODEL_DIR``: see :func:`ways_for`),
    the link to a drive not plugged in that stands on its way named (``core.folders.in_the_way``)
    where one does; '' where it is not gone. ``where`` is where Change folder… is, when not said
    in the Models window."""
    if not store.root_gone():
        return ""
    if folder_set_by:
        other = ways_for(folder_set_by).folder
    else:
        other = f"choose another with {CHANGE_FOLDER}, or {USE_DEFAULT} ({default_root()}){where}"
    there = standing_in_the_way(store.root)
    if there is None:
        why = "if it is on a drive that is not plugged in, plug it in and open Models again;"
    else:
        what, fix = in_the_way(there)
        why = f"'{there}' is {what}; {fix or 'move it away'} and open Models again,"
    return f"The model folder {store.root} is not there: {why} or {other}."


STATUS_TEXT = {
    "missing": "missing",
    "present": "present",
    "verified": "verified",
    "mismatch": "corrupt (checksum mismatch)",
    "unknown checksum": "present (no checksum known)",
    "unreadable": "cannot be read (check its permissions)",
    "check failed": f"check failed (see the log); {DOWNLOAD} or {LOCATE} again",
}
log = logging.getLogger(__name__)
NAME, TITLE, LICENCE, STATUS = range(4)
PROGRESS_INTERVAL = 0.05  # seconds between progress signals: the bar needs no more
PROGRESS_ABOUT = "How much of the model file is written"  # then "… MB downloaded"


class ModelsDialog(QDialog):
    """Lists the registry's models with their status; downloads, cancels, installs files.

    Signals: ``models_changed()`` after a model was installed; ``verification_finished()``
    when the background check of the installed files is done; ``job_finished(name, outcome)``
    with outcome ``installed``, ``cancelled`` or ``failed`` after a download or install;
    ``progressed(done, total)`` with the bytes of a download (total None when not known).
    ``ask_licence`` and ``choose_file`` are the two prompts (replaceable, e.g. in tests).
    """

    models_changed = Signal()
    folder_changed = Signal(str)  # the store's new folder, chosen in the dialog; '' the default
    verification_finished = Signal()
    job_finished = Signal(str, str)
    progressed = Signal(object, object)  # bytes done, bytes total or None (may exceed 2**31)

    def __init__(self, store: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.store = store
        self.ask_licence: Callable[[ModelInfo], bool] = lambda info: LicenceDialog.ask(info, self)
        self.choose_file: Callable[[ModelInfo], str | None] = self._choose_file
        self.choose_folder: Callable[[], str | None] = self._choose_folder
        self.folder_set_by = ""  # what fixed the folder for this session (--model-dir), or ''
        self._cancel: threading.Event | None = None
        self._job: Future | None = None  # the running download or install
        self._job_name = ""
        self._queue: list[str] = []  # the models to download after this one (download_all)
        self._statuses: dict[str, str] = {}
        self._checks: dict[str, int] = {}  # per model, the newest check started: older drop
        self.progressed.connect(self._on_progressed)
        self._build()
        self._fill()
        self.verify_all()

    # ----- building ----------------------------------------------------------------------
    def _build(self) -> None:
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Model", "What it is", "Licence", "Status"])
        self.tree.setAccessibleName("Model files")
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()  # the room the others leave goes to what each model is
        header.setStretchLastSection(False)
        for column in (NAME, LICENCE, STATUS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(TITLE, QHeaderView.ResizeMode.Stretch)
        self.tree.currentItemChanged.connect(self._on_tree_current_changed)
        self.download_button = QPushButton(_keyed(DOWNLOAD, "D"))
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.locate_button = QPushButton(_keyed(LOCATE, "L"))
        self.locate_button.clicked.connect(self._on_locate_button_clicked)
        self.folder_button = QPushButton(_keyed(CHANGE_FOLDER, "f"))
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        self.default_button = QPushButton(_keyed(USE_DEFAULT, "U"))
        self.default_button.clicked.connect(self._on_default_button_clicked)
        self.cancel_button = QPushButton(_keyed(CANCEL_DOWNLOAD, "n"))
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.progress = QProgressBar(visible=False, accessibleDescription=PROGRESS_ABOUT)
        self.message = QLabel()
        self.message.setBuddy(self.progress)  # its name: "Downloading fcn/mtat…"
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # paths and errors, never HTML
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.button(QDialogButtonBox.StandardButton.Close).setText(_keyed("Close", "C"))
        close.rejected.connect(self.reject)
        row = QHBoxLayout()
        for widget in (self.download_button, self.locate_button, self.cancel_button):
            row.addWidget(widget)
        row.addWidget(self.progress, 1)
        row.addWidget(self.folder_button)
        row.addWidget(self.default_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(close)
        self.resize(900, 480)

    def _fill(self) -> None:
        for info in REGISTRY.values():
            item = QTreeWidgetItem([info.name, info.title, info.licence, ""])
            item.setData(NAME, Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(TITLE, info.note or info.title)
            self.tree.addTopLevelItem(item)
            self._set_status(info.name, self.store.status(info.name))
        self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._say_where()

    # ----- public ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A download or install is running."""
        return self._job is not None

    @property
    def downloading(self) -> str:
        """The model being downloaded ('' when none is: an install is no download)."""
        return self._job_name if self._job is not None and self._cancel is not None else ""

    def status(self, name: str) -> str:
        """The status shown for ``name``: a key of :data:`STATUS_TEXT` or ``verifying``."""
        return self._statuses[name]

    def select_model(self, name: str) -> None:
        self.tree.setCurrentItem(self._item(name))

    def selected_model(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(NAME, Qt.ItemDataRole.UserRole)

    def verify_all(self) -> None:
        """Check every installed model's checksum in the background."""
        names = [n for n in REGISTRY if self.store.status(n) == "present"]
        self._start_checks(names, then=self._on_verifier_finished)

    def refresh(self) -> None:
        """Look at the store again, as on opening: its files may have been added, removed or
        replaced since (by the command line, by hand), each installed one is checked again."""
        for name in REGISTRY:
            self._set_status(name, self.store.status(name))
        self._say_where()
        self.verify_all()

    def download(self, name: str) -> None:
        """Download ``name`` in the background (after the licence prompt where needed)."""
        info = REGISTRY[name]
        if self.busy or (info.needs_acceptance and not self.ask_licence(info)):
            return
        self._cancel = threading.Event()
        to = receiver(self._on_progress_handed_back)
        progress = throttled(lambda done, total: hand_back(to, (done, total)), PROGRESS_INTERVAL)
        again = self._statuses.get(name) == "unknown checksum"  # fetch would keep that file
        self._start_job(name, self.store.fetch, name, progress, True, self._cancel, again,
                        check_model_file, cancellable=True)  # fmt: skip
        self._say(f"Downloading {name}…")

    def download_all(self, names: Sequence[str]) -> None:
        """Download ``names`` one after another in the background, each as :meth:`download`
        does (selected, with its progress and Cancel); one cancelled or failed ends it, the
        message naming those left undownloaded. Nothing starts while a job runs."""
        if self.busy or not names:
            return
        self.select_model(names[0])
        self.download(names[0])
        self._queue = list(names[1:]) if self.busy else []

    def install(self, name: str, path: str) -> None:
        """Copy a hand-downloaded file into the store in the background (checksum checked)."""
        info = REGISTRY[name]
        if self.busy or (info.needs_acceptance and not self.ask_licence(info)):
            return
        self._start_job(name, self.store.install_file, name, path, True, check_model_file,
                        cancellable=False)  # fmt: skip
        self._say(f"Installing {name} from {path}…")

    def set_folder_set_by(self, source: str) -> None:
        """The folder was fixed for this session by ``source`` (``--model-dir``, or
        ``$TAGBOX_MODEL_DIR``): it cannot be changed here; '' lets it be changed again."""
        self.folder_set_by = source
        self._update_buttons()
        self._say_where()  # a folder gone: another is chosen as ``source`` allows

    def change_folder(self, folder: str) -> bool:
        """Keep the models in ``folder`` from now on: the store looks there, the list says what
        it holds, and ``folder_changed`` tells the window to remember it. The folder is made
        now, so that a later session finds it there (one that is gone then is not made again,
        see ``ModelStore.root_gone``). The files in the folder before stay where they are. False,
        with the reason shown, for a folder the app may not write in (or while a download runs)."""
        if self.busy or self.folder_set_by:
            return False
        path = Path(folder).expanduser()
        try:
            check_folder(path, "model folder")
            make_folders(path)
        except UserError as exc:
            self._say(str(exc))
            return False
        except OSError as exc:
            self._say(f"Cannot make the model folder {path} ({exc.strerror}).")
            return False
        return self._switch_to(path, str(path))

    def use_default_folder(self) -> bool:
        """Keep the models in the default folder (``default_root``) from now on, as
        :meth:`change_folder` does, the window told to forget the folder it remembers
        (``folder_changed('')``). The default folder need not be there: a download makes it.
        False while a download runs, or where the folder was fixed for this session."""
        if self.busy or self.folder_set_by:
            return False
        self.store.make_root = True
        return self._switch_to(default_root(), "")

    def _switch_to(self, path: Path, remembered: str) -> bool:
        """Point the store at ``path``, look at it again, and have ``remembered`` remembered
        (``folder_changed``); nothing changes where the store is there already."""
        before = self.store.root
        if path == before:
            self._say(f"Models are already stored in {path}.")
            return True
        self.store.root = path
        self.refresh()
        self.folder_changed.emit(remembered)
        self.models_changed.emit()
        self._say(f"Models are now stored in {path}; the files in {before} stay there.")
        return True

    def cancel(self) -> None:
        """Ask the running download to stop; it removes its partial file."""
        if self._cancel is not None:
            self._cancel.set()
            self.cancel_button.setEnabled(False)

    # ----- jobs --------------------------------------------------------------------------
    def _start_job(self, name: str, func: Callable, *args: object, cancellable: bool) -> None:
        self._job_name = name
        ways = ways_for(self.folder_set_by)
        self._job = run_in_background(_run_job, name, func, args, ways,
                                      then=self._on_job_done)  # fmt: skip
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress.setAccessibleDescription(PROGRESS_ABOUT)  # until the first bytes come
        self.progress.setVisible(True)
        self.cancel_button.setEnabled(cancellable)
        self._update_buttons()

    def _on_job_done(self, done: Future[tuple[str, str, str]]) -> None:
        try:
            result = done.result()
        except Exception as exc:  # a bug, not a user error: said, and logged
            self._on_job_errored(exc)
        else:
            self._on_job_returned(result)

    def _on_job_returned(self, result: tuple[str, str, str]) -> None:
        name, outcome, error = result
        self._job, self._cancel = None, None
        self.progress.setVisible(False)
        self.cancel_button.setEnabled(False)
        self._set_status(name, self.store.status(name))
        if self.store.status(name) == "present":  # new, or the file that was there: check it
            self._verify_one(name)
        left, self._queue = self._queue, []
        if outcome == "installed":
            self._say(f"{name} is installed in {self.store.location(name)}.")
            self.models_changed.emit()
        else:
            kept = kept_said(self.store.kept(name))
            said = (f"Download of {name} cancelled; {kept}." if outcome == "cancelled"
                    else _sentence(error))  # fmt: skip
            if left:
                said += f" {listed(left)} {'was' if len(left) == 1 else 'were'} not downloaded."
            self._say(said)
        self._update_buttons()
        self.job_finished.emit(name, outcome)
        if outcome == "installed":
            self.download_all(left)

    def _on_job_errored(self, exc: Exception) -> None:  # a bug, not a user error: say so
        log.error("%s of %s failed", "download" if self._cancel else "install", self._job_name,
                  exc_info=exc)  # fmt: skip
        self._on_job_returned((self._job_name, "failed", f"unexpected error: {exc!r}"))

    def _verify_one(self, name: str) -> None:
        self._start_checks([name])

    def _start_checks(self, names: list[str], then: Callable[[Future], None] | None = None) -> None:
        """Check ``names`` in the background, each result shown as it comes, then ``then``;
        a check started later for a model supersedes this one's result for it (the file may
        have changed since)."""
        checks = []
        for name in names:
            self._checks[name] = self._checks.get(name, 0) + 1
            checks.append((name, self._checks[name]))
            self._set_status(name, "verifying")
        self._update_buttons()
        each = receiver(self._on_verifier_yielded)
        run_in_background(_verify_each, self.store, checks, each,
                          then=then or self._on_checks_done)  # fmt: skip

    def _on_checks_done(self, done: Future) -> None:
        done.result()  # _verify_each catches what a check raises

    # ----- slots -------------------------------------------------------------------------
    def _on_verifier_yielded(self, result: tuple[str, int, str]) -> None:
        name, check, status = result
        if check != self._checks[name]:
            return  # a newer check of this model is under way, or done
        self._set_status(name, status)
        if status == "check failed":  # every model whose check failed, not only the last
            failed = [n for n, said in self._statuses.items() if said == "check failed"]
            one = len(failed) == 1
            self._say(f"Checking {listed(failed)} failed unexpectedly (the details are in "
                      f"the log); download {'it' if one else 'them'} or locate "
                      f"{'its file' if one else 'their files'} again.")  # fmt: skip
        self._update_buttons()

    def _on_verifier_finished(self, done: Future) -> None:
        self._on_checks_done(done)
        self.verification_finished.emit()

    def _on_progress_handed_back(self, progress: tuple[int, int | None]) -> None:
        if self._job is not None:  # not a late report of a download that has ended
            self.progressed.emit(*progress)

    def _on_progressed(self, done: int, total: int | None) -> None:
        got = f"{format_size(done)} of {format_size(total)}" if total else format_size(done)
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(min(1000, round(1000 * done / total)))
            self.progress.setFormat(got)
        else:
            self.progress.setRange(0, 0)
        self.progress.setAccessibleDescription(f"{got} downloaded")

    def _on_tree_current_changed(self, *_: object) -> None:
        self._update_buttons()

    def _on_download_button_clicked(self) -> None:
        name = self.selected_model()
        if name is not None:
            self.download(name)

    def _on_locate_button_clicked(self) -> None:
        name = self.selected_model()
        if name is None or self.busy:
            return
        path = self.choose_file(REGISTRY[name])
        if path:
            self.install(name, path)

    def _on_cancel_button_clicked(self) -> None:
        self.cancel()

    def _on_folder_button_clicked(self) -> None:
        folder = self.choose_folder()
        if folder:
            self.change_folder(folder)

    def _on_default_button_clicked(self) -> None:
        self.use_default_folder()

    def done(self, result: int) -> None:  # Qt override: closing cancels a download
        self.cancel()
        super().done(result)

    # ----- helpers -----------------------------------------------------------------------
    def _choose_file(self, info: ModelInfo) -> str | None:
        filename = info.relpath.rsplit("/", 1)[-1]
        path, _ = QFileDialog.getOpenFileName(
            self, f"Locate {filename} for {info.name}", "", f"{filename} (*);;All files (*)"
        )
        return path or None

    def _choose_folder(self) -> str | None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for the model files", str(self.store.root)
        )
        return folder or None

    def _say(self, text: str) -> None:
        """Show ``text`` under the list as it is, its paths' and names' '&' too (the message is
        the progress bar's buddy, which takes '&' for a mnemonic)."""
        self.message.setText(keep_ampersands(text))

    def _say_where(self) -> None:
        """Say where the models are stored, or that the folder is gone (:func:`folder_gone`)."""
        gone = folder_gone(self.store, folder_set_by=self.folder_set_by)
        self._say(gone or f"Models are stored in {self.store.root}")

    def _item(self, name: str) -> QTreeWidgetItem:
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item.data(NAME, Qt.ItemDataRole.UserRole) == name:
                return item
        raise KeyError(name)

    def _set_status(self, name: str, status: str) -> None:
        self._statuses[name] = status
        text = STATUS_TEXT.get(status, "verifying…")
        if status == "missing" and (kept := self.store.kept(name)):  # a download that stopped
            text += f" — {kept_in_brief(kept, DOWNLOAD)}"
        self._item(name).setText(STATUS, text)

    def _update_buttons(self) -> None:
        """Download only a model that is not installed, or whose file no checksum can vouch
        for (it may be truncated), once its file's check says so (a model being checked waits
        for the result); nothing while a job runs."""
        name = self.selected_model()
        status = self._statuses.get(name) if name is not None else None
        settled = status not in (None, "verifying", "verified")
        self.download_button.setEnabled(settled and not self.busy)
        self.locate_button.setEnabled(name is not None and not self.busy)
        self.folder_button.setEnabled(not self.busy and not self.folder_set_by)
        fixed = f"The folder was set by {self.folder_set_by} when TagBox started"
        self.folder_button.setToolTip(
            fixed if self.folder_set_by
            else "Keep the model files in another folder, e.g. on a larger disk"
        )  # fmt: skip
        default = default_root()
        self.default_button.setEnabled(
            not self.busy and not self.folder_set_by and self.store.root != default
        )
        self.default_button.setToolTip(
            fixed if self.folder_set_by
            else f"The model files are already kept in the default folder, {default}"
            if self.store.root == default
            else f"Keep the model files in the default folder, {default}"
        )  # fmt: skip


def _keyed(word: str, letter: str) -> str:
    """A button's text: ``word`` with Alt+``letter`` (its first one in ``word``) pressing it."""
    return word.replace(letter, f"&{letter}", 1)


def _verify_each(store: ModelStore, checks: list[tuple[str, int]], each: object) -> None:
    """Runs in a worker thread (hashing a file takes a while): each ``(name, check)``'s file
    checked, ``(name, check, status)`` handed back to ``each`` as it is known."""
    for name, check in checks:
        try:
            status = store.verify(name)
        except Exception:  # a bug: said, and the model is not left "verifying…" for good
            log.exception("checking the file of %s failed", name)
            status = "check failed"
        hand_back(each, (name, check, status))


def _run_job(name: str, func: Callable, args: tuple, ways: Ways) -> tuple[str, str, str]:
    """Runs in the worker thread: ``(name, outcome, message)``; user errors become messages,
    an advice with ``ways`` as the ways on (:func:`ways_for`)."""
    try:
        func(*args)
    except DownloadCancelled as exc:
        return name, "cancelled", str(exc)
    except Advised as exc:  # its advice in this window's words
        return name, "failed", exc.told(ways)
    except UserError as exc:
        return name, "failed", str(exc)
    return name, "installed", ""


def _sentence(text: str) -> str:
    text = text.strip() or "The operation failed."
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
