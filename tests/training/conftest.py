"""Fixtures for the training-data tests: the FluidSynth program and the TimGM6mb SoundFont.

Like the shared assets in ``tests/conftest.py``: missing tools skip these tests locally and fail
them in CI (``CI=true``); ``training/setup.sh`` installs them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def fluidsynth() -> str:
    """The fluidsynth command line program."""
    path = shutil.which("fluidsynth")
    if path is None:
        _missing("fluidsynth is not installed (run training/setup.sh)")
    return str(path)


@pytest.fixture(scope="session")
def timgm6mb(fluidsynth: str) -> Path:
    """The TimGM6mb SoundFont file (package timgm6mb-soundfont)."""
    from training.soundfonts import sound_font_path

    try:
        return sound_font_path("timgm6mb")
    except FileNotFoundError as exc:
        _missing(str(exc))
        raise


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, fluidsynth: str, timgm6mb: Path, model_dir: Path) -> Path:
    """Six rendered songs of 4 s with their cached queries."""
    from tests.conftest import require
    from training.queries import cache_queries, load_query_taggers
    from training.render import RenderSettings, render_corpus

    out = tmp_path_factory.mktemp("traincorpus")
    settings = RenderSettings(out, 4.0, seed=3, soundfonts=("timgm6mb",), fluidsynth=fluidsynth)
    assert render_corpus(settings, n_songs=6) == []
    require(model_dir / "taggers" / "jamendo" / "fcn" / "best_model.pth")
    assert cache_queries(load_query_taggers(model_dir), out) == 6
    return out
