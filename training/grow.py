"""A run that starts from given weights, in a network grown wider or deeper than theirs: it
begins as the network it was given, so that what it learns is what it adds."""

from __future__ import annotations

from pathlib import Path

import torch

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.separator import QuerySeparator, SeparatorShape, load_separator


def load_init(net: QuerySeparator, path: Path) -> None:
    """Start ``net`` from the weights at ``path``; what they lack starts so as to change nothing.

    A band branch they lack starts fresh (its outputs start at zero). Recurrent blocks they
    lack (``--layers`` above theirs; the new blocks come last) start as the identity: their
    FiLM scale starts at ``1 + gamma = 0``, so a block adds nothing until it learns. Blocks
    with more GRU units than theirs (``--hidden``) keep their units and add new ones
    (:func:`widened_blocks`). Either way the network begins as the one it was given.
    """
    try:
        given = load_separator(path)[0]
    except ModelError as exc:  # not weights save_separator wrote, or damaged
        raise SystemExit(f"--init: {exc}") from exc
    conflicts = shape_conflicts(given.shape, net.shape)
    if conflicts:
        raise SystemExit(f"{path} does not fit this network: it needs {', '.join(conflicts)}; "
                         "give the weights' settings (--layers, --hidden and --band-width may "
                         "grow)")  # fmt: skip
    try:
        state = widened_blocks(given, net)
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another size (in a widened block too)
        first = str(exc).strip().splitlines()[0]
        raise SystemExit(f"{path} does not fit this network: {first}") from exc
    if unexpected or any(not key.startswith(("band.", "blocks.")) for key in missing):
        raise SystemExit(f"{path} does not fit this network: {missing + unexpected}")
    for index in sorted({int(key.split(".")[1]) for key in missing if key.startswith("blocks.")}):
        film = net.blocks[index].film.proj
        with torch.no_grad():
            film.bias[: film.out_features // 2] = -1.0  # gamma: the scale 1 + gamma is 0


def _units(shape: SeparatorShape) -> int:
    """GRU units per direction of each recurrent block of a network of ``shape``."""
    return shape.hidden or shape.width // 2


def shape_conflicts(given: SeparatorShape, wanted: SeparatorShape) -> list[str]:
    """What a network of shape ``wanted`` lacks to start from weights of shape ``given``, as
    the settings it needs (``--width 256 (this run: 16)``); empty when :func:`load_init` can
    start it (the same shape, or one with more blocks, more GRU units or a band branch added)."""
    needs = []
    if given.query_dim != wanted.query_dim:
        needs.append(f"queries of {given.query_dim} numbers (this corpus's: {wanted.query_dim})")
    if given.width != wanted.width:
        needs.append(f"--width {given.width} (this run: {wanted.width})")
    if given.layers > wanted.layers:
        needs.append(f"--layers of at least {given.layers} (this run: {wanted.layers})")
    if given.width == wanted.width and _units(given) > _units(wanted):
        needs.append(f"--hidden of at least {_units(given)} (this run: {_units(wanted)})")
    if given.band_width not in (0, wanted.band_width):
        needs.append(f"--band-width {given.band_width} (this run: {wanted.band_width})")
    return needs


@torch.no_grad()
def widened_blocks(given: QuerySeparator, net: QuerySeparator) -> dict[str, torch.Tensor]:
    """``given``'s state, with each of its recurrent blocks that ``net`` makes wider (more GRU
    units per direction) embedded in ``net``'s own freshly initialised tensors.

    The given units keep their weights and come first in each gate of each direction; the
    recurrent weights from the new units into them are zero, so they run as before whatever
    the new units do. The block's output map (``out``, which a block of ``width // 2`` units
    lacks) takes the given units to the channels they fed and starts at zero for the new
    ones, so the network begins as the one it was given while every new unit gets a gradient.
    """
    state = dict(given.state_dict())
    for index, (old, new) in enumerate(zip(given.blocks, net.blocks, strict=False)):
        h0, h1 = old.gru.hidden_size, new.gru.hidden_size
        if h1 <= h0:
            continue
        prefix = f"blocks.{index}."
        fresh = new.state_dict()
        for name, tensor in old.gru.state_dict().items():
            grown = fresh[f"gru.{name}"].clone()
            for gate in range(3):
                rows = slice(gate * h1, gate * h1 + h0)
                if name.startswith("weight_hh"):
                    grown[rows, :h0] = tensor[gate * h0 : (gate + 1) * h0]
                    grown[rows, h0:] = 0.0  # the new units do not reach the given ones
                else:
                    grown[rows] = tensor[gate * h0 : (gate + 1) * h0]
            state[f"{prefix}gru.{name}"] = grown
        width = old.norm.normalized_shape[0]
        out = torch.zeros(width, 2 * h1)
        given_out = old.out.weight if old.out is not None else torch.eye(width)
        out[:, :h0] = given_out[:, :h0]
        out[:, h1 : h1 + h0] = given_out[:, h0:]
        state[f"{prefix}out.weight"] = out
        state[f"{prefix}out.bias"] = (
            old.out.bias.clone() if old.out is not None else torch.zeros(width)
        )
    return state
