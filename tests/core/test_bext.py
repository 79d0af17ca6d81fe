"""Broadcast WAV: a song's bext chunk (its place on a DAW's timeline) goes into its WAV stems,
which soundfile still reads, with the same samples as without it."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.audio.bext import insert_chunk
from tagbox_gui.core.audio.bext import stem_bext as make_stem_bext
from tagbox_gui.core.audio.export import export_shared_stems, export_stems
from tagbox_gui.core.audio.files import ExportFormat, write_streams
from tagbox_gui.core.audio.song import load_song
from tagbox_gui.core.types import Estimate

RATE = 48_000
TIME_REFERENCE = 3_600 * RATE + 12_345  # samples since midnight: 01:00:00 and a bit
HISTORY = b"A=PCM,F=48000,W=24,M=stereo,T=Field recorder\r\n"


def _chunk(chunk_id: bytes, payload: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def _bext_payload(time_reference: int) -> bytes:
    """A version 2 bext chunk as a recorder writes it: every field filled."""
    fixed = b"".join([
        b"Scene 4 take 1".ljust(256, b"\0"),
        b"Recorder".ljust(32, b"\0"),
        b"REF-0042".ljust(32, b"\0"),
        b"2026-03-01", b"10:20:30",
        struct.pack("<Q", time_reference),
        struct.pack("<H", 2),
        b"\x2a" * 64,  # UMID
        struct.pack("<5h", -2300, 500, -100, -1800, -2000),  # loudness
        bytes(180),
    ])  # fmt: skip
    assert len(fixed) == 602
    return fixed + HISTORY


def write_bwf(path: Path, samples: np.ndarray, time_reference: int) -> Path:
    """A 24-bit Broadcast WAV, made byte by byte: fmt, bext, then data."""
    codes = np.clip(np.round(samples * 2**23), -(2**23), 2**23 - 1).astype("<i4")
    channels = codes.shape[1]
    data = codes.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()  # little-endian 24-bit codes
    fmt = struct.pack("<HHIIHH", 1, channels, RATE, RATE * channels * 3, channels * 3, 24)
    body = b"WAVE" + _chunk(b"fmt ", fmt) + _chunk(b"bext", _bext_payload(time_reference))
    body += _chunk(b"data", data)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def riff_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """The file's chunks in order, (id, payload); checks the sizes add up to the file's."""
    raw = path.read_bytes()
    assert raw[8:12] == b"WAVE"
    if raw[:4] == b"RIFF":
        assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    chunks, offset = [], 12
    while offset < len(raw):
        chunk_id, size = struct.unpack_from("<4sI", raw, offset)
        chunks.append((chunk_id, raw[offset + 8 : offset + 8 + size]))
        offset += 8 + size + (size & 1)
    assert offset == len(raw)
    return chunks


def stem_bext(path: Path) -> bytes:
    """The stem's bext payload; it comes before the data chunk."""
    ids = [chunk_id for chunk_id, _ in riff_chunks(path)]
    assert b"bext" in ids and ids.index(b"bext") < ids.index(b"data"), ids
    return dict(riff_chunks(path))[b"bext"]


