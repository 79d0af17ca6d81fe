"""Stems of a loud master in a PCM format: a song clipped at 0 dBFS whose stems add up past it
still gets stems that add back up to it, sample for sample."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.audio import export as audio_export
from tagbox_gui.core.audio.export import export_shared_stems, export_stems
from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.audio.song import analysis_signal, load_song
from tagbox_gui.core.types import Estimate

RATE = 44_100
PCM = [ExportFormat.WAV16, ExportFormat.WAV24, ExportFormat.FLAC16, ExportFormat.FLAC24]


def _loud_master(path: Path) -> Path:
    """A low note driven into 0 dBFS until it is a square wave, as in a loud master: its
    edges make a soft mask's stems overshoot, and the residual goes past full scale."""
    square = np.sign(np.sin(2 * np.pi * 100 * np.arange(RATE) / RATE))
    sf.write(path, np.stack([square, -square], axis=1), RATE, subtype="PCM_16")
    return path


def _random_masks(length: int, seed: int) -> Estimate:
    rng = np.random.default_rng(seed)
    masks = {n: rng.random((n // 2 + 1, 1 + length // (n // 2))).astype(np.float32)
             for n in (2048, 512)}  # fmt: skip
    return Estimate(0, length, masks)


def _read(paths: list[Path]) -> list[np.ndarray]:
    return [sf.read(path, always_2d=True, dtype="float64")[0] for path in paths]


@pytest.mark.parametrize("fmt", PCM)
def test_the_stems_of_a_loud_master_add_up_to_it_exactly(
    fmt: ExportFormat, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    song = load_song(_loud_master(tmp_path / "master.wav"))
    length = len(analysis_signal(song))
    with caplog.at_level(logging.WARNING, logger=audio_export.__name__):
        pair = _read(list(export_stems(song, _random_masks(length, 1), tmp_path / "a", ["x"], fmt)))
        stems, rest = export_shared_stems(
            song,
            {"x": _random_masks(length, 1), "y": _random_masks(length, 2)},
            tmp_path / "b",
            fmt,
        )
    shared = _read([*stems, rest])
    assert np.array_equal(pair[0] + pair[1], song.data.astype(np.float64))
    assert np.array_equal(sum(shared), song.data.astype(np.float64))
    assert "is in the stems" in caplog.text and "will not sum exactly" not in caplog.text
    # only what the residual could not hold moved: the separated stem is the mask's elsewhere
    assert 0.2 < np.abs(pair[0]).max() <= 1.0
