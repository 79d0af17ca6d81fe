"""Local model store: the folder holding the registry's models, and getting them into it.

Which models exist, where they come from upstream, their checksums and licences, is the registry
(:mod:`tagbox_gui.core.store.registry`).

The store is a folder laid out like the upstream repositories::

    <root>/taggers/<dataset>/<arch>/best_model.pth
    <root>/jukebox/vqvae.pth.tar

Its root is, in order: the ``root`` argument (CLI ``--model-dir``), ``$TAGBOX_MODEL_DIR``, or
``platformdirs.user_cache_dir("tagbox-gui")/models``.

Downloads stream into a temporary file beside the target while hashing, check the sha256 where
the registry knows it (else that the file is a PyTorch checkpoint at all, not e.g. an HTML
error page), and only then rename the file into place, so no partial file is ever at a model's
path. A download cancelled, interrupted, whose connection failed for good or whose server
answered that it is down or busy (5xx, 429, 408) keeps what came as ``<file>.part`` beside the
file, and the next download of it goes on from there (:mod:`tagbox_gui.core.store.keeping`);
one that fails otherwise (refused for good by the part's own server, a full disk) or is
corrupt leaves nothing behind. A model's URLs are tried in order (mirrors), the URL a kept
part came from first.

Mirror override: ``ModelStore(base_urls=[...])`` or ``$TAGBOX_MODEL_BASE_URL`` (several URLs
separated by whitespace) replaces every model's upstream URLs by ``<base>/<store path>``, e.g.
``<base>/taggers/mtat/fcn/best_model.pth``; so any folder laid out like the store can act as a
mirror (a lab server, or the local test server).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shlex
import stat
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.folders import (
    in_the_way,
    make_folders,
    removed_on_failure,
    standing_in_the_way,
)
from tagbox_gui.core.store import keeping, partial
from tagbox_gui.core.store.download import (
    Acceptance,
    ChecksumMismatch,
    Progress,
    TransferFailed,
    download,
)
from tagbox_gui.core.store.failures import FolderUnusable, NotInstalled, fetch_failed
from tagbox_gui.core.store.installing import copy_file
from tagbox_gui.core.store.registry import (
    ENV_BASE_URL,
    ENV_MODEL_DIR,
    JUKEBOX,
    REGISTRY,
    check_licence,
    model_info,
)
from tagbox_gui.core.types import TaggerSpec

__all__ = [
    "ENV_BASE_URL",
    "ENV_MODEL_DIR",
    "ModelStore",
    "Status",
    "Verification",
    "default_root",
    "file_sha256",
    "is_torch_checkpoint",
]

Status = Literal["present", "missing", "unreadable"]
Verification = Literal["verified", "mismatch", "missing", "unknown checksum", "unreadable"]


def default_root() -> Path:
    """``$TAGBOX_MODEL_DIR`` if set, else the per-user cache folder."""
    env = os.environ.get(ENV_MODEL_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(user_cache_dir("tagbox-gui")) / "models"


class ModelStore:
    """The folder holding the model files, with downloading, verification and installation.

    ``base_urls`` (or ``$TAGBOX_MODEL_BASE_URL``) replaces the upstream URLs by mirrors laid out
    like the store; ``timeout`` is the socket timeout of a download in seconds. With
    ``make_root`` False, a root that is gone is not made again (see :meth:`root_gone`).
    """

    def __init__(
        self,
        root: Path | str | None = None,
        base_urls: Sequence[str] | None = None,
        timeout: float = 30.0,
        make_root: bool = True,
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.make_root = make_root
        if base_urls is None:
            base_urls = os.environ.get(ENV_BASE_URL, "").split()
        self.base_urls: tuple[str, ...] = tuple(u.rstrip("/") for u in base_urls if u.strip())
        self.timeout = timeout

    def root_gone(self) -> bool:
        """Whether the root must be there (``make_root`` False: a folder remembered from an
        earlier session, which may be on a drive that is not plugged in, or one given where a
        file or a link to such a drive stands in its way) and is not, or is a file, so that
        nothing can be brought into the store: making it would put the models elsewhere, e.g.
        on the system disk where the drive was mounted."""
        if self.make_root:
            return False
        try:
            mode = self.root.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return True
        except OSError:  # there, but not searchable: a failure says so where it is used
            return False
        return not stat.S_ISDIR(mode)

    def location(self, name: str) -> Path:
        """Where the model's file belongs in this store, whether it is there or not."""
        return self.root.joinpath(*model_info(name).relpath.split("/"))

    def urls(self, name: str) -> tuple[str, ...]:
        """The URLs a fetch tries, in order."""
        info = model_info(name)
        if self.base_urls:
            return tuple(f"{base}/{info.relpath}" for base in self.base_urls)
        return info.urls

    def path(self, name: str) -> Path:
        """The model's file; NotInstalled when it is not in the store, and FolderUnusable where
        a folder on its way may not be searched or the store's folder is gone
        (:meth:`root_gone`): their advice worded by each front end."""
        info = model_info(name)
        target = self.location(info.name)
        there, reason = _file_state(target)
        if there is None:
            raise FolderUnusable(
                info.name,
                f"model {info.name} cannot be looked up in {self.root} ({reason})",
                "check the permissions of its folders, or {folder}",
            )
        if not there:
            self._check_root(info.name)  # a drive away: plugging it in, not a download
            raise NotInstalled(
                info.name, f"model {info.name} is not installed in {self.root}", "{download}"
            )
        return target

    def tagger_path(self, spec: TaggerSpec) -> Path:
        """The checkpoint of ``spec`` (see :meth:`path`)."""
        return self.path(str(spec))

    def jukebox_path(self) -> Path:
        """The Jukebox VQ-VAE checkpoint (see :meth:`path`)."""
        return self.path(JUKEBOX)

    def status(self, name: str) -> Status:
        """``present`` if the model's file exists in the store, ``missing`` if not, and
        ``unreadable`` where a folder on its way may not be searched (so nobody can tell)."""
        there, _ = _file_state(self.location(name))
        return "unreadable" if there is None else "present" if there else "missing"

    def verify(self, name: str) -> Verification:
        """Compare the stored file with the registry's size and sha256.

        Where no sha256 is known, a file that is not a PyTorch checkpoint at all (see
        :func:`is_torch_checkpoint`) is a ``mismatch`` too, so that fetch replaces it. A file
        that cannot be read (its permissions, a failing disk) is ``unreadable``.
        """
        info = model_info(name)
        target = self.location(info.name)
        there, _ = _file_state(target)
        if not there:
            return "unreadable" if there is None else "missing"
        try:
            with target.open("rb") as src:
                head = src.read(len(_TORCH_LEGACY_MAGIC))  # a file that cannot be read says so
                if info.sha256 is None:
                    return "unknown checksum" if _checkpoint_head(head) else "mismatch"
                if info.size is not None and os.fstat(src.fileno()).st_size != info.size:
                    return "mismatch"  # no need to hash a file of the wrong size
                src.seek(0)
                digest = hashlib.file_digest(src, "sha256").hexdigest()
        except OSError:
            return "unreadable"
        return "verified" if digest == info.sha256 else "mismatch"

    def kept(self, name: str) -> int:
        """The bytes of the model's file that a download which stopped kept for the next to go
        on from (0 where none; such a part does not make the model installed)."""
        return keeping.kept(self.location(name))

    def sha256(self, name: str) -> str | None:
        """The sha256 of the model's file in this store, whatever the registry says it should
        be; None when the file is not there or cannot be read. A file is read once per path,
        size and modification time (so a file replaced in place is read again)."""
        try:
            return file_sha256(self.location(name))
        except OSError:
            return None

    def missing(self, names: Iterable[str]) -> list[str]:
        """Of ``names``, each once and in order, those known to be missing: a download would
        bring them. Nothing where the store's folder is gone (:meth:`root_gone`: plugging a drive
        in, not a download) or where a folder may not be searched (nobody can tell)."""
        if self.root_gone():
            return []
        return [name for name in dict.fromkeys(names) if self.status(name) == "missing"]

    def available_taggers(self) -> list[TaggerSpec]:
        """Taggers whose checkpoint is in the store, in registry order."""
        return [
            info.spec
            for info in REGISTRY.values()
            if info.spec is not None and self.status(info.name) == "present"
        ]

    def has_jukebox(self) -> bool:
        """Whether the Jukebox VQ-VAE checkpoint is in the store."""
        return self.status(JUKEBOX) == "present"

    def fetch(
        self,
        name: str,
        progress: Progress | None = None,
        accept_license: bool = False,
        cancel: threading.Event | None = None,
        force: bool = False,
        check: Callable[[str, Path], None] | None = None,
    ) -> Path:
        """Download a model into the store and return its path.

        A file already present and not mismatching its checksum is kept unless ``force`` (and
        what a download kept of it is removed).
        Raises ModelError if a licence must be accepted, DownloadCancelled when ``cancel`` is
        set, ``failures.FetchFailed`` when every URL failed. No partial file is ever at the
        model's path; what came of a download cancelled, or whose connection failed, is kept
        beside it, and the next fetch goes on from there unless ``force`` (see :meth:`kept`).
        Where the registry knows no checksum, ``check`` may refuse what a URL sent, as for
        :meth:`install_file`: a file that a server cut short, having said no size, only shows
        there (it does not load); the next URL is then tried.
        """
        info = model_info(name)
        check_licence(info, accept_license)
        target = self.location(info.name)
        if not force and self.verify(info.name) in ("verified", "unknown checksum"):
            keeping.drop(target)  # a part kept before the file came another way
            return target
        for base in self.base_urls:
            _check_mirror(base)
        urls = self.urls(info.name)
        self._check_root(info.name)
        self._sweep()
        try:
            with _folder_for(info.name, target.parent):
                download(
                    target,
                    urls,
                    info.sha256,
                    progress=progress,
                    cancel=cancel,
                    timeout=self.timeout,
                    size_hint=info.size,
                    accept=None if info.sha256 is not None else _a_checkpoint(info.name, check),
                    fresh=force,
                )
        except TransferFailed as exc:
            mirrors = f"${ENV_BASE_URL}" if self.base_urls else None
            raise fetch_failed(info, exc, mirrors) from exc
        return target

    def install_file(
        self,
        name: str,
        src: Path | str,
        accept_license: bool = False,
        check: Callable[[str, Path], None] | None = None,
    ) -> Path:
        """Copy a hand-downloaded checkpoint into the store, checking its sha256 when known.

        Where the registry knows no checksum (the Jukebox VQ-VAE, some taggers), ``check(name,
        src)`` (e.g. ``core.separation.checkpoints.check_model_file``) may refuse the file with a
        ModelError before anything is copied: a file that does not load must not take the
        model's place. The file is copied (not linked) so the store stays valid if the original
        is removed; what a download kept of it (:meth:`kept`) is removed.
        """
        info = model_info(name)
        src = Path(src).expanduser()
        command = f"tagbox models install {info.name} {shlex.quote(str(src))} --accept-license"
        check_licence(info, accept_license, command)
        filename = info.relpath.rsplit("/", 1)[-1]
        if not src.is_file():
            raise ModelError(f"{src} is not a file; choose the downloaded {filename}")
        try:
            with src.open("rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise ModelError(f"{src} cannot be read ({exc.strerror or exc}); check its "
                             "permissions, or choose another copy") from exc  # fmt: skip
        if check is not None and info.sha256 is None:  # a known sha256 proves the file
            check(info.name, src)
        target = self.location(info.name)
        try:
            if _file_state(target)[0] and target.samefile(src):
                if self.verify(info.name) == "mismatch":
                    raise ChecksumMismatch("checksum mismatch")
            else:
                self._check_root(info.name)
                self._sweep()
                with _folder_for(info.name, target.parent):
                    copy_file(src, target, info.sha256)
        except TransferFailed as exc:
            raise ModelError(
                f"{src} is not the {info.name} checkpoint ({exc}); download {filename} again"
            ) from exc
        keeping.drop(target)  # what a download of it kept is of no use now
        return target

    def _check_root(self, name: str) -> None:
        """FolderUnusable where the root is gone and must not be made again (:meth:`root_gone`):
        what stands in its way named where something does (a link to a drive not plugged in,
        and where it leads: ``core.folders.in_the_way``)."""
        if not self.root_gone():
            return
        gone = f"the model folder {self.root} is not there"
        there = standing_in_the_way(self.root)
        if there is None:
            advice = "if it is on a drive that is not plugged in, plug it in; or {folder}"
            raise FolderUnusable(name, gone, advice, gone)
        what, fix = in_the_way(there)
        cause = f"'{there}' is {what}"
        problem, advice = f"{gone}: {cause}", f"{fix or 'move it away'}, or {{folder}}"
        raise FolderUnusable(name, problem, advice, cause)

    def _sweep(self) -> None:
        """Remove the temporaries that downloads or installs of any model, killed outright,
        left in this store; never one that a live process still writes (see
        :mod:`tagbox_gui.core.store.partial`)."""
        for info in REGISTRY.values():
            partial.sweep(self.location(info.name))


