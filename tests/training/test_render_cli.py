"""What ``python -m training.render`` refuses before it renders or writes anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from training import render
from training.render import RenderSettings, main


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--n-songs", "-3"], "--n-songs must be at least 1, not -3"),
        (["--n-songs", "0"], "--n-songs must be at least 1, not 0"),
        (["--seed", "-1"], "--seed must be at least 0, not -1"),
        (["--jobs", "0"], "--jobs must be at least 1, not 0"),
        (["--seconds", "0"], "--seconds must be a positive number, not 0.0"),
        (["--seconds", "-2"], "--seconds must be a positive number, not -2.0"),
        (["--seconds", "nan"], "--seconds must be a positive number, not nan"),
    ],
)
def test_impossible_settings_are_refused_before_the_corpus_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    out = tmp_path / "corpus"
    with pytest.raises(SystemExit) as exited:
        main(["--out", str(out), "--soundfonts", "timgm6mb", "--n-songs", "1", *options])
    assert exited.value.code == 2  # argparse's usage error
    assert message in capsys.readouterr().err
    assert not out.exists()  # no corpus.json that would hold a resumed run to these settings


def test_index_only_of_a_folder_that_is_no_corpus_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--index-only", "--out", str(tmp_path / "nowhere")])
    assert exited.value.code == 2
    assert "nowhere is not a rendered corpus (no corpus.json)" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_a_corpus_folder_that_cannot_be_made_is_one_clear_error(
    tmp_path: Path, fluidsynth: str
) -> None:
    """A file where the corpus goes (or a read-only disk) gave a traceback from the first song."""
    out = tmp_path / "corpus"
    out.write_text("a file, not a folder")
    with pytest.raises(SystemExit) as exited:
        main(["--out", str(out), "--soundfonts", "timgm6mb", "--n-songs", "1"])
    assert "is a file, not a folder" in str(exited.value.code)
    assert out.read_text() == "a file, not a folder"


@pytest.mark.parametrize("resumed", [False, True])
def test_a_missing_soundfont_is_one_line_before_any_song_is_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resumed: bool
) -> None:
    """Without OPL3's file, a new corpus of the default SoundFonts (whose corpus.json names
    every file) and a resumed one that renders OPL3 songs are refused in one line, rather than
    with a traceback, or every song failing on its own."""
    missing = "SoundFont 'opl3' not found; run training/setup.sh (package opl3-soundfont)"

    def stack_paths(name: str) -> list[Path]:
        if name == "opl3":
            raise FileNotFoundError(missing)
        return [tmp_path / f"{name}.sf2"]

    monkeypatch.setattr(render, "stack_paths", stack_paths)
    out = tmp_path / "corpus"
    settings = RenderSettings(out, 1.0, 0, ("timgm6mb", "opl3"))
    if resumed:
        out.mkdir()
        (out / "corpus.json").write_text(json.dumps(settings.identity()))
    options = ["--out", str(out), "--soundfonts", "timgm6mb,opl3", "--seconds", "1"]
    with pytest.raises(SystemExit) as exited:  # the fluidsynth given is never run
        main([*options, "--n-songs", "2", "--fluidsynth", sys.executable])
    assert exited.value.code == missing
    left = sorted(p.name for p in out.iterdir()) if out.exists() else None
    assert left == (["corpus.json"] if resumed else None)
