"""Surround stems keep the song's speakers: the WAV stems of a song of 3 to 8 channels are
WAVE_FORMAT_EXTENSIBLE with the song's channel mask (or WAVE's for their channel count), and
still carry the song's bext chunk and their INFO text; mono and stereo stems are as before."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.audio import files
from tagbox_gui.core.audio.bext import insert_chunk, read_bext_and_mask, set_channel_mask
from tagbox_gui.core.audio.export import export_shared_stems, export_stems
from tagbox_gui.core.audio.files import ExportFormat, write_streams
from tagbox_gui.core.audio.output import UNPOSITIONED, fold, speaker_layout
from tagbox_gui.core.audio.song import analysis_signal, load_song
from tests.core.audio_samples import RATE, in_song
from tests.core.test_bext import (
    TIME_REFERENCE,
    _bext_payload,
    ones_estimate,
    riff_chunks,
    stem_bext,
)

FIVE_ONE = 0x3F  # FL FR FC LFE BL BR: WAVE's (and FLAC's) 5.1
FIVE_ONE_SIDE = 0x60F  # FL FR FC LFE SL SR
MONO_STEREO = {1: 0x4, 2: 0x3}  # FC; FL FR
WAVE_MASKS = {3: 0x7, 4: 0x33, 5: 0x37, 6: 0x3F, 7: 0x70F, 8: 0x63F}  # FLAC's orders by count


def fmt_chunk(path: Path) -> tuple[int, int, int | None]:
    """The file's format tag, channels and dwChannelMask (None where it has none)."""
    payload = dict(riff_chunks(path))[b"fmt "]
    tag, channels = struct.unpack_from("<HH", payload)
    mask = struct.unpack_from("<I", payload, 20)[0] if tag == 0xFFFE else None
    return tag, channels, mask


def surround(channels: int, seconds: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(channels)
    return 0.1 * rng.standard_normal((round(RATE * seconds), channels))


def write_wavex(path: Path, data: np.ndarray, mask: int) -> Path:
    """A 24-bit WAVE_FORMAT_EXTENSIBLE song with ``mask`` and a bext chunk, as a recorder or a
    DAW writes a surround take."""
    sf.write(path, data, RATE, subtype="PCM_24", format="WAVEX")
    raw = bytearray(path.read_bytes())
    fmt = raw.index(b"fmt ") + 8
    struct.pack_into("<I", raw, fmt + 20, mask)
    path.write_bytes(bytes(raw))
    insert_chunk(path, b"bext", _bext_payload(TIME_REFERENCE))
    return path


@pytest.mark.parametrize("mask", [FIVE_ONE, FIVE_ONE_SIDE])
@pytest.mark.parametrize("fmt", [ExportFormat.WAV24, ExportFormat.WAV32])
def test_the_wav_stems_of_a_surround_wavex_keep_its_channel_mask(
    tmp_path: Path, mask: int, fmt: ExportFormat
) -> None:
    song = load_song(write_wavex(tmp_path / "Take.wav", surround(6), mask))
    assert song.channel_mask == mask
    whole = len(analysis_signal(song))
    pair = export_stems(song, ones_estimate(whole, 0.37), tmp_path / "out", ["piano"], fmt)
    stems, rest = export_shared_stems(song, {"a": ones_estimate(whole, 0.3),
                                             "b": ones_estimate(whole, 0.4)},
                                      tmp_path / "shared", fmt)  # fmt: skip
    for paths in (list(pair), [*stems, rest]):
        total = np.zeros(song.data.shape)
        for path in paths:
            assert fmt_chunk(path) == (0xFFFE, 6, mask)
            assert sf.info(str(path)).format == "WAVEX"
            assert struct.unpack_from("<Q", stem_bext(path), 338)[0] == TIME_REFERENCE
            with sf.SoundFile(path) as handle:
                assert (handle.samplerate, handle.channels, handle.frames) == (RATE, 6, song.frames)
                assert handle.title == path.stem and "TagBox GUI" in handle.software
                total += handle.read(always_2d=True)
        if fmt.bits == 24:  # a 24-bit song: rebuilt exactly
            assert np.array_equal(total, song.data.astype(np.float64))
        else:
            assert np.abs(total - song.data).max() < 1e-6


@pytest.mark.parametrize("channels", sorted(WAVE_MASKS))
def test_a_surround_song_that_states_no_mask_gets_waves_for_its_channel_count(
    tmp_path: Path, channels: int
) -> None:
    path = tmp_path / "plain.wav"
    sf.write(path, surround(channels, 0.1), RATE, subtype="PCM_16")
    song = load_song(path)
    assert song.format == "WAV" and song.channel_mask is None
    pair = export_stems(
        song, ones_estimate(4_410, 0.5), tmp_path / "out", ["x"], ExportFormat.WAV16
    )
    for stem in pair:
        assert fmt_chunk(stem) == (0xFFFE, channels, WAVE_MASKS[channels])
    total = sum(sf.read(stem, always_2d=True)[0] for stem in pair)
    assert np.array_equal(total, song.data.astype(np.float64))


def test_the_wav_stems_of_a_surround_ogg_get_waves_mask(tmp_path: Path) -> None:
    song = replace(in_song(surround(6, 0.1), RATE), format="OGG", subtype="VORBIS")
    for stem in export_stems(song, ones_estimate(4_410, 0.5), tmp_path, ["x"]):
        assert fmt_chunk(stem) == (0xFFFE, 6, FIVE_ONE)  # its channels put in WAVE's order


def test_a_surround_stem_past_4_gib_is_rf64_with_the_mask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "_WAV_LIMIT", 0)  # every WAV "too large" for RIFF
    song = load_song(write_wavex(tmp_path / "Take.wav", surround(6, 0.1), FIVE_ONE_SIDE))
    pair = export_stems(
        song, ones_estimate(4_410, 0.5), tmp_path / "out", ["x"], ExportFormat.WAV24
    )
    for stem in pair:
        raw = stem.read_bytes()
        assert raw[:4] == b"RF64" and struct.unpack_from("<Q", raw, 20)[0] == len(raw) - 8
        fmt = raw.index(b"fmt ") + 8
        assert struct.unpack_from("<HH", raw, fmt) == (0xFFFE, 6)
        assert struct.unpack_from("<I", raw, fmt + 20)[0] == FIVE_ONE_SIDE
    total = sum(sf.read(stem, always_2d=True)[0] for stem in pair)
    assert np.array_equal(total, song.data.astype(np.float64))


