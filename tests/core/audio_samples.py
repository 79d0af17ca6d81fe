"""Helpers of the audio tests: tones, songs made of them, and the one-sentence check of an
error a user reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
