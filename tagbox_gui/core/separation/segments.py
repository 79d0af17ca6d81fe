"""Cutting a long region into overlapping segments, and crossfading them back together.

The optimisation runs segment by segment so its peak memory depends on the segment length, not
on the song's. Segments overlap; in the overlap their results are crossfaded with linear ramps
that add up to one. Segment starts are multiples of every STFT hop, so the frames of a segment's
masks fall exactly on frames of the region's STFT grid.

A pass of the separator over a long song takes a while, so a pass made segment by segment is a
generator of the engine's protocol: after a segment it may :func:`pause_or_stop`.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from tagbox_gui.core.types import Command, hold_while_paused, is_stop


@dataclass(frozen=True)
class Segment:
    """Samples ``[start, end)`` of the region, and how long its crossfades are at each side."""

    start: int
    end: int
    fade_in: int
    fade_out: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def weights(self, positions: np.ndarray) -> np.ndarray:
        """Crossfade weight at region sample ``positions`` (0 outside the segment)."""
        pos = np.asarray(positions, dtype=np.float64)
        w = np.ones_like(pos)
        if self.fade_in:
            w = np.minimum(w, (pos - self.start) / self.fade_in)
        if self.fade_out:
            w = np.minimum(w, (self.end - pos) / self.fade_out)
        return np.clip(w, 0.0, 1.0) * ((pos >= self.start) & (pos < self.end))


class PassStopped(Exception):
    """A STOP came after a segment of a pass of the separator (:func:`pause_or_stop`)."""


def pause_or_stop() -> Generator[None, Command | None, None]:
    """After a segment of a pass of the separator: yields ``None``, holds while paused, and
    raises :class:`PassStopped` at a STOP. Once per segment (a pass of the network), so it costs
    the pass nothing."""
    command = yield from hold_while_paused((yield None))
    if is_stop(command):
        raise PassStopped


def plan_segments(length: int, segment: int, overlap: int, align: int) -> list[Segment]:
    """Balanced segments of at most about ``segment`` samples covering ``[0, length)``.

    Consecutive segments overlap by ``overlap`` samples (rounded up to ``align``); starts are
    multiples of ``align``. A region no longer than ``segment`` is one segment.
    """
    if length <= segment:
        return [Segment(0, length, 0, 0)]
    overlap = _round_up(overlap, align)
    count = math.ceil((length - overlap) / (segment - overlap))
    hop = _round_up(math.ceil((length - overlap) / count), align)
    starts = [i * hop for i in range(count) if i * hop < length - overlap]
    segments = []
    for i, start in enumerate(starts):
        last = i == len(starts) - 1
        end = length if last else start + hop + overlap
        segments.append(Segment(start, end, overlap if i else 0, 0 if last else overlap))
    return segments


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


class AudioStitch:
    """Per-segment signals (each ``segment.length`` long) crossfaded into one of ``length``,
    each as it comes (:meth:`add`): a caller that makes them one at a time need not hold them
    all. :meth:`result` is the whole."""

    def __init__(self, length: int) -> None:
        self._out = np.zeros(length, dtype=np.float32)

    def add(self, seg: Segment, part: np.ndarray) -> None:
        """Crossfade ``seg``'s signal ``part`` in."""
        w = seg.weights(np.arange(seg.start, seg.end))
        self._out[seg.start : seg.end] += (w * part[: seg.length]).astype(np.float32)

    def result(self) -> np.ndarray:
        """The parts added, crossfaded into one signal."""
        return self._out


class FrameStitch:
    """Per-segment STFT-grid arrays ``(..., bins, seg_frames)`` crossfaded into one
    ``(..., bins, frames)``, each as it comes (:meth:`add`): a long song's masks are large, and
    a caller that makes them one at a time need not hold them all. :meth:`result` is the whole.

    Frame ``f`` of a segment is centred at region sample ``segment.start + f * hop``."""

    def __init__(self, segments: list[Segment], hop: int, frames: int) -> None:
        self.hop, self.frames, self.single = hop, frames, len(segments) == 1
        self._out: np.ndarray | None = None
        self._total = np.zeros(frames, dtype=np.float64)

    def add(self, seg: Segment, part: np.ndarray) -> None:
        """Crossfade ``seg``'s ``part`` in."""
        if self._out is None:
            self._out = np.zeros((*part.shape[:-1], self.frames), dtype=np.float32)
        first = seg.start // self.hop
        count = min(part.shape[-1], self.frames - first)
        centres = seg.start + np.arange(count) * self.hop
        w = np.ones(count) if self.single else seg.weights(np.minimum(centres, seg.end - 1))
        self._out[..., first : first + count] += part[..., :count] * w.astype(np.float32)
        self._total[first : first + count] += w

    def result(self) -> np.ndarray:
        """The parts added, crossfaded into one array."""
        if self._out is None:
            raise ValueError("no segment to stitch")
        # Frames whose centre falls outside every segment (the last frame) keep the nearest
        # weight. In place: a long song's mask is large.
        self._out /= np.maximum(self._total, 1e-12).astype(np.float32)
        return self._out
