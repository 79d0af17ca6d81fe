"""Views and the transport panel: real signals, real mouse events, values on screen."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QThreadPool
from PySide6.QtGui import QFontMetricsF, QImage, QMouseEvent, QPainter
from PySide6.QtWidgets import QAbstractSlider, QApplication

from tagbox_gui.core.audio.song import Song
from tagbox_gui.core.types import Region
from tagbox_gui.gui.playback import Player
from tagbox_gui.gui.widgets import (
    LossPlotView,
    MaskView,
    SpectrogramView,
    TagMetersView,
    TransportPanel,
    WaveformView,
    compute_spectrogram,
    peak_envelope,
)
from tagbox_gui.gui.widgets.spectrogram_view import FLOOR_DB, LogFrequencyAxis, bar_ticks
from tagbox_gui.gui.widgets.transport import format_time
from tests.gui.fake_engine import FakeSoundDevice, FakeStream


def make_song(seconds: float = 4.0, rate: int = 22_050, channels: int = 2) -> Song:
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t) * np.minimum(1.0, t)  # fades in over 1 s
    data = np.repeat(tone[:, None], channels, axis=1).astype(np.float32)
    data[:, -1] *= 0.5
    return Song(Path("tone.wav"), "tone", data, rate, "FLOAT", "WAV")


def shown(qtbot, widget, width: int = 800, height: int = 300):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def viewport_point(view: WaveformView, seconds: float) -> QPoint:
    """Widget pixel of ``seconds`` (at y = 0) in the waveform's plot."""
    box = view.plot_item.getViewBox()
    scene = box.mapViewToScene(QPointF(seconds, 0.0))
    return view.plot_widget.mapFromScene(scene)


