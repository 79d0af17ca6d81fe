"""The settings of a training run (``python -m training.train``): everything that decides what
it trains, stored in its checkpoints so that a run resumes only with its own."""

from __future__ import annotations

from dataclasses import dataclass

from training.queries import PROTOTYPE_SHARE


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (stored in its checkpoints)."""

    steps: int = 20_000
    batch: int = 12
    seconds: float = 3.0
    lr: float = 1e-3  # peak learning rate, after the warm-up, decayed on a cosine to lr / 20
    warmup: int = 200  # steps of linear learning-rate warm-up
    seed: int = 0
    width: int = 256
    layers: int = 3
    band_width: int = 0  # channels per band of the band branch (0: none; run v5: 32)
    hidden: int = 0  # GRU units per direction of each block (0: width // 2; more: widened)
    query_noise: float = 0.1
    prototype_share: float = PROTOTYPE_SHARE  # of single-source queries: the family's mean
    checkpoint_every: int = 100
    valid_every: int = 500
    valid_examples: int = 48
    eq_db: float = 8.0  # range of the random equaliser of every source (training.mixes)
    song_share: float = 0.0  # of examples: whole-song crops (training.mixes, kind "song")
    timbre: float = 0.0  # chance of each random timbre change of a source (training.timbres)
    solo_share: float = 0.0  # of examples: one stem alone, asked by prototype (kind "solo")
    refuse_share: float = 0.0  # of examples: one stem alone, asked as another family ("refuse")
    texture: float = 0.0  # chance of each random texture change of a source (training.timbres)
    look_share: float = 0.0  # of single and song examples: heard as the second look (kind "look")
    gap: float = 0.0  # chance of a gap in each source: it enters late, stops early or pauses
    snr_weight: float = 1.0  # weight of the SNR beside the SI-SDR in the loss (0: SI-SDR alone)
    absent_weight: float = 1.0  # weight of an absent source's leak term in the loss
    init: str = ""  # weights a new run starts from (save_separator format); "": from scratch
    recipe: int = 2  # 1: the first recipe (energy-floored SI-SDR, lr halved at 80 %), retired

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
