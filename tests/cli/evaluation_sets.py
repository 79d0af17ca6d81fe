"""Helpers of the `tagbox evaluate` tests: the tiny set's songs, a plan and a store, and the
command lines they run."""

from __future__ import annotations

from pathlib import Path

from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.store.models import ModelStore

SONGS = ["band000", "band001"]
DRUMS = evaluation_pairs.EvaluationPlan(sources=("drums",))  # the drums of every song
STORE = ModelStore(Path(__file__).parent / "no-models")  # for recipes: no model file in it


def learned_args(tiny_set: Path, est: Path, model_dir: Path, report: Path) -> list[str]:
    """The learned separator's defaults on the drums and strings, the report to ``report``."""
    return ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums,strings", "--threads",
            "1", "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip


def light_args(tiny_set: Path, est: Path, model_dir: Path, *more: str) -> list[str]:
    """Two steps of the light backend on the drums, with one tagger, and ``more``."""
    fixed = ["--backend", "light", "--steps", "2", "--threads", "1", "--sources", "drums",
             "--tagger", "fcn/mtat"]  # fmt: skip
    return ["evaluate", str(tiny_set), "-o", str(est), *fixed, "--model-dir", str(model_dir), *more]
