"""Building blocks of the Jukebox VQ-VAE bottom level, written for speed on CPU.

The arithmetic is that of openai/jukebox (``jukebox/vqvae/resnet.py`` and ``encdec.py``):
dilated residual 1-d convolution stacks between stride-2 (transposed) convolutions. What differs
is only how it is laid out, because the decoder runs forward and backward every optimisation
step and dominates the step time:

- Signals are 4-d ``[B, C, 1, T]`` tensors in channels-last memory and the convolutions are
  ``(1, k)`` 2-d ones: oneDNN then runs them on the ``nwc`` layout without reordering the
  activations on every call.
- A residual block is one autograd function with an input-only backward: the weights are
  frozen, so no weight gradient is computed, and it works in place where autograd allocates.
- A process that ends with its run (``tagbox separate``, ``tagbox evaluate``) keeps freed
  activations from going back to the kernel (``core.separation.memory``); the window does not.

Measured on 5 s of audio, one thread of this project's 2-core AMD EPYC machine: decoder
forward + backward 1.65 s CPU, against 3.5 s for the same weights in the upstream layout
(``conv1d`` on ``[B, C, T]`` with plain autograd); ``benchmarks/decoder_time.py --compare``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CHANNELS_LAST = torch.channels_last


def as_signal(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, T]`` -> the ``[B, C, 1, T]`` channels-last layout the layers work on."""
    return x.unsqueeze(2).contiguous(memory_format=CHANNELS_LAST)


def from_signal(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, 1, T]`` -> a contiguous ``[B, C, T]``."""
    return x.squeeze(2).contiguous()


def _conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """A channels-last ``[B, C, 1, T]`` signal as its ``[B*T, C]`` matrix: a view, never a copy
    (``view`` raises rather than copy, which would silently break the in-place updates)."""
    return x.permute(0, 2, 3, 1).view(-1, x.shape[1])


def _unrows(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    batch, channels, _, frames = like.shape
    return rows.view(batch, 1, frames, channels).permute(0, 3, 1, 2)


def _conv_input_grad(grad: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Gradient wrt the input of a stride-1 convolution (bit-identical to autograd's)."""
    return F.conv_transpose2d(grad, conv.weight, None, 1, conv.padding, 0, 1, conv.dilation)


def _relu_grad_(grad: torch.Tensor, relu_out: torch.Tensor) -> torch.Tensor:
    """``grad`` zeroed where the ReLU output is 0, in place (as autograd's ReLU backward)."""
    return torch.ops.aten.threshold_backward.grad_input(grad, relu_out, 0, grad_input=grad)


def _block_forward_(x: torch.Tensor, block: ResBlock) -> tuple[torch.Tensor, ...]:
    """A residual block, adding into ``x`` in place; returns ``x`` and the two ReLU outputs.

    In channels-last memory the k=1 convolution is exactly ``rows @ W.T + b``, so it and the
    skip connection are one GEMM accumulating into ``x`` (no output allocated).
    """
    outer = F.relu(x)
    hidden = _conv(outer, block.conv3).relu_()
    conv1 = block.conv1
    _rows(x).addmm_(_rows(hidden), conv1.weight[:, :, 0, 0].t()).add_(conv1.bias)
    return x, outer, hidden


class _Scratch:
    """One reusable buffer for a transient result of every block of a stack's backward."""

    def __init__(self) -> None:
        self.rows: torch.Tensor | None = None

    def rows_like(self, x: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0] * x.shape[2] * x.shape[3], x.shape[1])
        if self.rows is None or self.rows.shape != shape or self.rows.device != x.device:
            self.rows = x.new_empty(shape)
        return self.rows


