"""Stem file names from a template with the fields {song} and {stem}."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.audio.export import (
    export_shared_stems,
    export_stems,
    shared_stem_paths,
    stem_paths,
)
from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.audio.naming import (
    DEFAULT_TEMPLATE,
    check_template,
    shared_stem_names,
    stem_names,
)
from tagbox_gui.core.audio.song import Song
from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.types import ANALYSIS_RATE, Estimate

RATE = 44_100


def _song(name: str = "Tune") -> Song:
    data = 0.1 * np.random.default_rng(0).standard_normal((RATE, 2)).astype(np.float32)
    return Song(Path(f"{name}.wav"), name, data, RATE, "FLOAT", "WAV")


def _estimate(value: float) -> Estimate:
    length = ANALYSIS_RATE
    return Estimate(0, length, {2048: np.full((1025, 1 + length // 1024), value, np.float32)})


def _one_sentence(error: pytest.ExceptionInfo[AudioError]) -> str:
    text = str(error.value)
    assert "\n" not in text and text.endswith("."), text
    return text


def test_the_default_template_gives_the_names_of_before() -> None:
    assert DEFAULT_TEMPLATE == "{song} - {stem}"
    cases = [
        ("Song", ["piano"]),
        ("Song", ["drums", "bass"]),
        ("con", []),
        ("...", ["nul"]),
        ("a/b:c", ["x/y", " "]),
        ("S" * 100, ["guitar"] * 60),
    ]
    for song, tags in cases:
        assert stem_names(song, tags, template=DEFAULT_TEMPLATE) == stem_names(song, tags)
    assert stem_names("Song", ["piano"]) == ("Song - piano", "Song - no piano")
    assert shared_stem_names("Song", ["drums", "bass"]) == [
        "Song - drums",
        "Song - bass",
        "Song - no drums + bass",
    ]


def test_a_template_names_the_stems_and_is_sanitised() -> None:
    assert stem_names("Tune", ["piano"], template="{stem} ({song})") == (
        "piano (Tune)",
        "no piano (Tune)",
    )
    assert shared_stem_names("Tune", ["drums", "organ"], template="{stem}") == [
        "drums",
        "organ",
        "no drums + organ",
    ]
    # Characters file systems refuse become _, as in the song and tag names; braces are text.
    assert stem_names("Tune", ["piano"], template='{song}: "{stem}" {{1}}')[0] == (
        "Tune_ _piano_ {1}"
    )
    assert stem_names("Tune", ["con"], template="{stem}")[0] == "_con"  # a reserved name
    # Windows reserves COM and LPT with a superscript 1, 2 or 3 as it does with a digit.
    for port in ("COM¹", "com²", "COM³.x", "LPT¹", "lpt²", "LPT³"):
        assert stem_names("Tune", [port], template="{stem}")[0] == f"_{port}"
    assert stem_names("Tune", ["COM⁴"], template="{stem}")[0] == "COM⁴"  # not reserved
    # A leading dot would hide the stem on macOS and Linux.
    assert stem_names(".take 3", ["piano"]) == ("take 3 - piano", "take 3 - no piano")
    assert shared_stem_names("Tune", [".x", "y"], template="{stem}")[0] == "x"
    long = stem_names("S" * 60, ["guitar"] * 60, template="{stem} - {song} - {stem}")
    assert all(len(name.encode()) + len(".flac") <= 205 for name in long)
    assert long[1].startswith("no guitar") and "…" in long[1]


def test_paths_and_files_follow_the_template(tmp_path: Path) -> None:
    song, fmt, template = _song(), ExportFormat.WAV32, "{stem} of {song}"
    expected = stem_paths(tmp_path / "a", song.name, ["piano"], fmt, template=template)
    assert [p.name for p in expected] == ["piano of Tune.wav", "no piano of Tune.wav"]
    written = export_stems(song, _estimate(0.6), tmp_path / "a", ["piano"], fmt, template=template)
    assert list(written) == list(expected) and all(p.is_file() for p in written)
    assert sf.SoundFile(written[0]).title == "piano of Tune"
    names = ["drums", "organ"]
    expected_shared = shared_stem_paths(tmp_path / "b", song.name, names, fmt, template=template)
    estimates = {"drums": _estimate(0.3), "organ": _estimate(0.4)}
    stems, rest = export_shared_stems(song, estimates, tmp_path / "b", fmt, template=template)
    assert [*stems, rest] == expected_shared
    assert [p.name for p in expected_shared] == [
        "drums of Tune.wav",
        "organ of Tune.wav",
        "no drums + organ of Tune.wav",
    ]
    total = sum(sf.read(p, dtype="float64")[0] for p in expected_shared)
    assert np.abs(total - song.data).max() <= 1e-6


BAD = {
    "an unknown field": ("{song} - {instrument}", "'{instrument}', which it does not know"),
    "a positional field": ("{} - {stem}", "'{}', which it does not know"),
    "a format spec": ("{stem:>20}", "'{stem:>20}'"),
    # said in a musician's words, not Python's ("Single '}' encountered in format string")
    "an open brace": ("{song - {stem}", "'{song - {stem}' has a brace that opens or closes no"),
    "an unclosed brace": ("{stem} {so", "'{stem} {so' has a brace that opens or closes no field"),
    "a lone closing brace": ("{stem}}", "'{stem}}' has a brace that opens or closes no field"),
    "a folder": ("stems/{stem}", "folder separator"),
    "a parent folder": ("..\\{stem}", "folder separator"),
    "no name at all": ("", "empty file name"),
    "dots only": ("..", "empty file name"),
    "no {stem}": ("{song}", "has no {stem}"),
    "{stem} as text": ("{song} {{stem}}", "has no {stem}"),
    "an extension": ("{song} - {stem}.WAV", "ends in '.wav', but the format adds"),
    "an Ogg extension": ("{song} - {stem}.oga", "ends in '.oga', but the format adds"),
    # the name loses what follows the extension (a file name cannot end in a space or a dot)
    "an extension, then a space": ("{song} - {stem}.wav ", "ends in '.wav', but the format"),
    "an extension, then a dot": ("{stem}.FLAC.", "ends in '.flac', but the format adds"),
}


@pytest.mark.parametrize(("template", "words"), list(BAD.values()), ids=list(BAD))
def test_a_bad_template_is_one_sentence_and_writes_nothing(
    tmp_path: Path, template: str, words: str
) -> None:
    with pytest.raises(AudioError) as error:
        check_template(template)
    assert words in _one_sentence(error)
    for call in (
        lambda: stem_paths(tmp_path, "Tune", ["piano"], ExportFormat.WAV32, template=template),
        lambda: shared_stem_names("Tune", ["drums", "bass"], template=template),
        lambda: export_stems(
            _song(), _estimate(0.5), tmp_path / "out", ["piano"], template=template
        ),
        lambda: export_shared_stems(
            _song(), {"drums": _estimate(0.5)}, tmp_path / "out", template=template
        ),
    ):
        with pytest.raises(AudioError, match=re.escape(words)):
            call()
    assert not (tmp_path / "out").exists()


def test_stems_that_would_share_a_name_are_refused(tmp_path: Path) -> None:
    check_template("{stem}")  # a good template...
    with pytest.raises(AudioError) as error:  # ...but two names that sanitise to one
        shared_stem_names("Tune", ["a/b", "a_b"], template="{stem}")
    assert "both be named 'a_b'" in _one_sentence(error)
    with pytest.raises(AudioError) as error:  # some file systems ignore case
        shared_stem_paths(tmp_path, "Tune", ["Piano", "piano"], ExportFormat.WAV32)
    assert "differ only in case" in _one_sentence(error)
    with pytest.raises(AudioError):
        export_shared_stems(
            _song(), {"Piano": _estimate(0.3), "piano": _estimate(0.3)}, tmp_path / "out"
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("song_name", ["月" * 82, "S" * 250, "Ü" * 120])
def test_a_long_song_name_is_shortened_to_fit(song_name: str) -> None:
    # A song's own file name may take up to 255 bytes; its stems' names add to it.
    for template in (DEFAULT_TEMPLATE, "{song} - {stem} ({song})"):
        names = [
            *stem_names(song_name, ["piano"], template=template),
            *shared_stem_names(song_name, ["drums", "bass"], template=template),
        ]
        assert all(len(name.encode()) + len(".flac") <= 205 for name in names), names
        assert all("piano" in name for name in names[:2]) and "drums" in names[2]
        assert len(set(names)) == len(names)


def test_a_template_too_long_for_a_file_name_is_refused(tmp_path: Path) -> None:
    template = "x" * 250 + " {stem}"  # 250 bytes of its own: no stem name fits in 255
    with pytest.raises(AudioError) as error:
        check_template(template)
    assert "too long for a file name" in _one_sentence(error)
    check_template("x" * 150 + " {stem}")  # long, but the stems' names still fit
