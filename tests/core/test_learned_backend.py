"""The learned backend: shipped weights, prototypes, one-pass runs, steering in a trust region."""

from __future__ import annotations

import time
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tagbox_gui.core.audio import song as song_module
from tagbox_gui.core.audio.song import Song, analysis_signal, analysis_span, example_clip
from tagbox_gui.core.audio.stems import render_stems
from tagbox_gui.core.dsp.spectral import resample, stft
from tagbox_gui.core.errors import AudioError, ConfigError, ModelError, TagError
from tagbox_gui.core.nets.separator import RATE as NET_RATE
from tagbox_gui.core.nets.separator import (
    QuerySeparator,
    SeparatorShape,
    load_separator,
    save_separator,
)
from tagbox_gui.core.nets.taggers import TAGGER_RATE
from tagbox_gui.core.separation import engine
from tagbox_gui.core.separation.backends import learned
from tagbox_gui.core.separation.backends.learned import (
    SETTINGS,
    WEIGHTS_ENV,
    WEIGHTS_SHA256,
    LearnedBackend,
    example_query,
    load_fits,
    load_shipped,
    prototype_query,
    weights_path,
)
from tagbox_gui.core.separation.cache import ModelCache, load_cached_tagger
from tagbox_gui.core.separation.engine import Optimisation
from tagbox_gui.core.separation.job import looking_again
from tagbox_gui.core.separation.loading import (
    build_criteria,
    create_backend_factory,
    default_config,
    hops_per_window,
)
from tagbox_gui.core.separation.objective import Evaluation, Objective
from tagbox_gui.core.separation.tags import PRESETS
from tagbox_gui.core.separation.validation import validate
from tagbox_gui.core.store.models import ModelStore, file_sha256
from tagbox_gui.core.types import (
    MAX_LR,
    Command,
    CommandKind,
    Example,
    Region,
    RunConfig,
    TaggerSpec,
)
from tests.core.test_segments import stitch_frames

RATE = 48_000


def _song(seconds: float = 4.0, channels: int = 2) -> Song:
    rng = np.random.default_rng(3)
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    clicks = (rng.random((t.size, channels)) < 0.001) * 0.5
    data = tone[:, None] + clicks + 0.01 * rng.standard_normal((t.size, channels))
    return Song(Path("song.wav"), "song", data.astype(np.float32), RATE, "FLOAT", "WAV")


@pytest.fixture(scope="module")
def shipped():
    return load_shipped(ModelCache())


def test_shipped_weights_load_with_weights_only_and_match_their_sha256(shipped) -> None:
    path = weights_path()
    assert len(WEIGHTS_SHA256) == 64 and file_sha256(path) == WEIGHTS_SHA256
    net, _ = load_separator(path)  # torch.load(weights_only=True) inside
    assert net.shape == shipped[0].shape and not net.training
    assert path.stat().st_size < 16 * 2**20  # a few MB of package data


def test_shipped_weights_that_are_not_the_ones_this_version_ships_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The package's file must have the digest the code records; a file named by
    ``$TAGBOX_SEPARATOR`` is the user's and is not checked."""
    monkeypatch.setattr(learned, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="sha256 differs"):
        load_shipped(ModelCache())
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(weights_path()))
    assert load_shipped(ModelCache())[1]  # its prototypes


def test_every_instrument_preset_has_a_prototype_but_vocals(shipped) -> None:
    _, prototypes = shipped
    for preset in PRESETS:
        if preset.name == "Vocals":  # no singing in the corpus: asked for by example
            with pytest.raises(ConfigError, match="example"):
                prototype_query((preset.name,), prototypes)
            continue
        for word in (preset.name, *preset.aliases):
            query = prototype_query((word,), prototypes)
            assert query.shape == next(iter(prototypes.values())).shape, word
    pair = prototype_query(("piano", "drums"), prototypes)
    torch.testing.assert_close(pair, (prototypes["piano"] + prototypes["drums"]) / 2)
    with pytest.raises(ConfigError, match="banjolele"):
        prototype_query(("banjolele",), prototypes)


def test_a_word_without_prototype_names_the_close_one_as_it_is_typed(shipped) -> None:
    _, prototypes = shipped
    for word, meant in (("pianos", "piano"), ("Acoustic Guitars", "acoustic guitar")):
        with pytest.raises(ConfigError, match=f"'{word}' \\(did you mean '{meant}'\\?\\); "):
            prototype_query((word,), prototypes)
    with pytest.raises(ConfigError) as error:
        prototype_query(("banjolele",), prototypes)  # nothing close: no guess
    assert "did you mean" not in str(error.value) and "electric guitar, " in str(error.value)


