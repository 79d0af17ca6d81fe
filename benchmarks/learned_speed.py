"""Wall time and peak memory of `tagbox separate` with the learned backend on a long song.

The case of the separator issue: a 4-minute stereo 44.1 kHz song and one instrument. The song
is made by tiling the dev set's songs (different in each channel) to the length asked for. The
command runs as a child process, so its peak resident memory is its own (``ru_maxrss``).
``benchmarks/each_speed.py`` times ``--each`` with the same song and helpers.

    python benchmarks/learned_speed.py [--minutes 4] [--steps 0] [--tags piano]
        [--shared ../shared] [--threads N] [--no-refine] [--no-fit]
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
REPO = Path(__file__).resolve().parents[1]
CLI = "import sys; from tagbox_gui.cli import main; sys.exit(main(sys.argv[1:]))"


def song_parser(threads: bool = True) -> argparse.ArgumentParser:
    """A parser with the options the long-song benchmarks share: ``--minutes``, ``--shared``
    and (with ``threads``) ``--threads``; its description is the calling script's first line."""
    caller = sys.modules["__main__"].__doc__ or ""
    parser = argparse.ArgumentParser(description=caller.strip().splitlines()[0] if caller else None)
    parser.add_argument("--minutes", type=float, default=4.0, help="song length (default 4)")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    if threads:
        text = "CPU threads (default: the CLI's Auto, all CPUs but one)"
        parser.add_argument("--threads", type=int, default=None, help=text)
    return parser


def long_song(shared: Path, minutes: float, path: Path) -> Path:
    """A stereo song of ``minutes`` made of the dev mixes, one order per channel."""
    files = sorted((shared / "eval" / "dev").glob("*/mix.flac"))
    mixes = [sf.read(p, dtype="float32")[0] for p in files]
    n = round(minutes * 60 * RATE)
    left = np.resize(np.concatenate(mixes), n)
    right = np.resize(np.concatenate(mixes[::-1]), n)
    sf.write(path, np.stack([left, right], axis=1), RATE, subtype="PCM_16")
    return path


def timed_separate(arguments: list[str], threads: int | None = None) -> tuple[float, float]:
    """Run ``tagbox separate ARGUMENTS`` as a child process of this checkout; return its wall
    time in seconds and its peak resident memory in GiB (the largest child's ``ru_maxrss``, so
    call it once per process)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    if threads:
        arguments = [*arguments, "--threads", str(threads)]
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CLI, "separate", *arguments], env=env,
                          cwd=REPO, capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"tagbox separate failed ({done.returncode}):\n{done.stderr}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB


def add_back_error(song: Path, stems: list[Path]) -> float:
    """Largest absolute difference between the song and the sum of the stem files, in samples."""
    total = -sf.read(song, dtype="float64", always_2d=True)[0]
    for path in stems:
        total += sf.read(path, dtype="float64", always_2d=True)[0]
    return float(np.abs(total).max())


def load_average() -> str:
    """The 1-minute load average, to read the timings by (other jobs slow them)."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "unknown"


def main() -> None:
    parser = song_parser()
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--tags", default="piano")
    parser.add_argument(
        "--no-refine",
        action="store_true",
        help="the first look alone (no second look beside the bass and drums)",
    )
    parser.add_argument(
        "--no-fit", action="store_true", help="the bare prototype (no fit to the song)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        song = long_song(args.shared, args.minutes, Path(tmp) / "song.wav")
        out, load = Path(tmp) / "out", load_average()
        wall, peak = timed_separate([str(song), "--tags", args.tags, "--steps", str(args.steps),
                                     "--backend", "learned", "--model-dir",
                                     str(args.shared / "models"), "-o", str(out),
                                     *(["--no-refine"] if args.no_refine else []),
                                     *(["--no-fit"] if args.no_fit else [])],
                                    args.threads)  # fmt: skip
        error = add_back_error(song, sorted(out.glob("*.wav")))
    look = (", first look only" if args.no_refine else "") + (", no fit" if args.no_fit else "")
    print(f"{args.minutes:g} min stereo 44.1 kHz, --tags {args.tags}, {args.steps} steps{look}: "
          f"wall {wall:.1f} s, peak RSS {peak:.2f} GiB, max |separated + residual - song| "
          f"{error:.1e} (load average {load} before the run)")  # fmt: skip


if __name__ == "__main__":
    main()
