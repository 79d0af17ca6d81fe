"""Experiments behind the light backend's design; every figure in docs/light_backend.md.

    python benchmarks/light_experiments.py gain --songs all
    python benchmarks/light_experiments.py oracle --songs band000,band001 --components 20,40,80
    python benchmarks/light_experiments.py run --songs band000,band001 --sources drums,piano \
        --tagger fcn/mtat --steps 60 --lr 0.1 --gate-seconds 3 --fill zeros

``gain`` scores ``g * mix`` as the estimate of every source: attenuation, no separation.
``oracle`` gives each NMF component (per gate stretch) to the true source it correlates with
best, as shared/eval's ``nmf-oracle`` baseline does: the ceiling of a gate-based separator for
those NMF settings, with no tagger involved. ``run`` optimises the gates with the taggers
through the engine's own objective (``core.separation.objective``) and prints SDRi per source
with its CPU time; it leaves out the engine's per-step probability meters, so its seconds are a
little lower than ``tagbox evaluate``'s. Reads ``shared/eval/dev`` and ``shared/models`` in place.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import this_checkout  # noqa: F401 (the repository first on sys.path)
import torch
import torch.nn.functional as F
from light_common import SHARED, load_song, sdri, shared_tagger, si_sdri, tagger_criterion
from light_components import auc, class_scores, component_probs, oracle_logits

from tagbox_gui.core.dsp.spectral import istft, resample
from tagbox_gui.core.evaluation import scoring as evaluation
from tagbox_gui.core.evaluation import sets
from tagbox_gui.core.nets.taggers import TAGGER_RATE
from tagbox_gui.core.separation.backends import light
from tagbox_gui.core.separation.objective import Criterion, Objective
from tagbox_gui.core.types import ANALYSIS_RATE, Mode, TaggerSpec


def settings_from(args: argparse.Namespace, **changes: object) -> light.LightSettings:
    """LightSettings from the command line, then ``changes``."""
    gate = None if args.gate_seconds <= 0 else args.gate_seconds
    base = light.LightSettings(
        components=args.components[0] if isinstance(args.components, list) else args.components,
        nmf_fft=args.nmf_fft,
        nmf_iterations=args.nmf_iterations,
        beta=args.beta,
        gate_seconds=gate,
        power=args.power,
        prior=args.prior,
        percussive_components=args.percussive,
    )
    return dataclasses.replace(base, **changes)


def cmd_oracle(args: argparse.Namespace) -> None:
    """Oracle gate assignment for each setting of --components x --gate-seconds x --power."""
    set_dir = SHARED / "eval" / args.set
    for k in args.components:
        for gate_s in args.gate_list:
            for power in args.power_list:
                settings = settings_from(args, components=k, power=power,
                                         gate_seconds=None if gate_s <= 0 else gate_s)  # fmt: skip
                per_source: dict[str, list[float]] = {}
                for song in args.songs:
                    mix, stems = load_song(set_dir, song)
                    peak = np.abs(mix).max()
                    backend = light.LightBackend(settings)
                    latent = backend.init_latent(torch.from_numpy(mix / peak).float()[None], 0)
                    for name in stems:
                        logits = oracle_logits(backend, stems, name, latent.shape[1])
                        est = backend.decode(logits)[0].double().numpy() * peak
                        per_source.setdefault(name, []).append(sdri(stems[name], est, mix))
                means = {s: float(np.mean(v)) for s, v in per_source.items()}
                print(f"K={k:3d} gate={gate_s:g}s p={power:g} fft={settings.nmf_fft}: "
                      + " ".join(f"{s} {v:5.2f}" for s, v in means.items())
                      + f" | mean {np.mean([x for v in per_source.values() for x in v]):5.2f}",
                      flush=True)  # fmt: skip


def cmd_probe(args: argparse.Namespace) -> None:
    """Tag each NMF component alone; gate by how much it sounds like the wanted instrument."""
    torch.set_num_threads(args.threads)
    set_dir = SHARED / "eval" / args.set
    settings = settings_from(args, gate_seconds=None)
    res: dict[str, list[tuple[float, ...]]] = {}
    for song in args.songs:
        mix, stems = load_song(set_dir, song)
        peak = float(np.abs(mix).max())
        backend = light.LightBackend(settings)
        latent = backend.init_latent(torch.from_numpy(mix / peak).float()[None], 0)
        for spec_text in args.tagger:
            spec = TaggerSpec.parse(spec_text)
            t0 = time.process_time()
            probs = component_probs(backend, shared_tagger(spec), len(mix))
            classes = class_scores(probs, spec.dataset)
            cpu = time.process_time() - t0
            total = torch.stack(list(classes.values())).sum(dim=0)
            for name in stems:
                if name not in classes:
                    continue
                member = oracle_logits(backend, {k: v / peak for k, v in stems.items()}, name,
                                       latent.shape[1])[:, 0] > 0  # fmt: skip
                share = (classes[name] / total).clamp(1e-4, 1 - 1e-4)
                winner = torch.stack(list(classes.values())).argmax(dim=0)
                hard = winner == list(classes).index(name)
                out = [auc(classes[name], member), auc(share, member)]
                for gates in (torch.logit(share), hard.float() * 40 - 20):
                    est = backend.decode(gates[:, None])[0].double().numpy() * peak
                    out += [sdri(stems[name], est, mix), si_sdri(stems[name], est, mix)]
                res.setdefault(f"{spec_text} {name}", []).append(tuple(out))
                print(f"  {song} {spec_text} {name:8s} AUC p {out[0]:.2f} share {out[1]:.2f} | "
                      f"soft SDRi {out[2]:5.2f} SI {out[3]:5.2f} | hard SDRi {out[4]:5.2f} "
                      f"SI {out[5]:5.2f} | {int(hard.sum())}/{len(hard)} on, {int(member.sum())} "
                      f"true | probe cpu {cpu:.1f}s", flush=True)  # fmt: skip
    for key, rows in res.items():
        m = np.nanmean(np.array(rows), axis=0)
        print(f"{key:22s} AUC {m[0]:.2f}/{m[1]:.2f} soft {m[2]:.2f}/{m[3]:.2f} "
              f"hard {m[4]:.2f}/{m[5]:.2f} (SDRi/SI-SDRi)")  # fmt: skip


def cmd_gain(args: argparse.Namespace) -> None:
    """What attenuation alone scores: ``g * mix`` as every source's estimate."""
    set_dir = SHARED / "eval" / args.set
    songs = [s for s, _ in sets.list_set(set_dir)] if args.songs == ["all"] else args.songs
    for gain in args.gains:
        sd: dict[str, list[float]] = {}
        si: dict[str, list[float]] = {}
        for song in songs:
            mix, stems = load_song(set_dir, song)
            for name, ref in stems.items():
                base = evaluation.track_sdr(ref, mix, ANALYSIS_RATE)
                est_sdr = evaluation.track_sdr(ref, gain * mix, ANALYSIS_RATE) if gain else 0.0
                sd.setdefault(name, []).append(est_sdr - base)
                si.setdefault(name, []).append(si_sdri(ref, gain * mix, mix) if gain else 0.0)
        every = [x for v in sd.values() for x in v]
        print(f"{gain:g} x mix: SDRi " + " ".join(f"{k} {np.mean(v):.2f}" for k, v in sd.items())
              + f" | mean {np.mean(every):.2f}; SI-SDRi mean "
              f"{np.mean([x for v in si.values() for x in v]):.2f}")  # fmt: skip


