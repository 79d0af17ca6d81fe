"""Seconds from launching ``tagbox-gui`` to the main window's first frame, under Xvfb.

    python benchmarks/startup.py --runs 7
    python benchmarks/startup.py --runs 7 --command tagbox-gui   # the installed launcher

Each run launches the app as a subprocess on its own X server (Xvfb, started here) with empty
settings, cache and log folders. The app writes the moments it reaches to the file named by
``$TAGBOX_STARTUP_TRACE`` (``tagbox_gui.gui.app``): ``first_frame`` once the main window has
been painted for the first time, ``engine_ready`` once the engine's modules are imported and
Run can be enabled. Both are measured from just before the subprocess starts, so they include
the interpreter's own start. The run is then ended (SIGTERM). Prints each run and the median.

The machine's load matters (a training job in the background slows every import): the load
average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVENTS = ("first_frame", "engine_ready")


def start_xvfb(screen: str) -> tuple[subprocess.Popen, str]:
    """An Xvfb server on a free display; the process and its ``DISPLAY``."""
    if shutil.which("Xvfb") is None:
        sys.exit("Xvfb is not installed (apt-get install xvfb)")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        sys.exit("Xvfb did not start")
    return server, f":{number}"


def read_trace(path: Path) -> dict[str, float]:
    """``event -> seconds since the epoch`` from the app's trace file (missing: not yet)."""
    times: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in EVENTS:
                times.setdefault(parts[0], float(parts[1]))
    return times


def launch_once(command: list[str], repo: Path, display: str, timeout: float) -> dict[str, float]:
    """Launch the app once; seconds from launch to each event it reached."""
    with tempfile.TemporaryDirectory(prefix="tagbox-startup-") as tmp:
        home = Path(tmp)
        trace = home / "trace.txt"
        runtime = home / "run"  # its own single-instance socket: an open TagBox is not reached
        runtime.mkdir(mode=0o700)
        env = {
            **os.environ,
            "DISPLAY": display,
            "QT_QPA_PLATFORM": "xcb",
            "PYTHONPATH": str(repo),
            "TAGBOX_STARTUP_TRACE": str(trace),
            "TAGBOX_MODEL_DIR": str(home / "models"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_RUNTIME_DIR": str(runtime),
        }
        env.pop("QT_QPA_PLATFORMTHEME", None)
        launched = time.time()
        app = subprocess.Popen(
            command, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        times: dict[str, float] = {}
        try:
            while time.time() - launched < timeout and app.poll() is None:
                times = read_trace(trace)
                if all(event in times for event in EVENTS):
                    break
                time.sleep(0.01)
        finally:
            app.send_signal(signal.SIGTERM)
            try:
                _, errors = app.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                app.kill()
                _, errors = app.communicate()
        if "first_frame" not in times:
            tail = errors.decode(errors="replace")[-2000:]
            raise RuntimeError(f"no first frame within {timeout:.0f} s; stderr:\n{tail}")
        return {event: moment - launched for event, moment in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--screen", default="1600x1000", help="Xvfb screen size, WxH")
    parser.add_argument(
        "--command",
        nargs="+",
        default=[sys.executable, "-m", "tagbox_gui"],
        help="what to launch (default: this interpreter with -m tagbox_gui)",
    )
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to launch from")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    server, display = start_xvfb(args.screen)
    print(f"Xvfb {display} {args.screen}; launching: {' '.join(args.command)} in {args.repo}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")
    results: list[dict[str, float]] = []
    try:
        launch_once(args.command, args.repo, display, args.timeout)  # warms the file cache
        for run in range(1, args.runs + 1):
            result = launch_once(args.command, args.repo, display, args.timeout)
            results.append(result)
            shown = "  ".join(f"{e} {result[e]:.2f} s" for e in EVENTS if e in result)
            print(f"run {run}: {shown}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for event in EVENTS:
        values = [r[event] for r in results if event in r]
        if values:
            print(
                f"{event}: median {statistics.median(values):.2f} s over {len(values)} runs "
                f"(min {min(values):.2f}, max {max(values):.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
