"""Rendering estimates onto songs: stems add back up, masks mean what they say at any rate."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.audio.export import export_shared_stems, export_stems
from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.audio.song import Song, analysis_signal, analysis_span
from tagbox_gui.core.audio.stems import (
    BLOCK_SECONDS,
    FADE_SECONDS,
    block_spans,
    render_stems,
    separated_blocks,
    song_fft_size,
    song_span,
)
from tagbox_gui.core.types import ANALYSIS_RATE, Estimate, Region

SIZES = (2048, 1024, 512)


def make_song(data: np.ndarray, rate: int, subtype: str = "FLOAT") -> Song:
    data = np.asarray(data, dtype=np.float32)
    data = data[:, None] if data.ndim == 1 else data
    return Song(Path("synthetic.wav"), "synthetic", data, rate, subtype, "WAV")


def noise_song(rate: int, channels: int, seconds: float = 1.5, seed: int = 0) -> Song:
    rng = np.random.default_rng(seed)
    return make_song(0.12 * rng.standard_normal((round(rate * seconds), channels)), rate)


HOPS = (2, 4)  # hops per window: hop n/2 (the light and jukebox backends), n/4 (learned)


def mask_shape(n: int, length: int, hops: int = 2) -> tuple[int, int]:
    return n // 2 + 1, 1 + length // (n // hops)


def random_estimate(start: int, length: int, seed: int = 1, hops: int = 2) -> Estimate:
    rng = np.random.default_rng(seed)
    masks = {n: rng.random(mask_shape(n, length, hops)).astype(np.float32) for n in SIZES}
    return Estimate(start, length, masks, hops_per_window=hops)


def constant_estimate(start: int, length: int, value: float, hops: int = 2) -> Estimate:
    masks = {n: np.full(mask_shape(n, length, hops), value, np.float32) for n in SIZES}
    return Estimate(start, length, masks, hops_per_window=hops)


def whole(song: Song) -> tuple[int, int]:
    return 0, len(analysis_signal(song))


def inner(song: Song, estimate: Estimate) -> slice:
    """The region without its fades (fades only sit at edges inside the song)."""
    s0, s1 = song_span(estimate, song.rate, song.frames)
    fade = round(FADE_SECONDS * song.rate)
    return slice(s0 + fade if s0 > 0 else 0, s1 - fade if s1 < song.frames else s1)


def tone(freq: float, rate: int, frames: int) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * freq * np.arange(frames) / rate)


def db(part: np.ndarray, reference: np.ndarray) -> float:
    return 10 * np.log10((np.sum(part**2) + 1e-300) / np.sum(reference**2))


REGIONS = {"whole": None, "region": (20_000, 30_000)}


@pytest.mark.parametrize("rate", [44_100, 48_000, 96_000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("where", sorted(REGIONS))
def test_stems_add_up_and_keep_shape(rate: int, channels: int, where: str, tmp_path: Path) -> None:
    song = noise_song(rate, channels)
    start, length = REGIONS[where] or whole(song)
    estimate = random_estimate(start, length)
    separated, residual = render_stems(song, estimate)
    assert separated.dtype == residual.dtype == np.float64
    assert separated.shape == residual.shape == song.data.shape
    # residual is song - separated in float64: adding back is exact up to float64 rounding
    assert np.abs(separated + residual - song.data).max() <= 1e-15
    s0, s1 = song_span(estimate, rate, song.frames)
    assert np.all(separated[:s0] == 0) and np.all(separated[s1:] == 0)
    assert np.array_equal(residual[:s0], song.data[:s0]) and np.array_equal(
        residual[s1:], song.data[s1:]
    )
    assert np.abs(separated[s0:s1]).max() > 0.01  # a random mask passes part of the noise
    for fmt, bound in [(ExportFormat.WAV32, 1e-6), (ExportFormat.WAV24, 2 / 2**23)]:
        sep_path, res_path = export_stems(song, estimate, tmp_path / fmt.value, ["x"], fmt)
        sep, sep_rate = sf.read(sep_path, always_2d=True)
        res, res_rate = sf.read(res_path, always_2d=True)
        assert sep_rate == res_rate == rate
        assert sep.shape == res.shape == song.data.shape
        assert np.abs(sep + res - song.data).max() <= bound


@pytest.mark.parametrize("rate", [22_050, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("hops", HOPS)
def test_all_ones_passes_and_all_zeros_silences(rate: int, hops: int) -> None:
    song = noise_song(rate, 2)
    for start, length in [whole(song), (15_000, 40_000)]:
        ones = constant_estimate(start, length, 1.0, hops)
        separated, _ = render_stems(song, ones)
        keep = inner(song, ones)
        assert np.abs(separated[keep] - song.data[keep]).max() < 1e-9
        zeros, residual = render_stems(song, constant_estimate(start, length, 0.0, hops))
        assert np.all(zeros == 0) and np.array_equal(residual, song.data.astype(np.float64))


@pytest.mark.parametrize("hops", HOPS)
def test_same_masked_signal_as_the_analysis_stft_at_44k(hops: int) -> None:
    """At 44.1 kHz the song grid is the analysis grid: one FFT size renders exactly what the
    engine's STFT/iSTFT pair makes of the masked mixture (the loss saw that signal)."""
    torch = pytest.importorskip("torch")
    from tagbox_gui.core.dsp.spectral import istft, stft

    song = noise_song(ANALYSIS_RATE, 1, seconds=1.0)
    n, (start, length) = 1024, whole(song)
    mask = np.random.default_rng(5).random(mask_shape(n, length, hops))
    separated, _ = render_stems(song, Estimate(start, length, {n: mask}, hops_per_window=hops))
    x = torch.from_numpy(song.data[:, 0].astype(np.float64))
    masked = stft(x, n, hops) * torch.from_numpy(mask)
    expected = istft(masked, n, length, hops).numpy()
    # torch covers the last partial hop with one frame only; we add one more frame there
    keep = slice(0, length - n)
    assert np.abs(separated[keep, 0] - expected[keep]).max() < 1e-12


