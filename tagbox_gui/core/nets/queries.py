"""Queries in the taggers' space: what frozen taggers hear in a source, as one vector.

A query is, for each tagger of :data:`QUERY_TAGGERS`, its penultimate-layer embedding (the
input of its last linear layer) followed by its 50 tag probabilities, both averaged over the
tagger's windows; the taggers' parts are concatenated. Short clips are looped to fill a window
(``fill="loop"``), so a few seconds of an instrument ask for it as well as a whole stem.

The separator is trained with the queries of single stems; at use time a query comes from an
example clip (:func:`query_of`) or from a prototype per instrument (the mean training query of
that instrument's stems, shipped with the weights).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tagbox_gui.core.dsp.spectral import resample
from tagbox_gui.core.nets.taggers import TAGGER_RATE, Tagger, split_windows
from tagbox_gui.core.types import TaggerSpec

QUERY_TAGGERS: tuple[TaggerSpec, ...] = (TaggerSpec("fcn", "mtat"), TaggerSpec("fcn", "jamendo"))
"""Taggers whose outputs make a query, in order."""

QUERY_BATCH_WINDOWS = 8
"""The most windows a tagger hears in one pass while making a query. A pass takes about 100 MB
a window (a fcn's), so a long clip (a whole stem as the example, or a long region of the song)
is heard this many at a time: its memory stays that of a four-minute clip."""


def _last_linear(net: nn.Module) -> nn.Linear:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no linear output layer")
    return linears[-1]


def tagger_features(tagger: Tagger, x16k: Tensor) -> Tensor:
    """``[B, embedding + n_tags]`` of signals ``[B, n]`` at 16 kHz, averaged over windows
    (heard :data:`QUERY_BATCH_WINDOWS` at a time)."""
    windows = split_windows(x16k, tagger.window, fill="loop")
    batch, count, _ = windows.shape
    captured: list[Tensor] = []
    handle = _last_linear(tagger.net).register_forward_hook(
        lambda _m, inputs, _o: captured.append(inputs[0])
    )
    parts = []
    try:
        for part in windows.reshape(batch * count, tagger.window).split(QUERY_BATCH_WINDOWS):
            probs = tagger._net_probs(part)
            parts.append(torch.cat([captured[-1].flatten(1), probs], dim=1).float())
    finally:
        handle.remove()
    return torch.cat(parts).reshape(batch, count, -1).mean(dim=1)


def query_of(taggers: Sequence[Tagger], audio: Tensor, rate: int) -> Tensor:
    """The query ``[B, dim]`` of mono signals ``[B, n]`` (or one ``[n]``) at ``rate``."""
    if audio.dim() == 1:
        audio = audio[None]
    x16k = resample(audio.float(), rate, TAGGER_RATE)
    return torch.cat([tagger_features(tagger, x16k) for tagger in taggers], dim=1)
