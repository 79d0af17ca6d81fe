"""The settings of a training run (``python -m training.train``): everything that decides what
it trains, stored in its checkpoints so that a run resumes only with its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training.queries import PROTOTYPE_SHARE


def setting(default: Any, about: str) -> Any:
    """A field of :class:`TrainConfig` with its default and what it sets (its ``--help``)."""
    return field(default=default, metadata={"help": about})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (stored in its checkpoints)."""

    steps: int = setting(20_000, "optimiser steps of the run")
    batch: int = setting(12, "examples per step")
    seconds: float = setting(3.0, "length of each example crop in seconds")
    lr: float = setting(
        1e-3, "peak learning rate, after the warm-up, decayed on a cosine to lr / 20"
    )
    warmup: int = setting(200, "steps of linear learning-rate warm-up")
    seed: int = setting(0, "seed of the run: the same seed and corpus train the same weights")
    width: int = setting(256, "channels of the network's trunk")
    layers: int = setting(3, "recurrent blocks of the network")
    band_width: int = setting(0, "channels per band of the band branch (0: none; run v5: 32)")
    hidden: int = setting(0, "GRU units per direction of each block (0: width // 2; more: widened)")
    query_noise: float = setting(
        0.1, "standard deviation of the noise added to the standardised queries"
    )
    prototype_share: float = setting(
        PROTOTYPE_SHARE,
        "share of single-source examples asked by their family's prototype (mean query)",
    )
    checkpoint_every: int = setting(
        100, "steps between checkpoints (the run resumes from the last)"
    )
    valid_every: int = setting(500, "steps between validations (SI-SDR of fixed held-out mixtures)")
    valid_examples: int = setting(48, "fixed held-out mixtures of each validation")
    eq_db: float = setting(8.0, "range of the random equaliser of every source (training.mixes)")
    song_share: float = setting(
        0.0, 'share of examples that are whole-song crops (training.mixes, kind "song")'
    )
    timbre: float = setting(
        0.0, "chance of each random timbre change of a source (training.timbres)"
    )
    solo_share: float = setting(
        0.0, 'share of examples that are one stem alone, asked by prototype (kind "solo")'
    )
    refuse_share: float = setting(
        0.0, 'share of examples that are one stem alone, asked as another family ("refuse")'
    )
    texture: float = setting(
        0.0, "chance of each random texture change of a source (training.timbres)"
    )
    look_share: float = setting(
        0.0, 'share of single and song examples heard as the second look (kind "look")'
    )
    gap: float = setting(
        0.0, "chance of a gap in each source: it enters late, stops early or pauses"
    )
    snr_weight: float = setting(
        1.0, "weight of the SNR beside the SI-SDR in the loss (0: SI-SDR alone)"
    )
    absent_weight: float = setting(1.0, "weight of an absent source's leak term in the loss")
    init: str = setting(
        "", 'weights a new run starts from (save_separator format); "": from scratch'
    )
    recipe: int = setting(
        2, "1: the first recipe (energy-floored SI-SDR, lr halved at 80 %), retired"
    )

    def __post_init__(self) -> None:
        """Refuse settings no run can train with (ValueError naming each option)."""
        least = {"steps": 1, "batch": 1, "width": 1, "checkpoint_every": 1, "valid_every": 1,
                 "valid_examples": 1, "warmup": 0, "seed": 0, "layers": 0, "band_width": 0,
                 "hidden": 0, "lr": 0, "query_noise": 0, "eq_db": 0, "snr_weight": 0,
                 "absent_weight": 0}  # fmt: skip
        shares = ("prototype_share", "song_share", "timbre", "solo_share", "refuse_share",
                  "texture", "look_share", "gap")  # fmt: skip
        problems = [f"--{name} must be at least {low}, not {getattr(self, name)}"
                    for name, low in least.items() if not getattr(self, name) >= low]  # fmt: skip
        problems += [f"--{name} must lie in [0, 1], not {getattr(self, name)}"
                     for name in shares if not 0 <= getattr(self, name) <= 1]  # fmt: skip
        if not self.seconds > 0:
            problems.append(f"--seconds must be positive, not {self.seconds}")
        if self.recipe != 2:
            problems.append(f"--recipe {self.recipe} is retired: only recipe 2 trains")
        if problems:
            raise ValueError("; ".join(p.replace("_", "-") for p in problems))
