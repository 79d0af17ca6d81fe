"""The run settings as the window keeps them: each backend's defaults, what the musician
changed (remembered between sessions), and what the other panels offer for the chosen backend
and taggers (the instruments to pick, the tags to steer by, the whole song or a region)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from tagbox_gui.core.separation.backends import BACKENDS
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.gui.engine_loader import LazyModule
from tagbox_gui.gui.run_window import RunWindow
from tagbox_gui.gui.settings import RunSettings, backend_defaults

if TYPE_CHECKING:
    from tagbox_gui.core.nets import taggers
    from tagbox_gui.core.separation import engine
else:  # imported when first used: they load torch (see tagbox_gui.gui.engine_loader)
    engine = LazyModule("tagbox_gui.core.separation.engine")
    taggers = LazyModule("tagbox_gui.core.nets.taggers")

log = logging.getLogger(__name__)


class SettingsView(QObject):
    """Keeps the settings panel, the remembered settings and the panels that follow them in
    step; :attr:`changed` says when whether a run can start may have changed."""

    changed = Signal()

    def __init__(self, window: RunWindow, cache: ModelCache) -> None:
        super().__init__(window)
        self.w = window
        self.cache = cache  # the separator's prototypes name the instruments
        self._fast: bool | None = None  # the backend separates a whole song quickly
        panel = window.settings_panel
        panel.settings_changed.connect(self._on_settings_changed)
        panel.backend_changed.connect(self._on_backend_changed)
        panel.reset_requested.connect(self.reset)

    def backends(self) -> dict[str, str]:
        """Backend -> why it cannot be used ('' when it can)."""
        reasons = {}
        for name in BACKENDS:
            reasons[name] = ""
            if name == "jukebox" and not self.w.store.has_jukebox():
                reasons[name] = "The Jukebox weights are not downloaded (Tools ▸ Models…)."
        return reasons

    def default_settings(self, backend: str | None = None) -> RunSettings:
        """The defaults of ``backend``, or of the learned separator, on the best device here."""
        if backend not in BACKENDS:
            backend = "learned"
        return backend_defaults(backend, engine.available_devices()[0])

    def load(self) -> None:
        """Fill the panels' choices and show the remembered settings over their backend's
        defaults (only what the user changed is remembered)."""
        panel = self.w.settings_panel
        present = self.w.store.available_taggers()
        backends = self.backends()
        panel.set_choices(backends, taggers.PUBLISHED, present, engine.available_devices())
        defaults = self.default_settings(self.w.settings.saved_backend())
        settings = self.w.settings.load_run(defaults)
        if backends.get(settings.backend, "unknown"):  # e.g. Jukebox, its weights since removed
            # Its values are relative to its defaults: switch as the backend box would.
            settings = self._switched(settings, self.default_settings().backend)
        panel.set_settings(settings)
        self._on_settings_changed()

    @Slot()
    def reset(self) -> None:
        """Forget the remembered settings and show the learned separator's defaults."""
        self.w.settings.reset_run()
        self.w.settings_panel.set_settings(self.default_settings())

    @Slot(str)
    def _on_backend_changed(self, backend: str) -> None:
        current = self.w.settings_panel.settings()
        self.w.settings_panel.set_settings(self._switched(current, backend))

    @staticmethod
    def _switched(current: RunSettings, backend: str) -> RunSettings:
        """``backend``'s defaults, keeping the choices that do not depend on the backend (the
        device and the CPU threads are the machine's)."""
        defaults = backend_defaults(backend, current.device)
        keep = {"taggers": current.taggers, "seed": current.seed, "mode": current.mode,
                "threads": current.threads}  # fmt: skip
        return RunSettings(**{**defaults.__dict__, **keep})

    @Slot()
    def _on_settings_changed(self) -> None:
        settings = self.w.settings_panel.settings()
        self.w.settings.save_run(settings, self.default_settings(settings.backend))
        specs = [s for s in self.w.store.available_taggers() if str(s) in settings.taggers]
        said = []  # the choices and picks dropped, or back
        if tuple(map(str, self.w.tag_panel.board.taggers)) != tuple(map(str, specs)):
            said.append(self.w.tag_panel.set_taggers(specs))
        words = self.instrument_words(settings.backend)
        learned = settings.backend == "learned"
        why_none = "" if learned or words else (
            f"The {settings.backend} backend hears instruments with the music taggers, and none "
            "is chosen: tick one in Settings ▸ Taggers, or download one (Tools ▸ Models…). The "
            "learned separator needs none.")  # fmt: skip
        if (words, why_none) != (self.w.picker.instruments(), self.w.picker.why_none):
            source = "the learned separator" if learned else f"the {settings.backend} backend"
            said.append(self.w.picker.set_instruments(words, source, why_none))
        if any(said):  # said wherever the musician is: the tabs may be out of sight
            self.w.statusBar().showMessage(" ".join(filter(None, said)))
        self.w.tag_panel.set_steering(settings.steps > 0)
        fast = settings.backend == "learned" and settings.steps == 0
        if fast != self._fast:  # the whole song by default where a run of it is quick
            self._fast = fast
            self.w.song_panel.whole_song.setChecked(fast)
        self.changed.emit()

    def instrument_words(self, backend: str) -> list[str]:
        """The instruments ``backend`` can be asked for by name: the learned separator's
        prototypes, or the presets the chosen taggers can hear."""
        if backend == "learned":
            from tagbox_gui.core.separation.backends.learned import load_shipped

            try:
                return sorted(load_shipped(self.cache)[1])
            except Exception:  # broken package data: the run says why; examples still work
                log.exception("cannot read the separator's prototypes")
                return []
        return [name.lower() for name in self.w.tag_panel.board.available_presets()]
