"""Audio fitted to an output device: channels folded down, never cut."""

from __future__ import annotations

import numpy as np
import pytest

from tagbox_gui.core.audio.output import (
    UNPOSITIONED,
    channel_order,
    fold,
    fold_matrix,
    output_channels,
    speaker_layout,
)

FIVE_ONE = ("FL", "FR", "FC", "LFE", "BL", "BR")


def one_speaker(index: int, channels: int = 6, frames: int = 8) -> np.ndarray:
    data = np.zeros((frames, channels), dtype=np.float32)
    data[:, index] = 1.0
    return data


def test_layouts_come_from_the_container() -> None:
    assert speaker_layout(6, "FLAC") == FIVE_ONE
    assert speaker_layout(6, "WAV") == FIVE_ONE
    assert speaker_layout(6, "OGG") == ("FL", "FC", "FR", "BL", "BR", "LFE")
    assert speaker_layout(6, "AIFF") is None
    assert speaker_layout(2, "WAV") is None


def test_channel_order_moves_each_speaker_to_where_the_other_container_has_it() -> None:
    order = channel_order(6, "OGG", "WAV")  # Vorbis FL FC FR BL BR LFE into FL FR FC LFE BL BR
    assert order == [0, 2, 1, 5, 3, 4]
    assert [speaker_layout(6, "OGG")[i] for i in order] == list(FIVE_ONE)
    assert channel_order(3, "OGG", "FLAC") == [0, 2, 1]
    for channels in (3, 5, 6, 7, 8):
        order = channel_order(channels, "OGG", "FLAC")
        moved = [speaker_layout(channels, "OGG")[i] for i in order]
        assert moved == list(speaker_layout(channels, "FLAC"))
    assert channel_order(4, "OGG", "WAV") is None  # quad: the same order in both
    assert channel_order(6, "FLAC", "WAV") is None  # the same order
    assert channel_order(2, "OGG", "WAV") is None  # stereo: left and right either way
    assert channel_order(6, "AIFF", "WAV") is None  # AIFF does not say: left as it is


def test_devices_get_all_channels_one_or_a_fold_to_stereo() -> None:
    assert output_channels(2, 8) == 2
    assert output_channels(6, 0) == 6  # the device is not known yet
    assert output_channels(2, 1) == 1
    assert output_channels(6, 2) == 2
    assert output_channels(8, 6) == 2  # front left and right of any bigger device


def test_mono_opens_both_sides_of_a_stereo_or_bigger_device() -> None:
    """A one-channel stream plays on the left speaker only through JACK and some PulseAudio
    setups: mono is played on two channels, the same signal on both."""
    assert output_channels(1, 2) == 2
    assert output_channels(1, 8) == 2  # its front left and right, not every speaker
    assert output_channels(1, 1) == 1
    assert output_channels(1, 0) == 1  # the device is not known yet


def test_five_one_keeps_its_centre_and_surrounds_in_stereo() -> None:
    centre = fold(one_speaker(2), 2, FIVE_ONE)
    assert centre[0, 0] == pytest.approx(centre[0, 1]) and centre[0, 0] > 0.25
    left_surround = fold(one_speaker(4), 2, FIVE_ONE)
    assert left_surround[0, 0] > 0.25 and left_surround[0, 1] == 0.0
    right = fold(one_speaker(1), 2, FIVE_ONE)
    assert right[0, 0] == 0.0 and right[0, 1] > 0.4
    assert not fold(one_speaker(3), 2, FIVE_ONE).any()  # the LFE, as ITU-R BS.775
    # the ITU proportions: centre and surround 3 dB below the front side
    assert centre[0, 0] / right[0, 1] == pytest.approx(2**-0.5, rel=1e-5)


def test_a_full_scale_fold_does_not_clip() -> None:
    loud = np.ones((8, 6), dtype=np.float32)
    for layout in (FIVE_ONE, None):
        assert np.abs(fold(loud, 2, layout)).max() <= 1.0 + 1e-6
    assert np.abs(fold(loud, 1)).max() == pytest.approx(1.0)
    assert np.abs(fold_matrix(8, 2, speaker_layout(8, "FLAC"))).sum(axis=0).max() <= 1 + 1e-6


DOWN = 2**-0.5  # -3 dB


def stereo_fold(*rows: tuple[float, float]) -> np.ndarray:
    """The fold of speakers going (into left, into right) as ``rows``, each side scaled down
    until its gains add up to 1."""
    gains = np.array(rows)
    return gains / np.maximum(gains.sum(axis=0), 1.0)


def test_a_wavex_mask_says_which_speakers_a_quad_song_has() -> None:
    """A quad WAVEX of mask 0x107 is FL FR FC BC: its centre goes into both sides 3 dB down
    and its back centre into both, where the default quad (FL FR BL BR) has a back left and
    a back right."""
    layout = speaker_layout(4, "WAVEX", 0x107)
    assert layout == ("FL", "FR", "FC", "BC")
    np.testing.assert_allclose(
        fold_matrix(4, 2, layout),
        stereo_fold((1, 0), (0, 1), (DOWN, DOWN), (0.5, 0.5)),
        rtol=1e-6,
    )
    assert speaker_layout(4, "WAVEX") == ("FL", "FR", "BL", "BR")
    np.testing.assert_allclose(
        fold_matrix(4, 2, speaker_layout(4, "WAVEX")),
        stereo_fold((1, 0), (0, 1), (DOWN, 0), (0, DOWN)),
        rtol=1e-6,
    )