def test_fft_sizes_are_averaged() -> None:
    """One size passes everything, one stops everything, one passes a quarter: mean 5/12."""
    song = noise_song(48_000, 2)
    start, length = 10_000, 40_000
    masks = {
        n: np.full(mask_shape(n, length), value, np.float32)
        for n, value in zip(SIZES, (1.0, 0.0, 0.25), strict=True)
    }
    estimate = Estimate(start, length, masks)
    separated, _ = render_stems(song, estimate)
    keep = inner(song, estimate)
    assert np.abs(separated[keep] - 5 / 12 * song.data[keep].astype(np.float64)).max() < 1e-9


def test_region_edges_fade_without_a_click() -> None:
    rate = 48_000
    song = make_song(np.full((rate, 2), 0.5), rate)
    estimate = constant_estimate(10_000, 20_000, 1.0)
    separated, residual = render_stems(song, estimate)
    s0, s1 = song_span(estimate, rate, song.frames)
    fade = round(FADE_SECONDS * rate)
    assert abs(separated[s0, 0]) < 0.5 * 0.01 and abs(separated[s1 - 1, 0]) < 0.5 * 0.01
    ramp_in = separated[s0 : s0 + fade, 0]
    assert np.all(np.diff(ramp_in) > 0) and np.all(np.diff(separated[s1 - fade : s1, 0]) < 0)
    # the largest sample-to-sample step stays a small fraction of the level: no click
    assert np.abs(np.diff(separated[:, 0])).max() < 0.5 * 0.01
    assert np.abs(np.diff(residual[:, 0])).max() < 0.5 * 0.01


