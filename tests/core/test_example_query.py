"""The query of an example clip: what the taggers hear in it, whatever its level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tagbox_gui.core.nets.queries import QUERY_TAGGERS, query_of
from tagbox_gui.core.separation.backends.learned import example_query
from tagbox_gui.core.separation.cache import ModelCache, load_cached_tagger
from tagbox_gui.core.store.models import ModelStore

RATE = 48_000


def _clip(seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(4)
    t = np.arange(round(seconds * RATE)) / RATE
    tone = np.sin(2 * np.pi * 110 * t) * np.exp(-4 * (t % 0.5))  # a plucked bass line
    return (0.3 * tone + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def test_a_quiet_example_asks_for_what_a_loud_one_does(model_dir: Path) -> None:
    # The separator learnt its queries from stems brought to one peak (training.render): a
    # clip of an instrument played softly in the song must ask for the same instrument.
    store, cache, cpu = ModelStore(model_dir), ModelCache(), torch.device("cpu")
    clip = _clip()
    loud = example_query(clip, RATE, store, cpu, cache)
    quiet = example_query(clip * 0.05, RATE, store, cpu, cache)
    torch.testing.assert_close(quiet, loud, rtol=1e-4, atol=1e-4)
    taggers = [load_cached_tagger(spec, store, cpu, cache) for spec in QUERY_TAGGERS]
    with torch.no_grad():
        at_peak = query_of(taggers, torch.from_numpy(clip * (0.9 / np.abs(clip).max())), RATE)
    torch.testing.assert_close(loud, at_peak[0], rtol=1e-4, atol=1e-4)
