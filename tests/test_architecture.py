"""The architecture rules, as import-linter contracts in pyproject.toml ([tool.importlinter]).

``lint-imports`` checks them on the import graph of ``tagbox_gui`` (TYPE_CHECKING imports and
imports inside functions included):

- core imports no Qt binding or pyqtgraph, and nothing of ``cli`` or ``gui``;
- the command line imports no Qt;
- ``gui`` and ``cli`` sit above ``core`` and never import each other;
- core's rooms are layered: evaluation > separation > nets | audio | store > dsp > types >
  errors (a room imports only rooms below it; nets, audio and store not each other), and every
  module of core belongs to one of them;
- no two sibling modules or packages import each other in a circle, at any depth.

And the map of ``docs/design.md`` names every module of the package, and none that is gone.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `lint-imports --no-cache` with this interpreter (no cache folder left in the checkout).
LINT = "from importlinter.cli import lint_imports_command as main; main()"


def test_import_contracts_are_kept() -> None:
    assert find_spec("importlinter"), "import-linter is missing: pip install -e '.[dev]'"
    done = subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "0 broken" in report, report


def _design_map() -> str:
    design = (REPO / "docs" / "design.md").read_text()
    return design.split("## Map", 1)[1].split("\n## ", 1)[0]


def test_the_design_map_names_every_module() -> None:
    """docs/design.md's map names every module of the package (``__init__.py`` aside)."""
    map_section = _design_map()
    package = REPO / "tagbox_gui"
    modules = [path.relative_to(package) for path in sorted(package.rglob("*.py"))]
    missing = [
        str(module)
        for module in modules
        if module.name != "__init__.py"
        and f"`{module.name}`" not in map_section
        and f"`{module}`" not in map_section
    ]
    assert not missing, f"docs/design.md's map leaves out {missing}"


def test_the_design_map_names_no_module_that_is_gone() -> None:
    """Every ``name.py`` or ``folder/name.py`` in docs/design.md's map is a module of the package
    (the map names a module by its name, or by its path under ``tagbox_gui/``)."""
    package = REPO / "tagbox_gui"
    paths = {path.relative_to(package).as_posix() for path in package.rglob("*.py")}
    named = set(re.findall(r"`([\w/]+\.py)`", _design_map()))
    gone = sorted(n for n in named if not any(p == n or p.endswith("/" + n) for p in paths))
    assert named and not gone, f"docs/design.md's map names modules that are gone: {gone}"
