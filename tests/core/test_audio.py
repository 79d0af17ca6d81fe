"""Loading songs, the analysis signal and the loudest region."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.audio import song as song_module
from tagbox_gui.core.audio.song import (
    LoadCancelled,
    analysis_signal,
    analysis_span,
    example_clip,
    load_song,
    loudest_region,
)
from tagbox_gui.core.errors import AudioError, UserError
from tagbox_gui.core.types import ANALYSIS_RATE, Example, Region
from tests.conftest import REPO
from tests.core.audio_samples import (
    RATE,
    flac_of_unknown_length,
    in_song,
    one_sentence,
    sine,
    stereo,
)

# ---------------------------------------------------------------- loading


@pytest.mark.parametrize(
    ("ext", "container", "subtype", "lossless"),
    [
        ("wav", "WAV", "PCM_16", True),
        ("wav", "WAV", "PCM_24", True),
        ("wav", "WAV", "FLOAT", True),
        ("flac", "FLAC", "PCM_24", True),
        ("aiff", "AIFF", "PCM_16", True),
        ("ogg", "OGG", "VORBIS", False),
        ("mp3", "MP3", "MPEG_LAYER_III", False),
    ],
)
def test_each_format_loads(
    ext: str, container: str, subtype: str, lossless: bool, tmp_path: Path
) -> None:
    path = tmp_path / f"My song.{ext}"
    data = stereo(seconds=1.0)
    try:
        sf.write(path, data, RATE, subtype=subtype, format=container)
    except (sf.LibsndfileError, ValueError, TypeError) as exc:  # a capability of libsndfile
        pytest.skip(f"this libsndfile cannot write {container}/{subtype}: {exc}")
    song = load_song(path)
    assert (song.name, song.path, song.rate, song.channels) == ("My song", path, RATE, 2)
    assert (song.format, song.subtype) == (container, subtype)
    assert song.data.dtype == np.float32 and not song.data.flags.writeable
    if lossless:
        assert song.frames == data.shape[0]
        assert np.abs(song.data - data).max() <= 2.0**-15
    else:  # lossy codecs may pad the start or end; the level survives
        assert abs(song.frames - data.shape[0]) < 0.1 * RATE
        assert np.sqrt(np.mean(song.data**2)) == pytest.approx(np.sqrt(np.mean(data**2)), rel=0.2)


class SetAfter(threading.Event):
    """A cancel event that is set once it has been looked at ``looks`` times."""

    def __init__(self, looks: int) -> None:
        super().__init__()
        self.looks = looks

    def is_set(self) -> bool:
        self.looks -= 1
        return self.looks < 0


def test_a_song_is_decoded_in_blocks_and_a_cancel_stops_it_between_them(
    tmp_path: Path, monkeypatch
) -> None:
    """A 2-hour song takes half a minute to decode: a cancel (another song opened, the window
    closed) stops it within a block, not at the end; the blocks make the same samples."""
    path = tmp_path / "song.wav"
    data = stereo(seconds=1.0)[:44_000].astype(np.float32)  # not a whole number of blocks
    sf.write(path, data, RATE, subtype="FLOAT")
    monkeypatch.setattr(song_module, "_READ_FRAMES", 10_000)
    song = load_song(path, threading.Event())
    assert song.frames == 44_000 and np.array_equal(song.data, data)
    with pytest.raises(LoadCancelled):
        load_song(path, SetAfter(2))


def test_decoding_and_the_analysis_signal_tell_their_progress_block_by_block(
    tmp_path: Path, monkeypatch
) -> None:
    """A long song's decoding and analysis signal tell the fraction done after each block,
    rising to 1.0 (the window's bar shows it); the song and the signal are the same as
    without."""
    path = tmp_path / "song.wav"
    data = stereo(seconds=1.0)[:44_000].astype(np.float32)  # not a whole number of blocks
    sf.write(path, data, 48_000, subtype="FLOAT")  # resampled for the analysis signal
    monkeypatch.setattr(song_module, "_READ_FRAMES", 10_000)
    decoded: list[float] = []
    song = load_song(path, threading.Event(), decoded.append)
    assert decoded == [n * 10_000 / 44_000 for n in range(1, 5)] + [1.0]
    assert np.array_equal(song.data, load_song(path).data)
    analysed: list[float] = []
    signal = analysis_signal(song, threading.Event(), analysed.append)
    assert len(analysed) >= 4 and analysed == sorted(analysed) and 0 < analysed[0] < 0.5
    assert analysed[-1] == 1.0
    assert np.array_equal(signal, _analysis_signal_at_once(song))


def test_a_flac_that_does_not_say_its_length_is_one_sentence_with_how_to_convert_it(
    tmp_path: Path,
) -> None:
    """A FLAC encoded to a pipe says 0 samples (libsndfile: the largest count). Loading it was
    'cannot be read as audio (array is too big; `arr.size * arr.dtype.itemsize` ...)', and a
    stretch of it as an example 'Internal psf_fseek() failed': libsndfile cannot go to the end
    of such a file, which reading its last samples does. The musician is told what the file
    lacks and how to convert it, for the song and for an example alike."""
    path = flac_of_unknown_length(tmp_path / "live take.flac", stereo(seconds=1.0))
    with pytest.raises(AudioError) as error:
        load_song(path)
    text = one_sentence(error)
    assert "does not say how long it is" in text
    assert 'ffmpeg -i "live take.flac" "live take.wav"' in text
    for example in (Example(str(path)), Example(str(path), 0.2, 0.8)):
        with pytest.raises(AudioError) as error:
            example_clip(example, in_song(stereo(), RATE))
        assert one_sentence(error) == text


def _mp3(path: Path, seconds: float, *, xing: bool, tag: bytes = b"") -> Path:
    """A variable-bitrate MP3: 2 s of loud noise (dense frames), then quiet (sparse ones),
    with its Xing header or without it (its first frame cut off, as an old encoder wrote it),
    behind ``tag`` (an ID3v2 tag, say)."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(2 * RATE) * 0.3
    audio = np.concatenate([noise, np.zeros(round((seconds - 2) * RATE))]).astype(np.float32)
    sf.write(path, audio, RATE, format="MP3", bitrate_mode="VARIABLE")
    data = path.read_bytes()
    assert data[:2] == b"\xff\xfb" and b"Xing" in data[:64]  # the Xing frame comes first
    if not xing:
        data = data[data.index(b"\xff\xfb", 4) :]  # from the second frame on
    path.write_bytes(tag + data)
    return path


def test_a_vbr_mp3_without_a_length_header_is_refused_not_cut_short(tmp_path: Path) -> None:
    """libsndfile takes the length of an MP3 without a Xing or Info header from its first
    frame's bitrate, and decodes no further: this 20-s song loaded as its first 3.6 s, with no
    word. The musician is told, and how to convert it; with the header it loads whole."""
    whole = load_song(_mp3(tmp_path / "demo.mp3", 20.0, xing=True))
    assert abs(whole.duration - 20.0) < 0.01
    path = _mp3(tmp_path / "old demo.mp3", 20.0, xing=False)
    assert sf.info(path).duration < 5  # what libsndfile would decode
    with pytest.raises(AudioError) as error:
        load_song(path)
    text = one_sentence(error)
    assert "does not say how long it is" in text and "of its 20.0 s" in text
    assert 'ffmpeg -i "old demo.mp3" "old demo.wav"' in text
    with pytest.raises(AudioError) as error:
        example_clip(Example(str(path), 0.5, 1.5), in_song(stereo(), RATE))
    assert one_sentence(error) == text


def test_an_mp3_behind_an_id3_tag_is_walked_to_its_end(tmp_path: Path) -> None:
    """The frames are counted from behind an ID3v2 tag (its size is "synchsafe", 7 bits a
    byte); a tag of 200 bytes that the walk took for frames would end it at once."""
    tag = b"ID3\x04\x00\x00\x00\x00\x01\x3e" + bytes(190)  # 1 * 128 + 62 = 190 bytes
    with pytest.raises(AudioError, match=r"of its 20\.0 s"):
        load_song(_mp3(tmp_path / "tagged.mp3", 20.0, xing=False, tag=tag))
    assert abs(load_song(_mp3(tmp_path / "ok.mp3", 20.0, xing=True, tag=tag)).duration - 20) < 0.01


@pytest.mark.parametrize(("rate", "channels"), [(8_000, 1), (192_000, 2), (44_100, 6)])
def test_rates_and_channel_counts(rate: int, channels: int, tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    data = np.tile(sine(100, rate, 0.1)[:, None], (1, channels))
    sf.write(path, data, rate, subtype="PCM_24")
    song = load_song(path)
    assert (song.rate, song.channels, song.frames) == (rate, channels, data.shape[0])
    assert song.duration == pytest.approx(0.1)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as error:
        load_song(tmp_path / "nothing.wav")
    assert "does not exist" in one_sentence(error)
    with pytest.raises(AudioError) as error:
        load_song(tmp_path)
    assert "folder" in one_sentence(error)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_not_said_to_be_missing(tmp_path: Path) -> None:
    """`tagbox tag <(command)` names a pipe that is there: not a file, but no missing one."""
    pipe = tmp_path / "pipe.wav"
    os.mkfifo(pipe)
    with pytest.raises(AudioError) as error:
        load_song(pipe)
    assert "is not a file on disk (a pipe or a device)" in one_sentence(error)


def test_a_name_too_long_to_look_up_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as error:  # the system refuses to look it up at all
        load_song(tmp_path / ("x" * 300 + ".wav"))
    assert "cannot be opened (File name too long)" in one_sentence(error)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null here")
def test_a_device_is_not_a_song() -> None:
    with pytest.raises(AudioError) as error:  # never opened: a pipe would wait for a writer
        load_song("/dev/null")
    assert "'/dev/null' is not a file" in one_sentence(error)


_LOAD = """
import sys
from tagbox_gui.core.audio.song import load_song
from tagbox_gui.core.errors import AudioError
try:
    load_song(sys.argv[1])
except AudioError as exc:
    print(exc)
"""


def _as_a_user() -> list[str]:
    """What runs a command without root's power to pass over file permissions (nothing when
    not root); skips the test where root cannot drop it."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, and no setpriv to drop the file permission override")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


@pytest.mark.skipif(os.name != "posix", reason="file permissions as POSIX has them")
@pytest.mark.parametrize("locked", ["file", "folder"])
def test_a_song_that_may_not_be_read_says_permission_denied(tmp_path: Path, locked: str) -> None:
    folder = tmp_path / "songs"
    folder.mkdir()
    path = folder / "song.wav"
    sf.write(path, stereo(), RATE)
    if locked == "file":
        path.chmod(0o000)
    else:  # a folder that may not be searched: the file cannot even be looked up
        folder.chmod(0o600)
    try:
        command = [*_as_a_user(), sys.executable, "-c", _LOAD, str(path)]
        said = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60,
                              check=False)  # fmt: skip
    finally:
        folder.chmod(0o700)
        path.chmod(0o600)
    assert said.returncode == 0 and said.stderr == "", said.stderr
    assert said.stdout == (f"'{path}' cannot be opened (Permission denied); check that it can be "
                           "read, or choose another file.\n")  # fmt: skip


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_samples(bad: float, tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    data = sine(440, RATE, 0.1)
    data[100] = bad
    sf.write(path, data, RATE, subtype="FLOAT")
    with pytest.raises(AudioError) as error:
        load_song(path)
    assert "NaN or infinite" in one_sentence(error)


def test_samples_too_loud_to_be_audio_are_refused_and_loud_ones_kept(tmp_path: Path) -> None:
    """A float file may pass full scale (a 1000x peak is read as it is); one near 1e13 would
    overflow the float32 spectra, so it is refused as it is read."""
    path = tmp_path / "loud.wav"
    data = sine(440, RATE, 0.1)
    sf.write(path, data * 1000, RATE, subtype="FLOAT")
    peak = float(np.max(np.abs(data)))  # the sine's own, under 1
    assert float(np.max(np.abs(load_song(path).data))) == pytest.approx(1000 * peak, rel=1e-6)
    sf.write(path, data * 1e13, RATE, subtype="FLOAT")
    with pytest.raises(AudioError) as error:
        load_song(path)
    assert "times full scale, too loud to be audio" in one_sentence(error)


def test_zero_length(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 2)), RATE, subtype="PCM_16")
    with pytest.raises(AudioError) as error:
        load_song(path)
    assert "zero length" in one_sentence(error)
    with pytest.raises(AudioError) as error:  # as an example clip: told alike, not 'the
        example_clip(Example(str(path)), in_song(stereo(), RATE))  # example ends after it does'
    assert "zero length" in one_sentence(error)


def test_a_recording_whose_header_was_never_finished_is_told_apart_from_an_empty_one(
    tmp_path: Path,
) -> None:
    """A recorder that stopped or crashed leaves its WAV's data chunk marked 0 bytes long, the
    samples behind it: libsndfile reads no frames, and 'holds no audio (zero length)' of a file
    of a second's samples (or an hour's) misled. It is told so, with a repair that keeps the
    file (ffmpeg reads such a data chunk to the end of the file)."""
    path = tmp_path / "take 3.wav"
    sf.write(path, stereo(seconds=1.0), RATE, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    data = raw.index(b"data")
    raw[data + 4 : data + 8] = bytes(4)
    path.write_bytes(bytes(raw))
    with pytest.raises(AudioError) as error:
        load_song(path)
    text = one_sentence(error)
    assert "zero length" in text and "though the file is 192 kB" in text
    assert "header was never finished" in text
    assert 'ffmpeg -i "take 3.wav" "take 3 (repaired).wav"' in text
    with pytest.raises(AudioError) as error:
        example_clip(Example(str(path), 0, 0.5), in_song(stereo(), RATE))
    assert one_sentence(error) == text


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n" * 50)
    with pytest.raises(AudioError) as error:
        load_song(path)
    assert "cannot be read as audio" in one_sentence(error)
    assert isinstance(error.value, UserError)


@pytest.mark.parametrize(
    ("name", "start", "kind"),
    [
        ("Song.m4a", b"\0\0\0\x20ftypM4A \0\0\0\0M4A mp42isom", "M4A"),
        ("Song.AAC", b"\xff\xf1\x50\x80", "AAC"),
        ("Song.wma", b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "WMA"),
    ],
)
def test_a_format_libsndfile_cannot_read_is_named_with_how_to_convert_it(
    tmp_path: Path, name: str, start: bytes, kind: str
) -> None:
    """An M4A, AAC or WMA file is a song the musician has, in a format of its own: they are
    told so, and to convert it, not to 'use a WAV, FLAC, OGG, MP3 or AIFF file' as if it were
    no audio (libsndfile only says 'Format not recognised')."""
    path = tmp_path / name
    path.write_bytes(start + bytes(400))
    with pytest.raises(AudioError) as error:
        load_song(path)
    text = one_sentence(error)
    assert f"is in {kind} format" in text and "convert it to WAV or FLAC" in text
    assert f'ffmpeg -i "{name}" "Song.wav"' in text


@pytest.mark.parametrize("rate", [4_000, 384_000])
def test_rate_outside_range(rate: int, tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros(rate // 10), rate, subtype="PCM_16")
    with pytest.raises(AudioError) as error:
        load_song(path)
    assert f"{rate} Hz" in one_sentence(error)


# ---------------------------------------------------------------- analysis signal and region


@pytest.mark.parametrize("rate", [22_050, 44_100, 48_000, 96_000])
def test_analysis_signal_resamples_without_normalising(rate: int) -> None:
    song = in_song(np.stack([sine(1000, rate, 1.0, 0.1)] * 2, axis=1), rate)
    mono = analysis_signal(song)
    assert mono.dtype == np.float32 and mono.ndim == 1
    assert len(mono) == -(-song.frames * ANALYSIS_RATE // rate)
    expected = sine(1000, ANALYSIS_RATE, len(mono) / ANALYSIS_RATE, 0.1)
    keep = slice(1000, len(mono) - 1000)  # the filter's edges see zeros outside the song
    assert np.abs(mono[keep] - expected[keep]).max() < 1e-3


def test_analysis_signal_averages_channels() -> None:
    left = sine(300, ANALYSIS_RATE, 0.2)
    mono = analysis_signal(in_song(np.stack([left, -left, 2 * left], axis=1), ANALYSIS_RATE))
    assert np.allclose(mono, 2 * left / 3, atol=1e-7)


def test_analysis_signal_is_made_once_per_song_and_shared_read_only() -> None:
    data = np.stack([sine(440, 48_000, 0.5)] * 2, axis=1)
    song = in_song(data, 48_000)
    first = analysis_signal(song)
    assert analysis_signal(song) is first  # not resampled again
    with pytest.raises(ValueError):
        first[:10] *= 2  # shared by every caller: nobody changes it in place
    other = analysis_signal(in_song(data, 48_000))  # another song with the same samples
    assert other is not first and np.array_equal(other, first)


def _analysis_signal_at_once(song) -> np.ndarray:
    """The analysis signal as it was made, the whole song resampled at once: the reference."""
    from math import gcd

    from scipy.signal import resample_poly

    mono = np.asarray(song.data).mean(axis=1, dtype=np.float64)
    if song.rate != ANALYSIS_RATE:
        common = gcd(song.rate, ANALYSIS_RATE)
        mono = resample_poly(mono, ANALYSIS_RATE // common, song.rate // common)
    return mono.astype(np.float32)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000, 96_000, 192_000, 37_800])
@pytest.mark.parametrize("block", [641, 5_000, 2**20])
def test_analysis_signal_block_by_block_is_the_same_as_at_once(
    rate: int, block: int, monkeypatch
) -> None:
    """The separator hears the same samples, to the last bit: the blocks overlap by the
    filter's reach, and start where the output's samples fall on the input's."""
    data = 0.1 * np.random.default_rng(rate).standard_normal((3 * rate + 7, 2))
    monkeypatch.setattr(song_module, "_READ_FRAMES", block)
    song = in_song(data, rate)
    assert np.array_equal(analysis_signal(song), _analysis_signal_at_once(song))


def test_making_the_analysis_signal_stops_when_cancelled_and_takes_little_beside_it() -> None:
    """A long song's analysis signal (half a minute and gigabytes for a 2-hour song) stops
    between blocks once its load is cancelled, and makes no float64 copy of the whole song."""
    song = in_song(0.1 * np.random.default_rng(2).standard_normal((150 * 48_000, 2)), 48_000)
    with pytest.raises(LoadCancelled):
        analysis_signal(song, SetAfter(2))
    tracemalloc.start()
    try:
        signal = analysis_signal(song, threading.Event())  # not kept from the cancelled one
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(signal, _analysis_signal_at_once(song))
    assert peak < 2 * signal.nbytes, (peak, signal.nbytes)


def test_loudest_region_finds_the_loud_part() -> None:
    rate = 8_000
    data = 0.01 * np.random.default_rng(0).standard_normal((60 * rate, 2))
    data[40 * rate : 45 * rate] *= 50
    region = loudest_region(in_song(data, rate), 20.0)
    assert region.duration == pytest.approx(20.0)
    assert region.start <= 40.0 and region.end >= 45.0 and region.end <= 60.0


def test_loudest_region_at_the_end_and_short_songs() -> None:
    rate = 8_000
    data = np.zeros((30 * rate, 1))
    data[-rate:] = 0.5
    region = loudest_region(in_song(data, rate), 20.0)
    assert region.end == pytest.approx(30.0, abs=0.011) and region.duration == pytest.approx(20)
    assert loudest_region(in_song(data[: 10 * rate], rate), 20.0) == Region(0.0, 10.0)


def _loudest_region_at_once(song, seconds: float) -> Region:
    """loudest_region as it was, squaring the whole song in float64 at once: the reference."""
    if seconds <= 0 or song.duration <= seconds:
        return Region(0.0, song.duration)
    block = max(1, round(0.01 * song.rate))
    count = song.frames // block
    squares = np.square(song.data[: count * block], dtype=np.float64).sum(axis=1)
    energy = squares.reshape(count, block).sum(axis=1)
    width = min(count, max(1, int(seconds * song.rate // block)))
    running = np.concatenate([[0.0], np.cumsum(energy)])
    best = int(np.argmax(running[width:] - running[:-width]))
    start = best * block / song.rate
    return Region(start, min(song.duration, start + seconds))


@pytest.mark.parametrize(("rate", "channels", "seconds"),
                         [(8_000, 1, 61.3), (44_100, 2, 47.0), (22_050, 6, 33.3),
                          (96_000, 2, 25.0)])  # fmt: skip
def test_loudest_region_block_by_block_chooses_as_at_once(
    rate: int, channels: int, seconds: float, monkeypatch
) -> None:
    rng = np.random.default_rng(rate + channels)
    data = 0.05 * rng.standard_normal((round(seconds * rate), channels))
    data *= np.repeat(rng.uniform(0.2, 2.0, len(data) // rate + 1), rate)[: len(data), None]
    song = in_song(data, rate)
    monkeypatch.setattr(song_module, "_SUM_FRAMES", 7 * rate + 13)  # several, uneven blocks
    for length in (20.0, 5.0, 0.004, seconds - 0.001):
        assert loudest_region(song, length) == _loudest_region_at_once(song, length), length


def test_loudest_region_takes_the_same_memory_for_a_long_song() -> None:
    """A 30-minute song's loudest stretch was found on a float64 copy of all its samples
    (twice the song's size, 1.9 GB at the peak): it is now summed a block at a time."""
    peaks = {}
    for seconds in (60.0, 180.0):
        song = in_song(0.1 * np.random.default_rng(1).standard_normal((round(seconds * 44_100),
                                                                       2)), 44_100)  # fmt: skip
        tracemalloc.start()
        try:
            loudest_region(song, 20.0)
            peaks[seconds] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[180.0] < 1.2 * peaks[60.0], peaks
    assert peaks[180.0] < song.data.nbytes / 2, peaks


def test_analysis_span() -> None:
    song = in_song(np.zeros((RATE * 3, 1)), RATE)
    assert analysis_span(song, None) == (0, 3 * ANALYSIS_RATE)
    assert analysis_span(song, Region(1.0, 2.5)) == (ANALYSIS_RATE, 66_150)
    assert analysis_span(song, Region(2.0, 9.0)) == (2 * ANALYSIS_RATE, ANALYSIS_RATE)
