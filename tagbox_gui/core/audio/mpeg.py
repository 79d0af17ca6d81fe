"""How many samples an MPEG audio file (MP3, or MPEG Layer I/II) holds, counted frame by frame.

libsndfile takes an MP3's length from its Xing or Info header where it has one, and otherwise
guesses it from the file's size and the bitrate of its first frame, and decodes no further. A
variable-bitrate file without that header (written by an old encoder, or cut by a tool that
dropped it) whose first frames are denser than the rest then reads as a fraction of itself,
with no error. Walking the frame headers, a few bytes each, says how long the file really is.
"""

from __future__ import annotations

import mmap
from pathlib import Path

_BITRATES_KBPS = {
    # (MPEG-1?, layer): bitrates of indexes 1-14; 0 is "free format" and 15 is invalid
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
"""Sample rates by the header's version bits: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5 (1 is reserved)."""


def _frame(header: int) -> tuple[int, int] | None:
    """``(bytes, samples)`` of the MPEG audio frame that the 4-byte ``header`` opens, or None
    where it is not a frame header this walk can follow (no sync, a reserved field, or free
    format, whose frames do not say their size)."""
    version, layer_bits = (header >> 19) & 3, (header >> 17) & 3
    bitrate_index, rate_index = (header >> 12) & 15, (header >> 10) & 3
    if header >> 21 != 0x7FF or version == 1 or layer_bits == 0:
        return None
    if bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer, mpeg1 = 4 - layer_bits, version == 3
    bitrate = _BITRATES_KBPS[mpeg1, layer][bitrate_index - 1] * 1000
    rate, padding = _RATES[version][rate_index], (header >> 9) & 1
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384
    samples = 1152 if layer == 2 or mpeg1 else 576
    return samples // 8 * bitrate // rate + padding, samples


def _id3v2_size(data: bytes) -> int:
    """Bytes of the ID3v2 tag at the start of ``data`` (0 where there is none)."""
    if len(data) < 10 or data[:3] != b"ID3":
        return 0
    size = 0
    for byte in data[6:10]:  # "synchsafe": 7 bits a byte
        size = size << 7 | (byte & 0x7F)
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def counted_frames(path: Path) -> int | None:
    """The samples per channel that the MPEG audio frames of ``path`` hold, walked from the
    first frame (after any ID3v2 tag) to the last whole one; None where the file does not
    start with a frame this walk can follow. An encoder's delay and padding are counted in
    (a few thousand samples at most), and so is a Xing or Info frame (it decodes to none)."""
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        position = _id3v2_size(data[:10])
        total = 0
        while position + 4 <= len(data):
            frame = _frame(int.from_bytes(data[position : position + 4], "big"))
            if frame is None or position + frame[0] > len(data):
                break  # a trailing tag (ID3v1, APE), junk, or a frame cut short
            position += frame[0]
            total += frame[1]
    return total if total else None
