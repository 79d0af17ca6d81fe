"""Immutable values exchanged between the engine and its drivers (CLI, GUI, tests).

Everything here is plain data: numpy arrays (copies, never tensors still used by the loop),
tuples and strings, so a value can cross threads safely.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from tagbox_gui.core.errors import ConfigError

ANALYSIS_RATE = 44_100
"""Sample rate of the analysis signal the optimisation works on."""

MAX_LR = 1000.0
"""The largest learning rate a run takes (far above any useful one; Adam's float32 step size
overflows near 1e38)."""


def check_lr(lr: float | None) -> None:
    """ConfigError unless ``lr`` is a learning rate a run takes: above 0, at most
    :data:`MAX_LR`."""
    if lr is None or not 0 < lr <= MAX_LR:
        raise ConfigError(f"the learning rate must be a positive number of at most {MAX_LR:g}")


class TagState(enum.Enum):
    """What the loss asks of one tag."""

    WANTED = "wanted"  # target probability 1
    AVOIDED = "avoided"  # target probability 0
    IGNORED = "ignored"  # left out of the loss


class Quantise(enum.Enum):
    """How the Jukebox latent is quantised during the optimisation."""

    FROZEN = "frozen"  # pretrained codebook, straight-through gradient
    NONE = "none"  # decode the continuous latent
    REFERENCE = "reference"  # published runner: codebook re-initialised from the song, EMA-updated


class Mode(enum.Enum):
    """What the run outputs."""

    MASK = "mask"  # the mixture masked by the decoded audio
    FREE = "free"  # the decoded audio itself (the paper's "style transfer")


@dataclass(frozen=True)
class TaggerSpec:
    """One tagger: an architecture trained on a dataset, e.g. ``fcn/mtat``."""

    arch: str
    dataset: str

    @classmethod
    def parse(cls, text: str) -> TaggerSpec:
        """Parse ``ARCH/DATASET`` (e.g. ``fcn/mtat``)."""
        from tagbox_gui.core.errors import ConfigError

        arch, sep, dataset = text.strip().lower().partition("/")
        if not sep or not arch or not dataset:
            raise ConfigError(f"tagger '{text}' is not of the form ARCH/DATASET, e.g. fcn/mtat")
        return cls(arch, dataset)

    def __str__(self) -> str:
        return f"{self.arch}/{self.dataset}"

    @property
    def key(self) -> str:
        """Name used in loss keys: ``<arch>_<dataset>``."""
        return f"{self.arch}_{self.dataset}"


@dataclass(frozen=True)
class Region:
    """A stretch of the song in seconds; ``end`` is exclusive."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Example:
    """A clip where the wanted instrument plays: a file, or (``path`` None) the song itself.

    ``start`` and ``end`` are seconds into that audio; None means its beginning / end.
    """

    path: str | None = None
    start: float | None = None
    end: float | None = None

    def __str__(self) -> str:
        where = self.path if self.path is not None else "the song"
        if self.start is None and self.end is None:
            return where
        return f"{self.start or 0:g}-{'end' if self.end is None else f'{self.end:g}'} s of {where}"


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one separation run.

    ``tags`` are the user's words (vocabulary names or instrument names); ``avoid`` and
    ``ignore`` override the default state of other tags, which is AVOIDED unless
    ``avoid_others`` is False (then IGNORED); ``ignore_related`` leaves the tags related to a
    wanted preset out of the loss; ``balance_tags`` gives the wanted and the avoided tags equal
    halves of the loss instead of one equal weight per tag (see ``core.separation.tags``).
    """

    tags: tuple[str, ...]
    avoid: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    avoid_others: bool = True
    ignore_related: bool = False
    balance_tags: bool = False
    taggers: tuple[TaggerSpec, ...] = (TaggerSpec("fcn", "mtat"),)
    fft_sizes: tuple[int, ...] = (2048, 1024, 512)
    steps: int = 100
    lr: float = 5.0  # at most MAX_LR
    quantise: Quantise = Quantise.FROZEN
    mode: Mode = Mode.MASK
    backend: str = "jukebox"
    seed: int = 0
    device: str = "auto"
    region: Region | None = None
    segment_seconds: float = 29.0
    preview_every: int = 5
    example: Example | None = None  # the learned backend's query by example (else by tags)
    fit_to_song: bool = True  # the learned backend's prototype is fitted to the song, if it can be


def config_record(config: RunConfig) -> dict[str, Any]:
    """Every field of ``config`` as JSON values: enums by value, taggers as ``arch/dataset``,
    tuples as lists and the region as ``[start, end]`` (None: the whole song)."""

    def plain(value: object) -> object:
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, TaggerSpec):
            return str(value)
        if isinstance(value, Region):
            return [value.start, value.end]
        if isinstance(value, Example):
            return {"path": value.path, "start": value.start, "end": value.end}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return {f.name: plain(getattr(config, f.name)) for f in fields(config)}


class CommandKind(enum.Enum):
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    SET_LR = "set_lr"
    PREVIEW = "preview"  # ask for a preview with the next step


@dataclass(frozen=True)
class Command:
    """Sent into the engine generator between steps. A SET_LR's ``value`` is checked as it
    is made (:func:`check_lr`): a bad one is refused to its sender, never met inside a run."""

    kind: CommandKind
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind is CommandKind.SET_LR:
            check_lr(self.value)


@dataclass(frozen=True)
class LookingAgain:
    """Yielded by a single run whose stem is about to be looked at again in the song without
    ``helpers`` (``core.separation.refine.looked_again``): no step, a stage of the run."""

    helpers: tuple[str, ...]


def is_stop(command: Command | None) -> bool:
    """Whether ``command`` is a STOP."""
    return command is not None and command.kind is CommandKind.STOP


def hold_while_paused(
    command: Command | None, heard: Callable[[Command | None], object] | None = None
) -> Generator[None, Command | None, Command | None]:
    """After a PAUSE, yield None until RESUME or STOP comes; the command to act on (a
    generator of the engine's protocol holds with ``yield from``). ``heard``, if given, is
    called with each command sent while it holds (e.g. a SET_LR to keep)."""
    paused = command is not None and command.kind is CommandKind.PAUSE
    while paused:
        command = yield None
        if heard is not None:
            heard(command)
        paused = command is None or command.kind not in (CommandKind.RESUME, CommandKind.STOP)
    return command


@dataclass(frozen=True)
class Estimate:
    """What a step says the wanted source is, in a form that can be carried onto the song.

    Mask mode: one soft mask per FFT size on the analysis STFT grid of the region (periodic
    sqrt-Hann window, hop ``n / hops_per_window``, centred frames), values in [0, 1]. The
    stems average the estimates of all FFT sizes (see ``core.audio.stems.render_stems``).
    Free mode: ``audio`` is the decoded signal itself and ``masks`` is empty.
    """

    start: int  # region start, in samples at ANALYSIS_RATE
    length: int  # region length, in samples at ANALYSIS_RATE
    masks: dict[int, np.ndarray] = field(default_factory=dict)  # fft -> (n/2+1, frames)
    audio: np.ndarray | None = None  # free mode: float32 (length,) at ANALYSIS_RATE
    hops_per_window: int = 2  # the masks' hop is n/2 (2) or n/4 (4, the learned backend's)
    query: np.ndarray | None = None
    """The learned separator's query (raw, float32 ``(dim,)``) that made the masks, so the stems
    of a job can be looked at again (``core.separation.refine``); None for other backends."""

    @property
    def nbytes(self) -> int:
        """Memory held by this estimate (for snapshot budgets)."""
        size = sum(m.nbytes for m in self.masks.values())
        return size + (self.audio.nbytes if self.audio is not None else 0)


@dataclass(frozen=True)
class Preview:
    """Heavy, occasional part of a step: audio, display image and the exportable estimate."""

    separated: np.ndarray  # float32 (n,), analysis rate, mono, region only
    mask_image: np.ndarray  # float32 (freq_bins, frames), values in [0, 1], downsampled
    estimate: Estimate


@dataclass(frozen=True)
class StepResult:
    """One optimisation step."""

    step: int  # 1-based
    total: float
    losses: dict[str, float]  # "<arch>_<dataset>_<fft>" -> loss
    grad_norm: float
    wanted_separated: dict[str, float]  # wanted tag -> probability on the separated estimate
    wanted_residual: dict[str, float]  # ... on the residual (empty if not measured)
    seconds: float  # wall time of this step
    lr: float
    preview: Preview | None = None


@dataclass(frozen=True)
class RunResult:
    """What a finished (or stopped) run returns: the masks of its best step."""

    best_step: int
    best_total: float
    steps_done: int
    stopped: bool
    estimate: Estimate | None = None  # of the best step
    separated: np.ndarray | None = None  # analysis-rate mono estimate of the best step
    # the helper instruments its stem was looked at again beside (core.separation.refine)
    helpers: tuple[str, ...] = ()
    second_look_failed: str = ""  # why the second look failed; the estimate is the first look
    # the step that ended the run early (0: none), and what it did: "ran out of memory", or
    # "had a loss that is not a finite number"; the estimate is the best step before it
    cut_short_at: int = 0
    cut_short_by: str = ""
    # a run of 0 steps: the engine's time for its pass, without loading its models before it
    # or the time it was held paused between segments (a steered run's steps carry theirs)
    pass_seconds: float = 0.0


@dataclass(frozen=True)
class JobPart:
    """One stem of a job: its name (``drums``, or the name given to an example) and its run."""

    name: str
    config: RunConfig

    @property
    def units(self) -> int:
        """Its share of the job's progress: its steps, or one for a single pass."""
        return max(1, self.config.steps)
