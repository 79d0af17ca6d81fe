"""The window stays responsive during a run of the real engine: a timer probe measures it.

How late the probe's ticks come depends on the machine and on what else runs on it, so the
figures are recorded, and the absolute limit is checked only where it means something: on a
quiet machine, with ``TAGBOX_STRICT_TIMING=1``. Everywhere, the window must never be held for
as long as a step takes, which it would be if the engine ran on its thread; both figures grow
together on a loaded machine.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PySide6.QtCore import QSettings, QTimer

from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import Region
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.settings import AppSettings
from tests.gui.fake_engine import fake_player, write_song

PROBE_MS = 10
P95_LIMIT_MS = 50.0


class LatencyProbe:
    """A timer that should fire every PROBE_MS; how late each tick comes is the latency."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._last = 0.0
        self._timer = QTimer(interval=PROBE_MS)
        self._timer.timeout.connect(self._on_timeout)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _on_timeout(self) -> None:
        now = time.perf_counter()
        self.lateness.append(max(0.0, (now - self._last) * 1000 - PROBE_MS))
        self._last = now


@pytest.mark.slow
def test_event_loop_latency_during_a_real_run(qtbot, model_dir, tmp_path, record_property):
    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    window = MainWindow(ModelStore(model_dir), settings, player=fake_player())
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.song_loaded, timeout=10_000):  # songs load in the background
        window.open_song(write_song(tmp_path / "song.wav", seconds=12.0, rate=48_000))
    window.song_panel.set_region(Region(2.0, 8.0))
    window.settings_panel.steps.setValue(4)
    window.settings_panel.preview_every.setValue(1)  # the heaviest GUI load: a preview a step
    window.tag_panel.apply_preset("Piano")
    probe = LatencyProbe()
    probe.start()
    began = time.perf_counter()
    with qtbot.waitSignal(window.controller.run_finished, timeout=300_000) as blocker:
        assert window.run_view.start() is not None
    step_ms = (time.perf_counter() - began) * 1000 / 4
    probe.stop()
    assert blocker.args[0].steps_done == 4
    late = np.array(probe.lateness)
    p95, worst = float(np.percentile(late, 95)), float(late.max())
    record_property("latency_p95_ms", round(p95, 1))
    record_property("latency_max_ms", round(worst, 1))
    print(
        f"\nevent-loop latency during a real run: {len(late)} ticks, p50 "
        f"{np.percentile(late, 50):.1f} ms, p95 {p95:.1f} ms, max {worst:.1f} ms"
    )
    assert len(late) > 10  # the probe really ran through the run
    assert worst < step_ms  # never held for a whole step: the run is not on the GUI thread
    if os.environ.get("TAGBOX_STRICT_TIMING") == "1":
        assert p95 < P95_LIMIT_MS
    window.controller.shutdown(5000)
