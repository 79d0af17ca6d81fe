"""Train on a lent GPU machine, inside one time-limited command (``run.sh`` calls it).

It renders the TimGM6mb and csound songs of the development corpus (seed 0, 1,500 songs) and
of the band corpus (seed 2, 600 songs) with the project's renderer, caches their queries on
the GPU and joins them. Then it trains one or more **arms** side by side, each its own
``training.train`` process on the one GPU with its own worker processes, all from
``.dev/init.pt`` with the same recipe but for the settings the arm names: a 60-step probe of
every arm (together, as they will run) times a step, and every arm then trains for the same
number of steps, as many (at batch 48) as the time left allows for the slowest, into
``$OUT/<arm>``: its ``log.jsonl`` and ``last.pt``, in 15 MiB parts if larger
(:func:`keep_for_return`): of the 8 files the device tool brings back, three arms of the
shipped network's size fit, or two wider ones.
The step count is fixed by the clock before the runs start, never by a score.
Everything it runs is the project's own code (training.render, queries, union, train); this
file only sequences it.

Environment: ``ARMS`` (``name:workers:extra train options`` joined by ``;``, default one arm
``v7g:14:``), ``SEED`` (0), ``BUDGET_S`` (seconds from start to the end of training, default
540), ``DEVICE`` (cuda), ``BATCH`` (48), ``N_MIXED`` / ``N_BAND`` (1500 / 600),
``PROBE_STEPS`` (60), ``MIN_STEPS`` (200): the last ones exist to rehearse it on a CPU.
Run v8 (two arms, without and with random timbre changes):
``ARMS="v8n:6:;v8t:9:--timbre 0.3" SEED=1``. An arm trains from scratch, at any size, when its
options end the shared ``--init`` (``--init=`` is the empty path): e.g. a wider and deeper
network beside a control, ``ARMS="ctl:6:--timbre 0.3;w384:9:--timbre 0.3 --init= --width 384
--layers 4"``. An arm can also grow the shared ``--init`` wider or deeper so that it starts as
the given network (run v18h on the CPU): ``ARMS="ctl:6:--timbre 0.3;h256:9:--timbre 0.3
--hidden 256 --layers 4"``.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = time.time()
DEADLINE = T0 + float(os.environ.get("BUDGET_S", "540"))
DEV = Path(__file__).resolve().parent
OUT = Path(os.environ["OUT"])
DEVICE = os.environ.get("DEVICE", "cuda")
PROBE = int(os.environ.get("PROBE_STEPS", "60"))
RETURN_LIMIT = 15 * 2**20  # bytes of a file brought back, under the device tool's 16 MiB

from training import render, union  # noqa: E402
from training.queries import cache_queries, load_query_taggers  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f} s] {msg}", flush=True)


def render_corpus(out: Path, seed: int, n: int, lineup: str, manifest: Path) -> None:
    """The corpus's TimGM6mb and csound songs, under this machine's copy of its manifest (a
    new manifest would look up OPL3's SoundFont, which this machine lacks)."""
    settings = render.RenderSettings(
        out, 16.0, seed, ("timgm6mb", "csound", "opl3"), "/tmp/fs/fluidsynth", lineup
    )
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(manifest, out / "corpus.json")
    errors = render.render_corpus(settings, n, jobs=16, only=("timgm6mb", "csound"))
    if errors:
        raise SystemExit(f"{len(errors)} songs failed: {errors[:3]}")
    n_songs = json.loads((out / "index.json").read_text())["n_songs"]
    log(f"rendered {n_songs} songs into {out}")


def main() -> None:
    import torch

    cuda = torch.cuda.is_available()
    log(f"torch {torch.__version__}, cuda {cuda}, {torch.cuda.get_device_name(0) if cuda else '-'}")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    render_corpus(
        Path("/tmp/corpus"), 0, int(os.environ.get("N_MIXED", "1500")), "mixed", DEV / "corpus.json"
    )
    render_corpus(
        Path("/tmp/corpus-band"),
        2,
        int(os.environ.get("N_BAND", "600")),
        "band",
        DEV / "corpus-band.json",
    )
    taggers = load_query_taggers(DEV / "models", DEVICE)
    for c in ("/tmp/corpus", "/tmp/corpus-band"):
        made = cache_queries(taggers, Path(c))
        log(f"queries of {made} songs of {c}")
    del taggers
    union.main(["--out", "/tmp/union", "/tmp/corpus", "/tmp/corpus-band"])
    log("union made")
    arms = [arm.split(":", 2) for arm in os.environ.get("ARMS", "v7g:14:").split(";")]
    # a new folder: a probe left by an earlier call on this machine would be resumed, or
    # refused if that call gave the arm other settings
    probes = run_arms(arms, PROBE, Path(tempfile.mkdtemp(prefix="probe-")))
    per_step = max(probes)
    log(f"probe: {PROBE} steps; {per_step * 1000:.1f} ms per step after the first third")
    left = DEADLINE - time.time() - 25  # the last validation and checkpoint
    steps = max(
        int(os.environ.get("MIN_STEPS", "200")),
        int(min(40_000, left / per_step * 0.92) // 100 * 100),
    )
    log(f"training {steps} steps in every arm (budget {left:.0f} s)")
    run_arms(arms, steps, OUT)
    log("trained")
    for name, _, _ in arms:
        keep_for_return(OUT / name)


def keep_for_return(arm: Path, limit: int = RETURN_LIMIT) -> None:
    """Leave in ``arm`` what the device tool brings back from ``$OUT`` (at most 8 files, each
    at most 16 MiB): ``log.jsonl`` and ``last.pt``, the latter in parts ``last.pt.0``,
    ``last.pt.1`` ... of ``limit`` bytes when larger (a wider or deeper network's; ``cat
    last.pt.? > last.pt`` joins them). ``best.pt`` (a step picked by validation is never used)
    and ``separator.pt`` (the weights of ``last.pt``, which ``training.export --weights last.pt``
    reads) are removed."""
    for name in ("best.pt", "separator.pt"):
        (arm / name).unlink(missing_ok=True)
    last = arm / "last.pt"
    if last.stat().st_size > limit:
        with last.open("rb") as whole:
            for index, part in enumerate(iter(lambda: whole.read(limit), b"")):
                (arm / f"last.pt.{index}").write_bytes(part)
        last.unlink()


def run_arms(arms: list[list[str]], steps: int, root: Path) -> list[float]:
    """Train every arm for ``steps`` steps into ``root/<name>``, side by side; the seconds
    per step of each after its first third."""
    common = [
        "--corpus", "/tmp/union", "--device", DEVICE, "--threads", "2", "--steps", str(steps),
        "--batch", os.environ.get("BATCH", "48"), "--lr", "4e-4", "--prototype-share", "0.5",
        "--song-share", "0.5", "--init", str(DEV / "init.pt"),
        "--seed", os.environ.get("SEED", "0"),
        "--valid-every", str(min(500, steps)), "--checkpoint-every", str(min(500, steps)),
    ]  # fmt: skip
    env = {**os.environ, "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1"}  # TF32 matmuls, as in run v7
    procs = []
    for name, workers, extra in arms:
        out = root / name
        cmd = [sys.executable, "-m", "training.train", "--out", str(out), "--workers", workers]
        procs.append(subprocess.Popen([*cmd, *common, *extra.split()], env=env))
    if any(proc.wait() for proc in procs):
        raise SystemExit("an arm failed")
    times = []
    for name, _, _ in arms:
        rows = [json.loads(line) for line in (root / name / "log.jsonl").read_text().splitlines()]
        first = len(rows) // 3
        times.append((rows[-1]["seconds"] - rows[first - 1]["seconds"]) / (len(rows) - first))
    return times


if __name__ == "__main__":
    sys.exit(main())
