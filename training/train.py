"""Train the query-conditioned separator (``core.nets.separator``) on the rendered corpus.

``python -m training.train --corpus /work/corpus-ship9 --out training/checkpoints/v9s --steps 2000``
(every option is a field of ``training.config.TrainConfig``)

Each step draws a batch of fresh mixtures (``training.mixes.MixSampler``) and asks for one
source (or a pair, or an absent family) with a query in the taggers' space, chosen as at use
time would give it: the stem's own cached query (an example of exactly that sound), another
stem of the same family (an example from elsewhere), or the family's mean query (a prototype,
as a query by tag gives it; ``prototype_share`` of the single-source examples). Queries get
Gaussian noise and, now and then, one tagger's part replaced by its mean. Every source of a
mixture is coloured by a random equaliser (``eq_db``), and a share ``timbre`` of them is
resampled, soft-clipped or put in a room (``training.augment.Timbre``), its query left as it was.

The loss is minus the mean of the SI-SDR and the SNR (weighed ``snr_weight``) of the masked
mixture against the target, so every example weighs the same in dB; an absent family's example
costs the level of what leaks through, weighed ``absent_weight``
(``training.loss.separation_loss``).
A ``song_share`` of the examples are whole-song crops (a stem with others of its own song, in
one key and tempo), the rest remixed across songs.
Validation (:mod:`training.validation`): SI-SDR improvement on two fixed sets of mixtures of
held-out songs, remixed (``si_sdri_prototype``, ``si_sdri_own``) and whole-song
(``si_sdri_song_prototype``, ``si_sdri_song_own``), with the prototype query and with the
stem's own query.

Seeded and resumable: every step's batch is drawn from (seed, step) alone (``training.batches``),
torch is re-seeded at every step, and every ``--checkpoint-every`` steps ``last.pt`` is written
(weights, optimiser, step, and the ids of the songs the run trains and validates on, which a
resumed run takes again, whatever was queried since); a run resumed from it is the same as one
that never stopped. Each file is written to a temporary name and renamed over the last: a write
stopped half way removes its temporary, and a run removes any that a kill left
(:data:`TEMPORARIES`), so a run's folder holds none to commit with it.
``--device cuda`` trains on a GPU, and ``--workers N`` forks N processes that draw the batches
ahead (a GPU waits for one process's numpy otherwise); neither changes what is trained. The
last step's ``last.pt`` keeps no optimiser state, which only resuming needs: a finished run's
checkpoint is a third of the size, small enough to commit. ``log.jsonl`` holds the losses and
validations.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import pickle
import sys
import time
import zipfile
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tagbox_gui.core.audio.atomic import write_through
from tagbox_gui.core.nets.separator import QuerySeparator, SeparatorShape, save_separator
from training.batches import batches
from training.config import TrainConfig
from training.corpus import check_split, list_songs, named_songs, split_songs
from training.grow import load_init
from training.loss import learning_rate, separation_loss
from training.mixes import MixSampler
from training.outputs import check_output_folder, writing
from training.queries import QueryBank, query_path
from training.validation import valid_set, validate

AGAIN = "free some space and run the same command again: it resumes from the run's last checkpoint"
"""What to do when a run's file cannot be written (a full disk, say)."""


def _save_checkpoint(out: Path, net: QuerySeparator, optimiser: torch.optim.Optimizer, step: int,
                     config: TrainConfig, bank: QueryBank, best: float,
                     songs: dict[str, list[str]]) -> None:  # fmt: skip
    tmp = out / "last.pt.tmp"
    model = {k: v.cpu() for k, v in net.state_dict().items()}
    state = {"config": asdict(config), "shape": asdict(net.shape), "step": step,
             "model": model, "best": best, "songs": songs}  # fmt: skip
    if step < config.steps:  # a finished run is never resumed (its settings fix its steps)
        state["optimiser"] = optimiser.state_dict()
    _save_separator(out / "separator.pt", net, step, bank)  # first: last.pt says it is done
    with writing(out / "last.pt", AGAIN):
        write_through(out / "last.pt", lambda path: torch.save(state, path), tmp)


def _save_separator(path: Path, net: QuerySeparator, step: int, bank: QueryBank) -> None:
    """The weights as the app loads them (``training.export`` adds the shipped prototypes)."""
    prototypes = {f: torch.from_numpy(p) for f, p in bank.prototypes.items()}
    tmp = path.with_suffix(".tmp")
    extra = {"prototypes": prototypes, "step": step}
    with writing(path, AGAIN):
        write_through(path, lambda to: save_separator(copy.deepcopy(net).cpu(), to, extra), tmp)


TEMPORARIES = ("last.pt.tmp", "separator.tmp", "best.tmp", "log.jsonl.tmp")
"""What a run writes before renaming it over ``last.pt``, ``separator.pt``, ``best.pt`` and
``log.jsonl``: an interrupted write removes its own, and a run removes any a kill left."""


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
    with writing(path, AGAIN):
        write_through(path, lambda to: to.write_text("".join(line + "\n" for _, line in kept)), tmp)


