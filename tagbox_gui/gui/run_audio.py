"""What the transport plays for the song and for a single run's step, and the playhead.

Before any run the transport plays the song itself; a single run's step plays as the run's
audio of its region (mix, separated, residual at the previews' rate), loaded when the run's
first step is shown and swapped in for later steps without a gap. A click on the waveform or
the spectrogram outside the region plays the song's mix there (the run's audio covers only
the region); back inside the region, by a click, the position slider or its keys, or a step
chosen, the run's audio plays again.
A job's stems are the job view's (``job_view``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from tagbox_gui.core.audio.output import speaker_layout
from tagbox_gui.gui.session import estimate_region

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song
    from tagbox_gui.core.separation.snapshots import Snapshot
    from tagbox_gui.gui.run_window import RunWindow
    from tagbox_gui.gui.session import RunSession

PREVIEW_RATE = 44_100  # the previews' rate (the analysis rate)


class RunAudio(QObject):
    """Loads the transport with the song or a run's step; seeks and shows the playhead."""

    def __init__(self, window: RunWindow) -> None:
        super().__init__(window)  # type: ignore[arg-type]
        self.w = window
        self._loaded: Snapshot | None = None  # the step whose audio the transport holds
        self._step: tuple[RunSession, Snapshot] | None = None  # the run's step shown
        self.outside = False  # the song's mix plays, chosen by a click outside the region
        self._outside_message = ""  # what the status bar said of it

    def forget(self) -> None:
        """A new run or song: the next step shown is loaded anew."""
        self._loaded, self._step, self.outside = None, None, False

    def show_song(self, song: Song) -> None:
        """Before any run: the transport plays the song itself (a new one waits for Play)."""
        transport = self.w.audition.transport
        transport.player.pause()
        layout = speaker_layout(song.channels, song.format, song.channel_mask)
        transport.load({"mix": song.data}, song.rate, layout)
        transport.seek(0.0)  # from its start, not from where the last song was
        transport.set_loop_region(None)

    def show_step(self, session: RunSession, snapshot: Snapshot, followed: bool = False) -> None:
        """Play the run's audio of ``snapshot`` from the same moment of the song; a step
        ``followed`` (the newest preview, the best one at the end) leaves the song's mix
        playing where a click outside the region chose it."""
        self._step = session, snapshot
        if not (followed and self.outside):
            self._play_step()

    def _play_step(self) -> None:
        assert self._step is not None
        session, snapshot = self._step
        transport = self.w.audition.transport
        region = estimate_region(snapshot.estimate)
        sources = session.sources(snapshot)
        loaded, outside = self._loaded, self.outside
        self.outside = False  # before loading, which shows the position (show_position)
        if loaded is None or loaded.estimate.length != snapshot.estimate.length:
            transport.load(sources, PREVIEW_RATE, start=region.start)
            transport.set_loop_region(region)
        else:
            transport.replace("separated", sources["separated"])
            transport.replace("residual", sources["residual"])
        status = self.w.statusBar()
        if outside and status.currentMessage() == self._outside_message:
            status.clearMessage()  # the song's mix plays no longer
        self._loaded = snapshot

    @Slot(float)
    def seek_song(self, seconds: float) -> None:
        """A click on the waveform or the spectrogram: play from there. Outside the audio
        loaded (a run's region) the song's mix plays there; inside the run's region again,
        the run's audio."""
        transport = self.w.audition.transport
        begin, end = transport.start, transport.start + transport.player.duration
        if not self.enter_region(seconds) and not begin <= seconds <= end:
            song = self.w.song
            if song is None:
                return
            layout = speaker_layout(song.channels, song.format, song.channel_mask)
            transport.load({"mix": song.data}, song.rate, layout, missing=(
                f"Outside the run's region ({begin:.1f}–{end:.1f} s) the song's mix plays: "
                "click inside the region to hear the separated and the residual again."
            ))  # fmt: skip
            self._loaded, self.outside = None, True
            self._outside_message = (
                f"The run's audio covers only {begin:.1f}–{end:.1f} s: playing the song's mix "
                "here. Click inside the region to hear the run again."
            )
            self.w.statusBar().showMessage(self._outside_message, 10_000)
        transport.seek(seconds)

    def enter_region(self, seconds: float) -> bool:
        """The position goes to ``seconds`` of the song (a click, or the transport's slider
        and keys, just before it seeks): whether that is back inside the run's region while
        the song's mix plays outside it, and the run's audio is loaded again for it."""
        region = estimate_region(self._step[1].estimate) if self._step is not None else None
        if self.outside and region is not None and region.start <= seconds <= region.end:
            self._play_step()
            return True
        return False

    @Slot(float)
    def show_position(self, seconds: float) -> None:
        """The transport's position (seconds of the song) on the waveform and spectrogram.

        Looping, the song's mix played from before the region runs on into the loop: there
        the run's audio plays, not the song's mix of the region over and over."""
        if self.outside and self.w.audition.transport.player.loop is not None:
            self.enter_region(seconds)
        self.w.song_panel.set_playhead(seconds)
