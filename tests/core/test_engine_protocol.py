"""The engine's generator protocol, with a tiny differentiable backend and tagger."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.separation.backends.base import Backend
from tagbox_gui.core.separation.engine import NotFinite, Optimisation
from tagbox_gui.core.separation.objective import Criterion
from tagbox_gui.core.separation.tags import resolve_targets
from tagbox_gui.core.types import (
    ANALYSIS_RATE,
    MAX_LR,
    Command,
    CommandKind,
    Mode,
    RunConfig,
    TaggerSpec,
)

VOCAB = ("low", "high")


class ToyTagger(nn.Module):
    """'Hears' low and high frequencies: sigmoid of log band energies."""

    spec = TaggerSpec("toy", "test")
    vocabulary = VOCAB

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        spec = torch.fft.rfft(x, dim=-1).abs() ** 2
        half = spec.shape[-1] // 8
        low = spec[..., :half].mean(-1).add(1e-9).log10()
        high = spec[..., half:].mean(-1).add(1e-9).log10()
        return torch.sigmoid(torch.stack([low, high], dim=-1) + 2.0)


class GainBackend(Backend):
    """Latent = one gain per frequency bin, shared by all FFT sizes (resampled)."""

    name = "toy"

    def init_latent(self, mix: torch.Tensor, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return (0.1 * torch.randn(64, generator=g)).requires_grad_()

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def masks(self, latent, mix_stfts):
        out = {}
        for n, spec in mix_stfts.items():
            gains = torch.sigmoid(latent)[None, None, :]
            rows = nn.functional.interpolate(gains, size=spec.shape[-2], mode="linear")[0, 0]
            out[n] = rows[:, None].expand(spec.shape[-2:]).unsqueeze(0)
        return out


def _mix(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * ANALYSIS_RATE)) / ANALYSIS_RATE
    return (0.5 * np.sin(2 * np.pi * 200 * t) + 0.5 * np.sin(2 * np.pi * 9000 * t)).astype(
        np.float32
    )


def _optimisation(
    seconds=1.0, steps=5, segment_seconds=29.0, mode=Mode.MASK, seed=0, measure_residual=True
):
    config = RunConfig(tags=("low",), taggers=(ToyTagger.spec,), fft_sizes=(512, 256),
                       steps=steps, lr=0.3, segment_seconds=segment_seconds, mode=mode,
                       preview_every=2, seed=seed)  # fmt: skip
    torch.manual_seed(seed)
    targets = resolve_targets("test", VOCAB, ("low",))
    criteria = [Criterion.build(ToyTagger(), targets, torch.device("cpu"))]
    return Optimisation(
        config, _mix(seconds), criteria, GainBackend, torch.device("cpu"), measure_residual
    )


def _drain(gen):
    results = []
    try:
        while True:
            results.append(next(gen))
    except StopIteration as done:
        return results, done.value


def test_runs_all_steps_and_lowers_the_loss():
    steps, result = _drain(_optimisation(steps=8).drive(0))
    assert [s.step for s in steps] == list(range(1, 9))
    assert steps[-1].total < steps[0].total
    assert set(steps[0].losses) == {"toy_test_512", "toy_test_256"}
    assert steps[-1].wanted_separated["low"] > steps[-1].wanted_residual["low"]
    assert result.best_step == int(np.argmin([s.total for s in steps])) + 1
    assert not result.stopped and result.steps_done == 8
    assert set(result.estimate.masks) == {512, 256}
    assert result.estimate.masks[512].shape == (257, 1 + ANALYSIS_RATE // 256)


def test_a_run_that_does_not_measure_the_residual_makes_the_same_estimate_with_fewer_passes():
    measured, unmeasured = _optimisation(steps=6), _optimisation(steps=6, measure_residual=False)
    steps_m, result_m = _drain(measured.drive(0))
    steps_u, result_u = _drain(unmeasured.drive(0))
    assert all(s.wanted_residual == {} for s in steps_u)
    assert all(s.wanted_residual.keys() == {"low"} for s in steps_m)
    assert [s.wanted_separated for s in steps_u] == [s.wanted_separated for s in steps_m]
    assert [s.total for s in steps_u] == [s.total for s in steps_m]
    for n in (512, 256):
        np.testing.assert_array_equal(result_u.estimate.masks[n], result_m.estimate.masks[n])
    calls = [o.parts[0][1].criteria[0].tagger.calls for o in (measured, unmeasured)]
    assert calls == [12, 6]  # one pass per step for the loss, one more for the residual


def test_previews_on_first_every_k_and_last_step():
    steps, _ = _drain(_optimisation(steps=5).drive(0))
    assert [s.step for s in steps if s.preview is not None] == [1, 2, 4, 5]
    preview = steps[0].preview
    assert preview.separated.shape == (ANALYSIS_RATE,)
    assert preview.mask_image.min() >= 0 and preview.mask_image.max() <= 1


class NanGradientBackend(GainBackend):
    """Finite masks whose gradient is NaN (0 * the infinite slope of sqrt at 0), as a ratio
    of two vanishing magnitudes can give."""

    def masks(self, latent, mix_stfts):
        bad = 0 * torch.sqrt(latent - latent.detach()).sum()
        return {n: mask + bad for n, mask in super().masks(latent, mix_stfts).items()}


def test_a_step_with_a_non_finite_gradient_ends_the_run_with_a_clear_error():
    opt = _optimisation(steps=5, measure_residual=False)
    opt.parts = [(NanGradientBackend(), objective, latent) for _, objective, latent in opt.parts]
    kept = [latent.detach().clone() for _, _, latent in opt.parts]
    gen = opt.drive(0)
    with pytest.raises(ConfigError, match=r"gradient of step 1 is not a finite number"):
        next(gen)
    for (_, _, latent), before in zip(opt.parts, kept, strict=True):  # not updated with NaN
        torch.testing.assert_close(latent.detach(), before)


def test_stop_returns_the_best_so_far():
    gen = _optimisation(steps=50).drive(0)
    first, second = next(gen), next(gen)
    with pytest.raises(StopIteration) as done:
        gen.send(Command(CommandKind.STOP))
    result = done.value.value
    assert result.stopped and result.steps_done == 2
    assert result.best_total == min(first.total, second.total)


def test_pause_yields_nothing_until_resume_and_lr_changes():
    gen = _optimisation(steps=4).drive(0)
    assert next(gen).step == 1
    assert gen.send(Command(CommandKind.PAUSE)) is None
    assert next(gen) is None and next(gen) is None  # still paused
    assert gen.send(Command(CommandKind.SET_LR, 0.01)) is None  # applies while paused
    step = gen.send(Command(CommandKind.RESUME))
    assert step.step == 2 and step.lr == pytest.approx(0.01)


BAD_LRS = (0.0, -1.0, float("nan"), float("inf"), 1001.0, None)


def test_a_learning_rate_out_of_range_is_refused_where_it_is_sent_and_the_run_goes_on():
    gen = _optimisation(steps=3).drive(0)
    first = next(gen)
    for lr in BAD_LRS:  # refused to the sender: the run never sees it, its best step is kept
        with pytest.raises(ConfigError, match="learning rate must be a positive number"):
            gen.send(Command(CommandKind.SET_LR, lr))
    assert next(gen).step == 2 and next(gen).lr == pytest.approx(first.lr)
    with pytest.raises(StopIteration) as done:
        next(gen)
    assert not done.value.value.stopped and done.value.value.steps_done == 3


def test_preview_on_request():
    opt = _optimisation(steps=10)
    opt.config = replace(opt.config, preview_every=100)
    gen = opt.drive(0)
    assert next(gen).preview is not None  # the first step always has one
    assert next(gen).preview is None
    assert gen.send(Command(CommandKind.PREVIEW)).preview is not None  # send runs step 3
    assert next(gen).preview is None


def test_deterministic_for_a_seed():
    a, _ = _drain(_optimisation(steps=3, seed=4).drive(0))
    b, _ = _drain(_optimisation(steps=3, seed=4).drive(0))
    assert [s.total for s in a] == [s.total for s in b]


def test_long_region_runs_in_segments_with_full_length_outputs():
    opt = _optimisation(seconds=3.0, steps=2, segment_seconds=1.2)
    assert len(opt.segments) >= 3
    steps, result = _drain(opt.drive(1000))
    assert steps[0].preview.separated.shape == (3 * ANALYSIS_RATE,)
    assert result.estimate.start == 1000 and result.estimate.length == 3 * ANALYSIS_RATE
    assert result.estimate.masks[256].shape[1] == 1 + 3 * ANALYSIS_RATE // 128


def test_close_stops_cleanly():
    gen = _optimisation(steps=10).drive(0)
    next(gen)
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)


def test_run_to_end_passes_every_step_returns_the_result_and_closes_the_run() -> None:
    from tagbox_gui.core.separation.engine import run_to_end

    closed: list[bool] = []

    def steps():
        try:
            yield "step 1"
            yield None  # paused: not a step
            yield "step 2"
            return "result"
        finally:
            closed.append(True)

    seen: list[str] = []
    assert run_to_end(steps(), seen.append) == "result"
    assert seen == ["step 1", "step 2"] and closed == [True]

    def failing(step: str) -> None:
        raise KeyboardInterrupt

    closed.clear()
    with pytest.raises(KeyboardInterrupt):
        run_to_end(steps(), failing)
    assert closed == [True]  # an interrupted run is closed, not left suspended


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (MemoryError(), "ran out of memory"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "ran out of memory"),
        (NotFinite(5, "loss"), "had a loss that is not a finite number"),
        (NotFinite(5, "gradient"), "had a gradient that is not a finite number"),
    ],
)
def test_a_step_out_of_memory_or_not_finite_ends_the_run_with_the_best_step_before_it(
    error, why
) -> None:
    """Out of memory midway through a long steered run, or a loss that is no longer a number (a
    learning rate raised too far during the run): its best step so far is kept."""
    loop = _optimisation(steps=8)
    step = loop.step

    def cut_short(number: int):
        if number == 5:
            raise error
        return step(number)

    loop.step = cut_short
    steps, result = _drain(loop.drive(0))
    assert [s.step for s in steps] == [1, 2, 3, 4]
    assert (result.cut_short_at, result.cut_short_by) == (5, why)
    assert result.steps_done == 4 and not result.stopped
    assert result.best_step == int(np.argmin([s.total for s in steps])) + 1
    assert result.estimate is not None


def test_a_gradient_that_turns_nan_mid_run_keeps_the_best_step_before_it() -> None:
    opt = _optimisation(steps=6, measure_residual=False)
    gen = opt.drive(0)
    steps = [next(gen), next(gen)]
    opt.parts = [(NanGradientBackend(), objective, latent) for _, objective, latent in opt.parts]
    with pytest.raises(StopIteration) as done:
        next(gen)
    result = done.value.value
    assert (result.cut_short_at, result.steps_done) == (3, 2)
    assert result.cut_short_by == "had a gradient that is not a finite number"
    assert result.best_total == min(s.total for s in steps) and result.estimate is not None


@pytest.mark.parametrize(("failing", "error"), [(1, MemoryError()), (3, ValueError("a bug"))])
def test_other_failures_and_a_first_step_out_of_memory_still_fail_the_run(failing, error):
    """Nothing to keep before the first step; and any other error is a bug, not a limit."""
    loop = _optimisation(steps=5)
    step = loop.step

    def fails(number: int):
        if number == failing:
            raise error
        return step(number)

    loop.step = fails
    with pytest.raises(type(error)):
        _drain(loop.drive(0))


@pytest.mark.parametrize("lr", [0.0, float("nan"), MAX_LR * 2, 1e39])
def test_a_learning_rate_sent_mid_run_is_refused_outside_the_runs_range(lr: float) -> None:
    """A rate Adam could not use (its float32 step size overflows near 1e38) is refused with
    the sentence a run's settings get, before it reaches the optimiser."""
    loop = _optimisation(steps=3)
    with pytest.raises(ConfigError, match=f"positive number of at most {MAX_LR:g}"):
        loop.set_lr(lr)
    loop.set_lr(MAX_LR)
    assert {group["lr"] for group in loop.optimizer.param_groups} == {MAX_LR}


def test_a_step_that_is_not_finite_crosses_to_another_process_whole() -> None:
    """An evaluation worker process hands its error back pickled: it must come back as it was
    (an exception that cannot be made again from its pickle stops the pool)."""
    error = pickle.loads(pickle.dumps(NotFinite(3, "gradient")))
    assert isinstance(error, NotFinite) and (error.step, error.what) == (3, "gradient")
    assert str(error) == str(NotFinite(3, "gradient"))
