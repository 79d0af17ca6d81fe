"""Wall time and peak memory of `tagbox separate` with the learned backend on a long song.

The case of the separator issue: a 4-minute stereo 44.1 kHz song and one instrument. The song
is made by tiling the dev set's songs (different in each channel) to the length asked for. The
command runs as a child process, so its peak resident memory is its own (``ru_maxrss``).

    python benchmarks/learned_speed.py [--minutes 4] [--steps 0] [--tags piano]
        [--shared ../shared] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44_100
CLI = "import sys; from tagbox_gui.cli import main; sys.exit(main(sys.argv[1:]))"


def long_song(shared: Path, minutes: float, path: Path) -> Path:
    """A stereo song of ``minutes`` made of the dev mixes, one order per channel."""
    files = sorted((shared / "eval" / "dev").glob("*/mix.flac"))
    mixes = [sf.read(p, dtype="float32")[0] for p in files]
    n = round(minutes * 60 * RATE)
    left = np.resize(np.concatenate(mixes), n)
    right = np.resize(np.concatenate(mixes[::-1]), n)
    sf.write(path, np.stack([left, right], axis=1), RATE, subtype="PCM_16")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--tags", default="piano")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[2] / "shared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        song = long_song(args.shared, args.minutes, Path(tmp) / "song.wav")
        env = dict(os.environ)
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        command = [sys.executable, "-c", CLI, "separate", str(song),
                   "--tags", args.tags, "--steps", str(args.steps), "--backend", "learned",
                   "--model-dir", str(args.shared / "models"),
                   "-o", str(Path(tmp) / "out")]  # fmt: skip
        began = time.perf_counter()
        subprocess.run(command, check=True, env=env, capture_output=True)
        wall = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
        stems = sorted((Path(tmp) / "out").glob("*.wav"))
        a, b = (sf.read(p)[0] for p in stems)
        original = sf.read(song)[0]
        error = float(np.abs(a + b - original).max())
    print(f"{args.minutes:g} min stereo 44.1 kHz, --tags {args.tags}, {args.steps} steps: "
          f"wall {wall:.1f} s, peak RSS {peak:.2f} GiB, max |separated + residual - song| "
          f"{error:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
