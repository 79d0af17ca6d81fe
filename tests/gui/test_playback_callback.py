"""The player's real-time callback: the blocks it writes over a long run of seeks, switches of
source, loops and their wraps, against a frame-by-frame model of what should sound; and that
it makes no block-sized temporaries (it runs on PortAudio's real-time thread)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tagbox_gui.core.types import Region
from tagbox_gui.gui.playback import SWITCH_FADE_S, Player
from tests.gui.fake_engine import FakeStream

RATE, FRAMES, LATENCY = 1000, 1000, 30
FADE = round(SWITCH_FADE_S * RATE)


class LatentStream(FakeStream):
    latency = LATENCY / RATE


def sources() -> dict[str, np.ndarray]:
    """Frame i of source k holds i + 10000 k on its left, and its negative on its right."""
    frames = np.arange(FRAMES, dtype=np.float32)
    return {name: np.stack([frames + 10_000 * k, -(frames + 10_000 * k)], axis=1)
            for k, name in enumerate(("mix", "separated", "residual"))}  # fmt: skip


class Model:
    """What the player should write, a frame at a time: the source on from the position (on
    into the loop, round it, or on to the end, then silence); a switch of source or a seek
    fades the new material (or the silence past its end) in over the old going on from where
    it was, over FADE frames."""

    def __init__(self, buffers: dict[str, np.ndarray]) -> None:
        self.buffers, self.source = buffers, "mix"
        self.pos = self.left = 0  # the next frame; where the last block left off
        self.loop: tuple[int, int] | None = None
        self.pending: int | None = None  # a seek while playing, applied by the next block
        self.playing = self.active = False
        self.heard: str | None = None  # the source of the last block (None: silence before)
        self.fade: list | None = None  # [the old source, its position, frames of it done]
        self.silence = 0
        self.gains = np.arange(1, FADE + 1, dtype=np.float32) / np.float32(FADE)

    def frames(self, name: str, pos: int, n: int) -> tuple[np.ndarray, int]:
        """Up to n frames of ``name`` from ``pos`` (fewer at the end), and the position after."""
        out = []
        for _ in range(n):
            if self.loop is not None and pos == self.loop[1]:
                pos = self.loop[0]
            if pos >= FRAMES:
                break
            out.append(self.buffers[name][pos])
            pos += 1
        return np.array(out, dtype=np.float32).reshape(-1, 2), pos

    def next_frame(self) -> int:
        return self.pos if self.pending is None else self.pending

    def seek(self, frame: int) -> None:
        frame = min(max(frame, 0), FRAMES)
        if self.active:
            self.pending = frame
        else:
            self.pos = self.left = frame

    def set_loop(self, loop: tuple[int, int] | None) -> None:
        self.loop = loop
        if loop is not None and not loop[0] <= self.next_frame() < loop[1]:
            self.seek(loop[0])

    def play(self) -> None:
        if self.next_frame() >= FRAMES:
            self.seek(0 if self.loop is None else self.loop[0])
        self.playing = True
        if not self.active:
            self.heard, self.active = None, True

    def pause(self) -> None:
        self.playing = self.active = False
        if self.pending is not None:
            self.pos = self.left = self.pending
            self.pending = None

    def block(self, n: int) -> np.ndarray:
        if self.pending is not None:
            self.pos, self.pending = self.pending, None
        out = np.zeros((n, 2), dtype=np.float32)
        if not self.playing:
            self.heard, self.left = None, self.pos
            return out
        start = self.pos
        new, self.pos = self.frames(self.source, start, n)
        out[: len(new)] = new
        if self.source != self.heard or start != self.left:
            self.fade = None if self.heard is None else [self.heard, self.left, 0]
            self.heard = self.source
        if self.fade is not None:
            name, at, done = self.fade
            k = min(n, FADE - done)  # on into the silence past the end
            old = np.zeros((k, 2), dtype=np.float32)
            went_on, self.fade[1] = self.frames(name, at, k)
            old[: len(went_on)] = went_on
            gains = self.gains[done : done + k, None]
            out[:k] = (out[:k] - old) * gains + old
            self.fade[2] = done + k
            if self.fade[2] >= FADE:
                self.fade = None
        if len(new):
            self.silence = 0
        if len(new) < n:
            self.silence += n - len(new)
            self.playing = self.playing and self.silence <= LATENCY
        self.left = self.pos
        return out


def steps(seed: int, count: int) -> list[tuple[str, object]]:
    """A run of what a listener does, between blocks of all sizes (one frame to several fades,
    longer than some loops)."""
    rng = np.random.default_rng(seed)
    marks = [0, 1, FADE, 500, FRAMES - FADE, FRAMES - 1, FRAMES]
    out: list[tuple[str, object]] = []
    for _ in range(count):
        kind = rng.choice(["block"] * 6 + ["seek", "source", "loop", "pause"])
        if kind == "block":
            out.append(("block", int(rng.choice([1, 3, FADE - 1, FADE, 64, 100, 257]))))
        elif kind == "seek":
            near = int(rng.choice(marks)) if rng.random() < 0.5 else int(rng.integers(FRAMES))
            out.append(("seek", near))
        elif kind == "source":
            out.append(("source", str(rng.choice(["mix", "separated", "residual"]))))
        elif kind == "loop":
            start = int(rng.integers(FRAMES - 1))
            length = int(rng.choice([1, 2, FADE // 2, 50, 300]))
            out.append(("loop", None if rng.random() < 0.2 else (start, start + length)))
        else:
            out.append(("pause", None))
    return out


def run(player: Player, model: Model, script: list[tuple[str, object]]) -> None:
    """Play ``script`` on both; every block the player writes is the model's, to the bit."""
    for number, (kind, arg) in enumerate(script):
        if kind == "block":
            if not model.active:
                player.play()
                model.play()
            stream = player.streams[-1]  # type: ignore[attr-defined]
            got, want = stream.pull(arg), model.block(arg)
            np.testing.assert_array_equal(got, want, err_msg=f"step {number}: {script[number]}")
            if not model.playing:  # at the end: the transport pauses once it sees it stopped
                assert not player.playing
                player.pause()
                model.pause()
        elif kind == "seek":
            player.seek(arg / RATE)
            model.seek(arg)
        elif kind == "source":
            player.set_source(arg)
            model.source = arg
        elif kind == "loop":
            player.set_loop(None if arg is None else Region(arg[0] / RATE, arg[1] / RATE))
            model.set_loop(None if arg is None else (arg[0], min(arg[1], FRAMES)))
        else:
            player.pause()
            model.pause()


