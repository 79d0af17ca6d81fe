"""SoundFont bundles: the listed packages' files, carried to a machine without the packages."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from training.soundfonts import (
    BUNDLE_ENV,
    BUNDLE_MANIFEST,
    PACKAGES,
    read_presets,
    sound_font_path,
    write_bundle,
)


@pytest.fixture
def bundle(tmp_path: Path, timgm6mb: Path) -> Iterator[Path]:
    folder = tmp_path / "sf2"
    write_bundle(["timgm6mb"], folder)
    yield folder
    sound_font_path.cache_clear()


def _use(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv(BUNDLE_ENV, str(folder))
    sound_font_path.cache_clear()


def test_a_bundle_serves_the_packages_file(bundle: Path, timgm6mb: Path, monkeypatch) -> None:
    entry = json.loads((bundle / BUNDLE_MANIFEST).read_text())["timgm6mb"]
    assert entry["package"] == PACKAGES["timgm6mb"] and entry["file"] == timgm6mb.name
    _use(monkeypatch, bundle)
    path = sound_font_path("timgm6mb")
    assert path == bundle / timgm6mb.name
    assert read_presets(path) == read_presets(timgm6mb)


def test_a_soundfont_the_bundle_lacks_is_not_found(bundle: Path, monkeypatch) -> None:
    _use(monkeypatch, bundle)
    with pytest.raises(FileNotFoundError, match="csound"):
        sound_font_path("csound")


def test_a_changed_file_is_refused(bundle: Path, timgm6mb: Path, monkeypatch) -> None:
    with open(bundle / timgm6mb.name, "ab") as f:
        f.write(b"\0")
    _use(monkeypatch, bundle)
    with pytest.raises(ValueError, match="not a file package"):
        sound_font_path("timgm6mb")


def test_a_hand_made_manifest_cannot_pass_off_another_file(
    bundle: Path, timgm6mb: Path, monkeypatch
) -> None:
    """The manifest's own digest is not trusted: the file must be one the package ships."""
    other = bundle / timgm6mb.name
    with open(other, "ab") as f:
        f.write(b"\0")
    manifest = json.loads((bundle / BUNDLE_MANIFEST).read_text())
    manifest["timgm6mb"]["sha256"] = hashlib.sha256(other.read_bytes()).hexdigest()
    (bundle / BUNDLE_MANIFEST).write_text(json.dumps(manifest))
    _use(monkeypatch, bundle)
    with pytest.raises(ValueError, match="not a file package timgm6mb-soundfont ships"):
        sound_font_path("timgm6mb")


def test_a_file_from_another_package_is_refused(bundle: Path, monkeypatch) -> None:
    manifest = json.loads((bundle / BUNDLE_MANIFEST).read_text())
    manifest["timgm6mb"]["package"] = "some-other-soundfont"
    (bundle / BUNDLE_MANIFEST).write_text(json.dumps(manifest))
    _use(monkeypatch, bundle)
    with pytest.raises(ValueError, match="not from package"):
        sound_font_path("timgm6mb")


def test_a_folder_without_a_manifest_is_no_bundle(tmp_path: Path, monkeypatch) -> None:
    _use(monkeypatch, tmp_path)
    try:
        with pytest.raises(FileNotFoundError, match="not a SoundFont bundle"):
            sound_font_path("timgm6mb")
    finally:
        sound_font_path.cache_clear()


def test_the_model_card_gives_the_licence_of_every_soundfont() -> None:
    """Every SoundFont package training may render with has a row in the model card's table
    of licences, with the licence its copyright file states."""
    card = (Path(__file__).resolve().parents[2] / "docs" / "separator.md").read_text()
    lines = card.splitlines()
    start = lines.index("| SoundFont | Debian package | Licence of the .sf2 |") + 2
    rows = {}
    for line in itertools.takewhile(lambda line: line.startswith("|"), lines[start:]):
        _, package, licence = (cell.strip() for cell in line.strip("|").split("|"))
        rows[package.strip("`")] = licence
    assert set(rows) == set(PACKAGES.values())
    assert all(rows.values())
