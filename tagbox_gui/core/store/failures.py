"""What to say when a model could not be brought into the store: every URL failed to bring it
(``ModelStore.fetch``), or its folder cannot be made or searched; or is not in it.

Such a failure is told as a problem and an advice. The advice leaves the ways on, to download
(again), to install a file downloaded by hand and to choose another model folder, for each front
end to word (:class:`Ways`): the command line names its ``tagbox models`` commands and its
options, the Models window its own buttons. Where a server answered (an HTTP error, or a file
other than the expected one), the connection worked, and the advice does not blame it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tagbox_gui.core.errors import DownloadError, ModelError
from tagbox_gui.core.store.download import ServerRefused, TransferFailed, WrongFile
from tagbox_gui.core.store.keeping import kept_said
from tagbox_gui.core.store.registry import ENV_MODEL_DIR, ModelInfo, model_info

__all__ = [
    "Advised",
    "FetchFailed",
    "FolderUnusable",
    "NotInstalled",
    "Ways",
    "command_line_ways",
    "fetch_failed",
]


@dataclass(frozen=True)
class Ways:
    """The ways on after a model could not be brought in, worded for where they are shown."""

    retry: str  # download again, e.g. "retry `tagbox models fetch fcn/mtat`"
    install: str  # install a file downloaded by hand, e.g. "install it with `tagbox models …`"
    folder: str  # keep the models elsewhere, e.g. "choose another with --model-dir or …"
    download: str  # download it, e.g. "download it with `tagbox models fetch fcn/mtat`"


def command_line_ways(name: str) -> Ways:
    """The ways on as ``tagbox models`` commands and options for the model ``name``."""
    info = model_info(name)
    return Ways(
        retry=f"retry `{info.fetch_command}`",
        install=f"install it with `tagbox models install {info.name} FILE`",
        folder=f"choose another model folder with --model-dir or ${ENV_MODEL_DIR}",
        download=f"download it with `{info.fetch_command}`",
    )


class Advised(ModelError):
    """A model is not in the store, or could not be brought in. ``problem`` says what
    happened, ``advice`` what to do with the ways on left as ``{retry}``, ``{install}``,
    ``{folder}`` and ``{download}``: :meth:`told` words them for where the message is shown;
    ``str()`` is the message for the command line (:func:`command_line_ways`). ``cause``, where
    given, says why in words that do not depend on the model, so that models that failed for
    the same reason (a server that refuses every request, a model folder that cannot be made)
    have the same cause."""

    def __init__(self, name: str, problem: str, advice: str, cause: str | None = None) -> None:
        self.name, self.problem, self.advice, self.cause = name, problem, advice, cause
        super().__init__(self.told(command_line_ways(name)))

    def __reduce__(self) -> tuple[type[Advised], tuple[str, str, str, str | None]]:
        return type(self), (self.name, self.problem, self.advice, self.cause)

    def told(self, ways: Ways) -> str:
        """The message, with ``ways`` as the ways on."""
        advice = self.advice.format_map(vars(ways))
        return f"{self.problem}; {advice}"


class FetchFailed(Advised, DownloadError):
    """Every URL of a model failed (:func:`fetch_failed`)."""


class FolderUnusable(Advised):
    """The folder a model file goes in cannot be made, written or searched."""


class NotInstalled(Advised):
    """The model's file is not in the store."""


def fetch_failed(info: ModelInfo, exc: TransferFailed, mirrors: str | None) -> FetchFailed:
    """What to say of a fetch of ``info`` that every URL failed (``exc``): from mirrors, set
    where ``mirrors`` says (e.g. ``$TAGBOX_MODEL_BASE_URL``), or from upstream (None). Its
    cause is what each URL did, without the URL (e.g. ``HTTP 503 Service Unavailable``)."""
    cause = "; ".join(dict.fromkeys(str(failure) for _, failure in exc.failures)) or None
    if isinstance(exc, ServerRefused):
        why = (
            f"a mirror set in {mirrors} may not hold it: check the mirror, or unset it to "
            "download from upstream, and {retry}"
            if mirrors
            else "the file may have moved, or the server is down or busy: {retry} later"
        )
        return FetchFailed(
            info.name,
            f"could not download {info.name}: the server did not send it ({exc})",
            why + "; or download the file yourself and {install}",
            cause,
        )
    if isinstance(exc, WrongFile):
        filename = info.relpath.rsplit("/", 1)[-1]
        checked = " (its checksum is checked)" if info.sha256 is not None else ""
        return FetchFailed(
            info.name,
            f"could not download {info.name}: what arrived is not the expected {filename}, so "
            f"nothing was installed ({exc})",
            "a mirror may be serving another file, a server a web page in its place, or the "
            "file changed upstream or was damaged on the way: {retry}, and if the same "
            "happens, download the file from another source and {install}" + checked,
            cause,
        )
    if any(isinstance(failure, ServerRefused | WrongFile) for _, failure in exc.failures):
        return _failed_in_ways(info, exc, mirrors, cause)
    return FetchFailed(
        info.name,
        f"could not download {info.name} ({exc})",
        "check your connection and {retry}, or download the file yourself and {install}",
        cause,
    )


def _failed_in_ways(
    info: ModelInfo, exc: TransferFailed, mirrors: str | None, cause: str | None
) -> FetchFailed:
    """What to say where ``info``'s URLs failed in different ways, some answering: what each
    did and what was kept of the download, and no advice to check the connection those
    answered on."""
    what = "; ".join(f"{url}: {_in_brief(failure)}" for url, failure in exc.failures)
    if exc.kept:
        what += f"; {kept_said(exc.kept)}"
    check = (
        f"check the mirrors set in {mirrors} (or unset it to download from upstream) and {{retry}}"
        if mirrors
        else "{retry} later"
    )
    return FetchFailed(
        info.name,
        f"could not download {info.name}: no URL sent it intact ({what})",
        check + ", or download the file yourself and {install}",
        cause,
    )


def _in_brief(failure: TransferFailed) -> str:
    """What one URL did, for a list of several."""
    if isinstance(failure, ServerRefused):
        return f"{failure} (an answer, without the file)"
    if isinstance(failure, WrongFile):
        return f"{failure} (another file came)"
    return str(failure)
