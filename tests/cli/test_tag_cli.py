"""`tagbox tag` run in-process against the shared model folder and eval stems (read in place)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from tagbox_gui.cli import main
from tagbox_gui.core.audio.song import analysis_signal, load_song
from tagbox_gui.core.dsp.spectral import resample
from tagbox_gui.core.nets.taggers import TAGGER_RATE, Tagger, load_tagger, vocabulary
from tagbox_gui.core.separation.objective import Criterion, Objective
from tagbox_gui.core.types import ANALYSIS_RATE, Mode, TaggerSpec
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
    """Each window of ``audio`` resampled straight from ``rate`` to the taggers' 16 kHz."""
    with torch.no_grad():
        x16 = resample(torch.from_numpy(audio), rate, TAGGER_RATE)
        return tagger.window_probs(x16).numpy()


def _heard_windows(tagger: Tagger, path: Path) -> np.ndarray:
    """Each window of the file as the loss hears a song: its analysis signal at 16 kHz."""
    return _expected_windows(tagger, np.array(analysis_signal(load_song(path))), ANALYSIS_RATE)


class _WholeMix:
    """A backend whose masks keep all of the mixture: the loss then hears the song itself."""

    def masks(self, latent: object, mix_stfts: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        return {n: torch.ones(spec.shape[-2:]) for n, spec in mix_stfts.items()}


def _heard_by_the_loss(tagger: Tagger, path: Path) -> np.ndarray:
    """The mean over windows that the separation's loss gets from ``tagger`` for the song at
    ``path`` separated whole (``core.separation.objective``)."""
    mix = torch.from_numpy(np.array(analysis_signal(load_song(path))))[None]
    tags = len(tagger.vocabulary)
    criterion = Criterion(tagger, torch.zeros(tags), torch.ones(tags), ())
    objective = Objective(mix, (2048,), [criterion], Mode.MASK)
    with torch.no_grad():
        return objective.evaluate(_WholeMix(), torch.zeros(1)).probs[criterion.key].numpy()


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


@pytest.mark.parametrize("rate", [16_000, 48_000])
def test_a_file_is_heard_as_the_separation_loss_hears_it(
    tmp_path: Path,
    eval_dir: Path,
    musicnn: Tagger,
    rate: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whatever its rate, a file goes to the taggers through the analysis rate (44.1 kHz), as
    the loss hears a song, not straight from its own rate (nor as it is at 16 kHz): what
    `tagbox tag` says of a song is what the loss hears of it before a separation takes any."""
    mix, mix_rate = sf.read(require(eval_dir / "dev" / "band000" / "mix.flac"), dtype="float64")
    common = math.gcd(rate, mix_rate)
    audio = resample_poly(mix[: 4 * mix_rate], rate // common, mix_rate // common)
    path = tmp_path / f"mix-{rate}.wav"
    sf.write(path, audio.astype(np.float32), rate, subtype="FLOAT")
    result = _run_json(capsys, str(path), "--tagger", "musicnn/mtat")
    windows = np.array(result["windows"])
    assert windows.shape == (2, 50)  # 4 s in 3 s windows, the second zero-padded
    np.testing.assert_allclose(windows, _heard_windows(musicnn, path), atol=1e-6)
    np.testing.assert_allclose(result["mean"], _heard_by_the_loss(musicnn, path), atol=1e-5)
    # straight from its own rate (as it is, at 16 kHz) the taggers would hear something else
    straight = _expected_windows(musicnn, audio.astype(np.float32), rate)
    assert np.abs(windows - straight).max() > (1e-3 if rate == TAGGER_RATE else 5e-5)


def test_stereo_is_mixed_down_and_resampled(
    tmp_path: Path, musicnn: Tagger, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    stereo = (rng.standard_normal((3 * 22050, 2)) * [0.2, 0.05]).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 22050, subtype="FLOAT")
    result = _run_json(capsys, str(path), "--tagger", "musicnn/mtat")
    np.testing.assert_allclose(result["windows"], _heard_windows(musicnn, path), atol=1e-7)
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
    device = (str(drums), "--weights", "/dev/null")  # there, but not a file: never "missing"
    assert "/dev/null is not a file on disk (a pipe or a device)" in _fails_in_one_line(
        capsys, *device
    )


def test_a_float_file_far_beyond_full_scale_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A float WAV may pass full scale, but at 1e38 the spectra's float32 power overflows (it
    printed nan probabilities, and at 16 kHz a RuntimeWarning first): refused as it is read."""
    loud = tmp_path / "loud.wav"
    noise = np.random.default_rng(0).uniform(-3e38, 3e38, 3 * 16000).astype(np.float32)
    sf.write(loud, noise, 16000, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning before the error line
        error = _fails_in_one_line(capsys, str(loud))
    assert "loud.wav' has samples up to 3e+38 times full scale, too loud" in error


@pytest.mark.parametrize("channels", ["silent", "cancelling"])
def test_a_file_the_taggers_hear_nothing_in_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], channels: str
) -> None:
    """Tags of digital silence are noise: a musician is told there is nothing to tag."""
    left = np.zeros(44_100) if channels == "silent" else np.sin(np.arange(44_100) / 10) * 0.5
    path = tmp_path / "take.wav"
    sf.write(path, np.stack([left, -left], axis=1), 44_100, subtype="FLOAT")
    assert main(["tag", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "nothing to tag" in captured.err and "take.wav" in captured.err


def test_a_file_too_long_to_tag_in_memory_is_told_what_helps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tagbox tag` has no --region, which the line out of memory told it to take."""
    from tagbox_gui.core.audio import song

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(song, "load_song", out_of_memory)
    path = tmp_path / "take.wav"
    sf.write(path, np.zeros(16_000), 16_000)
    assert main(["tag", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("tagbox: error: tagging the file ran out of memory"), error
    assert "--region" not in error and "tag a shorter file" in error and "\n" not in error


def test_a_nearly_silent_file_is_tagged_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A take at -80 dBFS (hiss, a tail of reverb) is tagged, but the musician is told that
    the tags are those of a noise floor, under the level an example clip must reach."""
    path = tmp_path / "hiss.wav"
    noise = np.random.default_rng(0).standard_normal(3 * 44_100) * 1e-4  # about -80 dBFS
    sf.write(path, noise.astype(np.float32), 44_100, subtype="FLOAT")
    assert main(["tag", str(path), "--top", "2"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3  # the tags are still printed
    assert captured.err.startswith("tagbox: warning: 'hiss.wav' is nearly silent")
    assert "-80." in captured.err and "-60 dBFS" in captured.err
    assert captured.err.count("\n") == 1
    loud = tmp_path / "loud.wav"
    sf.write(loud, (noise * 1000).astype(np.float32), 44_100, subtype="FLOAT")
    assert main(["tag", str(loud), "--top", "2"]) == 0
    assert capsys.readouterr().err == ""
