"""Settings remembered between launches (QSettings), their defaults, and the run config they make.

Run settings are stored as plain strings and parsed back field by field, so a value that a
newer or older version wrote, or that a user edited by hand, falls back to its default instead
of breaking the launch. Only the fields a user changed from the backend's defaults are stored
(and the backend), so improved defaults of a later version reach everything else.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.separation.threads import AUTOMATIC, logical_cpus
from tagbox_gui.core.types import MAX_LR, Mode, Quantise, Region, RunConfig, TaggerSpec

log = logging.getLogger(__name__)

ORGANISATION = "tagbox"
APPLICATION = "tagbox-gui"
MAX_RECENT = 10
_GROUP = "run"
FFT_CHOICES = (4096, 2048, 1024, 512, 256)
"""The FFT sizes the settings panel offers."""


@dataclass(frozen=True)
class RunSettings:
    """The run settings of the settings panel (everything but tags and region)."""

    backend: str = "learned"
    taggers: tuple[str, ...] = ("fcn/mtat",)
    fft_sizes: tuple[int, ...] = (2048, 1024, 512)
    steps: int = 100
    lr: float = 5.0
    quantise: str = Quantise.FROZEN.value
    mode: str = Mode.MASK.value
    device: str = "cpu"
    seed: int = 0
    threads: int = 0  # CPU threads of a separation; 0: automatic (core.separation.threads)
    preview_every: int = 5
    balance_tags: bool = False
    second_look: bool = True  # learned stems are looked at again (core.separation.refine)
    fit_to_song: bool = True  # a learned prototype is fitted to the song (core.nets.fitting)

    def to_config(
        self,
        tags: Sequence[str],
        avoid: Sequence[str] = (),
        ignore: Sequence[str] = (),
        avoid_others: bool = True,
        ignore_related: bool = False,
        region: Region | None = None,
    ) -> RunConfig:
        """The engine's config for these settings, tag choices and region (None: whole song)."""
        return RunConfig(
            tags=tuple(tags),
            avoid=tuple(avoid),
            ignore=tuple(ignore),
            avoid_others=avoid_others,
            ignore_related=ignore_related,
            taggers=tuple(TaggerSpec.parse(t) for t in self.taggers),
            fft_sizes=tuple(self.fft_sizes),
            steps=self.steps,
            lr=self.lr,
            quantise=Quantise(self.quantise),
            mode=Mode(self.mode),
            backend=self.backend,
            seed=self.seed,
            device=self.device,
            region=region,
            preview_every=self.preview_every,
            balance_tags=self.balance_tags,
            fit_to_song=self.fit_to_song,
        )


def backend_defaults(backend: str, device: str = "cpu") -> RunSettings:
    """The settings a backend works best with (the engine's ``default_config``)."""
    try:
        from tagbox_gui.core.separation.loading import default_config

        config = default_config(backend)
    except (ImportError, ConfigError) as exc:  # the backend is not installed in this build
        log.warning("no defaults for backend %s (%s); using generic ones", backend, exc)
        config = RunConfig(tags=(), backend=backend)
    return RunSettings(
        backend=backend,
        taggers=tuple(str(t) for t in config.taggers),
        fft_sizes=tuple(config.fft_sizes),
        steps=config.steps,
        lr=config.lr,
        quantise=config.quantise.value,
        mode=config.mode.value,
        device=device,
        seed=config.seed,
        preview_every=config.preview_every,
        balance_tags=config.balance_tags,
    )


RANGES: dict[str, tuple[float, float]] = {
    "steps": (0, 100_000),
    "lr": (0.0001, MAX_LR),  # the panel shows 4 decimals
    "seed": (0, 2**31 - 1),
    "threads": (AUTOMATIC, logical_cpus()),  # a machine with fewer CPUs: automatic
    "preview_every": (1, 1000),
}
"""The smallest and largest value of each numeric run setting: the settings panel's spin
boxes offer these, and a remembered value outside them takes the default."""

_VALID = {
    **{
        name: lambda x, low=low, high=high: low <= x <= high for name, (low, high) in RANGES.items()
    },
    "quantise": lambda text: text in {q.value for q in Quantise},
    "mode": lambda text: text in {m.value for m in Mode},
    "fft_sizes": lambda sizes: set(sizes) <= set(FFT_CHOICES),
}
"""What a run setting's value must be, where its type alone does not say (e.g. a hand edit,
another version's value): one the settings panel can show as it is."""


def _parse(field: dataclasses.Field, text: str, default: object) -> object:
    value = _parse_as(field, text, default)
    if not _VALID.get(field.name, lambda _value: True)(value):
        raise ValueError(f"out of range: {text!r}")
    return value


