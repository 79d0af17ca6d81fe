"""Broadcast WAV (BWF): the song's ``bext`` chunk, carried into its WAV stems.

A DAW places a BWF file on its timeline at the chunk's TimeReference (samples since midnight),
so stems that lack it land at 0 instead of where the song sits. libsndfile neither reads nor
writes the chunk: :func:`read_bext_and_mask` finds it among the song's RIFF chunks,
:func:`stem_bext` makes a stem's of it (the song's time reference, origin and coding history;
the stem's own description; no UMID and no loudness, which were the song's), and
:func:`insert_chunk` puts it into a finished WAV before its data chunk, the samples untouched.
EBU Tech 3285 lays the chunk out.

The same RIFF reading serves a surround WAV's speakers: :func:`read_bext_and_mask`, in the
same walk of the song's chunks, gives the channel mask a WAVE_FORMAT_EXTENSIBLE song states
too, and :func:`set_channel_mask` puts one into a stem
(libsndfile writes its own, none for 3, 5 or 7 channels, and that of 7.1 wide for 8).
"""

from __future__ import annotations

import os
import struct
import unicodedata
from pathlib import Path

__all__ = [
    "insert_chunk",
    "read_bext_and_mask",
    "set_channel_mask",
    "stem_bext",
]

_FIXED = 602  # bytes of the chunk before its coding history
_DESCRIPTION = slice(0, 256)
_VERSION = slice(346, 348)
_UMID_TO_RESERVED = slice(348, 602)  # UMID (64), loudness (10, version 2), reserved (180)
_MAX_CHUNK = 1 << 18  # longer is no bext chunk worth keeping (and fits in a WAV's slack)
_RIFF = (b"RIFF", b"RF64", b"BW64")
_EXTENSIBLE = 0xFFFE  # the format tag of WAVE_FORMAT_EXTENSIBLE
_MASK_AT = 20  # dwChannelMask's offset in such a fmt chunk


def read_bext_and_mask(path: Path | str) -> tuple[bytes | None, int | None]:
    """The ``bext`` chunk's payload and the channel mask of the WAV (RIFF, RF64) file at
    ``path``, its chunks walked once; each None where it has none, and both where it is no
    such file or cannot be read (a song plays the same without them). The mask is the
    speakers the file states its channels are, the dwChannelMask of its
    WAVE_FORMAT_EXTENSIBLE fmt chunk; None where it states none (a plain WAV, a mask of 0)."""
    try:
        with open(path, "rb") as handle:
            chunks = _chunks(handle)
            return _bext(handle, chunks), _channel_mask(handle, chunks)
    except (OSError, ValueError, struct.error):
        return None, None


def _bext(handle, chunks: dict[bytes, tuple[int, int]]) -> bytes | None:
    """The payload of the ``bext`` chunk among ``chunks`` of the WAV open in ``handle``; None
    where there is none, or one of a size no bext chunk has."""
    where = chunks.get(b"bext")
    if where is None or not _FIXED <= where[1] <= _MAX_CHUNK:
        return None
    handle.seek(where[0])
    payload = handle.read(where[1])
    return payload if len(payload) == where[1] else None


def stem_bext(song: bytes, description: str, history: str = "") -> bytes:
    """A stem's ``bext`` payload made of the ``song``'s: its TimeReference, originator, date
    and time and coding history kept (with ``history``, a line of what made the stem, added);
    ``description`` (what the stem is, in ASCII: :func:`_ascii`) in place of the song's; the
    UMID, which named the song's own material, and the loudness, which was measured on the
    song, left out (version 2 becomes 1, whose bytes there are reserved)."""
    chunk = bytearray(song)
    text = _ascii(description).encode("ascii")[: _DESCRIPTION.stop]
    chunk[_DESCRIPTION] = text.ljust(_DESCRIPTION.stop, b"\0")
    version = min(struct.unpack("<H", chunk[_VERSION])[0], 1)
    chunk[_VERSION] = struct.pack("<H", version)
    chunk[_UMID_TO_RESERVED] = bytes(_UMID_TO_RESERVED.stop - _UMID_TO_RESERVED.start)
    coding = bytes(chunk[_FIXED:]).split(b"\0", 1)[0]
    if history:
        if coding and not coding.endswith(b"\r\n"):
            coding += b"\r\n"
        coding += _ascii(history).encode("ascii") + b"\r\n"
    return bytes(chunk[:_FIXED]) + coding


