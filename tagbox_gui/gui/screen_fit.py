"""The main window's size and place: it fits its screen, and remembers its layout.

The window opens inside its screen's available geometry (a remembered geometry too), is fitted
again when it moves to another screen, and remembers its geometry, its docks and its splitters'
positions between launches.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QTimer
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import QMainWindow, QSplitter

from tagbox_gui.gui.settings import AppSettings

DEFAULT_SIZE = (1440, 900)  # at first launch, made smaller where the screen is


class ScreenFit(QMainWindow):
    """A main window that stays inside its screen and remembers its layout.

    Subclasses give the settings (``settings``) and the splitters to remember
    (:meth:`_splitters`), and call :meth:`_restore_geometry` once their widgets are built.
    """

    settings: AppSettings
    _watching_screen = False  # fit_to_screen on moving to another screen

    def available_geometry(self) -> QRect:
        """Where the window may be: its screen's available geometry (tests replace this)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    def fit_to_screen(self) -> None:
        """Shrink and move the window until its frame lies inside the available geometry
        (never below its minimum size; a maximised or full-screen window is left alone)."""
        if self.isMaximized() or self.isFullScreen():
            return
        space = self.available_geometry()
        frame, inner = self.frameGeometry(), self.geometry()
        extra_w, extra_h = frame.width() - inner.width(), frame.height() - inner.height()
        least = self.minimumSize().expandedTo(self.minimumSizeHint())
        width = max(min(inner.width(), space.width() - extra_w), least.width())
        height = max(min(inner.height(), space.height() - extra_h), least.height())
        if (width, height) != (inner.width(), inner.height()):
            self.resize(width, height)
        x = max(space.left(), min(frame.x(), space.x() + space.width() - width - extra_w))
        y = max(space.top(), min(frame.y(), space.y() + space.height() - height - extra_h))
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def showEvent(self, event: QShowEvent) -> None:  # Qt override
        super().showEvent(event)
        handle = self.windowHandle()
        if handle is not None and not self._watching_screen:
            self._watching_screen = True
            handle.screenChanged.connect(lambda _screen: self.fit_to_screen())
        QTimer.singleShot(0, self.fit_to_screen)  # the frame's size is known once shown

    def _splitters(self) -> dict[str, QSplitter]:
        """The splitters whose positions are remembered, by their settings name."""
        return {}

    def save_layout(self) -> None:
        """Remember the window's geometry, its docks and its splitters' positions."""
        self.settings.set_window_state("geometry", self.saveGeometry())
        self.settings.set_window_state("state", self.saveState())
        for name, splitter in self._splitters().items():
            self.settings.set_window_state(f"splitter/{name}", splitter.saveState())
        self.settings.store.sync()

    def _restore_geometry(self) -> None:
        """The remembered geometry, docks and splitters, kept inside this screen; else a
        default size that fits it."""
        geometry = self.settings.window_state("geometry")
        if geometry is not None and self.restoreGeometry(geometry):
            state = self.settings.window_state("state")
            if state is not None:
                self.restoreState(state)
        else:
            space = self.available_geometry()
            self.resize(min(DEFAULT_SIZE[0], space.width()), min(DEFAULT_SIZE[1], space.height()))
        for name, splitter in self._splitters().items():
            state = self.settings.window_state(f"splitter/{name}")
            if state is not None:
                splitter.restoreState(state)
        self.fit_to_screen()
