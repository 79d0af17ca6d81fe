"""Several sources of one song with the light backend: sharing, loss weighting, joint gates.

    python benchmarks/light_sharing.py --songs band000,band001,band002,band003 [--power 2]
        [--percussive N] [--avoid instruments] [--no-balanced] [--joint [--no-rest]] [--threads 1]

Every source of each song is separated as ``tagbox evaluate`` does (the backend's tagger, else
the first fallback tagger that has the source's tag, e.g. FCN/Jamendo for bass), from one NMF
per song. Each source's best NMF-grid mask is kept; the script prints SDRi and SI-SDRi of the
stems on their own and after ``core.audio.estimates.share`` (the default of ``tagbox evaluate``).

Variants: ``--power`` of the light mask; ``--percussive N`` components for the percussive part
(0: one factorisation of the whole spectrogram); ``--avoid instruments`` avoids only the other
instrument and voice tags (genre and mood tags are left out of the loss); ``--no-balanced``
gives every tag the same weight, so that one wanted tag meets 49 avoided ones, instead of equal
totals (default: the backend's); ``--joint`` optimises the gates of all sources together, a
softmax per component over the sources plus a rest class (``--no-rest``: without it).
Reads ``shared/eval`` and ``shared/models`` in place; one thread unless told otherwise.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import this_checkout  # noqa: F401 (the repository first on sys.path)
import torch
from light_common import SHARED, load_song, sdri, si_sdri, tagger_criterion

from tagbox_gui.cli.common import fft_sizes
from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.dsp.spectral import istft
from tagbox_gui.core.nets.taggers import vocabulary
from tagbox_gui.core.separation.backends import light
from tagbox_gui.core.separation.loading import FALLBACK_TAGGERS
from tagbox_gui.core.separation.objective import Criterion, Objective
from tagbox_gui.core.separation.tags import tag_group
from tagbox_gui.core.types import Estimate, Mode, TaggerSpec


def criterion(spec: TaggerSpec, source: str, args: argparse.Namespace) -> Criterion | None:
    """The loss of one tagger for ``source`` with the chosen weighting; None if it lacks it."""
    ignore = ()
    if args.avoid == "instruments":  # genre and mood tags leave the loss
        vocab = vocabulary(spec.dataset)
        ignore = tuple(t for t in vocab if tag_group(t) not in ("instruments", "voice"))
    return tagger_criterion(spec, source, ignore=ignore, balanced=args.balanced)


def song_criteria(sources: list[str], args: argparse.Namespace) -> dict[str, Criterion]:
    """Per source: the first of --tagger then the fallback taggers that has its tag."""
    specs = [TaggerSpec.parse(args.tagger), *FALLBACK_TAGGERS]
    out = {}
    for source in sources:
        found = next((c for spec in specs if (c := criterion(spec, source, args))), None)
        if found is None:
            print(f"  {source}: no tagger has a tag for it, left out", flush=True)
        else:
            out[source] = found
    return out


class JointView(light.LightBackend):
    """One source's view of joint gates: its row of a softmax over sources per component."""

    def __init__(self, base: light.LightBackend, index: int) -> None:
        super().__init__(base.settings)
        self._mix_spec, self._W, self._H = base._mix_spec, base._W, base._H
        self._V_hat, self._length, self.index = base._V_hat, base._length, index

    def gates(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.softmax(latent, dim=0)[self.index].expand(-1, self._frames())


def descend(
    latent: torch.Tensor,
    loss: Callable[[], tuple[torch.Tensor, list[torch.Tensor]]],
    steps: int,
    lr: float,
) -> list[torch.Tensor]:
    """Adam on ``latent``; the masks of the step with the lowest loss (as the engine keeps)."""
    opt = torch.optim.Adam([latent], lr=lr)
    best: tuple[float, list[torch.Tensor]] = (float("inf"), [])
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            total, masks = loss()
            total.backward()
            if float(total.detach()) < best[0]:
                best = (float(total.detach()), [m.detach() for m in masks])
            opt.step()
    return best[1]


def separate_song(
    seg: torch.Tensor, criteria: dict[str, Criterion], args: argparse.Namespace
) -> tuple[light.LightBackend, dict[str, torch.Tensor]]:
    """The NMF of the song and the best NMF-grid mask of every source."""
    base = light.LightBackend(
        light.LightSettings(power=args.power, percussive_components=args.percussive)
    )
    start = base.init_latent(seg, 0).detach()
    names = list(criteria)
    if args.joint:
        views = [JointView(base, i) for i in range(len(names))]
        objectives = [Objective(seg, args.fft, [criteria[n]], Mode.MASK) for n in names]
        rows = len(names) + (0 if args.no_rest else 1)
        latent = torch.zeros((rows, *start.shape), requires_grad=True)

        def joint_loss() -> tuple[torch.Tensor, list[torch.Tensor]]:
            totals = [o.evaluate(v, latent).total for o, v in zip(objectives, views, strict=True)]
            return torch.stack(totals).mean(), [v.nmf_mask(latent) for v in views]

        return base, dict(zip(names, descend(latent, joint_loss, args.steps, args.lr), strict=True))
    masks = {}
    for name in names:
        objective = Objective(seg, args.fft, [criteria[name]], Mode.MASK)
        latent = start.clone().requires_grad_(True)

        def loss(o=objective, x=latent) -> tuple[torch.Tensor, list[torch.Tensor]]:
            return o.evaluate(base, x).total, [base.nmf_mask(x)]

        masks[name] = descend(latent, loss, args.steps, args.lr)[0]
    return base, masks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default="dev")
    ap.add_argument("--songs", type=lambda t: t.split(","), default=["band000", "band001"])
    ap.add_argument("--tagger", default="fcn/mtat")
    ap.add_argument("--power", type=float, default=light.SETTINGS.power)
    ap.add_argument("--percussive", type=int, default=light.SETTINGS.percussive_components)
    ap.add_argument("--avoid", choices=["all", "instruments"], default="all")
    ap.add_argument("--balanced", action=argparse.BooleanOptionalAction,
                    default=light.LIGHT_DEFAULTS["balance_tags"])  # fmt: skip
    ap.add_argument("--joint", action="store_true")
    ap.add_argument("--no-rest", action="store_true")
    ap.add_argument(
        "--fft",
        type=fft_sizes,
        default=light.LIGHT_DEFAULTS["fft_sizes"],
        help="FFT sizes the loss hears",
    )
    ap.add_argument("--steps", type=int, default=light.LIGHT_DEFAULTS["steps"])
    ap.add_argument("--lr", type=float, default=light.LIGHT_DEFAULTS["lr"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    scores: dict[str, dict[str, list[float]]] = {}
    cpu = []
    for song in args.songs:
        mix, stems = load_song(SHARED / "eval" / args.set, song)
        peak = float(np.abs(mix).max())
        seg = torch.from_numpy(mix / peak).float()[None]
        criteria = song_criteria(list(stems), args)
        began = time.process_time()
        backend, masks = separate_song(seg, criteria, args)
        cpu.append((time.process_time() - began) / max(1, len(masks)))
        kept = {n: Estimate(0, seg.shape[-1], {2048: m.numpy()}) for n, m in masks.items()}
        for kind, estimates in (("alone", kept), ("shared", share(kept))):
            for name, est in estimates.items():
                mask = torch.from_numpy(est.masks[2048])
                audio = istft(mask * backend._mix_spec, 2048, seg.shape[-1])
                audio = audio.double().numpy() * peak
                row = scores.setdefault(f"{kind}/{name}", {"sdri": [], "si": []})
                row["sdri"].append(sdri(stems[name], audio, mix))
                row["si"].append(si_sdri(stems[name], audio, mix))
                print(f"  {song} {kind:6s} {name:8s} SDRi {row['sdri'][-1]:6.2f} "
                      f"SI-SDRi {row['si'][-1]:6.2f}", flush=True)  # fmt: skip
    summary = {}
    for kind in ("alone", "shared"):
        rows = {k.split("/")[1]: v for k, v in scores.items() if k.startswith(kind)}
        every = [x for v in rows.values() for x in v["sdri"]]
        every_si = [x for v in rows.values() for x in v["si"]]
        summary[kind] = {"sdri": {s: round(float(np.mean(v["sdri"])), 2) for s, v in rows.items()},
                         "si": {s: round(float(np.mean(v["si"])), 2) for s, v in rows.items()},
                         "mean": round(float(np.mean(every)), 2),
                         "si_mean": round(float(np.mean(every_si)), 2)}  # fmt: skip
    names = ("songs", "tagger", "power", "percussive", "avoid", "balanced", "joint", "no_rest",
             "fft", "steps", "lr")  # fmt: skip
    options = {k: getattr(args, k) for k in names}
    print(json.dumps({"options": options, **summary,
                      "cpu_s_per_source": round(float(np.mean(cpu)), 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
