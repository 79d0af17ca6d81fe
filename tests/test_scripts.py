"""Scripts run by their path (``python docs/screenshot.py``, ``python benchmarks/x.py``) use
the checkout they live in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The benchmarks that import tagbox_gui themselves (the others run `tagbox` as a child process
# with the repository on its PYTHONPATH); prototype_reach.py is run as a module from the
# repository (`python -m benchmarks.prototype_reach`), which puts the repository first.
BENCHMARKS = sorted(
    path.name
    for path in (REPO / "benchmarks").glob("*.py")
    if re.search(r"^(from|import) tagbox_gui\b", path.read_text(), re.MULTILINE)
    and path.name != "prototype_reach.py"
)


def _imported_by(script: Path, tmp_path: Path) -> Path:
    """The tagbox_gui that ``script``'s module code imports, run as ``python SCRIPT`` runs it
    (main() aside: its folder first on sys.path), with another tagbox_gui (an installed one,
    another checkout's) next on the path; then the import that a main() would make."""
    decoy = tmp_path / "elsewhere" / "tagbox_gui"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("")
    code = (
        "import os, runpy, sys; sys.path.insert(0, os.path.dirname(sys.argv[1])); "
        "runpy.run_path(sys.argv[1]); import tagbox_gui; print(tagbox_gui.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(decoy.parent), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", code, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def test_the_screenshot_script_imports_the_checkout_it_lives_in(tmp_path: Path) -> None:
    """Another tagbox_gui first on the path (an installed one, another checkout's) is not the
    one the script pictures."""
    imported = _imported_by(REPO / "docs" / "screenshot.py", tmp_path)
    assert imported == REPO / "tagbox_gui" / "__init__.py"


def test_the_benchmarks_are_found() -> None:
    assert {"decoder_time.py", "light_common.py", "step_time.py", "tagger_auc.py"} <= set(
        BENCHMARKS
    )


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_benchmark_imports_the_checkout_it_lives_in(name: str, tmp_path: Path) -> None:
    """A benchmark run by its path times this checkout's code, not another tagbox_gui's."""
    imported = _imported_by(REPO / "benchmarks" / name, tmp_path)
    assert imported == REPO / "tagbox_gui" / "__init__.py"
