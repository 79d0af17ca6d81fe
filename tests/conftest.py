"""Shared test fixtures: where the team's assets (../shared) live.

The assets are read in place. Outside CI a missing asset skips the tests that need it; in CI
(``CI=true``) it is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ("tests.httpserver",)

REPO = Path(__file__).resolve().parents[1]


def _shared_root() -> Path:
    env = os.environ.get("TAGBOX_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def require(path: Path) -> Path:
    """Return ``path`` if it exists; else skip (locally) or fail (in CI)."""
    if path.exists():
        return path
    message = f"shared asset missing: {path}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The team's shared folder (``../shared`` beside the checkout, or $TAGBOX_SHARED)."""
    return require(_shared_root())


@pytest.fixture(scope="session")
def model_dir(shared: Path) -> Path:
    """A model folder laid out like the upstream repositories (taggers only)."""
    return require(shared / "models")


@pytest.fixture(scope="session")
def fixtures_dir(shared: Path) -> Path:
    return require(shared / "fixtures")


@pytest.fixture(scope="session")
def eval_dir(shared: Path) -> Path:
    return require(shared / "eval")


def fail_at_step(monkeypatch: pytest.MonkeyPatch, number: int, error: BaseException) -> None:
    """Every steered run raises ``error`` at its step ``number`` (``Optimisation.step``), as a
    step that runs out of memory or whose loss is not finite does."""
    from tagbox_gui.core.separation.engine import Optimisation

    step = Optimisation.step

    def failing(self, at: int = 0):
        if at == number:
            raise error
        return step(self, at)

    monkeypatch.setattr(Optimisation, "step", failing)
