"""Run v7 on a lent GPU machine, inside one time-limited command (``run.sh`` calls it).

It renders the TimGM6mb and csound songs of the development corpus (seed 0, 1,500 songs) and
of the band corpus (seed 2, 600 songs) with the project's renderer, caches their queries on
the GPU, joins them, times a 60-step probe, and trains from ``.dev/init.pt`` for as many
steps (at batch 48) as the time left allows, into ``$OUT/v7g``. The step count is fixed by the
clock before the run starts, never by a score. Everything it runs is the project's own code
(training.render, queries, union, train); this file only sequences it.

Environment: ``BUDGET_S`` (seconds from start to the end of training, default 540),
``DEVICE`` (cuda), ``WORKERS`` (14), ``BATCH`` (48), ``N_MIXED`` / ``N_BAND`` (1500 / 600),
``PROBE_STEPS`` (60), ``MIN_STEPS`` (200): the last ones exist to rehearse it on a CPU.
"""

import concurrent.futures as cf
import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

T0 = time.time()
DEADLINE = T0 + float(os.environ.get("BUDGET_S", "540"))
DEV = Path(__file__).resolve().parent
OUT = Path(os.environ["OUT"])
DEVICE = os.environ.get("DEVICE", "cuda")
PROBE = int(os.environ.get("PROBE_STEPS", "60"))

from training import render, union  # noqa: E402
from training.queries import cache_queries, load_query_taggers  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f} s] {msg}", flush=True)


def _render(args):
    settings, index = args
    return render.render_song(settings, index)["id"]


def render_corpus(out: Path, seed: int, n: int, lineup: str, manifest: Path) -> None:
    settings = render.RenderSettings(
        out, 16.0, seed, ("timgm6mb", "csound", "opl3"), "/tmp/fs/fluidsynth", lineup
    )
    (out / "songs").mkdir(parents=True, exist_ok=True)
    shutil.copy(manifest, out / "corpus.json")
    todo = [i for i in range(n) if settings.soundfont_of(i) != "opl3"]
    with cf.ProcessPoolExecutor(16) as pool:
        done = list(pool.map(_render, [(settings, i) for i in todo], chunksize=4))
    render.build_index(out)
    log(f"rendered {len(done)} songs into {out}")


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
    config = TrainConfig(
        steps=PROBE,
        batch=int(os.environ.get("BATCH", "48")),
        lr=4e-4,
        prototype_share=0.5,
        song_share=0.5,
        init=str(DEV / "init.pt"),
        valid_every=1000,
        checkpoint_every=1000,
    )
    workers = int(os.environ.get("WORKERS", "14"))
    probe = Path("/tmp/probe")
    t = time.time()
    train(Path("/tmp/union"), probe, config, threads=2, device=DEVICE, workers=workers)
    rows = [json.loads(line) for line in (probe / "log.jsonl").read_text().splitlines()]
    per_step = (rows[-1]["seconds"] - rows[PROBE // 3 - 1]["seconds"]) / (len(rows) - PROBE // 3)
    log(
        f"probe: {PROBE} steps in {time.time() - t:.1f} s; "
        f"{per_step * 1000:.1f} ms per step after the first third"
    )
    left = DEADLINE - time.time() - 25  # the last validation and checkpoint
    steps = max(
        int(os.environ.get("MIN_STEPS", "200")),
        int(min(40_000, left / per_step * 0.92) // 100 * 100),
    )
    config = replace(config, steps=steps, valid_every=500, checkpoint_every=500)
    log(f"training {steps} steps (budget {left:.0f} s)")
    run = OUT / "v7g"
    train(Path("/tmp/union"), run, config, threads=2, device=DEVICE, workers=workers)
    log("trained")
    (run / "best.pt").unlink(missing_ok=True)  # a step picked by validation is never used


if __name__ == "__main__":
    sys.exit(main())
