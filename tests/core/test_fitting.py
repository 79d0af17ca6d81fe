"""A prototype fitted to the song (``core.nets.fitting``) and how the learned backend uses it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tagbox_gui.core.audio.song import Song
from tagbox_gui.core.dsp.spectral import resample
from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.fitting import (
    BANDS,
    CHUNK,
    CHUNKS,
    FEATURES,
    QueryFit,
    band_matrix,
    first_look_features,
    fitted_latent,
    look_features,
    sample_chunks,
    song_chunks,
)
from tagbox_gui.core.nets.separator import (
    BINS,
    RATE,
    load_separator,
    save_separator,
    spectrum,
)
from tagbox_gui.core.separation import engine
from tagbox_gui.core.separation.backends import learned
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.separation.provenance import stem_provenance
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import Example


def _magnitude(frames: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((BINS, frames))).float() + 0.01


def test_each_bin_is_in_at_most_one_log_spaced_band() -> None:
    bands = band_matrix()
    assert bands.shape == (BANDS, BINS) and set(bands.unique().tolist()) == {0.0, 1.0}
    assert bands.sum(dim=0).max() == 1  # no bin twice
    freqs = np.arange(BINS) * RATE / (2 * (BINS - 1))
    inside = bands.sum(dim=0).numpy() == 1
    assert not inside[freqs < 30].any() and inside[(freqs >= 30) & (freqs < RATE / 2)].all()
    first = [int(np.argmax(row)) for row in bands.numpy() if row.any()]
    assert first == sorted(first)  # bands in rising order
    assert bands[-1].sum() > bands[-2].sum() > 1  # wider towards the top


def test_features_do_not_depend_on_the_song_s_level() -> None:
    magnitude = _magnitude(300)
    mask = torch.rand(BINS, 300, generator=torch.Generator().manual_seed(1))
    features = look_features(magnitude, mask)
    assert features.shape == (FEATURES,)
    torch.testing.assert_close(look_features(10 * magnitude, mask), features, atol=1e-4, rtol=0)
    whole = look_features(magnitude, torch.ones_like(mask))
    torch.testing.assert_close(whole[2 * BANDS :], torch.zeros(BANDS + 1), atol=1e-6, rtol=0)
    assert not torch.allclose(features, whole)


def test_a_long_segment_is_looked_at_in_a_few_chunks_spread_over_it() -> None:
    short = _magnitude(CHUNKS * CHUNK)
    assert torch.equal(sample_chunks(short), short[None])
    long = _magnitude(5000)
    pieces = sample_chunks(long)
    assert pieces.shape == (CHUNKS, BINS, CHUNK)
    assert torch.equal(pieces[0], long[:, :CHUNK]) and torch.equal(pieces[-1], long[:, -CHUNK:])


@pytest.mark.parametrize(("rate", "seconds"), [(44_100, 61.3), (48_000, 47.9), (44_100, 9.0)])
def test_a_song_s_chunks_are_those_of_its_whole_spectrogram(rate: int, seconds: float) -> None:
    signal = torch.randn(int(rate * seconds), generator=torch.Generator().manual_seed(4))
    whole = sample_chunks(spectrum(resample(signal[None], rate, RATE)).abs()[0])
    pieces = song_chunks(signal, rate)
    assert pieces.shape == whole.shape
    torch.testing.assert_close(pieces, whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_a_song_s_silent_lead_in_and_tail_are_left_out_of_its_chunks(rate: int) -> None:
    # A file that starts and ends in digital silence: the first and last chunks took it, and
    # the separator's look at it gave features no training song had.
    signal = torch.randn(rate * 14, generator=torch.Generator().manual_seed(5))
    silence = torch.zeros(rate * 3 // 2)
    padded = song_chunks(torch.cat([silence, signal, silence]), rate)
    torch.testing.assert_close(padded, song_chunks(signal, rate), atol=1e-5, rtol=0)
    assert padded.shape == (CHUNKS, BINS, CHUNK) and bool((padded.sum(dim=1) > 0).all())
    click = torch.zeros(rate * 5)  # a sound shorter than a chunk keeps the silence around it
    click[rate] = 0.5
    torch.testing.assert_close(
        song_chunks(click, rate), spectrum(resample(click[None], rate, RATE)).abs()
    )


def _dither(samples: int, seed: int = 7) -> torch.Tensor:
    """What a 16-bit file's silence often is: triangular dither of one LSB."""
    rng = torch.Generator().manual_seed(seed)
    return (torch.rand(samples, generator=rng) - torch.rand(samples, generator=rng)) / 2**15


