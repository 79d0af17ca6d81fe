"""One run as the window sees it (no Qt): its song and config, kept previews, best result.

Audition material is the run's region of the analysis signal (mono, 44.1 kHz), which is what
the taggers hear; the engine works on that signal divided by its peak, so its previews are
scaled back by the same peak here, and the residual is the region minus the separated preview.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tagbox_gui.core.audio.estimates import for_each, quiet_groups, run_level
from tagbox_gui.core.audio.song import ExampleError, Song, analysis_signal
from tagbox_gui.core.dsp.display import mask_image
from tagbox_gui.core.errors import ConfigError, listed
from tagbox_gui.core.separation.provenance import stem_provenance
from tagbox_gui.core.separation.snapshots import Snapshot, SnapshotStore
from tagbox_gui.core.types import ANALYSIS_RATE, Estimate, JobPart, Region, RunConfig, RunResult


@dataclass
class RunSession:
    """Everything about the current (or last) run that the window needs after it ends."""

    song: Song
    config: RunConfig
    stem_tags: tuple[str, ...]
    snapshots: SnapshotStore
    result: RunResult | None = None
    latest: int = 0
    started: float = field(default_factory=time.time)
    lr_changes: list[tuple[int, float]] = field(default_factory=list)  # (first step, lr)
    # each step's wanted tags, as sure as the taggers are of them: (separated, residual)
    tag_values: dict[int, tuple[dict[str, float], dict[str, float]]] = field(default_factory=dict)
    _mix: np.ndarray | None = None
    _scale: float = 1.0
    _best: tuple[RunResult, Snapshot] | None = None  # best() of the result it was made for

    def prepare(self) -> None:
        """Make the song's analysis signal if no one has (in the worker thread, before the
        engine): the window's thread then finds it made."""
        analysis_signal(self.song)

    def note_lr(self, step: int, lr: float) -> None:
        """Record the learning rate of ``step`` (it can change during a run)."""
        if (self.lr_changes[-1][1] if self.lr_changes else self.config.lr) != lr:
            self.lr_changes.append((step, lr))

    def lr_at(self, step: int) -> float:
        """The learning rate that made ``step``."""
        return next(
            (lr for first, lr in reversed(self.lr_changes) if first <= step), self.config.lr
        )

    def mix(self, estimate: Estimate) -> np.ndarray:
        """The region of the analysis signal this estimate covers (computed once)."""
        if self._mix is None or len(self._mix) != estimate.length:
            mix = analysis_signal(self.song)[estimate.start : estimate.start + estimate.length]
            self._mix = np.ascontiguousarray(mix, dtype=np.float32)
            peak = float(np.max(np.abs(self._mix))) if len(self._mix) else 0.0
            self._scale = peak or 1.0
        return self._mix

    def sources(self, snapshot: Snapshot) -> dict[str, np.ndarray]:
        """Mix, separated and residual of a snapshot, at the song's level."""
        mix = self.mix(snapshot.estimate)
        separated = np.zeros_like(mix)
        n = min(len(mix), len(snapshot.separated))
        separated[:n] = snapshot.separated[:n] * self._scale
        return {"mix": mix, "separated": separated, "residual": mix - separated}

    def best(self) -> Snapshot | None:
        """The best step of the finished run, as a snapshot (its mask image made once)."""
        result = self.result
        if result is None or result.estimate is None or result.separated is None:
            return None
        if self._best is None or self._best[0] is not result:
            image = mask_image(result.estimate)
            self._best = (
                result,
                Snapshot(result.best_step, result.separated, image, result.estimate),
            )
        return self._best[1]

    def snapshot(self, step: int) -> Snapshot | None:
        """The kept snapshot of ``step`` (or the best step's result: its mask image is made
        only for it)."""
        result = self.result
        best = self.best() if result is not None and step == result.best_step else None
        return best if best is not None else self.snapshots.get(step)

    def level(self) -> float | None:
        """The best step's separated stem against the song's region, in dB (None before any)."""
        return None if self.result is None else run_level(analysis_signal(self.song), self.result)

    def provenance(self, step: int) -> dict[str, str]:
        """What made the stems of ``step``: written into the files' metadata."""
        result = self.result
        helpers = result.helpers if result is not None and step == result.best_step else ()
        return stem_provenance(self.song.path.name, self.config, step, self.lr_at(step), helpers,
                               self.steps_made)  # fmt: skip

    @property
    def steps_made(self) -> int | None:
        """The steps the run made, once it has ended (None while it goes on)."""
        return None if self.result is None else self.result.steps_done


CLEARER_EXAMPLE = "Choose an example where it plays more clearly, ideally alone."


def quiet_sentence(levels: Mapping[str, float], how: str, examples: Collection[str] = ()) -> str:
    """What an end-of-run message adds when stems of the learned separator are very quiet
    (``core.audio.estimates.quiet_groups``): which, and ``how`` (worded for one) to ask for each
    by an example, or, for those asked for by an example already (``examples``), to choose a
    clearer one; '' when none is."""
    text = ""
    for quiet, by_example, count in quiet_groups(levels, examples):
        advice = CLEARER_EXAMPLE if by_example else how
        text += f" {quiet[0].upper()}{quiet[1:]}. {for_each(advice, count)}"
    return text


class RegionExample(JobPart):
    """The stem "Use the region as the example" asks for (``RunRequest.parts``), named
    :data:`REGION_EXAMPLE`: told apart by its kind from a picked example given that name."""


REGION_EXAMPLE = "example"
"""The name of a :class:`RegionExample` stem."""


def whose_example(error: BaseException, parts: Sequence[JobPart]) -> BaseException:
    """``error``, or where it refuses an example clip (``core.audio.song.ExampleError``), the
    same refusal as the window words it: the example of which stem of ``parts`` (those the run
    or job was started with) it is (a job asks for several, each by its own), at the stretch
    of the song the picker shows; as it is where no stem of ``parts`` asked for that
    example."""
    if not isinstance(error, ExampleError):
        return error
    example = error.example
    asked = [part for part in parts if part.config.example == example]
    if not asked:
        return error
    whose = ("the region used as the example"
             if all(isinstance(part, RegionExample) for part in asked)
             else f"the example of {listed([part.name for part in asked])}")  # fmt: skip
    return ConfigError(f"{whose}, {example.start:.1f}–{example.end:.1f} s of the song, "
                       f"{error.problem}")  # fmt: skip


def estimate_region(estimate: Estimate) -> Region:
    """The region an estimate covers, in seconds of the song."""
    start = estimate.start / ANALYSIS_RATE
    return Region(start, start + estimate.length / ANALYSIS_RATE)
