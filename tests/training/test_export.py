"""Averaging separators (``training.export --run A --run B``): what it accepts and computes."""

from __future__ import annotations

import pytest
import torch

from tagbox_gui.core.nets.separator import QuerySeparator, SeparatorShape
from training.export import average_networks


def _net(seed: int, width: int = 32) -> QuerySeparator:
    torch.manual_seed(seed)
    return QuerySeparator(SeparatorShape(query_dim=8, width=width, layers=1))


def test_the_average_is_the_mean_of_every_tensor() -> None:
    nets = [_net(1), _net(2), _net(3)]
    mean = average_networks(nets).state_dict()
    for key, value in mean.items():
        expected = sum(net.state_dict()[key] for net in nets) / 3
        torch.testing.assert_close(value, expected, rtol=0, atol=1e-7)
    assert not mean["head.2.weight"].requires_grad


def test_networks_of_other_shapes_or_query_statistics_are_refused() -> None:
    with pytest.raises(SystemExit, match="shapes"):
        average_networks([_net(1), _net(2, width=16)])
    other = _net(2)
    other.query_std.fill_(2.0)
    with pytest.raises(SystemExit, match="query statistics"):
        average_networks([_net(1), other])
