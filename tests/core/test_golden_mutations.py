"""The golden comparisons still catch real errors: each deliberate one-line mistake fails them.

The tolerances of ``golden_checks`` were chosen from the rounding measured across CPUs; these
tests show they stay tight enough that a mel filterbank shifted by one bin, a Hann window off
by one sample and constant instead of reflect STFT padding are each caught, on a real tagger
(fcn/mtat) and on the random-weight HarmonicCNN.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from tagbox_gui.core.nets.taggers import Tagger, load_tagger
from tagbox_gui.core.types import TaggerSpec
from tests.conftest import require
from tests.core.golden_checks import LOSS_TOLERANCE, gradient_matches, probabilities_match

pytestmark = pytest.mark.slow

Mutation = Callable[[Tagger, pytest.MonkeyPatch], None]


def _roll_buffer(module: torch.nn.Module, name: str, dim: int = 0) -> None:
    buffer = getattr(module, name)
    buffer.copy_(torch.roll(buffer.clone(), 1, dims=dim))


def _filterbank_shifted(tagger: Tagger, _: pytest.MonkeyPatch) -> None:
    _roll_buffer(tagger.net.spec.mel_scale, "fb")


def _window_off_by_one(tagger: Tagger, _: pytest.MonkeyPatch) -> None:
    spectrogram = getattr(tagger.net, "spec", None) or tagger.net.hstft
    stft_module = getattr(spectrogram, "spectrogram", None) or spectrogram.spec
    _roll_buffer(stft_module, "window")


def _constant_padding(_: Tagger, monkeypatch: pytest.MonkeyPatch) -> None:
    stft = torch.stft
    monkeypatch.setattr(torch, "stft", lambda *a, **k: stft(*a, **{**k, "pad_mode": "constant"}))


def _pcm(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float32) / 32768)


def _loss_and_grad(tagger: Tagger, x: torch.Tensor, tags: list[int]) -> tuple[float, np.ndarray]:
    x = x.clone().requires_grad_(True)
    target = torch.zeros(50)
    target[tags] = 1.0
    loss = F.binary_cross_entropy(tagger.window_probs(x).mean(dim=0), target)
    loss.backward()
    return loss.item(), x.grad.numpy()


@pytest.mark.parametrize(
    ("mutation", "fails_gradient"),
    [(_filterbank_shifted, True), (_window_off_by_one, True), (_constant_padding, False)],
    ids=["filterbank+1bin", "window-off-by-one", "constant-padding"],
)
def test_fcn_goldens_catch_a_one_line_error(
    mutation: Mutation, fails_gradient: bool, model_dir: Path, fixtures_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    folder = fixtures_dir / "taggers"
    arrays = np.load(require(folder / "golden.npz"))
    meta = json.loads((folder / "golden.json").read_text())
    path = require(model_dir / "taggers" / "mtat" / "fcn" / "best_model.pth")
    tagger = load_tagger(TaggerSpec("fcn", "mtat"), path)
    x = _pcm(arrays["a_10s_pcm"])
    tags = [tagger.vocabulary.index(tag) for tag in meta["grad_tags"]]
    expected_probs, expected_grad = arrays["mtat_fcn_a_10s_chunks"], arrays["mtat_fcn_a_10s_grad"]
    # Unmutated, every comparison holds.
    with torch.no_grad():
        assert probabilities_match(tagger.window_probs(x).numpy(), expected_probs)
    loss, grad = _loss_and_grad(tagger, x, tags)
    assert abs(loss / meta["mtat_fcn_loss_grad_tags"] - 1) <= LOSS_TOLERANCE
    assert gradient_matches(grad, expected_grad)

    mutation(tagger, monkeypatch)
    with torch.no_grad():
        assert not probabilities_match(tagger.window_probs(x).numpy(), expected_probs)
    loss, grad = _loss_and_grad(tagger, x, tags)
    assert abs(loss / meta["mtat_fcn_loss_grad_tags"] - 1) > LOSS_TOLERANCE
    assert gradient_matches(grad, expected_grad) is not fails_gradient


@pytest.mark.parametrize("mutation", [_window_off_by_one, _constant_padding], ids=["window", "pad"])
def test_harmonic_cnn_golden_catches_a_one_line_error(
    mutation: Mutation, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fixtures_dir / "taggers"
    arrays = np.load(require(folder / "hcnn_golden.npz"))
    tagger = load_tagger(TaggerSpec("hcnn", "mtat"), require(folder / "hcnn_random.pth"))
    x = _pcm(arrays["x_pcm"])
    with torch.no_grad():
        assert probabilities_match(tagger.window_probs(x).numpy(), arrays["chunk_probs"])
        mutation(tagger, monkeypatch)
        assert not probabilities_match(tagger.window_probs(x).numpy(), arrays["chunk_probs"])