_TORCH_LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")
"""How a file of torch.save's older format starts: the pickled magic number 0x1950a86a20f9469cfc6c
(the published taggers and Jukebox checkpoints are in that format)."""


def is_torch_checkpoint(path: Path) -> bool:
    """Whether ``path`` starts like a file torch.save writes (a zip archive, or the older format
    with torch's magic number). Random bytes or another kind of file do not; what is inside a
    checkpoint is for its loader to check."""
    try:
        with Path(path).open("rb") as handle:
            return _checkpoint_head(handle.read(len(_TORCH_LEGACY_MAGIC)))
    except OSError:
        return False


def _checkpoint_head(head: bytes) -> bool:
    """Whether a file that starts with ``head`` starts like one torch.save writes."""
    return head.startswith(b"PK\x03\x04") or head == _TORCH_LEGACY_MAGIC


def _a_checkpoint(name: str, check: Callable[[str, Path], None] | None) -> Acceptance:
    """What a download of model ``name`` without a known sha256 must be: a PyTorch checkpoint
    at least, and one that ``check(name, file)`` does not refuse where given."""

    def accept(path: Path) -> str | None:
        if not is_torch_checkpoint(path):
            return "what it sent is not a PyTorch checkpoint (an error or sign-in page?)"
        try:
            if check is not None:
                check(name, path)
        except ModelError as exc:
            return str(exc)
        return None

    return accept