@pytest.mark.parametrize("rate", [44_100, 48_000])
@pytest.mark.parametrize("kind", ["digital", "dither"])
def test_a_silent_break_in_the_middle_of_a_song_is_left_out_of_its_chunks(
    rate: int, kind: str
) -> None:
    # 8 s of silence between two stretches of sound: evenly spread chunks fell into it (dev's
    # songs with such a break lost 5 dB of SI-SDRi with the fit, and nothing without).
    sound = 0.1 * torch.randn(rate * 9, generator=torch.Generator().manual_seed(6))
    gap = torch.zeros(rate * 8) if kind == "digital" else _dither(rate * 8)
    signal = torch.cat([sound[: rate * 4], gap, sound[rate * 4 :]])
    pieces = song_chunks(signal, rate)
    assert pieces.shape == (CHUNKS, BINS, CHUNK)
    loud = pieces.pow(2).sum(dim=1) > 1e-3 * pieces.pow(2).sum(dim=1).mean()
    silent = (~loud).sum(dim=1)  # frames of each chunk that hear (next to) nothing
    assert int(silent.max()) <= CHUNK // 10, silent.tolist()
    whole = spectrum(resample(signal[None], rate, RATE)).abs()[0]
    first, last = pieces[0], pieces[-1]  # still from the song's first sound to its last
    torch.testing.assert_close(first, whole[:, :CHUNK], atol=1e-5, rtol=0)
    torch.testing.assert_close(last, whole[:, -CHUNK:], atol=1e-5, rtol=0)


