"""The optimisation loop, as a generator the CLI, the GUI and the tests drive alike.

``run(config, song, store)`` yields one :class:`StepResult` after every optimisation step and
returns the :class:`RunResult` of the best step. Between steps the driver may ``send`` a
:class:`Command`: PAUSE (the generator then yields ``None`` until RESUME or STOP), STOP (ends
the run with the best result so far), SET_LR, PREVIEW (a preview with the next step). A
step that runs out of memory, or whose loss or gradient is not a finite number (a learning rate
raised too far), ends the run with the best step before it (``RunResult.cut_short_at``); any
other error, or one at the first step, fails the run.
A run of 0 steps (one pass of the learned separator) yields ``None`` between the segments of
its pass (``segments.pause_or_stop``): a PAUSE holds it there, and a STOP ends it with nothing
separated, as a run stopped before its first step.
A run wrapped for a second look (``core.separation.refine.looked_again``) also yields a
:class:`LookingAgain` when its stem is looked at again, and ``None`` after each segment of
the look, where a PAUSE holds it too. Closing the generator stops it cleanly. Nothing here
touches Qt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

import numpy as np
import torch

from tagbox_gui.core.audio.song import Song, analysis_signal, example_clip
from tagbox_gui.core.dsp.display import mask_image
from tagbox_gui.core.errors import AudioError, ConfigError, is_out_of_memory
from tagbox_gui.core.separation.backends.base import Backend
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.loading import (
    build_criteria,
    create_backend_factory,
    hops_per_window,
)
from tagbox_gui.core.separation.objective import Criterion, Evaluation, Objective
from tagbox_gui.core.separation.segments import (
    AudioStitch,
    FrameStitch,
    PassStopped,
    Segment,
    pause_or_stop,
    plan_segments,
)
from tagbox_gui.core.separation.validation import nothing_heard, validate
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import (
    ANALYSIS_RATE,
    Command,
    CommandKind,
    Estimate,
    LookingAgain,
    Mode,
    Preview,
    RunConfig,
    RunResult,
    StepResult,
    check_lr,
)

SEGMENT_OVERLAP_SECONDS = 1.0

RunGenerator = Generator[StepResult | LookingAgain | None, Command | None, RunResult]
T = TypeVar("T")

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; a named device must be present."""
    if name == "auto":
        return torch.device(available_devices()[0])
    if name not in available_devices():
        raise ConfigError(f"device '{name}' is not available here; use one of: "
                          f"{', '.join(available_devices())}")  # fmt: skip
    return torch.device(name)


def available_devices() -> list[str]:
    """Devices present on this machine, best first."""
    devices = []
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    return [*devices, "cpu"]


