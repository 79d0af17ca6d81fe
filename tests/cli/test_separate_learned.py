"""`tagbox separate` with the learned separator: the default, by instrument or by example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.cli import main

RATE = 48_000


def _song(path: Path, seconds: float = 3.0) -> Path:
    rng = np.random.default_rng(2)
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    sf.write(path, tone[:, None] + 0.03 * rng.standard_normal((t.size, 2)), RATE,
             subtype="PCM_24")  # fmt: skip
    return path


def _check_stems(song: Path, separated: Path, residual: Path) -> str:
    original, _ = sf.read(song)
    a, rate = sf.read(separated)
    b, _ = sf.read(residual)
    assert rate == RATE and a.shape == b.shape == original.shape
    np.testing.assert_allclose(a + b, original, atol=2e-7)  # float32 files
    return sf.SoundFile(separated).comment


def test_by_instrument_is_the_default_and_needs_no_tagger(tmp_path: Path, capsys) -> None:
    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    args = ["separate", str(song), "--tags", "piano", "--model-dir", str(tmp_path / "none"),
            "-o", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    comment = _check_stems(song, out / "song - piano.wav", out / "song - no piano.wav")
    assert "backend: learned" in comment and "query: prototype: piano" in comment


@pytest.mark.slow
def test_by_example_region_names_the_example(tmp_path: Path, model_dir: Path, capsys) -> None:
    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    args = ["separate", str(song), "--example-region", "0.5:2", "--model-dir", str(model_dir),
            "-o", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    comment = _check_stems(song, out / "song - example.wav", out / "song - no example.wav")
    assert "query: example: the song 0.5-2 s" in comment
