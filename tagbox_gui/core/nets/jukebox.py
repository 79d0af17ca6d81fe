"""Bottom level (level 0) of OpenAI Jukebox's VQ-VAE with the 5b hyper-parameters.

A port of ``jukebox/vqvae`` (openai/jukebox) reduced to what TagBox uses: the level-0 encoder
(mono 44.1 kHz -> 64-channel latent at 1/8 of the rate), its 2048 x 64 codebook and the level-0
decoder. It loads the official checkpoint file ``jukebox/models/5b/vqvae.pth.tar``.

Level 0 of the ``vqvae`` hyper-parameters: ``downs_t[0] = 3`` stride-2 stages; width and depth
are ``width = 32`` and ``depth = 4`` times ``hvqvae_multipliers[0] = 2`` (64 channels, 8
residual blocks per stage, which the checkpoint's tensor shapes confirm); residual dilations
``3**i`` (``dilation_growth_rate = 3``, ``dilation_cycle = None``), largest first in the
decoder (``vqvae_reverse_decoder_dilation = True``); ``m_conv = 1.0``.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.nets.jukebox_layers import Decoder, Encoder, as_signal, from_signal
from tagbox_gui.core.nets.jukebox_quant import nearest_codes

EMB_WIDTH = 64  # latent channels (emb_width)
CODEBOOK_SIZE = 2048  # l_bins
WIDTH = 32 * 2  # width * hvqvae_multipliers[0]
DEPTH = 4 * 2  # depth * hvqvae_multipliers[0]
DILATION_GROWTH = 3  # dilation_growth_rate
DOWNS = 3  # downs_t[0], each with stride 2
HOP = 2**DOWNS  # audio samples per latent frame
UPPER_LEVELS = (1, 2)  # present in the file, unused here

_FETCH_HINT = "fetch it again with `tagbox models fetch jukebox-vqvae-5b`"


class VQVAEBottom(nn.Module):
    """Level 0 of the Jukebox VQ-VAE: ``encode``, ``codes``, ``dequantise`` and ``decode``.

    Built by :func:`load_vqvae` in eval mode with frozen parameters. Audio is ``[B, 1, T]``
    float in [-1, 1] at 44.1 kHz; a latent is ``[B, 64, L]`` with ``L = ceil(T / 8)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder(WIDTH, DEPTH, DILATION_GROWTH, DOWNS, EMB_WIDTH)
        self.decoder = Decoder(WIDTH, DEPTH, DILATION_GROWTH, DOWNS, EMB_WIDTH)
        self.register_buffer("codebook", torch.zeros(CODEBOOK_SIZE, EMB_WIDTH))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous latent ``[B, 64, ceil(T/8)]`` of audio ``[B, 1, T]``.

        The audio is padded with zeros to a multiple of 8 samples, which the stride-2 stages
        need (the upstream code only accepts such lengths).
        """
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"encode expects audio [B, 1, T], got {tuple(x.shape)}")
        pad = -x.shape[-1] % HOP
        if pad:
            x = F.pad(x, (0, pad))
        return from_signal(self.encoder(as_signal(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, 1, 8L]`` of a (quantised or continuous) latent ``[B, 64, L]``."""
        if z.dim() != 3 or z.shape[1] != EMB_WIDTH:
            raise ValueError(f"decode expects a latent [B, {EMB_WIDTH}, L], got {tuple(z.shape)}")
        return from_signal(self.decoder(as_signal(z)))

    def codes(self, latent: torch.Tensor) -> torch.Tensor:
        """Index ``[B, L]`` of the nearest codebook vector of every latent frame."""
        batch, _, frames = latent.shape
        flat = latent.detach().transpose(1, 2).reshape(-1, EMB_WIDTH)
        return nearest_codes(flat, self.codebook).view(batch, frames)

    def dequantise(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors ``[B, 64, L]`` of codes ``[B, L]``."""
        return F.embedding(codes, self.codebook).transpose(1, 2).contiguous()

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, 1, T]`` through encoder, codebook and decoder, cropped to ``T``."""
        latent = self.encode(x)
        return self.decode(self.dequantise(self.codes(latent)))[..., : x.shape[-1]]


def load_vqvae(path: str | Path, trust_pickle: bool = False) -> VQVAEBottom:
    """Load level 0 of the official Jukebox 5b VQ-VAE checkpoint (``vqvae.pth.tar``).

    The file is read with ``torch.load(weights_only=True)``; a file that needs arbitrary
    unpickling is refused unless ``trust_pickle`` is True. Every level-0 tensor must be present
    with the right shape (a ``module.`` prefix is tolerated) and levels 1-2 must exist;
    anything else raises :class:`ModelError` naming the problem. The model is returned in
    eval mode with frozen parameters.
    """
    path = Path(path)
    state = _model_state(_read_checkpoint(path, trust_pickle), path)
    _check_upper_levels(state, path)
    model = VQVAEBottom()
    model.load_state_dict(_remap(state, model, path), strict=True)
    model.eval().requires_grad_(False)
    return model.to(memory_format=torch.channels_last)


def _read_checkpoint(path: Path, trust_pickle: bool) -> object:
    if not path.is_file():
        raise ModelError(
            f"The Jukebox VQ-VAE file {path} does not exist; download it with "
            "`tagbox models fetch jukebox-vqvae-5b`."
        )
    try:
        # OpenAI's training code saved its hyper-parameters as `jukebox.hparams.Hyperparams`,
        # a plain dict subclass: read it as a dict, which keeps the safe weights-only loader.
        with torch.serialization.safe_globals([(dict, "jukebox.hparams.Hyperparams")]):
            return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        if not trust_pickle and "weights only load failed" in str(exc).lower():
            raise ModelError(
                f"The Jukebox VQ-VAE file {path} holds objects that need arbitrary code to "
                "unpickle; load it only if you trust its source, with trust_pickle=True."
            ) from exc
        raise _unreadable(path, exc) from exc
    except Exception as exc:  # torch raises RuntimeError, KeyError, EOFError... for bad files
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> ModelError:
    reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    return ModelError(
        f"The Jukebox VQ-VAE file {path} is truncated or corrupt ({reason}); {_FETCH_HINT}."
    )


def _model_state(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    model = checkpoint.get("model") if isinstance(checkpoint, Mapping) else None
    if not isinstance(model, Mapping):
        raise ModelError(
            f"The file {path} is not a Jukebox VQ-VAE checkpoint (it has no 'model' state "
            f"dict); {_FETCH_HINT}."
        )
    # Checkpoints saved from DataParallel models prefix every key with "module.".
    return {str(k).removeprefix("module."): v for k, v in model.items()}


def _check_upper_levels(state: Mapping[str, torch.Tensor], path: Path) -> None:
    problems = []
    for level in UPPER_LEVELS:
        for prefix in (f"encoders.{level}.", f"decoders.{level}."):
            if not any(key.startswith(prefix) for key in state):
                problems.append(f"no '{prefix}*' tensors")
        key = f"bottleneck.level_blocks.{level}.k"
        problems += _shape_problem(state, key, (CODEBOOK_SIZE, EMB_WIDTH))
    if problems:
        raise _mismatch(path, problems)


def _shape_problem(
    state: Mapping[str, torch.Tensor], key: str, shape: tuple[int, ...]
) -> list[str]:
    value = state.get(key)
    if value is None:
        return [f"missing '{key}'"]
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        return [f"'{key}' is {got}, expected {shape}"]
    return []


def _mismatch(path: Path, problems: list[str]) -> ModelError:
    more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
    return ModelError(
        f"The file {path} is not the Jukebox 5b VQ-VAE: {'; '.join(problems[:3])}{more}; "
        f"{_FETCH_HINT}."
    )


# Our parameter names -> the official ones. The official modules are nn.Sequential, so the
# names are positions: a residual block is Sequential(ReLU, Conv, ReLU, Conv), hence
# "model.1" for the k=3 conv and "model.3" for the k=1 conv.
_ENC = "encoders.0.level_blocks.0.model"
_DEC = "decoders.0.level_blocks.0.model"
_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"encoder\.stages\.(\d+)\.down\.", rf"{_ENC}.\1.0."),
    (r"encoder\.stages\.(\d+)\.res\.(\d+)\.conv3\.", rf"{_ENC}.\1.1.model.\2.model.1."),
    (r"encoder\.stages\.(\d+)\.res\.(\d+)\.conv1\.", rf"{_ENC}.\1.1.model.\2.model.3."),
    (r"encoder\.proj\.", f"{_ENC}.{DOWNS}."),
    (r"decoder\.proj\.", f"{_DEC}.0."),
    (r"decoder\.stages\.(\d+)\.res\.(\d+)\.conv3\.", r"DEC.<\1>.0.model.\2.model.1."),
    (r"decoder\.stages\.(\d+)\.res\.(\d+)\.conv1\.", r"DEC.<\1>.0.model.\2.model.3."),
    (r"decoder\.stages\.(\d+)\.up\.", r"DEC.<\1>.1."),
    (r"decoder\.out\.", "decoders.0.out."),
    (r"codebook$", "bottleneck.level_blocks.0.k"),
)


