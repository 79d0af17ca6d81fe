"""Frozen music taggers (Won et al.): vocabularies, checkpoint loading and windowing.

A :class:`Tagger` hears mono audio at 16 kHz the way the published ``MusicTagger`` does: the
signal is zero-padded to a multiple of the model's window (only when its length is not one
already), cut into consecutive windows, every window is tagged, and the probabilities are
averaged over windows. All windows go through the network as one batch, so a forward and
backward pass costs one network call however many windows or signals there are.
"""

from __future__ import annotations

import functools
import math
import pickle
import zipfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tagbox_gui.core.errors import ConfigError, ModelError
from tagbox_gui.core.nets.taggers_nets import build_network
from tagbox_gui.core.types import TaggerSpec

TAGGER_RATE = 16_000
"""Sample rate every tagger listens at."""

ARCHS: tuple[str, ...] = ("fcn", "crnn", "musicnn", "hcnn")
DATASETS: tuple[str, ...] = ("mtat", "jamendo", "msd")

WINDOW_SECONDS: dict[str, int] = {"fcn": 29, "crnn": 29, "musicnn": 3, "hcnn": 5}
"""Input length of each architecture, as in the published evaluation code."""

PUBLISHED: tuple[TaggerSpec, ...] = tuple(
    TaggerSpec(arch, dataset)
    for dataset, archs in (
        ("mtat", ("fcn", "crnn", "musicnn")),
        ("jamendo", ("fcn", "crnn", "musicnn")),
        ("msd", ("fcn", "crnn")),
    )
    for arch in archs
)
"""(arch, dataset) pairs whose trained weights are published (minzwon/sota-music-tagging-models).
HarmonicCNN is supported by :func:`load_tagger` but has no published weights in that store."""

Fill = Literal["zeros", "loop"]
FILLS: tuple[str, ...] = ("zeros", "loop")


@functools.cache
def vocabulary(dataset: str) -> tuple[str, ...]:
    """The 50 tag names of ``dataset``'s models, in the order of the model outputs.

    MTAT follows the dataset's ``tags.npy`` order and MSD its ``50tagList.txt`` order. The
    MTG-Jamendo models were trained with scikit-learn's ``LabelBinarizer``, which sorts the
    classes, so their outputs are in ALPHABETICAL order - not the order of the upstream tag
    list (using that list points e.g. 'instrument---piano' at the output of 'genre---rock').
    """
    if dataset not in DATASETS:
        raise ConfigError(
            f"unknown tagger dataset '{dataset}'; choose one of {', '.join(DATASETS)}"
        )
    text = resources.files("tagbox_gui.resources").joinpath("vocab", f"{dataset}.txt").read_text()
    return tuple(line for line in text.splitlines() if line)


def vocabularies(taggers: Iterable[TaggerSpec]) -> dict[str, tuple[str, ...]]:
    """The :func:`vocabulary` of each of ``taggers``' datasets, by dataset."""
    return {spec.dataset: vocabulary(spec.dataset) for spec in taggers}


def window_length(arch: str) -> int:
    """Samples at :data:`TAGGER_RATE` in one input window of ``arch``."""
    return WINDOW_SECONDS[arch] * TAGGER_RATE


def check_spec(spec: TaggerSpec) -> None:
    """Raise ConfigError unless ``spec`` names a known architecture and dataset."""
    if spec.arch not in ARCHS:
        raise ConfigError(
            f"unknown tagger '{spec}'; the architecture must be one of {', '.join(ARCHS)}"
        )
    vocabulary(spec.dataset)


def split_windows(x: Tensor, window: int, fill: Fill = "zeros") -> Tensor:
    """Cut ``x [B, n]`` into ``[B, W, window]``, W = ceil(n / window).

    The last window is completed only when ``n`` is not a multiple of ``window``: with zeros
    (``fill="zeros"``, the published behaviour) or by continuing the signal from its start
    (``fill="loop"``), which keeps a short excerpt from being mostly silence.
    """
    batch, n = x.shape
    if n == 0:
        raise ValueError("cannot tag an empty signal")
    count = math.ceil(n / window)
    missing = count * window - n
    if missing and fill == "zeros":
        x = F.pad(x, (0, missing))
    elif missing and fill == "loop":
        x = x.repeat(1, math.ceil(count * window / n))[:, : count * window]
    elif fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, not {fill!r}")
    return x.reshape(batch, count, window)


