"""The main window fits the screen (issue 14): it opens inside the available geometry, never
grows past it (a run, stems, long texts), keeps every run control reachable at 1280x720 and
every control of the song, listening and run at 1024x600 (its wide rows wrap), shows the empty
loss plot's line whole, and remembers its splitters. The screen is the window's
``available_geometry`` hook, except in the last test, which gives Qt's offscreen platform a real
1280x720 screen in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QScrollArea, QWidget

from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.widgets.loss_plot import EMPTY_TEXTS
from tests.gui.fake_engine import fake_player, write_song
from tests.gui.window_helpers import make_window, message_boxes, open_song, run_to_end

REPO = Path(__file__).resolve().parents[2]
SCREEN = QRect(0, 0, 1280, 720)
LONG_NAME = "A Very Long Song Title That Goes On And On - Extended Live Version (2024 Remaster)"


@pytest.fixture
def small_screen(monkeypatch) -> QRect:
    """Windows believe their screen's available geometry is 1280x720."""
    monkeypatch.setattr(MainWindow, "available_geometry", lambda self: QRect(SCREEN))
    return SCREEN


def fitted(qtbot, window: MainWindow, space: QRect = SCREEN) -> None:
    """Wait until the window's frame lies inside ``space`` (it is fitted once shown)."""
    qtbot.waitUntil(lambda: space.contains(window.frameGeometry()), timeout=2000)


def check_fits(qtbot, window: MainWindow, size, space: QRect = SCREEN) -> None:
    """The window still lies inside ``space``, at the same ``size``, and could not need more."""
    qtbot.wait(300)  # layout requests, and the resize they may cause (a few event loops on)
    frame = window.frameGeometry()
    assert space.contains(frame), f"frame {frame} outside {space}"
    assert window.size() == size, f"the window grew from {size} to {window.size()}"
    hint = window.minimumSizeHint()
    assert hint.width() <= space.width() and hint.height() <= space.height(), hint


def reachable(window: MainWindow, widget: QWidget) -> bool:
    """Visible, not squeezed, and inside the window, after its scroll area (if it is in one)
    has scrolled to it."""
    if not widget.isVisible() or widget.width() < widget.minimumSizeHint().width():
        return False
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    if parent is not None:
        parent.ensureWidgetVisible(widget, 0, 0)
        QApplication.processEvents()
        viewport = parent.viewport()
        if not viewport.rect().contains(QRect(widget.mapTo(viewport, QPoint()), widget.size())):
            return False
    return window.rect().contains(QRect(widget.mapTo(window, QPoint()), widget.size()))


def run_controls(window: MainWindow) -> list[QAbstractButton]:
    buttons = window.run_panel.findChildren(QAbstractButton)
    assert {window.run_panel.run, window.run_panel.pause, window.run_panel.stop} <= set(buttons)
    return [*buttons, window.export_button]


def test_window_opens_inside_the_available_geometry(qtbot, model_dir, settings, small_screen):
    window = make_window(qtbot, model_dir, settings)
    fitted(qtbot, window)
    frame = window.frameGeometry()
    assert frame.width() <= 1280 and frame.height() <= 720
    assert window.width() >= 1100  # it uses the screen rather than shrinking to a stamp
    window.controller.shutdown(5000)


def test_window_never_grows_during_a_run_with_stems_and_long_texts(
    qtbot, model_dir, settings, small_screen, tmp_path
):
    window = make_window(qtbot, model_dir, settings, delay=0.02)
    fitted(qtbot, window)
    size = window.size()
    song = write_song(tmp_path / f"{LONG_NAME}.wav", seconds=30.0, rate=48_000, channels=2)
    open_song(qtbot, window, song)
    check_fits(qtbot, window, size)
    assert window.song_panel.title.text() == LONG_NAME  # whole, though shown cut short
    assert window.song_panel.title.toolTip() == LONG_NAME
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(30)
    window.settings_panel.preview_every.setValue(3)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        assert window.run_view.start() is not None
        qtbot.waitUntil(lambda: window.stems.count() == 2, timeout=10_000)  # during the run
        check_fits(qtbot, window, size)
        assert all(reachable(window, button) for button in run_controls(window))
    qtbot.wait(100)
    check_fits(qtbot, window, size)
    window.statusBar().showMessage("A long status message that says a great deal. " * 12)
    window.run_panel.finished("A long run-panel message, on and on and on. " * 12)
    window.audition.memory.setText("History text that goes on for ever and ever. " * 12)
    check_fits(qtbot, window, size)
    window.controller.shutdown(5000)


