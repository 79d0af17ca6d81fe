"""The second look at a job's stems: the learned separator asked again without the others."""

from __future__ import annotations

import tracemalloc
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.audio.song import Song, analysis_signal
from tagbox_gui.core.separation import engine
from tagbox_gui.core.separation.backends import learned
from tagbox_gui.core.separation.backends.learned import load_shipped
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.job import helpers_for
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.separation.refine import (
    LookBeside,
    Refinement,
    _Region,
    can_refine,
    claimed_in_all,
    looked_again,
    shared_estimates,
    why_failed,
)
from tagbox_gui.core.separation.segments import AudioStitch
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import (
    Command,
    CommandKind,
    Estimate,
    Example,
    LookingAgain,
    Region,
    RunConfig,
)
from tests.core.test_segments import stitch_audio

RATE = 44_100


def _song(seconds: float = 5.0) -> Song:
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * RATE)) / RATE
    bass = 0.3 * np.sin(2 * np.pi * 55 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    keys = 0.15 * np.sin(2 * np.pi * 440 * t) + 0.08 * np.sin(2 * np.pi * 880 * t)
    hits = (rng.random(t.size) < 0.001) * 0.6
    data = (bass + keys + hits)[:, None] + 0.005 * rng.standard_normal((t.size, 2))
    return Song(Path("song.wav"), "song", data.astype(np.float32), RATE, "FLOAT", "WAV")


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    return ModelCache()


@pytest.fixture(scope="module")
def song() -> Song:
    return _song()


def _firsts(song: Song, cache: ModelCache, region: Region | None = None) -> dict[str, Estimate]:
    out = {}
    for name in ("bass", "piano", "drums"):
        config = default_config("learned", tags=(name,), region=region)
        result = engine.run_to_end(engine.run(config, song, ModelStore(Path("no-models")), cache))
        assert result.estimate is not None
        out[name] = result.estimate
    return out


def test_only_two_or_more_learned_masks_get_a_second_look(song, cache) -> None:
    firsts = _firsts(song, cache)
    assert can_refine(firsts)
    assert not can_refine({"bass": firsts["bass"]})  # alone: nothing to take away
    unasked = {**firsts, "bass": replace(firsts["bass"], query=None)}  # another backend's
    assert not can_refine(unasked)
    free = {**firsts, "bass": Estimate(0, 10, {}, np.zeros(10, np.float32))}
    assert not can_refine(free)
    for estimates, refine in [(unasked, True), (firsts, False)]:
        plain, got = share(estimates), shared_estimates(song, estimates, cache, refine)
        for name in plain:
            np.testing.assert_array_equal(got[name].masks[2048], plain[name].masks[2048])


def test_a_second_look_keeps_half_the_first_mask_and_adds_at_most_half_of_the_rest(
    song, cache
) -> None:
    firsts = _firsts(song, cache)
    shared = share(firsts)  # the first look, as the stems would have it
    refinement = Refinement(song, firsts, cache)
    claimed = sum(est.masks[2048] for est in shared.values())
    for name, first in shared.items():
        second = engine.run_to_end(refinement.stem(name))
        assert (second.start, second.length, second.hops_per_window) == (
            first.start, first.length, first.hops_per_window
        )  # fmt: skip
        np.testing.assert_array_equal(second.query, first.query)
        keep = np.clip(1 - (claimed - first.masks[2048]), 0, 1)
        mask = second.masks[2048]
        assert np.all(mask >= first.masks[2048] / 2 - 1e-6)
        assert np.all(mask <= (first.masks[2048] + keep) / 2 + 1e-6)
        assert np.abs(mask - first.masks[2048]).max() > 0.05  # the network's mask changed it
    for name, est in firsts.items():  # the first estimates themselves are left as they were
        np.testing.assert_array_equal(est.masks[2048], _firsts(song, cache)[name].masks[2048])
    refined = shared_estimates(song, firsts, cache)
    assert sum(est.masks[2048] for est in refined.values()).max() <= 1 + 1e-6  # still shared


def test_the_second_look_hears_the_song_without_the_others(song, cache) -> None:
    """Where another stem took every bin, the network hears silence; where the others took
    nothing, the whole song."""
    firsts = _firsts(song, cache)
    ones = {n: np.ones_like(m) for n, m in firsts["drums"].masks.items()}
    zeros = {n: np.zeros_like(m) for n, m in ones.items()}
    taken = {"drums": replace(firsts["drums"], masks=ones),
             "piano": replace(firsts["piano"], masks=zeros)}  # fmt: skip
    net = load_shipped(cache)[0]
    heard: list[float] = []
    handle = net.register_forward_hook(lambda _m, args, _o: heard.append(float(args[0].max())))
    try:
        refinement = Refinement(song, taken, cache)
        piano = engine.run_to_end(refinement.stem("piano"))
        silence = max(heard)
        heard.clear()
        engine.run_to_end(refinement.stem("drums"))
    finally:
        handle.remove()
    assert max(heard) > 1.0 and silence < 1e-6 * max(heard)
    assert not piano.masks[2048].any()  # nothing to keep, nothing heard


def test_a_region_is_looked_at_again_in_its_own_stretch(song, cache) -> None:
    firsts = _firsts(song, cache, Region(1.0, 3.5))
    refined = shared_estimates(song, firsts, cache)
    some = next(iter(refined.values()))
    assert (some.start, some.length) == (RATE, round(2.5 * RATE))
    assert all(e.masks[2048].shape == firsts[n].masks[2048].shape for n, e in refined.items())


def test_a_long_song_is_looked_at_again_segment_by_segment_as_in_one_piece(cache) -> None:
    """Segments bound the memory of a long song's second look; the seams barely show."""
    from tagbox_gui.core.separation.segments import Segment

    song = _song(40.0)  # two segments of the engine's 29 s
    firsts = _firsts(song, cache)
    refinement = Refinement(song, firsts, cache)
    assert len(refinement._region.segments) == 2
    in_pieces = engine.run_to_end(refinement.stem("piano")).masks[2048]
    refinement._region.segments = [Segment(0, refinement._region.length, 0, 0)]
    whole = engine.run_to_end(refinement.stem("piano")).masks[2048]
    assert np.abs(in_pieces - whole).mean() < 0.002 and np.abs(in_pieces - whole).max() < 0.05


# ----- a single stem, looked at again beside helpers -------------------------------------------
def _single(song: Song, cache: ModelCache, **fields) -> tuple:
    config = default_config("learned", **{"tags": ("piano",), **fields})
    steps = engine.run(config, song, ModelStore(Path("no-models")), cache)
    return config, steps


def test_a_single_instrument_has_helpers_that_are_not_itself(cache) -> None:
    def helpers(**fields) -> tuple[str, ...]:
        return helpers_for(default_config("learned", **fields), cache)

    assert helpers(tags=("piano",)) == ("bass", "drums")
    assert helpers(tags=("bass",)) == ("drums",)
    assert helpers(tags=("contrabass",)) == ("drums",)  # a bass of the strings: not taken away
    assert helpers(tags=("drums", "piano")) == ("bass",)
    assert helpers(tags=("piano",), steps=3) == ()  # steered: every step is heard as it is
    # By example, both for now: the look leaves out the one the example sounds like.
    assert helpers(tags=(), example=Example("clip.wav")) == ("bass", "drums")
    assert helpers_for(default_config("light", tags=("piano",)), cache) == ()


def test_the_helper_a_stem_sounds_like_is_left_out(song, cache) -> None:
    firsts = _firsts(song, cache)
    prototypes = load_shipped(cache)[1]
    for name, left in (("bass", ("drums",)), ("drums", ("bass",)), ("piano", ("bass", "drums")),
                       ("contrabass", ("drums",))):  # fmt: skip
        asked = replace(firsts["piano"], query=prototypes[name].numpy())  # as an example's
        assert LookBeside(song, asked, cache).unlike(("bass", "drums")) == left
    # A run whose query is the bass's is looked at again beside the drums alone.
    _, steps = _single(song, cache, tags=("bass",))
    result = engine.run_to_end(looked_again(steps, song, ("bass", "drums"), cache))
    assert result.helpers == ("drums",)


def _by_prototypes_alone(song: Song, cache: ModelCache, monkeypatch) -> dict[str, Estimate]:
    """The first looks of runs asking by the prototypes as they are, none fitted to the song
    (``core.nets.fitting``), as the helpers are asked for."""
    with monkeypatch.context() as patch:
        patch.setattr(learned, "fit_for", lambda config, cache: None)
        return _firsts(song, cache)


def test_a_helpers_first_look_is_what_a_run_asking_for_it_makes(song, cache, monkeypatch) -> None:
    firsts = _by_prototypes_alone(song, cache, monkeypatch)
    look = LookBeside(song, _firsts(song, cache)["piano"], cache)
    helpers = engine.run_to_end(look.helpers(("bass", "drums")))  # both in one pass of the network
    for name, helper in helpers.items():
        assert np.abs(helper.masks[2048] - firsts[name].masks[2048]).max() < 1e-4
        np.testing.assert_allclose(helper.query, firsts[name].query, rtol=1e-5, atol=1e-6)


def test_a_single_stem_is_looked_at_again_beside_its_helpers(song, cache, monkeypatch) -> None:
    config, steps = _single(song, cache)
    helpers = helpers_for(config, cache)
    result = engine.run_to_end(looked_again(steps, song, helpers, cache))
    assert result.helpers == ("bass", "drums") and result.steps_done == 0
    first = engine.run_to_end(_single(song, cache)[1])
    firsts = _by_prototypes_alone(song, cache, monkeypatch)  # the helpers' first looks
    refinement = Refinement(song, {"piano": first.estimate, "bass": firsts["bass"],
                                   "drums": firsts["drums"]}, cache)  # fmt: skip
    expected = engine.run_to_end(refinement.stem("piano"))
    mask = result.estimate.masks[2048]
    assert np.abs(mask - expected.masks[2048]).max() < 1e-4
    assert mask.min() >= 0.0 and mask.max() <= 1.0  # the stems still add up to the song
    assert np.abs(mask - first.estimate.masks[2048]).mean() > 1e-3  # it did change the stem
    np.testing.assert_array_equal(result.estimate.query, first.estimate.query)
    # Its separated signal is the song through the new mask, as the engine makes one.
    look = LookBeside(song, first.estimate, cache)
    np.testing.assert_allclose(look._region.separated(first.estimate), first.separated,
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(look._region.separated(result.estimate), result.separated,
                               atol=1e-6)  # fmt: skip


def test_the_looks_separated_signal_is_stitched_as_each_segment_is_made(
    song, cache, monkeypatch
) -> None:
    """A long song's separated signal is large: each segment's is crossfaded into the whole as
    it is made and let go, not all of them kept until the end. The whole is what stitching them
    all at the end makes, bit for bit."""
    monkeypatch.setattr(RunConfig, "segment_seconds", 2.0)
    first = engine.run_to_end(_single(song, cache)[1])
    look = LookBeside(song, first.estimate, cache)
    parts: list[weakref.ref] = []
    copies: list[np.ndarray] = []
    alive_at_each: list[int] = []
    add = AudioStitch.add

    def counting(self, segment, part):
        alive_at_each.append(sum(ref() is not None for ref in parts))
        parts.append(weakref.ref(part))
        copies.append(part.copy())
        add(self, segment, part)

    monkeypatch.setattr(AudioStitch, "add", counting)
    separated = look._region.separated(first.estimate)
    assert len(parts) == len(look._region.segments) >= 3
    assert alive_at_each == [0] * len(parts)  # none of the segments before is held
    monkeypatch.undo()
    all_at_once = stitch_audio(look._region.segments, copies, len(separated))
    np.testing.assert_array_equal(separated, all_at_once)


def test_a_single_stems_look_makes_the_song_as_heard_once(song, cache, monkeypatch) -> None:
    """The helpers' pass and the stem's own share one region of the song as the separator hears
    it (the peak-normalised analysis signal: a long song's is large), not one each."""
    made: list[object] = []
    init = _Region.__init__
    monkeypatch.setattr(_Region, "__init__",
                        lambda self, *args: made.append(self) or init(self, *args))  # fmt: skip
    config, steps = _single(song, cache)
    result = engine.run_to_end(looked_again(steps, song, helpers_for(config, cache), cache))
    assert result.helpers == ("bass", "drums") and len(made) == 1


def test_the_region_keeps_no_copy_of_the_song_as_heard() -> None:
    """A long song's analysis signal is large: the region brings each segment to the peak as
    the separator hears it, and keeps no peak-normalised copy of the whole beside the song's."""
    song = _song(60.0)
    signal = analysis_signal(song)  # made once per song and shared: not the region's own
    estimate = Estimate(0, len(signal), {2048: np.zeros((1025, 1), np.float32)},
                        hops_per_window=4)  # fmt: skip
    tracemalloc.start()
    try:
        region = _Region(song, estimate, torch.device("cpu"))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(region.segments) >= 3
    assert held < signal.nbytes / 10


def test_a_single_stems_look_is_the_stems_look_beside_its_helpers_bit_for_bit(
    song, cache, monkeypatch
) -> None:
    """The single stem's look is a job's look at it beside the helpers' first looks, what they
    claim summed as Python's sum() adds them, to the bit (masks and separated)."""
    monkeypatch.setattr(RunConfig, "segment_seconds", 2.0)
    config, steps = _single(song, cache)
    result = engine.run_to_end(looked_again(steps, song, helpers_for(config, cache), cache))
    first = engine.run_to_end(_single(song, cache)[1]).estimate
    look = LookBeside(song, first, cache)
    assert len(look._region.segments) >= 3
    firsts = {"piano": first, **engine.run_to_end(look.helpers(("bass", "drums")))}
    refinement = Refinement(song, firsts, cache)
    summed = sum(estimate.masks[2048] for estimate in firsts.values())
    np.testing.assert_array_equal(refinement._claimed[2048], summed)
    refinement._claimed = {2048: summed}
    expected = engine.run_to_end(refinement.stem("piano"))
    np.testing.assert_array_equal(result.estimate.masks[2048], expected.masks[2048])
    np.testing.assert_array_equal(result.separated, look._region.separated(expected))


def test_what_is_claimed_in_all_is_summed_in_place_in_the_first_estimates_masks_only() -> None:
    rng = np.random.default_rng(3)
    masks = [rng.random((5, 7), dtype=np.float32) for _ in range(3)]
    kept = [mask.copy() for mask in masks]
    estimates = [Estimate(0, 100, {2048: mask}) for mask in masks]
    expected = kept[0] + kept[1] + kept[2]
    copied = claimed_in_all(estimates)[2048]
    assert copied is not masks[0]
    for mask, before in zip(masks, kept, strict=True):
        np.testing.assert_array_equal(mask, before)  # nobody's mask overwritten
    summed = claimed_in_all(estimates, in_place=True)[2048]
    assert summed is masks[0]  # no new array: the first's mask holds the sum
    np.testing.assert_array_equal(summed, expected)
    np.testing.assert_array_equal(copied, expected)
    for mask, before in zip(masks[1:], kept[1:], strict=True):
        np.testing.assert_array_equal(mask, before)  # the others are only read


def test_the_helpers_masks_are_let_go_before_the_stems_own_pass(song, cache, monkeypatch) -> None:
    """Only what the helpers claim in all is needed in the stem's own pass, and it is summed in
    the first helper's own mask: no other mask of theirs (large on a long song) is alive
    through that pass, nor a new array for the sum beside them."""
    monkeypatch.setattr(RunConfig, "segment_seconds", 2.0)
    made: list[weakref.ref] = []
    sums: list[np.ndarray] = []
    helpers, masks = LookBeside.helpers, _Region.masks

    def remembered(self, names):
        estimates = yield from helpers(self, names)
        made.extend(weakref.ref(estimate.masks[2048]) for estimate in estimates.values())
        return estimates

    def summed(*args, **kwargs):
        claimed = claimed_in_all(*args, **kwargs)
        sums.append(claimed[2048])
        return claimed

    alive: list[list[bool]] = []

    def counted(self, backend, n, keep=None, queries=None):
        if keep is None:  # the helpers' pass
            return (yield from masks(self, backend, n, keep, queries))

        def counting(a: int, b: int) -> np.ndarray:
            alive.append([ref() is not None for ref in made])
            return keep(a, b)

        return (yield from masks(self, backend, n, counting, queries))

    monkeypatch.setattr(LookBeside, "helpers", remembered)
    monkeypatch.setattr(_Region, "masks", counted)
    monkeypatch.setattr("tagbox_gui.core.separation.refine.claimed_in_all", summed)
    config, steps = _single(song, cache)
    result = engine.run_to_end(looked_again(steps, song, helpers_for(config, cache), cache))
    assert result.helpers == ("bass", "drums") and len(made) == 2 and len(sums) == 1
    assert len(alive) >= 3 and alive == [[True, False]] * len(alive)
    assert sums[0] is made[0]()  # alive through the pass as the sum, not as a mask


def test_what_is_claimed_is_let_go_before_the_stems_separated_signal(
    song, cache, monkeypatch
) -> None:
    """What the stem and its helpers claim in all (a mask's size: large on a long song) is not
    needed once the stem's mask is made: it is not alive while its separated signal is."""
    sums: list[weakref.ref] = []
    alive: list[bool] = []
    separated = _Region.separated

    def summed(*args, **kwargs):
        claimed = claimed_in_all(*args, **kwargs)
        sums.append(weakref.ref(claimed[2048]))
        return claimed

    def made(self, estimate):
        alive.append(sums[0]() is not None)
        return separated(self, estimate)

    monkeypatch.setattr("tagbox_gui.core.separation.refine.claimed_in_all", summed)
    monkeypatch.setattr(_Region, "separated", made)
    config, steps = _single(song, cache)
    result = engine.run_to_end(looked_again(steps, song, helpers_for(config, cache), cache))
    assert result.helpers == ("bass", "drums") and len(sums) == 1
    assert alive == [False]


def test_a_stop_during_the_look_keeps_the_first(song, cache) -> None:
    config, steps = _single(song, cache)
    first = engine.run_to_end(_single(song, cache)[1])
    looking = looked_again(steps, song, helpers_for(config, cache), cache)
    assert next(looking) == LookingAgain(("bass", "drums"))  # before the helpers' pass
    assert looking.send(Command(CommandKind.PAUSE)) is None
    assert looking.send(None) is None  # held while paused
    with pytest.raises(StopIteration) as end:
        looking.send(Command(CommandKind.STOP))
    result = end.value.value
    assert result.helpers == ()
    np.testing.assert_array_equal(result.estimate.masks[2048], first.estimate.masks[2048])


@pytest.fixture
def passes(monkeypatch) -> list[int]:
    """The passes of the separator over a segment, counted; the second look's passes over the
    song are made in several segments (the first look's in one)."""
    monkeypatch.setattr(RunConfig, "segment_seconds", 2.0)
    counted: list[int] = []
    masks = learned.LearnedBackend.masks
    monkeypatch.setattr(learned.LearnedBackend, "masks",
                        lambda self, *args: counted.append(1) or masks(self, *args))  # fmt: skip
    return counted


def test_a_pause_holds_the_look_between_segments_and_changes_nothing(song, cache, passes) -> None:
    """A pass of the separator over a long song takes a while: a PAUSE during it holds the look
    after the segment under way, and once resumed the look makes what it makes unpaused."""
    config, steps = _single(song, cache)
    unpaused = engine.run_to_end(looked_again(steps, song, helpers_for(config, cache), cache))
    config, steps = _single(song, cache)
    looking = looked_again(steps, song, helpers_for(config, cache), cache)
    assert next(looking) == LookingAgain(("bass", "drums"))
    passes.clear()
    assert looking.send(None) is None and len(passes) == 1  # the helpers' first segment
    assert looking.send(Command(CommandKind.PAUSE)) is None
    for _ in range(3):
        assert looking.send(None) is None
    assert len(passes) == 1  # held
    assert looking.send(Command(CommandKind.RESUME)) is None and len(passes) == 2
    result = engine.run_to_end(looking)
    assert result.helpers == ("bass", "drums")
    np.testing.assert_array_equal(result.estimate.masks[2048], unpaused.estimate.masks[2048])
    np.testing.assert_array_equal(result.separated, unpaused.separated)


def test_a_stop_between_segments_of_the_look_keeps_the_first(song, cache, passes) -> None:
    first = engine.run_to_end(_single(song, cache)[1])
    config, steps = _single(song, cache)
    looking = looked_again(steps, song, helpers_for(config, cache), cache)
    assert next(looking) == LookingAgain(("bass", "drums"))
    passes.clear()
    assert looking.send(None) is None  # the helpers' first segment
    with pytest.raises(StopIteration) as end:
        looking.send(Command(CommandKind.STOP))
    assert len(passes) == 1  # no segment more
    result = end.value.value
    assert result.helpers == () and not result.second_look_failed
    np.testing.assert_array_equal(result.estimate.masks[2048], first.estimate.masks[2048])


def test_without_helpers_a_run_is_left_as_it_is(song, cache) -> None:
    _, steps = _single(song, cache)
    first = engine.run_to_end(_single(song, cache)[1])
    result = engine.run_to_end(looked_again(steps, song, (), cache))
    assert result.helpers == ()
    np.testing.assert_array_equal(result.estimate.masks[2048], first.estimate.masks[2048])


@pytest.mark.parametrize("failing", ["helpers", "stem"])
def test_a_look_that_fails_keeps_the_first_and_says_why(song, cache, monkeypatch, failing) -> None:
    _, steps = _single(song, cache)
    first = engine.run_to_end(_single(song, cache)[1])

    def out_of_memory(*args: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(LookBeside, failing, out_of_memory)
    result = engine.run_to_end(looked_again(steps, song, ("bass", "drums"), cache))
    assert result.second_look_failed == "out of memory" and result.helpers == ()
    np.testing.assert_array_equal(result.estimate.masks[2048], first.estimate.masks[2048])
    np.testing.assert_array_equal(result.separated, first.separated)


CUDA_OUT_OF_MEMORY = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 7.79 GiB of "
    "which 1.02 GiB is free. Of the allocated memory 5.12 GiB is allocated by PyTorch. If "
    "reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation."
)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (RuntimeError(CUDA_OUT_OF_MEMORY), "out of memory"),
        (
            RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB"),
            "out of memory",
        ),
        (MemoryError(), "out of memory"),
        (ValueError("shapes\n(2, 3) and (4,)\ndiffer"), "shapes (2, 3) and (4,) differ"),
        (ValueError("x" * 200), "x" * 79 + "…"),
        (KeyError(), "KeyError"),
    ],
)
def test_why_a_look_failed_is_said_in_a_few_words_on_one_line(error, said) -> None:
    """The reason goes inside a sentence of the window and the CLI (the log keeps the rest)."""
    assert why_failed(error) == said


def test_no_stem_is_looked_at_again_once_the_stems_share_the_mix(song, cache) -> None:
    """Sharing lets go of what the first looks claimed: a look after it would have no masks."""
    refinement = Refinement(song, _firsts(song, cache), cache)
    seconds = {name: engine.run_to_end(refinement.stem(name)) for name in refinement.firsts}
    refinement.shared(seconds)
    with pytest.raises(RuntimeError, match="share the mix already"):
        engine.run_to_end(refinement.stem(next(iter(refinement.firsts))))
