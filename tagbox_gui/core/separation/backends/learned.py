"""The learned backend: our query-conditioned separator, its query steered by the taggers.

The separator (``core.nets.separator``, trained by ``training/``, shipped as package data)
turns the mixture and a query into a mask. The query lives in the taggers' space
(``core.nets.queries``) and comes from one of two places:

- **by instrument**: the prototype of each named instrument (the mean training query of its
  stems), shipped with the weights; several instruments ask for the mean of theirs;
- **by example**: what the taggers hear in a clip where the instrument plays (another file, or
  a stretch of the song), so an instrument no tagger names can still be asked for.

The latent the engine moves is that query, standardised (``(q - mean) / std`` over the
training queries). With 0 steps a run is one forward pass and loads no tagger. With steps, the
frozen taggers' loss moves the query (TagBox as steering), and after every step it is pulled
back inside a trust region: the root-mean-square distance from its start, in standard
deviations, stays at most ``trust_radius``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from tagbox_gui.core.dsp.spectral import istft, resample
from tagbox_gui.core.errors import ConfigError, ModelError
from tagbox_gui.core.nets.fitting import QueryFit, fitted_latent, song_chunks
from tagbox_gui.core.nets.queries import QUERY_TAGGERS, query_of
from tagbox_gui.core.nets.separator import (
    RATE,
    QuerySeparator,
    load_separator,
    mask_for_stft,
    mask_long,
    spectrum,
)
from tagbox_gui.core.separation.backends.base import Backend
from tagbox_gui.core.separation.tags import did_you_mean, find_preset
from tagbox_gui.core.store.models import file_sha256
from tagbox_gui.core.types import ANALYSIS_RATE

if TYPE_CHECKING:
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.store.models import ModelStore
    from tagbox_gui.core.types import RunConfig

WEIGHTS_FILE = "separator.pt"
WEIGHTS_SHA256 = "2988994bcce86d698da8b8c0446940bdac53839d36b20d2eb0abdd0b154b5594"
"""sha256 of the shipped weights (``tagbox_gui/resources/separator/separator.pt``)."""

ASKS_BY_EXAMPLE = True
"""``create`` takes an example clip as the query."""
FITS_TO_THE_SONG = True
"""``create`` takes the run's mix, to fit a prototype to it."""

DEFAULTS: dict[str, object] = {"steps": 0, "lr": 0.05, "fft_sizes": (2048,)}
"""One forward pass by default; steering settings when steps are asked for."""

HOPS_PER_WINDOW = 4
"""The masks' hop is n/4: at 2048 points (46 ms) an 11.6 ms hop, the separator's own frame
rate. At n/2 every other separator frame was lost; see docs/separator.md, "Run v11"."""


@dataclass(frozen=True)
class LearnedSettings:
    """How far steering may move the query."""

    trust_radius: float = 0.5  # RMS distance from the start, in standard deviations per dim


SETTINGS = LearnedSettings()


WEIGHTS_ENV = "TAGBOX_SEPARATOR"
"""Environment variable naming other separator weights (e.g. a training checkpoint's export)."""


def weights_path() -> Path:
    """The shipped separator weights (package data)."""
    return Path(str(resources.files("tagbox_gui.resources").joinpath("separator", WEIGHTS_FILE)))


def weights_in_use() -> str:
    """The sha256 of the separator weights a run loads: the shipped ones, or the file
    ``$TAGBOX_SEPARATOR`` names (read once per path, size and modification time); the path
    itself when that file cannot be read (the run will say why)."""
    other = os.environ.get(WEIGHTS_ENV)
    if not other:
        return WEIGHTS_SHA256
    try:
        return file_sha256(Path(other))
    except OSError:
        return f"unreadable: {other}"


def load_shipped(cache: ModelCache) -> tuple[QuerySeparator, dict[str, torch.Tensor]]:
    """The separator and its prototypes: the shipped ones, checked against
    :data:`WEIGHTS_SHA256`, or those of the file ``$TAGBOX_SEPARATOR`` names (unchecked)."""
    net, extra = _load(cache)
    return net, extra["prototypes"]


def _load(cache: ModelCache) -> tuple[QuerySeparator, dict]:
    """The separator in use and the other entries of its file, loaded once per cache."""
    other = os.environ.get(WEIGHTS_ENV)
    path = Path(other) if other else weights_path()

    def load() -> tuple[QuerySeparator, dict]:
        if not other and path.is_file() and file_sha256(path) != WEIGHTS_SHA256:
            raise ModelError(f"{path} is not the separator this version ships (sha256 differs)")
        return load_separator(path)

    return cache.get(("separator", str(path)), load)


