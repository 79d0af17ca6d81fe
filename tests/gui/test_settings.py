"""Settings: remembered between launches, robust to bad values, reset to the backend defaults."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from tagbox_gui.core.nets.taggers import PUBLISHED
from tagbox_gui.core.separation import engine
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.separation.threads import logical_cpus
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import Mode, Quantise, Region, TaggerSpec
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.settings import MAX_RECENT, AppSettings, RunSettings, backend_defaults
from tagbox_gui.gui.widgets.settings_panel import SettingsPanel
from tests.gui.fake_engine import fake_player, write_song
from tests.gui.window_helpers import make_window, open_song


def qsettings(path: Path) -> AppSettings:
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


def test_run_settings_round_trip_and_bad_values(qtbot, tmp_path: Path) -> None:
    store = qsettings(tmp_path / "a.ini")
    custom = RunSettings(
        backend="light",
        taggers=("fcn/mtat", "crnn/jamendo"),
        fft_sizes=(1024, 512),
        steps=33,
        lr=0.25,
        quantise="none",
        mode="free",
        device="cpu",
        seed=7,
        threads=1,
        preview_every=3,
        balance_tags=True,
        second_look=False,
        fit_to_song=False,
    )
    store.save_run(custom, RunSettings())
    assert qsettings(tmp_path / "a.ini").load_run(RunSettings()) == custom
    store.store.setValue("run/steps", "many")
    store.store.setValue("run/fft_sizes", "")
    store.store.setValue("run/balance_tags", "maybe")
    loaded = store.load_run(RunSettings())
    assert loaded.steps == RunSettings().steps and loaded.fft_sizes == RunSettings().fft_sizes
    assert loaded.balance_tags is RunSettings().balance_tags
    # values a hand edit (or another version, another machine) left out of range take the
    # default too, and so do those the panel cannot show (it would show an FFT size that is
    # not one of its buttons as none, and a number past a spin box's limits as that limit)
    for key, text in [("steps", "-5"), ("lr", "0"), ("lr", "inf"), ("threads", "-1"),
                      ("preview_every", "0"), ("quantise", "bogus"), ("mode", "loud"),
                      ("fft_sizes", "1000,512"), ("fft_sizes", "8192"), ("lr", "1e9"),
                      ("threads", str(logical_cpus() + 1)), ("steps", "100001"),
                      ("preview_every", "1001"), ("seed", "-1"), ("seed", str(2**31)),
                      ("lr", "0.00001")]:  # fmt: skip
        store.store.setValue(f"run/{key}", text)
        assert getattr(store.load_run(custom), key) == getattr(custom, key), (key, text)
        store.store.remove(f"run/{key}")
    # the panel's own limits are kept as they are
    panel = SettingsPanel()
    for key in ("steps", "lr", "seed", "threads", "preview_every"):
        box = getattr(panel, key)
        for limit in (box.minimum(), box.maximum()):
            store.store.setValue(f"run/{key}", str(limit))
            assert getattr(store.load_run(custom), key) == limit, (key, limit)
            store.store.remove(f"run/{key}")
    store.store.setValue("run/balance_tags", "false")
    assert store.load_run(RunSettings(balance_tags=True)).balance_tags is False
    assert loaded.lr == 0.25
    store.reset_run()
    assert store.load_run(RunSettings(steps=9)) == RunSettings(steps=9)


def test_only_changed_settings_are_remembered_so_new_defaults_reach_the_rest(
    tmp_path: Path,
) -> None:
    store = qsettings(tmp_path / "a.ini")
    old_defaults = RunSettings(backend="light", fft_sizes=(2048,), steps=60, lr=0.1)
    store.save_run(replace(old_defaults, steps=80, seed=3), old_defaults)
    assert sorted(store.store.allKeys()) == ["run/backend", "run/seed", "run/steps"]
    assert store.saved_backend() == "light"
    new_defaults = replace(old_defaults, fft_sizes=(2048, 1024), lr=0.2)
    loaded = store.load_run(new_defaults)
    assert loaded == replace(new_defaults, steps=80, seed=3)
    # Setting a value back to its default forgets it.
    store.save_run(replace(loaded, steps=60), new_defaults)
    assert sorted(store.store.allKeys()) == ["run/backend", "run/seed"]
    assert qsettings(tmp_path / "b.ini").saved_backend() is None


def test_to_config() -> None:
    config = RunSettings(taggers=("fcn/mtat",), quantise="reference", mode="free").to_config(
        ("piano",), ("rock",), ("beat",), False, True, Region(1.0, 5.0)
    )
    assert config.tags == ("piano",) and config.avoid == ("rock",) and config.ignore == ("beat",)
    assert not config.avoid_others and config.ignore_related
    assert config.taggers == (TaggerSpec("fcn", "mtat"),)
    assert config.quantise is Quantise.REFERENCE and config.mode is Mode.FREE
    assert config.region == Region(1.0, 5.0)


def test_backend_defaults_are_the_engines() -> None:
    light = backend_defaults("light")
    expected = default_config("light")
    assert (light.steps, light.lr, light.fft_sizes) == (
        expected.steps,
        expected.lr,
        expected.fft_sizes,
    )
    assert light.taggers == tuple(str(t) for t in expected.taggers)
    assert light.balance_tags is expected.balance_tags is True
    assert backend_defaults("jukebox").balance_tags is False  # as published
    assert light.to_config(("piano",)).balance_tags is True


def test_recent_files(tmp_path: Path) -> None:
    store = qsettings(tmp_path / "r.ini")
    for i in range(MAX_RECENT + 3):
        store.add_recent(tmp_path / f"{i}.wav")
    store.add_recent(tmp_path / "5.wav")
    files = store.recent_files()
    assert len(files) == MAX_RECENT and files[0].endswith("5.wav") and files.count(files[0]) == 1
    store.remove_recent(files[1])
    assert store.recent_files() == [files[0], *files[2:]]
    store.clear_recent()
    assert store.recent_files() == []
    store.add_recent(tmp_path / "1.wav")
    store.remove_recent(str((tmp_path / "1.wav").resolve()))
    assert store.recent_files() == []


def test_songs_opened_in_another_window_of_the_app_stay_on_open_recent(tmp_path: Path) -> None:
    """Two windows of the app (two launches) share Open recent: a song opened in the other
    one was dropped from it by the next song opened in this one, which wrote back the list
    it had read at its start."""
    import subprocess
    import sys

    ini = tmp_path / "r.ini"
    this = qsettings(ini)
    this.add_recent(tmp_path / "first.wav")
    this.store.sync()
    other = (
        "import sys; from pathlib import Path; from tests.gui.test_settings import qsettings; "
        "s = qsettings(Path(sys.argv[1])); s.add_recent(sys.argv[2]); s.store.sync()"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-c", other, str(ini), str(tmp_path / "second.wav")],
        check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, timeout=60,
    )  # fmt: skip
    assert this.recent_files() == [str(tmp_path / n) for n in ("second.wav", "first.wav")]
    this.add_recent(tmp_path / "third.wav")
    this.store.sync()
    names = ["third.wav", "second.wav", "first.wav"]
    assert qsettings(ini).recent_files() == [str(tmp_path / n) for n in names]


@pytest.mark.parametrize("stored", [5, 2.5, True])
def test_a_recent_list_of_another_type_is_started_afresh(qtbot, tmp_path, model_dir, stored):
    """A value of another type under recent/files (another version's, or a native store that
    keeps types: the registry, a plist) is no list of songs: it is ignored, and songs still
    open and are remembered."""
    ini = tmp_path / "r.ini"
    qsettings(ini).store.setValue("recent/files", stored)
    window = make_window(qtbot, model_dir, qsettings(ini))
    assert window.settings.recent_files() == []
    song = write_song(tmp_path / "Song.wav", seconds=2.0, rate=44_100)
    open_song(qtbot, window, song)
    assert window.settings.recent_files() == [str(song.resolve())]
    window.controller.shutdown(5000)


@pytest.fixture
def panel(qtbot) -> SettingsPanel:
    p = SettingsPanel()
    qtbot.addWidget(p)
    present = [TaggerSpec("fcn", "mtat"), TaggerSpec("musicnn", "mtat")]
    p.set_choices({"jukebox": "weights missing", "light": ""}, PUBLISHED, present, ["cpu"])
    p.set_settings(RunSettings(taggers=("fcn/mtat", "crnn/msd")))
    return p


def test_panel_offers_only_what_is_there(panel: SettingsPanel) -> None:
    assert not panel.backend_usable("jukebox") and panel.backend_usable("light")
    assert panel.settings().taggers == ("fcn/mtat",)  # crnn/msd is not downloaded
    missing = [
        panel.taggers.item(i)
        for i in range(panel.taggers.count())
        if "not downloaded" in panel.taggers.item(i).text()
    ]
    assert len(missing) == len(PUBLISHED) - 2
    assert all(not (item.flags() & Qt.ItemFlag.ItemIsEnabled) for item in missing)
    assert [panel.device.itemData(i) for i in range(panel.device.count())] == ["cpu"]
    assert not panel.quantise.isEnabled()  # a Jukebox-only setting


def test_panel_edits_and_problems(qtbot, panel: SettingsPanel) -> None:
    with qtbot.waitSignal(panel.settings_changed):
        panel.steps.setValue(250)
    panel.fft_buttons[512].setChecked(True)
    panel.fft_buttons[2048].setChecked(False)
    settings = panel.settings()
    assert settings.steps == 250 and 512 in settings.fft_sizes and 2048 not in settings.fft_sizes
    for button in panel.fft_buttons.values():
        button.setChecked(False)
    assert "FFT size" in panel.problem() and panel.note.isVisibleTo(panel)
    panel.fft_buttons[1024].setChecked(True)
    panel.taggers.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert "tagger" in panel.problem()
    assert panel.settings().balance_tags is False
    with qtbot.waitSignal(panel.settings_changed):
        panel.balance_tags.setChecked(True)
    assert panel.settings().balance_tags is True
    panel.set_running(True)
    assert not panel.balance_tags.isEnabled()  # fixed during a run, like the loss it shapes
    assert not panel.threads.isEnabled()
    panel.set_running(False)
    assert panel.balance_tags.isEnabled()


def test_panel_second_look_is_a_setting_of_the_learned_masks(qtbot, panel) -> None:
    panel.set_choices({"learned": "", "light": ""}, PUBLISHED, [TaggerSpec("fcn", "mtat")], ["cpu"])
    panel.set_settings(replace(panel.settings(), backend="learned", mode="mask"))
    assert panel.settings().second_look is True and panel.second_look.isEnabled()
    with qtbot.waitSignal(panel.settings_changed):
        panel.second_look.setChecked(False)
    assert panel.settings().second_look is False
    panel.set_running(True)
    assert not panel.second_look.isEnabled()  # fixed during a run
    panel.set_running(False)
    panel.set_settings(replace(panel.settings(), backend="light"))
    assert not panel.second_look.isEnabled()  # other backends' stems only share
    panel.set_settings(replace(panel.settings(), backend="learned", mode="free"))
    assert not panel.second_look.isEnabled()  # free-mode stems have no mask to look again at


def test_panel_fit_to_the_song_is_a_setting_of_one_pass_learned_runs(qtbot, panel) -> None:
    panel.set_choices({"learned": "", "light": ""}, PUBLISHED, [TaggerSpec("fcn", "mtat")], ["cpu"])
    panel.set_settings(replace(panel.settings(), backend="learned", steps=0))
    assert panel.settings().fit_to_song is True and panel.fit_to_song.isEnabled()
    assert panel.settings().to_config(("piano",)).fit_to_song is True
    with qtbot.waitSignal(panel.settings_changed):
        panel.fit_to_song.setChecked(False)
    assert panel.settings().to_config(("piano",)).fit_to_song is False
    panel.set_running(True)
    assert not panel.fit_to_song.isEnabled()  # fixed during a run
    panel.set_running(False)
    panel.steps.setValue(10)
    assert not panel.fit_to_song.isEnabled()  # steering starts from the bare prototype
    panel.set_settings(replace(panel.settings(), backend="light", steps=0))
    assert not panel.fit_to_song.isEnabled()  # only the learned separator has prototypes


def test_panel_learning_rate_is_a_setting_of_runs_with_steps(qtbot, panel) -> None:
    """One pass learns nothing: the rate is off there, and on (during a run too) with steps."""
    panel.set_choices({"learned": "", "light": ""}, PUBLISHED, [TaggerSpec("fcn", "mtat")], ["cpu"])
    panel.set_settings(replace(panel.settings(), backend="learned", steps=0))
    assert not panel.lr.isEnabled()
    panel.set_running(True)
    assert not panel.lr.isEnabled()
    panel.set_running(False)
    panel.steps.setValue(10)
    assert panel.lr.isEnabled()
    panel.set_running(True)
    assert panel.lr.isEnabled()  # still editable during a steered run


def test_panel_threads_default_to_automatic(qtbot, panel: SettingsPanel) -> None:
    assert panel.settings().threads == 0 and panel.threads.text() == "Auto"
    with qtbot.waitSignal(panel.settings_changed):
        panel.threads.setValue(1)
    assert panel.settings().threads == 1
    panel.set_settings(replace(panel.settings(), threads=10_000))  # saved on a bigger machine
    assert panel.settings().threads == panel.threads.maximum() >= 1


def test_switching_the_backend_keeps_the_machines_cpu_threads(qtbot, tmp_path, model_dir) -> None:
    window = MainWindow(ModelStore(model_dir), qsettings(tmp_path / "t.ini"), player=fake_player())
    qtbot.addWidget(window)
    panel = window.settings_panel
    panel.threads.setValue(1)  # e.g. to leave the other CPUs to the DAW
    panel.backend.setCurrentIndex(panel.backend.findData("light"))
    assert panel.settings().backend == "light" and panel.settings().threads == 1
    assert panel.settings().steps == backend_defaults("light").steps  # the light backend's own
    window.close()


def test_window_remembers_settings_and_resets_them(qtbot, tmp_path, model_dir) -> None:
    ini = tmp_path / "w.ini"
    first = MainWindow(ModelStore(model_dir), qsettings(ini), player=fake_player())
    qtbot.addWidget(first)
    assert [
        first.settings_panel.device.itemData(i) for i in range(first.settings_panel.device.count())
    ] == engine.available_devices()
    first.settings_panel.steps.setValue(42)
    first.settings_panel.seed.setValue(5)
    first.settings_panel.taggers.item(1).setCheckState(Qt.CheckState.Checked)  # crnn/mtat
    first.close()
    # Only what was changed is stored; the rest follows the (learned) backend's defaults.
    assert "run/fft_sizes" not in qsettings(ini).store.allKeys()
    assert {"run/backend", "run/steps", "run/seed", "run/taggers"} <= set(
        qsettings(ini).store.allKeys()
    )
    second = MainWindow(ModelStore(model_dir), qsettings(ini), player=fake_player())
    qtbot.addWidget(second)
    remembered = second.settings_panel.settings()
    assert remembered.steps == 42 and remembered.seed == 5
    assert remembered.taggers == ("fcn/mtat", "crnn/mtat")
    assert [str(t) for t in second.tag_panel.board.taggers] == ["fcn/mtat", "crnn/mtat"]
    second.settings_panel.reset.click()
    assert second.settings_panel.settings() == backend_defaults("learned", "cpu")
    third = MainWindow(ModelStore(model_dir), qsettings(ini), player=fake_player())
    qtbot.addWidget(third)
    assert third.settings_panel.settings().steps == backend_defaults("learned").steps


def test_a_launch_that_changes_no_setting_writes_no_settings(qtbot, tmp_path, model_dir) -> None:
    """The run settings are written when they change, not each time the panel says they may
    have: filling it at launch rewrote the settings file every time the app started."""
    ini = tmp_path / "l.ini"
    first = MainWindow(ModelStore(model_dir), qsettings(ini), player=fake_player())
    qtbot.addWidget(first)
    first.settings_panel.steps.setValue(42)
    first.close()
    before = ini.stat()
    second = MainWindow(ModelStore(model_dir), qsettings(ini), player=fake_player())
    qtbot.addWidget(second)
    panel = second.settings_panel
    with qtbot.waitSignal(panel.settings_changed):
        panel.set_settings(replace(panel.settings(), steps=42))  # the same again
    after = ini.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    panel.seed.setValue(9)  # a change is written at once
    assert qsettings(ini).load_run(backend_defaults("learned")).seed == 9
    second.close()


def test_settings_of_a_backend_no_longer_usable_fall_back_to_the_learned_defaults(
    qtbot, tmp_path, model_dir
) -> None:
    """Jukebox settings saved before its weights were removed: the panel falls back to the
    learned separator, with the learned separator's values, not Jukebox's under its name."""
    ini = tmp_path / "j.ini"
    saved = qsettings(ini)
    jukebox = backend_defaults("jukebox")
    saved.save_run(replace(jukebox, seed=3), jukebox)  # only the backend and the seed stored
    window = MainWindow(ModelStore(model_dir), qsettings(ini), player=fake_player())
    qtbot.addWidget(window)
    assert not window.settings_panel.backend_usable("jukebox")  # no weights in model_dir
    learned = backend_defaults("learned", engine.available_devices()[0])
    assert window.settings_panel.settings() == replace(learned, seed=3)
    window.close()
    stored = qsettings(ini)
    assert stored.saved_backend() == "learned"
    assert "run/lr" not in stored.store.allKeys() and "run/steps" not in stored.store.allKeys()


def test_the_light_backend_is_not_said_to_need_no_download(panel: SettingsPanel) -> None:
    # It steers with the taggers (fcn/mtat, fcn/jamendo for bass): an empty model folder
    # lacks them as it lacks the Jukebox weights.
    light = panel.backend.itemText(panel.backend.findData("light"))
    assert "no download" not in light and "tagger" in light