def test_run_controls_and_export_are_reachable_at_1280x720(
    qtbot, model_dir, settings, small_screen, song_path
):
    window = make_window(qtbot, model_dir, settings)
    fitted(qtbot, window)
    size = window.size()
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    window.live.meters.set_tags([f"tag {i}" for i in range(12)])  # a tall column: it scrolls
    check_fits(qtbot, window, size)
    for control in run_controls(window):
        assert reachable(window, control), control.text()
    assert window.export_button.isEnabled()
    window.controller.shutdown(5000)


def test_the_stems_take_the_free_height_of_the_run_column(
    qtbot, model_dir, settings, small_screen, song_path
):
    """At 1280x720 the stem list fills what the run panel leaves, and a long stem name is
    shortened in the middle (its tooltip has it whole) rather than scrolled sideways."""
    window = make_window(qtbot, model_dir, settings)
    fitted(qtbot, window)
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    QApplication.processEvents()
    stems = window.stems
    assert stems.count() == 2
    assert stems.height() > 2 * stems.minimumHeight()  # not a fixed four rows
    column = stems.parentWidget().parentWidget()  # the group box, then the side column
    box = stems.parentWidget().geometry()
    assert column.height() - box.bottom() < 30  # no empty stretch below the stems
    assert stems.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert not stems.horizontalScrollBar().isVisible()
    for row in range(stems.count()):
        item = stems.item(row)
        assert item.toolTip().startswith(item.text() + "\n")
    window.controller.shutdown(5000)


NETBOOK = QRect(0, 0, 1024, 600)


def unclipped(window: MainWindow, widget: QWidget) -> bool:
    """:func:`reachable`, at least its minimum size both ways, and inside each of its parents
    (a row squeezed out of its panel, or cut off by it, is not)."""
    if not reachable(window, widget) or widget.height() < widget.minimumSizeHint().height():
        return False
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        if not parent.rect().contains(QRect(widget.mapTo(parent, QPoint()), widget.size())):
            return False
        parent = parent.parentWidget()
    return True


def test_a_1024x600_screen_fits_the_window_and_every_control(
    qtbot, model_dir, settings, monkeypatch, song_path
):
    """A small laptop's screen (or a window tiled to half a wide one): the window's least size
    leaves room for a frame, and the song's, listening and run controls stay whole, apart and
    on screen: wide rows wrap rather than widen the window."""
    monkeypatch.setattr(MainWindow, "available_geometry", lambda self: QRect(NETBOOK))
    window = make_window(qtbot, model_dir, settings)
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    fitted(qtbot, window, NETBOOK)
    qtbot.wait(100)
    least = window.minimumSizeHint()
    assert least.width() <= 1000 and least.height() <= 560, least  # a frame still fits
    check_fits(qtbot, window, window.size(), NETBOOK)
    song, audition = window.song_panel, window.audition
    transport = audition.transport
    central = [
        song.start, song.end, song.loudest, song.zoom, song.show_all, song.whole_song,
        song.as_example, transport.play_button, *transport.source_buttons.values(),
        transport.loop_button, transport.slider, transport.position_label, audition.slider,
        audition.label, audition.follow, audition.best,
    ]  # fmt: skip
    for control in [*central, *run_controls(window), window.stems]:
        assert unclipped(window, control), control
    places = [QRect(c.mapTo(window, QPoint()), c.size()) for c in central]
    for i, place in enumerate(places):
        assert not any(place.intersects(other) for other in places[i + 1 :]), central[i]
    window.controller.shutdown(5000)


@pytest.mark.parametrize("screen", [NETBOOK, SCREEN], ids=["1024x600", "1280x720"])
def test_the_empty_loss_plots_line_is_whole_inside_its_plotting_area(
    qtbot, model_dir, settings, monkeypatch, song_path, screen
):
    """Before a step, a line over the loss plot says why it is empty: whole and clear of the
    axes, shorter where the plot is small (1024x600), in full where it has room."""
    monkeypatch.setattr(MainWindow, "available_geometry", lambda self: QRect(screen))
    window = make_window(qtbot, model_dir, settings)
    open_song(qtbot, window, song_path)
    fitted(qtbot, window, screen)
    qtbot.wait(100)
    loss, line = window.live.loss, window.live.loss.empty
    assert line.isVisible() and line.text().startswith("No steps yet")
    area = line.contentsRect()
    flags = Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignCenter
    assert area.contains(line.fontMetrics().boundingRect(area, flags, line.text())), line.text()
    box = loss.plot_item.getViewBox().sceneBoundingRect()
    assert loss.plot_widget.mapFromScene(box).boundingRect().contains(area)  # clear of the axes
    if screen == SCREEN:
        assert line.text() == EMPTY_TEXTS[0]
    window.controller.shutdown(5000)