def read_checkpoint(path: Path) -> dict:
    """The state a run stored in ``path`` (its ``last.pt``); SystemExit saying what to do when
    it cannot be read (a file cut short, e.g. by a full disk or a copy stopped half way: the
    run writes it to a temporary name and renames it, so a kill never leaves one) or is not a
    run's checkpoint."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        reason = str(exc).split(". ")[0] or type(exc).__name__
        raise SystemExit(f"{path} cannot be read ({reason}): it is damaged. Put back a copy of "
                         "it, or remove it to train the run from its start") from exc  # fmt: skip
    if not isinstance(state, dict) or not {"config", "model", "step"} <= state.keys():
        raise SystemExit(f"{path} is not a checkpoint of training.train (no config, model and "
                         "step); remove it, or give another --out")  # fmt: skip
    return state


def settings_differences(stored: dict, wanted: dict) -> list[str]:
    """Each setting of a run's checkpoint (``stored``) that this command gives otherwise, as
    ``--seed 7 there, 8 here``. ``--init`` names the same weights by another path (relative
    instead of absolute, or through a link) when both name one file on disk."""

    def shown(value: object) -> str:
        return repr(value) if isinstance(value, str) else str(value)

    def same(name: str, there: object, here: object) -> bool:
        return there == here or (name == "init" and _one_file(str(there), str(here)))

    return [f"--{name.replace('_', '-')} {shown(stored.get(name))} there, {shown(value)} here"
            for name, value in wanted.items()
            if not same(name, stored.get(name), value)]  # fmt: skip


def _one_file(first: str, second: str) -> bool:
    """Whether the paths ``first`` and ``second`` name one file that exists."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # either is gone (a resumed run needs its --init no more)
        return False


def run_songs(corpus: Path, state: dict | None, last: Path) -> tuple[list[str], list[str]]:
    """The songs a run trains and validates on (training side, held-out side).

    A new run takes the songs of each side of the corpus's split whose queries are cached; its
    checkpoints record them, and a resumed run takes exactly those, so that it draws the
    batches an unbroken run draws whatever was rendered or queried since (a new run takes
    those in). SystemExit in one line when a recorded song is gone or has lost its queries.
    A checkpoint written before runs recorded their songs resumes with the songs there now.
    """
    recorded = (state or {}).get("songs")
    if recorded is not None:
        train_songs, valid_songs = list(recorded["train"]), list(recorded["valid"])
        have = set(list_songs(corpus))
        gone = [s for s in train_songs + valid_songs
                if s not in have or not query_path(corpus, s).exists()]  # fmt: skip
        if gone:
            raise SystemExit(f"{last} trains on songs that {corpus} no longer holds with their "
                             f"queries ({named_songs(gone)}): put them back, or start a new "
                             "run on the songs there now (another --out, --init from this "
                             "run's separator.pt)")  # fmt: skip
        return train_songs, valid_songs
    train_songs, valid_songs = split_songs(corpus)
    if not train_songs and not valid_songs:
        raise SystemExit(f"{corpus}: no rendered songs (training.render makes them)")
    check_split(corpus, train_songs, valid_songs)
    train_songs = [s for s in train_songs if query_path(corpus, s).exists()]
    valid_songs = [s for s in valid_songs if query_path(corpus, s).exists()]
    if not train_songs or not valid_songs:
        side = "training" if not train_songs else "held-out"
        raise SystemExit(f"{corpus}: no {side} song with cached queries (training.queries)")
    return train_songs, valid_songs


