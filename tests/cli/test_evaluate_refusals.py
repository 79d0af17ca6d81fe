"""`tagbox evaluate` refuses what it cannot do in one clear line, before any work: an unknown
set, a report in the estimates' place, sources that name nothing, bad examples' settings."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
from pathlib import Path

import pytest
import soundfile

from tagbox_gui.cli import main
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.separation.loading import default_config
from tests.cli.evaluation_sets import DRUMS, STORE

pytestmark = pytest.mark.usefixtures("keep_threads")


def test_set_check_reads_each_header_once(tiny_set: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--score-from is checked against the lengths read when the set is checked."""
    from tagbox_gui.cli.evaluate import check_set

    read, info = [], soundfile.info

    def counted(path: str, *args: object, **kwargs: object) -> object:
        read.append(path)
        return info(path, *args, **kwargs)

    monkeypatch.setattr(soundfile, "info", counted)
    check_set(tiny_set, ("drums",), score_from=1.0)
    files = [*tiny_set.glob("*/mix.flac"), *tiny_set.glob("*/stems/*.flac")]
    assert sorted(read) == sorted(str(path) for path in files)  # each once, the mixes too
    with pytest.raises(ConfigError, match="leaves nothing to score"):
        check_set(tiny_set, score_from=3.0)


def test_a_score_from_that_leaves_no_sample_to_score_is_refused(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--score-from is held against the songs as the scores count it, in samples: within half
    a sample of every song's end nothing is scored, and the run is refused before any work."""
    from tagbox_gui.cli.evaluate import check_set

    info = soundfile.info(str(next(tiny_set.glob("*/mix.flac"))))
    end = max(soundfile.info(str(p)).frames for p in tiny_set.glob("*/mix.flac")) / info.samplerate
    check_set(tiny_set, score_from=end - 0.6 / info.samplerate)  # the last sample is scored
    almost = end - 0.4 / info.samplerate
    with pytest.raises(ConfigError, match="leaves nothing to score"):
        check_set(tiny_set, score_from=almost)
    est = tmp_path / "est"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--threads", "1",
            "--score-from", repr(almost)]  # fmt: skip
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "leaves nothing to score" in lines[0], lines
    assert not est.exists()


