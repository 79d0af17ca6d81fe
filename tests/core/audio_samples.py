"""Helpers of the audio tests: tones, songs made of them, and the one-sentence check of an
error a user reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.audio.song import Song
from tagbox_gui.core.errors import AudioError

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


def flac_of_unknown_length(path: Path, data: np.ndarray, rate: int = RATE) -> Path:
    """``data`` as a 24-bit FLAC whose header does not say its length, as an encoder writing to
    a pipe leaves it (``ffmpeg -i take.wav -f flac - > take.flac``, a stream recorder): the
    total samples of its STREAMINFO are 0, "unknown" in the FLAC format."""
    sf.write(path, data, rate, subtype="PCM_24")
    raw = bytearray(path.read_bytes())
    # "fLaC", the block's 4-byte header, then STREAMINFO: the total samples are the low 36 bits
    # of its bytes 10-17 (after the block and frame sizes, the rate, channels and bit depth).
    fields = int.from_bytes(raw[18:26], "big") & ~((1 << 36) - 1)
    raw[18:26] = fields.to_bytes(8, "big")
    path.write_bytes(bytes(raw))
    return path
