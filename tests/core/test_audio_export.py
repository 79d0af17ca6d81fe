"""Writing stems: their names, their provenance, audio files written atomically, and stems that
add back up to the song in every format."""

from __future__ import annotations

import logging
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
from tagbox_gui.core.audio.song import analysis_signal, load_song
from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.types import ANALYSIS_RATE, Estimate
from tests.core.audio_samples import RATE, in_song, one_sentence, sine, stereo

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


@pytest.mark.parametrize("fmt", [ExportFormat.WAV16, ExportFormat.WAV32, ExportFormat.FLAC24])
def test_a_long_provenance_reads_back_with_every_line(fmt: ExportFormat, tmp_path: Path) -> None:
    # libsndfile reads no WAV INFO text of more than 2045 bytes: an example clip deep in folders
    # named in Japanese must not leave the stem without any provenance
    # and one folder's name is not UTF-8 (Latin-1 bytes, kept by Python as surrogates)
    latin = b"Caf\xe9".decode(errors="surrogateescape")
    clip = "/" + "/".join(["サンプル素材フォルダ" * 8] * 8) + f"/{latin}/organ.wav"
    made = {
        "tags": "",
        "backend": "learned",
        "query": f"example: 1-3 s of {clip}",
        "region": "whole song",
        "second look": "asked again in the song without bass",
    }
    song = in_song(0.1 * np.random.default_rng(1).standard_normal((RATE, 2)), RATE, name="Tune")
    paths = export_stems(song, ones_estimate(0, 22_050), tmp_path, ["organ"], fmt, made)
    for path in paths:
        with sf.SoundFile(path) as handle:
            comment = handle.comment
        assert [line.split(":")[0] for line in comment.splitlines()[2:]] == list(made)
        query = comment.splitlines()[4]
        assert query.startswith("query: example: 1-3 s of /サンプル")
        assert query.endswith("/organ.wav")
        assert comment.endswith("second look: asked again in the song without bass")
        whole = clip.encode(errors="surrogateescape").decode(errors="replace")  # "Caf�"
        assert (len(comment.encode()) <= 2045) if fmt.container == "WAV" else (whole in comment)


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


def test_no_stem_replaces_the_song_itself(tmp_path: Path) -> None:
    """A song named after a stem ("piano.wav", "{stem}"), its stems written beside it: even
    with ``overwrite`` (meant for old stems) the song is kept and nothing is written."""
    for name, parts in (("piano", ["piano"]), ("no drums + bass", ["drums", "bass"])):
        path = tmp_path / f"{name}.wav"
        sf.write(path, 0.2 * np.random.default_rng(5).standard_normal((RATE // 2, 2)), RATE)
        original = path.read_bytes()
        song = load_song(path)
        estimate = ones_estimate(0, len(analysis_signal(song)), value=0.5)
        with pytest.raises(AudioError) as error:
            if len(parts) == 1:
                export_stems(song, estimate, tmp_path, parts, overwrite=True, template="{stem}")
            else:
                export_shared_stems(song, dict.fromkeys(parts, estimate), tmp_path,
                                    overwrite=True, template="{stem}")  # fmt: skip
        assert f"'{path.name}'" in one_sentence(error) and "the song itself" in str(error.value)
        assert path.read_bytes() == original and list(tmp_path.iterdir()) == [path]
        path.unlink()


def test_only_some_stems_are_written_as_the_whole_set_writes_them(tmp_path: Path) -> None:
    """``only`` writes just the stems chosen, each the file a full export writes (the rest is
    still the song minus every stem, as 16-bit); a stem left out may even be the song's name."""
    rng = np.random.default_rng(6)
    song = in_song(0.1 * rng.standard_normal((RATE, 2)), RATE, name="Tune")
    estimates = {"piano": ones_estimate(0, 22_050, 0.6), "drums": ones_estimate(0, 22_050, 0.3)}
    fmt = ExportFormat.WAV16
    stems, rest = export_shared_stems(song, estimates, tmp_path / "all", fmt, {"drums": {"a": "b"}})
    some, some_rest = export_shared_stems(song, estimates, tmp_path / "some", fmt,
                                          {"drums": {"a": "b"}}, only=[2, 1])  # fmt: skip
    assert [p.name for p in (*some, some_rest)] == [p.name for p in (*stems, rest)]
    assert sorted(p.name for p in (tmp_path / "some").iterdir()) == [stems[1].name, rest.name]
    for written, full in ((some[1], stems[1]), (some_rest, rest)):
        assert written.read_bytes() == full.read_bytes()
    piano = tmp_path / "piano.wav"  # the song is named as the separated stem would be
    sf.write(piano, song.data, RATE)
    song = load_song(piano)
    residual = export_stems(song, estimates["piano"], tmp_path, ["piano"], fmt,
                            template="{stem}", only=[1])[1]  # fmt: skip
    assert residual.name == "no piano.wav" and residual.is_file()
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["no piano.wav", "piano.wav"]


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


@pytest.mark.parametrize("where", ["itself", "above"])
def test_an_output_folder_that_is_a_file_is_named_as_one(tmp_path: Path, where: str) -> None:
    song = in_song(np.zeros((RATE, 1)), RATE, name="Tune")
    (tmp_path / "notes.txt").write_text("mine")
    outdir = tmp_path / "notes.txt" / ("" if where == "itself" else "stems")
    with pytest.raises(AudioError) as refused:
        export_stems(song, ones_estimate(0, 22_050), outdir, ["piano"], ExportFormat.WAV16)
    message = str(refused.value)
    assert f"'{tmp_path / 'notes.txt'}' is a file, not a folder" in message, message
    assert "File exists" not in message and (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("where", ["itself", "above"])
def test_an_output_folder_that_links_to_nothing_is_said_to_be_such_a_link(
    tmp_path: Path, where: str
) -> None:
    # ~/Stems -> /media/usb/Stems with the drive not plugged in: it was said to be 'a file, not
    # a folder', where the command line's check says what it is (one rule for both).
    song = in_song(np.zeros((RATE, 1)), RATE, name="Tune")
    (tmp_path / "Stems").symlink_to(tmp_path / "usb" / "Stems")
    outdir = tmp_path / "Stems" / ("" if where == "itself" else "take 1")
    with pytest.raises(AudioError) as refused:
        export_stems(song, ones_estimate(0, 22_050), outdir, ["piano"], ExportFormat.WAV16)
    message = str(refused.value)
    link = f"'{tmp_path / 'Stems'}' is a link to '{tmp_path / 'usb' / 'Stems'}', which is not there"
    assert link in message and "plug it in" in message, message
    assert "not a folder" not in message and not (tmp_path / "usb").exists()


def test_an_output_folder_that_leads_back_to_itself_is_said_to_be_such_a_link(
    tmp_path: Path,
) -> None:
    song = in_song(np.zeros((RATE, 1)), RATE, name="Tune")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(AudioError) as refused:
        export_stems(song, ones_estimate(0, 22_050), tmp_path / "a", ["x"], ExportFormat.WAV16)
    message = str(refused.value)
    assert f"'{tmp_path / 'a'}' is a symbolic link that leads back to itself" in message, message
    assert "not a folder" not in message and "not there" not in message