def train(corpus: Path, out: Path, config: TrainConfig, threads: int = 1, device: str = "cpu",
          workers: int = 0) -> Path:  # fmt: skip
    """Run (or resume) training into ``out``; returns the path of the exported separator.

    ``device`` (e.g. ``cuda``) is where the network trains; ``workers`` processes draw the
    batches ahead (0: this process draws them). Neither changes what is trained: every
    step's batch depends on the seed and the step alone.
    """
    check_output_folder(out, "run folder")  # a file, or a read-only disk: refused before a step
    if config.init and not (out / "last.pt").exists() and not Path(config.init).is_file():
        raise SystemExit(f"--init {config.init}: no such file (weights that training.export "
                         "or a run wrote, e.g. its separator.pt)")  # fmt: skip
    torch.set_num_threads(threads)
    last = out / "last.pt"
    state = read_checkpoint(last) if last.exists() else None
    if state is not None:
        # A field missing from an older checkpoint did not exist then, so the run had its
        # default, except ``recipe``: a checkpoint without it is of recipe 1.
        stored = {**asdict(TrainConfig()), "recipe": 1, **state["config"]}
        differences = settings_differences(stored, asdict(config))
        if differences:
            raise SystemExit(f"{last} was made with other settings ({'; '.join(differences)}): "
                             "give the run's own settings to resume it, or another --out to "
                             "start a new run")  # fmt: skip
        config = replace(config, init=stored["init"])  # as the run named it: kept in last.pt
    train_songs, valid_songs = run_songs(corpus, state, last)
    bank = QueryBank(corpus, train_songs)
    held_out = (corpus, valid_songs, config.seconds, config.valid_examples, bank)
    try:  # before the run's folder is made
        sampler = MixSampler(corpus, train_songs, config.seconds, eq_db=config.eq_db,
                             p_song=config.song_share, p_timbre=config.timbre,
                             p_solo=config.solo_share, p_refuse=config.refuse_share,
                             p_texture=config.texture, p_look=config.look_share,
                             p_gap=config.gap)  # fmt: skip
        valid, valid_song = valid_set(*held_out), valid_set(*held_out, whole_song=True)
    except ValueError as exc:  # a side's stems of one family; or none queried on training's side
        raise SystemExit(f"{exc}: render more songs (training.render), or let training.queries "
                         "cache the queries of more") from exc  # fmt: skip
    torch.manual_seed(config.seed)
    shape = SeparatorShape(
        bank.mean.shape[0], config.width, config.layers, config.band_width, config.hidden
    )
    net = QuerySeparator(shape)
    net.query_mean.copy_(torch.from_numpy(bank.mean))
    net.query_std.copy_(torch.from_numpy(bank.std))
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    step, best = 0, -np.inf  # best: the highest validation SI-SDRi by prototype so far
    if state is not None:
        net.load_state_dict(state["model"])
        step = int(state["step"])
        net.to(device)
        if step < config.steps:
            optimiser.load_state_dict(state["optimiser"])
        best = float(state.get("best", -np.inf))
    elif config.init:  # a new run from given weights, their query standardisation with them
        load_init(net, Path(config.init))
    with writing(out, AGAIN):  # made once the weights it starts from are known to load
        out.mkdir(parents=True, exist_ok=True)
        for name in TEMPORARIES:  # left by a run killed while it wrote (SIGKILL, power cut)
            (out / name).unlink(missing_ok=True)
    net.to(device)
    songs = {"train": train_songs, "valid": valid_songs}  # recorded: a resume takes these
    trim_log(out / "log.jsonl", step)
    with writing(out / "log.jsonl", AGAIN):
        log = (out / "log.jsonl").open("a")
    bar = tqdm(total=config.steps, initial=step, desc="train", unit="step")
    checkpointed = step  # the step the last checkpoint holds: where a resume goes on from
    try:  # the bar ends its line, so an error stopping the run reads on a line of its own
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
            with writing(out / "log.jsonl", AGAIN):
                log.write(json.dumps(record) + "\n")
            bar.set_postfix(loss=f"{loss.item():.4f}")
            bar.update()
            if step % config.checkpoint_every == 0 or step == config.steps:
                with writing(out / "log.jsonl", AGAIN):
                    log.flush()
                _save_checkpoint(out, net, optimiser, step, config, bank, best, songs)
                checkpointed = step
    except BaseException as exc:
        with contextlib.suppress(OSError):
            log.close()  # what was written of the log is kept; the process ends
        if isinstance(exc, KeyboardInterrupt):
            bar.close()
            print(_stopped(step, config.steps, checkpointed), file=sys.stderr)
            raise SystemExit(130) from None
        raise
    finally:
        bar.close()
    with writing(out / "log.jsonl", AGAIN):
        log.close()
    if not (out / "separator.pt").exists():  # a finished run as committed: last.pt, no export
        _save_separator(out / "separator.pt", net, step, bank)
    return out / "separator.pt"


def _stopped(step: int, steps: int, checkpointed: int) -> str:
    """What Ctrl+C says at ``step`` of ``steps``, the last checkpoint holding ``checkpointed``."""
    again = (f"the same command resumes it from its last checkpoint, step {checkpointed}"
             if checkpointed else "no checkpoint was written yet: the same command starts it "
             "again")  # fmt: skip
    return f"training stopped at step {step} of {steps}; {again}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the query-conditioned separator.")
    corpus = "a corpus rendered by training.render, its queries cached"
    parser.add_argument("--corpus", type=Path, required=True, help=corpus)
    out = "the run's folder: checkpoints and log.jsonl (a run found there resumes)"
    parser.add_argument("--out", type=Path, required=True, help=out)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default: 1)")
    parser.add_argument("--device", default="cpu", help="where the network trains, e.g. cuda")
    parser.add_argument(
        "--workers", type=int, default=0, help="processes that draw batches ahead (default 0: none)"
    )
    defaults = TrainConfig()
    for setting in fields(TrainConfig):
        value = getattr(defaults, setting.name)
        about = setting.metadata["help"].replace("%", "%%") + " (default: %(default)s)"
        name = f"--{setting.name.replace('_', '-')}"
        parser.add_argument(name, type=type(value), default=value, help=about)
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