def blank_peak_time(raw: bytes) -> bytes:
    """``raw`` with its PEAK chunk's timestamp (the second libsndfile wrote it) zeroed."""
    at = raw.find(b"PEAK")
    return raw if at < 0 else raw[: at + 12] + bytes(4) + raw[at + 16 :]


@pytest.mark.parametrize(
    ("channels", "fmt"),
    [(1, ExportFormat.WAV16), (1, ExportFormat.WAV32), (2, ExportFormat.WAV24),
     (2, ExportFormat.WAV32)],
)  # fmt: skip
def test_mono_and_stereo_stems_are_written_as_before(
    tmp_path: Path, channels: int, fmt: ExportFormat
) -> None:
    # Even from a WAVE_FORMAT_EXTENSIBLE song that states where its channels go.
    song = load_song(
        write_wavex(tmp_path / "Take.wav", surround(channels, 0.1), MONO_STEREO[channels])
    )
    for stem in export_stems(song, ones_estimate(4_410, 0.5), tmp_path / "out", ["x"], fmt):
        samples, _ = sf.read(stem, dtype="float32" if fmt.bits is None else "int32")
        plain = tmp_path / stem.name  # the same samples and text as plain WAV, as before
        with sf.SoundFile(stem) as was, sf.SoundFile(plain, "w", RATE, channels, fmt.subtype,
                                                      format="WAV") as handle:  # fmt: skip
            handle.title, handle.software, handle.comment = was.title, was.software, was.comment
            handle.write(samples)
        insert_chunk(plain, b"bext", stem_bext(stem))
        assert fmt_chunk(stem)[0] in (1, 3)
        assert blank_peak_time(stem.read_bytes()) == blank_peak_time(plain.read_bytes())


def test_flac_stems_of_a_surround_song_are_written_as_before(tmp_path: Path) -> None:
    song = load_song(write_wavex(tmp_path / "Take.wav", surround(6, 0.1), FIVE_ONE_SIDE))
    for stem in export_stems(song, ones_estimate(4_410, 0.5), tmp_path, ["x"], ExportFormat.FLAC24):
        assert sf.info(str(stem)).format == "FLAC" and sf.info(str(stem)).channels == 6


def test_a_channel_mask_is_refused_for_a_flac_file(tmp_path: Path) -> None:
    shapes, rows = [(10, 6)], [[np.zeros((10, 6), np.float32)]]
    with pytest.raises(ValueError, match="belongs in a WAV file, not in FLAC"):
        write_streams([(tmp_path / "a.flac", {})], shapes, rows, RATE, ExportFormat.FLAC24,
                      overwrite=False, channel_mask=FIVE_ONE)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_mask_is_set_only_in_a_wave_format_extensible_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.wav"
    sf.write(path, surround(6, 0.01), RATE, subtype="PCM_16")
    raw = path.read_bytes()
    with pytest.raises(ValueError, match="WAVE_FORMAT_EXTENSIBLE"):
        set_channel_mask(path, FIVE_ONE)
    assert path.read_bytes() == raw and read_bext_and_mask(path)[1] is None
    sf.write(path, surround(6, 0.01), RATE, subtype="PCM_16", format="WAVEX")
    set_channel_mask(path, FIVE_ONE_SIDE)
    assert read_bext_and_mask(path)[1] == FIVE_ONE_SIDE and sf.info(str(path)).channels == 6


@pytest.mark.parametrize(
    ("mask", "speakers"),
    [(0x7, ("FL", "FR", "FC", UNPOSITIONED)),  # fewer speakers than channels: the last has none
     (0x3F, ("FL", "FR", "FC", "LFE"))],  # more: those past the channels are not there
)  # fmt: skip
def test_a_mask_that_names_fewer_or_more_speakers_than_channels_is_read_alike_everywhere(
    tmp_path: Path, mask: int, speakers: tuple[str, ...]
) -> None:
    """As WAVE_FORMAT_EXTENSIBLE reads a mask: its speakers are the first channels', in the
    order of its bits; channels past them have no speaker, and speakers past the channels are
    not there. Playback folds the song so, and the stems keep the mask, which says the same.
    (Playback took such a mask for none, and folded a quad as FL FR BL BR.)"""
    song = load_song(write_wavex(tmp_path / "Take.wav", surround(4, 0.1), mask))
    assert song.channel_mask == mask
    layout = speaker_layout(song.channels, song.format, song.channel_mask)  # as the window does
    assert layout == speakers
    last = np.zeros((8, 4), dtype=np.float32)
    last[:, 3] = 0.6
    left, right = fold(last, 2, layout)[0]
    if speakers[3] == "LFE":
        assert left == right == 0.0  # a stereo fold leaves the LFE out
    else:
        assert left == pytest.approx(right) and left > 0  # no place: into both sides alike
    for stem in export_stems(song, ones_estimate(4_410, 0.5), tmp_path / "out", ["x"]):
        assert fmt_chunk(stem) == (0xFFFE, 4, mask)
