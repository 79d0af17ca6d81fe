"""Train the query-conditioned separator (``core.nets.separator``) on the rendered corpus.

``python -m training.train --corpus /work/corpus-ship9 --out training/checkpoints/v9s --steps 2000``

Each step draws a batch of fresh mixtures (``training.mixes.MixSampler``) and asks for one
source (or a pair, or an absent family) with a query in the taggers' space, chosen as at use
time would give it: the stem's own cached query (an example of exactly that sound), another
stem of the same family (an example from elsewhere), or the family's mean query (a prototype,
as a query by tag gives it; ``prototype_share`` of the single-source examples). Queries get
Gaussian noise and, now and then, one tagger's part replaced by its mean. Every source of a
mixture is coloured by a random equaliser (``eq_db``), and a share ``timbre`` of them is
resampled, soft-clipped or put in a room (``training.augment.Timbre``), its query left as it was.

The loss is minus the mean of the SI-SDR and the SNR of the masked mixture against the
target (see :func:`separation_loss`), so every example weighs the same in dB.
A ``song_share`` of the examples are whole-song crops (a stem with others of its own song, in
one key and tempo), the rest remixed across songs.
Validation (:mod:`training.validation`): SI-SDR improvement on two fixed sets of mixtures of
held-out songs, remixed (``si_sdri_prototype``, ``si_sdri_own``) and whole-song
(``si_sdri_song_prototype``, ``si_sdri_song_own``), with the prototype query and with the
stem's own query.

Seeded and resumable: every step's batch is drawn from (seed, step) alone (:func:`draw_batch`),
torch is re-seeded at every step, and every ``--checkpoint-every`` steps ``last.pt`` is written
(weights, optimiser, step); a run resumed from it is the same as one that never stopped.
``--device cuda`` trains on a GPU, and ``--workers N`` forks N processes that draw the batches
ahead (a GPU waits for one process's numpy otherwise); neither changes what is trained. The
last step's ``last.pt`` keeps no optimiser state, which only resuming needs: a finished run's
checkpoint is a third of the size, small enough to commit. ``log.jsonl`` holds the losses and
validations.
"""

from __future__ import annotations