@pytest.mark.parametrize("rate", [44_100, 96_000])
def test_mask_in_hz_separates_tones(rate: int) -> None:
    """Pass 1 kHz, stop 3 kHz (cut at 2 kHz). A mask mapped by bin index instead of Hz would
    move the cut to 2 kHz * rate / 44.1 kHz and let 3 kHz through at 96 kHz. Measured: about
    -71 dB each way (the 512-point sqrt-Hann frames' sidelobes set the floor)."""
    frames = 2 * rate
    low, high = tone(1000, rate, frames), tone(3000, rate, frames)
    song = make_song(np.stack([low + high, low + high], axis=1), rate)
    start, length = whole(song)
    masks = {}
    for n in SIZES:
        hz = np.arange(n // 2 + 1) * ANALYSIS_RATE / n
        column = (hz < 2000).astype(np.float32)[:, None]
        masks[n] = np.repeat(column, mask_shape(n, length)[1], axis=1)
    separated, residual = render_stems(song, Estimate(start, length, masks))
    # Leave out 50 ms at the song's ends, where reflect padding folds the tones (as it does in
    # the analysis STFT) and spreads them over all bins.
    keep = slice(round(0.05 * rate), frames - round(0.05 * rate))
    leak_sep = db(separated[keep, 0] - low[keep], high[keep])  # high tone left in the stem
    leak_res = db(residual[keep, 0] - high[keep], low[keep])  # low tone left in the residual
    assert leak_sep < -60 and leak_res < -60, (leak_sep, leak_res)


def test_above_the_analysis_band_takes_the_top_bin() -> None:
    rate = 96_000
    ultrasonic = tone(30_000, rate, rate)
    song = make_song(ultrasonic, rate)
    start, length = whole(song)
    masks = {}
    for n in SIZES:
        mask = np.zeros(mask_shape(n, length), np.float32)
        mask[-1] = 0.5  # only the 22.05 kHz bin is open, half way
        masks[n] = mask
    separated, _ = render_stems(song, Estimate(start, length, masks))
    keep = slice(round(0.05 * rate), rate - round(0.05 * rate))
    assert db(separated[keep, 0] - 0.5 * ultrasonic[keep], ultrasonic[keep]) < -60


def test_mask_in_seconds_follows_the_region_at_96k() -> None:
    rate = 96_000
    song = noise_song(rate, 1, seconds=3.0)
    start, length = 44_100, 88_200  # region 1 s .. 3 s, mask passes its first half only
    masks = {}
    for n in SIZES:
        bins, count = mask_shape(n, length)
        times = np.arange(count) * (n // 2) / ANALYSIS_RATE
        masks[n] = np.repeat((times < 1.0)[None, :], bins, axis=0).astype(np.float32)
    separated, _ = render_stems(song, Estimate(start, length, masks))
    x = song.data[:, 0].astype(np.float64)
    guard = round(0.05 * rate)  # 50 ms: two of the largest frames' hops on each side
    passed = slice(rate + guard, 2 * rate - guard)
    stopped = slice(2 * rate + guard, 3 * rate - guard)
    assert db(separated[passed, 0] - x[passed], x[passed]) < -40
    assert db(separated[stopped, 0], x[stopped]) < -40


@pytest.mark.parametrize("rate", [48_000, 96_000])
@pytest.mark.parametrize("hops", HOPS)
def test_one_frame_of_mask_lands_at_its_time(rate: int, hops: int) -> None:
    """A mask open in one analysis frame only passes sound centred on that frame's time."""
    song = make_song(np.full((rate, 1), 0.5), rate)
    start, length, frame, n = 22_050, 22_050, 40 * hops // 2, 512  # region 0.5 s .. 1 s
    mask = np.zeros(mask_shape(n, length, hops), np.float32)
    mask[:, frame] = 1.0
    separated, _ = render_stems(song, Estimate(start, length, {n: mask}, hops_per_window=hops))
    # On DC the stem is a sum of symmetric squared windows, one per song frame, weighted by the
    # carried mask: its centroid is the mask-weighted mean of the frame centres.
    weight = separated[:, 0]
    centre = np.sum(weight * np.arange(song.frames)) / np.sum(weight) / rate
    expected = (start + frame * n // hops) / ANALYSIS_RATE
    assert abs(centre - expected) < 0.05e-3, (centre, expected)  # one hop is 5.8 ms


def test_free_mode_places_resampled_audio_in_every_channel() -> None:
    rate = 48_000
    song = noise_song(rate, 2, seconds=2.0)
    start, length = 22_050, 44_100
    audio = (0.2 * np.sin(2 * np.pi * 440 * np.arange(length) / ANALYSIS_RATE)).astype(np.float32)
    separated, residual = render_stems(song, Estimate(start, length, audio=audio))
    s0, s1 = song_span(Estimate(start, length), rate, song.frames)
    assert (s0, s1) == (24_000, 72_000)
    assert np.all(separated[:s0] == 0) and np.all(separated[s1:] == 0)
    assert np.array_equal(separated[:, 0], separated[:, 1])
    expected = 0.2 * np.sin(2 * np.pi * 440 * np.arange(s1 - s0) / rate)
    keep = slice(1000, s1 - s0 - 1000)
    assert np.abs(separated[s0:s1][keep, 0] - expected[keep]).max() < 1e-3
    assert np.abs(separated + residual - song.data).max() <= 1e-15


def test_bad_masks_are_refused() -> None:
    song = noise_song(44_100, 1, seconds=0.5)
    start, length = whole(song)
    with pytest.raises(ValueError, match="shape"):
        render_stems(song, Estimate(start, length, {1024: np.ones((513, 3), np.float32)}))
    coarse = np.ones(mask_shape(1024, length), np.float32)  # a hop-n/2 mask said to be n/4
    with pytest.raises(ValueError, match="shape"):
        render_stems(song, Estimate(start, length, {1024: coarse}, hops_per_window=4))
    with pytest.raises(ValueError, match="2 or 4"):
        render_stems(song, Estimate(start, length, {1024: coarse}, hops_per_window=3))
    with pytest.raises(ValueError, match="neither"):
        render_stems(song, Estimate(start, length))


def test_song_fft_size_spans_the_same_time() -> None:
    assert song_fft_size(2048, 44_100) == 2048
    assert song_fft_size(2048, 48_000) == 2230  # 2229.1 rounded to even
    assert song_fft_size(512, 96_000) == 1114
    assert song_fft_size(2048, 8_000) % 2 == 0
    # at hop n/4 the size is a multiple of 4, so that the hop is a whole number of samples
    assert song_fft_size(2048, 44_100, 4) == 2048 and song_fft_size(2048, 22_050, 4) == 1024
    assert song_fft_size(2048, 48_000, 4) == 2228  # 2229.1 to a multiple of 4


def test_song_shorter_than_the_fft_size() -> None:
    song = noise_song(96_000, 2, seconds=0.01)  # 960 samples, FFT size 4458 at this rate
    start, length = whole(song)
    separated, residual = render_stems(song, constant_estimate(start, length, 1.0))
    assert np.abs(separated - song.data).max() < 1e-9
    assert np.abs(separated + residual - song.data).max() <= 1e-15


@pytest.mark.slow
def test_three_minute_song_renders_fast() -> None:
    rate = 48_000
    song = noise_song(rate, 2, seconds=180.0)
    estimate = random_estimate(60 * ANALYSIS_RATE, 20 * ANALYSIS_RATE)
    render_stems(song, random_estimate(0, 4096))  # warm the FFT plan caches up
    began = time.perf_counter()
    separated, _ = render_stems(song, estimate)
    seconds = time.perf_counter() - began
    assert separated.shape == song.data.shape
    assert seconds < 6.0, f"render_stems took {seconds:.2f} s"


@pytest.mark.parametrize("fmt", [ExportFormat.WAV32, ExportFormat.WAV16])
def test_shared_stems_and_their_rest_add_back_up_to_the_song(tmp_path: Path, fmt) -> None:
    rate = 48_000
    rng = np.random.default_rng(5)
    pcm = np.round(0.2 * rng.standard_normal((rate, 2)) * 2**15) / 2**15  # a 16-bit song
    song = make_song(pcm, rate, "PCM_16")
    start, length = 4410, ANALYSIS_RATE // 2
    estimates = {name: random_estimate(start, length, seed)
                 for seed, name in enumerate(("piano", "drums", "bass"))}  # fmt: skip
    stems, rest = export_shared_stems(song, estimates, tmp_path, fmt, {"piano": {"tags": "p"}})
    assert [p.name for p in stems] == [f"synthetic - {n}{fmt.extension}" for n in estimates]
    assert rest.name == f"synthetic - no piano + drums + bass{fmt.extension}"
    decoded = [sf.read(p, dtype="float64")[0] for p in (*stems, rest)]
    error = np.abs(sum(decoded) - song.data).max()
    assert error <= (1e-6 if fmt is ExportFormat.WAV32 else 0.0), error
    # Each stem is its shared estimate rendered onto the song: a bin is never given out twice.
    for path, estimate in zip(stems, share(estimates).values(), strict=True):
        expected, _ = render_stems(song, estimate)
        np.testing.assert_allclose(sf.read(path, dtype="float64")[0], expected,
                                   atol=1e-6 if fmt is ExportFormat.WAV32 else 2**-15)  # fmt: skip
    # The random masks claim about 1.5 times every bin in all, so sharing took something away.
    alone, _ = render_stems(song, estimates["piano"])
    assert np.sum(decoded[0] ** 2) < 0.9 * np.sum(alone**2)
    assert "tags: p" in sf.SoundFile(stems[0]).comment
    assert "rest (song minus every stem)" in sf.SoundFile(rest).comment


@pytest.mark.parametrize("rate", [44_100, 96_000])
@pytest.mark.parametrize("where", ["whole", "region", "past the end"])
@pytest.mark.parametrize("block_seconds", [0.004, 0.37, 1.0])
@pytest.mark.parametrize("hops", HOPS)
def test_blocks_put_together_are_the_whole_rendering(
    rate: int, where: str, block_seconds: float, hops: int
) -> None:
    song = noise_song(rate, 2, seconds=2.5)  # shorter than a block of render_stems: one block
    start, length = {"whole": whole(song), "region": (20_000, 60_000),
                     "past the end": (80_000, 60_000)}[where]  # fmt: skip
    estimate = random_estimate(start, length, hops=hops)
    reference, _ = render_stems(song, estimate)
    blocks = list(separated_blocks(song, estimate, block_seconds))
    size = round(block_seconds * rate)  # 0.004 s: blocks shorter than an FFT frame
    assert [span.start for span, _ in blocks] == list(range(0, song.frames, size))
    assert all(part.shape == (span.stop - span.start, 2) for span, part in blocks)
    together = np.concatenate([part for _, part in blocks])
    np.testing.assert_allclose(together, reference, rtol=0, atol=1e-12)
    assert np.any(reference)


def test_a_bad_estimate_fails_before_the_first_block() -> None:
    song = noise_song(44_100, 1)
    with pytest.raises(ValueError, match="expected"):
        separated_blocks(song, Estimate(0, 4096, {1024: np.ones((513, 3), np.float32)}))
    with pytest.raises(ValueError, match="neither masks nor audio"):
        separated_blocks(song, Estimate(0, 4096))


@pytest.mark.slow
def test_writing_stems_takes_the_same_memory_for_a_long_song(tmp_path: Path) -> None:
    peaks = {}
    for seconds in (20.0, 120.0):
        song = noise_song(44_100, 2, seconds=seconds)
        estimate = random_estimate(*whole(song))
        tracemalloc.start()
        try:
            export_stems(song, estimate, tmp_path / f"{seconds:g}", ["x"], ExportFormat.WAV24)
            peaks[seconds] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    whole_song_float64 = 120 * 44_100 * 2 * 8  # 85 MB: rendering at once needed several
    assert peaks[120.0] < 1.2 * peaks[20.0], peaks
    assert peaks[120.0] < whole_song_float64 / 2, peaks


def test_the_rest_of_jukebox_stems_says_which_backend_made_it_and_its_licence(
    tmp_path: Path,
) -> None:
    rate = 48_000
    song = make_song(0.1 * np.random.default_rng(6).standard_normal((rate // 2, 2)), rate)
    estimates = {name: random_estimate(0, ANALYSIS_RATE // 4, seed)
                 for seed, name in enumerate(("piano", "drums"))}  # fmt: skip
    made = {name: {"backend": "jukebox", "tags": name} for name in estimates}
    stems, rest = export_shared_stems(song, estimates, tmp_path, ExportFormat.WAV16, made)
    assert "Noncommercial" in sf.SoundFile(stems[0]).comment
    comment = sf.SoundFile(rest).comment
    assert "backend: jukebox" in comment and "Noncommercial" in comment


@pytest.mark.parametrize("frames", [192_001, 192_002, 192_050])
def test_a_region_to_the_end_of_the_song_reaches_its_last_sample(frames: int) -> None:
    """At 192 kHz a region's end in seconds, rounded to 44.1 kHz and back, may fall a sample
    or two short of the song's end: its stem must neither drop them nor fade out there."""
    rate = 192_000
    song = make_song(np.full((frames, 2), 0.5), rate)
    region = Region(0.5, song.duration)
    start, length = analysis_span(song, region)
    separated, residual = render_stems(song, constant_estimate(start, length, 1.0, hops=4))
    tail = slice(frames - round(FADE_SECONDS * rate), frames)
    np.testing.assert_allclose(separated[tail], 0.5, atol=1e-9)
    assert np.abs(residual[tail]).max() < 1e-9


SONG_CASES = {  # (seconds of the song, region in seconds or None for the whole song)
    "whole": (1.5, None),
    "at the start": (1.5, (0.0, 0.6)),
    "at the end": (1.5, (0.9, 1.5)),
    "the shortest": (1.5, (0.2, 0.7)),  # 0.7 - 0.2 is just under 0.5 in floats
    "shorter than a window": (0.004, None),
    "a block and a sample": (None, None),
}


@pytest.mark.parametrize(("rate", "channels"), [(8_000, 6), (192_000, 1)])
@pytest.mark.parametrize("case", sorted(SONG_CASES))
@pytest.mark.parametrize("made", ["hop n/2", "hop n/4", "free"])
def test_the_stems_keep_the_song_and_add_back_up_to_it_wherever_the_region_lies(
    rate: int, channels: int, case: str, made: str, tmp_path: Path
) -> None:
    """Whatever the rate, channels, region and backend's kind of estimate: the stems are the
    song's length, rate and channels, silent and the song outside the region, and add back up
    to it: exactly in float64, to float32 rounding as float WAV, to one LSB as 16/24-bit PCM;
    and so do the stems of several instruments with their rest."""
    seconds, where = SONG_CASES[case]
    frames = round(BLOCK_SECONDS * rate) + 1 if seconds is None else round(seconds * rate)
    song = make_song(0.1 * np.random.default_rng(rate + channels).standard_normal(
        (frames, channels)), rate)  # fmt: skip
    start, length = analysis_span(song, None if where is None else Region(*where))
    if made == "free":
        audio = 0.05 * np.random.default_rng(2).standard_normal(length).astype(np.float32)
        estimate = Estimate(start, length, audio=audio)
    else:
        estimate = random_estimate(start, length, hops=2 if made == "hop n/2" else 4)
    separated, residual = render_stems(song, estimate)
    assert separated.shape == residual.shape == song.data.shape
    assert np.abs(separated + residual - song.data).max() <= 1e-15
    s0, s1 = song_span(estimate, rate, frames)
    assert (s0, s1) == (round(where[0] * rate), round(where[1] * rate)) if where else (0, frames)
    assert not separated[:s0].any() and not separated[s1:].any()
    assert np.abs(separated[s0:s1]).max() > 1e-3
    for fmt in (ExportFormat.WAV32, ExportFormat.WAV24, ExportFormat.FLAC16):
        paths = export_stems(song, estimate, tmp_path / fmt.value, ["x"], fmt)
        (sep, sep_rate), (res, res_rate) = (sf.read(p, always_2d=True) for p in paths)
        assert sep_rate == res_rate == rate and sep.shape == res.shape == song.data.shape
        lsb = 2.0 ** (1 - fmt.bits) if fmt.bits else 2.0**-24
        assert np.abs(sep + res - song.data).max() <= lsb, fmt
        assert not sep[:s0].any() and not sep[s1:].any()
        if fmt.bits is None:  # outside the region the residual is the song, bit for bit
            assert np.array_equal(res[:s0], song.data[:s0])
            assert np.array_equal(res[s1:], song.data[s1:])
    if made == "free":  # free-mode stems have no mask to share
        return
    hops = estimate.hops_per_window  # a mask of ones passes the region to its last sample
    passed, _ = render_stems(song, constant_estimate(start, length, 1.0, hops))
    kept = inner(song, estimate)
    np.testing.assert_allclose(passed[kept], song.data[kept], rtol=0, atol=1e-9)
    # a job of three instruments: their stems and the rest
    several = {name: random_estimate(start, length, seed, hops) for seed, name in enumerate("abc")}
    stems, rest = export_shared_stems(song, several, tmp_path / "job", ExportFormat.FLAC24)
    decoded = [sf.read(p, always_2d=True)[0] for p in (*stems, rest)]
    assert all(d.shape == song.data.shape for d in decoded)
    assert np.abs(sum(decoded) - song.data).max() <= 2.0**-23


@pytest.mark.parametrize("fmt", [ExportFormat.WAV32, ExportFormat.FLAC16])
def test_stems_interrupted_at_any_block_leave_the_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: ExportFormat
) -> None:
    """Ctrl+C (or any error) while a job's stems are written, at any of their blocks: no file
    and no folder the writing made is left, and the old stems it was replacing are kept."""
    from tagbox_gui.core.audio import export

    rate = 8_000
    song = make_song(0.1 * np.random.default_rng(8).standard_normal((9 * rate + 1, 2)), rate)
    start, length = whole(song)
    estimates = {name: random_estimate(start, length, seed) for seed, name in enumerate("ab")}
    old = tmp_path / "old"
    export_shared_stems(song, estimates, old, fmt)
    before = {path.name: path.read_bytes() for path in old.iterdir()}
    quantise = export.quantise

    def interrupted_at(at: int):
        calls = iter(range(1, 10**6))
        return lambda data, to: quantise(data, to) if next(calls) != at else _interrupt()

    for at in range(1, 2 * len(block_spans(song)) + 1):  # two stems quantised per block
        for outdir, overwrite in ((tmp_path / "new" / "stems", False), (old, True)):
            monkeypatch.setattr(export, "quantise", interrupted_at(at))
            with pytest.raises(KeyboardInterrupt):
                export_shared_stems(song, estimates, outdir, fmt, overwrite=overwrite)
        assert not (tmp_path / "new").exists(), at
        assert {path.name: path.read_bytes() for path in old.iterdir()} == before


def _interrupt() -> np.ndarray:
    raise KeyboardInterrupt
