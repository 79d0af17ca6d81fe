"""`tagbox separate` says what is wrong with its files before it loads a model: a stem already
there is refused at once, not after the models have loaded (or failed to)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagbox_gui.cli import main
from tagbox_gui.core.separation import engine, job_checks
from tests.cli.processes import write_song


def _separate(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    code = main(["separate", *map(str, args)])
    return code, capsys.readouterr().err


@pytest.fixture
def no_model_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every model load of a run (the engine's, and a job's checks) is recorded and refused."""
    loads: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        loads.append("models")
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(engine, "create_backend_factory", refuse)
    monkeypatch.setattr(engine, "build_criteria", refuse)
    monkeypatch.setattr("tagbox_gui.core.separation.loading.create_backend_factory", refuse)
    monkeypatch.setattr("tagbox_gui.core.separation.loading.build_criteria", refuse)
    monkeypatch.setattr(job_checks, "check_part", refuse)
    return loads


@pytest.mark.parametrize(
    ("what", "there"),
    [
        (("--tags", "piano"), "song - piano.wav"),
        (("--tags", "piano", "--no-refine", "--no-fit"), "song - no piano.wav"),
        (("--each", "piano,drums"), "song - no piano + drums.wav"),
    ],
)
def test_a_stem_already_there_is_refused_before_any_model_loads(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_model_loads: list[str],
    what: tuple[str, ...],
    there: str,
) -> None:
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / there).write_bytes(b"old")
    code, err = _separate(capsys, song, *what, "--threads", "1", "-o", out)
    assert code == 2, err
    assert f"'{there}' is already in" in err and "--overwrite" in err
    assert no_model_loads == []
    assert (out / there).read_bytes() == b"old"


def test_an_example_without_its_taggers_is_refused_for_the_stems_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The example's query needs the taggers, which this model folder lacks: the stems that
    # are there already are the first thing to fix, and said before any model is looked for.
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / "song - example.wav").write_bytes(b"old")
    code, err = _separate(capsys, song, "--example-region", "0:2", "--model-dir",
                          tmp_path / "no models", "--threads", "1", "-o", out)  # fmt: skip
    assert code == 2, err
    assert "'song - example.wav' is already in" in err
    assert "not installed" not in err