import argparse
import collections
import copy
import itertools
import json
import math
import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tagbox_gui.core.nets.separator import (
    QuerySeparator,
    SeparatorShape,
    inverse,
    save_separator,
    spectrum,
)
from training.corpus import split_songs
from training.grow import load_init
from training.mixes import Example, MixSampler
from training.queries import PROTOTYPE_SHARE, QueryBank, query_path
from training.validation import valid_set, validate


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (stored in its checkpoints)."""

    steps: int = 20_000
    batch: int = 12
    seconds: float = 3.0
    lr: float = 1e-3  # peak learning rate, after the warm-up, decayed on a cosine to lr / 20
    warmup: int = 200  # steps of linear learning-rate warm-up
    seed: int = 0
    width: int = 256
    layers: int = 3
    band_width: int = 0  # channels per band of the band branch (0: none; run v5: 32)
    hidden: int = 0  # GRU units per direction of each block (0: width // 2; more: widened)
    query_noise: float = 0.1
    prototype_share: float = PROTOTYPE_SHARE  # of single-source queries: the family's mean
    checkpoint_every: int = 100
    valid_every: int = 500
    valid_examples: int = 48
    eq_db: float = 8.0  # range of the random equaliser of every source (training.mixes)
    song_share: float = 0.0  # of examples: whole-song crops (training.mixes, kind "song")
    timbre: float = 0.0  # chance of each random timbre change of a source (training.timbres)
    solo_share: float = 0.0  # of examples: one stem alone, asked by prototype (kind "solo")
    refuse_share: float = 0.0  # of examples: one stem alone, asked as another family ("refuse")
    texture: float = 0.0  # chance of each random texture change of a source (training.timbres)
    look_share: float = 0.0  # of single and song examples: heard as the second look (kind "look")
    gap: float = 0.0  # chance of a gap in each source: it enters late, stops early or pauses
    snr_weight: float = 1.0  # weight of the SNR beside the SI-SDR in the loss (0: SI-SDR alone)
    absent_weight: float = 1.0  # weight of an absent source's leak term in the loss
    init: str = ""  # weights a new run starts from (save_separator format); "": from scratch
    recipe: int = 2  # 1: the first recipe (energy-floored SI-SDR, lr halved at 80 %), retired

    def __post_init__(self) -> None:
        """Refuse settings no run can train with (ValueError naming each option)."""
        least = {"steps": 1, "batch": 1, "width": 1, "checkpoint_every": 1, "valid_every": 1,
                 "valid_examples": 1, "warmup": 0, "seed": 0, "layers": 0, "band_width": 0,
                 "hidden": 0, "lr": 0, "query_noise": 0, "eq_db": 0, "snr_weight": 0,
                 "absent_weight": 0}  # fmt: skip
        shares = ("prototype_share", "song_share", "timbre", "solo_share", "refuse_share",
                  "texture", "look_share", "gap")  # fmt: skip
        problems = [f"--{name} must be at least {low}, not {getattr(self, name)}"
                    for name, low in least.items() if not getattr(self, name) >= low]  # fmt: skip
        problems += [f"--{name} must lie in [0, 1], not {getattr(self, name)}"
                     for name in shares if not 0 <= getattr(self, name) <= 1]  # fmt: skip
        if not self.seconds > 0:
            problems.append(f"--seconds must be positive, not {self.seconds}")
        if self.recipe != 2:
            problems.append(f"--recipe {self.recipe} is retired: only recipe 2 trains")
        if problems:
            raise ValueError("; ".join(p.replace("_", "-") for p in problems))


def _tensors(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    mix = torch.from_numpy(np.stack([e.mix for e in examples]))
    target = torch.from_numpy(np.stack([e.target for e in examples]))
    return mix, target


def separation_loss(net: QuerySeparator, mix: torch.Tensor, target: torch.Tensor,
                    query: torch.Tensor, snr_weight: float = 1.0,
                    absent_weight: float = 1.0) -> torch.Tensor:  # fmt: skip
    """Mean over the batch of minus the mean of SI-SDR and SNR (dB) of the masked mixture, / 10
    (the SNR weighed ``snr_weight`` against the SI-SDR's 1).

    Every example counts the same in dB whatever its level. The SI-SDR is taken from the
    cosine between estimate and target, ``10 log10((c² + ε) / (1 - c² + ε))`` with ε = 1e-3,
    so it lies in ±30 dB and a silent estimate scores its worst, -30 dB. (The first recipe
    computed it from energies with absolute floors, so an estimate whose energy fell under
    the floor scored 0 dB, better than any honest guess: the network learnt to silence
    sources it did not recognise, and on a sample library it had never heard it silenced
    guitar, piano and strings.) The SNR term keeps the level right, so the stems still add
    up to a sensible split of the song; it is capped at 30 dB. An absent source's term is the
    level of what leaks through, relative to the mixture, down to -30 dB, times
    ``absent_weight``. At weight 1 the two mistakes cost unequally: a present source at -10 dB
    in the mixture answered with a faint mask (SI-SDR about that of the mixture, SNR 0 dB)
    costs a few dB against an honest try (about 7 dB against SI-SDR and SNR of +2 dB), while an
    absent one answered with a stem at -10 dB costs 20 dB against silence; so where the
    network cannot tell, "absent" is its cheaper answer (docs/separator.md, "Run v17a").
    """
    spec_mix = spectrum(mix)
    estimate = inverse(net(spec_mix.abs(), query) * spec_mix, mix.shape[1])
    target_energy = target.pow(2).sum(dim=1)
    estimate_energy = estimate.pow(2).sum(dim=1)
    snr = 10 * torch.log10(
        target_energy.clamp_min(1e-10) / ((estimate - target).pow(2).sum(dim=1) + 1e-10)
    )
    cosine2 = (estimate * target).sum(dim=1).pow(2) / (estimate_energy * target_energy + 1e-20)
    si_sdr = 10 * torch.log10((cosine2 + 1e-3) / (1 - cosine2 + 1e-3))
    leak = 10 * torch.log10((estimate_energy + 1e-10) / mix.pow(2).sum(dim=1))
    present = target_energy > 1e-8
    gain = (si_sdr + snr_weight * snr.clamp(max=30.0)) / (1 + snr_weight)
    loss = torch.where(present, -gain, absent_weight * leak.clamp(min=-30.0))
    return loss.mean() / 10


def _describe(examples: list[Example]) -> str:
    """What a batch was, to find a bad example again."""
    return "; ".join(f"{e.kind} {e.family} of {[p.ref.song for p in e.sources]}" for e in examples)


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]  # mix, target, query, description


def draw_batch(sampler: MixSampler, bank: QueryBank, config: TrainConfig, step: int) -> Batch:
    """The examples and queries of training step ``step``, a function of (seed, step) alone.

    So a resumed run equals an unbroken one, and worker processes can draw batches ahead in
    any order.
    """
    sampler.rng = np.random.default_rng((config.seed, step))
    rng = np.random.default_rng((config.seed, step, 1))
    examples = sampler.batch(config.batch)
    mix, target = _tensors(examples)
    query = torch.from_numpy(np.stack([
        bank.choose(e, rng, config.query_noise, config.prototype_share) for e in examples
    ]))  # fmt: skip
    return mix, target, query, _describe(examples)


_WORKER_STATE: tuple[MixSampler, QueryBank, TrainConfig] | None = None


def _worker_batch(step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """A batch drawn in a worker, as numpy arrays (plain pickles, no shared tensor memory)."""
    assert _WORKER_STATE is not None
    mix, target, query, description = draw_batch(*_WORKER_STATE, step)
    return mix.numpy(), target.numpy(), query.numpy(), description


def batches(sampler: MixSampler, bank: QueryBank, config: TrainConfig, first: int,
            workers: int = 0) -> Iterator[Batch]:  # fmt: skip
    """The batches of steps ``first ..`` in order; drawn ahead by ``workers`` processes if > 0.

    The workers are forked, so they share the corpus's memory maps and the query bank; at
    most ``2 * workers`` batches wait at a time.
    """
    if workers <= 0:
        for step in range(first, config.steps):
            yield draw_batch(sampler, bank, config, step)
        return
    global _WORKER_STATE
    _WORKER_STATE = (sampler, bank, config)
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        pending: collections.deque = collections.deque()
        steps = iter(range(first, config.steps))
        for step in itertools.islice(steps, 2 * workers):
            pending.append(pool.apply_async(_worker_batch, (step,)))
        while pending:
            mix, target, query, description = pending.popleft().get()
            for step in itertools.islice(steps, 1):
                pending.append(pool.apply_async(_worker_batch, (step,)))
            yield (
                torch.from_numpy(mix),
                torch.from_numpy(target),
                torch.from_numpy(query),
                description,
            )


def _save_checkpoint(out: Path, net: QuerySeparator, optimiser: torch.optim.Optimizer, step: int,
                     config: TrainConfig, bank: QueryBank, best: float) -> None:  # fmt: skip
    tmp = out / "last.pt.tmp"
    model = {k: v.cpu() for k, v in net.state_dict().items()}
    state = {"config": asdict(config), "shape": asdict(net.shape), "step": step,
             "model": model, "best": best}  # fmt: skip
    if step < config.steps:  # a finished run is never resumed (its settings fix its steps)
        state["optimiser"] = optimiser.state_dict()
    _save_separator(out / "separator.pt", net, step, bank)  # first: last.pt says it is done
    torch.save(state, tmp)
    tmp.replace(out / "last.pt")


def _save_separator(path: Path, net: QuerySeparator, step: int, bank: QueryBank) -> None:
    """The weights as the app loads them (``training.export`` adds the shipped prototypes)."""
    prototypes = {f: torch.from_numpy(p) for f, p in bank.prototypes.items()}
    tmp = path.with_suffix(".tmp")
    save_separator(copy.deepcopy(net).cpu(), tmp, {"prototypes": prototypes, "step": step})
    tmp.replace(path)


def trim_log(path: Path, step: int) -> None:
    """Keep in the log at ``path`` one record of each step up to ``step``, in order.

    A run resumes from the checkpoint of ``step``; what its log holds beyond that (the records
    flushed after the checkpoint before the run was stopped, or a line cut short by a kill) is
    written again as the run goes on, so it is dropped here and the log reads as an unbroken
    run's.
    """
    if not path.exists():
        return
    kept: list[tuple[int, str]] = []
    for line in path.read_text().splitlines():
        try:
            record_step = int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):  # a line cut short
            continue
        if record_step > step:
            continue
        while kept and kept[-1][0] >= record_step:  # written again by a resumed run
            kept.pop()
        kept.append((record_step, line))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for _, line in kept))
    tmp.replace(path)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to ``config.lr``, then a cosine down to ``config.lr / 20`` at the end
    (``warmup`` 0: none)."""
    warm = min(1.0, (step + 1) / max(config.warmup, 1))
    progress = min(1.0, step / max(config.steps, 1))
    return config.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(corpus: Path, out: Path, config: TrainConfig, threads: int = 1, device: str = "cpu",
          workers: int = 0) -> Path:  # fmt: skip
    """Run (or resume) training into ``out``; returns the path of the exported separator.

    ``device`` (e.g. ``cuda``) is where the network trains; ``workers`` processes draw the
    batches ahead (0: this process draws them). Neither changes what is trained: every
    step's batch depends on the seed and the step alone.
    """
    torch.set_num_threads(threads)
    train_songs, valid_songs = split_songs(corpus)
    if not train_songs:
        raise SystemExit(f"{corpus}: no rendered songs (training.render makes them)")
    train_songs = [s for s in train_songs if query_path(corpus, s).exists()]
    valid_songs = [s for s in valid_songs if query_path(corpus, s).exists()]
    if not train_songs or not valid_songs:
        side = "training" if not train_songs else "held-out"
        raise SystemExit(f"{corpus}: no {side} song with cached queries (training.queries)")
    out.mkdir(parents=True, exist_ok=True)
    bank = QueryBank(corpus, train_songs)
    torch.manual_seed(config.seed)
    shape = SeparatorShape(
        bank.mean.shape[0], config.width, config.layers, config.band_width, config.hidden
    )
    net = QuerySeparator(shape)
    net.query_mean.copy_(torch.from_numpy(bank.mean))
    net.query_std.copy_(torch.from_numpy(bank.std))
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    step, best = 0, -np.inf  # best: the highest validation SI-SDRi by prototype so far
    last = out / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        # A field missing from an older checkpoint did not exist then, so the run had its
        # default, except ``recipe``: a checkpoint without it is of recipe 1.
        stored = {**asdict(TrainConfig()), "recipe": 1, **state["config"]}
        if stored != asdict(config):
            raise SystemExit(f"{last} was made with other settings: {state['config']}")
        net.load_state_dict(state["model"])
        step = int(state["step"])
        net.to(device)
        if step < config.steps:
            optimiser.load_state_dict(state["optimiser"])
        best = float(state.get("best", -np.inf))
    elif config.init:  # a new run from given weights, their query standardisation with them
        load_init(net, Path(config.init))
    net.to(device)
    sampler = MixSampler(corpus, train_songs, config.seconds, eq_db=config.eq_db,
                         p_song=config.song_share, p_timbre=config.timbre,
                         p_solo=config.solo_share, p_refuse=config.refuse_share,
                         p_texture=config.texture, p_look=config.look_share,
                         p_gap=config.gap)  # fmt: skip
    held_out = (corpus, valid_songs, config.seconds, config.valid_examples, bank)
    valid, valid_song = valid_set(*held_out), valid_set(*held_out, whole_song=True)
    trim_log(out / "log.jsonl", step)
    log = (out / "log.jsonl").open("a")
    bar = tqdm(total=config.steps, initial=step, desc="train", unit="step")
    started = time.time()
    for mix, target, query, description in batches(sampler, bank, config, step, workers):
        torch.manual_seed(config.seed * 1_000_003 + step)
        mix, target, query = mix.to(device), target.to(device), query.to(device)
        lr = learning_rate(config, step)
        for group in optimiser.param_groups:
            group["lr"] = lr
        loss = separation_loss(net, mix, target, query, config.snr_weight, config.absent_weight)
        optimiser.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        finite = bool(torch.isfinite(loss) and torch.isfinite(grad_norm))
        if finite:  # a non-finite batch is logged and skipped, never let into the weights
            optimiser.step()
        step += 1
        record: dict[str, float] = {"step": step, "loss": loss.item(), "lr": lr,
                                    "grad_norm": float(grad_norm), "skipped": not finite,
                                    "seconds": time.time() - started}  # fmt: skip
        if not finite:
            bar.write(f"step {step}: non-finite loss or gradient, skipped ({description})")
        if step % config.valid_every == 0 or step == config.steps:
            record.update(validate(net, *valid))
            record.update(validate(net, *valid_song, prefix="song_"))
            bar.write(json.dumps(record))
            if record["si_sdri_prototype"] > best:  # kept: a later step may be worse
                best = record["si_sdri_prototype"]
                _save_separator(out / "best.pt", net, step, bank)
        log.write(json.dumps(record) + "\n")
        bar.set_postfix(loss=f"{loss.item():.4f}")
        bar.update()
        if step % config.checkpoint_every == 0 or step == config.steps:
            log.flush()
            _save_checkpoint(out, net, optimiser, step, config, bank, best)
    bar.close()
    log.close()
    if not (out / "separator.pt").exists():  # a finished run as committed: last.pt, no export
        _save_separator(out / "separator.pt", net, step, bank)
    return out / "separator.pt"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the query-conditioned separator.")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="where the network trains, e.g. cuda")
    parser.add_argument(
        "--workers", type=int, default=0, help="processes that draw batches ahead (default 0: none)"
    )
    defaults = TrainConfig()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    if args.threads < 1 or args.workers < 0:
        parser.error(f"--threads must be at least 1 and --workers at least 0, not "
                     f"{args.threads} and {args.workers}")  # fmt: skip
    try:
        config = TrainConfig(**{k: getattr(args, k) for k in asdict(defaults)})
    except ValueError as exc:
        parser.error(str(exc))
    path = train(args.corpus, args.out, config, args.threads, args.device, args.workers)
    print(f"separator written to {path}")


if __name__ == "__main__":
    main()
