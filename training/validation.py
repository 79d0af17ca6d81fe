"""The separator's validation during training: fixed mixtures of held-out songs and the SI-SDR
improvement the network makes on them (``training.train`` logs it).

Two sets, remixed and whole-song, each asked for with the family's prototype and with the
stem's own query. Their examples depend on the corpus alone (:data:`VALID_SEED`), so runs of
other seeds on one corpus log comparable scores.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from tagbox_gui.core.nets.separator import QuerySeparator, inverse, spectrum
from training.mixes import Example, MixSampler
from training.queries import QueryBank, load_queries

ValidSet = tuple[list[Example], dict[str, list[np.ndarray]]]


VALID_SEED = 0
"""Seed of the validation examples: the same for every run on a corpus, whatever its training
seed, so that runs of other seeds log comparable validation scores (it was the training seed
until run v9d; a run of seed 0 draws the same examples as before)."""


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB of one signal."""
    scale = estimate @ reference / max(reference @ reference, 1e-12)
    target = scale * reference
    return 10 * math.log10(
        max(target @ target, 1e-12) / max((estimate - target) @ (estimate - target), 1e-12)
    )


def validate(net: QuerySeparator, examples: list[Example], queries: dict[str, list[np.ndarray]],
             prefix: str = "") -> dict[str, float]:  # fmt: skip
    """Mean SI-SDR improvement (dB) over the non-absent examples for each kind of query.

    Keys: ``si_sdri_<prefix><query kind>``.
    """
    net.eval()
    device = next(net.parameters()).device
    mix = torch.from_numpy(np.stack([e.mix for e in examples])).to(device)
    out: dict[str, float] = {}
    with torch.no_grad():
        spec_mix = spectrum(mix)
        for name, rows in queries.items():
            mask = net(spec_mix.abs(), torch.from_numpy(np.stack(rows)).to(device))
            estimate = inverse(mask * spec_mix, mix.shape[1]).cpu().numpy()
            pairs = zip(estimate, examples, strict=True)
            gains = [si_sdr(est, e.target) - si_sdr(e.mix, e.target)
                     for est, e in pairs if e.kind != "absent"]  # fmt: skip
            out[f"si_sdri_{prefix}{name}"] = float(np.mean(gains))
    net.train()
    return out


def valid_set(corpus: Path, songs: list[str], seconds: float, n_examples: int, bank: QueryBank,
              whole_song: bool = False) -> ValidSet:  # fmt: skip
    """Fixed validation examples of held-out songs (remixed, or whole-song) and their queries.

    ValueError naming the families asked for that ``bank`` has no prototype of.
    """
    rng = np.random.default_rng((VALID_SEED, 1 << 40, 1) if whole_song else (VALID_SEED, 1 << 40))
    sampler = MixSampler(corpus, songs, seconds, rng, p_pair=0.0, p_absent=0.0,
                         p_song=1.0 if whole_song else 0.0)  # fmt: skip
    examples = sampler.batch(n_examples)
    unasked = sorted({e.targets[0].family for e in examples} - bank.prototypes.keys())
    if unasked:
        played = ", ".join(unasked)
        raise ValueError(f"{corpus}: the held-out songs play {played}, which no training song "
                         "with cached queries plays: no prototype asks for it")  # fmt: skip
    queries = load_queries(corpus, sorted({e.targets[0].song for e in examples}))
    own = [queries[e.targets[0].song][e.targets[0].index] for e in examples]
    prototype = [bank.prototypes[e.targets[0].family] for e in examples]
    return examples, {"prototype": prototype, "own": own}