def test_the_run_columns_parts_line_up_inside_its_edges(qtbot, model_dir, settings, small_screen):
    """The Run panel's controls, the tags box and the stems box share their left and right
    edges, inset from the column's edges alike: no box flush against the window's edge."""
    window = make_window(qtbot, model_dir, settings)
    fitted(qtbot, window)
    column = window.run_panel.parentWidget()
    parts = [window.run_panel.progress, window.live.meters_box, window.stems.parentWidget()]
    edges = {
        (p.mapTo(column, QPoint()).x(), p.mapTo(column, QPoint(p.width(), 0)).x()) for p in parts
    }
    assert len(edges) == 1, edges
    left, right = edges.pop()
    assert left > 0 and column.width() - right == left
    window.controller.shutdown(5000)


def test_a_remembered_geometry_is_kept_inside_a_smaller_screen(
    qtbot, model_dir, settings, monkeypatch
):
    big = QRect(0, 0, 2560, 1440)
    monkeypatch.setattr(MainWindow, "available_geometry", lambda self: QRect(big))
    first = MainWindow(ModelStore(model_dir), settings, player=fake_player())
    qtbot.addWidget(first)
    first.show()
    first.setGeometry(700, 400, 1800, 1000)
    qtbot.waitUntil(lambda: first.width() == 1800)
    first.close()
    assert settings.window_state("geometry") is not None
    monkeypatch.setattr(MainWindow, "available_geometry", lambda self: QRect(SCREEN))
    second = MainWindow(ModelStore(model_dir), settings, player=fake_player())
    qtbot.addWidget(second)
    assert SCREEN.contains(second.frameGeometry())  # already before it is shown
    second.show()
    fitted(qtbot, second)
    assert second.width() >= second.minimumSizeHint().width()
    second.close()


def test_splitter_positions_round_trip_through_the_settings(
    qtbot, model_dir, settings, small_screen, song_path
):
    first = make_window(qtbot, model_dir, settings)
    fitted(qtbot, first)
    open_song(qtbot, first, song_path)  # the song's own splitter is shown with a song
    first.views.setSizes([500, 100])
    first.live.setSizes([120, 400])
    first.song_panel.views.setSizes([60, 300])
    QApplication.processEvents()
    wanted = [s.sizes() for s in (first.views, first.live, first.song_panel.views)]
    assert wanted[0][0] > 3 * wanted[0][1] and wanted[1][1] > 2 * wanted[1][0]
    first.close()
    for name in ("views", "plots", "song"):
        assert settings.window_state(f"splitter/{name}") is not None, name
    # The same window size as the first (offscreen, Qt would fit a restored geometry to its
    # 800x800 screen); restoring the geometry is the test above.
    settings.store.remove("window/geometry")
    second = make_window(qtbot, model_dir, settings)
    fitted(qtbot, second)
    open_song(qtbot, second, song_path)
    QApplication.processEvents()
    shown = [s.sizes() for s in (second.views, second.live, second.song_panel.views)]
    assert shown == wanted
    second.controller.shutdown(5000)
    assert not message_boxes()


FIT_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.settings import AppSettings
from tests.gui.fake_engine import fake_player
folder = Path(tempfile.mkdtemp())
settings = AppSettings(QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat))
window = MainWindow(ModelStore(Path(sys.argv[1])), settings, player=fake_player())
window.show()
QTimer.singleShot(500, app.quit)
app.exec()
def rect(r):
    return [r.x(), r.y(), r.width(), r.height()]
least = window.minimumSizeHint()
print(json.dumps({"screen": rect(window.screen().availableGeometry()),
                  "frame": rect(window.frameGeometry()),
                  "minimum": [least.width(), least.height()]}))
"""


@pytest.mark.slow
def test_on_a_real_1280x720_screen_the_window_fits(tmp_path, model_dir) -> None:
    config = tmp_path / "screen.json"
    config.write_text(
        json.dumps({"screens": [{"name": "small", "x": 0, "y": 0, "width": 1280, "height": 720}]})
    )
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"}
    done = subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT, str(model_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["screen"] == [0, 0, 1280, 720]
    assert QRect(*shown["screen"]).contains(QRect(*shown["frame"])), shown
    assert shown["minimum"][0] <= 1280 and shown["minimum"][1] <= 720, shown


def test_the_job_hint_under_the_step_slider_is_read_whole_at_1280x720(
    qtbot, model_dir, settings, small_screen, song_path
):
    window = make_window(qtbot, model_dir, settings, backend="learned")
    fitted(qtbot, window)
    open_song(qtbot, window, song_path)
    for word in ("drums", "bass", "piano", "guitar"):
        window.picker.set_picked(word, True)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        assert window.run_view.start() is not None
    qtbot.wait(100)
    memory = window.audition.memory
    assert "Stems" in memory.text()  # where to go to hear the job's stems
    assert memory.isVisible() and not memory.is_elided(), memory.text()
    window.controller.shutdown(5000)
