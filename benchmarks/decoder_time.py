"""Time the Jukebox VQ-VAE bottom level on CPU: encode, decode, decode forward + backward.

    python benchmarks/decoder_time.py [--seconds 5] [--repeats 3] [--threads N] [--compare]

Speed does not depend on the weight values, so the random-weight fixture checkpoint in the
official format (``../shared/fixtures/jukebox/vqvae_random.pth.tar``) stands in for the real
one. ``--compare`` also times a plain re-statement of the upstream layout (``nn.Conv1d`` on
``[B, C, T]`` with ordinary autograd, as in jukebox/vqvae) built from the same weights, and
checks that both give the same audio and gradient.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from this_checkout import REPO

from tagbox_gui.core.nets.jukebox import HOP, VQVAEBottom, load_vqvae
from tagbox_gui.core.separation.memory import keep_freed_memory
from tagbox_gui.core.types import ANALYSIS_RATE

DEFAULT_CHECKPOINT = REPO.parent / "shared/fixtures/jukebox/vqvae_random.pth.tar"


def measure(fn: Callable[[], object], repeats: int) -> list[tuple[float, float]]:
    """(wall, process CPU) seconds of ``repeats`` calls after one warm-up call.

    The warm-up lets oneDNN build its kernels. CPU time is what to compare on a busy machine
    when running single-threaded (``--threads 1``): other processes inflate wall time only.
    """
    fn()
    times = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def forward_backward(decode: Callable[[torch.Tensor], torch.Tensor], latent: torch.Tensor):
    """A step's worth of decoder work: audio, then the gradient of a loss wrt the latent."""
    leaf = latent.detach().requires_grad_(True)
    audio = decode(leaf)
    weights = torch.linspace(-1.0, 1.0, audio.shape[-1])  # any loss with a non-trivial gradient
    (audio * weights).sum().backward()
    return audio.detach(), leaf.grad


def upstream_decode(model: VQVAEBottom) -> Callable[[torch.Tensor], torch.Tensor]:
    """The same decoder computed the way upstream does (conv1d, [B, C, T], plain autograd)."""

    def conv(x: torch.Tensor, layer: torch.nn.Module, transposed: bool = False) -> torch.Tensor:
        weight = layer.weight.squeeze(2).contiguous()
        if transposed:
            return F.conv_transpose1d(x, weight, layer.bias, layer.stride[1], layer.padding[1])
        args = (layer.stride[1], layer.padding[1], layer.dilation[1])
        return F.conv1d(x, weight, layer.bias, *args)

    def decode(z: torch.Tensor) -> torch.Tensor:
        dec = model.decoder
        x = conv(z, dec.proj)
        for stage in dec.stages:
            for block in stage.res:
                x = x + conv(F.relu(conv(F.relu(x), block.conv3)), block.conv1)
            x = conv(x, stage.up, transposed=True)
        return conv(x, dec.out)

    return decode


def report(name: str, times: list[tuple[float, float]]) -> None:
    walls = [wall for wall, _ in times]
    cpu = min(cpu for _, cpu in times)
    print(f"{name:<34} wall min {min(walls):6.3f} s  median {statistics.median(walls):6.3f} s"
          f"   CPU min {cpu:6.3f} s")  # fmt: skip


def time_ours(model: VQVAEBottom, audio: torch.Tensor, repeats: int) -> torch.Tensor:
    """Time our encoder, code search, decoder; returns the latent."""
    with torch.no_grad():
        report("encode", measure(lambda: model.encode(audio), repeats))
        latent = model.encode(audio)
        report("codes (nearest codebook vector)", measure(lambda: model.codes(latent), repeats))
        report("decode forward", measure(lambda: model.decode(latent), repeats))
    work = measure(lambda: forward_backward(model.decode, latent), repeats)
    report("decode forward+backward", work)
    return latent


def time_upstream(model: VQVAEBottom, latent: torch.Tensor, repeats: int) -> None:
    """Time the upstream layout and check it computes what ours does."""
    slow = upstream_decode(model)
    with torch.no_grad():
        report("upstream layout: decode forward", measure(lambda: slow(latent), repeats))
    report("upstream layout: forward+backward",
           measure(lambda: forward_backward(slow, latent), repeats))  # fmt: skip
    ours, ref = forward_backward(model.decode, latent), forward_backward(slow, latent)
    for label, a, b in zip(("audio", "latent gradient"), ours, ref, strict=True):
        err = float((a - b).norm() / b.norm())
        print(f"relative L2 difference, ours vs upstream layout, {label}: {err:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length (default 5)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--compare", action="store_true", help="also time the upstream layout")
    parser.add_argument("--default-malloc", action="store_true", help="leave glibc untuned")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tuned = False if args.default_malloc else keep_freed_memory()
    torch.manual_seed(0)
    model = load_vqvae(args.checkpoint)
    samples = round(args.seconds * ANALYSIS_RATE)
    print(f"{args.seconds:g} s = {samples} samples -> {-(-samples // HOP)} latent frames; "
          f"{torch.get_num_threads()} threads; torch {torch.__version__}; "
          f"allocator tuned: {tuned}; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    latent = time_ours(model, (0.3 * torch.randn(1, 1, samples)).clamp(-1, 1), args.repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory so far: {peak:.0f} MB")
    if args.compare:
        time_upstream(model, latent, args.repeats)


if __name__ == "__main__":
    main()
