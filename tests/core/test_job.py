"""A job of several instruments: checked up front, run in turn, stopped keeping what finished."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.audio.export import export_shared_stems
from tagbox_gui.core.audio.song import Song, analysis_span, load_song
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.separation import engine
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.job import JobPart, JobResult, job_units, refines, run_job
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import (
    Command,
    CommandKind,
    Estimate,
    Example,
    Mode,
    Region,
    RunResult,
    StepResult,
)

RATE = 44_100


def _song(seconds: float = 6.0) -> Song:
    rng = np.random.default_rng(5)
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1760 * t)
    clicks = (rng.random((t.size, 2)) < 0.002) * 0.4
    data = tone[:, None] + clicks + 0.01 * rng.standard_normal((t.size, 2))
    return Song(Path("song.wav"), "song", data.astype(np.float32), RATE, "FLOAT", "WAV")


def _parts(*names: str, **examples: Example) -> list[JobPart]:
    base = default_config("learned")
    parts = [JobPart(name, replace(base, tags=(name,))) for name in names]
    parts += [JobPart(name, replace(base, tags=(), example=e)) for name, e in examples.items()]
    return parts


def _drive(job, stop_after: int | None = None) -> tuple[list, JobResult]:
    events, command = [], None
    try:
        while True:
            event = job.send(command)
            if event is None:  # after a segment of a pass of the separator
                command = None
                continue
            events.append(event)
            stop = stop_after is not None and event.result is not None
            stop = stop and sum(e.result is not None for e in events) == stop_after
            command = Command(CommandKind.STOP) if stop else None
    except StopIteration as end:
        return events, end.value


def _own(events: list) -> dict:
    """Each part's estimate as its own run made it (the job's events carry it; its result
    keeps only the stems the parts make together)."""
    return {e.name: e.result.estimate for e in events if e is not None and e.result is not None}


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    return ModelCache()


def test_a_job_runs_every_part_in_turn_and_its_stems_add_up(tmp_path, model_dir, cache) -> None:
    song = _song()
    parts = _parts("drums", "bass", organ=Example(None, 1.0, 4.0))  # the example needs taggers
    events, result = _drive(run_job(parts, song, ModelStore(model_dir), cache))
    assert [(e.index, e.began, e.result is not None, e.refining) for e in events] == [
        (0, True, False, False), (0, False, True, False), (1, True, False, False),
        (1, False, True, False), (2, True, False, False), (2, False, True, False),
        (0, False, False, True), (1, False, False, True), (2, False, False, True),
    ]  # fmt: skip
    assert [(e.name, e.beside) for e in events if e.refining] == [
        ("drums", ("bass", "organ")), ("bass", ("drums", "organ")), ("organ", ("drums", "bass"))
    ]  # each without the others  # fmt: skip
    assert [e.units_done for e in events] == [0, 1, 1, 2, 2, 3, 3, 4, 5]
    assert {e.units_total for e in events} == {6}  # a unit per part, then per second look
    assert not result.stopped and list(result.results) == ["drums", "bass", "organ"]
    assert list(result.levels) == ["drums", "bass", "organ"]  # dB against the song
    assert all(-80 < level < 0 for level in result.levels.values())
    shared = result.estimates
    total = sum(shared[name].masks[2048] for name in shared)
    assert total.max() <= 1.0 + 1e-6  # no bin handed out twice
    stems, rest = export_shared_stems(song, shared, tmp_path / "out")
    back = sum(load_song(path).data.astype(np.float64) for path in [*stems, rest])
    assert np.max(np.abs(back - song.data)) < 1e-6
    assert [p.name for p in stems] == ["song - drums.wav", "song - bass.wav", "song - organ.wav"]


def test_the_second_look_can_be_paused_and_a_stop_keeps_the_first_look(cache) -> None:
    song, parts = _song(), _parts("drums", "bass")
    store = ModelStore(Path("no-models"))
    events, whole = _drive(run_job(parts, song, store, cache))
    firsts = _own(events)
    assert sum(e.refining for e in events) == 2
    job = run_job(parts, song, store, cache)
    event = next(job)
    while event is None or not event.refining:
        event = job.send(None)
    assert job.send(Command(CommandKind.PAUSE)) is None  # held before the first stem's look
    assert job.send(None) is None and job.send(Command(CommandKind.PREVIEW)) is None
    event = job.send(Command(CommandKind.RESUME))
    while event is None:  # the first stem looked at, segment by segment, then
        event = job.send(None)
    assert event.refining
    with pytest.raises(StopIteration) as end:  # the second's turn is stopped
        job.send(Command(CommandKind.STOP))
    stopped = end.value.value
    assert not stopped.stopped and list(stopped.results) == ["drums", "bass"]
    assert whole.refined and not stopped.refined
    first_look = share(firsts)
    for name in ("drums", "bass"):
        np.testing.assert_array_equal(stopped.estimates[name].masks[2048],
                                      first_look[name].masks[2048])  # fmt: skip
        assert not np.array_equal(whole.estimates[name].masks[2048], first_look[name].masks[2048])


def test_a_pause_as_a_part_begins_or_ends_holds_the_job_there(cache) -> None:
    song, store, started = _song(), ModelStore(Path("no-models")), []

    def runner(config, *args):
        started.append(config.lr)
        return engine.run(config, *args)

    job = run_job(_parts("drums", "bass"), song, store, cache, runner, second_look=False)
    assert next(job).began
    assert job.send(Command(CommandKind.PAUSE)) is None  # held before the part's run starts
    assert job.send(None) is None and job.send(Command(CommandKind.SET_LR, 0.01)) is None
    assert started == []
    ended = job.send(Command(CommandKind.RESUME))
    assert ended.result is not None and ended.name == "drums" and started == [0.01]
    assert job.send(Command(CommandKind.PAUSE)) is None  # held before the next part begins
    assert job.send(None) is None and started == [0.01]
    with pytest.raises(StopIteration) as end:
        job.send(Command(CommandKind.STOP))
    assert end.value.value.stopped and list(end.value.value.results) == ["drums"]


def test_a_job_without_the_second_look_keeps_the_first_look(cache) -> None:
    song, parts = _song(), _parts("drums", "bass")
    store = ModelStore(Path("no-models"))
    events, result = _drive(run_job(parts, song, store, cache, second_look=False))
    assert not any(e.refining for e in events) and {e.units_total for e in events} == {2}
    assert not result.refined and not result.stopped and result.second_look_notes() == {}
    first_look = share(_own(events))
    for name in ("drums", "bass"):
        np.testing.assert_array_equal(result.estimates[name].masks[2048],
                                      first_look[name].masks[2048])  # fmt: skip


def test_a_job_of_one_instrument_is_looked_at_again_beside_the_helpers(cache) -> None:
    song, store = _song(), ModelStore(Path("no-models"))
    events, result = _drive(run_job(_parts("piano"), song, store, cache))
    assert result.results["piano"].helpers == ("bass", "drums") and not result.refined
    looks = [e for e in events if e is not None and e.refining]  # said as it begins
    assert [(e.name, e.beside, e.units_done, e.units_total) for e in looks] == [
        ("piano", ("bass", "drums"), 0, 1)
    ]
    np.testing.assert_array_equal(result.estimates["piano"].masks[2048],
                                  _own(events)["piano"].masks[2048])  # fmt: skip
    _, first = _drive(run_job(_parts("piano"), song, store, cache, second_look=False))
    assert first.results["piano"].helpers == ()
    looked, alone = result.estimates["piano"].masks[2048], first.estimates["piano"].masks[2048]
    assert np.abs(looked - alone).mean() > 1e-3


def test_a_job_counts_a_unit_per_second_look_only_where_there_is_one() -> None:
    learned = _parts("drums", "bass")
    assert refines(learned) and job_units(learned) == 4  # a pass each, then a look each
    assert not refines(learned, second_look=False) and job_units(learned, False) == 2
    assert not refines(learned[:1]) and job_units(learned[:1]) == 1  # alone: nothing to take away
    steered = [JobPart(p.name, replace(p.config, steps=3)) for p in learned]
    assert job_units(steered) == 8
    light = [JobPart(p.name, replace(p.config, backend="light", steps=2)) for p in learned]
    assert not refines(light) and job_units(light) == 4
    free = [JobPart(p.name, replace(p.config, mode=Mode.FREE)) for p in learned]
    assert not refines(free) and job_units(free) == 2


def test_stop_keeps_the_parts_that_finished(tmp_path, cache) -> None:
    events, result = _drive(
        run_job(_parts("drums", "bass", "piano"), _song(), ModelStore(tmp_path), cache),
        stop_after=2,
    )
    assert result.stopped and list(result.results) == ["drums", "bass"]
    assert not any(e.index == 2 for e in events)  # the third part never began


def test_a_stop_during_a_parts_single_pass_keeps_the_parts_that_finished(cache) -> None:
    """A one-pass part of a long song is stopped between its segments: it is dropped, as a
    steered part stopped between its steps is, and the parts before it are kept."""
    parts = [JobPart(p.name, replace(p.config, segment_seconds=2.0))
             for p in _parts("drums", "bass")]  # fmt: skip
    job = run_job(parts, _song(), ModelStore(Path("no-models")), cache)
    running, event = None, next(job)
    while event is not None or running != 1:  # until a segment of the bass is done
        running = event.index if event is not None and event.began else running
        event = job.send(None)
    with pytest.raises(StopIteration) as end:
        job.send(Command(CommandKind.STOP))
    result = end.value.value
    assert result.stopped and not result.refined
    assert list(result.results) == ["drums"] and list(result.estimates) == ["drums"]


def test_a_stop_inside_a_steered_part_keeps_its_best_step_so_far(
    tmp_path, model_dir, cache
) -> None:
    """A part stopped between its steps keeps its best step, as a single run stopped does:
    the job ends with the parts before it and that part, sharing the mix, and the rest is the
    song without them."""
    bass, drums, piano = _parts("bass", "drums", "piano")
    drums = JobPart("drums", replace(drums.config, steps=3))
    quiet = partial(engine.run, measure_residual=False)
    song = _song()
    job = run_job([bass, drums, piano], song, ModelStore(model_dir), cache, runner=quiet)
    events, command = [], None
    with pytest.raises(StopIteration) as end:
        while True:
            event = job.send(command)
            events.append(event)
            stop = event is not None and event.step is not None and event.step.step == 2
            command = Command(CommandKind.STOP) if stop else None
    result = end.value.value
    assert [e.step.step for e in events if e is not None and e.step is not None] == [1, 2]
    assert result.stopped and not result.refined and list(result.results) == ["bass", "drums"]
    kept = result.results["drums"]
    assert kept.stopped and kept.steps_done == 2 and kept.best_step in (1, 2)
    assert list(result.estimates) == ["bass", "drums"]
    total = sum(result.estimates[name].masks[2048] for name in result.estimates)
    assert total.max() <= 1.0 + 1e-6  # the kept part shares the mix with the finished one
    stems, rest = export_shared_stems(song, result.estimates, tmp_path / "out")
    back = sum(load_song(path).data.astype(np.float64) for path in [*stems, rest])
    assert np.max(np.abs(back - song.data)) < 1e-6


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], "at least one"),
        (_parts("drums", "drums"), "twice"),
        (_parts(**{n: Example(None, 1.0, 2.0) for n in ("a/b", "a:b")}), "both be named"),
        (_parts("drums", "kazoo"), "kazoo"),
        (_parts("drums", ""), "name"),
        (_parts("drums", organ=Example(None, 5.0, 99.0)), "ends after"),
    ],
)
def test_every_part_is_checked_before_anything_runs(tmp_path, cache, parts, message) -> None:
    with pytest.raises(ConfigError, match=message):
        run_job(parts, _song(), ModelStore(tmp_path), cache)


def _in(region: Region | None, part: JobPart) -> JobPart:
    return JobPart(part.name, replace(part.config, region=region))


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        # the window's picks: an instrument in the selected region, an example in the whole song
        ([_in(Region(1.0, 3.0), _parts("bass")[0]), *_parts(organ=Example(None, 1.0, 3.0))],
         "'organ' would be separated in the whole song and 'bass' in 1-3 s"),
        ([_parts("bass")[0], _in(Region(1.0, 3.0), _parts("drums")[0])], "same one"),
        ([_parts("bass")[0], JobPart("drums", replace(_parts("drums")[0].config,
                                                      fft_sizes=(2048, 1024)))], "FFT sizes"),
        # a part's own settings are checked first: a size given twice is not another grid
        ([JobPart("bass", replace(_parts("bass")[0].config, fft_sizes=(2048, 2048))),
          JobPart("drums", replace(_parts("drums")[0].config, fft_sizes=(2048,)))],
         r"^the FFT size 2048 is given twice; give each once$"),
        ([_parts("bass")[0], JobPart("drums", replace(_parts("drums")[0].config,
                                                      mode=Mode.FREE))], "free mode"),
    ],
)  # fmt: skip
def test_parts_whose_stems_cannot_share_are_refused_before_anything_runs(
    tmp_path, cache, parts, message
) -> None:
    runs = []

    def runner(*args):  # no part may run: it would be lost when sharing fails at the end
        runs.append(args)
        return engine.run(*args)

    with pytest.raises(ConfigError, match=message):
        _drive(run_job(parts, _song(), ModelStore(tmp_path), cache, runner))
    assert runs == []
    same = [_in(Region(0.0, 6.0), _parts("bass")[0]), *_parts("drums")]  # the whole song twice
    run_job(same, _song(), ModelStore(tmp_path), cache, runner).close()


def test_a_second_look_that_fails_ends_the_job_with_the_first_looks(cache, monkeypatch) -> None:
    from tagbox_gui.core.separation import refine

    def out_of_memory(self, name: str) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(refine.Refinement, "stem", out_of_memory)
    song, parts = _song(), _parts("drums", "bass")
    events, result = _drive(run_job(parts, song, ModelStore(Path("no-models")), cache))
    assert result.second_look_failed == "out of memory"
    assert not result.refined and not result.stopped and list(result.results) == ["drums", "bass"]
    first_look = share(_own(events))
    for name in ("drums", "bass"):
        np.testing.assert_array_equal(result.estimates[name].masks[2048],
                                      first_look[name].masks[2048])  # fmt: skip


@pytest.mark.parametrize("second_look", [True, False])
def test_a_finished_job_keeps_one_copy_of_each_stem(cache, second_look: bool) -> None:
    """Once the stems are made, the parts' own estimates and separated signals are let go:
    a long song's masks are large, and the window keeps a job's result while it shows it."""
    song, parts = _song(), _parts("drums", "bass")
    events, result = _drive(run_job(parts, song, ModelStore(Path("no-models")), cache,
                                    second_look=second_look))  # fmt: skip
    assert set(_own(events)) == {"drums", "bass"} and result.refined is second_look
    assert list(result.estimates) == ["drums", "bass"]
    assert all(r.estimate is None and r.separated is None for r in result.results.values())
    assert [r.best_step for r in result.results.values()] == [0, 0]


class _Runs:
    """A stand-in for ``engine.run``: each run makes two steps (a pause point between them)
    and returns a mask estimate of the song; it records which runs began and which were
    finalised (closed, ended or failed), and fails with ``error`` at its ``fail_at``th yield
    of part ``failing``."""

    def __init__(self, failing: str = "", fail_at: int = 0, error: Exception | None = None):
        self.failing, self.fail_at, self.error = failing, fail_at, error
        self.began: list[str] = []
        self.finalised: list[str] = []

    def __call__(self, config, song, store, cache):
        name = config.tags[0]
        self.began.append(name)
        return self._run(name, config, song)

    def _run(self, name: str, config, song):
        try:
            for number in (1, 2):
                if name == self.failing and number == self.fail_at:
                    raise self.error
                yield None  # as a paused run, or a segment of a pass, yields
                yield _step(number)
            start, length = analysis_span(song, config.region)
            masks = {n: np.full((n // 2 + 1, 1 + length // (n // 2)), 0.4, np.float32)
                     for n in config.fft_sizes}  # fmt: skip
            estimate = Estimate(start, length, masks, hops_per_window=2)
            return RunResult(2, 0.0, 2, False, estimate=estimate)
        finally:
            self.finalised.append(name)


def _step(number: int) -> StepResult:
    return StepResult(number, 1.0, {}, 0.0, {}, {}, 0.0, 0.1)


def _light_parts(*names: str) -> list[JobPart]:
    base = default_config("light")
    return [JobPart(name, replace(base, tags=(name,), steps=2)) for name in names]


def test_a_learning_rate_out_of_range_is_refused_where_it_is_sent_and_the_job_goes_on() -> None:
    """Sent to a job (as a part begins, or between steps), a bad learning rate is refused to
    the sender; the parts after it start with the job's own, not one their checks refuse."""
    lrs: list[float] = []
    runs = _Runs()

    def runner(config, *args):
        lrs.append(config.lr)
        return runs(config, *args)

    parts = _light_parts("a", "b")
    job = run_job(parts, _song(1.0), ModelStore(Path("no")), runner=runner, checked=True)
    assert job.send(None).began
    for lr in (0.0, -1.0, float("nan"), 1001.0, None):
        with pytest.raises(ConfigError, match="learning rate must be a positive number"):
            job.send(Command(CommandKind.SET_LR, lr))
    with pytest.raises(StopIteration) as end:
        while True:
            job.send(None)
    assert list(end.value.value.results) == ["a", "b"] and not end.value.value.stopped
    assert lrs == [parts[0].config.lr] * 2


