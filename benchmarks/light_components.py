"""The light backend's NMF components, looked at one by one (``light_experiments.py``).

:func:`oracle_logits` gives each component to the true source it correlates with best (the
ceiling of a gate-based separator); :func:`component_probs` and :func:`class_scores` ask a
tagger what each component sounds like heard alone.
"""

from __future__ import annotations

import numpy as np
import this_checkout  # noqa: F401 (the repository first on sys.path)
import torch

from tagbox_gui.core.dsp.spectral import istft, resample, stft
from tagbox_gui.core.nets.taggers import TAGGER_RATE, vocabulary
from tagbox_gui.core.separation.backends import light
from tagbox_gui.core.separation.tags import PRESETS
from tagbox_gui.core.types import ANALYSIS_RATE


def oracle_logits(backend: light.LightBackend, stems: dict[str, np.ndarray], name: str,
                  gates: int) -> torch.Tensor:  # fmt: skip
    """±20 logits: component k in stretch s goes to the source it correlates with best."""
    W, H, _ = backend._factors()
    mags = {s: stft(torch.from_numpy(x).float()[None], backend.settings.nmf_fft)[0].abs()
            for s, x in stems.items()}  # fmt: skip
    frames = H.shape[1]
    edges = np.linspace(0, frames, gates + 1).round().astype(int)
    logits = torch.full((H.shape[0], gates), -20.0)
    for s in range(gates):
        sl = slice(edges[s], edges[s + 1])
        comps = (W.T[:, :, None] * H[:, None, sl]).reshape(H.shape[0], -1)
        scores = torch.stack([_pearson(comps, m[:, sl].reshape(1, -1)) for m in mags.values()])
        winner = scores.argmax(dim=0)
        logits[winner == list(mags).index(name), s] = 20.0
    return logits


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The correlation of each row of ``a`` with the row ``b``."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-12)


def component_probs(backend: light.LightBackend, tagger: torch.nn.Module,
                    length: int) -> torch.Tensor:  # fmt: skip
    """Tag probabilities ``[K, 50]`` of each NMF component heard alone (its Wiener share)."""
    W, H, V_hat = backend._factors()
    spec = backend._mix_spec
    rows = []
    with torch.no_grad():
        for k in range(W.shape[1]):
            share = (W[:, k : k + 1] * H[k : k + 1]) / (V_hat + 1e-20)
            rows.append(istft(share * spec, backend.settings.nmf_fft, length))
        audio16 = resample(torch.stack(rows), ANALYSIS_RATE, TAGGER_RATE)
        return torch.cat([tagger.forward_batch(chunk) for chunk in audio16.split(8)])


def class_scores(probs: torch.Tensor, dataset: str) -> dict[str, torch.Tensor]:
    """Per preset with tags in ``dataset``: the max probability of its tags, ``[K]``."""
    vocab = vocabulary(dataset)
    out = {}
    for preset in PRESETS:
        tags = preset.wanted.get(dataset, ())
        if tags:
            idx = [vocab.index(t) for t in tags]
            out[preset.name.lower()] = probs[:, idx].max(dim=1).values
    return out


def auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """The chance that a ``positive`` component scores above a negative one (NaN if one side
    is empty)."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float((pos[:, None] > neg[None, :]).float().mean())
