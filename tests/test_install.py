"""The package as a musician installs it: a wheel, not this checkout.

After ``pip install``, separating by instrument must need no download: the separator's weights
and prototypes ship as package data. These tests build the wheel, check what it holds, install
it into a fresh virtual environment (its other dependencies taken from this one) and separate a
song from outside the repository, with a home folder of its own.
"""

from __future__ import annotations

import email.parser
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import tagbox_gui
from tagbox_gui.core.separation.backends.learned import WEIGHTS_SHA256

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "tagbox_gui" / "resources"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the package's sources: the build writes nothing into
    the checkout, and no metadata left there by an earlier install decides what it holds."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "tagbox_gui", source / "tagbox_gui",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (found,) = out.glob("tagbox_gui-*.whl")
    return found


def _shipped_resources() -> set[str]:
    """Every resource file of the checkout, as a path inside the wheel."""
    return {
        path.relative_to(REPO).as_posix()
        for path in RESOURCES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_holds_every_resource_and_the_registered_weights(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        weights = archive.read("tagbox_gui/resources/separator/separator.pt")
    missing = _shipped_resources() - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert hashlib.sha256(weights).hexdigest() == WEIGHTS_SHA256
    assert not any(name.startswith(("tests/", "training/", "benchmarks/")) for name in names)


def test_the_wheel_ships_the_licence_its_metadata_names(wheel: Path) -> None:
    """The metadata names the MIT licence as an SPDX expression and the wheel holds the
    project's LICENSE, word for word, next to it."""
    dist_info = wheel.name.split("-py3")[0] + ".dist-info"
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        shipped = archive.read(f"{dist_info}/licenses/LICENSE").decode()
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert shipped == (REPO / "LICENSE").read_text()
    assert shipped.startswith("MIT License")
    assert metadata["Version"] == tagbox_gui.__version__  # one version: the app's own


def test_the_version_is_written_once() -> None:
    """pyproject takes the version from the package, which the app and About show."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]


def test_an_installed_wheel_separates_by_instrument_with_no_download(
    wheel: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "env"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # No PYTHONPATH: with the checkout on it, pip would take the checkout's package for the
    # wheel's, installed already, and the checkout's would run, not the wheel's.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAGBOX_", "XDG_")) and k != "PYTHONPATH"}  # fmt: skip
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   env=env, check=True, capture_output=True, timeout=300)  # fmt: skip

    home = tmp_path / "home"  # an empty home: no model store, no settings, no cache
    env.update({"HOME": str(home), **{f"XDG_{kind.upper()}_HOME": str(home / kind)
                                      for kind in ("data", "cache", "config")}})  # fmt: skip
    where = subprocess.run(
        [str(python), "-c", "import tagbox_gui; print(tagbox_gui.__file__)"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(env_dir)  # the wheel, not this checkout

    rate = 44100
    t = np.arange(4 * rate) / rate
    song = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sign(np.sin(2 * np.pi * 55 * t))
    sf.write(tmp_path / "song.wav", np.stack([song, song], axis=1), rate)
    run = subprocess.run(
        [str(env_dir / "bin" / "tagbox"), "separate", "song.wav", "--tags", "piano", "-o", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    separated, _ = sf.read(tmp_path / "out" / "song - piano.wav")
    residual, _ = sf.read(tmp_path / "out" / "song - no piano.wav")
    mix, _ = sf.read(tmp_path / "song.wav", dtype="float32")
    assert np.allclose(separated + residual, mix, atol=1e-6)
    assert not any(home.rglob("*.pt*"))  # no weights were fetched into the empty home