def _ascii(text: str) -> str:
    """``text`` in the ASCII a bext chunk holds: accented letters without their accents
    ("Café" → "Cafe"), any other character not in ASCII as "?"."""
    letters = (c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return "".join(c if c.isascii() else "?" for c in letters)


def insert_chunk(path: Path, chunk_id: bytes, payload: bytes) -> None:
    """Put a chunk into the WAV file at ``path`` before its data chunk, the RIFF size (or
    RF64's) grown to match; the samples are moved up as they are, in place, so the disk needs
    room for the chunk alone, not for a second copy of the file. Meant for a file not yet in
    view (a stem's temporary): a write that fails half way leaves it broken. OSError, or
    ValueError (the file untouched) for a file that is not a WAV with a data chunk."""
    chunk = chunk_id + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
    with open(path, "r+b") as handle:
        chunks = _chunks(handle)
        if b"data" not in chunks:
            raise ValueError(f"'{path}' has no data chunk")
        data = chunks[b"data"][0] - 8  # where its header starts
        handle.seek(0)
        head = bytearray(handle.read(data))
        _grow(head, len(chunk))
        _move_up(handle, data, len(chunk))
        handle.seek(0)
        handle.write(head)
        handle.write(chunk)


def _channel_mask(handle, chunks: dict[bytes, tuple[int, int]]) -> int | None:
    """The dwChannelMask of the WAV open in ``handle``, whose chunks are ``chunks``; None where
    its fmt chunk is not WAVE_FORMAT_EXTENSIBLE or the mask is 0."""
    try:
        handle.seek(_mask_offset(handle, chunks))
    except ValueError:
        return None
    return struct.unpack("<I", handle.read(4))[0] or None


def set_channel_mask(path: Path, mask: int) -> None:
    """Write ``mask`` as the dwChannelMask of the WAVE_FORMAT_EXTENSIBLE file at ``path``, in
    place (the header's size is the same). OSError, or ValueError (the file untouched) for a
    file that is not such a WAV."""
    with open(path, "r+b") as handle:
        handle.seek(_mask_offset(handle, _chunks(handle)))
        handle.write(struct.pack("<I", mask))


def _mask_offset(handle, chunks: dict[bytes, tuple[int, int]]) -> int:
    """Where the dwChannelMask of the WAV open in ``handle``, whose chunks are ``chunks``, is;
    ValueError where its fmt chunk is not WAVE_FORMAT_EXTENSIBLE."""
    where = chunks.get(b"fmt ")
    if where is not None and where[1] >= _MASK_AT + 4:
        handle.seek(where[0])
        if struct.unpack("<H", handle.read(2))[0] == _EXTENSIBLE:
            return where[0] + _MASK_AT
    raise ValueError("not a WAVE_FORMAT_EXTENSIBLE file")


def _move_up(handle, start: int, by: int, block: int = 1 << 20) -> None:
    """Move the bytes of the file open in ``handle`` from ``start`` to its end ``by`` bytes
    further on, the last block first (so that none is overwritten before it is read)."""
    end = handle.seek(0, os.SEEK_END)
    while end > start:
        size = min(block, end - start)
        end -= size
        handle.seek(end)
        piece = handle.read(size)
        handle.seek(end + by)
        handle.write(piece)


def _grow(head: bytearray, added: int) -> None:
    """Add ``added`` bytes to the size the header ``head`` gives its file: the RIFF size, or
    RF64's 64-bit one in its ds64 chunk."""
    if head[:4] == b"RIFF":
        size = struct.unpack_from("<I", head, 4)[0] + added
        if size >= 2**32:
            raise ValueError("the file would pass the 4 GiB a RIFF WAV can hold")
        struct.pack_into("<I", head, 4, size)
        return
    if head[12:16] != b"ds64":
        raise ValueError("an RF64 file without its ds64 chunk")
    struct.pack_into("<Q", head, 20, struct.unpack_from("<Q", head, 20)[0] + added)


def _chunks(handle) -> dict[bytes, tuple[int, int]]:
    """Each chunk of the RIFF file open in ``handle``: its payload's offset and size (the first
    of each id). ValueError for a file that is not a WAV."""
    header = handle.read(12)
    if len(header) < 12 or header[:4] not in _RIFF or header[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    end = handle.seek(0, os.SEEK_END)
    big: dict[bytes, int] = {}  # RF64: the data chunk's 64-bit size, from ds64
    chunks: dict[bytes, tuple[int, int]] = {}
    offset = 12
    while offset + 8 <= end:
        handle.seek(offset)
        chunk_id, size = struct.unpack("<4sI", handle.read(8))
        if chunk_id == b"ds64" and size >= 16:
            big[b"data"] = struct.unpack("<Q", handle.read(16)[8:])[0]
        if size == 0xFFFFFFFF and chunk_id in big:
            size = big[chunk_id]
        chunks.setdefault(chunk_id, (offset + 8, size))
        offset += 8 + size + (size & 1)
    return chunks
