"""scripts/setup.sh on a fresh Debian or Ubuntu machine, played against stand-ins for python3,
dpkg and apt-get that record what they are asked (nothing is installed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PYTHON3 = """#!/bin/bash
echo "python3 $* PIP_BREAK_SYSTEM_PACKAGES=${PIP_BREAK_SYSTEM_PACKAGES:-}" >> "$LOG"
if [ "$*" = "-m pip --version" ]; then [ -f "$STATE/pip" ]; exit $?; fi
if [ "$1" = "-" ]; then cat > /dev/null; exit "$MANAGED"; fi  # the PEP 668 check
exit 0
"""
DPKG = """#!/bin/bash
[ "$2" != python3-pip ] || [ -f "$STATE/pip" ]  # every other package is there
"""
APT_GET = """#!/bin/bash
echo "apt-get $*" >> "$LOG"
case " $* " in *" python3-pip "*) touch "$STATE/pip" ;; esac
"""


def _run_setup(tmp_path: Path, pip: bool, managed: bool) -> list[str]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("python3", PYTHON3), ("dpkg", DPKG), ("apt-get", APT_GET)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    if pip:
        (state / "pip").touch()
    log = tmp_path / "log"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "LOG": str(log),
        "STATE": str(state),
        "MANAGED": "0" if managed else "1",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], env=env,
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


@pytest.mark.skipif(os.geteuid() != 0, reason="as root, setup.sh calls apt-get without sudo")
def test_a_debian_python_without_pip_gets_it_and_installs_into_its_managed_python(
    tmp_path: Path,
) -> None:
    calls = _run_setup(tmp_path, pip=False, managed=True)
    installs = [c for c in calls if c.startswith("apt-get install")]
    assert len(installs) == 1 and " python3-pip" in installs[0]
    pip_installs = [c for c in calls if c.startswith("python3 -m pip install")]
    assert [c.split(" PIP_")[0] for c in pip_installs] == [
        "python3 -m pip install -q torch==2.13.0",
        "python3 -m pip install -q -e .[dev]",
    ]
    assert all(c.endswith("PIP_BREAK_SYSTEM_PACKAGES=1") for c in pip_installs)


@pytest.mark.skipif(os.geteuid() != 0, reason="as root, setup.sh calls apt-get without sudo")
def test_a_python_of_ones_own_with_pip_is_left_as_it_is(tmp_path: Path) -> None:
    calls = _run_setup(tmp_path, pip=True, managed=False)
    assert not any(c.startswith("apt-get") for c in calls)  # every package is there already
    pip_installs = [c for c in calls if c.startswith("python3 -m pip install")]
    assert len(pip_installs) == 2
    assert all(c.endswith("PIP_BREAK_SYSTEM_PACKAGES=") for c in pip_installs)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """The README's one command for the tests is the last line of .ci/run, character for
    character, in its own code block."""
    command = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = (REPO / "README.md").read_text()
    assert command.startswith("bash scripts/setup.sh && ")
    assert f"The tests:\n\n```\n{command}\n```" in readme
