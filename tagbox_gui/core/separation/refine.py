"""A second look at stems of the learned separator: each asked for again without the others.

When several instruments of one song are asked for, each is first separated on its own and the
stems share the mixture (``core.audio.estimates.share``). The separator separates better from
a mixture of fewer sources, so each stem k made by it is then asked for again, with the same
query, from the song without the other stems' first estimates: with the shared first masks
m̃, ``keep_k = clip(1 - sum_{j != k} m̃_j, 0, 1)``, the separator runs on the song masked by
``keep_k``, its mask ``m2_k`` is carried onto the song's grid, and the stem's mask becomes
``(m̃_k + keep_k * m2_k) / 2``. Then the stems share the mixture again. The mean keeps what
another stem wrongly took in the first pass, which the second alone would lose. One pass of
the network more per stem; see docs/separator.md, "A second look at each stem", for what it
gained on held-out songs. A stem made by another backend is only shared.

A stem asked for alone has no other stems to take away, so it is given some
(:func:`looked_again`): *helpers*, the bass and the drums (``core.separation.job.HELPERS``),
asked for by their prototypes only to be taken away and then dropped. The stem's second look
is made as above beside their first looks; they get no second look, and the stem does not
share the mixture with them afterwards (in the proxy that chose this, doing either changed no
set's score by 0.01 dB; see docs/separator.md, "A second look for a single instrument").

A pass of the separator over a long song takes a while, so the look's passes are generators
of the engine's protocol (:data:`Look`): they yield ``None`` after each segment, where a PAUSE
holds them until RESUME and a STOP ends the look (``segments.PassStopped``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

from tagbox_gui.core.audio.estimates import share
from tagbox_gui.core.audio.song import analysis_signal
from tagbox_gui.core.dsp.spectral import istft, stft
from tagbox_gui.core.errors import reason_in_brief
from tagbox_gui.core.separation.backends.learned import (
    SETTINGS,
    LearnedBackend,
    load_shipped,
    nearest_prototype,
)
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.separation.engine import run_segments, run_to_end
from tagbox_gui.core.separation.segments import (
    AudioStitch,
    FrameStitch,
    PassStopped,
    Segment,
    pause_or_stop,
)
from tagbox_gui.core.types import Command, LookingAgain, RunConfig, hold_while_paused, is_stop

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.nets.separator import QuerySeparator
    from tagbox_gui.core.separation.engine import RunGenerator
    from tagbox_gui.core.types import Estimate

T = TypeVar("T")
Look = Generator[None, Command | None, T]
"""A pass of a second look: yields ``None`` after each segment (``segments.pause_or_stop``) and
returns what it made."""


def can_refine(estimates: Mapping[str, Estimate]) -> bool:
    """Whether the stems get a second look: two or more, every one masks of the learned
    separator with the query that made them, all of one region on one grid."""
    grids = {(e.start, e.length, tuple(sorted(e.masks)), e.hops_per_window)
             for e in estimates.values()}  # fmt: skip
    return (
        len(estimates) >= 2
        and len(grids) == 1
        and all(is_learned_mask(e) for e in estimates.values())
    )


def is_learned_mask(estimate: Estimate) -> bool:
    """Whether ``estimate`` can be looked at again: masks of the learned separator, with the
    query that made them."""
    return bool(estimate.masks) and estimate.audio is None and estimate.query is not None


class Refinement:
    """The second look at the stems of one song (module docstring), one stem at a time.

    ``estimates`` are the stems' first estimates, not yet shared; :meth:`stem` gives one
    stem's second estimate, and :meth:`shared` all of them sharing the mixture again. The
    separator is the one the learned backend loads (``load_shipped``), on the device it is on.
    Only the sum of the first masks is kept beside them (a long song's masks are large).
    """

    def __init__(self, song: Song, estimates: Mapping[str, Estimate], cache: ModelCache) -> None:
        if not can_refine(estimates):
            raise ValueError("only two or more masks of the learned separator, on one grid, "
                             "are refined")  # fmt: skip
        self.firsts = dict(estimates)
        some = next(iter(self.firsts.values()))
        self.net = load_shipped(cache)[0]
        self._region = _Region(song, some, self.net.query_mean.device)
        self._claimed = claimed_in_all(self.firsts.values())

    def stem(self, name: str) -> Look[Estimate]:
        """Stem ``name``'s second estimate: the mean of its first mask (shared) and the
        separator's mask of the song without the other stems (not yet shared)."""
        if not self._claimed:
            raise RuntimeError("the stems share the mix already: no stem is looked at after")
        return (yield from _second(self.net, self._region, self.firsts[name], self._claimed))

    def shared(self, second: Mapping[str, Estimate]) -> dict[str, Estimate]:
        """The stems sharing the mixture: the second estimates of every stem (made by
        :meth:`stem`, so they are divided in place), in the order of the first. No stem can
        be looked at again after: what the first looks claimed in all is let go first."""
        self._claimed = {}
        return share({name: second[name] for name in self.firsts}, in_place=True)


def shared_estimates(
    song: Song,
    estimates: Mapping[str, Estimate],
    cache: ModelCache | None = None,
    refine: bool = True,
) -> dict[str, Estimate]:
    """The stems of one song sharing the mixture, looked at a second time (module docstring)
    when ``refine`` and :func:`can_refine`."""
    if not (refine and can_refine(estimates)):
        return share(estimates)
    refinement = Refinement(song, estimates, cache or ModelCache())
    return refinement.shared(
        {name: run_to_end(refinement.stem(name)) for name in refinement.firsts}
    )


def claimed_in_all(estimates: Iterable[Estimate], in_place: bool = False) -> dict[int, np.ndarray]:
    """What ``estimates`` claim in all, per FFT size: the sum of their masks in turn, added in
    place into one new array per size (a long song's masks are large); with ``in_place``, into
    the first estimate's masks (overwritten), with no new array."""
    sums: dict[int, np.ndarray] = {}
    for estimate in estimates:
        for n, mask in estimate.masks.items():
            if n in sums:
                sums[n] += mask
            else:
                sums[n] = mask if in_place else mask.copy()
    return sums


@torch.no_grad()
def _second(
    net: QuerySeparator, region: _Region, first: Estimate, claimed: Mapping[int, np.ndarray]
) -> Look[Estimate]:
    """The second estimate of the stem whose first is ``first``, with ``claimed`` what every
    stem's first look claims (its own with them) per FFT size: :meth:`Refinement.stem`."""
    query = torch.from_numpy(first.query).to(net.query_mean.device)  # type: ignore[arg-type]
    backend = LearnedBackend(net, (query - net.query_mean) / net.query_std, SETTINGS)
    masks = {}
    for n, all_claimed in claimed.items():
        own = first.masks[n]
        second = (yield from region.masks(backend, n, _keep_of(all_claimed, own)))[0]
        for a in range(0, second.shape[1], _BLOCK):  # a block at a time: masks are large
            b = a + _BLOCK
            keep, divisor = _kept(all_claimed, own, a, b)
            second[:, a:b] *= keep
            second[:, a:b] += np.divide(own[:, a:b], divisor, out=divisor)
        second *= 0.5
        masks[n] = second
    return replace(first, masks=masks)


_BLOCK = 4096
"""Frames of a mask worked on at a time where a whole-song array beside it would cost memory."""


def _kept(claimed: np.ndarray, own: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """For frames ``a:b`` of one stem's first mask ``own``, with ``claimed`` the sum of every
    stem's first mask: ``keep``, what the other stems left of the song once shared
    (``clip(1 - sum_{j != k} m~_j, 0, 1)``), and the divisor of that sharing
    (``m~ = m / max(sum m, 1)``, as ``share`` divides)."""
    part = claimed[:, a:b]
    divisor = np.maximum(part, 1.0)
    keep = np.subtract(part, own[:, a:b], dtype=np.float32)
    np.clip(np.subtract(1.0, np.divide(keep, divisor, out=keep), out=keep), 0, 1, out=keep)
    return keep, divisor


def _keep_of(claimed: np.ndarray, own: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """``keep`` of :func:`_kept` for any frames ``a:b``, as :meth:`_Region.masks` asks."""
    return lambda a, b: _kept(claimed, own, a, b)[0]


class _Region:
    """The song's region an estimate covers, as the separator hears it: the analysis signal,
    peak-normalised as the engine's, cut into the segments the engine runs with its default
    length, so that masks made here are made (and crossfaded) as the first ones were. Each
    segment is normalised as it is heard (:meth:`heard`): no normalised copy of the whole
    region is kept beside the song's analysis signal (a long song's is large)."""

    def __init__(self, song: Song, estimate: Estimate, device: torch.device) -> None:
        self.length, self.hops, self.device = estimate.length, estimate.hops_per_window, device
        self.signal = analysis_signal(song)[estimate.start : estimate.start + estimate.length]
        self.peak = max(float(self.signal.max()), -float(self.signal.min()), 1e-12)
        self.segments = run_segments(
            self.length, list(estimate.masks), self.hops, RunConfig.segment_seconds
        )

    def heard(self, segment: Segment) -> torch.Tensor:
        """``segment`` of the region peak-normalised, ``[1, segment.length]`` on the device."""
        part = self.signal[segment.start : segment.end] / self.peak
        return torch.from_numpy(part).to(self.device).reshape(1, -1)

    def frames(self, n: int) -> int:
        """The frames of the grid of FFT size ``n`` over the region."""
        return 1 + self.length // (n // self.hops)

    def masks(
        self,
        backend: LearnedBackend,
        n: int,
        keep: Callable[[int, int], np.ndarray] | None = None,
        queries: torch.Tensor | None = None,
    ) -> Look[list[np.ndarray]]:
        """The separator's masks ``(bins, frames)`` on the grid of FFT size ``n`` for the
        region, or for the region masked by ``keep`` (frames ``a`` to ``b`` of an array on
        that grid, ``keep(a, b)``): one for the backend's own query, or one per row of the
        standardised ``queries`` ``[k, dim]``, all in one pass of the network. Made segment
        by segment and stitched as they come (the memory does not grow with the segments), with
        a point to pause or stop at after each (``segments.pause_or_stop``)."""
        rows = 1 if queries is None else len(queries)  # each its own array: one may be let go
        stitched = [FrameStitch(self.segments, n // self.hops, self.frames(n)) for _ in range(rows)]
        for segment in self.segments:
            heard = self.heard(segment)
            spectrum = stft(heard, n, self.hops)
            if keep is not None:
                first = segment.start // (n // self.hops)
                heard = self._masked(spectrum, segment, keep(first, first + spectrum.shape[-1]))
            latent = backend.init_latent(heard, seed=0)  # the backend hears the segment here
            latent = latent if queries is None else queries
            made = backend.masks(latent, {n: spectrum})[n].cpu().numpy()
            for stitch, mask in zip(stitched, made, strict=True):
                stitch.add(segment, mask)
            yield from pause_or_stop()
        return [stitch.result() for stitch in stitched]

    def _masked(self, spectrum: torch.Tensor, segment: Segment, part: np.ndarray) -> torch.Tensor:
        """``segment``'s ``spectrum`` through ``part``, its frames of an array on the region's
        grid of the same FFT size, as a signal ``[1, segment.length]``."""
        n = 2 * (spectrum.shape[-2] - 1)
        part_t = torch.from_numpy(np.ascontiguousarray(part)).to(spectrum.device)
        return istft(spectrum * part_t, n, segment.length, self.hops)

    @torch.no_grad()
    def separated(self, estimate: Estimate) -> np.ndarray:
        """The region masked by ``estimate``'s masks (the mean over its FFT sizes), mono at the
        analysis rate and peak-normalised like the region: what a run's ``separated`` is. Made
        segment by segment and stitched as they come (a long song's signal is large)."""
        stitched = AudioStitch(self.length)
        for segment in self.segments:
            piece = self.heard(segment)
            signals = []
            for n, mask in estimate.masks.items():
                spectrum = stft(piece, n, self.hops)
                first = segment.start // (n // self.hops)
                part = mask[:, first : first + spectrum.shape[-1]]
                signals.append(self._masked(spectrum, segment, part)[0])
            stitched.add(segment, torch.stack(signals).mean(dim=0).cpu().numpy())
        return stitched.result()


class LookBeside:
    """A single stem's second look (module docstring) beside helper stems: instruments asked
    for by their prototypes only to be taken away from the song, whose own stems are dropped.
    :meth:`helpers` makes the helpers' first looks, :meth:`stem` the stem's second look."""

    def __init__(self, song: Song, estimate: Estimate, cache: ModelCache) -> None:
        if not is_learned_mask(estimate):
            raise ValueError("only a mask of the learned separator, with its query, is "
                             "looked at again")  # fmt: skip
        self.estimate = estimate
        self.net, self.prototypes = load_shipped(cache)
        self._region = _Region(song, estimate, self.net.query_mean.device)

    def unlike(self, helpers: Sequence[str]) -> tuple[str, ...]:
        """``helpers`` but the one the stem's query is nearest to (the nearest prototype names
        it: a bass or a contrabass, drums): an example of a bass is not taken away from itself."""
        query = torch.from_numpy(self.estimate.query)  # type: ignore[arg-type]
        nearest = nearest_prototype(query, self.net, self.prototypes)
        return tuple(helper for helper in helpers if helper not in nearest)

    @torch.no_grad()
    def helpers(self, names: Sequence[str]) -> Look[dict[str, Estimate]]:
        """The helpers' first looks, each asked for by its prototype, on the stem's grid: one
        pass of the network for all of them."""
        net = self.net
        queries = torch.stack([self.prototypes[name] for name in names]).to(net.query_mean.device)
        latents = (queries - net.query_mean) / net.query_std
        backend = LearnedBackend(net, latents[0], SETTINGS)
        masks = {}
        for n in self.estimate.masks:
            masks[n] = yield from self._region.masks(backend, n, queries=latents)
        return {
            name: replace(self.estimate, masks={n: masks[n][i] for n in masks},
                          query=queries[i].cpu().numpy())
            for i, name in enumerate(names)
        }  # fmt: skip

    def stem(self, claimed: dict[int, np.ndarray]) -> Look[tuple[Estimate, np.ndarray]]:
        """The stem's second look beside the helpers and its separated signal (as a run's
        ``separated``): the mean of its first mask (shared with the helpers') and of its mask
        in the song without them. ``claimed`` is what the stem and the helpers claim in all
        (:func:`claimed_in_all` of the stem's first look and theirs, :meth:`helpers`, in that
        order); it is emptied once the mask is made, before the separated signal (a long
        song's are large). The helpers get no second look, and the stem does not share the
        song with them afterwards."""
        second = yield from _second(self.net, self._region, self.estimate, claimed)
        claimed.clear()
        return second, self._region.separated(second)


def looked_again(
    steps: RunGenerator, song: Song, helpers: tuple[str, ...], cache: ModelCache
) -> RunGenerator:
    """``steps``, a single run of the engine, its stem looked at again beside ``helpers``
    (``core.separation.job.helpers_for``, :class:`LookBeside`) once it has ended, but the one
    its query is nearest to (:meth:`LookBeside.unlike`). The engine's protocol holds
    throughout: the look yields :class:`LookingAgain` before the helpers' pass of the
    separator and ``None`` before the stem's own and after each segment of either (see the
    module docstring), holds while paused, and a STOP keeps the first look, as does a look
    that fails (``RunResult.second_look_failed`` says why)."""
    result = yield from steps
    first = result.estimate
    if not helpers or result.stopped or first is None or not is_learned_mask(first):
        return result
    try:
        look = LookBeside(song, first, cache)
        helpers = look.unlike(helpers)
    except Exception as exc:  # as below
        return replace(result, second_look_failed=why_failed(exc))
    if not helpers:
        return result
    claimed: dict[int, np.ndarray] = {}  # by the stem and the helpers: their masks let go
    for helpers_pass in (True, False):  # the helpers' pass, then the stem's own
        stage = LookingAgain(helpers) if helpers_pass else None
        command = yield from hold_while_paused((yield stage))
        if is_stop(command):
            return result
        try:
            if helpers_pass:
                helper, *others = (yield from look.helpers(helpers)).values()
                # in the first helper's masks, no new array: its mask + the stem's is the
                # stem's + its to the bit, so the sums are those of the stem's and theirs
                claimed = claimed_in_all([helper, first, *others], in_place=True)
                del helper, others  # the other masks are let go
            else:
                estimate, separated = yield from look.stem(claimed)
        except PassStopped:
            return result
        except Exception as exc:  # out of memory, say: the first look is not lost with it
            return replace(result, second_look_failed=why_failed(exc))
    return replace(result, estimate=estimate, separated=separated, helpers=helpers)


def why_failed(exc: Exception) -> str:
    """What a failed second look says, in brief (the first look is kept). Its traceback goes to
    the log at INFO (the window's log file), not to a terminal: the front ends say it in one
    line."""
    log.info("the second look failed; the first look is kept", exc_info=exc)
    return reason_in_brief(exc)