def file_sha256(path: Path) -> str:
    """The sha256 of the file at ``path``, read once per path, size and modification time (so
    a file replaced in place is read again); OSError when it cannot be read."""
    stat = path.stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """The sha256 of the file at ``path`` (``size`` and ``mtime_ns`` key the cache)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_mirror(base: str) -> None:
    """ModelError unless the mirror ``base`` is an address a download can use: one with its
    scheme (https://, file://), which a host name or a folder alone lacks."""
    try:
        scheme = urllib.parse.urlsplit(base).scheme
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        scheme = ""
    if not scheme:
        raise ModelError(
            f"the model mirror '{base}' is not a web address; set ${ENV_BASE_URL} to addresses "
            "that start with https:// (or file:// for a folder), or unset it to download from "
            "upstream"
        )


def _file_state(path: Path) -> tuple[bool | None, str]:
    """Whether ``path`` is a file, and why not where that cannot be known: ``(None, reason)``
    where a folder on its way may not be searched (Path.is_file raises there)."""
    try:
        return stat.S_ISREG(path.stat().st_mode), ""
    except (FileNotFoundError, NotADirectoryError):
        return False, ""
    except OSError as exc:
        return None, exc.strerror or type(exc).__name__


@contextlib.contextmanager
def _folder_for(name: str, folder: Path) -> Iterator[None]:
    """``folder`` made for model ``name``'s file to go in (FolderUnusable where it cannot be);
    when what is done in it fails, the folders made here are removed again (each only while
    empty), never one that was there before."""
    try:
        made = make_folders(folder)
    except NotADirectoryError as exc:  # a file, or a link to no folder, on the way
        what, fix = in_the_way(Path(exc.filename))
        cause = f"'{exc.filename}' is {what}"
        problem = f"{cause}, so the model folder {folder} cannot be made"
        advice = f"{fix or 'move it away'}, or {{folder}}"
        raise FolderUnusable(name, problem, advice, cause) from exc
    except OSError as exc:
        raise FolderUnusable(
            name,
            f"cannot create the model folder {folder} ({exc.strerror})",
            "{folder}",
            f"cannot create the folder {exc.filename or folder} ({exc.strerror})",
        ) from exc
    with removed_on_failure(made):
        yield
