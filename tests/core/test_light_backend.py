"""The light backend: masks in [0, 1] of the right shapes, gradients to the gates, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tagbox_gui.core.dsp.nmf import harmonic_percussive
from tagbox_gui.core.dsp.spectral import istft, stft
from tagbox_gui.core.separation.backends import light
from tagbox_gui.core.types import ANALYSIS_RATE, RunConfig

SETTINGS = dataclasses.replace(
    light.SETTINGS, components=8, percussive_components=2, nmf_iterations=20
)


def _mix(seconds: float = 2.0, seed: int = 0) -> torch.Tensor:
    """Two notes and a noise burst: something with structure for the NMF."""
    t = torch.arange(round(seconds * ANALYSIS_RATE)) / ANALYSIS_RATE
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(t.shape, generator=gen) * (t > seconds / 2)
    x = torch.sin(2 * torch.pi * 220 * t) + 0.5 * torch.sin(2 * torch.pi * 659 * t) + 0.2 * noise
    return (x / x.abs().max()).reshape(1, -1)


def _backend(mix: torch.Tensor, seed: int = 0, **changes: object):
    backend = light.LightBackend(dataclasses.replace(SETTINGS, **changes))
    return backend, backend.init_latent(mix, seed)


def test_latent_is_a_leaf_of_gates_starting_at_one_half() -> None:
    mix = _mix(2.0)
    backend, latent = _backend(mix, gate_seconds=0.5)
    assert latent.is_leaf and latent.requires_grad
    assert latent.shape == (8, 4)  # 2 s in stretches of 0.5 s
    mask = backend.nmf_mask(latent)
    torch.testing.assert_close(mask, torch.full_like(mask, 0.5), atol=1e-4, rtol=0)
    _, constant = _backend(mix, gate_seconds=None)
    assert constant.shape == (8, 1)


@pytest.mark.parametrize(("gate_seconds", "percussive"), [(None, 2), (0.5, 2), (None, 0)])
def test_masks_have_the_mix_shapes_and_lie_in_unit_interval(
    gate_seconds: float | None, percussive: int
) -> None:
    mix = _mix(1.5)
    backend, latent = _backend(mix, gate_seconds=gate_seconds, percussive_components=percussive)
    with torch.no_grad():
        latent.normal_(0, 3, generator=torch.Generator().manual_seed(1))
    stfts = {n: stft(mix, n) for n in (2048, 1024, 512)}
    masks = backend.masks(latent, stfts)
    assert set(masks) == set(stfts)
    for n, mask in masks.items():
        assert mask.shape == stfts[n].shape
        assert float(mask.detach().min()) >= 0.0 and float(mask.detach().max()) <= 1.0
        assert float(mask.detach().std()) > 0.01  # the gates matter
    audio = backend.decode(latent)
    assert audio.shape == mix.shape


def test_masks_at_other_fft_sizes_come_from_the_nmf_estimate() -> None:
    mix = _mix(1.0)
    backend, latent = _backend(mix)
    with torch.no_grad():
        latent.uniform_(-4, 4, generator=torch.Generator().manual_seed(3))
    x512 = stft(mix, 512)
    mask512 = backend.masks(latent, {512: x512})[512]
    est = stft(backend.decode(latent), 512).abs()
    torch.testing.assert_close(mask512, est / (torch.maximum(est, x512.abs()) + 1e-8))


def test_all_open_gates_pass_the_mix_and_closed_gates_silence_it() -> None:
    mix = _mix(1.0)
    backend, latent = _backend(mix)
    spec = stft(mix, SETTINGS.nmf_fft)[0]
    full = backend.nmf_mask(torch.full_like(latent, 30.0))
    assert float(full[spec.abs() > 1e-3].min()) > 0.999
    out = istft(full * spec, SETTINGS.nmf_fft, mix.shape[-1])
    np.testing.assert_allclose(out.numpy(), mix[0].numpy(), atol=2e-3)
    none = backend.nmf_mask(torch.full_like(latent, -30.0))
    assert float(none.max()) < 1e-3


def test_gradients_reach_every_gate() -> None:
    mix = _mix(2.0)
    backend, latent = _backend(mix, gate_seconds=0.5)
    stfts = {n: stft(mix, n) for n in (2048, 1024)}
    masks = backend.masks(latent, stfts)
    # A loss that wants the high band: every component and stretch has some say in it.
    loss = sum((m[..., m.shape[-2] // 4 :, :] * s.abs()[..., m.shape[-2] // 4 :, :]).mean()
               for m, s in zip(masks.values(), stfts.values(), strict=True))  # fmt: skip
    loss.backward()
    assert latent.grad is not None and latent.grad.shape == latent.shape
    assert torch.isfinite(latent.grad).all()
    assert int((latent.grad.abs() > 0).sum()) == latent.numel()


def test_same_seed_same_masks_other_seed_other_factorisation() -> None:
    mix = _mix(1.0)
    a, la = _backend(mix, seed=5)
    b, _ = _backend(mix, seed=5)
    c, _ = _backend(mix, seed=6)
    g = torch.linspace(-3, 3, la.numel()).reshape(la.shape)
    assert torch.equal(a.nmf_mask(g), b.nmf_mask(g))
    assert not torch.allclose(a.nmf_mask(g), c.nmf_mask(g))


def test_defaults_are_run_config_fields_and_create_makes_a_backend() -> None:
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert set(light.LIGHT_DEFAULTS) <= fields
    assert light.DEFAULTS is light.LIGHT_DEFAULTS
    config = dataclasses.replace(RunConfig(tags=("piano",)), **light.LIGHT_DEFAULTS)
    factory = light.create(config, None, torch.device("cpu"), None)  # needs no model store
    backend = factory()
    assert isinstance(backend, light.LightBackend) and backend.name == "light"
    with pytest.raises(RuntimeError):
        backend.nmf_mask(torch.zeros(3, 1))


def test_prior_sets_the_starting_mask_with_the_share_mask() -> None:
    mix = _mix(1.0)
    backend, latent = _backend(mix, prior=0.2, power=1.0)
    mask = backend.nmf_mask(latent).detach()
    torch.testing.assert_close(mask, torch.full_like(mask, 0.2), atol=1e-4, rtol=0)


def test_split_factorisation_models_the_harmonic_and_percussive_parts_apart() -> None:
    mix = _mix(2.0)
    backend, latent = _backend(mix, percussive_components=3)
    W, H, V_hat = backend._factors()
    assert W.shape[1] == H.shape[0] == 8 and latent.shape == (8, 1)
    spec = stft(mix, SETTINGS.nmf_fft)[0].abs()
    harmonic, percussive = harmonic_percussive(spec)
    # The first five components model the harmonic part, the last three the percussive part.

    def misfit(block: slice, part: torch.Tensor) -> float:
        return float((W[:, block] @ H[block] - part).abs().sum() / part.sum())

    assert misfit(slice(0, 5), harmonic) < 0.5 * misfit(slice(0, 5), percussive)
    assert misfit(slice(5, 8), percussive) < 0.7 * misfit(slice(5, 8), harmonic)
    torch.testing.assert_close(V_hat, W @ H)
    opened = torch.full_like(latent, 20.0)
    opened[5:] = -20.0  # only the harmonic components
    with torch.no_grad():
        heard = stft(backend.decode(opened), SETTINGS.nmf_fft)[0].abs()
    assert float((heard - harmonic).abs().sum()) < float((heard - percussive).abs().sum())


def test_settings_refuse_a_percussive_part_without_a_harmonic_one() -> None:
    with pytest.raises(ValueError, match="percussive_components"):
        dataclasses.replace(SETTINGS, percussive_components=8)
    with pytest.raises(ValueError, match="percussive_components"):
        dataclasses.replace(SETTINGS, percussive_components=-1)
