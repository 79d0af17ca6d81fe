"""The batch of each training step, drawn from (seed, step) alone, here or ahead in worker
processes, so that a resumed run equals an unbroken one and workers change nothing."""

from __future__ import annotations

import collections
import itertools
import multiprocessing
from collections.abc import Iterator

import numpy as np
import torch

from training.config import TrainConfig
from training.mixes import Example, MixSampler
from training.queries import QueryBank


def _tensors(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    mix = torch.from_numpy(np.stack([e.mix for e in examples]))
    target = torch.from_numpy(np.stack([e.target for e in examples]))
    return mix, target


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
