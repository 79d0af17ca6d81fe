"""The query of an example clip: what the taggers hear in it, whatever its level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tagbox_gui.core.nets.queries import (
    QUERY_BATCH_WINDOWS,
    QUERY_TAGGERS,
    query_of,
    tagger_features,
)
from tagbox_gui.core.separation.backends.learned import example_query
from tagbox_gui.core.separation.cache import ModelCache, load_cached_tagger
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import TaggerSpec

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


def test_a_long_example_is_heard_a_few_windows_at_a_time(model_dir: Path) -> None:
    # A whole stem (or a long region of the song) as the example: its windows all at once took
    # about 100 MB each per tagger (a 10-minute clip, 2 GB), so an hour-long one ran out of
    # memory. It is heard in batches of a few windows, with the query all windows at once give.
    store, cache, cpu = ModelStore(model_dir), ModelCache(), torch.device("cpu")
    tagger = load_cached_tagger(TaggerSpec("musicnn", "mtat"), store, cpu, cache)
    windows = 3 * QUERY_BATCH_WINDOWS + 1
    rng = torch.Generator().manual_seed(0)
    audio = torch.randn(1, windows * tagger.window, generator=rng) * 0.1
    batches: list[int] = []
    handle = tagger.net.register_forward_pre_hook(lambda _m, i: batches.append(i[0].shape[0]))
    try:
        with torch.no_grad():
            features = tagger_features(tagger, audio)
    finally:
        handle.remove()
    assert sum(batches) == windows
    assert max(batches) <= QUERY_BATCH_WINDOWS
    with torch.no_grad():  # each window on its own: the mean of their features
        alone = torch.cat([tagger_features(tagger, part) for part in audio.split(tagger.window, 1)])
    torch.testing.assert_close(features[0], alone.mean(dim=0), rtol=1e-4, atol=1e-5)


def test_an_example_checked_before_its_run_is_heard_once(model_dir: Path, monkeypatch) -> None:
    # A job (separate --each, the window's) checks every part before any runs, its example's
    # query made then; the run made it again, a pass of both taggers over the clip. Once now,
    # and the run is the one a fresh query gives.
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.backends import learned
    from tagbox_gui.core.separation.job_checks import check_part
    from tagbox_gui.core.separation.loading import default_config
    from tagbox_gui.core.types import Example, JobPart

    heard: list[int] = []

    def counted(taggers, audio, rate):
        heard.append(audio.shape[-1])
        return query_of(taggers, audio, rate)

    monkeypatch.setattr(learned, "query_of", counted)
    mix = np.stack([_clip(4.0), _clip(4.0)[::-1]], axis=1)
    song = Song(Path("song.wav"), "song", mix, RATE, "FLOAT", "WAV")
    config = default_config("learned", tags=(), example=Example(None, 0.5, 3.0))
    store, cache = ModelStore(model_dir), ModelCache()
    check_part(JobPart("bass", config), song, store, cache)
    checked = engine.run_to_end(engine.run(config, song, store, cache))
    assert heard == [round(2.5 * RATE)]  # the check's, used by the run
    fresh = engine.run_to_end(engine.run(config, song, store, ModelCache()))
    assert len(heard) == 2
    assert checked.estimate is not None and fresh.estimate is not None
    np.testing.assert_array_equal(checked.estimate.query, fresh.estimate.query)
    for size, mask in checked.estimate.masks.items():
        np.testing.assert_array_equal(mask, fresh.estimate.masks[size])


def test_an_example_checked_before_its_steered_run_is_heard_once_by_each_tagger(
    model_dir: Path, monkeypatch
) -> None:
    # A run asked for by an example alone is steered towards what each tagger hears in the
    # clip. The job's check of the part heard it, and the run heard it again; once now, and
    # the run steers towards what a fresh hearing gives.
    from tagbox_gui.core.audio.song import Song, example_clip
    from tagbox_gui.core.nets.taggers import Tagger
    from tagbox_gui.core.separation import engine
    from tagbox_gui.core.separation.job_checks import check_part
    from tagbox_gui.core.separation.loading import build_criteria, default_config
    from tagbox_gui.core.types import Example, JobPart

    heard: list[torch.Tensor] = []  # what the taggers heard whole, looped to fill a window
    forward = Tagger.forward

    def counted(self, x16k, fill="zeros"):
        if fill == "loop":
            heard.append(x16k.detach().clone())
        return forward(self, x16k, fill)

    monkeypatch.setattr(Tagger, "forward", counted)
    mix = np.stack([_clip(4.0), _clip(4.0)[::-1]], axis=1)
    song = Song(Path("song.wav"), "song", mix, RATE, "FLOAT", "WAV")
    mtat = TaggerSpec("fcn", "mtat")
    config = default_config("learned", tags=(), steps=1, taggers=(mtat,),
                            example=Example(None, 0.5, 3.0))  # fmt: skip
    store, cache, cpu = ModelStore(model_dir), ModelCache(), torch.device("cpu")
    check_part(JobPart("bass", config), song, store, cache)
    assert len(heard) == 1  # the check's hearing of the clip
    (checked,) = build_criteria(config, store, cpu, cache, example_clip(config.example, song))
    results: list = []
    engine.run_to_end(engine.run(config, song, store, cache), results.append)
    assert len(results) == 1 and len(heard) == 1  # the check's, used by the criteria and run
    (fresh,) = build_criteria(config, store, cpu, ModelCache(), example_clip(config.example, song))
    assert len(heard) == 2
    torch.testing.assert_close(heard[1], heard[0])
    torch.testing.assert_close(checked.target, fresh.target)