class _ResBlockFn(torch.autograd.Function):
    """A residual block with an input-only backward (its weights are frozen), in place.

    It keeps the two ReLU outputs, as autograd would, but computes no weight gradients and
    allocates three activation-sized tensors per block (forward and backward) where plain
    autograd allocates five: on long segments (tensors over glibc's 32 MB reuse limit) each
    allocation is fresh, kernel-zeroed memory. (Boolean masks would keep 4x less memory,
    but applying them was 3-5x slower than ``threshold_backward``.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, block: ResBlock, scratch: _Scratch) -> torch.Tensor:  # type: ignore[override]
        out, outer, hidden = _block_forward_(x, block)
        ctx.mark_dirty(x)
        ctx.save_for_backward(outer, hidden)
        ctx.block, ctx.scratch = block, scratch
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        outer, hidden = ctx.saved_tensors
        block, grad = ctx.block, grad.contiguous(memory_format=CHANNELS_LAST)
        rows = torch.mm(
            _rows(grad), block.conv1.weight[:, :, 0, 0], out=ctx.scratch.rows_like(grad)
        )
        inner = _relu_grad_(_unrows(rows, grad), hidden)
        inner = _relu_grad_(_conv_input_grad(inner, block.conv3), outer)
        return inner.add_(grad), None, None


class ResBlock(nn.Module):
    """Residual block of ``Resnet1D``: ReLU, dilated conv k=3, ReLU, conv k=1, skip."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.conv3 = nn.Conv2d(width, width, (1, 3), padding=(0, dilation), dilation=(1, dilation))
        self.conv1 = nn.Conv2d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Ordinary autograd, out of place (the fast path is :meth:`ResStack.forward`)."""
        return x + self.conv1(F.relu(self.conv3(F.relu(x))))


class ResStack(nn.Sequential):
    """``Resnet1D``: ``depth`` residual blocks with dilations ``growth**i``.

    ``reverse`` puts the largest dilation first, as the Jukebox decoder does.
    """

    def __init__(self, width: int, depth: int, growth: int, reverse: bool = False) -> None:
        dilations = [growth**i for i in range(depth)]
        if reverse:
            dilations.reverse()
        super().__init__(*(ResBlock(width, d) for d in dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The blocks in turn; with frozen weights they work in place on a copy of ``x``."""
        if any(p.requires_grad for p in self.parameters()):
            return super().forward(x)  # weights being trained: plain autograd
        # Our one copy of the input, which the blocks then update in place.
        x = x.clone(memory_format=CHANNELS_LAST)
        if torch.is_grad_enabled() and x.requires_grad:
            scratch = _Scratch()  # freed with the graph after the backward
            for block in self:
                x = _ResBlockFn.apply(x, block, scratch)
            return x
        for block in self:
            x = _block_forward_(x, block)[0]
        return x


class DownBlock(nn.Module):
    """Encoder stage: conv k=4 stride 2 (halves the rate), then a residual stack."""

    def __init__(self, in_ch: int, width: int, depth: int, growth: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(in_ch, width, (1, 4), stride=(1, 2), padding=(0, 1))
        self.res = ResStack(width, depth, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.down(x))


class UpBlock(nn.Module):
    """Decoder stage: a residual stack, then a transposed conv k=4 stride 2 (doubles the rate)."""

    def __init__(self, width: int, out_ch: int, depth: int, growth: int) -> None:
        super().__init__()
        self.res = ResStack(width, depth, growth, reverse=True)
        self.up = nn.ConvTranspose2d(width, out_ch, (1, 4), stride=(1, 2), padding=(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.res(x))


class Encoder(nn.Module):
    """``EncoderConvBlock`` of level 0: ``downs`` stages then a k=3 projection to the latent."""

    def __init__(self, width: int, depth: int, growth: int, downs: int, emb: int) -> None:
        super().__init__()
        stages = [DownBlock(1 if i == 0 else width, width, depth, growth) for i in range(downs)]
        self.stages = nn.Sequential(*stages)
        self.proj = nn.Conv2d(width, emb, (1, 3), padding=(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.stages(x))


class Decoder(nn.Module):
    """``DecoderConvBock`` of level 0 followed by the decoder's output conv (to 1 channel)."""

    def __init__(self, width: int, depth: int, growth: int, ups: int, emb: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(emb, width, (1, 3), padding=(0, 1))
        # The last stage outputs `emb` channels (the upstream ``input_emb_width`` of the block).
        stages = [UpBlock(width, emb if i == ups - 1 else width, depth, growth) for i in range(ups)]
        self.stages = nn.Sequential(*stages)
        self.out = nn.Conv2d(emb, 1, (1, 3), padding=(0, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.stages(self.proj(z)))