def _yields_of_a_job(song: Song) -> int:
    runs = _Runs()
    job = run_job(_light_parts("a", "b", "c"), song, ModelStore(Path("no")), runner=runs,
                  checked=True)  # fmt: skip
    count = 0
    with pytest.raises(StopIteration):
        while True:
            job.send(None)
            count += 1
    return count


@pytest.mark.parametrize("how", ["close", "stop"])
def test_a_job_ended_at_any_point_leaves_no_run_open_and_keeps_what_finished(how: str) -> None:
    """Closed (the window, Ctrl+C) or stopped at each of its yields in turn, a job leaves
    every run it began finalised; a STOP keeps the parts that finished, their stems and the
    rest adding up to the song's mixture bin by bin."""
    song = _song(1.0)
    for point in range(_yields_of_a_job(song)):
        runs = _Runs()
        job = run_job(_light_parts("a", "b", "c"), song, ModelStore(Path("no")), runner=runs,
                      checked=True)  # fmt: skip
        for _ in range(point + 1):
            job.send(None)
        if how == "close":
            job.close()
        else:
            with pytest.raises(StopIteration) as end:
                while True:
                    job.send(Command(CommandKind.STOP))
            result = end.value.value
            assert set(result.results) <= set(runs.began)
            masks = [e.masks[2048] for e in result.estimates.values()]
            assert all(m.max() <= 1 for m in masks) and (not masks or sum(masks).max() <= 1.0001)
        assert sorted(runs.finalised) == sorted(runs.began), point


@pytest.mark.parametrize("fail_at", [1, 2])
@pytest.mark.parametrize("failing", ["a", "b", "c"])
def test_a_part_that_fails_mid_job_raises_its_own_error_once_and_closes_every_run(
    failing: str, fail_at: int
) -> None:
    """An error inside a part's backend ends the job with that very error (not a copy, not
    wrapped, not swallowed into a stop); no later part begins, and every run is finalised.
    The front ends name the part from the last event (``PartFailed``, ``JobProgress``)."""
    error = RuntimeError("a backend broke")
    runs = _Runs(failing, fail_at, error)
    job = run_job(_light_parts("a", "b", "c"), _song(1.0), ModelStore(Path("no")),
                  runner=runs, checked=True)  # fmt: skip
    last = None
    with pytest.raises(RuntimeError) as raised:
        while True:
            last = job.send(None) or last
    assert raised.value is error
    assert runs.began == ["a", "b", "c"][: "abc".index(failing) + 1]
    assert sorted(runs.finalised) == sorted(runs.began)
    assert last is not None and last.name == failing
