"""The registry of model entries: every model the application knows, where its weights come
from upstream, their size and sha256 where known, and under which licence.

Every model has one name, used by the CLI and the GUI alike: taggers are named like
:class:`~tagbox_gui.core.types.TaggerSpec` prints them (``fcn/mtat``, ``musicnn/jamendo``) and the
Jukebox VQ-VAE is ``jukebox-vqvae-5b``. Where the files live on disk, and fetching them, is
:mod:`tagbox_gui.core.store.models`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tagbox_gui.core.errors import ModelError, listed
from tagbox_gui.core.folders import format_size
from tagbox_gui.core.types import TaggerSpec

__all__ = [
    "ENV_BASE_URL",
    "ENV_MODEL_DIR",
    "JUKEBOX",
    "JUKEBOX_LICENCE_TEXT",
    "REGISTRY",
    "TAGGERS_FOR",
    "ModelInfo",
    "check_licence",
    "described",
    "model_info",
]

JUKEBOX = "jukebox-vqvae-5b"

ENV_MODEL_DIR = "TAGBOX_MODEL_DIR"  # the store's folder (``store.models.default_root``)
ENV_BASE_URL = "TAGBOX_MODEL_BASE_URL"  # mirrors replacing the upstream URLs

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


TAGGERS_FOR = (
    "the taggers hear an example clip and steer steps; an instrument named in one pass needs none"
)
"""What the taggers are for, said where a run needs some that the model folder lacks."""


def described(names: Sequence[str]) -> str:
    """The models called ``names`` with their sizes and licences, as a sentence lists them:
    "fcn/mtat (1.9 MB) and fcn/jamendo (1.9 MB), MIT licence"."""
    infos = [model_info(name) for name in names]
    sizes = [f"{i.name} ({format_size(i.size) if i.size else 'size unknown'})" for i in infos]
    return f"{listed(sizes)}, {', '.join(dict.fromkeys(i.licence for i in infos))} licence"


def check_licence(info: ModelInfo, accepted: bool, command: str | None = None) -> None:
    """ModelError explaining the licence if ``info`` needs consent and ``accepted`` is False.

    The message ends with ``command`` (default: the fetch command), the one to run to accept.
    """
    if info.needs_acceptance and not accepted:
        raise ModelError(
            f"{info.name} is under the {info.licence}, so it and any stems made with it may not "
            f"be used commercially; if you accept that, run `{command or info.fetch_command}`"
        )
