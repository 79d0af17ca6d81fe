"""The settings panel: backend, taggers, FFT sizes, steps, learning rate, modes, device, CPU
threads, seed."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tagbox_gui.core.separation.job import can_look_again
from tagbox_gui.core.types import Mode, Quantise, TaggerSpec
from tagbox_gui.gui.settings import FFT_CHOICES, RANGES, RunSettings
from tagbox_gui.gui.widgets.toggle_look import show_checked_clearly

BACKEND_TITLES = {
    "learned": "Learned separator (default)",
    "light": "Light (NMF, steered by the small taggers)",
    "jukebox": "Jukebox VQ-VAE",
}
NO_TAGGER = "Choose at least one tagger in Settings (download taggers in Models…)."
"""Why settings that steer cannot run without a tagger chosen (or, none downloaded, offered)."""
_ARCH_TITLES = {"fcn": "FCN", "crnn": "CRNN", "musicnn": "Musicnn", "hcnn": "HarmonicCNN"}
_QUANTISE_TITLES = {
    Quantise.FROZEN: "Frozen codebook (straight-through)",
    Quantise.NONE: "None (continuous latent)",
    Quantise.REFERENCE: "Reference (published runner)",
}
_MODE_TITLES = {Mode.MASK: "Mask the song", Mode.FREE: "Free (decoded audio)"}


class SettingsPanel(QWidget):
    """Edits a :class:`RunSettings`; ``settings_changed`` fires after every edit.

    ``backend_changed`` fires when the user picks another backend, so the owner can load that
    backend's defaults; ``reset_requested`` when "Reset to defaults" is pressed. During a run
    (:meth:`set_running`) only the learning rate stays editable: ``lr_changed(float)`` fires
    when the user changes it, so the owner can pass it on to the running engine.
    """

    settings_changed = Signal()
    backend_changed = Signal(str)
    reset_requested = Signal()
    lr_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._quiet = False
        self._running = False
        self.backend = QComboBox()
        self.taggers = QListWidget()
        self.taggers.setMaximumHeight(150)
        self.fft_buttons = {n: QToolButton(text=str(n), checkable=True) for n in FFT_CHOICES}
        for button in self.fft_buttons.values():
            show_checked_clearly(button)
        self.steps = QSpinBox(**_range("steps"), singleStep=10)
        self.steps.setSpecialValueText("0 (one pass)")
        self.lr = QDoubleSpinBox(decimals=4, **_range("lr"))
        self.lr.setKeyboardTracking(False)  # typing "0.05" is one change, not four
        # The backends' rates go from 0.05 to 5: an arrow key moves the digit after the first
        # (0.1 to 0.099 or 0.11, 5 to 4.9 or 5.1), page keys ten times that; a fixed step of
        # 0.1 took the light backend's 0.1 down to the minimum.
        self.lr.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.quantise = _enum_combo(_QUANTISE_TITLES)
        self.mode = _enum_combo(_MODE_TITLES)
        self.device = QComboBox()
        self.seed = QSpinBox(**_range("seed"))
        self.threads = QSpinBox(**_range("threads"))
        self.threads.setSpecialValueText("Auto")
        self.preview_every = QSpinBox(**_range("preview_every"), suffix=" steps")
        self.balance_tags = QCheckBox("Wanted and avoided tags weigh the same")
        self.second_look = QCheckBox("Look at each stem again without the others")
        self.fit_to_song = QCheckBox("Fit the instrument's prototype to the song")
        self.reset = QPushButton("Reset to defaults")
        self.note = QLabel(wordWrap=True)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        self._build_layout()
        self._connect()

    def _build_layout(self) -> None:
        # Each label is its field's buddy (QFormLayout makes it so) and Alt+its letter goes to
        # the field; the letters are free of the menu bar's (F, R, T, H).
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&Backend", self.backend)
        form.addRow("T&aggers", self.taggers)
        ffts = QHBoxLayout()
        ffts.setSpacing(2)
        for n, button in self.fft_buttons.items():
            ffts.addWidget(button)
            button.setToolTip(f"FFT size {n}: the stem is the mean of the song masked at each size")
        ffts.addStretch(1)
        form.addRow("FFT si&zes", ffts)
        form.labelForField(ffts).setBuddy(self.fft_buttons[FFT_CHOICES[0]])  # a row, not a field
        form.addRow("&Steps", self.steps)
        form.addRow("&Learning rate", self.lr)
        form.addRow("Tag &weights", self.balance_tags)
        form.addRow("&Quantise", self.quantise)
        form.addRow("&Output", self.mode)
        form.addRow("Second loo&k", self.second_look)
        form.addRow("Protot&ype", self.fit_to_song)
        form.addRow("&Device", self.device)
        form.addRow("&CPU threads", self.threads)
        form.addRow("S&eed", self.seed)
        form.addRow("Pre&view every", self.preview_every)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.reset, 0, Qt.AlignmentFlag.AlignRight)
        layout.addStretch(1)
        self.lr.setToolTip(
            "Adam step size on the latent (each backend has its own scale); "
            "can be changed during a run. Steering steps only: one pass learns nothing"
        )
        self.threads.setToolTip(
            "How many CPU threads a separation computes on. Auto: all but one, so that playback "
            "and other programs (a DAW) stay responsive; on a busy machine fewer threads can be "
            "much faster."
        )
        self.preview_every.setToolTip("How often the run sends audio and a mask image to listen to")
        self.quantise.setToolTip("How the Jukebox latent is quantised (Jukebox backend only)")
        self.balance_tags.setToolTip(
            "On: the wanted tags count for half of the loss and the avoided tags for the other "
            "half. Off (as in the paper): every tag counts the same, so the many avoided tags "
            "outweigh the wanted one."
        )
        self.second_look.setToolTip(
            "Learned separator. Two instruments or more: once every stem is separated, each is "
            "asked for again in the song without the others' stems (about +0.2 dB SI-SDR on our "
            "held-out songs, for one more pass of the network per stem). One instrument, 0 "
            "steps: it is asked for again in the song without the bass and the drums (not the "
            "one it is), separated only to be taken away (about +0.2 dB, for two more passes)."
        )
        self.fit_to_song.setToolTip(
            "Learned separator, 0 steps, an instrument asked for by name. On: a first look at "
            "12 s of the song moves the instrument's prototype towards how it sounds in this "
            "song (+0.07 to +0.28 dB SI-SDR on our held-out sets, −0.04 on the development set). "
            "Off: the bare prototype, the mean of the instrument's training stems. Try it off "
            "when a stem takes the wrong instrument. Examples and steering never fit."
        )

    def _connect(self) -> None:
        self.backend.currentIndexChanged.connect(self._on_backend_index_changed)
        self.taggers.itemChanged.connect(self._on_edited)
        for button in self.fft_buttons.values():
            button.toggled.connect(self._on_edited)
        for box in (self.steps, self.seed, self.threads, self.preview_every):
            box.valueChanged.connect(self._on_edited)
        self.lr.valueChanged.connect(self._on_edited)
        self.lr.valueChanged.connect(self._on_lr_value_changed)
        for combo in (self.quantise, self.mode, self.device):
            combo.currentIndexChanged.connect(self._on_edited)
        self.balance_tags.toggled.connect(self._on_edited)
        self.second_look.toggled.connect(self._on_edited)
        self.fit_to_song.toggled.connect(self._on_edited)
        self.reset.clicked.connect(self.reset_requested)

    # ----- choices -----------------------------------------------------------------------
    def set_choices(
        self,
        backends: dict[str, str],
        taggers: Sequence[TaggerSpec],
        present: Sequence[TaggerSpec],
        devices: Sequence[str],
    ) -> None:
        """What can be chosen: backend -> reason it is unavailable ('' if usable), taggers
        (those not in ``present`` are shown but disabled) and devices."""
        current = self.settings() if self.backend.count() else None
        self._quiet = True
        self.backend.clear()
        for name, reason in backends.items():
            self.backend.addItem(BACKEND_TITLES.get(name, name), name)
            _enable_item(self.backend, self.backend.count() - 1, not reason, reason)
        self.taggers.clear()
        for spec in taggers:
            ok = spec in present
            item = QListWidgetItem(
                f"{_ARCH_TITLES.get(spec.arch, spec.arch)} · {spec.dataset}"
                + ("" if ok else "  (not downloaded)")
            )
            item.setData(Qt.ItemDataRole.UserRole, str(spec))
            flags = Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
            item.setFlags(flags if ok else Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setToolTip(str(spec) if ok else f"{spec}: download it in Models…")
            self.taggers.addItem(item)
        self.device.clear()
        for name in devices:
            self.device.addItem(name.upper() if name != "mps" else "Apple GPU (MPS)", name)
        self._quiet = False
        if current is not None:
            self.set_settings(current)

    def backend_usable(self, name: str) -> bool:
        index = self.backend.findData(name)
        return index >= 0 and _item_enabled(self.backend, index)

    # ----- values ------------------------------------------------------------------------
    def settings(self) -> RunSettings:
        """The settings as shown."""
        taggers = tuple(
            item.data(Qt.ItemDataRole.UserRole)
            for item in (self.taggers.item(i) for i in range(self.taggers.count()))
            if item.checkState() is Qt.CheckState.Checked
        )
        ffts = tuple(n for n, b in self.fft_buttons.items() if b.isChecked())
        return RunSettings(
            backend=self.backend.currentData() or "learned",
            taggers=taggers,
            fft_sizes=ffts,
            steps=self.steps.value(),
            lr=round(self.lr.value(), 6),
            quantise=self.quantise.currentData(),
            mode=self.mode.currentData(),
            device=self.device.currentData() or "cpu",
            seed=self.seed.value(),
            threads=self.threads.value(),
            preview_every=self.preview_every.value(),
            balance_tags=self.balance_tags.isChecked(),
            second_look=self.second_look.isChecked(),
            fit_to_song=self.fit_to_song.isChecked(),
        )

    def set_settings(self, settings: RunSettings) -> None:
        """Show ``settings``; values that cannot be chosen here fall back to a usable one."""
        self._quiet = True
        _select(self.backend, settings.backend)
        for i in range(self.taggers.count()):
            item = self.taggers.item(i)
            wanted = item.data(Qt.ItemDataRole.UserRole) in settings.taggers
            usable = bool(item.flags() & Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(
                Qt.CheckState.Checked if wanted and usable else Qt.CheckState.Unchecked
            )
        for n, button in self.fft_buttons.items():
            button.setChecked(n in settings.fft_sizes)
        self.steps.setValue(settings.steps)
        self.lr.setValue(settings.lr)
        _select(self.quantise, settings.quantise)
        _select(self.mode, settings.mode)
        _select(self.device, settings.device)
        self.seed.setValue(settings.seed)
        self.threads.setValue(min(settings.threads, self.threads.maximum()))
        self.preview_every.setValue(settings.preview_every)
        self.balance_tags.setChecked(settings.balance_tags)
        self.second_look.setChecked(settings.second_look)
        self.fit_to_song.setChecked(settings.fit_to_song)
        self._quiet = False
        self._update_enabled()
        self.settings_changed.emit()

    def set_running(self, running: bool) -> None:
        """During a run every setting but the learning rate is read-only."""
        self._running = running
        self._update_enabled()

    def needs_tagger(self) -> bool:
        """Whether these settings need a tagger: steering steps, or a backend other than the
        learned separator (which separates in one pass by itself)."""
        s = self.settings()
        return s.steps > 0 or s.backend != "learned"

    def problem(self) -> str:
        """Why these settings cannot run (one sentence), or ''."""
        s = self.settings()
        if not self.backend_usable(s.backend):
            return (
                "The chosen backend is not available; pick Light or download the Jukebox weights."
            )
        if s.steps == 0 and s.backend != "learned":
            return "Only the learned separator works in one pass; give this backend some steps."
        if not s.taggers and self.needs_tagger():
            return NO_TAGGER
        if not s.fft_sizes:
            return "Choose at least one FFT size in Settings."
        return ""

    # ----- slots -------------------------------------------------------------------------
    @Slot(int)
    def _on_backend_index_changed(self, _index: int) -> None:
        if not self._quiet:
            self._update_enabled()
            self.backend_changed.emit(self.backend.currentData())
            self.settings_changed.emit()

    @Slot()
    def _on_edited(self) -> None:
        if not self._quiet:
            self._update_enabled()
            self.settings_changed.emit()

    @Slot(float)
    def _on_lr_value_changed(self, value: float) -> None:
        if not self._quiet:
            self.lr_changed.emit(round(value, 6))

    def _update_enabled(self) -> None:
        idle = not self._running
        jukebox = self.backend.currentData() == "jukebox"
        for widget in self._fixed_during_run():
            widget.setEnabled(idle)
        self.quantise.setEnabled(jukebox and idle)
        looks = can_look_again(self.backend.currentData(), Mode(self.mode.currentData()))
        self.second_look.setEnabled(looks and idle)
        fits = self.backend.currentData() == "learned" and self.steps.value() == 0
        self.fit_to_song.setEnabled(fits and idle)
        self.lr.setEnabled(self.steps.value() > 0)  # one pass learns nothing; steps may run
        problem = self.problem()
        self.note.setText(problem)
        self.note.setVisible(bool(problem))

    def _fixed_during_run(self) -> list[QWidget]:
        buttons = list(self.fft_buttons.values())
        boxes = [self.backend, self.taggers, self.steps, self.mode, self.device, self.seed,
                 self.threads]  # fmt: skip
        return [*boxes, *buttons, self.preview_every, self.balance_tags, self.second_look,
                self.fit_to_song, self.reset]  # fmt: skip


def _range(name: str) -> dict[str, float]:
    """A spin box's limits for the run setting ``name`` (those the remembered value must keep
    to, ``gui.settings.RANGES``)."""
    low, high = RANGES[name]
    return {"minimum": low, "maximum": high}


def _enum_combo(titles: dict) -> QComboBox:
    combo = QComboBox()
    for value, title in titles.items():
        combo.addItem(title, value.value)
    return combo


def _select(combo: QComboBox, data: str) -> None:
    index = combo.findData(data)
    if index < 0 or not _item_enabled(combo, index):
        index = next((i for i in range(combo.count()) if _item_enabled(combo, i)), 0)
    combo.setCurrentIndex(index)


def _enable_item(combo: QComboBox, index: int, enabled: bool, tooltip: str) -> None:
    model = combo.model()
    assert isinstance(model, QStandardItemModel)
    item = model.item(index)
    item.setEnabled(enabled)
    item.setToolTip(tooltip)


def _item_enabled(combo: QComboBox, index: int) -> bool:
    model = combo.model()
    return bool(model.flags(model.index(index, 0)) & Qt.ItemFlag.ItemIsEnabled)
