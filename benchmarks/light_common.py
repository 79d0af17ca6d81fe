"""What the light backend's benchmarks share: the eval songs, their scores and the taggers.

``light_experiments.py`` and ``light_sharing.py`` read ``shared/eval`` and ``shared/models`` in
place, beside the repository.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from this_checkout import REPO

from tagbox_gui.core.evaluation import scoring as evaluation
from tagbox_gui.core.evaluation import sets
from tagbox_gui.core.nets.taggers import load_tagger, vocabulary
from tagbox_gui.core.separation.objective import Criterion
from tagbox_gui.core.separation.tags import resolve_targets
from tagbox_gui.core.types import ANALYSIS_RATE, TaggerSpec

SHARED = REPO.parent / "shared"


def load_song(set_dir: Path, song: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The mixture and its true stems (float64 mono)."""
    mix, _ = evaluation.read_mono(set_dir / song / "mix.flac")
    sources = dict(sets.list_set(set_dir))[song]
    stems = {s: evaluation.read_mono(sets.stem_path(set_dir, song, s))[0] for s in sources}
    return mix, stems


def sdri(ref: np.ndarray, est: np.ndarray, mix: np.ndarray) -> float:
    """SDR improvement in dB (BSS Eval v4, as ``core.evaluation.scoring``)."""
    return evaluation.track_sdr(ref, est, ANALYSIS_RATE) - evaluation.track_sdr(
        ref, mix, ANALYSIS_RATE
    )


def si_sdri(ref: np.ndarray, est: np.ndarray, mix: np.ndarray) -> float:
    """Scale-invariant SDR improvement in dB (``core.evaluation.scoring``): a gain alone earns 0."""
    return evaluation.track_si_sdr(ref, est, ANALYSIS_RATE) - evaluation.track_si_sdr(
        ref, mix, ANALYSIS_RATE
    )


class FilledTagger(torch.nn.Module):
    """A tagger whose short inputs are completed as ``fill`` says (``"zeros"`` or ``"loop"``)."""

    def __init__(self, tagger: torch.nn.Module, fill: str) -> None:
        super().__init__()
        self.inner, self.fill = tagger, fill
        self.spec, self.vocabulary = tagger.spec, tagger.vocabulary

    def forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        """The inner tagger's probabilities, its short inputs completed by ``fill``."""
        return self.inner.forward_batch(x, fill=self.fill)


@functools.cache
def shared_tagger(spec: TaggerSpec) -> torch.nn.Module:
    """The tagger ``spec`` from ``shared/models``, loaded once per process."""
    path = SHARED / "models" / "taggers" / spec.dataset / spec.arch / "best_model.pth"
    return load_tagger(spec, path)


def tagger_criterion(
    spec: TaggerSpec, source: str, fill: str = "zeros", **options: Any
) -> Criterion | None:
    """The loss of the tagger ``spec`` for ``source`` on the CPU (``options`` go to
    ``resolve_targets``); None where its vocabulary has no tag for the source."""
    try:
        targets = resolve_targets(spec.dataset, vocabulary(spec.dataset), (source,), **options)
    except Exception:  # this vocabulary has no tag for the source
        return None
    return Criterion.build(FilledTagger(shared_tagger(spec), fill), targets, torch.device("cpu"))