def load_fits(cache: ModelCache) -> dict[str, QueryFit]:
    """The prototypes' fits to the song (``core.nets.fitting``) that ship with the weights
    :func:`load_shipped` loads, by prototype name; none for weights made without them."""
    _, extra = _load(cache)
    try:
        return {key: QueryFit.from_dict(data) for key, data in extra.get("query_fits", {}).items()}
    except (KeyError, ValueError, AttributeError, TypeError) as exc:
        raise ModelError(f"the separator's fits to the song are unusable ({exc}); reinstall it "
                         "or export the weights again") from exc  # fmt: skip


def fit_for(config: RunConfig, cache: ModelCache) -> QueryFit | None:
    """The fit a run of ``config`` starts from (its prototype fitted to the song), or None: a
    one-pass run (0 steps) asked by one instrument whose prototype has a fit, unless the run
    turns fitting off (``config.fit_to_song``). A run asked by an example, by several
    instruments or with steering starts from its query as it is."""
    if not config.fit_to_song or config.example is not None:
        return None
    if config.steps != 0 or len(config.tags) != 1:
        return None
    key = prototype_key(config.tags[0], load_shipped(cache)[1])
    return load_fits(cache).get(key) if key else None


def is_fitted(config: RunConfig) -> bool:
    """Whether a run of ``config`` of the learned separator asks by a prototype fitted to the
    song (:func:`fit_for`), as its stems' metadata says."""
    return config.backend == "learned" and fit_for(config, _module_cache()) is not None