def ones_estimate(length: int, value: float) -> Estimate:
    masks = {n: np.full((n // 2 + 1, 1 + length // (n // 2)), value, np.float32) for n in (1024,)}
    return Estimate(0, length, masks)


@pytest.fixture
def bwf(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    return write_bwf(tmp_path / "Take.wav", 0.2 * rng.standard_normal((RATE, 2)), TIME_REFERENCE)


@pytest.mark.parametrize("fmt", [ExportFormat.WAV24, ExportFormat.WAV16, ExportFormat.WAV32])
def test_the_stems_of_a_broadcast_wav_sit_where_the_song_does(
    bwf: Path, tmp_path: Path, fmt: ExportFormat
) -> None:
    song = load_song(bwf)
    estimate = ones_estimate(44_100, 0.4)
    paths = export_stems(song, estimate, tmp_path / "out", ["piano"], fmt)
    (tmp_path / "plain").mkdir()  # the same song without its bext chunk
    sf.write(tmp_path / "plain" / "Take.wav", song.data, RATE, subtype="PCM_24")
    plain_song = load_song(tmp_path / "plain" / "Take.wav")
    assert np.array_equal(plain_song.data, song.data)
    plain = export_stems(plain_song, estimate, tmp_path / "plain" / "out", ["piano"], fmt)
    for path, without, title in zip(paths, plain, ["Take - piano", "Take - no piano"], strict=True):
        bext = stem_bext(path)
        assert struct.unpack_from("<Q", bext, 338)[0] == TIME_REFERENCE
        assert bext[:256].rstrip(b"\0").decode() == title  # the stem's, not the take's
        assert bext[256:338] == _bext_payload(0)[256:338]  # originator, reference, date, time
        assert bext[348:602] == bytes(254)  # no UMID of the song's material, no loudness
        assert struct.unpack_from("<H", bext, 346)[0] == 1
        assert bext[602:].startswith(HISTORY)
        ours = bext[602 + len(HISTORY) :].decode("ascii")  # the line of what made the stem
        bits = f"W={fmt.bits},M=stereo,T=TagBox GUI" if fmt.bits else "W=32,M=stereo,T=TagBox GUI"
        assert ours.startswith(f"A=PCM,F={RATE},{bits}") and ours.endswith("\r\n")
        assert ("32-bit float" in ours) == (fmt.bits is None)  # R98 has no code for float
        with sf.SoundFile(path) as handle:  # soundfile reads it as before
            assert (handle.samplerate, handle.channels, handle.frames) == (RATE, 2, RATE)
            assert handle.title == title
        assert np.array_equal(sf.read(path)[0], sf.read(without)[0])  # samples untouched
        assert b"bext" not in [chunk_id for chunk_id, _ in riff_chunks(without)]
    total = sum(sf.read(path, always_2d=True)[0] for path in paths)
    lsb = 2.0 ** (1 - fmt.bits) if fmt.bits else 1e-6
    assert np.abs(total - song.data).max() <= 2 * lsb  # still adds back up to the song
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)


def test_every_shared_stem_and_the_rest_carry_the_time_reference(bwf: Path, tmp_path: Path) -> None:
    song = load_song(bwf)
    estimates = {"piano": ones_estimate(44_100, 0.3), "drums": ones_estimate(44_100, 0.2)}
    stems, rest = export_shared_stems(song, estimates, tmp_path, ExportFormat.WAV24)
    for path in [*stems, rest]:
        assert struct.unpack_from("<Q", stem_bext(path), 338)[0] == TIME_REFERENCE
    flac, _ = export_stems(song, estimates["piano"], tmp_path / "flac", ["piano"],
                           ExportFormat.FLAC24)  # fmt: skip
    assert sf.info(flac).frames == RATE  # FLAC stems are written as before


def test_a_song_without_a_bext_chunk_has_none(tmp_path: Path) -> None:
    sf.write(tmp_path / "plain.wav", np.zeros((1000, 1)), RATE, subtype="PCM_16")
    assert load_song(tmp_path / "plain.wav").bext is None
    assert load_song(write_bwf(tmp_path / "b.wav", np.zeros((1000, 1)), 5)).bext is not None


def test_a_broadcast_wav_in_wave_format_extensible_keeps_its_time_reference(
    tmp_path: Path,
) -> None:
    # Recorders and DAWs write 24-bit and multichannel BWF as WAVE_FORMAT_EXTENSIBLE, which
    # libsndfile calls WAVEX: a RIFF WAV all the same.
    path = tmp_path / "Take.wav"
    sf.write(path, np.zeros((1000, 2)), RATE, subtype="PCM_24", format="WAVEX")
    insert_chunk(path, b"bext", _bext_payload(TIME_REFERENCE))
    song = load_song(path)
    assert song.format == "WAVEX"
    assert song.bext is not None
    assert struct.unpack_from("<Q", song.bext, 338)[0] == TIME_REFERENCE


def test_a_chunk_goes_into_an_rf64_file_too(tmp_path: Path) -> None:
    # RF64 (a WAV past 4 GiB) counts its size in its ds64 chunk.
    path = tmp_path / "big.wav"
    samples = np.random.default_rng(1).standard_normal((999, 3)) * 0.1
    sf.write(path, samples, RATE, subtype="PCM_16", format="RF64")
    before = sf.read(path)[0]
    insert_chunk(path, b"bext", _bext_payload(77))
    raw = path.read_bytes()
    assert raw[:4] == b"RF64" and struct.unpack_from("<Q", raw, 20)[0] == len(raw) - 8
    assert np.array_equal(sf.read(path)[0], before)
    assert struct.unpack_from("<Q", dict(riff_chunks_rf64(path))[b"bext"], 338)[0] == 77
    assert [p.name for p in tmp_path.iterdir()] == ["big.wav"]  # no temporary left


def test_a_chunk_goes_in_without_a_second_copy_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stem's samples move up in place: a stem as large as the disk has room for once
    still gets its chunk (a copy beside it would need twice the room)."""
    path = tmp_path / "Take.wav"
    samples = np.random.default_rng(2).standard_normal((3 * 2**18 + 7, 2)) * 0.1  # > 1 MiB blocks
    sf.write(path, samples, RATE, subtype="PCM_24")
    before, inode = sf.read(path)[0], path.stat().st_ino
    opened: list[str] = []
    real_open = open

    def watched(file, mode="r", *args, **kwargs):
        opened.append(mode)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", watched)
    insert_chunk(path, b"bext", _bext_payload(5))
    monkeypatch.undo()
    assert all("w" not in mode and "x" not in mode for mode in opened)  # no file made
    assert path.stat().st_ino == inode and [p.name for p in tmp_path.iterdir()] == ["Take.wav"]
    assert np.array_equal(sf.read(path)[0], before)
    assert struct.unpack_from("<Q", load_song(path).bext, 338)[0] == 5


def test_a_file_without_a_data_chunk_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    raw = b"RIFF" + struct.pack("<I", 16) + b"WAVE" + b"LIST" + struct.pack("<I", 4) + b"INFO"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match="no data chunk"):
        insert_chunk(path, b"bext", _bext_payload(5))
    assert path.read_bytes() == raw


def riff_chunks_rf64(path: Path) -> list[tuple[bytes, bytes]]:
    raw = path.read_bytes()
    chunks, offset = [], 12
    while offset + 8 <= len(raw):
        chunk_id, size = struct.unpack_from("<4sI", raw, offset)
        if chunk_id == b"data":
            break
        chunks.append((chunk_id, raw[offset + 8 : offset + 8 + size]))
        offset += 8 + size + (size & 1)
    return chunks


def test_a_bext_chunk_is_refused_for_a_flac_file(tmp_path: Path) -> None:
    shapes, rows = [(10, 1)], [[np.zeros((10, 1), np.float32)]]
    with pytest.raises(ValueError, match="belongs in a WAV file, not in FLAC"):
        write_streams([(tmp_path / "a.flac", {})], shapes, rows, RATE, ExportFormat.FLAC24,
                      overwrite=False, bext=[_bext_payload(0)])  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_description_keeps_accented_letters_without_their_accents() -> None:
    chunk = make_stem_bext(_bext_payload(5), "Café Müller - piano ♪ 日本", "T=Über")
    assert chunk[:256].rstrip(b"\0") == b"Cafe Muller - piano ? ??"
    assert chunk[602:].endswith(b"T=Uber\r\n")
