"""One block of output from a source, as the player's real-time callback writes it (no Qt).

It runs on PortAudio's real-time thread: it only copies from a buffer prepared beforehand
into the block PortAudio hands over, with no allocation and no locks. The player
(:class:`~tagbox_gui.gui.playback.Player`) keeps the state around it: where it plays, the
loop, the seeks handed over from the GUI thread, the fade of a switch of source, and the
silence after the end.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def render(
    out: np.ndarray,
    frames: int,
    buf: np.ndarray,
    pos: int,
    loop: tuple[int, int] | None,
    length: int,
) -> tuple[int, int]:
    """Fill ``frames`` frames of ``out`` ``(frames, channels)`` from ``buf`` from frame
    ``pos`` on, up to ``length`` frames. Inside the ``loop``'s (start, end) frames, where
    there is one, over and over between them; before it, on into it; after it (a seek there),
    on to the end, as a DAW's loop does. Returns the position after the block and the frames
    written; those past the end are left to the caller."""
    written = 0
    while written < frames:
        if loop is None or pos > loop[1]:
            stop = length
        elif pos < loop[0]:
            stop = loop[0]
        else:
            if pos == loop[1]:
                pos = loop[0]
            stop = loop[1]
        n = min(frames - written, stop - pos)
        if n <= 0:
            break
        copy_block(out, written, buf, pos, n)
        written += n
        pos += n
    return pos, written


def advance(pos: int, frames: int, loop: tuple[int, int] | None, length: int) -> int:
    """Where :func:`render` is ``frames`` frames after ``pos``: the same path (on into the
    loop, round it, or on to the end), nothing copied."""
    if loop is not None and pos <= loop[1] and pos + frames > loop[1]:
        start, end = loop
        return start + (pos + frames - end) % (end - start)
    return min(pos + frames, length)


class Stretch(NamedTuple):
    """Output that plays on from one position: the frames written from the ``since``-th on
    play from frame ``start`` of the material, with ``loop`` (see :func:`render`)."""

    since: int
    start: int
    loop: tuple[int, int] | None

    def frame(self, nth: int, length: int) -> int:
        """The frame of the material played as the ``nth`` frame written; ``start`` for one
        before the stretch (other material played then)."""
        return advance(self.start, max(0, nth - self.since), self.loop, length)


def copy_block(out: np.ndarray, at: int, buf: np.ndarray, pos: int, n: int) -> None:
    """Copy n frames of buf from pos into out at ``at``; zeros where buf is shorter."""
    have = max(0, min(n, len(buf) - pos))
    if have:
        out[at : at + have] = buf[pos : pos + have]
    if have < n:
        out[at + have : at + n].fill(0.0)


def crossfade(out: np.ndarray, old: np.ndarray, gains: np.ndarray) -> None:
    """Fade ``out`` in over ``old``: ``old + (out - old) * gains``, in place, all three
    ``(n, channels)`` (gains broadcast from ``(n, 1)`` would make a temporary array)."""
    np.subtract(out, old, out=out)
    np.multiply(out, gains, out=out)
    np.add(out, old, out=out)
