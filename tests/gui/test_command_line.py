"""``tagbox-gui``'s command line: the song to open, our options and Qt's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagbox_gui.gui.app import parse_args


def test_a_qt_option_with_a_value_is_not_taken_for_the_song() -> None:
    args, qt = parse_args(["-platform", "offscreen", "song.wav", "-style", "Fusion"])
    assert args.song == Path("song.wav")
    assert qt == ["-platform", "offscreen", "-style", "Fusion"]
    args, qt = parse_args(["--platform", "offscreen", "-reverse"])
    assert args.song is None and qt == ["--platform", "offscreen", "-reverse"]
    args, qt = parse_args(["song.wav", "--model-dir", "models", "-qwindowtitle", "Mix"])
    assert (args.song, args.model_dir) == (Path("song.wav"), Path("models"))
    assert qt == ["-qwindowtitle", "Mix"]


def test_two_songs_are_refused_with_a_sentence(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["one.wav", "two.wav"])
    assert exited.value.code == 2
    assert "one song at a time; not also two.wav" in capsys.readouterr().err