def send_drag(widget, start: QPoint, end: QPoint, steps: int = 8) -> None:
    """A left-button drag with the button held during the moves (QTest cannot hold it)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mods = Qt.KeyboardModifier.NoModifier

    def send(kind, pos: QPoint, button, buttons) -> None:
        global_pos = QPointF(widget.mapToGlobal(pos))
        event = QMouseEvent(kind, QPointF(pos), global_pos, button, buttons, mods)
        QApplication.sendEvent(widget, event)

    send(QEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        pos = start + (end - start) * (i / steps)
        send(QEvent.Type.MouseMove, pos, none, left)
    send(QEvent.Type.MouseButtonRelease, end, left, none)


# ----- waveform ------------------------------------------------------------------------------
def test_peak_envelope_keeps_extremes_per_bucket() -> None:
    data = np.zeros((1000, 2), dtype=np.float32)
    data[10, 0], data[995, 1] = 0.9, -0.7
    x, y = peak_envelope(data, 100, max_buckets=100)  # 10 samples per bucket
    assert x.shape == y.shape == (200,)
    assert np.all(np.diff(x) > 0)
    np.testing.assert_allclose(y[2:4], [0.0, 0.9])  # bucket 1 holds sample 10
    np.testing.assert_allclose(y[-2:], [-0.7, 0.0])  # the last bucket holds sample 995
    assert x[2] == pytest.approx(0.1) and x[-2] == pytest.approx(9.9)
    x, y = peak_envelope(data[:995], 100, max_buckets=100)  # a short last bucket
    assert y.shape == (200,) and y.max() == pytest.approx(0.9)


def test_waveform_shows_song_and_limits_zoom(qtbot) -> None:
    view = shown(qtbot, WaveformView())
    song = make_song()
    view.set_song(song)
    _, y = view._curve.getOriginalDataset()
    assert float(np.max(y)) == pytest.approx(float(song.data.max()), abs=1e-6)
    assert float(np.min(y)) == pytest.approx(float(song.data.min()), abs=1e-6)
    assert view.duration == pytest.approx(4.0)
    box = view.plot_item.getViewBox()
    box.setXRange(-10.0, 20.0, padding=0.0)
    low, high = box.viewRange()[0]
    assert low >= 0.0 and high <= 4.0 + 1e-9
    assert view.region() is None


def test_waveform_draws_few_points_for_a_long_song(qtbot) -> None:
    view = shown(qtbot, WaveformView(), 600, 200)
    rate = 44_100
    data = np.random.default_rng(0).uniform(-0.5, 0.5, (120 * rate, 1)).astype(np.float32)
    view.set_song(Song(Path("long.wav"), "long", data, rate, "FLOAT", "WAV"))
    view.grab()  # paint once
    stored = view._curve.getOriginalDataset()[0].size
    drawn = view._curve.getData()[0].size  # after clipping and peak downsampling
    assert view._curve.opts["autoDownsample"] and view._curve.opts["clipToView"]
    assert stored > 100_000 and drawn < stored / 10
    view.plot_item.getViewBox().setXRange(10.0, 11.0, padding=0.0)  # zoomed in: clipped
    view.grab()
    x = view._curve.getData()[0]
    assert x.size < stored / 10 and x[0] <= 10.0 and x[-1] >= 11.0


def test_waveform_region_set_and_dragged(qtbot) -> None:
    view = shown(qtbot, WaveformView())
    view.set_song(make_song())
    with qtbot.assertNotEmitted(view.region_changed):
        view.set_region(Region(1.0, 2.0))
    assert view.region() == Region(1.0, 2.0)
    view.set_region(Region(3.0, 99.0))  # clamped to the song
    assert view.region() == Region(3.0, 4.0)
    view.set_region(Region(1.0, 2.0))
    start, end = viewport_point(view, 1.5), viewport_point(view, 2.5)
    with qtbot.waitSignal(view.region_changed, timeout=2000) as blocker:
        send_drag(view.plot_widget.viewport(), start, end)
    moved = blocker.args[0]
    assert isinstance(moved, Region)
    assert moved.start == pytest.approx(2.0, abs=0.05)
    assert moved.duration == pytest.approx(1.0, abs=1e-6)
    assert view.region() == moved
    view.set_region(None)
    assert view.region() is None


def test_waveform_click_requests_a_seek(qtbot) -> None:
    view = shown(qtbot, WaveformView())
    view.set_song(make_song())
    point = viewport_point(view, 2.5)
    with qtbot.waitSignal(view.seek_requested, timeout=2000) as blocker:
        qtbot.mouseClick(view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=point)
    pixel = 4.0 / view.plot_item.getViewBox().width()
    assert blocker.args[0] == pytest.approx(2.5, abs=2 * pixel)
    view.set_playhead(1.25)
    assert view.playhead() == pytest.approx(1.25)


# ----- spectrogram ---------------------------------------------------------------------------
def test_spectrogram_finds_the_tone_on_a_log_axis() -> None:
    song = make_song(seconds=2.0)
    spec = compute_spectrogram(song.data, song.rate)
    bins, frames = spec.image.shape
    assert bins == 256
    assert spec.image.max() == pytest.approx(0.0, abs=1e-4)  # dB re the loudest cell
    assert spec.duration == pytest.approx(2.0, abs=2 * spec.seconds_per_frame)
    edges = np.geomspace(30.0, song.rate / 2, 257)
    loudest = int(np.argmax(spec.image[:, frames // 2]))
    assert edges[loudest] <= 1000.0 * 1.03 and edges[loudest + 1] >= 1000.0 / 1.03
    # far from the tone the level is low: 100 Hz is > 60 dB below it
    assert spec.image[int(np.searchsorted(edges, 100.0)), frames // 2] < -60


def test_spectrogram_columns_stay_bounded_for_long_songs() -> None:
    data = np.zeros((600 * 8000, 1), dtype=np.float32)  # 10 minutes at 8 kHz
    data[::7] = 0.1
    spec = compute_spectrogram(data, 8000, max_frames=1000)
    assert spec.image.shape[1] <= 1001
    assert np.isfinite(spec.image).all()
    assert spec.fmax == 4000.0


def test_a_silent_song_has_a_spectrogram_at_the_floor() -> None:
    spec = compute_spectrogram(np.zeros((3 * 8000, 2), dtype=np.float32), 8000)
    assert spec.image.max() <= FLOOR_DB  # dark, not all of it at 0 dB (the loudest colour)


def test_spectrogram_view_computes_in_background_and_links_x(qtbot) -> None:
    waveform = shown(qtbot, WaveformView())
    view = shown(qtbot, SpectrogramView())
    view.link_x(waveform)
    first, second = make_song(seconds=3.0), make_song(seconds=2.0)
    waveform.set_song(second)
    with qtbot.waitSignal(view.spectrogram_shown, timeout=10_000):
        view.set_song(first)
        view.set_song(second)  # the first result is stale: never shown
    QThreadPool.globalInstance().waitForDone(10_000)
    qtbot.wait(50)
    assert view.spectrogram is not None
    assert view.spectrogram.duration == pytest.approx(2.0, abs=0.1)
    assert view._image.levels is not None
    np.testing.assert_allclose(view._image.levels, [FLOOR_DB, 0.0])
    waveform.plot_item.getViewBox().setXRange(0.5, 1.0, padding=0.0)
    low, high = view.plot_item.getViewBox().viewRange()[0]
    assert (low, high) == pytest.approx((0.5, 1.0), abs=0.01)
    view.set_playhead(0.7)
    assert view._playhead.value() == pytest.approx(0.7)


def test_a_spectrogram_that_fails_says_so_and_the_next_song_still_shows(
    qtbot, monkeypatch, caplog
) -> None:
    """Out of memory (or a bad decode) in the worker: a message in the view and the log, not
    an empty view; a stale failure is not shown over a newer song, and a later song works."""
    from tagbox_gui.gui.widgets import spectrogram_view

    real = spectrogram_view.compute_spectrogram

    def fails_on_long_songs(data, rate):
        if len(data) > 2.5 * rate:
            raise MemoryError
        if len(data) > 1.5 * rate:
            raise ValueError("a corrupt decode")
        return real(data, rate)

    monkeypatch.setattr(spectrogram_view, "compute_spectrogram", fails_on_long_songs)
    view = shown(qtbot, SpectrogramView())
    with qtbot.waitSignal(view.spectrogram_failed, timeout=10_000) as blocker:
        view.set_song(make_song(seconds=3.0))
    text = "No spectrogram: there was not enough memory to compute it."
    assert blocker.args == [text]
    assert view.message.isVisible() and view.message.text() == text
    assert view.spectrogram is None
    assert "cannot compute the spectrogram" in caplog.text and "MemoryError" in caplog.text
    with qtbot.waitSignal(view.spectrogram_failed, timeout=10_000) as blocker:
        view.set_song(make_song(seconds=2.0))
        assert not view.message.isVisible()  # not the old song's message meanwhile
    assert blocker.args == ["No spectrogram: computing it failed (ValueError: a corrupt decode)."]
    with qtbot.waitSignal(view.spectrogram_shown, timeout=10_000):
        view.set_song(make_song(seconds=3.0))  # fails, but a newer song is set before
        view.set_song(make_song(seconds=1.0))
    QThreadPool.globalInstance().waitForDone(10_000)
    qtbot.wait(50)
    assert not view.message.isVisible()
    assert view.spectrogram.duration == pytest.approx(1.0, abs=0.1)


# ----- loss plot -----------------------------------------------------------------------------
def test_loss_plot_stores_then_draws_on_refresh(qtbot) -> None:
    view = shown(qtbot, LossPlotView())
    assert not view.plot_item.getAxis("left").autoSIPrefix  # a loss of 0.55 reads 0.55
    assert view._legend.columnCount == 3  # a short plot: the legend goes across
    keys = ["fcn_mtat_2048", "fcn_mtat_1024"]
    view.reset(keys)
    assert view.keys == ("total", *keys)
    assert len(view._legend.items) == 3
    for step in range(1, 301):  # more than the initial capacity
        view.append(step, 1.0 / step, {keys[0]: 2.0 / step, keys[1]: 3.0 / step})
    assert view.curve_data("total")[0].size == 0  # nothing drawn before refresh
    assert view.empty.isVisible()  # no step drawn: a line says what will be, on a bare plot
    assert not view._legend.isVisible() and not view.plot_item.getAxis("left").style["showValues"]
    view.refresh()
    assert not view.empty.isVisible()
    assert view._legend.isVisible() and view.plot_item.getAxis("left").style["showValues"]
    x, y = view.curve_data("total")
    np.testing.assert_array_equal(x, np.arange(1, 301))
    np.testing.assert_allclose(y, 1.0 / np.arange(1, 301))
    np.testing.assert_allclose(view.curve_data(keys[1])[1], 3.0 / np.arange(1, 301))
    view.append(301, 0.5, {"crnn_mtat_512": 0.25})  # a key reset() did not know
    view.refresh()
    steps, values = view.series("crnn_mtat_512")
    assert steps.size == 301 and np.isnan(values[:300]).all() and values[300] == 0.25
    assert math.isnan(view.series(keys[0])[1][300])
    assert len(view._legend.items) == 4
    view.reset(["x"])
    assert view.count == 0 and view.keys == ("total", "x")
    assert len(view._legend.items) == 2
    assert view.empty.isVisible()


# ----- mask ----------------------------------------------------------------------------------
def test_mask_view_keeps_fixed_levels(qtbot) -> None:
    view = shown(qtbot, MaskView())
    # before the first mask: the frequency range, no "(x0.001)" scaling, no time values
    low, high = view.plot_item.getViewBox().viewRange()[1]
    assert (low, high) == pytest.approx((math.log10(30.0), math.log10(22_050.0)), abs=0.05)
    assert not view.plot_item.getAxis("left").autoSIPrefix
    assert not view.plot_item.getAxis("bottom").style["showValues"]
    mask = np.linspace(0.2, 0.4, 64 * 100, dtype=np.float32).reshape(64, 100)
    view.set_image(mask, Region(1.0, 3.0))
    np.testing.assert_array_equal(view.image, mask)
    np.testing.assert_allclose(view._image.levels, [0.0, 1.0])  # not auto-levelled to 0.2..0.4
    rect = view._image.mapRectToParent(view._image.boundingRect())
    assert (rect.left(), rect.width()) == pytest.approx((1.0, 2.0))
    # The rows span 30 Hz to the Nyquist frequency on the spectrogram's log10(Hz) axis.
    assert (rect.top(), rect.bottom()) == pytest.approx((math.log10(30.0), math.log10(22_050.0)))
    assert isinstance(view.plot_item.getAxis("left"), LogFrequencyAxis)
    assert view.plot_item.getAxis("bottom").style["showValues"]
    view.set_image(mask * 2)  # no region: frames on x
    rect = view._image.mapRectToParent(view._image.boundingRect())
    assert (rect.left(), rect.width()) == pytest.approx((0.0, 100.0))
    with pytest.raises(ValueError):
        view.set_image(np.zeros(10))


def test_frequency_labels_thin_out_on_a_short_axis(qtbot) -> None:
    axis = LogFrequencyAxis("left")
    low, high = math.log10(30.0), math.log10(22_050.0)
    tall = axis.tickValues(low, high, 400.0)[0][1]
    assert [round(10**v) for v in tall] == [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    short = axis.tickValues(low, high, 60.0)[0][1]  # 60 px for 2.9 decades
    assert [round(10**v) for v in short] == [100, 1000, 10000]  # the decades stay
    for size in (60.0, 90.0, 120.0, 160.0):
        ticks = axis.tickValues(low, high, size)[0][1]
        gaps = np.diff(ticks) * size / (high - low)
        assert gaps.min() >= LogFrequencyAxis.LABEL_GAP_PX  # no label on another
        assert axis.tickStrings(ticks, 1.0, 1.0)[-1] in ("10k", "20k")


def test_colour_bar_labels_thin_out_and_never_overlap(qtbot) -> None:
    """A colour bar shows pyqtgraph's labels when tall, fewer when short, none when not even
    its two ends fit: never one label on another."""
    assert bar_ticks((0.0, 1.0), 200.0, 14.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert bar_ticks((0.0, 1.0), 40.0, 14.0) == [0.0, 0.5, 1.0]
    assert bar_ticks((0.0, 1.0), 20.0, 14.0) == [0.0, 1.0]
    assert bar_ticks((0.0, 1.0), 10.0, 14.0) == []
    assert bar_ticks((FLOOR_DB, 0.0), 200.0, 14.0) == [-80.0, -60.0, -40.0, -20.0, 0.0]
    assert bar_ticks((FLOOR_DB, 0.0), 40.0, 14.0) == [-50.0, 0.0]
    view = shown(qtbot, MaskView(), 300, 300)
    view.set_image(np.full((64, 100), 0.5, np.float32), Region(0.0, 12.0))  # time axis below
    axis = view._bar.axis
    gap = QFontMetricsF(axis.font()).height()
    shown_labels = []
    for height in (300, 150, 100, 76):  # 76: the window's mask at 1024x600 during a job
        view.resize(300, height)
        # the plot lays its items out on the event loop: the bar ends above the time axis
        qtbot.waitUntil(lambda h=height: axis.geometry().bottom() < h - 30, timeout=1000)
        qtbot.wait(20)
        image = QImage(10, 10, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        texts = axis.generateDrawSpecs(painter)[2]  # what the axis draws: (rect, flags, text)
        painter.end()
        centres = sorted(rect.center().y() for rect, _flags, _text in texts)
        assert np.all(np.diff(centres) >= gap - 0.5), (height, [t for *_, t in texts])
        top = min(axis.mapRectToScene(rect).top() for rect, _flags, _text in texts)
        assert top >= 0.0  # the top level's label is whole, not cut by the plot's edge
        shown_labels.append([text for *_, text in texts])
    assert shown_labels[0] == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert len(shown_labels[-1]) < 6


# ----- tag meters ----------------------------------------------------------------------------
def test_tag_meters_show_both_probabilities(qtbot) -> None:
    view = shown(qtbot, TagMetersView(), 400, 150)
    assert view.empty.isVisible()  # no tags yet: a line says why, no empty headers
    view.set_tags(["piano", "guitar"])
    assert view.tags == ("piano", "guitar")
    assert not view.empty.isVisible()
    assert view.meter_text("piano") == ("–", "–")
    view.set_values({"piano": 0.873, "guitar": 1.4}, {"piano": 0.05})
    assert view.values()["piano"] == (0.873, 0.05)
    assert view.meter_text("piano") == ("0.87", "0.05")
    assert view.meter_text("guitar") == ("1.00", "–")  # clipped; missing residual
    _, sep, res = view._rows["piano"]
    assert (sep.value(), res.value()) == (873, 50)
    view.set_tags(["drums"])
    assert view.tags == ("drums",) and view.meter_text("drums") == ("–", "–")
    view.set_tags([])  # a run that asks no tagger
    assert view.tags == () and view.empty.isVisible()


# ----- transport -----------------------------------------------------------------------------
def pull(player: Player, frames: int) -> None:
    out = np.zeros((frames, 2), dtype=np.float32)
    player.callback(out, frames, None, None)


@pytest.fixture
def panel(qtbot) -> TransportPanel:
    player = Player(stream_factory=FakeStream)
    widget = shown(qtbot, TransportPanel(player), 900, 80)
    song = make_song()
    widget.load({"mix": song.data, "separated": song.data * 0.5}, song.rate)
    return widget


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0:00.0"), (13.04, "0:13.0"), (59.96, "1:00.0"), (119.97, "2:00.0"), (-1.0, "0:00.0")],
)
def test_times_round_to_the_tenth_without_a_sixtieth_second(seconds: float, text: str) -> None:
    assert format_time(seconds) == text


def test_transport_plays_and_reports_position(qtbot, panel: TransportPanel) -> None:
    player = panel.player
    assert panel.source_buttons["mix"].isChecked()
    assert panel.source_buttons["separated"].isEnabled()
    assert not panel.source_buttons["residual"].isEnabled()  # not loaded
    assert not panel.message_label.isVisible()
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert player.playing
    pull(player, 22_050)  # one second of audio went out
    with qtbot.waitSignal(panel.position_changed, timeout=1000) as blocker:
        pass
    assert blocker.args[0] == pytest.approx(1.0)
    assert panel.slider.value() == 1000
    assert panel.position_label.text() == "0:01.0 / 0:04.0"
    with qtbot.waitSignal(panel.source_changed) as blocker:
        qtbot.mouseClick(panel.source_buttons["separated"], Qt.MouseButton.LeftButton)
    assert blocker.args == ["separated"]
    assert player.source == "separated" and player.position == pytest.approx(1.0)
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert not player.playing


def test_transport_stops_at_the_end(qtbot, panel: TransportPanel) -> None:
    panel.seek(3.9)
    panel.toggle()
    pull(panel.player, 22_050)
    qtbot.waitUntil(lambda: panel.play_button.icon().cacheKey() == panel._play_icon.cacheKey())
    assert not panel.player.playing
    assert not panel.player._stream.active  # the device was released


def test_transport_seek_loop_and_slider(qtbot, panel: TransportPanel) -> None:
    with qtbot.waitSignal(panel.position_changed) as blocker:
        panel.seek(2.0)
    assert blocker.args == [pytest.approx(2.0)]
    assert not panel.loop_button.isEnabled()
    panel.set_loop_region(Region(0.5, 1.5))
    with qtbot.waitSignal(panel.loop_toggled) as blocker:
        qtbot.mouseClick(panel.loop_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [True]
    assert panel.player.loop == Region(0.5, 1.5)
    assert panel.player.position == pytest.approx(0.5)  # jumped into the loop
    panel.set_loop_region(Region(1.0, 2.0))  # moving the region moves the loop
    assert panel.player.loop == Region(1.0, 2.0)
    panel.load({"mix": np.zeros((22_050 * 4, 2), np.float32)}, 22_050)  # new material
    assert panel.player.loop == Region(1.0, 2.0)  # still looping
    panel.set_loop_region(None)
    assert not panel.loop_button.isChecked() and panel.player.loop is None
    panel.seek(0.5)
    panel.slider.triggerAction(QAbstractSlider.SliderAction.SliderPageStepAdd)
    assert panel.slider.value() == 4000  # 0.5 s + a 5 s page, capped at the end
    assert panel.player.position == pytest.approx(4.0, abs=1e-4)


def test_new_material_keeps_a_position_outside_the_loop(qtbot, panel: TransportPanel) -> None:
    """Looping, a seek past the loop plays from there; new material (the next step, a job's
    stems) keeps that moment instead of throwing it back into the loop."""
    panel.set_loop_region(Region(0.5, 1.5))
    panel.loop_button.setChecked(True)
    panel.seek(3.0)
    assert panel.player.position == pytest.approx(3.0)
    panel.load({"mix": np.zeros((22_050 * 4, 2), np.float32)}, 22_050)
    assert panel.player.position == pytest.approx(3.0)
    assert panel.player.loop == Region(0.5, 1.5)


def test_transport_without_audio_still_tracks_position(qtbot, monkeypatch) -> None:
    from tagbox_gui.gui import output_device

    monkeypatch.setattr(output_device, "_sd", FakeSoundDevice(channels=0))
    panel = shown(qtbot, TransportPanel(Player()), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    reason = "Playback is off because no audio output device was found. Press Play to try again."
    assert panel.message_label.isVisible() and panel.message_label.text() == reason
    assert panel.play_button.isEnabled() and panel.play_button.toolTip() == reason
    panel.toggle()
    assert not panel.player.playing and panel.message_label.text() == reason
    with qtbot.waitSignal(panel.position_changed) as blocker:
        panel.seek(3.0)
    assert blocker.args == [pytest.approx(3.0)]
    assert panel.position_label.text() == "0:03.0 / 0:04.0"


class BrokenDevice(Exception):
    """Stands in for sounddevice.PortAudioError."""


class StreamThatFails(FakeStream):
    """A stream whose device went away: starting it, or stopping and closing it, raises."""

    def start(self) -> None:
        raise BrokenDevice("Error starting stream: Unanticipated host error [PaErrorCode -9999]")


def test_an_output_that_cannot_open_says_why_once(qtbot) -> None:
    """A device that refuses to open: one clear message, no traceback, no dialog; each Play
    tries again and only keeps the message."""
    tries = []

    def refuse(rate, channels, callback):
        tries.append(rate)
        raise BrokenDevice("Invalid sample rate [PaErrorCode -9997]")

    panel = shown(qtbot, TransportPanel(Player(stream_factory=refuse)), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    reason = "Playback is off because the output refused: Invalid sample rate [PaErrorCode -9997]."
    shown_text = f"{reason} Press Play to try again."
    for attempt in (1, 2):
        qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
        assert len(tries) == attempt and not panel.player.playing
        assert panel.player.unavailable_reason == reason
        assert panel.message_label.isVisible() and panel.message_label.text() == shown_text
        assert panel.play_button.isEnabled() and panel.play_button.toolTip() == shown_text
        assert QApplication.activeModalWidget() is None


def test_play_tries_a_failed_output_again_and_the_message_goes(qtbot, monkeypatch) -> None:
    """Headphones plugged in after the output failed: the next Play plays, the message goes."""
    from tagbox_gui.gui import output_device

    sound = FakeSoundDevice(channels=0)
    monkeypatch.setattr(output_device, "_sd", sound)
    panel = shown(qtbot, TransportPanel(Player()), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert not panel.player.playing and panel.message_label.isVisible()
    sound.channels = 2
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert panel.player.playing and sound.streams[-1].active
    assert not panel.message_label.isVisible()
    assert panel.play_button.accessibleName() == "Pause"
    assert panel.play_button.toolTip() == "Play / pause (Space)"
    panel.player.close()


def test_an_output_device_that_fails_to_start_says_why(qtbot) -> None:
    """A PortAudio error on starting the stream is the message, not an exception."""
    panel = shown(qtbot, TransportPanel(Player(stream_factory=StreamThatFails)), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert not panel.player.playing
    assert panel.play_button.accessibleName() == "Play"
    text = panel.message_label.text()
    assert panel.message_label.isVisible() and panel.play_button.isEnabled()
    assert text.startswith("Playback is off because the output device failed: Error starting")
    assert text.endswith("[PaErrorCode -9999]. Press Play to try again.")
    panel.seek(1.0)  # the position is still kept
    assert panel.player.position == pytest.approx(1.0)
    panel.player.close()


def test_a_device_that_went_away_while_playing_can_still_be_paused(qtbot, panel) -> None:
    """Stopping or closing a stream whose device is gone raises in PortAudio: not here."""
    panel.toggle()
    stream = panel.player._stream

    def gone() -> None:
        raise BrokenDevice("Error stopping stream: Unanticipated host error")

    stream.stop = gone
    stream.close = gone
    panel.toggle()
    assert not panel.player.playing and panel.player._stream is None
    assert panel.play_button.isEnabled()
    panel.toggle()  # a new stream on the (new) default device
    assert panel.player.playing and panel.player._stream is not stream
    panel.player.close()


class AbortingStream(FakeStream):
    """Like sounddevice: a callback that raises aborts the stream (inactive, not stopped)."""

    stopped = True

    def start(self) -> None:
        assert self.stopped, "PortAudio cannot start a stream that is not stopped"
        self.active, self.stopped = True, False

    def stop(self) -> None:
        self.active, self.stopped = False, True

    def pull(self, frames: int) -> np.ndarray:
        try:
            return super().pull(frames)
        except Exception:
            self.active = False  # paAbort
            return np.zeros((frames, self.channels), dtype=np.float32)


def test_a_callback_that_raises_shows_playback_stopped(qtbot, monkeypatch) -> None:
    """The stream is aborted: the transport shows it stopped and plays again on a click."""
    from tagbox_gui.gui import playback

    panel = shown(qtbot, TransportPanel(Player(stream_factory=AbortingStream)), 900, 80)
    song = make_song()
    panel.load({"mix": song.data}, song.rate)
    panel.toggle()
    stream = panel.player._stream
    stream.pull(22_050)

    def broken(*args) -> None:
        raise RuntimeError("a bug in the callback")

    with monkeypatch.context() as patch:
        patch.setattr(playback, "render", broken)
        stream.pull(512)
    assert not stream.active
    qtbot.waitUntil(lambda: panel.play_button.accessibleName() == "Play", timeout=1000)
    assert not panel.player.playing and stream.closed  # a new stream is opened on Play
    assert panel.message_label.isVisible()
    assert panel.message_label.text() == (
        "Playback is off because the output stopped while playing. Press Play to try again."
    )
    qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    stream = panel.player._stream
    assert panel.player.playing and stream.active and not panel.message_label.isVisible()
    stream.pull(22_050)
    assert panel.player.position == pytest.approx(2.0)
    panel.player.close()


def test_space_toggles_playback_on_the_key_press_itself(qtbot, panel: TransportPanel) -> None:
    panel.activateWindow()  # window shortcuts reach the active window only
    qtbot.waitUntil(panel.isActiveWindow, timeout=2000)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert panel.player.playing  # no wait: a button shortcut would only click ~100 ms later
    assert panel.play_button.icon().cacheKey() == panel._pause_icon.cacheKey()
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert not panel.player.playing
    panel.play_button.setEnabled(False)  # as without an audio device
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert not panel.player.playing


def test_holding_space_down_toggles_once(panel: TransportPanel) -> None:
    """The keyboard repeats a held key ~30 times a second: those repeats must not start and
    stop the playing over and over (tests cannot make Qt's repeats, so this asks the
    shortcut)."""
    assert not panel.space.autoRepeat()


def test_the_job_line_of_the_run_panel_renders_names_as_written(qtbot) -> None:
    """Every instrument of a job, with its mark, and no markup shown as text (a finished job
    has no name in bold, and a user's own name may hold "&" or "<")."""
    from PySide6.QtGui import QTextDocument

    from tagbox_gui.gui.widgets.run_panel import RunPanel

    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.started_job(["drums", "R&B <lead>"], 4, one_pass=True)  # two parts, two looks

    def rendered() -> str:
        assert panel.parts.textFormat() == Qt.TextFormat.RichText
        document = QTextDocument()
        document.setHtml(panel.parts.text())
        return document.toPlainText().replace("\xa0", " ")

    assert rendered() == "▸ drums   ○ R&B <lead>"
    panel.show_parts(1, 1)
    assert rendered() == "✓ drums   ▸ R&B <lead>"
    panel.show_refining(1, 3)  # both separated; the second look at the second one
    assert rendered() == "✓ drums   ✓ R&B <lead>" and panel.progress.value() == 3
    assert panel.status.text() == "Looking again at R&B <lead> without the others (2 of 2)…"
    assert panel.status.textFormat() == Qt.TextFormat.PlainText  # a name is never markup
    panel.show_looking_again("R&B <lead>", ("bass", "drums"))  # as a single run would
    assert panel.status.text() == "Looking again at R&B <lead> without the bass and the drums…"
    panel.show_parts(2, 2, finished=2)
    assert rendered() == "✓ drums   ✓ R&B <lead>"
    panel.show_parts(1, 1, finished=1)  # stopped after the first
    assert rendered() == "✓ drums   ○ R&B <lead>"
    captions = panel._captions
    assert (captions["step"].text(), captions["per_step"].text()) == ("Passes", "Time/pass")
    panel.started_job(["drums", "bass"], 120, one_pass=False)  # steered: steps, not passes
    assert (captions["step"].text(), captions["per_step"].text()) == ("Steps", "Time/step")
    assert captions["step"].toolTip() == "Steps of all 2 instruments"
    panel.started(60, "Separating piano…")  # a single run has no tooltip of a job's
    assert captions["step"].text() == "Step" and captions["step"].toolTip() == ""


def test_the_eta_counts_down_during_a_long_step(monkeypatch) -> None:
    """A job's units can be whole passes of many seconds: the ETA goes down meanwhile instead
    of standing still beside the elapsed time, but never below the units still to come."""
    import tagbox_gui.gui.widgets.run_panel as run_panel

    now = [100.0]
    monkeypatch.setattr(run_panel.time, "monotonic", lambda: now[0])
    clock = run_panel.RunClock()
    clock.reset(4)
    now[0] += 10.0
    clock.tick(1)  # 10 s a pass: 30 s to go
    assert clock.eta == pytest.approx(30.0)
    now[0] += 4.0
    assert clock.eta == pytest.approx(26.0)
    now[0] += 20.0  # a pass far slower than the others: the two after it still take 20 s
    assert clock.eta == pytest.approx(20.0)
    clock.pause(True)
    now[0] += 60.0
    assert clock.eta == pytest.approx(20.0)
