"""What made a kept estimate of an evaluate run, and what it cost: its recipe (the settings,
model files and audio that decide it) and its :class:`Timing`, both kept beside the estimate in
``EST/<song>/<source>.timing.json``. An estimate is made again when the recipe it records is
not the one its pair would make now (``pairs.Pair.done``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagbox_gui.core.audio.estimates import ESTIMATE_FORMAT
from tagbox_gui.core.separation.backends.learned import weights_in_use
from tagbox_gui.core.separation.loading import backend_settings, hops_per_window, models_in_use
from tagbox_gui.core.store.models import ModelStore, file_sha256
from tagbox_gui.core.store.registry import JUKEBOX
from tagbox_gui.core.types import RunConfig, config_record


@dataclass(frozen=True)
class Timing:
    """What separating one source of one song cost."""

    cpu_s: float  # CPU time of this process (all threads), the figure laptops care about
    wall_s: float
    steps: int
    taggers: tuple[str, ...]  # the taggers the run loaded (:func:`taggers_in_use`), "arch/dataset"
    began: float = 0.0  # wall-clock time (time.time()) when the separation started
    ended: float = 0.0  # ... and when it ended
    pid: int = 0  # the process that separated it (a worker's with --jobs)


def taggers_in_use(config: RunConfig) -> tuple[str, ...]:
    """The taggers a run with ``config`` loads, as ``arch/dataset``: those that hear its example
    clip and those that steer its steps (``loading.models_in_use``); none for a one-pass run
    by prototype, whatever ``config.taggers`` says."""
    return tuple(name for name in models_in_use(config) if name != JUKEBOX)


def timing_path(estimate: Path) -> Path:
    """Where the cost of an estimate is kept, beside it (``<source>.timing.json``)."""
    return estimate.with_name(estimate.stem + ".timing.json")


def read_timing(path: Path) -> Timing | None:
    """The cost stored at ``path``, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
        return Timing(float(data["cpu_s"]), float(data["wall_s"]), int(data["steps"]),
                      tuple(data["taggers"]), float(data.get("began", 0.0)),
                      float(data.get("ended", 0.0)), int(data.get("pid", 0)))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


_SPEED_ONLY = ("device", "preview_every")  # change how fast a run is, not what it makes


def recipe(
    config: RunConfig, store: ModelStore, looks_again: bool = False, *, mix: Path
) -> dict[str, Any]:
    """Everything that decides an estimate, as JSON values: the audio it was made from (the
    sha256 of the song's ``mix`` and of the example clip's file: :func:`audio_sha256`), the
    run's settings (the device and
    the preview rate left out) and the backend's own (e.g. the light backend's factorisation, the
    masks' hop), the layout of the estimate file (an older one lacks what a newer version
    uses, e.g. the learned query that the second look at a job's stems needs), the learned
    separator's weights (the shipped ones or those ``$TAGBOX_SEPARATOR`` names), the sha256 of
    each file of ``store`` the run loads (``loading.models_in_use``: the taggers of an example
    or of steps, the Jukebox VQ-VAE; None for one that is missing), and whether the run was
    looked at again beside its helpers (``looks_again``, :attr:`Pair.looks_again`), and the
    sha256 of the code that separates (:func:`code_sha256`)."""
    fields = {k: v for k, v in config_record(config).items() if k not in _SPEED_ONLY}
    fields["audio_sha256"] = audio_sha256(config, mix)
    if looks_again:
        fields["looked_again_beside_helpers"] = True
    fields["backend_settings"] = backend_settings(config.backend)
    fields["hops_per_window"] = hops_per_window(config.backend)
    fields["estimate_format"] = ESTIMATE_FORMAT
    # the weights ($TAGBOX_SEPARATOR may name others), the model files (--model-dir may hold
    # other files of the same names) and the code, each where the run has one
    fields.update({key: value for key, value in made_by([config], store).items() if value})
    return fields


def made_by(configs: Iterable[RunConfig], store: ModelStore) -> dict[str, Any]:
    """What the estimates of runs with ``configs`` are made by, as the recipes record it: the
    learned separator's weights (``separator_sha256``, None when no run is the learned
    backend's), each file of ``store`` the runs load (``model_sha256``: name -> sha256, None
    for one that is missing) and the separating code (``code_sha256``)."""
    configs = list(configs)
    learned = any(config.backend == "learned" for config in configs)
    models = dict.fromkeys(name for config in configs for name in models_in_use(config))
    return {"separator_sha256": weights_in_use() if learned else None,
            "model_sha256": {name: store.sha256(name) for name in models},
            "code_sha256": code_sha256()}  # fmt: skip


PACKAGE = Path(__file__).resolve().parents[2]
SEPARATING_CODE = ("core/audio", "core/dsp", "core/nets", "core/separation", "core/types.py",
                   "resources/vocab")  # fmt: skip
"""What of the package makes an estimate: reading the song, the spectra, the networks, the
backends and the engine, the run's settings, and the taggers' vocabularies (the tags a steered
run aims at). The store, the evaluation's own code (the scoring above all), the front ends and
the weights (recorded by their own sha256) are left out: they do not change an estimate."""


@functools.cache
def code_sha256(package: Path = PACKAGE) -> str:
    """The sha256 of the code that makes an estimate (:data:`SEPARATING_CODE` under
    ``package``): every ``.py`` and ``.txt`` file's path and bytes, in order of path. A kept
    estimate made by other code (another version of the app, a fix in a backend) is made again
    rather than scored as if this code had made it."""
    digest = hashlib.sha256()
    for name in SEPARATING_CODE:
        part = package / name
        files = (
            [part]
            if part.is_file()
            else sorted(path for path in part.rglob("*") if path.suffix in (".py", ".txt"))
        )
        for path in files:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def audio_sha256(config: RunConfig, mix: Path) -> dict[str, str | None]:
    """The sha256 of each file a run reads audio from: the song's mix and, asked by example,
    the clip's file (in a set, the true stem); None for one that cannot be read.

    By content, not by size and modification time: a set re-rendered in place (the same song
    names, other audio) is separated again, while one copied or touched keeps its estimates.
    Each file is read once per run (``store.models.file_sha256`` keeps the digest while the
    file's size and modification time stay), about 2 ms per MB."""
    files = {"mix": mix}
    if config.example is not None:
        files["example"] = Path(config.example.path)
    found: dict[str, str | None] = {}
    for role, path in files.items():
        try:
            found[role] = file_sha256(path)
        except OSError:
            found[role] = None
    return found


def recorded_recipe(path: Path) -> dict[str, Any] | None:
    """The recipe kept in a timing file, or None if it has none (or is unreadable)."""
    try:
        found = json.loads(path.read_text()).get("recipe")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, dict) else None
