"""Make docs/screenshot.png: the main window during a real job on a synthetic song.

Run under Xvfb from the repository root:

    xvfb-run -a python docs/screenshot.py [--model-dir DIR] [--out docs/screenshot.png]

The README's picture: ``xvfb-run -a -s "-screen 0 1920x1200x24" python docs/screenshot.py
--null-sink`` (without an audio output, the transport would say that playback is off).

By default the job separates drums, bass, piano and guitar with the default backend (the
learned separator, whole song) and the picture is taken while the third instrument is being
separated. ``--steer N`` takes it instead after step N of a run of the light backend (piano).

The song is synthesised here (piano-like chords, bass, drums), so no audio file is needed. The
window takes ``--size`` (default 1600x1000), made smaller where the screen is; to see the window
as it is on a given screen, give Xvfb that screen and grab all of it (``--whole-screen`` shows
anything that would not fit):

    xvfb-run -a -s "-screen 0 1280x720x24" python docs/screenshot.py --size 1280x720 \
        --whole-screen --out /tmp/shot-1280x720.png
    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/screenshot.py --size 1920x1080 \
        --whole-screen --out /tmp/shot-1920x1080.png
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

# `python docs/screenshot.py` puts docs/ on sys.path, not the repository: without this line the
# window pictured would be an installed tagbox_gui's (or another checkout's), not this one's.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RATE = 44_100


def _note(freq: float, seconds: float, partials: int, decay: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, partials + 1))
    return tone * np.exp(-decay * t) * np.minimum(1.0, t * 200)


def synth_song(path: Path, seconds: float = 48.0) -> Path:
    """A short stereo song: piano chords left of centre, bass and drums, a louder middle."""
    n = int(seconds * RATE)
    piano, bass, drums = np.zeros(n), np.zeros(n), np.zeros(n)
    rng = np.random.default_rng(3)
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6),
              (196.0, 246.9, 293.7)]  # fmt: skip
    beat = 0.5
    for i in range(int(seconds / beat)):
        start = int(i * beat * RATE)
        chord = chords[(i // 4) % len(chords)]
        if i % 2 == 0:
            for f in chord:
                tone = _note(f, 1.2, 8, 3.0)[: n - start]
                piano[start : start + len(tone)] += 0.25 * tone
        tone = _note(chord[0] / 2, beat, 3, 2.0)[: n - start]
        bass[start : start + len(tone)] += 0.35 * tone
        hit = rng.standard_normal(int(0.12 * RATE)) * np.exp(-np.arange(int(0.12 * RATE)) / 900)
        hit = hit[: n - start]
        drums[start : start + len(hit)] += (0.5 if i % 2 == 0 else 0.25) * hit
    t = np.arange(n) / RATE
    level = 0.35 + 0.65 * np.clip((t - 12) / 4, 0, 1) * np.clip((40 - t) / 4, 0, 1)
    left = (0.8 * piano + bass + 0.7 * drums) * level
    right = (0.5 * piano + bass + 0.9 * drums) * level
    data = np.stack([left, right], axis=1)
    sf.write(path, (0.8 * data / np.abs(data).max()).astype(np.float32), RATE, subtype="PCM_16")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("../shared/models"))
    parser.add_argument("--each", default="drums,bass,piano,guitar", help="the job's instruments")
    parser.add_argument("--steer", type=int, default=0,
                        help="instead: a light run of piano, pictured after this step")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--size", default="1600x1000", help="window size WxH (at most the screen)")
    parser.add_argument(
        "--whole-screen", action="store_true", help="grab the whole screen, not only the window"
    )
    parser.add_argument(
        "--null-sink",
        action="store_true",
        help="give the app an audio output: a private PulseAudio null sink (tests/sound_server.py)"
        ", so that a machine without sound hardware is not pictured saying it has no output",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.null_sink:
            from tests.sound_server import running

            stack.enter_context(running(Path(tempfile.mkdtemp(prefix="tagbox-sound-"))))
        return picture(args)


def picture(args: argparse.Namespace) -> int:
    """Open the demo song, start the job (or run), and save the picture once it is due."""
    width, height = (int(n) for n in args.size.lower().split("x"))
    from PySide6.QtCore import QSettings, QTimer

    from tagbox_gui.core.store.models import ModelStore
    from tagbox_gui.gui.app import create_application
    from tagbox_gui.gui.main_window import MainWindow
    from tagbox_gui.gui.settings import AppSettings

    app = create_application(sys.argv[:1])
    folder = Path(tempfile.mkdtemp(prefix="tagbox-shot-"))
    settings = AppSettings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(ModelStore(args.model_dir), settings)
    window.resize(width, height)
    window.fit_to_screen()
    window.show()
    # songs load in the background: run once the song is shown
    window.song_loaded.connect(lambda _song: window.run_view.start())
    window.open_song(synth_song(folder / "Demo Song.wav"))
    if args.steer:
        backend = window.settings_panel.backend
        backend.setCurrentIndex(backend.findData("light"))
        window.tag_panel.apply_preset("Piano")
        window.settings_panel.preview_every.setValue(2)
        window.settings_panel.steps.setValue(60)
    else:
        for word in args.each.split(","):
            window.picker.set_picked(word, True)
    finished: list[int] = []  # instruments of the job separated so far

    def count(update: object) -> None:
        event = getattr(update, "event", None)  # a job's updates carry its JobEvent
        if event is not None and event.result is not None:
            finished.append(1)

    window.controller.step_done.connect(count)

    def ready() -> bool:
        if args.steer:
            return window.live.loss.count >= args.steer and window.run_view.shown is not None
        return len(finished) >= 2

    def shoot() -> None:
        if not ready():
            return
        app.processEvents()
        shot = window.screen().grabWindow(0) if args.whole_screen else window.grab()
        shot.save(str(args.out))
        frame = window.frameGeometry()
        print(
            f"saved {args.out}: window {frame.width()}x{frame.height()} at {frame.x()},"
            f"{frame.y()} on a screen of "
            f"{window.screen().size().width()}x{window.screen().size().height()}"
        )
        window.controller.shutdown()
        window.confirm_discard = lambda _question: True  # no "quit anyway?" left waiting
        app.quit()

    poll = QTimer(interval=50)
    poll.timeout.connect(shoot)
    poll.start()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
