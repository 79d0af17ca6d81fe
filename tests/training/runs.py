"""Helpers of the training tests: a run's logged losses, and a run stopped at a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from training.config import TrainConfig
from training.train import train


def losses(out: Path) -> list[float]:
    """The loss of every step logged by the run in ``out``."""
    lines = (out / "log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def train_until(corpus: Path, out: Path, config: TrainConfig, stop_at: int) -> int:
    """Run ``config`` but stop (as an interruption would) right after checkpoint ``stop_at``."""
    from training import train as module

    original = module._save_checkpoint

    class Interrupted(Exception):
        pass

    def save_then_stop(out_dir, net, optimiser, step, *args):  # type: ignore[no-untyped-def]
        original(out_dir, net, optimiser, step, *args)
        if step == stop_at:
            raise Interrupted

    module._save_checkpoint = save_then_stop
    try:
        train(corpus, out, config)
    except Interrupted:
        return torch.load(out / "last.pt", weights_only=True)["step"]
    finally:
        module._save_checkpoint = original
    return config.steps
