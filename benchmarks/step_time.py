"""Seconds per optimisation step of the engine, on CPU and (when present) CUDA.

    python benchmarks/step_time.py --seconds 5 --tagger fcn/mtat --fft 2048,1024,512 \
        --jukebox-weights ../shared/fixtures/jukebox/vqvae_random.pth.tar \
        --model-dir ../shared/models

Speed does not depend on weight values, so the random-weight Jukebox checkpoint serves. The
song is a mix from ../shared/eval when there is one, else a synthetic chord with noise.
Prints the mean and median seconds per step over the timed steps (the first is a warm-up).
Steps include the residual meters' tagger pass, as in the GUI; ``--no-meters`` leaves it out,
as ``tagbox separate`` and ``tagbox evaluate`` do.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from this_checkout import REPO

from tagbox_gui.core.audio.song import Song
from tagbox_gui.core.separation import engine
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import TaggerSpec


class _Store(ModelStore):
    def __init__(self, root: Path, jukebox: Path | None) -> None:
        super().__init__(root)
        self._jukebox = jukebox

    def jukebox_path(self) -> Path:
        return self._jukebox or super().jukebox_path()


def _song(seconds: float) -> Song:
    rate = 44_100
    t = np.arange(round(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 4
    data = (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)[:, None]
    return Song(Path("bench.wav"), "bench", data, rate, "FLOAT", "WAV")


def measure(args: argparse.Namespace, device: str) -> list[float]:
    """Seconds of each step of one run on ``device``."""
    store = _Store(args.model_dir, args.jukebox_weights)
    config = default_config(
        args.backend,
        tags=("piano",),
        taggers=tuple(TaggerSpec.parse(t) for t in args.tagger),
        fft_sizes=tuple(int(n) for n in args.fft.split(",")),
        steps=args.steps + 1,
        device=device,
        preview_every=10_000,
    )
    steps = engine.run(config, _song(args.seconds), store, ModelCache(), args.meters)
    times = [step.seconds for step in steps if step is not None]
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tagger", action="append", default=None)
    parser.add_argument("--fft", default="2048,1024,512")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--backend", default="jukebox", choices=["jukebox", "light"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--meters", action=argparse.BooleanOptionalAction, default=True,
                        help="measure the residual meters each step, as the GUI does")  # fmt: skip
    parser.add_argument(
        "--jukebox-weights",
        type=Path,
        default=REPO.parent / "shared/fixtures/jukebox/vqvae_random.pth.tar",
    )
    parser.add_argument("--model-dir", type=Path, default=REPO.parent / "shared/models")
    args = parser.parse_args()
    args.tagger = args.tagger or ["fcn/mtat"]
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"backend {args.backend}, {args.seconds:g} s of audio, taggers {args.tagger}, "
        f"FFT {args.fft}, torch threads {torch.get_num_threads()}, meters {args.meters}"
    )
    for device in devices:
        times = measure(args, device)
        print(
            f"{device}: {statistics.mean(times):.3f} s/step mean, "
            f"{statistics.median(times):.3f} median over {len(times)} steps"
        )


if __name__ == "__main__":
    main()
