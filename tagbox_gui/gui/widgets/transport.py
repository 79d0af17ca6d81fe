"""Play / pause, A/B source choice, loop, and the play position (polled, ~30 Hz, while
there is something to poll: playing, or audio converted for the output).

Positions are in seconds of the song, as on the waveform's playhead, also while the loaded
material is only a stretch of it (a run's region): the slider then spans that stretch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QButtonGroup,
    QComboBox,
    QLabel,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.core.types import Region
from tagbox_gui.gui.playback import Player
from tagbox_gui.gui.widgets.flow_layout import FlowLayout, group
from tagbox_gui.gui.widgets.icons import media_icon
from tagbox_gui.gui.widgets.seek_slider import SeekSlider
from tagbox_gui.gui.widgets.shortcuts import OPEN, PLAY, shown
from tagbox_gui.gui.widgets.toggle_look import show_checked_clearly
from tagbox_gui.gui.widgets.transport_keys import NUDGE_S, PositionKeys

SOURCES = (("mix", "&Mix"), ("separated", "Se&parated"), ("residual", "Res&idual"))
POLL_MS = 33  # ~30 Hz: smooth for the eye, negligible for the CPU
RETRY_HINT = "Press Play to try again."
SOURCE_TIP = "Listen to the {} (keeps the position)"
NO_RUN = "No run yet: a run brings the separated and the residual to compare with the mix."
RUNNING = "A run is going on: its separated and residual come with its first result."
NOTHING_KEPT = "The last run kept nothing to compare with the mix: run again."
KEYS_TIP = (
    f"Home: to the start (of the loop, while looping); comma, period: {NUDGE_S:g} s back, on."
)
NO_LOOP = "No region to loop: a single run's region loops while its audio is loaded."


def format_time(seconds: float) -> str:
    """``m:ss.s``, rounded to the tenth (59.96 s is 1:00.0, not 0:60.0)."""
    minutes, tenths = divmod(round(max(seconds, 0.0) * 10), 600)
    return f"{minutes}:{tenths // 10:02d}.{tenths % 10}"


def keyboard_focused_control(widget: QWidget | None) -> bool:
    """Whether ``widget`` is an enabled button or drop-down list its window's focus reached by
    the keyboard (Tab).

    Space presses such a button, or opens such a list, instead of playing: without it, no
    button of the window (an instrument, Run, a preset) could be pressed, nor a setting's list
    opened, without a mouse. A control focused by a click leaves Space to play / pause.
    """
    return (
        isinstance(widget, (QAbstractButton, QComboBox))
        and widget.isEnabled()
        and widget.window().testAttribute(Qt.WidgetAttribute.WA_KeyboardFocusChange)
    )


class TransportPanel(QWidget):
    """Controls a :class:`Player`; works (minus sound) when the player is unavailable.

    Signals: ``position_changed(float)`` (seconds of the song, on every change seen by the
    poll or a seek), ``source_changed(str)`` (``mix`` / ``separated`` / ``residual``),
    ``loop_toggled(bool)``, ``seeking(float)``: the user moves the position (the slider,
    Home, comma / period, Loop on jumping into its region) to that moment of the song, said
    before the move, so that other material for it can be loaded first (a run's audio back
    inside its region).
    """

    position_changed = Signal(float)
    seeking = Signal(float)
    source_changed = Signal(str)
    loop_toggled = Signal(bool)

    def __init__(self, player: Player, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.start = 0.0  # where the loaded material begins in the song (seconds)
        self._loop_region: Region | None = None  # in seconds of the song
        self._loop_wanted = False  # Loop was on when the region lost its audio: on again after
        self._chosen = ""  # the source last chosen: back as soon as it is loaded again
        self._missing = NO_RUN  # why the sources not loaded are not (their buttons' tooltip)
        self._last_position = -1.0
        self._shows_playing = False
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._sync_sources()

    # ----- building ----------------------------------------------------------------------
    def _build(self) -> None:
        self._play_icon = media_icon(self, QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = media_icon(self, QStyle.StandardPixmap.SP_MediaPause)
        self.play_button = QToolButton()
        self.play_button.setIcon(self._play_icon)
        self.play_button.setAccessibleName("Play")
        self.play_button.clicked.connect(self._on_play_button_clicked)
        # A QShortcut, not the button's own: a button shortcut animates a click and only
        # toggles ~100 ms later; this one toggles on the key press itself. It takes Space from
        # every widget but text fields; a button or list reached with Tab gets it back (below).
        self.space = QShortcut(QKeySequence(PLAY), self)
        self.space.setContext(Qt.ShortcutContext.WindowShortcut)
        self.space.setAutoRepeat(False)  # Space held down: one toggle, not one per repeat
        self.space.activated.connect(self._on_space_activated)
        self.keys = PositionKeys(self._on_home_key, self._on_nudge_key, self)  # see showEvent
        self.source_buttons: dict[str, QPushButton] = {}
        self._source_group = QButtonGroup(self)
        self._source_group.setExclusive(True)
        for name, text in SOURCES:
            button = QPushButton(text)
            button.setCheckable(True)
            show_checked_clearly(button)
            button.clicked.connect(lambda _=False, n=name: self._on_source_button_clicked(n))
            self._source_group.addButton(button)
            self.source_buttons[name] = button
        self.loop_button = QPushButton("Loop regio&n")
        self.loop_button.setCheckable(True)
        show_checked_clearly(self.loop_button)
        self.loop_button.setEnabled(False)
        self.loop_button.toggled.connect(self._on_loop_button_toggled)
        self.slider = SeekSlider(Qt.Orientation.Horizontal)  # a click on the groove seeks there
        self.slider.setSingleStep(1000)  # milliseconds: arrow keys move 1 s, page keys 5 s
        self.slider.setPageStep(5000)
        self.slider.setAccessibleName("Playback position")
        self.slider.chosen.connect(self._on_slider_chosen)  # seeks once a drag is let go
        self.slider.sliderMoved.connect(self._on_slider_moved)
        self.position_label = QLabel(format_time(0.0))
        self.position_label.setMinimumWidth(110)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #d08a2a;")
        self._show_available()
        self._lay_out()

    def _lay_out(self) -> None:
        row = FlowLayout()  # wraps on a narrow window rather than widening it
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(group(self.play_button, *self.source_buttons.values(), self.loop_button))
        row.addWidget(group(self.slider, self.position_label))  # the slider takes spare width
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 2, 4, 2)
        column.addLayout(row)
        column.addWidget(self.message_label)

    # ----- public ------------------------------------------------------------------------
    def load(
        self,
        sources: Mapping[str, np.ndarray],
        rate: int,
        layout: tuple[str, ...] | None = None,
        start: float = 0.0,
        missing: str = NO_RUN,
    ) -> None:
        """Load sources into the player and show them (buttons of absent sources disabled,
        ``missing`` saying why in their tooltip); ``layout``: their speakers, where known (see
        :meth:`Player.load`). The source chosen last plays again where it is among them.

        ``start`` is where the sources begin in the song (seconds): a run's region, or 0 for
        the whole song. The position stays on the same moment of the song (3 s into a region
        from 10 s is 13 s into the song, and back), clamped to the new material. Playing goes
        on with the new material (a run's first preview, a job's stems).
        """
        playing = self._wants_to_play()
        moment = self.position
        self.player.load(sources, rate, layout)
        if self._chosen in self.player.sources:  # back from the song's mix alone, say
            self.player.set_source(self._chosen)
        self.start, self._missing = start, missing
        self.player.seek(moment - start)
        if self.loop_button.isChecked():  # loading clears the player's loop: keep looping
            self._apply_loop(enter=False)
        if playing:  # loading stopped the output (its rate and channels may differ now)
            self.player.play()
        self._sync_sources()
        self._show_playing()
        self._show_available()
        self._show_position(force=True)
        self._poll_while_needed()

    def replace(self, name: str, data: np.ndarray) -> None:
        """Swap in new material for one source (e.g. the latest preview) without a gap."""
        self.player.replace(name, data)
        self._sync_sources()
        self._poll_while_needed()  # converted for the output in a worker: taken by the poll

    def set_loop_region(self, region: Region | None) -> None:
        """The region of the song the loop button loops over (applied at once when looping)."""
        self._loop_region = region
        self._sync_loop()
        if self.loop_button.isChecked():
            self._apply_loop()

    @property
    def position(self) -> float:
        """The play position in seconds of the song."""
        return self.start + self.player.position

    def toggle(self) -> None:
        """Play or pause; says why when the output cannot play."""
        self.player.toggle()
        self._show_playing()
        self._show_available()  # the device may have refused to open or start
        self._poll_while_needed()

    def seek(self, seconds: float) -> None:
        """Move the play position to ``seconds`` of the song (from a click on the waveform,
        say), clamped to the loaded material."""
        self.player.seek(seconds - self.start)
        self._show_position(force=True)

    def select_source(self, name: str) -> None:
        """Listen to ``name`` from the same position."""
        self.player.set_source(name)
        self._chosen = name
        self.source_buttons[name].setChecked(True)
        self.source_changed.emit(name)

    def showEvent(self, event: QShowEvent) -> None:  # Qt override
        super().showEvent(event)
        self.keys.watch(self.window())  # the window it is in is known by now

    # ----- slots -------------------------------------------------------------------------
    def _on_home_key(self) -> None:
        """Home: to the start of the loop while looping, else of the audio loaded."""
        loop = self.player.loop
        self._seek_chosen(self.start + (loop.start if loop is not None else 0.0))

    def _on_nudge_key(self, seconds: float) -> None:
        self._seek_chosen(self.position + seconds)

    def _seek_chosen(self, seconds: float) -> None:
        """The user moves the position to ``seconds`` of the song (see ``seeking``)."""
        self.seeking.emit(seconds)
        self.seek(seconds)

    def _on_play_button_clicked(self) -> None:
        self.toggle()

    def _on_space_activated(self) -> None:
        focus = QApplication.focusWidget()
        if keyboard_focused_control(focus):  # Space does there what it does on any desktop:
            if isinstance(focus, QComboBox):
                focus.showPopup()  # opens the list
            else:
                focus.click()  # presses the button
            return
        if self.play_button.isEnabled():  # no audio device: Space does nothing, like the button
            self.toggle()

    def _on_source_button_clicked(self, name: str) -> None:
        self._chosen = name  # the mix too where it is all there is: it stays once there is more
        if name != self.player.source:
            self.select_source(name)

    def _on_loop_button_toggled(self, on: bool) -> None:
        self._loop_wanted = on
        if on:
            before = self.position
            self._apply_loop()
            if self.position != before:  # jumped into the loop: a move, as Home's
                self._seek_chosen(self.position)
        else:
            self.player.set_loop(None)
        self.loop_toggled.emit(on)
        self._show_position()

    def _apply_loop(self, enter: bool = True) -> None:
        """Loop the player over the loop region, in seconds of its material; jumps into it
        when outside it, unless not to ``enter`` it."""
        self.player.set_loop(self._loop_in_material(), enter)

    def _loop_in_material(self) -> Region | None:
        """The loop region in seconds of the material loaded."""
        loop = self._loop_region
        return None if loop is None else Region(loop.start - self.start, loop.end - self.start)

    def _on_slider_chosen(self, value: int) -> None:
        self._seek_chosen(value / 1000.0)

    def _on_slider_moved(self, value: int) -> None:
        self.position_label.setText(self._time_text(value / 1000.0))

    def _on_timer_timeout(self) -> None:
        if self.player.poll():  # converted for the output's rate: the length may differ a bit
            self._sync_sources()
            self._show_available()
        if self._shows_playing != self._wants_to_play():
            if self._shows_playing:  # it reached the end, or the output failed: release it
                self.player.pause()
            self._show_playing()
            self._show_available()
        self._show_position()
        self._poll_while_needed()  # the last tick after the end or a pause shows it, then rests

    def _poll_while_needed(self) -> None:
        """Run the poll while the player has something to watch; idle, it costs nothing."""
        if self.player.needs_polling:
            if not self._timer.isActive():
                self._timer.start()
        elif self._timer.isActive():
            self._timer.stop()

    def say_why_missing(self, text: str) -> None:
        """Say ``text`` in the tooltips of the sources not loaded (why they are not)."""
        self._missing = text
        self._sync_sources()

    # ----- display -----------------------------------------------------------------------
    def _sync_sources(self) -> None:
        loaded = set(self.player.sources)
        for name, button in self.source_buttons.items():
            button.setEnabled(name in loaded)  # a disabled button's tooltip shows too
            button.setToolTip(SOURCE_TIP.format(name) if name in loaded
                              else self._missing)  # fmt: skip
        if self.player.source in self.source_buttons:
            self.source_buttons[self.player.source].setChecked(True)
        begin, end = self.start, self.start + self.player.duration
        with QSignalBlocker(self.slider):
            self.slider.setRange(round(begin * 1000), round(end * 1000))
        where = f"The audio loaded covers {format_time(begin)}–{format_time(end)} of the song."
        self.slider.setToolTip(f"{where} {KEYS_TIP}")
        self.position_label.setToolTip(where)
        self._sync_loop()

    def _sync_loop(self) -> None:
        """Loop is offered where the region holds audio to loop (a frame at least, of what is
        loaded); where it holds none, it is off, not on with nothing looping, and on again once
        it holds some (a run loads its audio before it gives its region)."""
        region, loop = self._loop_region, self._loop_in_material()
        loops = loop is not None and self.player.loop_frames(loop) is not None
        self.loop_button.setEnabled(loops)
        if region is None:
            self.loop_button.setToolTip(NO_LOOP)
        else:
            where = f"{format_time(region.start)}–{format_time(region.end)}"
            self.loop_button.setToolTip(
                f"Play the region {where} over and over" if loops else
                f"Nothing to loop: the region {where} holds no audio of what is loaded"
            )  # fmt: skip
        if region is None:
            self._loop_wanted = False  # no region (the song, a job): none to come back to
        if not loops and self.loop_button.isChecked():
            self.loop_button.setChecked(False)  # and the player plays through
            self._loop_wanted = region is not None
        elif loops and self._loop_wanted and not self.loop_button.isChecked():
            self.loop_button.setChecked(True)

    def _show_available(self) -> None:
        """The player's reason not to play, if any; Play stays enabled where it tries again."""
        reason = self.player.unavailable_reason
        can_try = self.player.can_try
        if reason and can_try:
            reason = f"{reason} {RETRY_HINT}"
        text = reason or self.player.note  # e.g. converting the audio for the output's rate
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))
        loaded = bool(self.player.sources)  # before a song: Play and the slider would do nothing
        self.play_button.setEnabled(can_try and loaded)
        self.play_button.setToolTip(
            reason
            or (f"Play / pause ({shown(PLAY)})" if loaded
                else f"Nothing to play yet: open a song ({shown(OPEN)}).")
        )  # fmt: skip
        self.slider.setEnabled(loaded)

    def _wants_to_play(self) -> bool:
        """Playing, or about to once the audio is converted for the output."""
        return self.player.playing or self.player.starting

    def _show_playing(self) -> None:
        self._shows_playing = self._wants_to_play()
        self.play_button.setIcon(self._pause_icon if self._shows_playing else self._play_icon)
        self.play_button.setAccessibleName("Pause" if self._shows_playing else "Play")

    def _show_position(self, force: bool = False) -> None:
        seconds = self.position
        if seconds == self._last_position and not force:
            return
        self._last_position = seconds
        if not self.slider.isSliderDown():  # do not yank the handle from the user's hand
            with QSignalBlocker(self.slider):
                self.slider.setValue(round(seconds * 1000))
            self.position_label.setText(self._time_text(seconds))
        self.position_changed.emit(seconds)

    def _time_text(self, seconds: float) -> str:
        """The position and where the loaded material ends, in seconds of the song."""
        return f"{format_time(seconds)} / {format_time(self.start + self.player.duration)}"
