"""Toggle buttons show whether they are on: the instruments, the A/B sources, the FFT sizes."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QAbstractButton, QApplication

from tagbox_gui.core.types import Region
from tagbox_gui.gui.widgets.instrument_picker import InstrumentPicker
from tagbox_gui.gui.widgets.settings_panel import SettingsPanel
from tagbox_gui.gui.widgets.transport import TransportPanel
from tests.gui.fake_engine import fake_player


def _mean_colour(button: QAbstractButton) -> np.ndarray:
    image = button.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    pixels = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * height)
    rows = pixels.reshape(height, image.bytesPerLine())[:, : width * 3]
    return rows.reshape(height, width, 3)[2:-2, 2:-2].astype(float).mean(axis=(0, 1))


def _looks_on(button: QAbstractButton) -> float:
    """How far the button's colours move when it is checked (0-255 per channel, largest)."""
    button.setChecked(False)
    off = _mean_colour(button)
    button.setChecked(True)
    on = _mean_colour(button)
    size_on = button.size()
    button.setChecked(False)
    assert button.size() == size_on  # the same size in both states: nothing jumps
    return float(np.abs(on - off).max())


def test_a_picked_instrument_stands_out_from_the_others(qtbot) -> None:
    picker = InstrumentPicker()
    qtbot.addWidget(picker)
    picker.set_instruments(["drums", "bass", "piano"])
    picker.show()
    qtbot.waitExposed(picker)
    assert _looks_on(picker._buttons["piano"]) > 60  # a shade darker (~27) is easy to miss


def test_the_source_playing_and_the_fft_sizes_chosen_stand_out(qtbot) -> None:
    transport = TransportPanel(fake_player())
    settings = SettingsPanel()
    for widget in (transport, settings):
        qtbot.addWidget(widget)
        widget.show()
        qtbot.waitExposed(widget)
    audio = np.zeros((44_100, 2), np.float32)
    transport.load({"mix": audio, "separated": audio, "residual": audio}, 44_100)
    transport.set_loop_region(Region(0.0, 0.5))
    assert transport.source_buttons["separated"].isEnabled() and transport.loop_button.isEnabled()
    assert _looks_on(transport.source_buttons["separated"]) > 60
    assert _looks_on(transport.loop_button) > 60
    assert _looks_on(next(iter(settings.fft_buttons.values()))) > 60


def test_the_media_icons_take_the_text_colour_of_a_dark_palette(qtbot) -> None:
    """Fusion's media icons are black: on a dark palette Run's and Play's are near invisible,
    Pause's and Stop's (off) are. They are drawn in the buttons' text colour instead."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QColor, QIcon, QPalette

    from tagbox_gui.gui.widgets.run_panel import RunPanel

    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Button, QColor("#353535"))
    dark.setColor(QPalette.ColorRole.ButtonText, QColor("#ffffff"))
    dark.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#7f7f7f"))
    app = QApplication.instance()
    light = app.palette()
    app.setPalette(dark)  # a dark desktop's, as the window is built
    try:
        run_panel, transport = RunPanel(), TransportPanel(fake_player())
    finally:
        app.setPalette(light)
    qtbot.addWidget(run_panel)
    qtbot.addWidget(transport)

    def lightness(icon: QIcon, mode: QIcon.Mode) -> float:
        image = icon.pixmap(QSize(16, 16), mode).toImage()
        image = image.convertToFormat(QImage.Format.Format_ARGB32)
        pixels = [image.pixelColor(x, y) for x in range(16) for y in range(16)]
        drawn = [p.lightness() for p in pixels if p.alpha() > 128]
        assert drawn  # the icon is there
        return float(np.mean(drawn))

    assert lightness(run_panel.run.icon(), QIcon.Mode.Normal) > 200
    assert lightness(transport.play_button.icon(), QIcon.Mode.Normal) > 200
    for button in (run_panel.pause, run_panel.stop):
        assert 90 < lightness(button.icon(), QIcon.Mode.Disabled) < 200
