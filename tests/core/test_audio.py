"""Loading songs, the analysis signal, the loudest region and writing stems."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui import APP_NAME, __version__
from tagbox_gui.core.audio import export as audio_export
from tagbox_gui.core.audio.export import export_shared_stems, export_stems, format_provenance
from tagbox_gui.core.audio.files import ExportFormat, container_for, write_audio
from tagbox_gui.core.audio.naming import stem_names
from tagbox_gui.core.audio.song import (
    Song,
    analysis_signal,
    analysis_span,
    load_song,
    loudest_region,
)
from tagbox_gui.core.errors import AudioError, UserError
from tagbox_gui.core.types import ANALYSIS_RATE, Estimate, Region
from tests.conftest import REPO

RATE = 48_000


def sine(freq: float, rate: int, seconds: float, amp: float = 0.3) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(round(rate * seconds)) / rate)


def stereo(rate: int = RATE, seconds: float = 0.5) -> np.ndarray:
    return np.stack([sine(440, rate, seconds), sine(660, rate, seconds, 0.2)], axis=1)


def in_song(data: np.ndarray, rate: int, subtype: str = "FLOAT", name: str = "song") -> Song:
    data = np.asarray(data, dtype=np.float32)
    return Song(Path(f"{name}.wav"), name, data, rate, subtype, "WAV")


def one_sentence(error: pytest.ExceptionInfo[AudioError]) -> str:
    text = str(error.value)
    assert "\n" not in text and text.endswith(".") and text.count(". ") == 0, text
    return text


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


def test_zero_length(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 2)), RATE, subtype="PCM_16")
    with pytest.raises(AudioError) as error:
        load_song(path)
    assert "zero length" in one_sentence(error)


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n" * 50)
    with pytest.raises(AudioError) as error:
        load_song(path)
    assert "cannot be read as audio" in one_sentence(error)
    assert isinstance(error.value, UserError)


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


def test_analysis_span() -> None:
    song = in_song(np.zeros((RATE * 3, 1)), RATE)
    assert analysis_span(song, None) == (0, 3 * ANALYSIS_RATE)
    assert analysis_span(song, Region(1.0, 2.5)) == (ANALYSIS_RATE, 66_150)
    assert analysis_span(song, Region(2.0, 9.0)) == (2 * ANALYSIS_RATE, ANALYSIS_RATE)


# ---------------------------------------------------------------- names and metadata


def test_stem_names_and_sanitising() -> None:
    assert stem_names("Song", ["piano"]) == ("Song - piano", "Song - no piano")
    assert stem_names("Song", ["drums", "bass"]) == (
        "Song - drums + bass",
        "Song - no drums + bass",
    )
    sep, res = stem_names('a/b\\c:d*e?f"g<h>i|j', ["x/y", "  "])
    assert sep == "a_b_c_d_e_f_g_h_i_j - x_y" and res == "a_b_c_d_e_f_g_h_i_j - no x_y"
    assert stem_names("con", [])[0] == "con - separated"
    assert stem_names("...", ["nul"]) == ("song - nul", "song - no nul")
    long_sep, long_res = stem_names("S" * 100, ["guitar"] * 60)
    assert len(long_res.encode()) + len(".flac") <= 205 and long_sep.endswith("…")


def test_provenance_text() -> None:
    text = format_provenance({"tags": "piano", "backend": "jukebox", "steps": "100"}, "separated")
    lines = text.splitlines()
    assert lines[:4] == [
        f"{APP_NAME} {__version__}",
        "stem: separated",
        "tags: piano",
        "backend: jukebox",
    ]
    assert any("Noncommercial" in line for line in lines)
    assert "Noncommercial" not in format_provenance({"backend": "light"}, "separated")


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_write_audio_metadata_reads_back(fmt: ExportFormat, tmp_path: Path) -> None:
    path = tmp_path / f"x{fmt.extension}"
    meta = {"title": "Song - piano ♪", "comment": "line one\nline two", "software": "TagBox"}
    write_audio(path, stereo(), RATE, fmt, meta)
    with sf.SoundFile(path) as handle:
        assert (handle.format, handle.subtype) == (fmt.container, fmt.subtype)
        assert handle.title == meta["title"] and handle.comment == meta["comment"]
        assert handle.software.startswith("TagBox")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_huge_wav_becomes_rf64() -> None:
    two_hours_96k = 2 * 3600 * 96_000
    assert container_for(ExportFormat.WAV32, two_hours_96k, 2) == "RF64"  # 5.1 GiB
    assert container_for(ExportFormat.WAV16, two_hours_96k, 2) == "WAV"  # 1.3 GiB
    assert container_for(ExportFormat.FLAC24, 4 * two_hours_96k, 8) == "FLAC"
    assert container_for(ExportFormat.WAV32, 10 * 60 * 48_000, 2) == "WAV"


def test_write_audio_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keep.wav"
    write_audio(path, stereo(), RATE)
    before = path.read_bytes()

    def broken(self: sf.SoundFile, data: np.ndarray) -> None:
        raise sf.LibsndfileError(0, "disk full")

    monkeypatch.setattr(sf.SoundFile, "write", broken)
    with pytest.raises(AudioError) as error:
        write_audio(path, 0.5 * stereo(), RATE)
    one_sentence(error)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]  # temporary removed
    with pytest.raises(AudioError):
        write_audio(tmp_path / "no such folder" / "x.wav", stereo(), RATE)


def test_flac_of_more_than_eight_channels_is_refused_before_writing(tmp_path: Path) -> None:
    nine = np.zeros((RATE // 10, 9))
    with pytest.raises(AudioError, match="FLAC holds at most 8 channels") as error:
        write_audio(tmp_path / "nine.flac", nine, RATE, ExportFormat.FLAC24)
    one_sentence(error)
    assert list(tmp_path.iterdir()) == []
    write_audio(tmp_path / "nine.wav", nine, RATE, ExportFormat.WAV24)  # WAV holds them
    assert sf.info(str(tmp_path / "nine.wav")).channels == 9


# ---------------------------------------------------------------- exported stems


def ones_estimate(start: int, length: int, value: float = 0.7) -> Estimate:
    masks = {
        n: np.full((n // 2 + 1, 1 + length // (n // 2)), value, np.float32) for n in (1024, 512)
    }
    return Estimate(start, length, masks)


def read_pair(paths: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray, int]:
    (sep, rate), (res, _) = (sf.read(p, always_2d=True) for p in paths)
    return sep, res, rate


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_exported_stems_sum_to_the_song(fmt: ExportFormat, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    song = in_song(0.1 * rng.standard_normal((RATE, 2)), RATE, name="Tune")
    paths = export_stems(
        song, ones_estimate(4_410, 22_050), tmp_path, ["piano"], fmt, {"tags": "piano"}
    )
    assert [p.name for p in paths] == [
        f"Tune - piano{fmt.extension}",
        f"Tune - no piano{fmt.extension}",
    ]
    sep, res, rate = read_pair(paths)
    assert rate == RATE and sep.shape == res.shape == song.data.shape
    lsb = 2.0 ** (1 - fmt.bits) if fmt.bits else 0.0
    assert np.abs(sep + res - song.data).max() <= (2 * lsb if fmt.bits else 1e-6)
    assert np.all(sep[:4_000] == 0)  # before the region: silence, and the song in the residual
    assert np.abs(res[:4_000] - song.data[:4_000]).max() <= (lsb / 2 if fmt.bits else 0.0)
    with sf.SoundFile(paths[1]) as handle:
        assert handle.title == "Tune - no piano"
        assert "stem: residual" in handle.comment and "tags: piano" in handle.comment
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize(
    ("subtype", "fmt"),
    [
        ("PCM_16", ExportFormat.WAV16),
        ("PCM_16", ExportFormat.FLAC16),
        ("PCM_24", ExportFormat.WAV24),
        ("PCM_24", ExportFormat.FLAC24),
        ("PCM_16", ExportFormat.WAV24),
    ],
)
def test_pcm_song_is_rebuilt_exactly(subtype: str, fmt: ExportFormat, tmp_path: Path) -> None:
    path = tmp_path / "pcm.wav"
    rng = np.random.default_rng(4)
    sf.write(path, 0.2 * rng.standard_normal((RATE // 2, 2)), RATE, subtype=subtype)
    song = load_song(path)
    estimate = ones_estimate(0, len(analysis_signal(song)), value=0.37)
    sep, res, _ = read_pair(export_stems(song, estimate, tmp_path / "out", ["bass"], fmt))
    assert np.abs(sep).max() > 0.01
    assert np.array_equal(sep + res, song.data.astype(np.float64))


VORBIS_FIVE_ONE = ("FL", "FC", "FR", "BL", "BR", "LFE")
WAVE_FIVE_ONE = ("FL", "FR", "FC", "LFE", "BL", "BR")


@pytest.mark.parametrize("fmt", [ExportFormat.WAV32, ExportFormat.FLAC24])
def test_the_stems_of_a_surround_ogg_keep_its_speakers(fmt: ExportFormat, tmp_path: Path) -> None:
    # libsndfile decodes an OGG in Vorbis order; a WAV or FLAC of 6 channels is in WAVE order.
    speakers = np.stack([sine(110 * (i + 1), RATE, 0.5, 0.1) for i in range(6)], axis=1)
    song = replace(in_song(speakers, RATE), format="OGG", subtype="VORBIS")
    whole = len(analysis_signal(song))
    sep, res, _ = read_pair(export_stems(song, ones_estimate(0, whole, 0.37), tmp_path, ["x"], fmt))
    stems, rest = export_shared_stems(song, {"a": ones_estimate(0, whole, 0.3),
                                             "b": ones_estimate(0, whole, 0.4)},
                                      tmp_path / "shared", fmt)  # fmt: skip
    shared = [sf.read(path, always_2d=True)[0] for path in [*stems, rest]]
    for index, speaker in enumerate(WAVE_FIVE_ONE):  # each file's channel holds that speaker
        heard = song.data[:, VORBIS_FIVE_ONE.index(speaker)]
        np.testing.assert_allclose(sep[:, index] + res[:, index], heard, atol=1e-6)
        np.testing.assert_allclose(sum(s[:, index] for s in shared), heard, atol=1e-6)
        np.testing.assert_allclose(sep[:, index], 0.37 * heard, atol=1e-3)


def test_free_mode_export_gives_what_the_residual_cannot_hold_to_the_stem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    song = in_song(np.full((RATE // 2, 1), 0.8), RATE)
    audio = np.full(ANALYSIS_RATE // 4, -0.8, np.float32)  # residual = 1.6 cannot fit in PCM
    estimate = Estimate(0, len(audio), audio=audio)
    with caplog.at_level(logging.WARNING, logger=audio_export.__name__):
        sep, res, _ = read_pair(export_stems(song, estimate, tmp_path, ["x"], ExportFormat.WAV16))
    assert "is in the stems" in caplog.text and "clipped" not in caplog.text
    lsb = 2.0**-15
    assert np.abs(sep + res - song.data).max() <= lsb and res.max() == 1 - lsb
    np.testing.assert_allclose(sep[: RATE // 5], 0.8 - (1 - lsb), atol=lsb)  # gave back 0.6
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=audio_export.__name__):
        paths = export_stems(song, estimate, tmp_path / "f", ["x"], ExportFormat.WAV32)
    assert caplog.text == ""
    sep, res, _ = read_pair(paths)
    assert np.abs(sep + res - song.data).max() <= 1e-6 and res.max() > 1.5


@pytest.mark.parametrize("fmt", [ExportFormat.FLAC24, ExportFormat.WAV16])
def test_pcm_export_of_a_float_song_past_full_scale_says_the_stem_is_clipped(
    fmt: ExportFormat, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(5)
    song = in_song(1.5 * np.sign(rng.standard_normal((RATE // 2, 2))), RATE)  # peaks of 1.5
    estimate = ones_estimate(0, len(analysis_signal(song)), value=1.0)  # the stem is the song
    with caplog.at_level(logging.WARNING, logger=audio_export.__name__):
        sep, res, _ = read_pair(export_stems(song, estimate, tmp_path, ["x"], fmt))
    assert np.abs(sep).max() <= 1.0 and np.abs(res).max() > 0.4  # its excess is in the rest
    assert "clipped" in caplog.text and "song - x" in caplog.text