def _parse_as(field: dataclasses.Field, text: str, default: object) -> object:
    kind = type(default)
    if kind is bool:  # bool("false") is True: read the words save_run writes
        if text.lower() not in ("true", "false"):
            raise ValueError(f"not a yes/no value: {text!r}")
        return text.lower() == "true"
    if kind is tuple:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        values = tuple(int(p) for p in parts) if field.name == "fft_sizes" else tuple(parts)
        if not values:
            raise ValueError("empty list")
        return values
    return kind(text)


class AppSettings:
    """QSettings of the application: run settings, recent files and a few remembered choices."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store or QSettings(ORGANISATION, APPLICATION)

    # ----- run settings ----------------------------------------------------------------
    def load_run(self, defaults: RunSettings) -> RunSettings:
        """The saved run settings; each missing or unreadable field takes ``defaults``'."""
        values = {}
        for field in dataclasses.fields(RunSettings):
            default = getattr(defaults, field.name)
            text = self.store.value(f"{_GROUP}/{field.name}")
            try:
                values[field.name] = default if text is None else _parse(field, str(text), default)
            except (TypeError, ValueError):
                log.warning("ignoring saved setting %s=%r", field.name, text)
                values[field.name] = default
        return RunSettings(**values)

    def save_run(self, settings: RunSettings, defaults: RunSettings) -> None:
        """Remember ``settings``: the backend always, every other field only where it differs
        from ``defaults`` (that backend's). A setting left at its default is not written, so a
        later version's better default reaches it. Nothing is written when nothing changed
        (the panel says it may have changed whenever it is filled, at every launch)."""
        for field in dataclasses.fields(RunSettings):
            key, value = f"{_GROUP}/{field.name}", getattr(settings, field.name)
            if field.name != "backend" and value == getattr(defaults, field.name):
                self.store.remove(key)
                continue
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            if self.store.value(key) != text:  # setValue marks it changed even if it is not
                self.store.setValue(key, text)
        self.store.sync()  # writes only what changed, if anything

    def saved_backend(self) -> str | None:
        """The backend of the saved run settings, or None if none are saved."""
        value = self.store.value(f"{_GROUP}/backend")
        return None if value is None else str(value)

    def reset_run(self) -> None:
        """Forget the saved run settings (the panel then shows the defaults)."""
        self.store.remove(_GROUP)
        self.store.sync()

    # ----- recent files ----------------------------------------------------------------
    def recent_files(self) -> list[str]:
        """The remembered songs, newest first; none where the value is not a list of paths
        (another version's, or a store that keeps types: the registry, a plist). Read afresh:
        another window of the app (another launch) may have opened a song since."""
        self.store.sync()
        value = self.store.value("recent/files", [])
        files = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return [f for f in files if isinstance(f, str) and f][:MAX_RECENT]

    def add_recent(self, path: Path | str) -> list[str]:
        text = str(Path(path).resolve())
        files = [text, *(f for f in self.recent_files() if f != text)][:MAX_RECENT]
        self.store.setValue("recent/files", files)
        return files

    def remove_recent(self, path: str) -> None:
        """Take ``path`` (as :meth:`recent_files` gives it) off the remembered songs."""
        self.store.setValue("recent/files", [f for f in self.recent_files() if f != path])

    def clear_recent(self) -> None:
        self.store.remove("recent/files")

    # ----- window layout ---------------------------------------------------------------
    def window_state(self, name: str) -> QByteArray | None:
        """A saved Qt state of the window (``geometry``, ``state`` of the docks, or
        ``splitter/<name>``); None when there is none or it is not a Qt state."""
        value = self.store.value(f"window/{name}")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, name: str, state: QByteArray) -> None:
        """Remember a Qt state of the window (see :meth:`window_state`)."""
        self.store.setValue(f"window/{name}", state)

    # ----- small remembered choices ----------------------------------------------------
    def text(self, key: str, default: str = "") -> str:
        value = self.store.value(key)
        return default if value is None else str(value)

    def set_text(self, key: str, value: str) -> None:
        self.store.setValue(key, value)

    def forget(self, key: str) -> None:
        """Forget the choice remembered under ``key``: :meth:`text` gives its default again."""
        self.store.remove(key)

    def flag(self, key: str, default: bool = False) -> bool:
        return self.text(key, str(default)).lower() in ("true", "1", "yes")

    def set_flag(self, key: str, value: bool) -> None:
        self.store.setValue(key, "true" if value else "false")