def test_a_set_whose_manifest_lists_no_source_is_refused(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest whose songs have no sources leaves nothing to separate or score: refused,
    not a run that ends well with an empty table."""
    from tagbox_gui.core.errors import AudioError
    from tagbox_gui.core.evaluation.sets import check_set

    songs = sorted(p.name for p in tiny_set.iterdir() if p.is_dir())
    manifest = {"songs": [{"id": song, "sources": []} for song in songs]}
    (tiny_set / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AudioError, match="lists no source"):
        check_set(tiny_set)
    est = tmp_path / "est"
    assert main(["evaluate", str(tiny_set), "-o", str(est), "--threads", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "lists no source" in lines[0], lines
    assert not est.exists()


def test_a_manifest_song_without_sources_among_others_is_refused(tiny_set: Path) -> None:
    """One song listed with no sources would be left out of the scores without a word."""
    from tagbox_gui.core.errors import AudioError
    from tagbox_gui.core.evaluation.sets import check_set

    first, *others = sorted(p.name for p in tiny_set.iterdir() if p.is_dir())
    stems = sorted(p.stem for p in (tiny_set / first / "stems").iterdir())
    songs = [{"id": first, "sources": stems}] + [{"id": s, "sources": []} for s in others]
    (tiny_set / "manifest.json").write_text(json.dumps({"songs": songs}))
    more = f" (nor of {len(others) - 1} more)" if len(others) > 1 else ""
    with pytest.raises(
        AudioError, match=f"lists no source of the song '{others[0]}'{re.escape(more)};"
    ):
        check_set(tiny_set)


@pytest.mark.parametrize("name", ["dev", "dev-duets"])
def test_the_shared_sets_pass_the_set_check(eval_dir: Path, name: str) -> None:
    from tagbox_gui.core.evaluation.sets import check_set

    songs = check_set(eval_dir / name, score_from=1.0, example_seconds=3.0)
    assert songs and all(sources for _, sources in songs)


def test_unknown_set_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "nope"), "-o", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tagbox: error:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("report", "words"),
    [
        ("new/est", "is the estimates folder"),
        ("new", "is a folder above the estimates folder"),
        ("new/est/band000", "the song 'band000'"),
        ("new/est/band000/drums.wav", "the song 'band000'"),  # the stem would be the report
        ("new/est/band001/drums.estimate.npz", "the song 'band001'"),
    ],
)
def test_the_json_report_never_takes_the_place_of_the_estimates(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    report: str,
    words: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A --json file where the run writes its estimates and stems is refused before anything
    is separated: the report could not be written over a folder the run made, or would
    replace a stem or an estimate of this run."""
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "new" / "est"), "--sources",
            "drums", "--threads", "1", "--model-dir", str(model_dir),
            "--json", str(tmp_path / report)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "report", ["manifest.json", "band000/mix.flac", "band000/stems/drums.flac", "band001/x.json"]
)
def test_the_json_report_never_replaces_a_file_of_the_set(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    report: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A --json file that is the set's manifest or in a song's folder of the set (its mix, a
    true stem) is refused before anything is separated: the report would replace a file the
    run reads, and the set would be broken."""
    target = tiny_set / report
    before = target.read_bytes() if target.exists() else None
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--threads", "1", "--model-dir", str(model_dir), "--json", str(target)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "of the set" in err and len(err.strip().splitlines()) == 1
    assert (target.read_bytes() if target.exists() else None) == before
    assert not (tmp_path / "est").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_json_report_that_is_a_pipe_is_refused_not_replaced(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pipe (or a device, /dev/null) given as --json is refused before any work: writing
    the report through a temporary and a rename would put a plain file in its place."""
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--threads", "1", "--model-dir", str(model_dir), "--json", str(pipe)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not a file on disk (a pipe or a device)" in err
    assert len(err.strip().splitlines()) == 1
    assert stat.S_ISFIFO(pipe.lstat().st_mode) and not (tmp_path / "est").exists()


def test_sources_that_name_nothing_are_an_error_not_every_source(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--sources ""` (an empty variable in a script) or `--sources ,` names no source: an
    error, not a run of every source of the set; `--by-example ,` likewise, not a run that asks
    for none by example."""
    for option, names in (("--sources", ""), ("--sources", ","), ("--by-example", ""),
                          ("--by-example", ",")):  # fmt: skip
        args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), option, names,
                "--threads", "1", "--model-dir", str(model_dir)]  # fmt: skip
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"{option} names no source" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "est").exists()


@pytest.mark.parametrize(
    ("example", "said"),
    [
        # a name no song has (a typo): not a run of every source by its prototype
        (["--by-example", "drum"], "--by-example: no song of"),
        # a source of the set not in --sources: it was never separated, without a word
        (
            ["--by-example", "bass", "--example-seconds", "1"],
            "--by-example: bass is not evaluated; name it in --sources",
        ),
    ],
    ids=["a typo", "outside --sources"],
)
def test_by_example_names_sources_that_are_evaluated(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    example: list[str],
    said: str,
) -> None:
    """A --by-example name must be a source of the set that this run evaluates."""
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            *example, "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "est").exists()


@pytest.mark.parametrize(
    ("backend", "asking"),
    [("light", ["--example-seconds", "1"]), ("jukebox", ["--by-example", "drums"])],
)
def test_asking_by_example_is_refused_with_a_backend_that_cannot_be(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    backend: str,
    asking: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Only the learned backend can be asked by example: with another, --example-seconds and
    --by-example are an error before anything is separated, not options silently ignored."""
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--backend", backend, "--steps", "1", *asking,
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"the {backend} backend cannot be asked by example" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "est").exists()
    plan = dataclasses.replace(DRUMS, example_seconds=1.0)
    with pytest.raises(ConfigError, match="cannot be asked by example"):
        evaluation_pairs.plan_pairs(tiny_set, tmp_path, default_config(backend), STORE, plan)


@pytest.mark.parametrize("seconds", ["0", "-1", "0.25", "nan", "inf", "4"])
def test_bad_example_seconds_are_refused_before_any_work(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str],
    seconds: str,
) -> None:  # fmt: skip
    """0, negative, shorter than an example clip may be, not a number, or longer than every
    song (here 3 s): one clear error before the first separation (the drums, asked for by
    their prototype, come before the strings, asked for by example)."""
    est = tmp_path / "est"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums,strings",
            "--by-example", "strings", "--example-seconds", seconds, "--threads", "1",
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--example-seconds" in err and len(err.strip().splitlines()) == 1
    assert not est.exists()


def test_an_evaluation_plan_refuses_bad_seconds() -> None:
    for seconds in (0.0, -1.0, 0.25, math.nan, math.inf):
        with pytest.raises(ConfigError, match="example_seconds must be"):
            evaluation_pairs.EvaluationPlan(example_seconds=seconds)
    for seconds in (-1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match="score_from must be"):
            evaluation_pairs.EvaluationPlan(score_from=seconds)


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--lr", "1e39"], "learning rate must be a positive number of at most 1000"),
        (["--steps", "2", "--fft", "1022"], "FFT sizes must be multiples of 4"),
    ],
)
def test_settings_no_song_can_run_with_are_refused_before_the_first_pair(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    option,
    words,
) -> None:
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--model-dir", str(model_dir), *option]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("tagbox: error:") and words in err
    assert len(err.strip().splitlines()) == 1  # no progress bar drawn before it
    assert not (tmp_path / "est").exists()


@pytest.mark.parametrize("where", [".", "band000", "band000/stems"])
def test_estimates_are_never_written_into_the_set(
    tiny_set: Path, tmp_path: Path, model_dir: Path, where: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """An estimates folder that is the set, or in one of its songs' folders, is refused before
    anything is separated: the stems and estimates would go in among the mixes and true
    stems the run reads (and a set without a manifest would take them for songs' files)."""
    before = sorted(p.relative_to(tiny_set) for p in tiny_set.rglob("*"))
    args = ["evaluate", str(tiny_set), "-o", str(tiny_set / where), "--sources", "drums",
            "--threads", "1", "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the set" in err and "estimates folder" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.relative_to(tiny_set) for p in tiny_set.rglob("*")) == before
