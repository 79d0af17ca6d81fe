"""Running the command line as a real process, the way a user does, and reading its answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.conftest import REPO


def run_cli(
    *args: object, script: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m tagbox_gui.cli ARGS`` (or ``python -c SCRIPT ARGS``) in the checkout."""
    command = ["-c", script] if script is not None else ["-m", "tagbox_gui.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, *command, *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, words: str = "") -> str:
    """Exit status 2 and one line on stderr, no traceback; the line contains ``words``."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1 and ": error: " in lines[0], result.stderr
    assert words.lower() in lines[0].lower(), lines[0]
    return lines[0]


def write_song(path: Path, seconds: float = 3.0, rate: int = 44_100, channels: int = 1) -> Path:
    """A tone with a little noise: enough for every backend to find something."""
    rng = np.random.default_rng(1)
    t = np.arange(round(seconds * rate)) / rate
    noise = 0.05 * rng.standard_normal((t.size, channels))
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] + noise
    sf.write(path, tone, rate, subtype="PCM_16")
    return path
