"""The engine against the published TagBox loop (../shared/fixtures/jukebox/golden.json).

Configured as the fixture: Jukebox random-weight checkpoint, frozen codebook (straight-through),
mask mode, mix = the input itself (not peak-normalised), fcn/mtat + musicnn/mtat, tag piano,
FFT 2048/1024/512, Adam lr 5.

Where the optimisation starts: our encoder reproduces the published latent to 7e-7 (max abs),
but the random codebook has near-ties (two codebook vectors within 1e-5 in distance of a latent
frame), and that rounding flips 36 of the 16384 codes. The flips move the decoded audio by
2.4e-4 at most, and the step-1 loss terms by up to 1.2e-3 (measured), because the mask
|J| / max(|J|, |X|) is sensitive where the mix is quiet. So the tight comparison starts from the
published latent (``latent_e0``), and our own encoding is held to the looser figure it reaches.

Step 1 is compared tightly (losses and gradient norm); later steps' losses loosely, because
Adam with lr 5 amplifies float rounding (see the fixtures' README). The gradient norm after an
Adam step is not compared: it moved by 15% at step 2 when only the rounding differed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tagbox_gui.core.nets.jukebox import load_vqvae
from tagbox_gui.core.nets.taggers import load_tagger, vocabulary
from tagbox_gui.core.separation.backends.jukebox import JukeboxBackend
from tagbox_gui.core.separation.engine import Optimisation
from tagbox_gui.core.separation.objective import Criterion
from tagbox_gui.core.separation.tags import resolve_targets
from tagbox_gui.core.types import RunConfig, TaggerSpec
from tests.conftest import require

pytestmark = pytest.mark.slow


class PublishedStart(JukeboxBackend):
    """The Jukebox backend, starting from the published latent instead of our encoding."""

    latent: torch.Tensor

    def init_latent(self, mix: torch.Tensor, seed: int) -> torch.Tensor:
        super().init_latent(mix, seed)
        return self.latent.clone().requires_grad_(True)


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    folder = fixtures_dir / "jukebox"
    return json.loads(require(folder / "golden.json").read_text()), np.load(
        require(folder / "golden.npz")
    )


def _run(golden, fixtures_dir, model_dir, backend_class, steps=None):
    spec, arrays = golden
    mix = arrays["x_pcm"].astype(np.float32) / 32768
    specs = tuple(TaggerSpec.parse(t) for t in spec["taggers"])
    config = RunConfig(tags=tuple(spec["tags"]), taggers=specs, fft_sizes=tuple(spec["fft"]),
                       steps=steps or spec["steps"], lr=spec["lr"], seed=spec["seed"])  # fmt: skip
    device = torch.device("cpu")
    criteria = []
    for tagger_spec in specs:
        path = model_dir / "taggers" / tagger_spec.dataset / tagger_spec.arch / "best_model.pth"
        vocab = vocabulary(tagger_spec.dataset)
        targets = resolve_targets(tagger_spec.dataset, vocab, config.tags)
        assert list(np.flatnonzero(targets.target)) == spec["tag_indices"]
        criteria.append(Criterion.build(load_tagger(tagger_spec, path), targets, device))
    model = load_vqvae(require(fixtures_dir / "jukebox" / "vqvae_random.pth.tar"))
    backend_class.latent = torch.from_numpy(arrays["latent_e0"])
    opt = Optimisation(config, mix, criteria, lambda: backend_class(model), device)
    return [s for s in opt.drive(0) if s is not None]


@pytest.fixture(scope="module")
def published_start(golden, fixtures_dir, model_dir):
    return _run(golden, fixtures_dir, model_dir, PublishedStart)


def _components(step):
    return {**step.losses, "total": step.total}


def test_step_one_matches_the_published_loop(golden, published_start):
    expected, step = golden[0]["trajectory"][0], published_start[0]
    assert set(step.losses) == set(expected) - {"total", "grad_norm"}
    for key, value in _components(step).items():
        assert value == pytest.approx(expected[key], rel=1e-4), key
    assert step.grad_norm == pytest.approx(expected["grad_norm"], rel=1e-3)


def test_later_steps_follow_the_published_loop(golden, published_start):
    trajectory = golden[0]["trajectory"]
    assert len(published_start) == len(trajectory)
    for expected, step in zip(trajectory[1:], published_start[1:], strict=True):
        for key, value in _components(step).items():
            assert value == pytest.approx(expected[key], rel=3e-2), (step.step, key)


def test_step_one_from_our_own_encoding(golden, fixtures_dir, model_dir):
    """Our own encoding differs from the published start only by near-tie codes.

    Its codes that differ from the published ones are all near-ties (checked in
    test_jukebox.py::test_codes_of_our_latent_differ_only_at_near_ties); which ones flip
    depends on the CPU's rounding (36 where the goldens were made, 32 on an AVX-512 Xeon). The
    flips move the step-1 loss terms by up to 1.2e-3 on both, so the losses are held to 2e-3.
    The gradient norm is not compared here: the 32 flips of the Xeon moved it by 2.1 %, past
    the 2 % that held where the goldens were made, so it says which codes flipped, not whether
    the engine is right. It is compared to 1e-3 from the published latent (measured 2.6e-4,
    test_step_one_matches_the_published_loop).
    """
    (step,) = _run(golden, fixtures_dir, model_dir, JukeboxBackend, steps=1)
    expected = golden[0]["trajectory"][0]
    for key, value in _components(step).items():
        assert value == pytest.approx(expected[key], rel=2e-3), key
