"""Loaded models shared by runs, so a second run does not read the weights again.

The backends receive the cache from the engine (``create(config, store, device, cache)``) and
only need this module; it imports neither the backends nor the objective, so no backend module
closes a circle through ``loading``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import TaggerSpec

if TYPE_CHECKING:
    import torch

    from tagbox_gui.core.nets.taggers import Tagger


class ModelCache:
    """Loaded models keyed by (what, file, device), shared by runs; thread-safe."""

    def __init__(self) -> None:
        self._items: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], Any]) -> Any:
        """The cached value for ``key``, loading it with ``load`` the first time."""
        with self._lock:
            if key not in self._items:
                self._items[key] = load()
            return self._items[key]


def clip_key(samples: np.ndarray, rate: int) -> tuple[bytes, str, int]:
    """The part of a cache key that names a clip of ``samples`` at ``rate``: a digest of the
    samples, their dtype and the rate, so what is heard in a clip is kept for the same clip."""
    digest = hashlib.blake2b(np.ascontiguousarray(samples).tobytes(), digest_size=16).digest()
    return digest, samples.dtype.str, rate


def load_cached_tagger(
    spec: TaggerSpec, store: ModelStore, device: torch.device, cache: ModelCache
) -> Tagger:
    """The tagger ``spec`` from the store, on ``device``."""
    from tagbox_gui.core.nets.taggers import load_tagger  # torch: imported when first needed

    path = Path(store.tagger_path(spec))
    return cache.get(("tagger", str(path), str(device)), lambda: load_tagger(spec, path).to(device))
