"""A quick start (issue 14): the window's modules import no torch, the window shows before the
engine is imported, and Run waits with "Loading the engine…" until it is."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtCore import Qt

from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.app import trace_startup
from tagbox_gui.gui.engine_loader import LOADING_MESSAGE, EngineLoader, LazyModule
from tagbox_gui.gui.main_window import ENGINE_FAILED, MainWindow
from tests.gui.fake_engine import fake_player
from tests.gui.window_helpers import message_boxes, open_song

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "scipy.signal", "scipy")

SHOWN_BEFORE_THE_ENGINE = """
import json, sys, tempfile
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
heavy = lambda: sorted(m for m in {heavy!r} if m in sys.modules)
import tagbox_gui.gui.app
from tagbox_gui.gui.main_window import MainWindow
seen = {{"imported": heavy()}}
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.engine_loader import EngineLoader
from tagbox_gui.gui.settings import AppSettings
from tests.gui.fake_engine import fake_player
app = QApplication([])
folder = Path(tempfile.mkdtemp())
settings = AppSettings(QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat))
engine = EngineLoader()
start_engine = engine.start
def first_frame():  # the first frame starts the engine: look before its thread imports
    seen["first_frame"] = heavy()
    seen["run_enabled_at_first_frame"] = window.run_panel.run.isEnabled()
    start_engine()
engine.start = first_frame  # what the window connects to its first frame
window = MainWindow(ModelStore(Path(sys.argv[1])), settings, player=fake_player(),
                    engine=engine)
seen["built"] = heavy()
window.engine.ready.connect(lambda: (seen.update(ready=heavy()), app.quit()))
window.show()
QTimer.singleShot(60_000, app.quit)
app.exec()
print(json.dumps(seen))
"""


@pytest.mark.slow
def test_the_window_is_built_and_shown_without_torch_then_imports_it(model_dir) -> None:
    """In a fresh interpreter: importing the app and the window, building the window and its
    first frame import no torch; the engine loader imports it afterwards."""
    done = subprocess.run(
        [sys.executable, "-c", SHOWN_BEFORE_THE_ENGINE.format(heavy=HEAVY), str(model_dir)],
        cwd=REPO,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    for stage in ("imported", "built", "first_frame"):
        assert "torch" not in seen[stage], (stage, seen)
    assert seen["run_enabled_at_first_frame"] is False
    assert "torch" in seen["ready"] and "scipy.signal" in seen["ready"]


def test_importing_the_main_window_imports_no_torch() -> None:
    code = (
        "import sys, json, tagbox_gui.gui.main_window, tagbox_gui.gui.app; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "torch" not in loaded, loaded


class HeldImport:
    """An ``import_module`` for the loader that waits until the test lets it go on."""

    def __init__(self, error: Exception | None = None) -> None:
        self.go = threading.Event()
        self.error = error
        self.names: list[str] = []

    def __call__(self, name: str) -> ModuleType:
        self.names.append(name)
        if not self.go.wait(30):
            raise TimeoutError("the test never let the import go on")
        if self.error is not None:
            raise self.error
        return importlib.import_module(name)


def background_window(
    qtbot, model_dir, settings, held: HeldImport, trace: Path | None = None
) -> MainWindow:
    """A window as the app makes it: the engine imported after the first frame."""
    window = MainWindow(
        ModelStore(model_dir),
        settings,
        player=fake_player(),
        engine=EngineLoader(import_module=held),
    )
    qtbot.addWidget(window)
    if trace is not None:
        trace_startup(window, trace)
    window.show()
    return window


def test_run_waits_for_the_engine_and_is_enabled_once_it_is_ready(
    qtbot, model_dir, settings, song_path, tmp_path
) -> None:
    held = HeldImport()
    trace = tmp_path / "trace.txt"
    window = background_window(qtbot, model_dir, settings, held, trace)
    qtbot.waitUntil(lambda: window.engine.started, timeout=5000)  # after the first frame
    assert trace.read_text().split()[0] == "first_frame"
    run = window.run_panel.run
    assert not run.isEnabled() and run.toolTip() == LOADING_MESSAGE
    assert window.run_view.problem() == LOADING_MESSAGE
    assert window.engine_status.isVisible()
    assert window.cursor().shape() == Qt.CursorShape.BusyCursor
    assert not window.settings_panel.isEnabled() and not window.reset_action.isEnabled()
    assert not window.run_action.isEnabled() and window.run_action.statusTip() == LOADING_MESSAGE
    assert window.run_view.start() is None  # a start that comes anyway says why
    boxes = message_boxes()
    assert [box.text() for box in boxes] == [LOADING_MESSAGE]
    boxes[0].close()
    open_song(qtbot, window, song_path)  # songs open while the engine loads
    assert not run.isEnabled() and run.toolTip() == LOADING_MESSAGE
    with qtbot.waitSignal(window.engine.ready, timeout=60_000):
        held.go.set()
    assert held.names[0] == "tagbox_gui.core.separation.engine"
    assert window.settings_panel.isEnabled() and window.reset_action.isEnabled()
    assert window.settings_panel.backend.count() > 0  # the settings came with the engine
    assert not window.engine_status.isVisible()
    assert window.cursor().shape() != Qt.CursorShape.BusyCursor
    window.tag_panel.apply_preset("Piano")
    assert window.run_view.problem() == "" and run.isEnabled()
    assert "engine_ready" in trace.read_text()
    window.controller.shutdown(5000)


def test_an_engine_that_cannot_be_imported_keeps_run_off_and_says_why(
    qtbot, model_dir, settings
) -> None:
    held = HeldImport(ImportError("No module named 'torch'"))
    window = background_window(qtbot, model_dir, settings, held)
    qtbot.waitUntil(lambda: window.engine.started, timeout=5000)
    with qtbot.waitSignal(window.engine.failed, timeout=10_000):
        held.go.set()
    assert not window.run_panel.run.isEnabled()
    assert window.run_panel.run.toolTip() == ENGINE_FAILED
    assert not window.engine_status.isVisible()
    assert window.cursor().shape() != Qt.CursorShape.BusyCursor
    boxes = message_boxes()
    assert len(boxes) == 1 and "torch" in boxes[0].text()
    boxes[0].close()


def test_without_a_loader_the_window_has_the_engine_at_once(qtbot, model_dir, settings) -> None:
    window = MainWindow(ModelStore(model_dir), settings, player=fake_player())
    qtbot.addWidget(window)
    assert window.engine.is_ready and window.run_view.waiting_for == ""
    assert window.settings_panel.isEnabled() and window.settings_panel.backend.count() > 0


def test_a_lazy_module_is_imported_on_first_use(tmp_path, monkeypatch) -> None:
    (tmp_path / "lazy_probe_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = LazyModule("lazy_probe_module")
    assert "lazy_probe_module" not in sys.modules
    assert probe.VALUE == 42
    assert "lazy_probe_module" in sys.modules
    monkeypatch.delitem(sys.modules, "lazy_probe_module")
