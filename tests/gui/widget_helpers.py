"""Helpers of the widget tests: a song of a fading-in tone, a widget shown on screen, and a
button's text as it is drawn."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tagbox_gui.core.audio.song import Song


def make_song(seconds: float = 4.0, rate: int = 22_050, channels: int = 2) -> Song:
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t) * np.minimum(1.0, t)  # fades in over 1 s
    data = np.repeat(tone[:, None], channels, axis=1).astype(np.float32)
    data[:, -1] *= 0.5
    return Song(Path("tone.wav"), "tone", data, rate, "FLOAT", "WAV")


def shown(qtbot, widget, width: int = 800, height: int = 300):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def drawn(text: str) -> str:
    """The ``text`` of a button, a check box, a menu entry, a group box's title or a label with
    a buddy as Qt draws it: a mnemonic's '&' is not shown ("&&" shows one)."""
    return re.sub("&(.)", r"\1", text)
