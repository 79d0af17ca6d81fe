"""The engine's modules, imported off the GUI thread while the window is already shown.

Importing torch and scipy takes seconds (about 2.5 s and 1.6 s on a small machine). The window's
own modules import neither, so it appears at once; an :class:`EngineLoader` imports the engine
in a thread and says ``ready`` in the GUI thread, and what needs the engine (Run, the settings'
defaults and devices) waits for that. Only imports happen in the thread: widgets stay on the GUI
thread.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from weakref import WeakMethod

from PySide6.QtCore import QObject, Signal

from tagbox_gui.gui.background import hand_back, receiver

log = logging.getLogger(__name__)

ENGINE_MODULES: tuple[str, ...] = (
    "tagbox_gui.core.separation.engine",  # torch, the backends' base, the objective
    "tagbox_gui.core.separation.loading",  # the settings' defaults
    "tagbox_gui.core.nets.taggers",  # the published taggers, vocabularies
    "scipy.signal",  # resampling a song, rendering stems
    "scipy.fft",  # the spectrogram
    "scipy.sparse",
)
"""What is imported before ``ready``: the engine, and what the first song and run need."""

LOADING_MESSAGE = "Loading the engine…"


class LazyModule:
    """Stands for a module and imports it on first attribute access (thread-safe).

    ``engine = LazyModule("tagbox_gui.core.separation.engine")`` lets code keep writing
    ``engine.run`` without importing the engine when its own module is imported.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> object:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"


class EngineLoader(QObject):
    """Imports the engine's modules once, in a thread (:meth:`start`) or at once (:meth:`load_now`).

    ``ready()`` fires in the GUI thread when all are imported, ``failed(Exception)`` when one
    cannot be. ``import_module`` may be replaced (tests hold the import back with it).
    """

    ready = Signal()
    failed = Signal(object)

    def __init__(
        self,
        parent: QObject | None = None,
        modules: Sequence[str] = ENGINE_MODULES,
        import_module: Callable[[str], ModuleType] = importlib.import_module,
    ) -> None:
        super().__init__(parent)
        self.modules = tuple(modules)
        self._import_module = import_module
        self._thread: threading.Thread | None = None
        self._ready = False
        self.error: Exception | None = None
        self.seconds = 0.0  # how long the imports took

    @property
    def is_ready(self) -> bool:
        return self._ready

    @property
    def started(self) -> bool:
        """The import thread was started (see :meth:`start`)."""
        return self._thread is not None

    @property
    def pending(self) -> bool:
        """Neither ready nor failed yet (started or not)."""
        return not self._ready and self.error is None

    def start(self) -> None:
        """Import the modules in a background thread (once; later calls do nothing)."""
        if self._thread is not None or self._ready:
            return
        to = receiver(self._on_done)
        self._thread = threading.Thread(target=_import_in_thread, name="engine-import",
                                        args=(self.modules, self._import_module, to),
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def load_now(self) -> None:
        """Import the modules in this thread; ``ready`` (or ``failed``) fires before it returns."""
        if self._ready:
            return
        self._on_done(_import_all(self.modules, self._import_module))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a started import thread ends; False if it is still running."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _on_done(self, imported: tuple[Exception | None, float]) -> None:
        if self._ready:  # load_now() while the thread was importing: said once already
            return
        error, self.seconds = imported
        if error is not None:
            self.error = error
            self.failed.emit(error)
            return
        self._ready = True
        log.info("engine imported in %.2f s", self.seconds)
        self.ready.emit()


def _import_in_thread(
    modules: Sequence[str], import_module: Callable[[str], ModuleType], to: WeakMethod
) -> None:
    """The import thread: :func:`_import_all`, handed back to ``to`` (``gui.background``)."""
    hand_back(to, _import_all(modules, import_module))


def _import_all(
    modules: Sequence[str], import_module: Callable[[str], ModuleType]
) -> tuple[Exception | None, float]:
    """Import ``modules``: None or what stopped it, and the seconds it took."""
    started = time.perf_counter()
    try:
        for name in modules:
            import_module(name)
    except Exception as exc:  # a broken install: the window says so and Run stays off
        log.exception("importing the engine failed")
        return exc, time.perf_counter() - started
    return None, time.perf_counter() - started