class Tagger(nn.Module):
    """A frozen tagger: audio at 16 kHz in, tag probabilities out (differentiable in the audio).

    Attributes: ``spec`` (arch/dataset), ``vocabulary`` (tag names in output order),
    ``window`` (samples per input window at 16 kHz), ``net`` (the network).
    """

    def __init__(self, spec: TaggerSpec, net: nn.Module) -> None:
        super().__init__()
        self.spec = spec
        self.net = net
        self.vocabulary: tuple[str, ...] = vocabulary(spec.dataset)
        self.window: int = window_length(spec.arch)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Tagger:
        """Stay in eval mode: batch statistics or dropout would change what the tagger hears."""
        return super().train(False)

    def _net_probs(self, windows: Tensor) -> Tensor:
        dtype = next(self.net.parameters()).dtype
        return torch.sigmoid(self.net(windows.to(dtype)))

    def window_probs(self, x16k: Tensor, fill: Fill = "zeros") -> Tensor:
        """Probabilities ``[windows, n_tags]`` of one signal ``[n]`` or ``[1, n]``."""
        if not (x16k.dim() == 1 or (x16k.dim() == 2 and x16k.shape[0] == 1)):
            raise ValueError(f"expected one signal [n] or [1, n], got {tuple(x16k.shape)}")
        return self._net_probs(split_windows(x16k.reshape(1, -1), self.window, fill)[0])

    def forward(self, x16k: Tensor, fill: Fill = "zeros") -> Tensor:
        """Mean probability over windows ``[n_tags]`` of one signal ``[n]`` or ``[1, n]``."""
        return self.window_probs(x16k, fill).mean(dim=0)

    def forward_batch(self, x16k: Tensor, fill: Fill = "zeros") -> Tensor:
        """Mean probabilities ``[B, n_tags]`` of ``B`` signals ``[B, n]``, windowed separately.

        All windows of all signals run through the network in one call.
        """
        if x16k.dim() != 2:
            raise ValueError(f"expected signals [B, n], got {tuple(x16k.shape)}")
        windows = split_windows(x16k, self.window, fill)
        batch, count, _ = windows.shape
        probs = self._net_probs(windows.reshape(batch * count, self.window))
        return probs.reshape(batch, count, -1).mean(dim=1)

    def extra_repr(self) -> str:
        return f"spec={self.spec}, window={self.window}"


# What torch.load raises on truncated, garbled or non-torch files (varies with the damage).
_LOAD_ERRORS = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    zipfile.BadZipFile,
    OSError,
    ValueError,
    AttributeError,
    TypeError,
    IndexError,
    KeyError,
)


def read_state_dict(path: Path, spec: TaggerSpec) -> dict[str, Tensor]:
    """Load a plain state dict of tensors without running pickled code; ModelError if unusable."""
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"the {spec} tagger weights must be a file, and {path} is a folder; "
                         "point --weights at the weights file in it")  # fmt: skip
    if path.exists() and not path.is_file():  # opening a pipe may wait forever
        raise ModelError(f"the {spec} tagger weights must be a file, and {path} is not a file "
                         "on disk (a pipe or a device); point --weights at the weights "
                         "file")  # fmt: skip
    if not path.is_file():
        raise ModelError(
            f"the {spec} tagger weights are missing: {path} does not exist; "
            f"fetch them with `tagbox models fetch {spec}` or point --weights at the file"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except _LOAD_ERRORS as exc:
        raise ModelError(
            f"the {spec} tagger weights in {path} are corrupt or not a PyTorch state dict "
            f"({type(exc).__name__}); fetch the file again"
        ) from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise ModelError(
            f"{path} is not a state dict of tensors, so it cannot be the {spec} tagger"
        )
    return state


def _fit_problems(net: nn.Module, state: dict[str, Tensor]) -> list[str]:
    """What keeps ``state`` from loading strictly into ``net`` (empty when it fits)."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} keys (e.g. {', '.join(unexpected[:3])})")
    for key in sorted(set(expected) & set(state)):
        if expected[key].shape != state[key].shape:
            got, want = tuple(state[key].shape), tuple(expected[key].shape)
            problems.append(f"{key} has shape {got}, not {want}")
    nonfinite = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if nonfinite:
        problems.append(f"non-finite values in {', '.join(nonfinite[:3])}")
    return problems


def load_tagger(spec: TaggerSpec, path: Path, device: torch.device | str = "cpu") -> Tagger:
    """Build the ``spec`` tagger and load its published state dict from ``path`` strictly.

    The stored mel window and filterbank (or HarmonicCNN's window and bandwidth) are used as
    they are. Returns a frozen module in eval mode. Raises ModelError (naming the file and the
    problem) for a missing, unreadable or mis-shaped checkpoint, ConfigError for an unknown spec.
    """
    check_spec(spec)
    state = read_state_dict(Path(path), spec)
    net = build_network(spec.arch, spec.dataset)
    problems = _fit_problems(net, state)
    if problems:
        raise ModelError(
            f"{path} does not hold {spec} tagger weights: {'; '.join(problems[:4])}; "
            "check --tagger matches the file, or fetch it again"
        )
    net.load_state_dict(state, strict=True)
    return Tagger(spec, net).to(device)
