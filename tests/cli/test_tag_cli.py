"""`tagbox tag` run in-process against the shared model folder and eval stems (read in place)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tagbox_gui.cli import main
from tagbox_gui.core.dsp.spectral import resample
from tagbox_gui.core.nets.taggers import TAGGER_RATE, Tagger, load_tagger, vocabulary
from tagbox_gui.core.types import TaggerSpec
from tests.conftest import require

MUSICNN = TaggerSpec("musicnn", "mtat")


@pytest.fixture(autouse=True)
def _store(monkeypatch: pytest.MonkeyPatch, model_dir: Path) -> None:
    monkeypatch.setenv("TAGBOX_MODEL_DIR", str(model_dir))


@pytest.fixture(scope="module")
def musicnn(model_dir: Path) -> Tagger:
    path = require(model_dir / "taggers" / "mtat" / "musicnn" / "best_model.pth")
    return load_tagger(MUSICNN, path)


@pytest.fixture
def drums(eval_dir: Path) -> Path:
    return require(eval_dir / "dev" / "band000" / "stems" / "drums.flac")


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["tag", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _expected_windows(tagger: Tagger, audio: np.ndarray, rate: int) -> np.ndarray:
    with torch.no_grad():
        x16 = resample(torch.from_numpy(audio), rate, TAGGER_RATE)
        return tagger.window_probs(x16).numpy()


def test_json_of_a_44k_stem(
    drums: Path, musicnn: Tagger, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _run_json(capsys, str(drums), "--tagger", "musicnn/mtat")
    assert result["tagger"] == "musicnn/mtat"
    assert result["tags"] == list(vocabulary("mtat"))
    windows = np.array(result["windows"])
    assert windows.shape == (math.ceil(12 * TAGGER_RATE / musicnn.window), 50)
    np.testing.assert_allclose(result["mean"], windows.mean(axis=0), atol=1e-7)
    data, rate = sf.read(drums, dtype="float32")
    np.testing.assert_allclose(windows, _expected_windows(musicnn, data, rate), atol=1e-7)
    assert result["tags"][int(np.argmax(result["mean"]))] in {"drums", "beat", "techno"}


def test_16k_mono_file_goes_in_as_it_is(
    tmp_path: Path, musicnn: Tagger, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = (np.random.default_rng(0).standard_normal(4 * TAGGER_RATE) * 0.1).astype(np.float32)
    path = tmp_path / "noise16k.wav"
    sf.write(path, audio, TAGGER_RATE, subtype="FLOAT")
    result = _run_json(capsys, str(path), "--tagger", "musicnn/mtat")
    with torch.no_grad():
        expected = musicnn.window_probs(torch.from_numpy(audio)).numpy()
    assert len(result["windows"]) == 2  # 4 s in 3 s windows, the second zero-padded
    np.testing.assert_allclose(result["windows"], expected, atol=1e-7)


def test_stereo_is_mixed_down_and_resampled(
    tmp_path: Path, musicnn: Tagger, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    stereo = (rng.standard_normal((3 * 22050, 2)) * [0.2, 0.05]).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 22050, subtype="FLOAT")
    result = _run_json(capsys, str(path), "--tagger", "musicnn/mtat")
    expected = _expected_windows(musicnn, stereo.mean(axis=1, dtype=np.float32), 22050)
    np.testing.assert_allclose(result["windows"], expected, atol=1e-7)
    left_only = _expected_windows(musicnn, stereo[:, 0].copy(), 22050)
    assert np.abs(np.array(result["windows"]) - left_only).max() > 1e-4


def test_text_lists_the_top_tags(drums: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", str(drums), "--top", "3"]) == 0  # default tagger fcn/mtat
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("fcn/mtat on 'drums.flac' (12.0 s, 1 window of 29 s)")
    assert len(lines) == 4
    rows = [line.rsplit(maxsplit=1) for line in lines[1:]]
    probs = [float(p) for _, p in rows]
    assert probs == sorted(probs, reverse=True)
    assert all(tag.strip() in vocabulary("mtat") for tag, _ in rows)
    assert rows[0][0].strip() == "drums"


def test_weights_and_model_dir_options(
    tmp_path: Path,
    drums: Path,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TAGBOX_MODEL_DIR", str(tmp_path))  # an empty store
    assert main(["tag", str(drums), "--tagger", "musicnn/mtat"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "tagbox models fetch musicnn/mtat" in error
    weights = model_dir / "taggers" / "mtat" / "musicnn" / "best_model.pth"
    by_weights = _run_json(
        capsys, str(drums), "--tagger", "musicnn/mtat", "--weights", str(weights)
    )
    by_dir = _run_json(
        capsys, str(drums), "--tagger", "musicnn/mtat", "--model-dir", str(model_dir)
    )
    assert by_weights == by_dir


def _fails_in_one_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["tag", *args]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tagbox: error: ") and captured.err.count("\n") == 1
    return captured.err


def test_bad_input_is_one_line(
    tmp_path: Path, drums: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "does not exist" in _fails_in_one_line(capsys, str(tmp_path / "none.wav"))
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    assert "cannot be read" in _fails_in_one_line(capsys, str(text))
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype=np.float32), 16000)
    assert "no audio" in _fails_in_one_line(capsys, str(empty))
    assert "ARCH/DATASET" in _fails_in_one_line(capsys, str(drums), "--tagger", "fcn")
    assert "architecture" in _fails_in_one_line(capsys, str(drums), "--tagger", "vgg/mtat")
    assert "--top" in _fails_in_one_line(capsys, str(drums), "--top", "0")
    fcn = model_dir / "taggers" / "mtat" / "fcn" / "best_model.pth"
    args = (str(drums), "--tagger", "musicnn/mtat", "--weights", str(fcn))
    assert "does not hold musicnn/mtat" in _fails_in_one_line(capsys, *args)
    folder = (str(drums), "--weights", str(fcn.parent))
    assert f"{fcn.parent} is a folder" in _fails_in_one_line(capsys, *folder)
