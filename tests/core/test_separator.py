"""The query-conditioned separator network: masks, long inputs, the carry onto other STFTs,
and its weight files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.separator import (
    BINS,
    HOP,
    N_FFT,
    RATE,
    BandBranch,
    QuerySeparator,
    SeparatorShape,
    band_edges,
    inverse,
    load_separator,
    mask_for_stft,
    mask_long,
    save_separator,
    spectrum,
)


@pytest.fixture(scope="module")
def net() -> QuerySeparator:
    torch.manual_seed(0)
    model = QuerySeparator(SeparatorShape(query_dim=12, width=16, layers=1))
    for p in model.parameters():  # FiLM starts at zero; give the query a say
        torch.nn.init.normal_(p, std=0.2)
    return model.eval()


def test_mask_is_a_soft_mask_per_bin_and_depends_on_the_query(net: QuerySeparator) -> None:
    x = torch.randn(2, RATE)
    magnitude = spectrum(x).abs()
    with torch.no_grad():
        a = net(magnitude, torch.zeros(2, 12))
        b = net(magnitude, torch.ones(2, 12))
    assert a.shape == magnitude.shape == (2, BINS, RATE // HOP + 1)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.allclose(a, b)


def test_mask_ignores_the_mixture_level(net: QuerySeparator) -> None:
    magnitude = spectrum(torch.randn(1, RATE)).abs()
    with torch.no_grad():
        quiet, loud = net(magnitude * 0.01, torch.ones(1, 12)), net(magnitude, torch.ones(1, 12))
    torch.testing.assert_close(quiet, loud, atol=1e-5, rtol=0)


def test_long_inputs_run_in_chunks_with_the_same_short_result(net: QuerySeparator) -> None:
    magnitude = spectrum(torch.randn(1, 3 * RATE)).abs()
    query = torch.ones(1, 12)
    with torch.no_grad():
        whole = net(magnitude, query)
        assert torch.equal(mask_long(net, magnitude, query, chunk=10_000), whole)
        chunked = mask_long(net, magnitude, query, chunk=100, overlap=16)
        one_by_one = mask_long(net, magnitude, query, chunk=100, overlap=16, group=1)
    torch.testing.assert_close(one_by_one, chunked)  # groups bound memory, not the result
    assert chunked.shape == whole.shape
    assert float(chunked.min()) >= 0 and float(chunked.max()) <= 1
    # Away from the chunk edges the recurrent context is nearly the same.
    assert float((chunked - whole)[..., 40:60].abs().mean()) < 0.05


def test_carry_to_its_own_grid_is_the_identity_and_44k_keeps_times_and_freqs() -> None:
    mask = torch.rand(BINS, 50)
    same = mask_for_stft(mask, RATE, N_FFT, HOP, 50)
    torch.testing.assert_close(same[: BINS - 1], mask[: BINS - 1])
    # 44.1 kHz, FFT 2048 hop 512: the same bin spacing and frame times for the lower half.
    carried = mask_for_stft(mask, 44_100, 2048, 512, 50)
    assert carried.shape == (1025, 50)
    torch.testing.assert_close(carried[: BINS - 1], mask[: BINS - 1])
    top = mask[int(8000 * N_FFT / RATE) : int(10000 * N_FFT / RATE)].mean(dim=0)
    torch.testing.assert_close(carried[-1], top)
    # Hop 1024: every other frame.
    torch.testing.assert_close(mask_for_stft(mask, 44_100, 2048, 1024, 25)[:100], mask[:100, ::2])


@pytest.mark.parametrize("n_fft", [2048, 1024])
def test_a_long_mask_and_its_carry_stay_on_the_device_of_the_song(n_fft: int) -> None:
    # "meta" stands in for CUDA: a tensor made on the CPU and mixed with it fails the same way.
    device = torch.device("meta")
    model = QuerySeparator(SeparatorShape(query_dim=12, width=16, layers=1)).to(device)
    magnitude = torch.ones(1, BINS, 600, device=device)  # more frames than one chunk
    mask = mask_long(model, magnitude, torch.zeros(1, 12, device=device))
    assert mask.device == device and mask.shape == magnitude.shape
    mask = torch.ones(BINS, 600, device=device)
    carried = mask_for_stft(mask, 44_100, n_fft, n_fft // 4, 600)  # 1024: interpolated
    assert carried.device == device and carried.shape == (n_fft // 2 + 1, 600)


def test_interpolation_at_whole_positions_is_the_values_and_between_them_linear() -> None:
    from tagbox_gui.core.nets.separator import _interp_last

    values = torch.tensor([[0.0, 1.0, 4.0, 9.0], [1.0, 1.0, 0.0, 0.0]])
    whole = torch.arange(3, dtype=torch.float64)
    torch.testing.assert_close(_interp_last(values, whole), values[:, :3])
    between = torch.tensor([0.5, 2.25, 7.0], dtype=torch.float64)  # the last one is clamped
    expected = torch.tensor([[0.5, 5.25, 9.0], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(_interp_last(values, between), expected)
    shifted = torch.arange(1, 4, dtype=torch.float64)  # whole, but not from 0: interpolated
    torch.testing.assert_close(_interp_last(values, shifted), values[:, 1:])


def test_spectrum_round_trip() -> None:
    x = torch.randn(1, RATE)
    torch.testing.assert_close(inverse(spectrum(x), RATE), x, atol=1e-5, rtol=0)


def test_weights_round_trip_with_weights_only(net: QuerySeparator,
                                                           tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "sep.pt"
    save_separator(net, path, {"prototypes": {"piano": torch.zeros(12)}})
    loaded, extra = load_separator(path)
    assert loaded.shape == net.shape and set(extra["prototypes"]) == {"piano"}
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a separator checkpoint"):
        load_separator(tmp_path / "junk.pt")
    with pytest.raises(ModelError, match="missing"):
        load_separator(tmp_path / "absent.pt")


def test_bands_cover_every_bin_once_narrowest_at_the_bottom() -> None:
    edges = band_edges()
    widths = [b - a for a, b in itertools.pairwise(edges)]
    assert edges[0] == 0 and edges[-1] == BINS and len(widths) == 48
    assert min(widths) > 0 and widths == sorted(widths)
    assert widths[0] * RATE / N_FFT < 100  # about 86 Hz: a band per partial of a low note


def test_a_band_branch_starts_silent_then_changes_the_mask(net: QuerySeparator,
                                                           tmp_path: Path) -> None:  # fmt: skip
    banded = QuerySeparator(SeparatorShape(query_dim=12, width=16, layers=1, band_width=8))
    missing, unexpected = banded.load_state_dict(net.state_dict(), strict=False)
    assert not unexpected and missing and all(key.startswith("band.") for key in missing)
    banded.eval()
    magnitude, query = spectrum(torch.randn(2, RATE)).abs(), torch.randn(2, 12)
    with torch.no_grad():
        torch.testing.assert_close(banded(magnitude, query), net(magnitude, query))
        for p in banded.band.parameters():
            torch.nn.init.normal_(p, std=0.2)
        changed = banded(magnitude, query)
    assert (changed - net(magnitude, query)).abs().max() > 1e-2
    path = tmp_path / "banded.pt"
    save_separator(banded, path)
    loaded, _ = load_separator(path)
    assert loaded.shape.band_width == 8
    with torch.no_grad():
        torch.testing.assert_close(loaded(magnitude, query), changed)


def test_band_logits_land_on_their_own_bins() -> None:
    """Band k's output goes to band k's bins, and each band reads only its own bins."""
    branch = BandBranch(cond_dim=4, trunk=8, channels=2)
    edges = band_edges()
    with torch.no_grad():
        branch.merge_bias.copy_(torch.arange(branch.bands, dtype=torch.float32)[:, None])
        logits = branch.logits(torch.zeros(1, 3, branch.bands, 2), torch.zeros(1, 3, 8))
        expected = torch.cat([torch.full((b - a,), float(k))
                              for k, (a, b) in enumerate(itertools.pairwise(edges))])  # fmt: skip
        torch.testing.assert_close(logits[0, 0], expected)
        x = torch.zeros(1, 1, BINS)
        x[..., edges[5] : edges[6]] = 1.0  # only band 5 hears anything
        grouped = (x[..., branch.index] * branch.valid)[0, 0]
    assert grouped[5].sum() == edges[6] - edges[5] and grouped.sum() == grouped[5].sum()
