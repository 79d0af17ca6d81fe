"""Scripts run by their path (``python docs/screenshot.py``) use the checkout they live in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_screenshot_script_imports_the_checkout_it_lives_in(tmp_path: Path) -> None:
    """Another tagbox_gui first on the path (an installed one, another checkout's) is not the
    one the script pictures."""
    decoy = tmp_path / "elsewhere" / "tagbox_gui"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("")
    # the script's module code as `python docs/screenshot.py` runs it (main() aside), then
    # the import its main() makes
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "import tagbox_gui; print(tagbox_gui.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(decoy.parent)}
    script = str(REPO / "docs" / "screenshot.py")
    done = subprocess.run([sys.executable, "-c", code, script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    assert Path(done.stdout.strip()) == REPO / "tagbox_gui" / "__init__.py"