def criteria_for(
    source: str,
    specs: list[TaggerSpec],
    fill: str,
    ignore_related: bool = False,
    balanced: bool = light.LIGHT_DEFAULTS["balance_tags"],
) -> list[Criterion]:
    """One criterion per tagger that has a tag for ``source`` (the others are left out)."""
    options = {"ignore_related": ignore_related, "balanced": balanced}
    criteria = (tagger_criterion(spec, source, fill, **options) for spec in specs)
    return [c for c in criteria if c is not None]


def separate(
    mix: np.ndarray, source: str, args: argparse.Namespace, settings: light.LightSettings
) -> np.ndarray:
    """Optimise the gates for ``source`` as the engine does; the estimate at the mix's scale."""
    specs = [TaggerSpec.parse(t) for t in args.tagger]
    criteria = criteria_for(source, specs, args.fill, args.ignore_related, args.balanced)
    if not criteria:
        raise SystemExit(f"no tagger has a tag for {source}")
    peak = float(np.abs(mix).max())
    seg = torch.from_numpy(mix / peak).float()[None]
    torch.manual_seed(args.seed)
    backend = light.LightBackend(settings)
    latent = backend.init_latent(seg, args.seed)
    objective = Objective(seg, tuple(args.fft), criteria, Mode.MASK)
    opt = torch.optim.Adam([latent], lr=args.lr)
    best = (float("inf"), None)
    trace = []
    with torch.enable_grad():
        for step in range(1, args.steps + 1):
            opt.zero_grad()
            if args.residual > 0:
                total, separated = with_residual(objective, backend, latent, args.residual)
            else:
                ev = objective.evaluate(backend, latent)
                total, separated = ev.total, ev.separated
            total.backward()
            if float(total.detach()) < best[0]:
                best = (float(total.detach()), separated.detach())
            if step in args.trace:  # SDRi of this step's estimate (before its update)
                est = separated.detach().double().numpy() * peak
                ref = args.stems[source]
                trace.append(f"{step}:{sdri(ref, est, mix):.2f}/{si_sdri(ref, est, mix):.2f}")
            opt.step()
    if trace:
        print(f"    trace {source}: {' '.join(trace)}", flush=True)
    if args.oracle_loss:
        stems = {k: v / peak for k, v in args.stems.items()}
        logits = oracle_logits(backend, stems, source, latent.shape[1])
        with torch.no_grad():
            oracle = float(objective.evaluate(backend, logits).total)
        print(f"    loss: best {best[0]:.4f}  oracle gates {oracle:.4f}", flush=True)
    return best[1].double().numpy() * peak