def official_key(name: str) -> str:
    """The official checkpoint key of one of our state-dict entries."""
    for pattern, replacement in _KEY_RULES:
        key, count = re.subn(f"^{pattern}", replacement, name)
        if count:
            # Decoder stage i sits after the input projection, at position i + 1.
            return re.sub(r"^DEC\.<(\d+)>", lambda m: f"{_DEC}.{int(m[1]) + 1}", key)
    raise KeyError(name)


def _remap(
    state: Mapping[str, torch.Tensor], model: VQVAEBottom, path: Path
) -> dict[str, torch.Tensor]:
    """Our state dict, taken from the official tensors; all problems reported at once."""
    out, problems, used = {}, [], set()
    for name, target in model.state_dict().items():
        key = official_key(name)
        used.add(key)
        # Official convs are 1-d: our (out, in, 1, k) is their (out, in, k).
        shape = tuple(s for i, s in enumerate(target.shape) if not (target.dim() == 4 and i == 2))
        found = _shape_problem(state, key, shape)
        problems += found
        if not found:
            out[name] = state[key].detach().to(torch.float32).reshape(target.shape)
    level0 = ("encoders.0.", "decoders.0.")
    problems += [f"unexpected '{k}'" for k in state if k.startswith(level0) and k not in used]
    if problems:
        raise _mismatch(path, problems)
    return out
