"""Views: real signals, real mouse events, values on screen (waveform, spectrogram, loss plot,
mask, tag meters)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QImage, QMouseEvent, QPainter
from PySide6.QtWidgets import QApplication

from tagbox_gui.core.audio.song import Song
from tagbox_gui.core.types import Region
from tagbox_gui.gui import background
from tagbox_gui.gui.widgets import (
    LossPlotView,
    MaskView,
    SpectrogramView,
    TagMetersView,
    WaveformView,
    compute_spectrogram,
    peak_envelope,
)
from tagbox_gui.gui.widgets.spectrogram_view import FLOOR_DB, LogFrequencyAxis, bar_ticks
from tests.gui.widget_helpers import make_song, shown


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
    qtbot.waitUntil(lambda: background.running() == 0, timeout=10_000)
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
    qtbot.waitUntil(lambda: background.running() == 0, timeout=10_000)
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


@pytest.mark.parametrize("size", [(340, 115), (800, 300)])  # as at 1280x720, and roomier
def test_the_loss_plots_legend_covers_no_curve(qtbot, size: tuple[int, int]) -> None:
    view = shown(qtbot, LossPlotView(), *size)
    keys = ["fcn_mtat_2048", "fcn_mtat_1024"]
    view.reset(keys)
    for step in range(1, 41):
        view.append(step, 1.0 / step, dict.fromkeys(keys, 1.0 / step))
    view.refresh()
    qtbot.wait(50)  # the layout settles
    legend = view._legend.sceneBoundingRect()
    box = view.plot_item.getViewBox().sceneBoundingRect()
    assert view._legend.isVisible() and legend.height() > 0
    assert not legend.intersects(box)  # outside the plotting area: no curve under it
    assert view.plot_widget.sceneRect().contains(legend)  # whole, inside the plot's canvas
    for _sample, label in view._legend.items:  # no entry drawn outside the legend's frame
        assert legend.contains(label.sceneBoundingRect())


def test_the_loss_plot_marks_whole_steps_only(qtbot) -> None:
    """Three steps in: the step axis says 1, 2, 3, never a step 1.5 that no run has."""
    view = shown(qtbot, LossPlotView(), 340, 115)
    view.reset(["fcn_mtat_2048"])
    for step in range(1, 4):
        view.append(step, 1.0 / step, {"fcn_mtat_2048": 1.0 / step})
    view.refresh()
    qtbot.wait(50)
    axis = view.plot_item.getAxis("bottom")
    low, high = view.plot_item.getViewBox().viewRange()[0]
    values = [v for _spacing, ticks in axis.tickValues(low, high, axis.width()) for v in ticks]
    assert {1.0, 2.0, 3.0} <= set(values)
    assert all(float(v).is_integer() for v in values), values


def test_the_loss_plot_shows_a_single_step(qtbot) -> None:
    """One step has no line to draw: its values are marked; from the second step on the curves
    and the legend's samples (as painted on screen) are lines alone, as in a run never seen at
    one step (no mark on every step of a long run)."""

    def on_screen(plot: LossPlotView, rect: QRect) -> QImage:  # as painted, not rendered anew
        return plot.screen().grabWindow(plot.winId(), *rect.getRect()).toImage()

    steady = shown(qtbot, LossPlotView(), 340, 115)  # the same steps, never one step alone
    view = shown(qtbot, LossPlotView(), 340, 115)
    for plot in (view, steady):
        plot.reset(["fcn_mtat_2048"])
        plot.append(1, 0.6, {"fcn_mtat_2048": 0.3})
    view.refresh()
    qtbot.wait(200)  # the layout settles, the window is painted
    box = view.plot_item.getViewBox()
    point = view.plot_widget.mapFromScene(box.mapViewToScene(QPointF(1.0, 0.6)))
    image = on_screen(view, view.rect())
    assert image.pixelColor(point).lightness() > 200  # the total (white) is there
    for plot in (view, steady):
        plot.append(2, 0.3, {"fcn_mtat_2048": 0.15})
        plot.refresh()
    qtbot.wait(100)
    assert all(curve.opts["symbol"] is None for curve in view._curves)
    legend = view.plot_widget.mapFromScene(view._legend.sceneBoundingRect()).boundingRect()
    assert on_screen(view, legend) == on_screen(steady, legend)


def test_the_loss_plot_leaves_an_isolated_outlier_out_of_its_range_and_says_so(qtbot) -> None:
    """One step far above all the others (step 1 at 1e6, the rest about 0.5) would squash the
    rest into a flat line: it is left out of the loss axis's range, marked at the top of the
    plot, and the axis says a step is cut. Ordinary curves (a long decay over more than two
    decades, a steady one) keep the whole range, as before, and a new run starts uncut."""
    view = shown(qtbot, LossPlotView(), 340, 115)
    box = view.plot_item.getViewBox()
    key = "fcn_mtat_1024"
    view.reset([key])
    view.append(1, 1e6, {key: 1e6})
    for step in range(2, 31):
        loss = 0.5 + 0.02 * math.sin(step)
        view.append(step, loss, {key: loss - 0.05})
    view.refresh()
    qtbot.wait(50)
    low, high = box.viewRange()[1]
    rest = view.series(key)[1][1:].min(), view.series("total")[1][1:].max()
    assert low <= rest[0] and rest[1] <= high  # every other step is in view
    assert (rest[1] - rest[0]) / (high - low) > 0.8  # and fills most of the plot's height
    assert view.cut_steps == (1,)
    x, y = view.cut_marks.getData()
    assert list(x) == [1] and low < y[0] <= high  # marked at the top, at step 1
    assert view.cut_marks.isVisible() and "cut" in view.plot_item.getAxis("left").labelText
    assert "Step 1 (1e+06) is above the plot" in view.plot_widget.accessibleDescription()

    for decay in ([1.0 / step for step in range(1, 301)],  # 2.5 decades, step by step
                  [0.5 + 1.5 * 0.9**step for step in range(1, 41)]):  # fmt: skip
        view.reset([key])
        for step, loss in enumerate(decay, start=1):
            view.append(step, loss, {key: loss})
        view.refresh()
        qtbot.wait(50)
        low, high = box.viewRange()[1]
        assert low <= min(decay) and max(decay) <= high  # the whole curve, as autorange has it
        assert high < 1.5 * max(decay)
        assert view.cut_steps == () and not view.cut_marks.isVisible()
        assert view.plot_item.getAxis("left").labelText == "loss"


def test_a_zoom_of_the_loss_plot_is_kept_as_steps_come_and_a_new_run_shows_all(qtbot) -> None:
    """The musician zooms into the loss axis (the mouse wheel, a drag): the next steps, cut
    or not, leave their range alone, and a new run shows its whole range again."""
    view = shown(qtbot, LossPlotView(), 340, 115)
    box = view.plot_item.getViewBox()
    key = "fcn_mtat_1024"
    for first in (1e6, 0.6):  # with step 1 cut, and without
        view.reset([key])
        view.append(1, first, {key: first})
        for step in range(2, 11):
            view.append(step, 0.5, {key: 0.45})
        view.refresh()
        box.setYRange(0.44, 0.46, padding=0)  # as a zoom of the mouse's leaves it
        box.sigRangeChangedManually.emit(box.state["mouseEnabled"])
        for step in range(11, 21):
            view.append(step, 0.5 - 0.001 * step, {key: 0.45})
            view.refresh()
        qtbot.wait(50)
        low, high = box.viewRange()[1]
        assert (low, high) == pytest.approx((0.44, 0.46)), first
    view.reset([key])
    for step in range(1, 11):
        view.append(step, 2.0 + step, {key: 1.0})
    view.refresh()
    qtbot.wait(50)
    low, high = box.viewRange()[1]
    assert low <= 1.0 and high >= 12.0  # the new run's whole range


# ----- mask ----------------------------------------------------------------------------------
def bar_labels(view: MaskView) -> list[tuple[QRectF, str]]:
    """The labels the mask's colour bar draws: each one's rectangle in the scene, its text."""
    axis = view._bar.axis
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    texts = axis.generateDrawSpecs(painter)[2]  # what the axis draws: (rect, flags, text)
    painter.end()
    return [(axis.mapRectToScene(rect), text) for rect, _flags, text in texts]


@pytest.mark.parametrize("size", [(222, 110), (300, 300)])  # as at 1280x720, and roomier
def test_the_mask_views_colour_bar_labels_are_whole_before_and_after_a_mask(qtbot, size) -> None:
    """Its lowest label (0) is not cut by the plot's bottom edge, with or without a time axis
    below the plot (none before the first mask), nor its highest by the top edge."""
    view = shown(qtbot, MaskView(), *size)
    for mask in (None, np.full((64, 100), 0.5, np.float32)):
        if mask is not None:
            view.set_image(mask, Region(0.0, 12.0))
        qtbot.wait(50)  # the plot lays its items out on the event loop
        texts = bar_labels(view)
        assert {"0", "1"} <= {text for _, text in texts}, texts  # both levels labelled
        edges = view.plot_widget.sceneRect()
        for rect, text in texts:
            assert edges.top() <= rect.top() and rect.bottom() <= edges.bottom(), (text, rect)


@pytest.mark.parametrize("size", [(222, 110), (500, 300)])  # as at 1280x720, and roomier
def test_the_empty_mask_view_says_what_will_be_drawn_there(qtbot, size) -> None:
    """Before the first mask (and after clear()) a line over the plot says what will come, as
    the empty loss plot does: whole, clear of the axes, in full where there is room."""
    from tagbox_gui.gui.widgets.mask_view import EMPTY_MASK_TEXTS

    view = MaskView()
    assert view.sizeHint().height() == view.plot_widget.sizeHint().height()  # the line asks none
    view = shown(qtbot, view, *size)
    qtbot.wait(50)  # the plot lays its items out on the event loop
    line = view.empty
    assert line.isVisible() and line.text() in EMPTY_MASK_TEXTS
    if size[0] >= 500:
        assert line.text() == EMPTY_MASK_TEXTS[0]
    area = line.contentsRect()
    flags = Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignCenter
    assert area.contains(line.fontMetrics().boundingRect(area, flags, line.text())), line.text()
    box = view.plot_item.getViewBox().sceneBoundingRect()
    assert view.plot_widget.mapFromScene(box).boundingRect().contains(area)  # clear of the axes
    assert EMPTY_MASK_TEXTS[0] in view.plot_widget.accessibleDescription()
    view.set_image(np.full((64, 100), 0.5, np.float32), Region(0.0, 12.0))
    assert not line.isVisible()
    assert EMPTY_MASK_TEXTS[0] not in view.plot_widget.accessibleDescription()
    view.clear()
    assert line.isVisible()
    assert EMPTY_MASK_TEXTS[0] in view.plot_widget.accessibleDescription()


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
        texts = bar_labels(view)
        centres = sorted(rect.center().y() for rect, _text in texts)
        assert np.all(np.diff(centres) >= gap - 0.5), (height, [t for _, t in texts])
        top = min(rect.top() for rect, _text in texts)
        assert top >= 0.0  # the top level's label is whole, not cut by the plot's edge
        shown_labels.append([text for _, text in texts])
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


def test_a_mask_box_is_named_in_the_frame_its_image_is_drawn(qtbot) -> None:
    """A job's part that ends names its mask at once while the image waits for the next frame,
    so a frame showed the stem before's mask under the new stem's name (a screenshot caught
    "Mask of bass" over the drums' mask); the box is named with the image now."""
    import numpy as np

    from tagbox_gui.gui.widgets.live_panel import LivePanel

    panel = LivePanel()
    qtbot.addWidget(panel)
    panel.show_mask(np.zeros((4, 4), dtype=np.float32), None)
    panel.name_mask("drums")
    qtbot.waitUntil(lambda: panel.mask_box.title() == "Mask of drums", timeout=2000)
    drawn = panel.frames
    panel.show_mask(np.ones((4, 4), dtype=np.float32), None)
    panel.name_mask("bass")
    assert panel.mask_box.title() == "Mask of drums"  # the drums' image is still the one shown
    qtbot.waitUntil(lambda: panel.frames > drawn, timeout=2000)
    assert panel.mask_box.title() == "Mask of bass"
    panel.name_mask("the rest")  # nothing waiting to be drawn: named at once
    assert panel.mask_box.title() == "Mask of the rest"
