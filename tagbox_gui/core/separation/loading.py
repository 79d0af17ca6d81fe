"""Loading what a run needs: taggers, their loss targets and the backend (through ``cache``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, is_dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np
import torch

from tagbox_gui.core.dsp.spectral import resample
from tagbox_gui.core.errors import ConfigError, TagError
from tagbox_gui.core.nets.queries import QUERY_TAGGERS
from tagbox_gui.core.nets.taggers import TAGGER_RATE, vocabularies, vocabulary
from tagbox_gui.core.separation.backends import BACKENDS
from tagbox_gui.core.separation.backends.base import Backend
from tagbox_gui.core.separation.cache import ModelCache, clip_key, load_cached_tagger
from tagbox_gui.core.separation.objective import Criterion
from tagbox_gui.core.separation.tags import (
    check_known,
    heard_targets,
    instrument_tags,
    resolve_targets,
)
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import JUKEBOX
from tagbox_gui.core.types import RunConfig, TaggerSpec


def build_criteria(
    config: RunConfig,
    store: ModelStore,
    device: torch.device,
    cache: ModelCache,
    example: tuple[np.ndarray, int] | None = None,
) -> list[Criterion]:
    """One criterion per chosen tagger, with the tag states of the config.

    Tag words are checked first (unknown words are an error naming the nearest valid ones),
    then each wanted word against every tagger (a tagger lacking it is an error), then weights
    are loaded. A run with no wanted tag but an ``example`` clip (mono samples, rate) is
    steered towards what each tagger hears in the example (``tags.heard_targets``).
    """
    known = vocabularies(config.taggers)
    check_known(config.tags + config.avoid + config.ignore, known)
    if example is not None and not config.tags:
        return [_heard_criterion(config, spec, example, store, device, cache)
                for spec in config.taggers]  # fmt: skip
    targets = [
        resolve_targets(
            spec.dataset,
            known[spec.dataset],
            config.tags,
            config.avoid,
            config.ignore,
            config.avoid_others,
            config.ignore_related,
            config.balance_tags,
        )
        for spec in config.taggers
    ]
    return [
        Criterion.build(load_cached_tagger(spec, store, device, cache), target, device)
        for spec, target in zip(config.taggers, targets, strict=True)
    ]


def _heard_criterion(
    config: RunConfig,
    spec: TaggerSpec,
    example: tuple[np.ndarray, int],
    store: ModelStore,
    device: torch.device,
    cache: ModelCache,
) -> Criterion:
    """The criterion of tagger ``spec`` that steers towards what it hears in ``example``
    (looped to fill its windows, as a query by example hears it). What it hears is kept in
    ``cache`` by the clip's samples: a job's check of a part (``job_checks.check_part``) hears
    it, and its run finds it."""
    tagger = load_cached_tagger(spec, store, device, cache)
    samples, rate = example

    def hear() -> np.ndarray:
        clip = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).to(device)
        with torch.no_grad():
            return tagger(resample(clip[None], rate, TAGGER_RATE), fill="loop").cpu().numpy()

    key = ("heard", *clip_key(samples, rate), str(store.tagger_path(spec)), str(device))
    targets = heard_targets(spec.dataset, tagger.vocabulary, cache.get(key, hear), config.avoid,
                            config.ignore)  # fmt: skip
    return Criterion.build(tagger, targets, device)


def models_in_use(config: RunConfig) -> tuple[str, ...]:
    """The model files a run with ``config`` loads from the store, by their registry names
    (``core.store.models``): the Jukebox VQ-VAE for that backend, the taggers that hear an
    example clip (``core.nets.queries.QUERY_TAGGERS``) and those that steer its steps. A
    one-pass run by prototype loads none (the learned separator ships with the package)."""
    names = [JUKEBOX] if config.backend == "jukebox" else []
    if config.example is not None:
        names += [str(spec) for spec in QUERY_TAGGERS]
    if config.steps:
        names += [str(spec) for spec in config.taggers]
    return tuple(dict.fromkeys(names))


def backend_module(backend: str) -> ModuleType:
    """The module of the backend named ``backend``; ConfigError for an unknown name."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend '{backend}'; choose {' or '.join(BACKENDS)}")
    return importlib.import_module(f"tagbox_gui.core.separation.backends.{backend}")


