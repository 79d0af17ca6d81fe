"""Measure how far our taggers drift from the published golden outputs, and why.

For every golden of ``../shared/fixtures/taggers`` this prints, side by side:

- our float32 result against the golden (what the tests compare);
- our float64 result (the same network and input in double precision) against the golden and
  against our float32: both float32 runs are roundings of the float64 value, so the golden's
  own float32 error shows up here;
- for input gradients: the relative L2 error, the cosine similarity, and the share of the
  largest entries (top 1 % by magnitude) whose sign agrees; and the gradient's sensitivity
  (float64, input multiplied by 1 + 1e-7 noise), which is the error floor no CPU can beat;
- near-ties of the max-pools (a top-2 gap under 1e-6 of the pooled value), where float32
  rounding can send the whole gradient of a pooling window to another sample.

Usage: ``python benchmarks/golden_drift.py [--shared ../shared]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from this_checkout import REPO
from torch.nn import functional as F

from tagbox_gui.core.nets.taggers import PUBLISHED, Tagger, load_tagger
from tagbox_gui.core.types import TaggerSpec


def _pcm(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float64) / 32768).to(dtype)


def _tagger(spec: TaggerSpec, path: Path, dtype: torch.dtype) -> Tagger:
    tagger = load_tagger(spec, path)
    return tagger.to(dtype)


def _grad(tagger: Tagger, x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    x = x.clone().requires_grad_(True)
    loss = F.binary_cross_entropy(tagger.window_probs(x).mean(dim=0), target.to(x.dtype))
    loss.backward()
    return x.grad.double().numpy()


def _compare(got: np.ndarray, ref: np.ndarray) -> str:
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    cos = float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref)))
    top = np.abs(ref) >= np.quantile(np.abs(ref), 0.99)
    signs = float(np.mean(np.sign(got[top]) == np.sign(ref[top])))
    return f"relL2 {rel:.2e}  cos {cos:.6f}  top-1% signs {signs:.4f}"


def _pool_ties(tagger: Tagger, x: torch.Tensor) -> tuple[int, int]:
    """(near-tie windows, all windows) over the network's 2-D max-pools, in float64."""
    counts = [0, 0]
    original = F.max_pool2d

    def counting(inp: torch.Tensor, kernel, *args, **kwargs):  # type: ignore[no-untyped-def]
        k = (kernel, kernel) if isinstance(kernel, int) else kernel
        b, c, h, w = inp.shape
        blocks = inp[:, :, : h // k[0] * k[0], : w // k[1] * k[1]]
        blocks = blocks.reshape(b, c, h // k[0], k[0], w // k[1], k[1])
        blocks = blocks.permute(0, 1, 2, 4, 3, 5).reshape(-1, k[0] * k[1])
        top2 = blocks.topk(2, dim=1).values
        gap = (top2[:, 0] - top2[:, 1]) / top2[:, 0].abs().clamp_min(1e-12)
        counts[0] += int(((gap < 1e-6) & (top2[:, 0] > 0)).sum())
        counts[1] += blocks.shape[0]
        return original(inp, kernel, *args, **kwargs)

    F.max_pool2d = counting
    try:
        with torch.no_grad():
            tagger.window_probs(x)
    finally:
        F.max_pool2d = original
    return counts[0], counts[1]


def probabilities(folder: Path, models: Path) -> None:
    arrays = np.load(folder / "golden.npz")
    print("window probabilities, max abs difference")
    print(f"{'tagger':16} {'f32-golden':>11} {'f64-golden':>11} {'f32-f64':>11}")
    for spec in PUBLISHED:
        path = models / "taggers" / spec.dataset / spec.arch / "best_model.pth"
        row = [0.0, 0.0, 0.0]
        t32, t64 = _tagger(spec, path, torch.float32), _tagger(spec, path, torch.float64)
        for name in ("a_10s", "b_31s"):
            golden = arrays[f"{spec.dataset}_{spec.arch}_{name}_chunks"].astype(np.float64)
            with torch.no_grad():
                p32 = t32.window_probs(_pcm(arrays[f"{name}_pcm"], torch.float32)).double()
                p64 = t64.window_probs(_pcm(arrays[f"{name}_pcm"], torch.float64))
            row = [max(row[0], float(np.abs(p32.numpy() - golden).max())),
                   max(row[1], float(np.abs(p64.numpy() - golden).max())),
                   max(row[2], float((p32 - p64).abs().max()))]  # fmt: skip
        print(f"{spec!s:16} {row[0]:11.2e} {row[1]:11.2e} {row[2]:11.2e}")


def gradients(folder: Path, models: Path) -> None:
    arrays = np.load(folder / "golden.npz")
    meta = json.loads((folder / "golden.json").read_text())
    rng = np.random.default_rng(0)
    for arch in ("fcn", "crnn", "musicnn"):
        spec = TaggerSpec(arch, "mtat")
        path = models / "taggers" / "mtat" / arch / "best_model.pth"
        t32, t64 = _tagger(spec, path, torch.float32), _tagger(spec, path, torch.float64)
        target = torch.zeros(50, dtype=torch.float64)
        target[[t32.vocabulary.index(tag) for tag in meta["grad_tags"]]] = 1.0
        golden = arrays[f"mtat_{arch}_a_10s_grad"].astype(np.float64)
        x64 = _pcm(arrays["a_10s_pcm"], torch.float64)
        g32 = _grad(t32, x64.float(), target.float())
        g64 = _grad(t64, x64, target)
        nudged = x64 * (1 + 1e-7 * torch.from_numpy(rng.standard_normal(x64.shape[0])))
        g64n = _grad(t64, nudged, target)
        ties, pools = _pool_ties(t64, x64) if arch != "musicnn" else (0, 0)
        print(f"\ninput gradient mtat/{arch} (max-pool near-ties: {ties} of {pools} windows)")
        print(f"  f32 vs golden     {_compare(g32, golden)}")
        print(f"  f64 vs golden     {_compare(g64, golden)}")
        print(f"  f32 vs f64        {_compare(g32, g64)}")
        print(f"  f64 nudged 1e-7   {_compare(g64n, g64)}")


def harmonic_cnn(folder: Path) -> None:
    arrays = np.load(folder / "hcnn_golden.npz")
    meta = json.loads((folder / "hcnn_golden.json").read_text())
    spec = TaggerSpec("hcnn", "mtat")
    t32 = _tagger(spec, folder / "hcnn_random.pth", torch.float32)
    t64 = _tagger(spec, folder / "hcnn_random.pth", torch.float64)
    x64 = _pcm(arrays["x_pcm"], torch.float64)
    golden = arrays["chunk_probs"].astype(np.float64)
    with torch.no_grad():
        p32 = t32.window_probs(x64.float()).double().numpy()
        p64 = t64.window_probs(x64).numpy()
    print("\nHarmonicCNN (random weights) window probabilities, max abs difference")
    print(f"  f32-golden {np.abs(p32 - golden).max():.2e}  f64-golden "
          f"{np.abs(p64 - golden).max():.2e}  f32-f64 {np.abs(p32 - p64).max():.2e}")  # fmt: skip
    target = torch.zeros(50, dtype=torch.float64)
    target[meta["target_tag_indices"]] = 1.0
    g32, g64 = _grad(t32, x64.float(), target.float()), _grad(t64, x64, target)
    ties, pools = _pool_ties(t64, x64)
    print(f"  input gradient (max-pool near-ties: {ties} of {pools} windows)")
    print(f"  f32 vs golden     {_compare(g32, arrays['grad'].astype(np.float64))}")
    print(f"  f64 vs golden     {_compare(g64, arrays['grad'].astype(np.float64))}")
    print(f"  f32 vs f64        {_compare(g32, g64)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    folder, models = args.shared / "fixtures" / "taggers", args.shared / "models"
    probabilities(folder, models)
    gradients(folder, models)
    harmonic_cnn(folder)


if __name__ == "__main__":
    main()
