"""Model registry and local model store: which weights exist, where they live, how to get them.

Every model has one name, used by the CLI and the GUI alike: taggers are named like
:class:`~tagbox_gui.core.types.TaggerSpec` prints them (``fcn/mtat``, ``musicnn/jamendo``) and the
Jukebox VQ-VAE is ``jukebox-vqvae-5b``.

The store is a folder laid out like the upstream repositories::

    <root>/taggers/<dataset>/<arch>/best_model.pth
    <root>/jukebox/vqvae.pth.tar

Its root is, in order: the ``root`` argument (CLI ``--model-dir``), ``$TAGBOX_MODEL_DIR``, or
``platformdirs.user_cache_dir("tagbox-gui")/models``.

Downloads stream into a temporary file beside the target while hashing, check the sha256 where
the registry knows it (else that the file is a PyTorch checkpoint at all, not e.g. an HTML
error page), and only then rename the file into place, so a failed, corrupt or cancelled
download leaves nothing behind. A model's URLs are tried in order (mirrors).

Mirror override: ``ModelStore(base_urls=[...])`` or ``$TAGBOX_MODEL_BASE_URL`` (several URLs
separated by whitespace) replaces every model's upstream URLs by ``<base>/<store path>``, e.g.
``<base>/taggers/mtat/fcn/best_model.pth``; so any folder laid out like the store can act as a
mirror (a lab server, or the local test server).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir

from tagbox_gui.core.errors import DownloadError, ModelError
from tagbox_gui.core.store.download import (
    ChecksumMismatch,
    Progress,
    TransferFailed,
    copy_file,
    download,
)
from tagbox_gui.core.types import TaggerSpec

__all__ = [
    "ENV_BASE_URL",
    "ENV_MODEL_DIR",
    "JUKEBOX",
    "REGISTRY",
    "ModelInfo",
    "ModelStore",
    "Status",
    "Verification",
    "check_licence",
    "default_root",
    "is_torch_checkpoint",
    "model_info",
]

ENV_MODEL_DIR = "TAGBOX_MODEL_DIR"
ENV_BASE_URL = "TAGBOX_MODEL_BASE_URL"
JUKEBOX = "jukebox-vqvae-5b"
Status = Literal["present", "missing"]
Verification = Literal["verified", "mismatch", "missing", "unknown checksum", "unreadable"]

TAGGER_URL = (
    "https://github.com/minzwon/sota-music-tagging-models/raw/master/models/"
    "{dataset}/{arch}/best_model.pth"
)
JUKEBOX_URLS = (
    "https://openaipublic.azureedge.net/jukebox/models/5b/vqvae.pth.tar",
    "https://openaipublic.blob.core.windows.net/jukebox/models/5b/vqvae.pth.tar",
)

TAGGER_LICENCE = "MIT"
TAGGER_LICENCE_TEXT = (
    "MIT License. Copyright (c) 2020 Music Technology Group, Universitat Pompeu Fabra. "
    "Trained weights from Won et al., 'Evaluation of CNN-based automatic music tagging models' "
    "(SMC 2020). You may use, copy, modify and distribute them, commercially too, provided the "
    "copyright and permission notice are kept; they come without any warranty. Full text: "
    "https://github.com/minzwon/sota-music-tagging-models/blob/master/LICENSE"
)
JUKEBOX_LICENCE = "OpenAI Noncommercial Use License"
JUKEBOX_LICENCE_TEXT = (
    "OpenAI Jukebox, Noncommercial Use License. Copyright (c) 2020 OpenAI. You may use, copy and "
    "modify the weights free of charge, but 'No portion of the Software, nor any content created "
    "with the Software, may be used for commercial purposes.' Stems you separate with the Jukebox "
    "backend are content created with it and inherit this restriction; OpenAI also asks that such "
    "content be marked as made with OpenAI's Jukebox. Full text: "
    "https://github.com/openai/jukebox/blob/master/LICENSE"
)

# Size in bytes and sha256 of the upstream files, measured on copies of them. Checkpoints
# missing here (all HarmonicCNN ones and Musicnn on MSD) were not available to us when this
# registry was written: their checksum is unknown (None) and fetched copies stay unverified.
_TAGGER_SUMS_TEXT = """
mtat    fcn     1902811 e89d751202d38c3ae69855782bc27010f87051958dbec64f5aa762364dbac271
mtat    crnn    1687630 cd22fc70cafd06f8f2bfc7dd795abccb1f4b50d5b09094c39ad100baf87475a3
mtat    musicnn 3257172 690ace3bb5d49d90dd38fe3ec05a1185350b3bc3742bd7ee941f56b649b2c893
jamendo fcn     1902815 7bce08a66dbc70d096b0a330f44b4cacd9aa25519b83489fbb98f2164a194e2b
jamendo crnn    1687626 0a558989c0793f488cb677d188464c91f47c007f7c70473230e55537ca598215
jamendo musicnn 3257168 66280f4859376377c47f64313c7ac889a3201fdb06a01bf6e94ac6e619081bb5
msd     fcn     1902815 6012aa7eecf864a8081faedca56af054521e8dfb9c5c98659a3dd5d3e1e66f21
msd     crnn    1687711 ebb99855ed0c83f38845db9cfb383dd6fc70938bc58701dcb66e18af9ee7fbea
"""
_TAGGER_SUMS: dict[tuple[str, str], tuple[str, int]] = {
    (dataset, arch): (sha, int(size))
    for dataset, arch, size, sha in (
        line.split() for line in _TAGGER_SUMS_TEXT.strip().splitlines()
    )
}
_DATASETS = {"mtat": "MagnaTagATune", "jamendo": "MTG-Jamendo", "msd": "Million Song Dataset"}
_ARCHS = {"fcn": "FCN", "crnn": "CRNN", "musicnn": "Musicnn", "hcnn": "Harmonic CNN"}
_UNKNOWN_SUM = "checksum unknown: this file was not available when the registry was written"


@dataclass(frozen=True)
class ModelInfo:
    """One entry of the registry: what a model is, where it comes from, under which licence."""

    name: str
    kind: Literal["tagger", "jukebox"]
    title: str
    relpath: str  # POSIX path inside the store
    urls: tuple[str, ...]  # upstream URL first, then mirrors
    sha256: str | None  # None: unknown, see ``note``
    size: int | None  # bytes; None when unknown
    licence: str  # short name
    licence_text: str  # a few sentences the GUI can show
    needs_acceptance: bool  # fetching requires accepting the licence explicitly
    note: str = ""
    spec: TaggerSpec | None = None

    @property
    def fetch_command(self) -> str:
        """The shell command that downloads this model."""
        flag = " --accept-license" if self.needs_acceptance else ""
        return f"tagbox models fetch {self.name}{flag}"


def _tagger(dataset: str, arch: str) -> ModelInfo:
    sha, size = _TAGGER_SUMS.get((dataset, arch), (None, None))
    return ModelInfo(
        name=str(TaggerSpec(arch, dataset)),
        kind="tagger",
        title=f"{_ARCHS[arch]} tagger trained on {_DATASETS[dataset]} (50 tags)",
        relpath=f"taggers/{dataset}/{arch}/best_model.pth",
        urls=(TAGGER_URL.format(dataset=dataset, arch=arch),),
        sha256=sha,
        size=size,
        licence=TAGGER_LICENCE,
        licence_text=TAGGER_LICENCE_TEXT,
        needs_acceptance=False,
        note="" if sha else _UNKNOWN_SUM,
        spec=TaggerSpec(arch, dataset),
    )


_JUKEBOX_INFO = ModelInfo(
    name=JUKEBOX,
    kind="jukebox",
    title="OpenAI Jukebox VQ-VAE (5b), used by the Jukebox backend",
    relpath="jukebox/vqvae.pth.tar",
    urls=JUKEBOX_URLS,
    sha256=None,
    size=None,
    licence=JUKEBOX_LICENCE,
    licence_text=JUKEBOX_LICENCE_TEXT,
    needs_acceptance=True,
    note="checksum and size unknown: OpenAI publishes neither",
)

REGISTRY: dict[str, ModelInfo] = {
    info.name: info
    for info in [
        *(
            _tagger(d, a)
            for d in ("mtat", "jamendo", "msd")
            for a in ("fcn", "crnn", "musicnn", "hcnn")
        ),
        _JUKEBOX_INFO,
    ]
}
"""Every model the application knows, taggers first, in a stable display order."""


def model_info(name: str) -> ModelInfo:
    """The registry entry called ``name`` (case-insensitive); ModelError if there is none."""
    info = REGISTRY.get(name.strip().lower())
    if info is None:
        known = ", ".join(REGISTRY)
        raise ModelError(f"unknown model '{name}'; choose one of: {known}")
    return info


def default_root() -> Path:
    """``$TAGBOX_MODEL_DIR`` if set, else the per-user cache folder."""
    env = os.environ.get(ENV_MODEL_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(user_cache_dir("tagbox-gui")) / "models"


class ModelStore:
    """The folder holding the model files, with downloading, verification and installation.

    ``base_urls`` (or ``$TAGBOX_MODEL_BASE_URL``) replaces the upstream URLs by mirrors laid out
    like the store; ``timeout`` is the socket timeout of a download in seconds.
    """

    def __init__(
        self,
        root: Path | str | None = None,
        base_urls: Sequence[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        if base_urls is None:
            base_urls = os.environ.get(ENV_BASE_URL, "").split()
        self.base_urls: tuple[str, ...] = tuple(u.rstrip("/") for u in base_urls if u.strip())
        self.timeout = timeout

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
        """The model's file; ModelError naming the fetch command when it is not installed."""
        info = model_info(name)
        target = self.location(info.name)
        if not target.is_file():
            raise ModelError(
                f"model {info.name} is not installed in {self.root}; "
                f"download it with `{info.fetch_command}`"
            )
        return target

    def tagger_path(self, spec: TaggerSpec) -> Path:
        """The checkpoint of ``spec`` (see :meth:`path`)."""
        return self.path(str(spec))

    def jukebox_path(self) -> Path:
        """The Jukebox VQ-VAE checkpoint (see :meth:`path`)."""
        return self.path(JUKEBOX)

    def status(self, name: str) -> Status:
        """``present`` if the model's file exists in the store, else ``missing``."""
        return "present" if self.location(name).is_file() else "missing"

    def verify(self, name: str) -> Verification:
        """Compare the stored file with the registry's size and sha256.

        Where no sha256 is known, a file that is not a PyTorch checkpoint at all (see
        :func:`is_torch_checkpoint`) is a ``mismatch`` too, so that fetch replaces it. A file
        that cannot be read (its permissions, a failing disk) is ``unreadable``.
        """
        info = model_info(name)
        target = self.location(info.name)
        if not target.is_file():
            return "missing"
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

    def sha256(self, name: str) -> str | None:
        """The sha256 of the model's file in this store, whatever the registry says it should
        be; None when the file is not there or cannot be read. A file is read once per path,
        size and modification time (so a file replaced in place is read again)."""
        target = self.location(name)
        try:
            stat = target.stat()
            return _file_sha256(str(target), stat.st_size, stat.st_mtime_ns)
        except OSError:
            return None

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
    ) -> Path:
        """Download a model into the store and return its path.

        A file already present and not mismatching its checksum is kept unless ``force``.
        Raises ModelError if a licence must be accepted, DownloadCancelled when ``cancel`` is
        set, DownloadError when every URL failed. No partial file is ever left behind.
        """
        info = model_info(name)
        check_licence(info, accept_license)
        target = self.location(info.name)
        if not force and self.verify(info.name) in ("verified", "unknown checksum"):
            return target
        _prepare_folder(target.parent)
        urls = self.urls(info.name)
        try:
            download(
                target,
                urls,
                info.sha256,
                progress=progress,
                cancel=cancel,
                timeout=self.timeout,
                size_hint=info.size,
                accept=None if info.sha256 is not None else _a_checkpoint,
            )
        except TransferFailed as exc:
            raise DownloadError(
                f"could not download {info.name} ({exc}); check your connection and retry "
                f"`{info.fetch_command}`, or download the file yourself and install it with "
                f"`tagbox models install {info.name} FILE`"
            ) from exc
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
        src)`` (e.g. ``core.separation.loading.check_model_file``) may refuse the file with a
        ModelError before anything is copied: a file that does not load must not take the
        model's place. The file is copied (not linked) so the store stays valid if the original
        is removed.
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
            if target.is_file() and target.samefile(src):
                if self.verify(info.name) == "mismatch":
                    raise ChecksumMismatch("checksum mismatch")
                return target
            _prepare_folder(target.parent)
            copy_file(src, target, info.sha256)
        except TransferFailed as exc:
            raise ModelError(
                f"{src} is not the {info.name} checkpoint ({exc}); download {filename} again"
            ) from exc
        return target


def check_licence(info: ModelInfo, accepted: bool, command: str | None = None) -> None:
    """ModelError explaining the licence if ``info`` needs consent and ``accepted`` is False.

    The message ends with ``command`` (default: the fetch command), the one to run to accept.
    """
    if info.needs_acceptance and not accepted:
        raise ModelError(
            f"{info.name} is under the {info.licence}, so it and any stems made with it may not "
            f"be used commercially; if you accept that, run `{command or info.fetch_command}`"
        )


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


def _a_checkpoint(path: Path) -> str | None:
    """What a download without a known sha256 must be at least: a PyTorch checkpoint."""
    if is_torch_checkpoint(path):
        return None
    return "what it sent is not a PyTorch checkpoint (an error or sign-in page?)"


@functools.lru_cache(maxsize=32)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """The sha256 of the file at ``path`` (``size`` and ``mtime_ns`` key the cache)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _prepare_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"cannot create the model folder {folder} ({exc.strerror}); choose a writable one "
            f"with --model-dir or ${ENV_MODEL_DIR}"
        ) from exc