def asks_by_example(backend: str) -> bool:
    """Whether the backend named ``backend`` can be asked for a source by an example clip."""
    return bool(getattr(backend_module(backend), "ASKS_BY_EXAMPLE", False))


def create_backend_factory(
    config: RunConfig,
    store: ModelStore,
    device: torch.device,
    cache: ModelCache,
    example: tuple[np.ndarray, int] | None = None,
    mix: np.ndarray | None = None,
) -> Callable[[], Backend]:
    """The backend factory named by ``config.backend`` (see ``core.separation.backends.base``).

    ``example`` (mono samples, rate) is the clip of ``config.example``, for a backend that is
    asked by example; the others refuse one. ``mix`` (mono, at the analysis rate) is what the
    run separates, for a backend that fits its query to it (the learned one); the others do
    not take it.
    """
    module = backend_module(config.backend)
    fits = {"mix": mix} if mix is not None and getattr(module, "FITS_TO_THE_SONG", False) else {}
    if example is None:
        return module.create(config, store, device, cache, **fits)
    if not asks_by_example(config.backend):
        raise ConfigError(f"the {config.backend} backend cannot be asked by example; "
                          "use the learned backend (--backend learned)")  # fmt: skip
    return module.create(config, store, device, cache, example, **fits)


def default_config(backend: str, **changes: Any) -> RunConfig:
    """The settings a backend works best with (its module's ``DEFAULTS``), then ``changes``."""
    module = backend_module(backend)
    defaults = dict(getattr(module, "DEFAULTS", {}))
    return replace(RunConfig(tags=(), backend=backend), **{**defaults, **changes})


def hops_per_window(backend: str) -> int:
    """How finely a backend's masks are laid out in time: 2 (hop n/2) unless its module's
    ``HOPS_PER_WINDOW`` says 4 (hop n/4, e.g. the learned separator's own frame rate)."""
    module = backend_module(backend)
    return int(getattr(module, "HOPS_PER_WINDOW", 2))


def backend_settings(backend: str) -> dict[str, Any]:
    """A backend's own settings (its module's ``SETTINGS`` dataclass) as plain values, or {}."""
    module = backend_module(backend)
    settings = getattr(module, "SETTINGS", None)
    return asdict(settings) if is_dataclass(settings) and not isinstance(settings, type) else {}


FALLBACK_TAGGERS: tuple[TaggerSpec, ...] = (TaggerSpec("fcn", "jamendo"), TaggerSpec("fcn", "msd"))
"""Taggers to use, in this order, when the user chose none and the default taggers have no tag
for a wanted word (e.g. ``bass``: only MTG-Jamendo has ``instrument---bass``)."""


def tagger_knows(spec: TaggerSpec, word: str) -> bool:
    """Whether ``spec``'s vocabulary has a tag for ``word`` (see ``core.separation.tags``)."""
    try:
        instrument_tags(word, spec.dataset, vocabulary(spec.dataset))
    except TagError:
        return False
    return True


def taggers_for(
    words: tuple[str, ...],
    taggers: tuple[TaggerSpec, ...],
    fallback: tuple[TaggerSpec, ...] = FALLBACK_TAGGERS,
) -> tuple[TaggerSpec, ...]:
    """The taggers that have a tag for every word: those of ``taggers`` that do, else the
    first of ``fallback`` that does, else none."""
    knows_all = [s for s in taggers if all(tagger_knows(s, w) for w in words)]
    if knows_all:
        return tuple(knows_all)
    return next(((s,) for s in fallback if all(tagger_knows(s, w) for w in words)), ())
