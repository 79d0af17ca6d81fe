"""Segment planning and crossfading."""

import itertools

import numpy as np
import pytest

from tagbox_gui.core.separation.segments import AudioStitch, FrameStitch, plan_segments


def stitch_audio(segments, parts, length):
    """Every segment's signal crossfaded in, in turn (``AudioStitch``)."""
    stitched = AudioStitch(length)
    for seg, part in zip(segments, parts, strict=True):
        stitched.add(seg, part)
    return stitched.result()


def stitch_frames(segments, parts, hop, frames):
    """Every segment's grid crossfaded in, in turn (``FrameStitch``)."""
    stitched = FrameStitch(segments, hop, frames)
    for seg, part in zip(segments, parts, strict=True):
        stitched.add(seg, part)
    return stitched.result()


def test_short_region_is_one_segment():
    (seg,) = plan_segments(1000, 5000, 100, 8)
    assert (seg.start, seg.end, seg.fade_in, seg.fade_out) == (0, 1000, 0, 0)


@pytest.mark.parametrize("length", [10_001, 25_000, 99_999, 100_000])
def test_segments_cover_balanced_and_aligned(length):
    segments = plan_segments(length, 10_000, 1_000, 1024)
    assert segments[0].start == 0 and segments[-1].end == length
    for a, b in itertools.pairwise(segments):
        assert b.start % 1024 == 0
        assert a.end - b.start == a.fade_out == b.fade_in > 0
    assert max(s.length for s in segments) <= 10_000 + 1024
    weights = sum(s.weights(np.arange(length)) for s in segments)
    np.testing.assert_allclose(weights, 1.0, atol=1e-12)


def test_stitch_audio_of_a_constant_is_constant():
    length = 50_000
    segments = plan_segments(length, 12_000, 2_000, 512)
    parts = [np.full(s.length, 0.5, dtype=np.float32) for s in segments]
    np.testing.assert_allclose(stitch_audio(segments, parts, length), 0.5, atol=1e-6)


def test_stitch_frames_reassembles_slices_of_one_grid():
    length, hop = 60_000, 256
    frames = 1 + length // hop
    grid = np.random.default_rng(0).random((5, frames)).astype(np.float32)
    segments = plan_segments(length, 16_000, 3_000, hop)
    parts = [grid[:, s.start // hop : s.start // hop + 1 + s.length // hop] for s in segments]
    np.testing.assert_allclose(stitch_frames(segments, parts, hop, frames), grid, atol=1e-6)


def test_stitch_frames_stitches_parts_with_leading_axes_as_each_alone():
    """Parts ``(k, bins, frames)`` stitch into ``k`` grids at once (a pass for several
    queries), each as its own parts would."""
    length, hop = 60_000, 256
    frames = 1 + length // hop
    grids = np.random.default_rng(1).random((2, 5, frames)).astype(np.float32)
    segments = plan_segments(length, 16_000, 3_000, hop)
    cuts = [slice(s.start // hop, s.start // hop + 1 + s.length // hop) for s in segments]
    stitched = stitch_frames(segments, [grids[..., cut].copy() for cut in cuts], hop, frames)
    assert stitched.shape == grids.shape
    for k in range(2):
        listed = stitch_frames(segments, [grids[k][:, cut] for cut in cuts], hop, frames)
        np.testing.assert_array_equal(stitched[k], listed)
    np.testing.assert_allclose(stitched, grids, atol=1e-6)
