"""The window's job time and event-loop latency for several instruments of a long song.

The case of the multi-instrument issue, in the GUI: a 4-minute stereo 44.1 kHz song (the dev
mixes tiled, as ``learned_speed.py`` makes it), drums, bass, piano and guitar picked, the
default backend and settings (the learned separator, one pass, the whole song). It measures the
time from Run to the stems written into the drag folder, and how late a 10 ms timer's ticks
come meanwhile (the event loop's p95 and max), and this process's peak resident memory. It
prints measured figures only; it runs offscreen with no audio device.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_job.py [--minutes 4] [--shared ../shared]
        [--each drums,bass,piano,guitar]
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from learned_speed import long_song, song_parser  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tagbox_gui.core.store.models import ModelStore  # noqa: E402
from tagbox_gui.gui.main_window import MainWindow  # noqa: E402
from tagbox_gui.gui.settings import AppSettings  # noqa: E402
from tests.gui.fake_engine import fake_player  # noqa: E402
from tests.gui.test_latency import LatencyProbe  # noqa: E402


def wait_until(app: QApplication, done: Callable[[], bool], timeout: float) -> None:
    """Run the event loop until ``done()`` (TimeoutError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.002)


def main() -> None:
    parser = song_parser(threads=False)
    parser.add_argument("--each", default="drums,bass,piano,guitar")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        song = long_song(args.shared, args.minutes, Path(tmp) / "long.wav")
        settings = AppSettings(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window = MainWindow(ModelStore(args.shared / "models"), settings, player=fake_player())
        window.show()
        window.open_song(song)
        wait_until(app, lambda: window.song is not None, 120)
        for word in args.each.split(","):
            window.picker.set_picked(word, True)
        assert window.run_view.problem() == "", window.run_view.problem()
        probe = LatencyProbe()
        finished: list[object] = []
        window.controller.run_finished.connect(finished.append)
        probe.start()
        began = time.perf_counter()
        window.run_view.start()
        wait_until(app, lambda: finished, 600)
        separated = time.perf_counter() - began
        writing = window.stems.prepare()  # the write the finished job started (None: done)
        wait_until(app, lambda: writing is None or writing.done(), 600)
        written = time.perf_counter() - began
        probe.stop()
        paths = window.stems.stem_files()
        late = np.array(probe.lateness)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"song: {args.minutes:g} min stereo 44.1 kHz; stems: {args.each} + the rest "
              f"({len(paths)} files); backend {window.settings_panel.settings().backend}, "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        print(f"job: separated in {separated:.1f} s, stems written after {written:.1f} s")
        print(f"event loop: {len(late)} ticks of a 10 ms timer, lateness p50 "
              f"{np.percentile(late, 50):.1f} ms, p95 {np.percentile(late, 95):.1f} ms, "
              f"max {late.max():.1f} ms")  # fmt: skip
        print(f"peak RSS of the GUI process: {peak:.2f} GiB")
        window.controller.shutdown(10_000)
        window.confirm_discard = lambda question: True  # the stems were only measured
        window.close()


if __name__ == "__main__":
    main()
