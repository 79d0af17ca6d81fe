"""The Jukebox VQ-VAE bottom level against the published code's outputs, and its loader."""

from __future__ import annotations

import copy
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.jukebox import VQVAEBottom, load_vqvae, official_key
from tagbox_gui.core.nets.jukebox_quant import make_quantiser
from tagbox_gui.core.separation.backends.jukebox import JukeboxBackend, create
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.types import Quantise, RunConfig
from tests.conftest import require

TOL = 1e-4  # max abs error allowed against the golden arrays


@pytest.fixture(scope="module")
def checkpoint(fixtures_dir: Path) -> Path:
    return require(fixtures_dir / "jukebox" / "vqvae_random.pth.tar")


@pytest.fixture(scope="module")
def golden(fixtures_dir: Path) -> dict[str, np.ndarray]:
    with np.load(require(fixtures_dir / "jukebox" / "golden.npz")) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def model(checkpoint: Path) -> VQVAEBottom:
    return load_vqvae(checkpoint)


@pytest.fixture(scope="module")
def official(checkpoint: Path) -> dict:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def our_latent(model: VQVAEBottom, golden: dict[str, np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(golden["x_pcm"].astype(np.float32) / 32768).view(1, 1, -1)
    with torch.no_grad():
        return model.encode(x)


def _max_err(ours: torch.Tensor, ref: np.ndarray) -> float:
    return float(np.max(np.abs(ours.detach().numpy() - ref)))


# --- equivalence with the published code ---------------------------------------------------


def test_encoder_matches_published_latent(our_latent, golden) -> None:
    assert our_latent.shape == golden["latent_e0"].shape == (1, 64, 16384)
    assert _max_err(our_latent, golden["latent_e0"]) < TOL


def test_codes_match_published_codes(model, golden) -> None:
    codes = model.codes(torch.from_numpy(golden["latent_e0"]))
    assert codes.dtype == torch.long
    assert np.mean(codes.numpy() == golden["codes0"]) >= 0.999


def test_codes_of_our_latent_differ_only_at_near_ties(model, our_latent, golden) -> None:
    """Float rounding moves our latent by ~1e-7, which flips exact-tie codes, nothing else."""
    codes = model.codes(our_latent)[0]
    ref_codes = torch.from_numpy(golden["codes0"][0]).long()
    assert float((codes == ref_codes).double().mean()) >= 0.995
    ref_latent = torch.from_numpy(golden["latent_e0"][0]).double().t()
    book = model.codebook.double()
    for frame in (codes != ref_codes).nonzero()[:, 0]:
        dist = ((book - ref_latent[frame]) ** 2).sum(1)
        assert abs(float(dist[codes[frame]] - dist[ref_codes[frame]])) < 1e-5


def test_dequantise_matches_published(model, golden) -> None:
    dequant = model.dequantise(torch.from_numpy(golden["codes0"]).long())
    assert dequant.shape == (1, 64, 16384)
    assert _max_err(dequant, golden["dequant0"]) < TOL


def test_decoder_matches_published_decode_of_codes(model, golden) -> None:
    with torch.no_grad():
        audio = model.decode(model.dequantise(torch.from_numpy(golden["codes0"]).long()))
    assert audio.shape == (1, 1, 131072)
    assert _max_err(audio[:, 0, :, None], golden["recon_codes"]) < TOL


def test_decoder_matches_published_continuous_decode(model, golden) -> None:
    with torch.no_grad():
        audio = model.decode(torch.from_numpy(golden["latent_e0"]))
    assert _max_err(audio, golden["decode_continuous"]) < TOL


# --- speed-motivated layout does not change the gradient ------------------------------------


def _latent_grad(model: VQVAEBottom, latent: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    leaf = latent.clone().requires_grad_(True)
    (model.decode(leaf) * weights).sum().backward()
    return leaf.grad


def test_decoder_gradient_equals_plain_autograd(model) -> None:
    """The in-place, input-only backward computes exactly what autograd does.

    Compared in float64: in float32 a pre-activation within rounding of zero can take the
    other side of a ReLU in one computation and not the other, which moves the gradient by up
    to 1% wherever it reaches (measured), whichever of the two is closer to the exact value.
    """
    torch.manual_seed(1)
    latent, weights = 0.3 * torch.randn(1, 64, 300), torch.randn(1, 1, 2400)
    exact = copy.deepcopy(model).double()
    fast = _latent_grad(exact, latent.double(), weights.double())  # frozen: our backward
    exact.requires_grad_(True)  # weights with gradients: ordinary autograd throughout
    plain = _latent_grad(exact, latent.double(), weights.double())
    torch.testing.assert_close(fast, plain, rtol=1e-9, atol=1e-12)
    single = _latent_grad(model, latent, weights).double()
    assert float((single - fast).norm() / fast.norm()) < 1e-2  # float32, ReLU flips and all


def test_the_backend_leaves_the_allocator_as_the_process_has_it(
    checkpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window stays open between runs: a jukebox run there must not make the process keep
    every freed block (the commands that end with their run do that, core.separation.memory)."""
    import ctypes

    def tuned(*args: object) -> None:
        pytest.fail("the C allocator was tuned by the backend")

    monkeypatch.setattr(ctypes, "CDLL", tuned)
    store = types.SimpleNamespace(jukebox_path=lambda: checkpoint)
    create(RunConfig(tags=("piano",)), store, torch.device("cpu"), ModelCache())()


# --- lengths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 7, 8, 1003, 4099])
def test_any_length_round_trips_shape(model, length) -> None:
    x = torch.rand(2, 1, length) - 0.5
    with torch.no_grad():
        latent = model.encode(x)
        frames = -(-length // 8)
        assert latent.shape == (2, 64, frames)
        assert model.decode(latent).shape == (2, 1, 8 * frames)
        assert model.reconstruct(x).shape == (2, 1, length)


def test_padding_is_zeros_at_the_end(model) -> None:
    x = torch.rand(1, 1, 1003) - 0.5
    with torch.no_grad():
        padded = torch.cat([x, torch.zeros(1, 1, 5)], dim=-1)
        torch.testing.assert_close(model.encode(x), model.encode(padded), rtol=0, atol=0)


# --- loading ---------------------------------------------------------------------------------


def test_loaded_model_is_frozen_eval_and_holds_every_tensor(model, official) -> None:
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    state = official["model"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value.reshape(state[official_key(name)].shape),
                                   state[official_key(name)], rtol=0, atol=0)  # fmt: skip


def test_decoder_dilations_are_reversed(model) -> None:
    first = model.decoder.stages[0].res
    assert [b.conv3.dilation[1] for b in first] == [3**i for i in reversed(range(8))]
    enc = model.encoder.stages[0].res
    assert [b.conv3.dilation[1] for b in enc] == [3**i for i in range(8)]


def _save(tmp_path: Path, checkpoint: dict, name: str = "vqvae.pth.tar") -> Path:
    path = tmp_path / name
    torch.save(checkpoint, path)
    return path


def test_module_prefix_is_tolerated(tmp_path, official, model) -> None:
    prefixed = {f"module.{k}": v for k, v in official["model"].items()}
    loaded = load_vqvae(_save(tmp_path, {**official, "model": prefixed}))
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)


def test_missing_tensor_is_named(tmp_path, official) -> None:
    state = dict(official["model"])
    del state["decoders.0.level_blocks.0.model.2.0.model.5.model.3.weight"]
    with pytest.raises(ModelError, match=r"missing 'decoders\.0\.level_blocks\.0\.model\.2\.0"):
        load_vqvae(_save(tmp_path, {**official, "model": state}))


def test_misshaped_tensor_is_named(tmp_path, official) -> None:
    state = dict(official["model"])
    state["encoders.0.level_blocks.0.model.0.0.weight"] = torch.zeros(64, 2, 4)
    with pytest.raises(ModelError, match=r"model\.0\.0\.weight' is \(64, 2, 4\), expected"):
        load_vqvae(_save(tmp_path, {**official, "model": state}))


def test_misshaped_codebook_is_named(tmp_path, official) -> None:
    state = dict(official["model"])
    state["bottleneck.level_blocks.0.k"] = torch.zeros(1024, 64)
    with pytest.raises(ModelError, match=r"level_blocks\.0\.k' is \(1024, 64\)"):
        load_vqvae(_save(tmp_path, {**official, "model": state}))


def test_extra_level0_tensor_is_refused(tmp_path, official) -> None:
    state = dict(official["model"])
    state["decoders.0.level_blocks.0.model.1.0.model.8.model.1.weight"] = torch.zeros(64, 64, 3)
    with pytest.raises(ModelError, match=r"unexpected 'decoders\.0\.level_blocks\.0\.model\.1\.0"):
        load_vqvae(_save(tmp_path, {**official, "model": state}))


def test_missing_upper_level_is_named(tmp_path, official) -> None:
    state = {k: v for k, v in official["model"].items() if not k.startswith("decoders.2.")}
    del state["bottleneck.level_blocks.1.k"]
    with pytest.raises(ModelError) as caught:
        load_vqvae(_save(tmp_path, {**official, "model": state}))
    assert "no 'decoders.2.*' tensors" in str(caught.value)
    assert "missing 'bottleneck.level_blocks.1.k'" in str(caught.value)


def test_truncated_file_is_refused(tmp_path, checkpoint) -> None:
    data = checkpoint.read_bytes()
    path = tmp_path / "vqvae.pth.tar"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"truncated or corrupt.*tagbox models fetch"):
        load_vqvae(path)


def test_not_a_checkpoint_and_absent_file(tmp_path) -> None:
    with pytest.raises(ModelError, match="no 'model' state dict"):
        load_vqvae(_save(tmp_path, {"weights": torch.zeros(3)}))
    with pytest.raises(ModelError, match="does not exist"):
        load_vqvae(tmp_path / "absent.pth.tar")


def test_pickle_needing_file_is_refused_unless_trusted(tmp_path, official) -> None:
    hps = types.SimpleNamespace(levels=3)  # not an allow-listed type for weights_only loading
    path = _save(tmp_path, {**official, "hps": hps})
    with pytest.raises(ModelError, match=r"arbitrary code.*trust_pickle=True"):
        load_vqvae(path)
    assert isinstance(load_vqvae(path, trust_pickle=True), VQVAEBottom)


def test_official_hyperparams_object_loads_without_trust(tmp_path, official, monkeypatch) -> None:
    """OpenAI's files store `hps` as jukebox.hparams.Hyperparams (a dict subclass)."""

    class Hyperparams(dict):
        def __getattr__(self, name):
            return self[name]

    module = types.ModuleType("jukebox.hparams")
    Hyperparams.__module__, Hyperparams.__qualname__ = "jukebox.hparams", "Hyperparams"
    module.Hyperparams = Hyperparams
    monkeypatch.setitem(sys.modules, "jukebox", types.ModuleType("jukebox"))
    monkeypatch.setitem(sys.modules, "jukebox.hparams", module)
    path = _save(tmp_path, {**official, "hps": Hyperparams(levels=3, sr=44100)})
    monkeypatch.delitem(sys.modules, "jukebox.hparams")  # the loader must not need jukebox
    assert isinstance(load_vqvae(path), VQVAEBottom)


# --- quantisers ------------------------------------------------------------------------------


def _latent(frames: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(1, 64, frames, generator=gen)


def test_frozen_quantiser_uses_codebook_and_passes_gradient(model) -> None:
    latent = _latent(500).requires_grad_(True)
    q = make_quantiser(model, Quantise.FROZEN)(latent)
    torch.testing.assert_close(q, model.dequantise(model.codes(latent)), rtol=0, atol=1e-7)
    weights = torch.randn_like(q)
    (q * weights).sum().backward()
    assert torch.equal(latent.grad, weights)


def test_none_quantiser_is_identity(model) -> None:
    latent = _latent(50)
    assert make_quantiser(model, "none")(latent) is latent


def test_reference_quantiser_restarts_codebook_from_the_song(model) -> None:
    before = model.codebook.clone()
    latent = _latent(3000).requires_grad_(True)
    quant = make_quantiser(model, Quantise.REFERENCE, seed=3)
    first = quant(latent)
    # First call: codebook = random frames of this latent, so each output frame is one of them.
    frames = latent.detach()[0].t()
    out = first.detach()[0].t()
    nearest = torch.cdist(out, frames, compute_mode="donot_use_mm_for_euclid_dist").min(1).values
    assert float(nearest.max()) < 1e-6
    second = quant(latent)  # EMA update moved the codebook
    assert not torch.equal(first, second)
    (second * 2).sum().backward()
    assert torch.equal(latent.grad, torch.full_like(latent, 2.0))
    assert torch.equal(model.codebook, before)  # the loaded model is never touched


def test_reference_quantiser_is_deterministic_for_a_seed(model) -> None:
    latent = _latent(700)  # fewer frames than codebook entries: tiled with noise
    runs = []
    for seed in (5, 5, 6):
        quant = make_quantiser(model, Quantise.REFERENCE, seed=seed)
        runs.append(torch.stack([quant(latent + 0.01 * i) for i in range(3)]))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


# --- backend ---------------------------------------------------------------------------------


def test_backend_encodes_decodes_and_crops(model) -> None:
    backend = JukeboxBackend(model, Quantise.FROZEN)
    assert backend.name == "jukebox"
    assert "commercial" in backend.licence.lower()
    mix = torch.rand(1, 4003) - 0.5
    latent = backend.init_latent(mix, seed=0)
    assert latent.is_leaf and latent.requires_grad and latent.shape == (1, 64, 501)
    with torch.no_grad():
        torch.testing.assert_close(latent, model.encode(mix[None]), rtol=0, atol=0)
    audio = backend.decode(latent)
    assert audio.shape == (1, 4003)
    audio.pow(2).sum().backward()
    assert latent.grad is not None and float(latent.grad.abs().sum()) > 0


def test_backend_factory_loads_the_model_once(checkpoint) -> None:
    store = types.SimpleNamespace(jukebox_path=lambda: checkpoint)
    cache, config = ModelCache(), RunConfig(tags=("piano",), quantise=Quantise.REFERENCE)
    make = create(config, store, torch.device("cpu"), cache)
    first, second = make(), make()
    again = create(config, store, torch.device("cpu"), cache)()
    assert first is not second and first.model is second.model is again.model
    assert first.quantise is Quantise.REFERENCE