def test_a_dithered_lead_in_and_tail_are_left_out_of_its_chunks() -> None:
    rate = 44_100
    signal = 0.1 * torch.randn(rate * 14, generator=torch.Generator().manual_seed(5))
    padded = torch.cat([_dither(rate * 3 // 2), signal, _dither(rate * 3 // 2, seed=8)])
    pieces = song_chunks(padded, rate)
    loud = pieces.pow(2).sum(dim=1) > 1e-3 * pieces.pow(2).sum(dim=1).mean()
    assert int((~loud).sum()) <= 2  # at most the hop the sound starts in, and the one it ends in


def test_a_song_that_is_mostly_silence_keeps_its_chunks_evenly_spread() -> None:
    rate = 44_100
    signal = torch.zeros(rate * 20)
    signal[::rate] = 0.5  # a click a second: no chunk without silence, so nothing to prefer
    signal[-1] = 0.5  # (from the first sample to the last: no silent end to leave out)
    whole = spectrum(resample(signal[None], rate, RATE)).abs()[0]
    torch.testing.assert_close(song_chunks(signal, rate), sample_chunks(whole), atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def shipped():
    net, extra = learned.load_shipped(ModelCache())
    return net, extra


def test_several_prototypes_are_asked_in_one_pass_as_each_alone(shipped) -> None:
    net, prototypes = shipped
    magnitude = _magnitude(1500, seed=2)
    queries = torch.stack([prototypes["piano"], prototypes["bass"]])
    pieces = sample_chunks(magnitude)
    both = first_look_features(net, pieces, queries)
    assert both.shape == (2, FEATURES)
    for row, query in zip(both, queries, strict=True):
        torch.testing.assert_close(first_look_features(net, pieces, query[None])[0], row,
                                   atol=1e-4, rtol=1e-4)  # fmt: skip


def test_a_fit_moves_the_standardised_query_by_its_offset(shipped) -> None:
    net, prototypes = shipped
    dim = net.query_mean.shape[0]
    bias = torch.linspace(-0.5, 0.5, dim)
    fit = QueryFit(torch.zeros(FEATURES), torch.ones(FEATURES), torch.zeros(FEATURES, dim), bias)
    start = (prototypes["piano"] - net.query_mean) / net.query_std
    torch.testing.assert_close(fitted_latent(net, fit, _magnitude(800)[None], start), start + bias)
    weights = torch.randn(FEATURES, dim, generator=torch.Generator().manual_seed(3)) * 0.01
    leaning = replace(fit, weights=weights)
    features = first_look_features(net, _magnitude(800)[None], prototypes["piano"][None])[0]
    torch.testing.assert_close(leaning.offset(features), features @ weights + bias)
    again = QueryFit.from_dict(leaning.to_dict())
    torch.testing.assert_close(again.weights, weights)
    with pytest.raises(ValueError, match="query fit"):
        QueryFit.from_dict({**leaning.to_dict(), "weights": weights[:10]})


@pytest.fixture()
def fitted_weights(tmp_path: Path, monkeypatch) -> torch.Tensor:
    """The shipped weights with a fit for the piano that only adds a known offset, in use."""
    net, extra = load_separator(learned.weights_path())
    dim = net.query_mean.shape[0]
    bias = torch.full((dim,), 0.25)
    fit = QueryFit(torch.zeros(FEATURES), torch.ones(FEATURES), torch.zeros(FEATURES, dim), bias)
    path = tmp_path / "fitted.pt"
    save_separator(net, path, {**extra, "query_fits": {"piano": fit.to_dict()}})
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(path))
    return bias


def _song(seconds: float = 4.0) -> Song:
    rate = 44_100
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(0).standard_normal(t.size)
    data = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * noise
    return Song(Path("song.wav"), "song", np.stack([data, data], 1).astype(np.float32), rate,
                "FLOAT", "WAV")  # fmt: skip


def test_a_one_pass_run_by_one_instrument_starts_from_its_fitted_prototype(fitted_weights) -> None:
    cache, store, song = ModelCache(), ModelStore(Path("no-models")), _song()
    net, prototypes = learned.load_shipped(cache)
    config = default_config("learned", tags=("piano",))
    assert learned.fit_for(config, cache) is not None and learned.is_fitted(config)
    result = engine.run_to_end(engine.run(config, song, store, cache))
    start = (prototypes["piano"] - net.query_mean) / net.query_std
    expected = (start + fitted_weights) * net.query_std + net.query_mean
    np.testing.assert_allclose(result.estimate.query, expected.numpy(), rtol=1e-5, atol=1e-5)
    assert stem_provenance("song.wav", config, 0)["query"] == "prototype: piano, fitted to the song"
    # A prototype without a fit, several instruments, steering or an example: as before.
    for other in (
        replace(config, tags=("bass",)),
        replace(config, tags=("piano", "bass")),
        replace(config, steps=2),
        replace(config, tags=(), example=Example(None, 0, 2)),
    ):
        assert learned.fit_for(other, cache) is None and not learned.is_fitted(other)
    bass = engine.run_to_end(engine.run(replace(config, tags=("bass",)), song, store, cache))
    np.testing.assert_allclose(bass.estimate.query, prototypes["bass"], rtol=1e-5, atol=1e-6)
    assert stem_provenance("song.wav", replace(config, tags=("bass",)), 0)["query"] == (
        "prototype: bass"
    )


def test_a_run_that_turns_the_fit_off_asks_by_the_bare_prototype(fitted_weights) -> None:
    cache, store, song = ModelCache(), ModelStore(Path("no-models")), _song()
    prototypes = learned.load_shipped(cache)[1]
    config = default_config("learned", tags=("piano",), fit_to_song=False)
    assert learned.fit_for(config, cache) is None and not learned.is_fitted(config)
    result = engine.run_to_end(engine.run(config, song, store, cache))
    np.testing.assert_allclose(result.estimate.query, prototypes["piano"], rtol=1e-5, atol=1e-6)
    assert stem_provenance("song.wav", config, 0)["query"] == "prototype: piano"


def test_the_shipped_fits_load_and_each_names_a_prototype() -> None:
    cache = ModelCache()
    fits, prototypes = learned.load_fits(cache), learned.load_shipped(cache)[1]
    assert set(fits) <= set(prototypes)
    dim = next(iter(prototypes.values())).shape[0]
    assert all(f.weights.shape == (FEATURES, dim) for f in fits.values())


def test_broken_fits_in_the_weights_file_are_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    net, extra = load_separator(learned.weights_path())
    path = tmp_path / "broken.pt"
    save_separator(net, path, {**extra, "query_fits": {"piano": {"mean": torch.zeros(3)}}})
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(path))
    with pytest.raises(ModelError, match="fits to the song are unusable"):
        learned.load_fits(ModelCache())