def prototype_query(words: tuple[str, ...], prototypes: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean prototype of the named instruments ``[dim]``; ConfigError for one without."""
    if not words:
        raise ConfigError("name an instrument or give an example clip to separate")
    rows = []
    for word in words:
        key = prototype_key(word, prototypes)
        if key is None:
            known = sorted(name.replace("_", " ") for name in prototypes)
            raise ConfigError(
                f"the learned separator has no prototype for '{word}'{did_you_mean(word, known)};"
                f" choose one of {', '.join(known)}, or give an example clip where it plays "
                "(--example)"
            )
        rows.append(prototypes[key])
    return torch.stack(rows).mean(dim=0)


def prototype_key(word: str, prototypes: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the prototype ``word`` asks for: the word itself, else the preset it names
    (``core.separation.tags.find_preset``); None when there is none."""
    preset = find_preset(word)
    keys = [word.strip().lower().replace(" ", "_")]  # the most specific name first
    keys += [preset.name.lower()] if preset else []
    return next((k for k in keys if k in prototypes), None)


def nearest_prototype(
    query: torch.Tensor, net: QuerySeparator, prototypes: Mapping[str, torch.Tensor]
) -> str:
    """The name of the prototype nearest to a raw ``query`` ``[dim]``, in the separator's
    standardised query space: what an example sounds most like, among the instruments the
    separator can be asked for by name."""
    names = list(prototypes)
    rows = torch.stack([prototypes[name] for name in names]).to(net.query_mean.device)
    spread = ((rows - query.to(rows.device)) / net.query_std).pow(2).sum(dim=1)
    return names[int(spread.argmin())]


def has_prototype(word: str) -> bool:
    """Whether the shipped separator can be asked for ``word`` without an example."""
    try:
        prototype_query((word,), load_shipped(_module_cache())[1])
    except ConfigError:
        return False
    return True


_PROTOTYPE_CACHE: ModelCache | None = None


def _module_cache() -> ModelCache:
    """The cache of the questions asked without a run's own cache (:func:`has_prototype`,
    :func:`is_fitted`): the weights are loaded once per process for them."""
    from tagbox_gui.core.separation.cache import ModelCache

    global _PROTOTYPE_CACHE
    _PROTOTYPE_CACHE = _PROTOTYPE_CACHE or ModelCache()
    return _PROTOTYPE_CACHE


EXAMPLE_PEAK = 0.9
"""The peak an example clip is brought to before the taggers hear it: the training queries
(and so the prototypes) are those of stems rendered at this peak (``training/render.py``), and
the taggers hear a level, so a clip played softly would otherwise ask for another sound."""


def example_query(
    example: np.ndarray, rate: int, store: ModelStore, device: torch.device, cache: ModelCache
) -> torch.Tensor:
    """The query ``[dim]`` of a mono example clip at ``rate``, brought to
    :data:`EXAMPLE_PEAK` first (loads the query taggers). It is kept in ``cache`` by the clip's
    samples: a job's check of a part (``job_checks.check_part``) makes it, and its run finds it."""
    from tagbox_gui.core.separation.cache import clip_key, load_cached_tagger

    taggers = [load_cached_tagger(spec, store, device, cache) for spec in QUERY_TAGGERS]

    def query() -> torch.Tensor:
        clip = torch.from_numpy(example).to(device)
        clip = clip * (EXAMPLE_PEAK / clip.abs().max().clamp_min(1e-12))
        with torch.no_grad():
            return query_of(taggers, clip, rate)[0].cpu()

    paths = tuple(str(store.tagger_path(spec)) for spec in QUERY_TAGGERS)
    return cache.get(("example query", *clip_key(example, rate), paths, str(device)),
                     query).clone()  # fmt: skip


def create(
    config: RunConfig,
    store: ModelStore,
    device: torch.device,
    cache: ModelCache,
    example: tuple[np.ndarray, int] | None = None,
    mix: np.ndarray | None = None,
) -> Callable[[], Backend]:
    """The per-segment factory: every segment starts from the same query, the prototype
    fitted once to the run's ``mix`` (mono, at the analysis rate) where it has a fit
    (:func:`fit_for`, ``core.nets.fitting``)."""
    if config.steps == 0 and (config.avoid or config.ignore):
        raise ConfigError(
            "avoided and ignored tags only steer the taggers: with 0 steps the learned "
            "separator would not use them; give some steps or drop them"
        )
    net, prototypes = load_shipped(cache)
    if example is not None:
        query = example_query(example[0], example[1], store, device, cache)
    else:
        query = prototype_query(config.tags, prototypes)
    net = net.to(device)
    start = ((query.to(device) - net.query_mean) / net.query_std).detach()
    fit = fit_for(config, cache)
    if fit is not None and mix is not None:
        with torch.no_grad():
            pieces = song_chunks(torch.from_numpy(mix).to(device), ANALYSIS_RATE)
            start = fitted_latent(net, fit.to(device), pieces, start)
    return lambda: LearnedBackend(net, start, SETTINGS)


class LearnedBackend(Backend):
    """The separator's mask for a (standardised) query latent; see the module docstring."""

    name = "learned"
    one_pass = True
    licence = "MIT (weights trained by the TagBox GUI project on its own rendered multitracks)"

    def __init__(self, net: QuerySeparator, start: torch.Tensor, settings: LearnedSettings):
        self.net = net
        self.start = start
        self.settings = settings
        self._magnitude: torch.Tensor | None = None
        self._mix: torch.Tensor | None = None

    def init_latent(self, mix: torch.Tensor, seed: int) -> torch.Tensor:
        """Analyse the segment once; the latent is the standardised start query ``[1, dim]``."""
        self._mix = mix
        with torch.no_grad():
            self._magnitude = spectrum(resample(mix, ANALYSIS_RATE, RATE)).abs()
        return self.start.clone()[None].requires_grad_(True)

    def query(self, latent: torch.Tensor) -> torch.Tensor:
        """The raw query ``[1, dim]`` a latent stands for."""
        return latent * self.net.query_std + self.net.query_mean

    def masks(
        self, latent: torch.Tensor, mix_stfts: dict[int, torch.Tensor]
    ) -> dict[int, torch.Tensor]:
        """The separator's mask carried onto every FFT size's grid of the analysis signal,
        ``[k, bins, frames]`` for a latent of ``k`` queries ``[k, dim]`` (one pass of the
        network for all of them)."""
        if self._magnitude is None:
            raise RuntimeError("init_latent must come first")
        k = latent.shape[0]
        masks = mask_long(self.net, self._magnitude.expand(k, -1, -1), self.query(latent))
        hop = {n: n // HOPS_PER_WINDOW for n in mix_stfts}
        return {
            n: torch.stack(
                [mask_for_stft(mask, ANALYSIS_RATE, n, hop[n], spec.shape[-1]) for mask in masks]
            ).reshape(k, *spec.shape[-2:])
            for n, spec in mix_stfts.items()
        }

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """The masked mixture (this backend has no decoder of its own), ``[1, T]``."""
        if self._mix is None:
            raise RuntimeError("init_latent must come first")
        from tagbox_gui.core.dsp.spectral import stft

        n, hops = 2048, HOPS_PER_WINDOW
        spec = stft(self._mix, n, hops)
        return istft(self.masks(latent, {n: spec})[n] * spec, n, self._mix.shape[-1], hops)

    @torch.no_grad()
    def constrain(self, latent: torch.Tensor) -> None:
        """Pull ``latent`` back inside the trust region around the start query."""
        offset = latent - self.start
        rms = offset.pow(2).mean().sqrt()
        if rms > self.settings.trust_radius:
            latent.copy_(self.start + offset * (self.settings.trust_radius / rms))
