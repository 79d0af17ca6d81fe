"""On-the-fly training mixtures drawn from a rendered corpus (numpy only, seeded).

Every example is a fresh mixture of 2-6 sources, each a random crop of one stem of a random
song, at most one stem per family, so that "the bass" of a mixture is one stem. Crops are
taken where the stem is active (every 1-s window it covers above -40 dBFS, by the stem's
``rms_db_per_second``, a crop resampled longer checked at its longest, or at least half of them
where no crop is wholly active); songs are remixed freely, without aligning their tempi. Each
source gets an RMS level of -28 dBFS ± 10 dB (uniform), the mixture is their sum, and if its
peak exceeds 1 the mixture, its target and the recorded gains are scaled down together.

The query asks for:

* ``single``: one source of the mixture (its family);
* ``pair``: the sum of two sources (family ``"a+b"``, names sorted);
* ``absent``: a family that is not in the mixture: the target is silence and ``targets``
  names a stem of that family from a song not used in the mixture, whose cached query the
  trainer looks up.

A share ``p_solo`` of the examples are **solo** (kind ``solo``): one stem alone, and its target
is the whole mixture. A musician may open a recording where the instrument plays alone, and
asked by its family's prototype the separator must then take all of it: without these
examples it treated many programs of a family (a violin, a cello, a harp, an electric piano)
as absent when they played alone (``benchmarks/prototype_reach.py``). The trainer asks for
them by prototype (``training.queries.QueryBank.choose``). Alone they teach the wrong lesson
(run v12s: a lone stem is then taken whatever it is asked for). Their counterpart is a share
``p_refuse`` of **refusal** examples (kind ``refuse``): one stem alone, asked for by the
prototype of another family, and the target is silence; ``targets`` names a stem of the
asked-for family from another song, as for an absent source. Together the two leave the query
as the only way to tell what to take; but then the solo examples taught no reach (run v12r),
so both are off by default.

A share ``p_song`` of the examples are instead **whole-song** crops (kind ``song``): the target
stem and other stems of its own song, cropped at the same instant, so the sources play in one
key, one tempo and one chord progression, as in any real song (and in the songs the separator
is asked about). Every other stem of the song is kept with probability :data:`SONG_KEEP` (at
least one), each with its own equaliser and level. Remixing across songs, the rest of the
examples, gives variety; whole-song crops teach what remixes lack: telling apart instruments
that share their pitches and onsets.

Families are drawn with the band families (piano, guitar, bass, drums, strings) twice as
likely as the others, both for the mixture and for the target.

Each source can also be coloured by a random equaliser (``eq_db`` > 0): a smooth gain curve
through ``augment.EQ_POINTS`` log-spaced frequencies, each drawn uniformly in ±``eq_db`` dB
(``augment.equalise``). The query stays that of the uncoloured stem, so the network learns that
one instrument sounds different from one sample library to another: the libraries it will be
asked about are not the ones it was trained on.

Each source can further be changed in timbre (``p_timbre``), in texture (``p_texture``) and by
a gap where it is silent (``p_gap``): :mod:`training.timbres` draws those changes. Again the
query stays that of the unchanged stem.

A share ``p_look`` of the single-source and whole-song examples are heard as the app's **second
look** hears a song (kind ``look``; ``augment.without_others``, ``core.separation.refine``): the
other sources taken away by an imperfect first look, so some of them stay and some of the
target goes with them. The target keeps only what the mixture keeps.

The common level leaves headroom: about one mixture in ten reaches a peak of 1 and is scaled
(median mixture RMS about -19 dBFS).

Speed (measured on the 2-core CPU, warm page cache, 76 songs of /work/corpus, the renderer
busy on the other core): a batch of 16 examples of 3 s takes 19 ms (median; 30 ms at the
90th percentile); opening 70 songs takes 0.04 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from training.augment import EQ_POINTS, Timbre, source_audio, without_others
from training.corpus import SAMPLE_RATE, list_songs
from training.families import BAND_FAMILIES
from training.stems import LEVEL_DB, Stem, StemRef, open_song
from training.timbres import TimbreDraws

T = TypeVar("T")

SPREAD_DB = 10.0
BAND_WEIGHT = 2.0
MIN_SOURCES, MAX_SOURCES = 2, 6
SONG_KEEP = 0.8  # whole-song examples: the chance that each other stem of the song is kept
LOOK_RECALL = (0.3, 1.0)  # second look: range of the share of the others that the first took
LOOK_LEAK = (0.0, 0.3)  # second look: range of the share of the target that it took with them


@dataclass(frozen=True)
class Placement:
    """A source of a mixture: ``gain * source_audio(stems[ref.index], start, n, eq, timbre)``."""

    ref: StemRef
    start: int
    gain: float
    eq: tuple[float, ...] = ()  # dB at EQ_POINTS, applied before the gain (() = none)
    timbre: Timbre = field(default_factory=Timbre)


@dataclass
class Example:
    """One training example: a mixture, what the query asks for, and that target signal."""

    mix: np.ndarray  # float32 [samples], 22050 Hz
    target: np.ndarray  # float32 [samples]: sum of the asked-for sources (zeros if absent)
    targets: tuple[StemRef, ...]  # the stems the query asks for (absent: of another song)
    family: str  # the family asked for ("+"-joined for pairs, e.g. "bass+drums")
    kind: str  # "single", "pair", "absent", "song" (a stem of a whole-song crop), "solo",
    # "refuse", "look" (a single or song example as the second look hears it)
    sources: tuple[Placement, ...] = ()  # every source of the mixture, as summed


class MixSampler:
    """Draws training examples from a rendered corpus (see the module docstring)."""

    def __init__(
        self,
        corpus: Path,
        songs: list[str] | None = None,
        seconds: float = 3.0,
        rng: np.random.Generator | None = None,
        p_pair: float = 0.1,
        p_absent: float = 0.1,
        eq_db: float = 0.0,
        p_song: float = 0.0,
        p_timbre: float = 0.0,
        p_solo: float = 0.0,
        p_refuse: float = 0.0,
        p_texture: float = 0.0,
        p_look: float = 0.0,
        p_gap: float = 0.0,
    ) -> None:
        """Open the songs (all finished songs by default) of ``corpus`` for sampling."""
        self.corpus = Path(corpus)
        self.n = round(seconds * SAMPLE_RATE)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.p_pair = p_pair
        self.p_absent = p_absent
        self.eq_db = eq_db
        self.p_song = p_song
        self.p_solo = p_solo
        self.p_refuse = p_refuse
        self.p_look = p_look
        self.changes = TimbreDraws(p_timbre, p_texture, p_gap)
        self.pools: dict[str, list[Stem]] = {}
        self.songs: dict[str, list[Stem]] = {}  # every stem of each song, by row
        for song in songs if songs is not None else list_songs(self.corpus):
            self._open(song)
        if len(self.pools) < MIN_SOURCES:
            have = ", ".join(sorted(self.pools)) or "none"
            raise ValueError(f"{corpus}: need stems of at least two families, have {have}")
        self.families = sorted(self.pools)

    def _open(self, song: str) -> None:
        """Add one song's usable stems to the family pools."""
        rows = open_song(self.corpus, song, self.changes.longest(self.n))
        for stem in rows:
            if len(stem.windows):
                self.pools.setdefault(stem.ref.family, []).append(stem)
        self.songs[song] = rows

    # ----------------------------------------------------------------------------------------

    def _any(self, items: list[T]) -> T:
        """One of ``items``, uniformly."""
        return items[int(self.rng.integers(len(items)))]

    def _weights(self, families: list[str]) -> np.ndarray:
        """Drawing weights: band families :data:`BAND_WEIGHT` times the others."""
        w = np.array([BAND_WEIGHT if f in BAND_FAMILIES else 1.0 for f in families])
        return w / w.sum()

    def _pick_families(self, families: list[str], k: int) -> list[str]:
        """``k`` distinct families, weighted."""
        picks = self.rng.choice(len(families), size=k, replace=False, p=self._weights(families))
        return [families[int(i)] for i in picks]

    def _draw_kind(self) -> str:
        """single, pair or absent, by their probabilities."""
        r = self.rng.random()
        if r < self.p_pair:
            return "pair"
        if r < self.p_pair + self.p_absent and len(self.families) > MIN_SOURCES:
            return "absent"
        return "single"

    def _start(self, stem: Stem, span: int | None = None) -> int:
        """The first sample of a random crop of ``span`` samples (default: ``n``) where the stem
        is active."""
        span = self.n if span is None else span
        w = int(stem.windows[self.rng.integers(len(stem.windows))])
        first = w * SAMPLE_RATE
        last = min(first + SAMPLE_RATE - 1, len(stem.data) - span)
        if last < first:  # a resampled crop longer than the stem allows from this window
            return max(0, len(stem.data) - span)
        return int(self.rng.integers(first, last + 1))

    def _source(self, stem: Stem, start: int | None = None,
                rate: float | None = None) -> tuple[Placement, np.ndarray]:  # fmt: skip
        """A crop, randomly equalised and changed in timbre, at a random level.

        Without ``start``: a random active crop, brought to a random RMS. From ``start`` (a
        whole-song example, resampled by the song's ``rate``): the stem's own level in its
        song is brought to a random RMS, so a crop where it is quiet or silent stays quiet or
        silent.
        """
        whole_song = start is not None
        timbre = self.changes.draw(self.rng, self.changes.rate(self.rng) if rate is None else rate)
        if start is None:
            start = self._start(stem, timbre.span(self.n))
        eq: tuple[float, ...] = ()
        if self.eq_db > 0:
            eq = tuple(float(g) for g in self.rng.uniform(-self.eq_db, self.eq_db, len(EQ_POINTS)))
        audio = source_audio(stem.data, start, self.n, eq, timbre)
        level = LEVEL_DB + self.rng.uniform(-SPREAD_DB, SPREAD_DB)
        if whole_song:
            gain = 10.0 ** ((level - stem.level_db) / 20.0)
        else:
            heard = 1.0 - (timbre.gap[1] - timbre.gap[0])  # the level where it plays
            rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)) / heard))
            gain = 10.0 ** (level / 20.0) / max(rms, 1e-5)
        return Placement(stem.ref, start, gain, eq, timbre), audio * np.float32(gain)

    def _absent_ref(self, family: str, songs: set[str]) -> StemRef:
        """A stem of ``family``, from a song that is not in the mixture when possible."""
        pool = self.pools[family]
        others = [s for s in pool if s.ref.song not in songs] or pool
        return self._any(others).ref

    def _sample_song(self) -> Example:
        """A whole-song example: one stem and others of its own song, cropped together."""
        family = self._pick_families(self.families, 1)[0]
        target_stem = self._any(self.pools[family])
        rate = self.changes.rate(self.rng)
        start = self._start(target_stem, Timbre(rate).span(self.n))
        others = [s for s in self.songs[target_stem.ref.song] if s is not target_stem]
        if not others:  # a song of one stem has no whole-song mixture
            return self._sample_remix()
        keep = [s for s in others if self.rng.random() < SONG_KEEP]
        if not keep:
            keep = [self._any(others)]
        placed = [self._source(s, start, rate) for s in [target_stem, *keep]]
        return self._finish("song", family, (target_stem.ref,), placed, placed[0][1].copy())

    def _finish(
        self,
        kind: str,
        family: str,
        targets: tuple[StemRef, ...],
        placed: list[tuple[Placement, np.ndarray]],
        target: np.ndarray,
    ) -> Example:
        """Sum the sources into the mixture, scaled with its target if it would clip."""
        placements = [p for p, _ in placed]
        mix = np.sum([audio for _, audio in placed], axis=0, dtype=np.float32)
        peak = float(np.max(np.abs(mix)))
        if peak > 1.0:
            scale = 1.0 / peak
            mix *= np.float32(scale)
            target *= np.float32(scale)
            placements = [replace(p, gain=p.gain * scale) for p in placements]
        return Example(mix, target, targets, family, kind, tuple(placements))

    def sample(self) -> Example:
        """Draw one example."""
        example = self._draw()
        looked = self.p_look > 0 and example.kind in ("single", "song")
        if looked and self.rng.random() < self.p_look:  # no draw without a share: as before
            recall, leak = self.rng.uniform(*LOOK_RECALL), self.rng.uniform(*LOOK_LEAK)
            mix, target = without_others(example.mix, example.target, recall, leak)
            return replace(example, mix=mix, target=target, kind="look")
        return example

    def _draw(self) -> Example:
        """One example of a kind drawn by the shares: whole-song, solo, refusal or remix."""
        if self.p_song > 0 and self.rng.random() < self.p_song:
            return self._sample_song()
        lone = self.p_solo + self.p_refuse
        if lone > 0:
            draw = self.rng.random()
            if draw < self.p_solo:
                return self._sample_solo()
            if draw < lone:
                return self._sample_refuse()
        return self._sample_remix()

    def _lone(self) -> list[tuple[Placement, np.ndarray]]:
        """One random stem of a random family, placed alone."""
        return [self._source(self._any(self.pools[self._pick_families(self.families, 1)[0]]))]

    def _sample_solo(self) -> Example:
        """A solo example: one stem alone, at a random level; the target is the mixture."""
        placed = self._lone()
        ref = placed[0][0].ref
        return self._finish("solo", ref.family, (ref,), placed, placed[0][1].copy())

    def _sample_refuse(self) -> Example:
        """A refusal: one stem alone, asked for as another family; the target is silence."""
        placed = self._lone()
        ref = placed[0][0].ref
        family = self._pick_families([f for f in self.families if f != ref.family], 1)[0]
        asked = self._absent_ref(family, {ref.song})
        return self._finish("refuse", family, (asked,), placed, np.zeros_like(placed[0][1]))

    def _sample_remix(self) -> Example:
        """An example remixed across songs: single, pair or absent."""
        kind = self._draw_kind()
        most = len(self.families) - (1 if kind == "absent" else 0)
        n_sources = int(self.rng.integers(MIN_SOURCES, min(MAX_SOURCES, most) + 1))
        families = self._pick_families(self.families, n_sources)
        placed = [self._source(self._any(self.pools[family])) for family in families]
        if kind == "absent":
            missing = [f for f in self.families if f not in families]
            family = self._pick_families(missing, 1)[0]
            targets = (self._absent_ref(family, {p.ref.song for p, _ in placed}),)
            target = np.zeros_like(placed[0][1])
        else:
            chosen = self._pick_families(families, 2 if kind == "pair" else 1)
            family = "+".join(sorted(chosen))
            idx = [families.index(f) for f in sorted(chosen)]
            targets = tuple(placed[i][0].ref for i in idx)
            target = np.sum([placed[i][1] for i in idx], axis=0, dtype=np.float32)
        return self._finish(kind, family, targets, placed, target)

    def batch(self, n: int) -> list[Example]:
        """Draw ``n`` examples."""
        return [self.sample() for _ in range(n)]