@pytest.fixture
def player() -> Player:
    streams: list[FakeStream] = []

    def factory(rate, channels, callback):  # type: ignore[no-untyped-def]
        streams.append(LatentStream(rate, channels, callback))
        return streams[-1]

    p = Player(stream_factory=factory)
    p.streams = streams  # type: ignore[attr-defined]
    p.load(sources(), RATE)
    return p


@pytest.mark.parametrize("seed", range(4))
def test_the_callback_writes_what_sounds_through_seeks_switches_and_loops(
    player: Player, seed: int
) -> None:
    run(player, Model(sources()), steps(seed, 600))


def test_the_callback_makes_no_block_sized_temporaries() -> None:
    """At 48 kHz (a fade of 480 frames), blocks of 1024 frames (8 KB) through seeks, switches,
    fades and loop wraps: what one callback allocates at once stays far below a block, and
    nothing of it is kept."""
    rate = 48_000
    player = Player(stream_factory=FakeStream)
    player.load(sources(), rate)
    out = np.zeros((1024, 2), dtype=np.float32)
    player.play()
    worst = kept = 0
    tracemalloc.start()
    try:
        for kind, arg in steps(7, 1500):
            if kind == "seek":
                player.seek(arg / rate)
            elif kind == "source":
                player.set_source(arg)
            elif kind == "loop" and arg is not None:
                player.set_loop(Region(arg[0] / rate, arg[1] / rate))
            elif kind == "block":
                if not player.playing:
                    player.pause()
                    player.play()
                before = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                player.callback(out, len(out), None, None)
                now, peak = tracemalloc.get_traced_memory()
                worst, kept = max(worst, peak - before), kept + now - before
    finally:
        tracemalloc.stop()
    assert worst < 2048 and kept < 1024
