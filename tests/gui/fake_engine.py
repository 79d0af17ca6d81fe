"""A fake engine generator with the real one's protocol, for long or failing runs in tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from tagbox_gui.core.types import (
    ANALYSIS_RATE,
    Command,
    CommandKind,
    Estimate,
    Preview,
    RunConfig,
    RunResult,
    StepResult,
)


def fake_preview(
    step: int, length: int, fft_sizes: tuple[int, ...] = (1024, 512), start: int = 0
) -> Preview:
    """A preview whose separated audio is a sine of rising amplitude, so steps differ; its
    estimate covers ``length`` samples of the analysis signal from ``start``."""
    t = np.arange(length, dtype=np.float32) / ANALYSIS_RATE
    separated = (0.01 * step * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    masks = {}
    for n in fft_sizes:
        frames = 1 + length // (n // 2)
        masks[n] = np.full((n // 2 + 1, frames), min(1.0, step / 100), dtype=np.float32)
    image = np.linspace(0, 1, 64 * 40, dtype=np.float32).reshape(64, 40) * (step % 7) / 7
    return Preview(separated, image, Estimate(start=start, length=length, masks=masks))


def fake_run(
    config: RunConfig,
    length: int = ANALYSIS_RATE,
    delay: float = 0.0,
    fail_at: int | None = None,
    tag: float = 0.0,
    received: list[Command] | None = None,
    started: threading.Event | None = None,
    start: int = 0,
    loss: Callable[[int], float] | None = None,
):
    """Yields ``config.steps`` StepResults; honours STOP, SET_LR and PREVIEW like the engine.

    ``tag`` is added to every loss so a test can tell which run a step came from; the
    estimates cover ``length`` samples of the analysis signal from ``start`` (the region's);
    ``loss`` gives a step's total (1 / step, so the last step is the best, unless given).
    """
    if started is not None:
        started.set()
    lr, best, want_preview = config.lr, None, False
    wanted = {t: 0.0 for t in config.tags}
    keys = [f"fcn_mtat_{n}" for n in config.fft_sizes]
    for step in range(1, config.steps + 1):
        time.sleep(delay)
        if step == fail_at:
            raise MemoryError("fake engine ran out of memory")
        total = tag + (1.0 / step if loss is None else loss(step))
        preview = None
        if want_preview or step % config.preview_every == 0 or step == config.steps:
            preview = fake_preview(step, length, config.fft_sizes, start)
        if best is None or total < best[1]:
            best = (step, total, preview or fake_preview(step, length, config.fft_sizes, start))
        probs = {t: step / config.steps for t in wanted}
        result = StepResult(
            step,
            total,
            dict.fromkeys(keys, total),
            0.1,
            probs,
            {t: 1 - p for t, p in probs.items()},
            delay,
            lr,
            preview,
        )
        command = yield result
        want_preview = False
        if command is not None and received is not None:
            received.append(command)
        if command is not None and command.kind is CommandKind.STOP:
            return _result(best, step, stopped=True)
        if command is not None and command.kind is CommandKind.SET_LR:
            lr = float(command.value)
        if command is not None and command.kind is CommandKind.PREVIEW:
            want_preview = True
    if best is None:  # a one-pass run (0 steps): a pass of ``delay``, its estimate the result
        time.sleep(delay)
        preview = fake_preview(0, length, config.fft_sizes, start)
        return RunResult(0, float("nan"), 0, False, preview.estimate, preview.separated,
                         pass_seconds=delay)  # fmt: skip
    return _result(best, config.steps, stopped=False)


def _result(best: tuple, steps_done: int, stopped: bool) -> RunResult:
    step, total, preview = best
    return RunResult(step, total, steps_done, stopped, preview.estimate, preview.separated)


class FakeStream:
    """Stands in for a sounddevice OutputStream: the test pulls audio through the callback."""

    def __init__(self, rate: int, channels: int, callback) -> None:
        self.rate, self.channels, self.callback = rate, channels, callback
        self.active = False
        self.closed = False

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        out = np.zeros((frames, self.channels), dtype=np.float32)
        self.callback(out, frames, None, None)
        return out


class FakePortAudioError(Exception):
    """Stands in for sounddevice.PortAudioError."""


class FakeSoundDevice:
    """Stands in for the sounddevice module on a machine whose default output can come and go.

    ``channels`` is what the machine has now (0: no output device); like PortAudio, the
    module lists the machine as it was when it was last initialized (``_initialize``).
    ``busy`` streams to come fail to start (the device is taken by another program).
    ``rates``, where given, are the only rates a stream opens at; ``default_rate`` is the
    device's own.
    """

    PortAudioError = FakePortAudioError

    def __init__(self, channels: int = 2) -> None:
        self.channels = channels
        self.listed = channels
        self._initialized = 1
        self.initializations = 0
        self.busy = 0
        self.rates: set[int] | None = None
        self.default_rate = 48_000
        self.streams: list[FakeStream] = []

    def _terminate(self) -> None:
        assert self._initialized > 0, "Pa_Terminate without Pa_Initialize"
        assert all(s.closed for s in self.streams), "PortAudio terminated under an open stream"
        self._initialized -= 1

    def _initialize(self) -> None:
        self._initialized += 1
        self.initializations += 1
        self.listed = self.channels

    def query_devices(self, kind: str | None = None) -> dict:
        assert kind == "output"
        if not self.listed:
            raise FakePortAudioError("Error querying device -1")
        return {
            "max_output_channels": self.listed,
            "default_high_output_latency": 0.04,
            "default_samplerate": float(self.default_rate),
        }

    def OutputStream(self, samplerate, channels, dtype, callback, latency) -> FakeStream:
        if not self.listed or channels > self.listed:
            raise FakePortAudioError("Invalid number of channels [PaErrorCode -9998]")
        if self.rates is not None and samplerate not in self.rates:
            raise FakePortAudioError("Invalid sample rate [PaErrorCode -9997]")
        sound = self

        class Stream(FakeStream):
            def start(self) -> None:
                if sound.busy:
                    sound.busy -= 1
                    raise FakePortAudioError("Device unavailable [PaErrorCode -9985]")
                super().start()

        stream = Stream(samplerate, channels, callback)
        stream.latency = latency
        self.streams.append(stream)
        return stream


def held_runs(window, held: tuple[str, ...] | None = None,
              begun: threading.Event | None = None) -> threading.Event:  # fmt: skip
    """Give ``window`` fake runs (:func:`fake_run` over the run's span of the song) that wait, in
    the run's thread, until the event returned is set: the runs asking for ``held`` as their
    tags, or every run; ``begun``, where given, is set as each run starts."""
    from tagbox_gui.core.audio.song import analysis_span

    gate = threading.Event()

    def engine_run(config, song, store, cache):  # type: ignore[no-untyped-def]
        if begun is not None:
            begun.set()
        if held is None or config.tags == held:
            gate.wait(10)
        return fake_run(config, length=analysis_span(song, config.region)[1])

    window.run_view.engine_run = engine_run
    return gate


def held_step(step: int) -> tuple[threading.Event, threading.Event, Callable[[int], float]]:
    """A ``loss`` for :func:`fake_run` (1 / step) that holds the run inside ``step``, in its
    thread, until the second event returned is set; the first is set once it is held there.
    A test that pauses meanwhile knows the step in flight: that one lands, no later one starts
    while paused, however late a busy machine runs the thread."""
    reached, gate = threading.Event(), threading.Event()

    def loss(n: int) -> float:
        if n == step:
            reached.set()
            gate.wait(10)
        return 1.0 / n

    return reached, gate, loss


def held_job_starts(monkeypatch) -> threading.Event:
    """Hold every job in its worker thread, before its first part begins, until the event
    returned is set: a Stop pressed meanwhile is seen before any step, however late the
    thread runs (else the first part may make its step first and keep it)."""
    from tagbox_gui.gui import job_view

    gate, use_threads = threading.Event(), job_view.use_threads

    def held(threads: int) -> None:
        gate.wait(10)
        use_threads(threads)

    monkeypatch.setattr(job_view, "use_threads", held)
    return gate


def fake_player():
    """A Player whose streams are FakeStreams (``player.streams`` lists them)."""
    from tagbox_gui.gui.playback import Player

    streams: list[FakeStream] = []

    def factory(rate, channels, callback):
        streams.append(FakeStream(rate, channels, callback))
        return streams[-1]

    player = Player(stream_factory=factory, max_channels=2)
    player.streams = streams  # type: ignore[attr-defined]
    return player


def write_song(path, seconds: float = 30.0, rate: int = 48_000, channels: int = 2):
    """A test song: a piano-like chord and noise bursts, loudest from 8 s to 28 s."""
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(1)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) / 3
    noise = rng.standard_normal(len(t)) * np.exp(-30 * (t % 0.25))
    level = np.where((t >= 8) & (t < 28), 0.5, 0.05)
    mono = (0.6 * chord + 0.3 * noise) * level
    data = np.stack([mono * (1 - 0.2 * c) for c in range(channels)], axis=1)
    sf.write(path, data.astype(np.float32), rate, subtype="PCM_24")
    return path