def test_a_zero_step_run_is_one_forward_pass_without_taggers(tmp_path: Path) -> None:
    """One pass of the separator over the song; a prototype that is fitted to the song asks
    it once more first, on at most 12 s of the song (``core.nets.fitting``)."""
    cache = ModelCache()
    net, prototypes = load_shipped(cache)
    frames: list[int] = []
    handle = net.register_forward_hook(lambda _, inputs, __: frames.append(inputs[0].shape[-1]))
    song = _song()
    empty_store = ModelStore(tmp_path / "no-models")  # a tagger would have to come from here
    results = {}
    try:
        for word in ("piano", "cello"):  # the piano's prototype has a fit, the cello's none
            config = default_config("learned", tags=(word,))
            assert config.steps == 0
            frames.clear()
            results[word] = engine.run_to_end(engine.run(config, song, empty_store, cache))
            results[word + " frames"] = list(frames)
    finally:
        handle.remove()
    assert load_fits(cache).keys() >= {"piano"} and "cello" not in load_fits(cache)
    song_frames = 1 + round(4.0 * NET_RATE) // 256
    assert results["cello frames"] == [256]  # the song in chunks of 3 s, one batch
    assert len(results["piano frames"]) == 2 and results["piano frames"][0] <= song_frames
    for word in ("piano", "cello"):
        result = results[word]
        assert result.steps_done == 0 and result.estimate is not None
        separated, residual = render_stems(song, result.estimate)
        assert separated.shape == residual.shape == song.data.shape
        np.testing.assert_allclose(separated + residual, song.data, atol=1e-6)
        assert not np.allclose(separated, 0)
    cello = prototype_query(("cello",), prototypes)  # kept for a second look
    np.testing.assert_allclose(results["cello"].estimate.query, cello.numpy(), rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    piano = prototype_query(("piano",), prototypes)  # moved, within reach of its prototype
    moved = (torch.from_numpy(results["piano"].estimate.query) - piano) / net.query_std
    assert 0 < float(moved.pow(2).mean().sqrt()) < 3


@pytest.fixture
def passes(monkeypatch) -> list[int]:
    """The passes of the separator over a segment, counted."""
    counted: list[int] = []
    masks = LearnedBackend.masks
    monkeypatch.setattr(LearnedBackend, "masks",
                        lambda self, *args: counted.append(1) or masks(self, *args))  # fmt: skip
    return counted


def _in_segments(tmp_path: Path) -> tuple[RunConfig, Song, ModelStore]:
    """A one-pass run of a short song cut into several segments, as a long song is."""
    config = default_config("learned", tags=("cello",), segment_seconds=2.0)
    return config, _song(), ModelStore(tmp_path / "no-models")


def test_a_pause_holds_a_one_pass_run_between_segments_and_changes_nothing(
    tmp_path: Path, passes: list[int]
) -> None:
    """A pass of the separator over a long song takes a while: a PAUSE during it holds the run
    after the segment under way, and once resumed the run makes what it makes unpaused."""
    config, song, store = _in_segments(tmp_path)
    cache = ModelCache()
    unpaused = engine.run_to_end(engine.run(config, song, store, cache))
    segments = len(passes)
    assert segments >= 3
    passes.clear()
    run = engine.run(config, song, store, cache)
    assert next(run) is None and len(passes) == 1  # the first segment
    assert run.send(Command(CommandKind.PAUSE)) is None
    for command in (None, Command(CommandKind.PREVIEW), None):
        assert run.send(command) is None
    assert len(passes) == 1  # held
    assert run.send(Command(CommandKind.RESUME)) is None and len(passes) == 2
    result = engine.run_to_end(run)
    assert len(passes) == segments and result.steps_done == 0 and not result.stopped
    for n in config.fft_sizes:
        np.testing.assert_array_equal(result.estimate.masks[n], unpaused.estimate.masks[n])
    np.testing.assert_array_equal(result.separated, unpaused.separated)
    np.testing.assert_array_equal(result.estimate.query, unpaused.estimate.query)


def test_a_one_pass_run_times_its_pass_without_loading_its_models_or_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of 0 steps says how long its pass took (a job's time per stem and ETA are made
    of it): not loading its models before it (0.5 s more here), nor the time it was held
    paused between segments (0.5 s)."""
    config, song, store = _in_segments(tmp_path)
    factory = engine.create_backend_factory
    monkeypatch.setattr(engine, "create_backend_factory",
                        lambda *args: time.sleep(0.5) or factory(*args))  # fmt: skip
    began = time.perf_counter()
    run = engine.run(config, song, store, ModelCache())
    assert next(run) is None  # the first segment
    assert run.send(Command(CommandKind.PAUSE)) is None
    time.sleep(0.5)
    assert run.send(None) is None  # held
    assert run.send(Command(CommandKind.RESUME)) is None
    result = engine.run_to_end(run)
    wall = time.perf_counter() - began
    assert result.estimate is not None
    assert 0 < result.pass_seconds < wall - 1.0, (result.pass_seconds, wall)


@pytest.mark.parametrize("paused", [False, True])
def test_a_stop_during_a_one_pass_run_ends_it_with_nothing_separated(
    tmp_path: Path, passes: list[int], paused: bool
) -> None:
    """As a run stopped before its first step: no estimate, and no second look at it."""
    config, song, store = _in_segments(tmp_path)
    run = looking_again(engine.run)(config, song, store, ModelCache())
    assert next(run) is None
    if paused:
        assert run.send(Command(CommandKind.PAUSE)) is None and run.send(None) is None
    with pytest.raises(StopIteration) as end:
        run.send(Command(CommandKind.STOP))
    assert len(passes) == 1  # no segment more, and no helpers' pass
    result = end.value.value
    assert result.stopped and result.steps_done == 0 and result.best_step == 0
    assert result.estimate is None and result.separated is None and result.helpers == ()


@pytest.fixture
def evaluations(monkeypatch) -> tuple[list[Evaluation], list[list[weakref.ref]]]:
    """Every segment's evaluation a one-pass run makes, copied as the objective gave it (before
    the engine stitched it), and weak references to it, its separated signal and its masks."""
    made: list[Evaluation] = []
    refs: list[list[weakref.ref]] = []
    separate = Objective.separate

    def recorded(self, backend, latent):
        evaluation = separate(self, backend, latent)
        made.append(
            Evaluation(evaluation.total, {}, {n: m.clone() for n, m in evaluation.masks.items()},
                       evaluation.separated.clone(), {})
        )  # fmt: skip
        refs.append([weakref.ref(t) for t in (evaluation, evaluation.separated,
                                              *evaluation.masks.values())])  # fmt: skip
        return evaluation

    monkeypatch.setattr(Objective, "separate", recorded)
    return made, refs


def test_a_one_pass_run_stitches_each_segment_as_it_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluations
) -> None:
    """A long song's masks are large: a segment's evaluation (its masks, its separated signal)
    is crossfaded into the whole as soon as it is made, and let go; the pass never holds the
    evaluations of all its segments at once."""
    made, refs = evaluations
    alive_at_each: list[int] = []
    separate = Objective.separate  # the recording one

    def counting(self, backend, latent):
        alive_at_each.append(sum(ref() is not None for refs_of in refs for ref in refs_of))
        return separate(self, backend, latent)

    monkeypatch.setattr(Objective, "separate", counting)
    config, song, store = _in_segments(tmp_path)
    result = engine.run_to_end(engine.run(config, song, store, ModelCache()))
    assert len(made) >= 3 and result.estimate is not None
    assert alive_at_each == [0] * len(made)  # none of the segments before is held
    assert all(ref() is None for refs_of in refs for ref in refs_of)


def test_a_one_pass_run_analyses_each_segment_as_it_separates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment's analysis (its STFTs, the separator's spectrum of it) is made when the pass
    comes to the segment and let go after it: a long song's analyses of every segment at once
    are large."""
    made: list[weakref.ref] = []
    alive_at_each: list[int] = []
    init, separate = Objective.__init__, Objective.separate

    def recorded(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(weakref.ref(self))

    def counting(self, backend, latent):
        alive_at_each.append(sum(ref() is not None for ref in made))
        return separate(self, backend, latent)

    monkeypatch.setattr(Objective, "__init__", recorded)
    monkeypatch.setattr(Objective, "separate", counting)
    config, song, store = _in_segments(tmp_path)
    run = engine.run(config, song, store, ModelCache())
    assert made == []  # nothing analysed before the pass
    result = engine.run_to_end(run)
    assert len(made) == len(alive_at_each) >= 3 and result.estimate is not None
    assert alive_at_each == [1] * len(made)  # the segment's own


def test_a_one_pass_run_stitches_its_segments_as_they_were_stitched_all_at_once(
    tmp_path: Path, evaluations
) -> None:
    """Stitching segment by segment changes not a bit of the estimate: its masks and separated
    signal are those of crossfading every segment's evaluation at the end, as the pass did
    before it stitched as it went."""
    made, _ = evaluations
    config, song, store = _in_segments(tmp_path)
    result = engine.run_to_end(engine.run(config, song, store, ModelCache()))
    _, length = validate(config, song)
    hops = hops_per_window("learned")
    segments = engine.run_segments(length, config.fft_sizes, hops, config.segment_seconds)
    assert len(made) == len(segments) >= 3
    separated = np.zeros(length, dtype=np.float32)  # segments.stitch_audio, as it was
    for seg, evaluation in zip(segments, made, strict=True):
        w = seg.weights(np.arange(seg.start, seg.end))
        separated[seg.start : seg.end] += (w * evaluation.separated.numpy()[: seg.length]).astype(
            np.float32
        )
    np.testing.assert_array_equal(result.separated, separated)
    for n in config.fft_sizes:
        parts = [evaluation.masks[n].numpy() for evaluation in made]
        mask = stitch_frames(segments, parts, n // hops, 1 + length // (n // hops))
        assert result.estimate.masks[n].dtype == mask.dtype
        np.testing.assert_array_equal(result.estimate.masks[n], mask)


def test_the_mask_keeps_every_frame_of_the_separator(shipped) -> None:
    """The learned backend's masks are laid out at hop n/4: at 2048 points and 44.1 kHz the
    separator's own grid (11.6 ms, 21.5 Hz), so its mask arrives unchanged, not every other
    frame of it; the light backend's stay at hop n/2."""
    from tagbox_gui.core.dsp.spectral import resample
    from tagbox_gui.core.nets.separator import mask_long, spectrum
    from tagbox_gui.core.separation.loading import hops_per_window
    from tagbox_gui.core.types import ANALYSIS_RATE

    assert hops_per_window("learned") == 4 and hops_per_window("light") == 2
    song = _song()
    config = default_config("learned", tags=("piano",))
    result = engine.run_to_end(
        engine.run(config, song, ModelStore(Path("no-models")), ModelCache())
    )
    estimate = result.estimate
    length = len(analysis_signal(song))
    assert estimate.hops_per_window == 4 and estimate.masks[2048].shape == (1025, 1 + length // 512)
    net, _ = shipped
    mix = torch.tensor(analysis_signal(song))[None]
    query = torch.from_numpy(estimate.query)[None]  # the piano's prototype fitted to the song
    with torch.no_grad():
        own = mask_long(net, spectrum(resample(mix, ANALYSIS_RATE, NET_RATE)).abs(),
                        query)[0].numpy()  # fmt: skip
    frames = min(own.shape[1], estimate.masks[2048].shape[1])
    np.testing.assert_allclose(estimate.masks[2048][:512, :frames], own[:512, :frames], atol=1e-5)


def test_weights_with_a_band_branch_separate_through_the_same_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped
) -> None:
    """Other weights (here a small network with the band branch) serve through $TAGBOX_SEPARATOR."""
    net, prototypes = shipped
    torch.manual_seed(0)
    banded = QuerySeparator(SeparatorShape(net.shape.query_dim, width=16, layers=1, band_width=8))
    for param in banded.parameters():  # the branch starts at zero; give it a say
        torch.nn.init.normal_(param, std=0.1)
    path = tmp_path / "banded.pt"
    save_separator(banded, path, {"prototypes": prototypes})
    monkeypatch.setenv(WEIGHTS_ENV, str(path))
    cache = ModelCache()
    assert load_shipped(cache)[0].shape.band_width == 8
    song = _song()
    result = engine.run_to_end(engine.run(default_config("learned", tags=("piano",)), song,
                                          ModelStore(tmp_path / "no-models"), cache))  # fmt: skip
    separated, residual = render_stems(song, result.estimate)
    assert separated.shape == song.data.shape
    np.testing.assert_allclose(separated + residual, song.data, atol=1e-6)
    # Steering can move the query of a network with the branch: its gradient reaches it.
    start = (prototypes["piano"] - banded.query_mean) / banded.query_std
    backend = LearnedBackend(load_shipped(cache)[0], start, SETTINGS)
    latent = backend.init_latent(torch.tensor(analysis_signal(song))[None], seed=0)
    with torch.enable_grad():
        backend.decode(latent).pow(2).sum().backward()
    assert latent.grad is not None and float(latent.grad.abs().sum()) > 0


def test_a_run_covers_the_whole_analysis_signal_of_a_song_at_another_rate(tmp_path: Path) -> None:
    # 192,008 frames at 48 kHz are 176,407.35 samples at 44.1 kHz: the analysis signal has
    # 176,408 of them, and the run must cover the last one too.
    song = _song()
    data = np.resize(song.data, (192_008, song.channels))
    song = replace(song, data=data, rate=48_000)
    result = engine.run_to_end(engine.run(default_config("learned", tags=("piano",)), song,
                                          ModelStore(tmp_path)))  # fmt: skip
    assert (result.estimate.start, result.estimate.length) == (0, len(analysis_signal(song)))
    assert validate(default_config("learned"), song) == analysis_span(song, None)
    separated, residual = render_stems(song, result.estimate)
    np.testing.assert_allclose(separated + residual, song.data, atol=1e-6)


@pytest.mark.parametrize(("rate", "frames"), [(8_000, 4_000), (11_025, 5_513), (44_100, 22_050)])
def test_a_song_of_the_shortest_length_runs_and_a_shorter_one_says_how_short(
    rate: int, frames: int
) -> None:
    song = replace(_song(), data=_song().data[:frames], rate=rate)  # >= 0.5 s: the shortest
    assert validate(default_config("learned"), song) == analysis_span(song, None)
    shorter = replace(song, data=song.data[: frames - 1])
    with pytest.raises(ConfigError) as error:
        validate(default_config("learned"), shorter)
    # 5,512 samples at 11,025 Hz are 0.49995 s: not "shorter than half a second (0.50 s)".
    assert "shorter than half a second (0.499 s)" in str(error.value)


@pytest.mark.parametrize("start", [0.07, 0.2, 0.33, 0.9, 3.0])
def test_a_region_or_example_of_half_a_second_typed_in_hundredths_is_long_enough(
    start: float,
) -> None:
    """0.7 - 0.2 is 0.49999999999999994 in floats: the region boxes' 0.20-0.70 s (the shortest
    the window offers) is half a second, and so is an example clip of it, not 'shorter'."""
    song = _song()
    end = round(start + 0.5, 2)
    config = replace(default_config("learned", tags=("piano",)), region=Region(start, end))
    assert validate(config, song) == analysis_span(song, Region(start, end))
    clip, rate = example_clip(Example(None, start, end), song)
    assert rate == RATE and len(clip) == round(end * RATE) - round(start * RATE)
    shorter = replace(config, region=Region(start, round(end - 0.01, 2)))
    with pytest.raises(ConfigError, match="shorter than half a second"):
        validate(shorter, song)


@pytest.mark.parametrize(("frames", "said"), [(1, "(1 sample)"), (44, "(44 samples)")])
def test_a_song_under_a_millisecond_says_its_samples_not_0_s(frames: int, said: str) -> None:
    song = replace(_song(), data=_song().data[:frames], rate=44_100)
    with pytest.raises(ConfigError, match="shorter than half a second") as error:
        validate(default_config("learned"), song)
    assert said in str(error.value) and "(0 s)" not in str(error.value)


def test_avoided_tags_without_steps_are_refused_not_dropped(tmp_path: Path) -> None:
    config = default_config("learned", tags=("piano",), avoid=("drums",))
    with pytest.raises(ConfigError, match="steer"):
        engine.run(config, _song(), ModelStore(tmp_path))


def test_a_silent_song_or_region_is_refused_saying_which(tmp_path: Path) -> None:
    song = _song()
    silent = replace(song, data=np.zeros_like(song.data))
    config = default_config("learned", tags=("piano",))
    with pytest.raises(AudioError, match="the song is silent"):
        engine.run(config, silent, ModelStore(tmp_path))
    quiet_start = replace(song, data=np.concatenate([silent.data[:RATE], song.data[RATE:]]))
    with pytest.raises(AudioError, match="chosen part of the song is silent"):
        engine.run(replace(config, region=Region(0.0, 0.9)), quiet_start, ModelStore(tmp_path))


def test_a_learning_rate_must_be_a_positive_number_up_to_the_largest() -> None:
    config = default_config("learned", tags=("piano",), steps=3)
    validate(replace(config, lr=MAX_LR), _song())
    # inf: the first step makes NaN; 1e39: more than Adam's float32 step size can hold
    for lr in (0.0, -1.0, float("nan"), float("inf"), 1e39, MAX_LR * 1.01):
        with pytest.raises(ConfigError, match="learning rate must be a positive number"):
            validate(replace(config, lr=lr), _song())


def test_a_tagger_chosen_twice_is_refused() -> None:
    mtat = TaggerSpec("fcn", "mtat")
    config = default_config("learned", tags=("piano",), steps=3, taggers=(mtat, mtat))
    with pytest.raises(ConfigError, match="fcn/mtat is chosen twice"):  # its loss counted twice
        validate(config, _song())


def test_an_fft_size_given_twice_is_refused() -> None:
    config = default_config("learned", tags=("piano",), steps=3, fft_sizes=(2048, 1024, 2048))
    with pytest.raises(ConfigError, match=r"^the FFT size 2048 is given twice; give each once$"):
        validate(config, _song())  # its losses counted twice, its masks averaged in twice


def test_channels_that_cancel_out_in_the_mono_mix_are_said_to_cancel_out(
    tmp_path: Path,
) -> None:
    song = _song()
    left = song.data[:, :1]
    opposed = replace(song, data=np.concatenate([left, -left], axis=1))  # one upside down
    config = default_config("learned", tags=("piano",))
    with pytest.raises(AudioError, match="the song is silent once its channels are mixed to mono"):
        engine.run(config, opposed, ModelStore(tmp_path))
    part = replace(song, data=np.concatenate([opposed.data[:RATE], song.data[RATE:]]))
    with pytest.raises(AudioError, match="chosen part of the song is silent once its channels"):
        engine.run(replace(config, region=Region(0.0, 0.9)), part, ModelStore(tmp_path))
    with pytest.raises(ConfigError, match="they cancel out"):
        example_clip(Example(None, 0.0, 0.9), part)
    with pytest.raises(ConfigError, match="is silent; choose a stretch"):  # silence is silence
        example_clip(Example(None, 0.0, 0.9), replace(song, data=np.zeros_like(song.data)))


def test_a_nearly_silent_example_is_refused_at_the_floor_of_the_stems_learnt_from() -> None:
    # A stretch where nothing plays but hiss or dither asked, brought to the example's peak,
    # for that noise: the rule is the training corpus's, which drops a stem none of whose
    # seconds reaches -60 dBFS. Here a steady tone, its level the same in every second.
    from tagbox_gui.core.audio.song import EXAMPLE_FLOOR_DB

    t = np.arange(2 * RATE) / RATE  # two whole seconds of whole periods of 330 Hz

    def at(db: float) -> Song:
        tone = np.sqrt(2) * 10 ** (db / 20) * np.sin(2 * np.pi * 330 * t)  # RMS: db dBFS
        return replace(_song(), data=np.stack([tone, tone], axis=1).astype(np.float32))

    example = Example(None, 0.0, 2.0)
    clip, _ = example_clip(example, at(EXAMPLE_FLOOR_DB + 0.1))  # just above: a soft note
    assert np.any(clip)
    for db, said in ((EXAMPLE_FLOOR_DB - 0.1, "at -60.1 dBFS"), (-80.0, "at -80.0 dBFS")):
        with pytest.raises(ConfigError, match="choose a stretch where the instrument plays") as e:
            example_clip(example, at(db))
        assert "nearly silent" in str(e.value) and said in str(e.value)
    with pytest.raises(ConfigError, match="is silent; choose a stretch where the instrument"):
        example_clip(example, at(-np.inf))  # digital silence, said as such


def test_fft_sizes_must_make_a_whole_hop(tmp_path: Path) -> None:
    config = default_config("learned", tags=("piano",), fft_sizes=(1026,))  # hop 256.5
    with pytest.raises(ConfigError, match="multiples of 4"):
        engine.run(config, _song(), ModelStore(tmp_path))
    light = default_config("light", tags=("piano",), fft_sizes=(1026,))  # hop n/2: 513, whole
    assert validate(light, _song()) == (0, 176_400)  # 4 s of analysis signal


def test_only_a_one_pass_backend_takes_zero_steps(tmp_path: Path) -> None:
    config = default_config("light", tags=("piano",), steps=0)
    with pytest.raises(ConfigError, match="at least one step"):
        engine.run(config, _song(), ModelStore(tmp_path))
    with pytest.raises(ConfigError, match="learned backend"):
        engine.run(replace(config, steps=1, example=Example(None, 0, 1)), _song(),
                   ModelStore(tmp_path))  # fmt: skip


def test_examples_outside_the_audio_or_too_short_are_refused(tmp_path: Path) -> None:
    config = default_config("learned", tags=())
    for example, error, message in [
        (Example(None, 3, 9), ConfigError, "3-9 s of the song ends after the song"),
        (Example(None, 1, 1.2), ConfigError, "shorter"),
        (Example(str(tmp_path / "none.wav")), AudioError, "none.wav"),
    ]:
        with pytest.raises(error, match=message):
            engine.run(replace(config, example=example), _song(), ModelStore(tmp_path))


def test_an_example_file_is_read_only_over_its_span(tmp_path: Path, monkeypatch) -> None:
    # A long recording as the example (organ.wav:1800:1805 of an hour's take): decoding all of
    # it took its whole length in memory (1.4 GB an hour at 48 kHz stereo) to use 5 s of it.
    rate, seconds = 8_000, 60
    data = np.random.default_rng(1).uniform(-0.5, 0.5, (rate * seconds, 2)).astype(np.float32)
    path = tmp_path / "take.wav"
    sf.write(path, data, rate, subtype="FLOAT")
    decoded: list[int] = []
    opened = song_module.open_sound

    def counting(*args, **kwargs):
        handle = opened(*args, **kwargs)
        read = handle.read
        handle.read = lambda *a, **k: decoded.append(len(out := read(*a, **k))) or out
        return handle

    monkeypatch.setattr(song_module, "open_sound", counting)
    clip, clip_rate = example_clip(Example(str(path), 20.0, 22.5), _song())
    assert clip_rate == rate and sum(decoded) < 3 * rate  # the 2.5 s, and a little before
    np.testing.assert_array_equal(clip, data[20 * rate : round(22.5 * rate)].mean(axis=1))
    with pytest.raises(ConfigError, match=r"ends after .*take.wav does \(60.00 s\)"):
        example_clip(Example(str(path), 59.0, 61.0), _song())


@pytest.mark.parametrize(("container", "subtype"), [("MP3", "MPEG_LAYER_III"), ("OGG", "VORBIS")])
def test_a_stretch_of_a_lossy_example_is_what_the_whole_file_decodes_to(
    tmp_path: Path, container: str, subtype: str
) -> None:
    # A decoder that seeks starts afresh: an MP3's first ~65 ms after a seek are not the file's.
    rate = 44_100
    t = np.arange(6 * rate) / rate
    path = tmp_path / f"clip.{container.lower()}"
    try:
        sf.write(path, 0.4 * np.sin(2 * np.pi * 330 * t), rate, subtype=subtype, format=container)
    except (sf.LibsndfileError, ValueError, TypeError) as exc:  # a capability of libsndfile
        pytest.skip(f"this libsndfile cannot write {container}/{subtype}: {exc}")
    clip, _ = example_clip(Example(str(path), 2.0, 3.0), _song())
    whole = song_module.load_song(path).data[2 * rate : 3 * rate].mean(axis=1)
    np.testing.assert_allclose(clip, whole, atol=1e-6)


def test_steering_stays_inside_its_trust_region(model_dir: Path) -> None:
    config = default_config("learned", tags=("piano",), steps=4, lr=5.0,  # a huge step
                            taggers=(TaggerSpec("fcn", "mtat"),))  # fmt: skip
    store, cache, device = ModelStore(model_dir), ModelCache(), torch.device("cpu")
    criteria = build_criteria(config, store, device, cache)
    factory = create_backend_factory(config, store, device, cache)
    mix = analysis_signal(_song())
    opt = Optimisation(config, mix / np.abs(mix).max(), criteria, factory, device, False)
    with torch.enable_grad():
        results = [step for step in opt.drive(0) if step is not None]
    assert len(results) == 4 and all(r.grad_norm > 0 for r in results)
    for backend, _, latent in opt.parts:
        rms = float((latent.detach()[0] - backend.start).pow(2).mean().sqrt())
        assert 0.9 * SETTINGS.trust_radius < rms <= SETTINGS.trust_radius * (1 + 1e-5)


def test_an_example_is_steered_towards_what_the_taggers_hear_in_it(model_dir: Path) -> None:
    mtat = TaggerSpec("fcn", "mtat")
    config = default_config("learned", tags=(), steps=2, lr=5.0, taggers=(mtat,),
                            avoid=("drums",), example=Example(None, 0.5, 2.5))  # fmt: skip
    song, store, cache = _song(), ModelStore(model_dir), ModelCache()
    clip = example_clip(config.example, song)
    (criterion,) = build_criteria(config, store, torch.device("cpu"), cache, clip)
    tagger = load_cached_tagger(mtat, store, torch.device("cpu"), cache)
    with torch.no_grad():
        heard = tagger(resample(torch.from_numpy(clip[0])[None], clip[1], TAGGER_RATE), "loop")
    drums = tagger.vocabulary.index("drums")
    assert float(criterion.target[drums]) == 0.0  # avoided, however loud in the example
    heard[drums] = 0.0
    torch.testing.assert_close(criterion.target, heard)
    shown = {tagger.vocabulary[i] for i in criterion.shown}
    assert shown and "drums" not in shown
    # the run steers from the example's query, inside the trust region, and meters what it
    # heard most in the example
    results: list = []
    done = engine.run_to_end(engine.run(config, song, store, cache), results.append)
    assert len(results) == 2 and set(results[0].wanted_separated) == shown
    assert all(np.isfinite(r.total) and r.grad_norm > 0 for r in results)
    net, _ = load_shipped(cache)
    start = example_query(clip[0], clip[1], store, torch.device("cpu"), cache)
    moved = (torch.from_numpy(done.estimate.query) - start) / net.query_std
    assert float(moved.pow(2).mean().sqrt()) <= SETTINGS.trust_radius * (1 + 1e-5)
    with pytest.raises(TagError, match="no wanted tag"):  # no example: a tag is needed
        build_criteria(replace(config, example=None), store, torch.device("cpu"), cache)


def test_constrain_projects_onto_the_trust_region(shipped) -> None:
    net, prototypes = shipped
    start = (prototypes["piano"] - net.query_mean) / net.query_std
    backend = LearnedBackend(net, start, SETTINGS)
    latent = backend.init_latent(torch.zeros(1, 44_100), seed=0)
    with torch.no_grad():
        latent += 3.0 * torch.randn_like(latent)
    backend.constrain(latent)
    rms = float((latent.detach() - start).pow(2).mean().sqrt())
    assert rms == pytest.approx(SETTINGS.trust_radius, rel=1e-5)
    inside = start + 0.1 * SETTINGS.trust_radius
    latent.data.copy_(inside[None])
    backend.constrain(latent)
    torch.testing.assert_close(latent[0], inside)  # inside the region: untouched


def test_the_best_step_keeps_the_query_that_made_its_masks(model_dir: Path) -> None:
    """A step's loss and masks are those of the query before that step's update, so the best
    step's estimate must carry that query (a second look redraws its masks from it), not the
    one the update moved on to."""
    config = default_config("learned", tags=("piano",), steps=1, lr=5.0,  # a huge step
                            taggers=(TaggerSpec("fcn", "mtat"),))  # fmt: skip
    cache = ModelCache()
    net, prototypes = load_shipped(cache)
    result = engine.run_to_end(engine.run(config, _song(), ModelStore(model_dir), cache))
    assert result.best_step == 1 and result.estimate is not None
    start = prototype_query(("piano",), prototypes)  # steering starts from it, unfitted
    np.testing.assert_allclose(result.estimate.query, start.numpy(), rtol=1e-5, atol=1e-5)
    # and the masks are the ones that query makes: a second look would redraw the same
    backend = LearnedBackend(net, (start - net.query_mean) / net.query_std, SETTINGS)
    mix = analysis_signal(_song())
    mix = torch.from_numpy(mix / np.abs(mix).max()).float()[None]
    latent = backend.init_latent(mix, 0)
    with torch.no_grad():
        mask = backend.masks(latent, {2048: stft(mix, 2048, 4)})[2048][0]
    np.testing.assert_allclose(result.estimate.masks[2048], mask.numpy(), atol=1e-4)
