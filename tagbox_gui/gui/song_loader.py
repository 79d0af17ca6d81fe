"""Opens songs off the GUI thread (``gui.background``): decoding, the analysis signal, the
loudest region, the waveform envelope, the peak. Only the newest request counts: superseded
and cancelled ones stop at their next step (a block of the decoding or of the analysis signal,
or between the slow steps), and their results and progress are dropped.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from tagbox_gui.core.audio.song import (
    Progress,
    Song,
    analysis_signal,
    load_song,
    loudest_region,
    stop_if_cancelled,
)
from tagbox_gui.core.types import Region
from tagbox_gui.gui.background import hand_back, receiver, run_in_background, throttled
from tagbox_gui.gui.widgets.song_panel import DEFAULT_REGION_SECONDS
from tagbox_gui.gui.widgets.waveform_view import peak_envelope

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 0.1  # seconds between a load's progress reports: the bar needs no more
DECODED, ANALYSED, REGION_FOUND = 0.4, 0.7, 0.9
"""The fraction of a load done once the song is decoded, its analysis signal made and its
loudest stretch found (their shares of the time, about, for a 48 kHz WAV, FLAC or MP3)."""


@dataclass(frozen=True)
class LoadedSong:
    """A song with everything the window shows or runs on, computed in the worker."""

    song: Song  # its analysis signal made too, so that a run starts at once
    region: Region  # the default region (the loudest stretch)
    envelope: tuple[np.ndarray, np.ndarray]  # the waveform's peak envelope (x, y)
    peak: float = 0.0  # the largest sample's magnitude (past 1: a PCM export clips)


def prepare_song(
    path: Path | str, cancel: threading.Event | None = None, progress: Progress | None = None
) -> LoadedSong:
    """Everything slow about opening a song (runs in a worker thread); ``LoadCancelled`` once
    ``cancel`` is set. ``progress`` is told the fraction done as it goes (up to
    :data:`REGION_FOUND`: the rest is quick)."""
    song = load_song(path, cancel, _between(progress, 0.0, DECODED))
    # made once per song (core.audio.song), off the GUI thread
    analysis_signal(song, cancel, _between(progress, DECODED, ANALYSED))
    stop_if_cancelled(cancel)
    data = np.asarray(song.data)
    region = loudest_region(song, DEFAULT_REGION_SECONDS)
    if progress is not None:
        progress(REGION_FOUND)
    return LoadedSong(
        song,
        region,
        peak_envelope(data, song.rate),
        float(np.max(np.abs(data))) if data.size else 0.0,  # a tenth of a second for 4 min
    )


def _between(progress: Progress | None, start: float, end: float) -> Progress | None:
    """``progress`` told of a step that takes the load from ``start`` to ``end`` done."""
    if progress is None:
        return None
    return lambda done: progress(start + (end - start) * done)


class SongLoader(QObject):
    """Loads songs in a worker thread.

    ``loaded(LoadedSong)``, ``failed(Exception)`` and ``progressed(float)`` (the fraction done,
    at most every :data:`PROGRESS_INTERVAL`) come from the newest :meth:`load` only;
    ``busy_changed(bool)`` says when loading starts and when the newest request is done.
    """

    loaded = Signal(object)
    failed = Signal(object)
    progressed = Signal(float)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._token = 0
        self._done = 0  # token of the newest request that has ended
        self._tokens: dict[Future[LoadedSong], int] = {}  # the requests under way
        self._cancels: dict[int, threading.Event] = {}  # token -> its request's cancel

    @property
    def busy(self) -> bool:
        return self._done != self._token

    def load(self, path: Path | str) -> int:
        """Start loading ``path`` (supersedes any load in progress); the request's token."""
        self._stop_loads()
        self._token += 1
        token = self._token
        if token == self._done + 1:  # was idle
            self.busy_changed.emit(True)
        cancel = self._cancels[token] = threading.Event()
        to = receiver(self._on_progress)
        progress = throttled(lambda done, _: hand_back(to, (token, done)), PROGRESS_INTERVAL)
        work = run_in_background(prepare_song, path, cancel, progress, then=self._on_prepared)
        self._tokens[work] = token
        return token

    def cancel(self) -> None:
        """Stop whatever is loading (its result, if it comes, is ignored)."""
        self._stop_loads()
        if self.busy:
            self._token += 1
            self._finish(self._token)

    def _stop_loads(self) -> None:
        """Tell the loads under way to stop: nobody will want their songs."""
        for cancel in self._cancels.values():
            cancel.set()

    def _finish(self, token: int) -> None:
        self._done = token
        self.busy_changed.emit(False)

    def _on_progress(self, report: tuple[int, float]) -> None:
        token, done = report
        if token == self._token:  # not a superseded or cancelled load's
            self.progressed.emit(done)

    def _on_prepared(self, done: Future[LoadedSong]) -> None:
        token = self._tokens.pop(done)
        self._cancels.pop(token)
        if token != self._token:
            log.info("dropped the result of superseded song load %d", token)
            return
        self._finish(token)
        try:
            loaded = done.result()
        except Exception as exc:  # UserError for a bad file; anything else is logged by the window
            self.failed.emit(exc)
        else:
            self.loaded.emit(loaded)
