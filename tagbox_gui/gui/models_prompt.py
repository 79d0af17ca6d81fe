"""The Models dialog as the main window uses it, and the first-launch message about the taggers.

It knows the window only as a ``QMainWindow`` (the dialogs' parent and its status bar) and tells
it that models changed through :attr:`ModelsPrompt.models_changed`; the window refreshes its
settings itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMainWindow, QMessageBox

from tagbox_gui.core.errors import listed
from tagbox_gui.core.store.failures import Ways
from tagbox_gui.core.store.models import ENV_MODEL_DIR, ModelStore
from tagbox_gui.core.store.registry import JUKEBOX, TAGGERS_FOR, described
from tagbox_gui.gui.settings import AppSettings
from tagbox_gui.gui.widgets.models_dialog import ModelsDialog, folder_gone, ways_for

EXAMPLE = ("fcn/mtat", "fcn/jamendo")  # the taggers of a query by example
FOLDER_KEY = "models/folder"  # the settings' key of the folder chosen in the Models dialog
EXAMPLE_TAGGERS = listed(EXAMPLE)
WHERE = " (Tools ▸ Models…)"  # where the Models window is, after a button of it named outside


def model_folder(given: Path | None, settings: AppSettings) -> tuple[Path | None, str]:
    """The store's folder for a session, and what fixed it ('' where the Models dialog may
    change it): ``given`` (``--model-dir``), else ``$TAGBOX_MODEL_DIR`` (None: the store
    reads it), else the folder last chosen in the dialog, else the default (None)."""
    if given is not None:
        return given, "--model-dir"
    if os.environ.get(ENV_MODEL_DIR, "").strip():
        return None, f"${ENV_MODEL_DIR}"
    chosen = settings.text(FOLDER_KEY)
    return (Path(chosen) if chosen else None), ""


class ModelsPrompt(QObject):
    """Opens one Models dialog at a time; ``models_changed`` fires when models were added or
    removed in it, ``folder_changed`` when the store's folder was changed in it (for the window
    to remember). ``folder_set_by`` names what fixed the folder for the session (the dialog
    then offers no change), or is ''."""

    models_changed = Signal()
    folder_changed = Signal(str)

    def __init__(self, window: QMainWindow, store: ModelStore, folder_set_by: str = "") -> None:
        super().__init__(window)
        self.w = window
        self.store = store
        self.folder_set_by = folder_set_by
        self.dialog: ModelsDialog | None = None

    def ways(self) -> Ways:
        """The ways on after a model store's failure told outside the Models dialog (a run that
        failed): the dialog's (``ways_for``), each that is one of its buttons saying where the
        dialog is."""
        ways, where = ways_for(self.folder_set_by), WHERE
        return Ways(
            retry=ways.retry + where,
            install=ways.install + where,
            folder=ways.folder + ("" if self.folder_set_by else where),
            download=ways.download + where,
        )

    @Slot()
    def show_dialog(self, select: str | None = None) -> ModelsDialog:
        if self.dialog is None:
            self.dialog = ModelsDialog(self.store, self.w)
            self.dialog.set_folder_set_by(self.folder_set_by)
            self.dialog.models_changed.connect(self.models_changed)
            self.dialog.folder_changed.connect(self.folder_changed)
        elif not self.dialog.isVisible():  # files may have changed while it was closed
            self.dialog.refresh()
        if select:
            self.dialog.select_model(select)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def fetch(self, names: Sequence[str]) -> ModelsDialog:
        """Download the models called ``names`` in the Models dialog, shown with their progress
        and Cancel (``ModelsDialog.download_all``); ``models_changed`` fires as each arrives."""
        dialog = self.show_dialog()
        dialog.download_all(names)
        return dialog

    @Slot(list)
    def offer(self, names: Sequence[str]) -> QMessageBox:
        """Ask (in a box that does not block) to download the taggers called ``names``, which a
        run needs: Download fetches them (:meth:`fetch`); Not now says nothing was."""
        them = "them" if len(names) > 1 else "it"
        text = (f"This run needs {described(names)}, not installed in {self.store.root}: "
                f"{TAGGERS_FOR}.\n\nDownload {them} now?")  # fmt: skip
        box = QMessageBox(QMessageBox.Icon.Question, "Taggers needed", text, parent=self.w)
        fetch = box.addButton("&Download", QMessageBox.ButtonRole.AcceptRole)
        later = box.addButton("&Not now", QMessageBox.ButtonRole.RejectRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        fetch.clicked.connect(lambda: self.fetch(names))
        later.clicked.connect(
            lambda: self.w.statusBar().showMessage(
                f"Nothing was downloaded: Run asks again, or Tools ▸ Models… downloads "
                f"{listed(names)}.",
                15_000,
            )
        )
        box.open()
        return box

    def missing_message(self) -> str:
        """What the taggers are for and where to fetch them, in a few sentences, or that the
        remembered model folder is gone (:func:`folder_gone`); '' when a tagger is installed."""
        if self.store.available_taggers():
            return ""
        if gone := folder_gone(self.store, WHERE, self.folder_set_by):
            return gone
        jukebox = (
            ""
            if self.store.has_jukebox()
            else f" The Jukebox VQ-VAE ({JUKEBOX}, non-commercial licence) is optional, for "
            "TagBox as published."
        )
        return (
            "Separating an instrument you name needs no download. Asking by an example clip, "
            "steering with steps, the Tags tab and the light backend need the music taggers, "
            f"and none is installed in {self.store.root}: Download fetches "
            f"{described(EXAMPLE)}, its progress shown in the Models window.{jukebox}"
        )

    def first_launch_check(self, needs_tagger: bool = False) -> QMessageBox | None:
        """If no tagger is installed, say what the taggers are for: in a dialog that offers to
        download the two an example needs (non-blocking, see :meth:`fetch`) when the remembered
        settings need one (``needs_tagger``), else in the status bar, since naming an
        instrument works without them."""
        text = self.missing_message()
        if not text:
            return None
        if not needs_tagger:
            self.w.statusBar().showMessage(
                folder_gone(self.store, WHERE, self.folder_set_by)
                or f"No music tagger is installed: naming an instrument works; an example or "
                f"steps need {EXAMPLE_TAGGERS}{WHERE}.",
                15_000,
            )
            return None
        box = QMessageBox(QMessageBox.Icon.Information, "Models needed", text, parent=self.w)
        fetch = box.addButton("&Download", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("&Later", QMessageBox.ButtonRole.RejectRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        fetch.clicked.connect(lambda: self.fetch(EXAMPLE))
        box.open()
        return box

    def downloading(self) -> str:
        """The model the Models dialog is downloading, or ''."""
        return self.dialog.downloading if self.dialog is not None else ""

    def shutdown(self) -> None:
        """Closing the window: a running download is cancelled (the dialog cleans up)."""
        if self.dialog is not None:
            self.dialog.close()
