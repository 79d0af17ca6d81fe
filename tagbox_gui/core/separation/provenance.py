"""What made a stem: the lines written into its file's metadata (``core.audio.export``, which
adds the app's version and the stem's name).

The window and the command line write the same lines, so a stem dragged into a DAW says the
same whichever made it. A setting that did not act on the stem reads ``-``: taggers, a
learning rate and the avoided and ignored tags when nothing was steered, the quantiser of any
backend but Jukebox (:func:`idle_settings`), the tags of a stem asked for by an example alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from tagbox_gui.core.separation.job import second_look_beside
from tagbox_gui.core.types import RunConfig

if TYPE_CHECKING:
    from tagbox_gui.core.separation.job import JobPart, JobResult


def of_steps(steps: int, made: int | None = None) -> str:
    """Which run a step is of, after its number: "of 12" for a run of 12 steps, and where it
    made fewer (``made``; ``RunResult.steps_done``: it was stopped, or a step cut it short)
    "of 12, stopped after step 7". The stems' metadata, the window and the command line say
    it so."""
    stopped = f", stopped after step {made}" if made is not None and made < steps else ""
    return f"of {steps}{stopped}"


def stem_provenance(
    song_name: str, config: RunConfig, step: int, lr: float | None = None,
    helpers: tuple[str, ...] = (), made: int | None = None,
) -> dict[str, str]:  # fmt: skip
    """What made the stems of step ``step`` of a run of ``config`` on the song ``song_name``;
    ``lr`` is the learning rate that step was made with (the config's unless it was changed
    during the run), ``helpers`` those its stem was looked at again beside
    (``core.separation.refine.looked_again``; ``RunResult.helpers``), ``made`` the steps the
    run made (:func:`of_steps`; None: all of them, or not known yet)."""
    c = config
    region = "whole song" if c.region is None else f"{c.region.start:.2f}-{c.region.end:.2f} s"
    idle = idle_settings(c)
    return {
        "song": song_name,
        "tags": ", ".join(c.tags) or "-",
        "avoided": "-" if "avoid" in idle else _avoided(c),
        "ignored": "-" if "ignore" in idle else _ignored(c),
        "backend": c.backend,
        "query": _query(c),
        "taggers": "-" if "taggers" in idle else ", ".join(str(t) for t in c.taggers),
        "fft sizes": ", ".join(map(str, c.fft_sizes)),
        "step": f"{step} {of_steps(c.steps, made)}",
        "learning rate": "-" if "lr" in idle else f"{c.lr if lr is None else lr:g}",
        "mode": c.mode.value,
        "quantise": "-" if "quantise" in idle else c.quantise.value,
        "seed": str(c.seed),
        "region": region,
        **({"second look": second_look_beside(helpers)} if helpers else {}),
    }


_STEERING = frozenset(
    {"avoid", "ignore", "avoid_others", "ignore_related", "balance_tags", "taggers", "lr"}
)
"""The settings (``RunConfig`` fields) that only steer the steps: which tags the taggers push
towards, away or leave alone, and how hard; a run without steps uses none of them."""


def idle_settings(config: RunConfig) -> frozenset[str]:
    """The settings of ``config`` (``RunConfig`` field names) that do not act on a run of it:
    the ``_STEERING`` ones when nothing is steered (0 steps), and the quantiser of any
    backend but Jukebox. A stem's metadata reads ``-`` for them (:func:`stem_provenance`)."""
    idle = frozenset() if config.steps > 0 else _STEERING
    return idle | ({"quantise"} if config.backend != "jukebox" else set())


def job_provenance(
    song_name: str, parts: Sequence[JobPart], result: JobResult,
    lrs: Mapping[str, float] | None = None,
) -> dict[str, dict[str, str]]:  # fmt: skip
    """What made each finished stem of a job (``core.separation.job``), by stem name: its run's
    lines (:func:`stem_provenance`, at the run's best step, made with the learning rate in
    ``lrs`` where it was changed during the job) and its second look."""
    notes = result.second_look_notes()
    lrs = lrs or {}
    made = {}
    for part in parts:
        run = result.results.get(part.name)
        if run is None:
            continue
        made[part.name] = stem_provenance(song_name, part.config, run.best_step, lrs.get(part.name),
                                          run.helpers, run.steps_done)  # fmt: skip
        if part.name in notes:
            made[part.name]["second look"] = notes[part.name]
    return made


def _avoided(config: RunConfig) -> str:
    """The tags a steered run pushed away: with wanted tags and ``avoid_others`` every tag not
    wanted or ignored (``core.separation.tags.resolve_targets``), else the words given."""
    if config.tags and config.avoid_others:
        return "every other tag"
    return ", ".join(config.avoid) or "-"


def _ignored(config: RunConfig) -> str:
    """The tags a steered run left out of its loss: with wanted tags and not ``avoid_others``
    every tag not wanted or avoided, else the words given and, where ``ignore_related``, the
    tags related to the wanted instruments."""
    if config.tags and not config.avoid_others:
        return "every other tag"
    related = config.ignore_related and config.tags
    words = (*config.ignore, *(["tags related to " + ", ".join(config.tags)] if related else []))
    return ", ".join(words) or "-"


def _query(config: RunConfig) -> str:
    """How the learned separator was asked: by an example clip, or by the tags' prototypes,
    fitted to the song where they were (``core.nets.fitting``); and whether steering steps
    then moved the query (the ``step`` line says which step the stem is of)."""
    if config.backend != "learned":
        return "-"
    steered = ", then steered by the taggers" if config.steps > 0 else ""
    if config.example is not None:
        return f"example: {config.example}{steered}"
    from tagbox_gui.core.separation.backends.learned import is_fitted  # loads torch

    fitted = ", fitted to the song" if is_fitted(config) else ""
    return f"prototype: {', '.join(config.tags)}{fitted}{steered}"