def run_segments(
    length: int, fft_sizes: Sequence[int], hops_per_window: int, segment_seconds: float
) -> list[Segment]:
    """The segments a region of ``length`` samples is separated in: about ``segment_seconds``
    long, overlapping by :data:`SEGMENT_OVERLAP_SECONDS`, starting on every FFT size's hop."""
    align = int(np.lcm.reduce([n // hops_per_window for n in fft_sizes]))
    segment = round(segment_seconds * ANALYSIS_RATE)
    overlap = round(SEGMENT_OVERLAP_SECONDS * ANALYSIS_RATE)
    return plan_segments(length, segment, overlap, align)


def run(
    config: RunConfig,
    song: Song,
    store: ModelStore,
    cache: ModelCache | None = None,
    measure_residual: bool = True,
) -> RunGenerator:
    """Separate ``config.tags`` out of ``song``; see the module docstring for the protocol.

    ``measure_residual=False`` leaves each step's ``wanted_residual`` empty, for a driver that
    shows no meters: it saves the residual's tagger pass (a sixth to a third of a light step).
    Everything that can fail on bad input (settings, tags, model files, a silent region)
    fails here, before the generator is returned; the models are loaded and the latents of a
    steered run initialised in the calling thread (a run of 0 steps analyses each segment as
    its pass comes to it).
    """
    start, length = validate(config, song)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    cache = cache or ModelCache()
    example = example_clip(config.example, song) if config.example is not None else None
    mix = analysis_signal(song)[start : start + length]
    peak = float(np.max(np.abs(mix))) if len(mix) else 0.0
    if peak == 0.0:
        raise AudioError(nothing_heard(song, config.region))
    mix = mix / peak
    factory = create_backend_factory(config, store, device, cache, example, mix)
    # Without steps nothing is steered, so no tagger is needed (nor downloaded).
    criteria = build_criteria(config, store, device, cache, example) if config.steps else []
    loop = Optimisation(config, mix, criteria, factory, device, measure_residual)
    return _with_grad(loop.drive(start))


def run_to_end(
    steps: Generator[StepResult | LookingAgain | None, Command | None, T],
    on_step: Callable[[StepResult], None] | None = None,
    on_looking_again: Callable[[LookingAgain], None] | None = None,
) -> T:
    """Drive a run (or a pass of its second look, ``core.separation.refine.Look``) with no
    commands until it ends; ``on_step`` sees every step and ``on_looking_again`` the start of
    a second look. Closes it."""
    try:
        while True:
            event = next(steps)
            if isinstance(event, LookingAgain):
                if on_looking_again is not None:
                    on_looking_again(event)
            elif event is not None and on_step is not None:
                on_step(event)
    except StopIteration as done:
        return done.value
    finally:
        steps.close()


def _with_grad(steps: RunGenerator) -> RunGenerator:
    """Run ``steps`` with autograd on: grad mode is thread-local, so set it where it runs."""
    with torch.enable_grad():
        return (yield from steps)


class Optimisation:
    """State of one run: a latent per segment and one Adam optimiser over all of them (a run of
    0 steps has neither: it makes and separates one segment at a time)."""

    def __init__(
        self,
        config: RunConfig,
        mix: np.ndarray,
        criteria: list[Criterion],
        factory: Callable[[], Backend],
        device: torch.device,
        measure_residual: bool = True,
    ) -> None:
        self.config = config
        self.measure_residual = measure_residual
        self.length = len(mix)
        self.hops_per_window = hops_per_window(config.backend)
        self.segments = run_segments(
            self.length, config.fft_sizes, self.hops_per_window, config.segment_seconds
        )
        self._mix, self._criteria, self._factory, self._device = mix, criteria, factory, device
        self.parts: list[tuple[Backend, Objective, torch.Tensor]] = []
        if config.steps:
            self.parts = [self._part(index) for index in range(len(self.segments))]
        else:  # each segment's part is made as the pass comes to it, and let go (_one_pass):
            backend = factory()  # every segment's analysis at once is large for a long song
            if not backend.one_pass:
                raise ConfigError(f"the {backend.name} backend separates by optimising: give "
                                  "it at least one step")  # fmt: skip
        # A one-pass run needs no optimiser (creating one imports torch's compiler: seconds).
        latents = [p[2] for p in self.parts]
        self.optimizer: torch.optim.Optimizer | None = (
            torch.optim.Adam(latents, lr=config.lr) if config.steps else None
        )
        # The query the last evaluations were made with: the step's update moves the latents
        # on, but that step's loss and masks (and so its estimate) are those of this query.
        self._evaluated_query: np.ndarray | None = None

    def _part(self, index: int) -> tuple[Backend, Objective, torch.Tensor]:
        """Segment ``index``'s backend (it analyses the segment), objective and latent."""
        seg = self.segments[index]
        seg_mix = torch.from_numpy(np.ascontiguousarray(self._mix[seg.start : seg.end]))
        seg_mix = seg_mix.to(device=self._device, dtype=torch.float32).reshape(1, -1)
        backend = self._factory()
        latent = backend.init_latent(seg_mix, self.config.seed + index)
        objective = Objective(
            seg_mix, self.config.fft_sizes, self._criteria, self.config.mode, self.hops_per_window
        )
        return backend, objective, latent

    def step(self, number: int = 0) -> tuple[list[Evaluation], float]:
        """One Adam step over every segment; the evaluations before it and the grad norm.

        A loss or gradient that is not finite (NaN or infinite) raises :class:`NotFinite` naming
        step ``number``, before the update: Adam would carry it into every latent, and the next
        step would fail inside the taggers' loss with a message that says nothing of why.
        """
        if self.optimizer is None:
            raise RuntimeError("a run of 0 steps takes no optimisation step")
        self.optimizer.zero_grad(set_to_none=True)
        evaluations = []
        for backend, objective, latent in self.parts:
            evaluation = objective.evaluate(backend, latent)
            (evaluation.total / len(self.parts)).backward()
            evaluations.append(_detach(evaluation))
        grads = [p[2].grad for p in self.parts if p[2].grad is not None]
        grad_norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
        totals = [float(e.total) for e in evaluations]
        if not all(np.isfinite([*totals, grad_norm])):
            raise NotFinite(number, "loss" if not all(np.isfinite(totals)) else "gradient")
        self._evaluated_query = self._query()
        self.optimizer.step()
        for backend, _, latent in self.parts:
            backend.constrain(latent)
        return evaluations, grad_norm

    def set_lr(self, lr: float) -> None:
        check_lr(lr)
        for group in self.optimizer.param_groups if self.optimizer else ():
            group["lr"] = lr

    def drive(self, region_start: int) -> RunGenerator:
        """The generator protocol of :func:`run` around :meth:`step`."""
        if self.config.steps == 0:
            return (yield from self._one_pass(region_start))
        best: tuple[float, int, Estimate, np.ndarray] | None = None
        want_preview, step = False, 0
        for step in range(1, self.config.steps + 1):
            began = time.perf_counter()
            try:
                evaluations, grad_norm = self.step(step)
            except Exception as exc:  # out of memory, or not finite: keep the best step so far
                why = _cut_short_by(exc)
                if best is None or not why:
                    raise
                log.info("step %d %s; the best step before it is kept", step, why, exc_info=exc)
                return _finish(best, step - 1, stopped=False, cut_short=(step, why))
            total = float(np.mean([float(e.total) for e in evaluations]))
            new_best = best is None or total < best[0]
            every = self.config.preview_every
            show = want_preview or step in (1, self.config.steps) or step % every == 0
            if new_best or show:
                estimate, separated = self._estimate(evaluations, region_start)
                if new_best:
                    best = (total, step, estimate, separated)
            preview = Preview(separated, mask_image(estimate), estimate) if show else None
            command = yield self._result(step, total, evaluations, grad_norm, began, preview)
            want_preview, paused = False, False
            while command is not None or paused:
                if command is None:
                    command = yield None
                    continue
                if command.kind is CommandKind.STOP:
                    return _finish(best, step, stopped=True)
                if command.kind is CommandKind.SET_LR:
                    self.set_lr(float(command.value or 0.0))
                want_preview |= command.kind is CommandKind.PREVIEW
                if command.kind in (CommandKind.PAUSE, CommandKind.RESUME):
                    paused = command.kind is CommandKind.PAUSE
                command = (yield None) if paused else None
        return _finish(best, step, stopped=False)

    def _one_pass(self, region_start: int) -> RunGenerator:
        """A run of 0 steps: the backend's first latent, separated once, is the result. Between
        segments it may pause or stop (a STOP there leaves nothing separated); not after the
        last, so a STOP that comes during the last segment keeps the whole pass. Its
        ``pass_seconds`` leave out the time held there."""
        began, held = time.perf_counter(), 0.0
        stitched = _Stitched(self)  # each segment as it comes: a long song's masks are large
        queries: list[torch.Tensor | None] = []
        try:
            for index, seg in enumerate(self.segments):
                if index:
                    holding = time.perf_counter()
                    yield from pause_or_stop()
                    held += time.perf_counter() - holding
                backend, objective, latent = self._part(index)
                stitched.add(seg, objective.separate(backend, latent))
                queries.append(backend.query(latent))
        except PassStopped:
            return _finish(None, 0, stopped=True)
        self._evaluated_query = _mean_query(queries)
        estimate, separated = stitched.result(region_start, self._evaluated_query)
        seconds = time.perf_counter() - began - held
        return RunResult(0, float("nan"), 0, False, estimate=estimate, separated=separated,
                         pass_seconds=seconds)  # fmt: skip

    def _result(
        self,
        step: int,
        total: float,
        evaluations: list[Evaluation],
        grad_norm: float,
        began: float,
        preview: Preview | None,
    ) -> StepResult:
        losses = {
            key: float(np.mean([float(e.losses[key]) for e in evaluations]))
            for key in evaluations[0].losses
        }
        sep, res = self._meters(evaluations)
        return StepResult(
            step=step,
            total=total,
            losses=losses,
            grad_norm=grad_norm,
            wanted_separated=sep,
            wanted_residual=res,
            seconds=time.perf_counter() - began,
            lr=self.optimizer.param_groups[0]["lr"] if self.optimizer else self.config.lr,
            preview=preview,
        )

    def _meters(self, evaluations: list[Evaluation]) -> tuple[dict, dict]:
        """Wanted-tag probabilities on separated / residual, averaged over segments."""
        seps, ress = [], []
        for (_, objective, _), evaluation in zip(self.parts, evaluations, strict=True):
            sep, res = objective.wanted_probabilities(evaluation, self.measure_residual)
            seps.append(sep)
            ress.append(res)
        mean = lambda ds: {k: float(np.mean([d[k] for d in ds])) for k in ds[0]}  # noqa: E731
        return mean(seps), mean(ress)

    def _estimate(
        self, evaluations: list[Evaluation], region_start: int
    ) -> tuple[Estimate, np.ndarray]:
        """The exportable estimate and the separated preview audio, stitched over segments,
        with the query the evaluations were made with (before the step's update)."""
        stitched = _Stitched(self)
        for seg, evaluation in zip(self.segments, evaluations, strict=True):
            stitched.add(seg, evaluation)
        return stitched.result(region_start, self._evaluated_query)

    def _query(self) -> np.ndarray | None:
        """The backend's query at the current latents (their mean over segments), or None."""
        return _mean_query([backend.query(latent) for backend, _, latent in self.parts])


def _mean_query(queries: list[torch.Tensor | None]) -> np.ndarray | None:
    """The mean of the segments' queries ``[1, dim]``, or None where the backend has none."""
    if any(q is None for q in queries):
        return None
    mean = torch.stack([q.detach()[0] for q in queries]).mean(dim=0)  # type: ignore[union-attr]
    return mean.cpu().numpy().astype(np.float32)


class _Stitched:
    """A run's estimate and separated audio, crossfaded over its segments as each segment's
    evaluation comes (:meth:`add`), so that no evaluation need be kept for it."""

    def __init__(self, run: Optimisation) -> None:
        self.length, self.mode, self.hops = run.length, run.config.mode, run.hops_per_window
        self.audio = AudioStitch(run.length)
        hop = {n: n // run.hops_per_window for n in run.config.fft_sizes}
        self.masks = {} if self.mode is Mode.FREE else {
            n: FrameStitch(run.segments, hop[n], 1 + run.length // hop[n]) for n in hop
        }  # fmt: skip

    def add(self, seg: Segment, evaluation: Evaluation) -> None:
        """Crossfade ``seg``'s separated audio and masks in."""
        self.audio.add(seg, evaluation.separated.cpu().numpy())
        for n, masks in self.masks.items():
            masks.add(seg, evaluation.masks[n].cpu().numpy())

    def result(self, region_start: int, query: np.ndarray | None) -> tuple[Estimate, np.ndarray]:
        """The estimate (masks made with ``query``, or the audio in free mode) and the
        separated audio."""
        separated = self.audio.result()
        if self.mode is Mode.FREE:
            return Estimate(region_start, self.length, audio=separated), separated
        masks = {n: stitch.result() for n, stitch in self.masks.items()}
        estimate = Estimate(region_start, self.length, masks, hops_per_window=self.hops,
                            query=query)  # fmt: skip
        return estimate, separated


def _detach(evaluation: Evaluation) -> Evaluation:
    return Evaluation(
        total=evaluation.total.detach(),
        losses={k: v.detach() for k, v in evaluation.losses.items()},
        masks={n: m.detach() for n, m in evaluation.masks.items()},
        separated=evaluation.separated.detach(),
        probs=evaluation.probs,
    )


def _finish(
    best, steps_done: int, stopped: bool, cut_short: tuple[int, str] = (0, "")
) -> RunResult:
    if best is None:
        return RunResult(best_step=0, best_total=float("nan"), steps_done=0, stopped=stopped)
    total, step, estimate, separated = best
    return RunResult(step, total, steps_done, stopped, estimate=estimate, separated=separated,
                     cut_short_at=cut_short[0], cut_short_by=cut_short[1])  # fmt: skip


class NotFinite(ConfigError):
    """A step's loss or gradient (``what``) is not a finite number: the separation cannot go
    on from it."""

    def __init__(self, step: int, what: str) -> None:
        self.step, self.what = step, what
        whose = "loss" if what == "loss" else "loss's gradient"
        # step 1 is the starting point's: no learning rate has moved anything yet
        lr = "a smaller learning rate, or " if step > 1 else ""
        super().__init__(f"the {whose} of step {step} is not a finite number, so the "
                         f"separation cannot go on; try {lr}a region without digital "
                         "silence")  # fmt: skip

    def __reduce__(self) -> tuple[type[NotFinite], tuple[int, str]]:
        # made again from what it was made of: an evaluation worker process hands it back
        return type(self), (self.step, self.what)


def _cut_short_by(error: Exception) -> str:
    """What a step did that ends the run with the best step before it ("ran out of memory"),
    or "" for an error that fails the run."""
    if is_out_of_memory(error):
        return "ran out of memory"
    if isinstance(error, NotFinite):
        return f"had a {error.what} that is not a finite number"
    return ""
