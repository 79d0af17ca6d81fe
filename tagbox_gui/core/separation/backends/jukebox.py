"""The Jukebox backend: the latent is the bottom-level Jukebox VQ-VAE encoding of the segment.

As in TagBox (Manilow et al., 2022): the optimisation starts from the encoder's output for the
mix and every step decodes ``decoder(quantise(latent))``; the quantisation follows
``RunConfig.quantise`` (see ``core.nets.jukebox_quant``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.jukebox import HOP, VQVAEBottom, load_vqvae
from tagbox_gui.core.nets.jukebox_quant import make_quantiser
from tagbox_gui.core.separation.backends.base import Backend
from tagbox_gui.core.store.models import is_torch_checkpoint
from tagbox_gui.core.store.registry import JUKEBOX, JUKEBOX_LICENCE_TEXT, model_info
from tagbox_gui.core.types import Quantise, RunConfig

if TYPE_CHECKING:
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.store.models import ModelStore

DEFAULTS: dict[str, object] = {"lr": 5.0, "fft_sizes": (2048, 1024, 512)}
"""The published TagBox settings for this backend."""


class JukeboxBackend(Backend):
    """One segment's latent through the Jukebox VQ-VAE bottom level (shared, frozen model)."""

    name = "jukebox"
    licence = JUKEBOX_LICENCE_TEXT

    def __init__(self, model: VQVAEBottom, quantise: Quantise = Quantise.FROZEN) -> None:
        self.model = model
        self.quantise = Quantise(quantise)
        self._quantiser = make_quantiser(model, self.quantise, seed=0)
        self._length: int | None = None

    def init_latent(self, mix: torch.Tensor, seed: int) -> torch.Tensor:
        """The encoder output for ``mix`` ``[1, T]``: a leaf ``[1, 64, ceil(T/8)]``.

        ``seed`` seeds the reference quantiser's random codebook restarts (other modes are
        deterministic).
        """
        if mix.dim() != 2 or mix.shape[0] != 1:
            raise ValueError(f"mix must be [1, T], got {tuple(mix.shape)}")
        self._length = mix.shape[-1]
        self._quantiser = make_quantiser(self.model, self.quantise, seed)
        with torch.no_grad():
            latent = self.model.encode(mix.unsqueeze(1))
        return latent.detach().requires_grad_(True)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """``decoder(quantise(latent))`` ``[1, T]``, cropped to the length of the mix."""
        length = self._length if self._length is not None else latent.shape[-1] * HOP
        if -(-length // HOP) != latent.shape[-1]:
            raise ValueError(f"latent of {latent.shape[-1]} frames does not fit {length} samples")
        audio = self.model.decode(self._quantiser(latent))
        return audio[:, 0, :length]


def create(
    config: RunConfig, store: ModelStore, device: torch.device, cache: ModelCache
) -> Callable[[], JukeboxBackend]:
    """A factory of per-segment backends sharing one VQ-VAE, loaded once through ``cache``.

    The C allocator is left as the process has it: the commands that end with their run tune it
    for the decoder's large per-step allocations (``core.separation.memory``), the window not.
    """
    path = store.jukebox_path()
    model = cache.get(("jukebox", str(path), str(device)), lambda: load_checked(path).to(device))
    return lambda: JukeboxBackend(model, config.quantise)


def load_checked(path: Path) -> VQVAEBottom:
    """:func:`load_vqvae`, with a file that is not a checkpoint called corrupt, not untrusted.

    ``load_vqvae`` refuses a file that needs arbitrary unpickling and suggests a
    ``trust_pickle`` argument: no user can give it, and random bytes or another kind of file
    reach that advice too. Here such a file is a ModelError saying it is corrupt or not the
    checkpoint, with the command that fetches the real one.
    """
    fetch = model_info(JUKEBOX).fetch_command
    if Path(path).is_file() and not is_torch_checkpoint(path):
        raise ModelError(f"the Jukebox VQ-VAE file {path} is corrupt or not a PyTorch checkpoint "
                         f"at all; download it again with `{fetch}`")  # fmt: skip
    try:
        return load_vqvae(path)
    except ModelError as exc:
        if "trust_pickle" not in str(exc):
            raise
        raise ModelError(f"the Jukebox VQ-VAE file {path} holds more than weights, so it is "
                         f"corrupt or not the published checkpoint; download it again with "
                         f"`{fetch}`") from exc  # fmt: skip