def test_a_side_five_one_folds_its_sides_as_the_default_folds_its_backs() -> None:
    side = speaker_layout(6, "WAV", 0x60F)
    assert side == ("FL", "FR", "FC", "LFE", "SL", "SR")
    assert speaker_layout(6, "WAV", 0x3F) == FIVE_ONE == speaker_layout(6, "WAV")
    expected = stereo_fold((1, 0), (0, 1), (DOWN, DOWN), (0, 0), (DOWN, 0), (0, DOWN))
    np.testing.assert_allclose(fold_matrix(6, 2, side), expected, rtol=1e-6)
    np.testing.assert_allclose(fold_matrix(6, 2, FIVE_ONE), expected, rtol=1e-6)


def test_a_mask_of_speakers_between_the_fronts_and_above_keeps_their_side() -> None:
    """Bits past the back centre: the fronts of centre (libsndfile's 7.1, 0xFF) and the
    heights go into their own side, those in the middle into both; none is left out."""
    layout = speaker_layout(8, "WAVEX", 0xFF)
    assert layout == ("FL", "FR", "FC", "LFE", "BL", "BR", "FLC", "FRC")
    matrix = fold_matrix(8, 2, layout)
    assert matrix[6, 0] > 0 and matrix[6, 1] == 0 and matrix[7, 1] > 0 and matrix[7, 0] == 0
    heights = speaker_layout(10, "WAVEX", 0x3F | 0x1000 | 0x4000 | 0x800 | 0x2000)
    assert heights == ("FL", "FR", "FC", "LFE", "BL", "BR", "TC", "TFL", "TFC", "TFR")
    matrix = fold_matrix(10, 2, heights)
    assert matrix[7, 0] > 0 and matrix[7, 1] == 0 and matrix[9, 1] > 0 and matrix[9, 0] == 0
    assert matrix[6, 0] == matrix[6, 1] > 0 and matrix[8, 0] == matrix[8, 1] > 0


@pytest.mark.parametrize("mask", [None, 0])
def test_without_a_mask_the_layout_is_the_default(mask: int | None) -> None:
    """No mask, or none stated (0): the channel count's default layout."""
    assert speaker_layout(4, "WAVEX", mask) == ("FL", "FR", "BL", "BR")
    assert speaker_layout(4, "AIFF", mask) is None


@pytest.mark.parametrize("mask", [0x7, 0x40007, 0x80000007])
def test_a_channel_past_the_speakers_a_mask_names_has_none(mask: int) -> None:
    """Fewer speakers than channels, or a bit WAVE names no speaker for: the channels past
    those named have no place, and fold into both sides alike, as without a layout."""
    layout = speaker_layout(4, "WAVEX", mask)
    assert layout == ("FL", "FR", "FC", UNPOSITIONED)
    np.testing.assert_allclose(
        fold_matrix(4, 2, layout),
        stereo_fold((1, 0), (0, 1), (DOWN, DOWN), (1, 1)),
        rtol=1e-6,
    )


def test_without_a_layout_left_and_right_stay_and_the_rest_goes_to_both() -> None:
    data = np.stack([np.full(4, v, dtype=np.float32) for v in (0.6, -0.6, 0.3)], axis=1)
    out = fold(data, 2)
    np.testing.assert_allclose(out[0], [(0.6 + 0.3) / 2, (-0.6 + 0.3) / 2], rtol=1e-6)


def test_mono_is_the_mean_of_the_channels() -> None:
    stereo = np.stack([np.zeros(4), np.ones(4)], axis=1)
    np.testing.assert_allclose(fold(stereo, 1)[:, 0], 0.5)
    np.testing.assert_allclose(fold(one_speaker(2), 1, FIVE_ONE)[:, 0], 1 / 6)


def test_fewer_channels_are_widened() -> None:
    np.testing.assert_array_equal(fold(np.ones(3), 2), np.ones((3, 2)))
    stereo = np.stack([np.ones(3), 2 * np.ones(3)], axis=1)
    np.testing.assert_array_equal(fold(stereo, 3)[0], [1, 2, 0])


@pytest.mark.parametrize(
    ("rate", "new_rate"), [(96_000, 48_000), (44_100, 48_000), (8_000, 44_100)]
)
def test_a_block_at_a_time_resamples_as_at_once(
    monkeypatch: pytest.MonkeyPatch, rate: int, new_rate: int
) -> None:
    from scipy.signal import resample_poly

    from tagbox_gui.core.audio import output, song

    monkeypatch.setattr(song, "_READ_FRAMES", 1000)  # many blocks, joins in the middle
    data = np.random.default_rng(0).standard_normal((10_007, 2)).astype(np.float32)
    at_once = np.stack([resample_poly(data[:, c], new_rate, rate) for c in range(2)], axis=1)
    np.testing.assert_array_equal(output.resample(data, rate, new_rate), at_once)


def test_resampling_stops_between_blocks_once_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import scipy.signal

    from tagbox_gui.core.audio import output, song
    from tagbox_gui.core.audio.song import LoadCancelled

    cancel = threading.Event()
    calls: list[int] = []
    real = scipy.signal.resample_poly

    def cancelled_after_the_first(x, up, down):  # type: ignore[no-untyped-def]
        calls.append(len(x))
        cancel.set()
        return real(x, up, down)

    monkeypatch.setattr(scipy.signal, "resample_poly", cancelled_after_the_first)
    monkeypatch.setattr(song, "_READ_FRAMES", 1000)
    with pytest.raises(LoadCancelled):
        output.resample(np.zeros((10_000, 2), dtype=np.float32), 96_000, 48_000, cancel)
    assert len(calls) == 1