def with_residual(
    objective: Objective, backend: light.LightBackend, latent: torch.Tensor, weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The engine's loss plus ``weight`` x BCE(wanted tags of the residual -> 0).

    The residual (mix minus estimate) should not sound like the wanted instrument; this makes
    leaving some of it behind cost something.
    """
    length = objective.mix.shape[-1]
    masks = backend.masks(latent, objective.mix_stfts)
    ests = torch.stack([istft(masks[n].reshape(masks[n].shape[-2:]) * objective.mix_stfts[n][0],
                              n, length) for n in objective.fft_sizes])  # fmt: skip
    rows = resample(torch.cat([ests, objective.mix - ests]), ANALYSIS_RATE, TAGGER_RATE)
    count, losses = len(objective.fft_sizes), []
    for criterion in objective.criteria:
        probs = criterion.tagger.forward_batch(rows)
        wanted = criterion.target > 0
        res = probs[count:, wanted]
        res_loss = F.binary_cross_entropy(res, torch.zeros_like(res))
        losses.append(criterion.loss(probs[:count]).mean() + weight * res_loss)
    return torch.stack(losses).mean(), ests.mean(dim=0)


def cmd_run(args: argparse.Namespace) -> None:
    """Separate each source of each song and print SDRi and CPU seconds per source."""
    torch.set_num_threads(args.threads)
    set_dir = SHARED / "eval" / args.set
    settings = settings_from(args)
    rows: dict[str, list[float]] = {}
    si_rows: dict[str, list[float]] = {}
    cpu: list[float] = []
    for song in args.songs:
        mix, stems = load_song(set_dir, song)
        for source in args.sources or stems:
            if source not in stems:
                continue
            if not criteria_for(source, [TaggerSpec.parse(t) for t in args.tagger], args.fill):
                print(f"  {song} {source:8s} skipped: no tagger has a tag for it")
                continue
            t0 = time.process_time()
            args.stems = stems
            est = separate(mix, source, args, settings)
            cpu.append(time.process_time() - t0)
            rows.setdefault(source, []).append(sdri(stems[source], est, mix))
            si_rows.setdefault(source, []).append(si_sdri(stems[source], est, mix))
            print(f"  {song} {source:8s} SDRi {rows[source][-1]:6.2f}  SI-SDRi "
                  f"{si_rows[source][-1]:6.2f}  cpu {cpu[-1]:5.1f}s", flush=True)  # fmt: skip
    allv = [x for v in rows.values() for x in v]
    summary = {s: round(float(np.mean(v)), 2) for s, v in rows.items()}
    si_summary = {s: round(float(np.mean(v)), 2) for s, v in si_rows.items()}
    si_all = [x for v in si_rows.values() for x in v]
    print(json.dumps({"settings": dataclasses.asdict(settings), "tagger": args.tagger,
                      "fft": args.fft, "steps": args.steps, "lr": args.lr, "fill": args.fill,
                      "residual": args.residual, "ignore_related": args.ignore_related,
                      "mean_by_source": summary, "mean": round(float(np.mean(allv)), 2),
                      "si_by_source": si_summary, "si_mean": round(float(np.mean(si_all)), 2),
                      "cpu_s_per_source": round(float(np.mean(cpu)), 1)}))  # fmt: skip


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["oracle", "run", "gain", "probe"])
    ap.add_argument("--gains", type=_floats, default=[1.0, 0.5, 0.3, 0.2, 0.0])
    ap.add_argument("--set", default="dev")
    ap.add_argument("--songs", type=lambda t: t.split(","), default=["band000", "band001"])
    ap.add_argument("--sources", type=lambda t: t.split(","), default=None)
    ap.add_argument("--components", type=_ints, default=[light.SETTINGS.components])
    ap.add_argument("--nmf-fft", type=int, default=light.SETTINGS.nmf_fft)
    ap.add_argument("--nmf-iterations", type=int, default=light.SETTINGS.nmf_iterations)
    ap.add_argument("--beta", type=float, default=light.SETTINGS.beta)
    ap.add_argument("--gate-seconds", type=float, default=light.SETTINGS.gate_seconds or 0)
    ap.add_argument("--gate-list", type=_floats, default=None, help="oracle: several")
    ap.add_argument("--power", type=float, default=light.SETTINGS.power)
    ap.add_argument(
        "--percussive",
        type=int,
        default=light.SETTINGS.percussive_components,
        help="components given to the percussive part (0: no HPSS split)",
    )
    ap.add_argument("--prior", type=float, default=light.SETTINGS.prior, help="starting gate")
    ap.add_argument("--power-list", type=_floats, default=None, help="oracle: several")
    ap.add_argument("--tagger", action="append", default=None)
    ap.add_argument("--fft", type=_ints, default=list(light.LIGHT_DEFAULTS["fft_sizes"]))
    ap.add_argument("--steps", type=int, default=light.LIGHT_DEFAULTS["steps"])
    ap.add_argument("--lr", type=float, default=light.LIGHT_DEFAULTS["lr"])
    ap.add_argument("--fill", choices=["zeros", "loop"], default="zeros")
    ap.add_argument("--residual", type=float, default=0.0, help="weight of the residual loss")
    ap.add_argument("--ignore-related", action="store_true")
    ap.add_argument("--balanced", action=argparse.BooleanOptionalAction,
                    default=light.LIGHT_DEFAULTS["balance_tags"])  # fmt: skip
    ap.add_argument("--oracle-loss", action="store_true", help="print the loss at oracle gates")
    ap.add_argument("--trace", type=_ints, default=[], help="print SDRi at these steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    args.tagger = args.tagger or [str(t) for t in light.LIGHT_DEFAULTS["taggers"]]
    args.gate_list = args.gate_list or [args.gate_seconds]
    args.power_list = args.power_list or [args.power]
    commands = {"oracle": cmd_oracle, "run": cmd_run, "gain": cmd_gain, "probe": cmd_probe}
    commands[args.command](args)


if __name__ == "__main__":
    main()
