"""`tagbox separate` with the learned separator: the default, by instrument or by example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.cli import main

RATE = 48_000


def _song(path: Path, seconds: float = 3.0) -> Path:
    rng = np.random.default_rng(2)
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    sf.write(path, tone[:, None] + 0.03 * rng.standard_normal((t.size, 2)), RATE,
             subtype="PCM_24")  # fmt: skip
    return path


def _check_stems(song: Path, separated: Path, residual: Path) -> str:
    original, _ = sf.read(song)
    a, rate = sf.read(separated)
    b, _ = sf.read(residual)
    assert rate == RATE and a.shape == b.shape == original.shape
    np.testing.assert_allclose(a + b, original, atol=2e-7)  # float32 files
    return sf.SoundFile(separated).comment


def test_by_instrument_is_the_default_and_needs_no_tagger(tmp_path: Path, capsys) -> None:
    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    args = ["separate", str(song), "--tags", "piano", "--model-dir", str(tmp_path / "none"),
            "-o", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    comment = _check_stems(song, out / "song - piano.wav", out / "song - no piano.wav")
    assert "backend: learned" in comment and "query: prototype: piano" in comment
    assert "step" not in capsys.readouterr().err  # one pass: no progress bar of 0 steps


def test_no_fit_asks_by_the_bare_prototype(tmp_path: Path, capsys) -> None:
    song, none = _song(tmp_path / "song.wav"), str(tmp_path / "none")
    comments, stems = [], []
    for name, more in (("fitted", []), ("bare", ["--no-fit"])):
        out = tmp_path / name
        args = ["separate", str(song), "--tags", "piano", "--model-dir", none, "-o", str(out),
                "--no-refine", *more]  # fmt: skip
        assert main(args) == 0, capsys.readouterr().err
        comments.append(_check_stems(song, out / "song - piano.wav", out / "song - no piano.wav"))
        stems.append(sf.read(out / "song - piano.wav")[0])
    assert "query: prototype: piano, fitted to the song" in comments[0].splitlines()
    assert "query: prototype: piano" in comments[1].splitlines()
    assert not np.allclose(stems[0], stems[1], atol=1e-4)  # the fit moved the query


@pytest.mark.slow
def test_by_example_region_names_the_example(tmp_path: Path, model_dir: Path, capsys) -> None:
    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    args = ["separate", str(song), "--example-region", "0.5:2", "--model-dir", str(model_dir),
            "-o", str(out)]  # fmt: skip
    code, said = main(args), capsys.readouterr().err
    assert code == 0, said
    comment = _check_stems(song, out / "song - example.wav", out / "song - no example.wav")
    assert "query: example: 0.5-2 s of the song" in comment
    # Looked at again beside the helpers it does not sound like (which, the example decides).
    assert "looking again at example without the " in said
    assert "second look: asked again in the song without " in comment


def _add_up(song: Path, stems: list[Path]) -> list[np.ndarray]:
    """The stems as read back, after checking that they add up to the song (float32 files)."""
    original, _ = sf.read(song)
    decoded = [sf.read(path)[0] for path in stems]
    assert all(d.shape == original.shape for d in decoded)
    np.testing.assert_allclose(sum(decoded), original, atol=1e-6)
    return decoded


def test_each_takes_the_learned_backend_on_the_whole_song(tmp_path: Path, capsys) -> None:
    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    args = ["separate", str(song), "--each", "drums,bass,piano",
            "--model-dir", str(tmp_path / "none"), "-o", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    names = ["drums", "bass", "piano", "no drums + bass + piano"]
    stems = [out / f"song - {name}.wav" for name in names]
    decoded = _add_up(song, stems)
    for path, stem in zip(stems[:3], decoded[:3], strict=True):
        comment = sf.SoundFile(path).comment
        assert "backend: learned" in comment and "step: 0 of 0" in comment
        # The whole song was separated: no silent stretch at either end (no region).
        assert np.abs(stem[: RATE // 10]).max() > 0 and np.abs(stem[-RATE // 10 :]).max() > 0
    assert "second look: asked again in the song without bass, piano" in sf.SoundFile(
        stems[0]).comment.splitlines()  # fmt: skip
    assert "looking again at piano without the others" in capsys.readouterr().err


def test_each_without_the_second_look_is_the_first_look(tmp_path: Path, capsys) -> None:
    song, none = _song(tmp_path / "song.wav"), str(tmp_path / "none")
    looked, first = tmp_path / "looked", tmp_path / "first"
    said = []
    for out, more in ((looked, []), (first, ["--no-refine"])):
        args = ["separate", str(song), "--each", "drums,bass", "--model-dir", none,
                "-o", str(out), *more]  # fmt: skip
        code = main(args)
        said.append(capsys.readouterr().err)
        assert code == 0, said[-1]
    assert "looking again at bass" in said[0] and "looking again" not in said[1]
    names = ["drums", "bass", "no drums + bass"]
    firsts = _add_up(song, [first / f"song - {name}.wav" for name in names])
    seconds = _add_up(song, [looked / f"song - {name}.wav" for name in names])
    assert "second look" not in sf.SoundFile(first / "song - drums.wav").comment
    assert not np.allclose(firsts[0], seconds[0], atol=1e-4)  # the look changed the stem


def test_one_instrument_is_looked_at_again_without_the_bass_and_drums(tmp_path: Path,
                                                                     capsys) -> None:  # fmt: skip
    song, none = _song(tmp_path / "song.wav"), str(tmp_path / "none")
    said, stems = [], []
    for name, more in (("looked", []), ("first", ["--no-refine"])):
        args = ["separate", str(song), "--tags", "piano", "--model-dir", none,
                "-o", str(tmp_path / name), *more]  # fmt: skip
        code = main(args)
        said.append(capsys.readouterr().err)
        assert code == 0, said[-1]
        out = tmp_path / name
        _check_stems(song, out / "song - piano.wav", out / "song - no piano.wav")
        stems.append(out / "song - piano.wav")
    assert "looking again at piano without the bass and the drums" in said[0]
    assert "looking again" not in said[1]
    assert "second look: asked again in the song without bass, drums" in sf.SoundFile(
        stems[0]).comment.splitlines()  # fmt: skip
    assert "second look" not in sf.SoundFile(stems[1]).comment
    assert not np.allclose(sf.read(stems[0])[0], sf.read(stems[1])[0], atol=1e-4)


@pytest.mark.slow
def test_each_asks_for_an_entry_by_its_example(tmp_path: Path, model_dir: Path, capsys) -> None:
    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    clip = _song(tmp_path / "clip.wav", seconds=4.0)
    args = ["separate", str(song), "--each", f"drums,organ={clip}:0.5:3,keys={clip}",
            "--model-dir", str(model_dir), "-o", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    names = ["drums", "organ", "keys", "no drums + organ + keys"]
    _add_up(song, [out / f"song - {name}.wav" for name in names])
    organ = sf.SoundFile(out / "song - organ.wav").comment
    assert f"query: example: 0.5-3 s of {clip}" in organ and "backend: learned" in organ
    keys = sf.SoundFile(out / "song - keys.wav").comment.splitlines()
    assert f"query: example: {clip}" in keys  # the whole clip
    assert "query: prototype: drums" in sf.SoundFile(out / "song - drums.wav").comment


def test_each_hears_each_example_once(tmp_path: Path, model_dir: Path, capsys,
                                      monkeypatch) -> None:  # fmt: skip
    # Every entry is checked before any runs, its example's query made then: its run made it
    # again, a pass of both taggers over the clip.
    from tagbox_gui.core.separation.backends import learned

    heard: list[int] = []
    query_of = learned.query_of
    monkeypatch.setattr(learned, "query_of", lambda taggers, audio, rate: heard.append(
        audio.shape[-1]) or query_of(taggers, audio, rate))  # fmt: skip
    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    clip = _song(tmp_path / "clip.wav", seconds=4.0)
    args = ["separate", str(song), "--each", f"drums,organ={clip}:0.5:3,keys={clip}",
            "--model-dir", str(model_dir), "-o", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert heard == [round(2.5 * RATE), 4 * RATE]  # organ's clip, then keys'


def test_name_template_names_the_stems(tmp_path: Path, capsys) -> None:
    song, none = _song(tmp_path / "My Song.wav"), str(tmp_path / "none")
    args = ["separate", str(song), "--tags", "piano", "--name-template", "{stem} ({song})",
            "--model-dir", none, "-o", str(tmp_path / "one")]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "no piano (My Song).wav",
        "piano (My Song).wav",
    ]
    args = ["separate", str(song), "--each", "drums,bass", "--name-template", "{song}_{stem}",
            "--model-dir", none, "-o", str(tmp_path / "each")]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert f"rest: {tmp_path / 'each' / 'My Song_no drums + bass.wav'}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == [
        "My Song_bass.wav",
        "My Song_drums.wav",
        "My Song_no drums + bass.wav",
    ]


def test_a_very_quiet_stem_is_pointed_out_with_how_to_ask_for_it(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    from tagbox_gui.cli import separate
    from tagbox_gui.core.separation import job

    song, none = _song(tmp_path / "song.wav"), str(tmp_path / "none")
    monkeypatch.setattr(separate, "run_level", lambda mix, result: -40.0)
    args = [
        "separate",
        str(song),
        "--tags",
        "piano",
        "--model-dir",
        none,
        "-o",
        str(tmp_path / "a"),
    ]
    assert main(args) == 0
    said = capsys.readouterr().err
    assert "note: piano is very quiet (40 dB under the song)" in said and "--example-region" in said
    levels = {"drums": -9.0, "bass": -31.0}
    monkeypatch.setattr(job, "stem_levels", lambda mix, ests: levels)
    args = ["separate", str(song), "--each", "drums,bass", "--model-dir", none,
            "-o", str(tmp_path / "b")]  # fmt: skip
    assert main(args) == 0
    said = capsys.readouterr().err
    assert "note: bass is very quiet (31 dB under the song)" in said and "drums" not in said.split(
        "note:")[1] and "--each NAME=FILE:START:END" in said  # fmt: skip


def test_a_silent_stem_is_told_in_words_that_fit_silence(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """A stem with no sound was said to be silent and that 'an instrument that plays louder
    than that' was not recognised."""
    import numpy as np

    from tagbox_gui.cli import separate

    song, none = _song(tmp_path / "song.wav"), str(tmp_path / "none")
    monkeypatch.setattr(separate, "run_level", lambda mix, result: -np.inf)
    args = ["separate", str(song), "--tags", "piano", "--model-dir", none, "-o", str(tmp_path)]
    assert main(args) == 0
    note = capsys.readouterr().err.split("note: ")[1].strip()
    assert note == ("piano is silent: if it plays in the song, it was not recognised. Ask for "
                    "it by an example, a few seconds where it plays (--example-region START:END, "
                    "or --example FILE:START:END).")  # fmt: skip


def test_a_quiet_stem_asked_for_by_an_example_is_told_to_take_a_clearer_one(
    tmp_path: Path, model_dir: Path, capsys, monkeypatch
) -> None:
    # an example was the advice already: a quiet one needs a clearer example, not "an example"
    from tagbox_gui.core.separation import job

    song = _song(tmp_path / "song.wav")
    levels = {"drums": -9.0, "bass": -31.0, "organ": -33.0}
    monkeypatch.setattr(job, "stem_levels", lambda mix, ests: levels)
    args = ["separate", str(song), "--each", f"drums,bass,organ={song}:0:2", "--model-dir",
            str(model_dir), "--threads", "1", "-o", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    notes = capsys.readouterr().err.split("note: ")[1:]
    assert len(notes) == 2
    assert notes[0].startswith("bass is very quiet") and "--each NAME=FILE" in notes[0]
    assert notes[1].startswith("organ is very quiet") and "more clearly" in notes[1]


def test_several_quiet_stems_are_told_in_the_plural(
    tmp_path: Path, model_dir: Path, capsys, monkeypatch
) -> None:
    # two quiet stems were each told to "ask for it": the advice agrees with the stems named
    from tagbox_gui.cli.separate import _note_quiet
    from tagbox_gui.core.separation import job

    song = _song(tmp_path / "song.wav")
    levels = {"drums": -31.0, "bass": -32.0, "organ": -33.0}
    monkeypatch.setattr(job, "stem_levels", lambda mix, ests: levels)
    args = ["separate", str(song), "--each", f"drums,bass,organ={song}:0:2", "--model-dir",
            str(model_dir), "--threads", "1", "-o", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    notes = [note.strip() for note in capsys.readouterr().err.split("note: ")[1:]]
    assert notes == [
        "drums and bass are very quiet (31 and 32 dB under the song): if they play louder than "
        "that, they were not recognised. For each, ask for it by an example, a few seconds where "
        "it plays (--each NAME=FILE:START:END).",
        "organ is very quiet (33 dB under the song): if it plays louder than that, it was not "
        "recognised. Try a clip where it plays more clearly, ideally alone.",
    ]
    _note_quiet({"lead": -40.0, "keys": -np.inf}, "--each NAME=FILE:START:END", ["lead", "keys"])
    assert capsys.readouterr().err.splitlines() == [
        "note: lead is very quiet (40 dB under the song): if it plays louder than that, it was "
        "not recognised; keys is silent: if it plays in the song, it was not recognised. For "
        "each, try a clip where it plays more clearly, ideally alone."
    ]


def test_each_with_one_instrument_is_looked_at_again_as_one_run_is(tmp_path: Path,
                                                                  capsys) -> None:  # fmt: skip
    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    args = ["separate", str(song), "--each", "piano", "--model-dir", str(tmp_path / "none"),
            "-o", str(out)]  # fmt: skip
    code, said = main(args), capsys.readouterr().err
    assert code == 0, said
    assert "looking again at piano without the bass and the drums" in said
    _add_up(song, [out / "song - piano.wav", out / "song - no piano.wav"])
    assert "second look: asked again in the song without bass, drums" in sf.SoundFile(
        out / "song - piano.wav").comment.splitlines()  # fmt: skip


_LOOK_FAILS = """
import sys
from tagbox_gui.core.separation.refine import LookBeside
def out_of_memory(*args):
    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                       "capacity of 7.79 GiB of which 1.02 GiB is free. If reserved but "
                       "unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF="
                       "expandable_segments:True to avoid fragmentation.")
LookBeside.stem = out_of_memory
from tagbox_gui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_second_look_that_fails_writes_the_first_and_warns(tmp_path: Path) -> None:
    from tests.cli.processes import run_cli

    song, out = _song(tmp_path / "song.wav"), tmp_path / "out"
    done = run_cli("separate", song, "--tags", "piano", "--model-dir", tmp_path / "none",
                   "-o", out, script=_LOOK_FAILS)  # fmt: skip
    said = done.stderr
    assert done.returncode == 0, said
    assert "tagbox: warning: the second look failed (out of memory); the stems are the first " \
           "look" in said  # fmt: skip
    assert "Traceback" not in said and said.count("second look failed") == 1, said
    assert "PYTORCH" not in said  # PyTorch's advice at length is for the log
    comment = _check_stems(song, out / "song - piano.wav", out / "song - no piano.wav")
    assert "second look" not in comment


def _stop_at(monkeypatch: pytest.MonkeyPatch, phase: str) -> None:
    """Ctrl+C at ``phase`` of a run: as the song is read, as the models load
    (``ModelCache.get``), in the one pass of the separator, in the second look, or as the stems
    are written (once the first stem is complete in its temporary file)."""
    from tagbox_gui.core.audio import song
    from tagbox_gui.core.audio.files import _TempFile
    from tagbox_gui.core.separation.cache import ModelCache
    from tagbox_gui.core.separation.engine import Optimisation
    from tagbox_gui.core.separation.refine import LookBeside

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    where = {"reading": (song, "load_song"), "models": (ModelCache, "get"),
             "pass": (Optimisation, "_one_pass"), "look": (LookBeside, "helpers"),
             "writing": (_TempFile, "close")}  # fmt: skip
    monkeypatch.setattr(*where[phase], interrupt)


@pytest.mark.parametrize(("what", "phase", "told"), [
    (("--tags", "piano"), "reading",
     "the run stopped while the song was being read; no stem was written"),
    (("--tags", "piano"), "models",
     "the run stopped while the models were loading; no stem was written"),
    (("--tags", "piano"), "pass",
     "the run stopped before its single pass was done; no stem was written"),
    (("--tags", "piano"), "look",
     "the run stopped during the second look at piano; no stem was written"),
    (("--tags", "piano"), "writing",
     "stopped while writing the stems; no stem was written, and the output folder is as it was"),
    (("--each", "piano,bass"), "reading",
     "the job stopped while the song was being read; no stem was written"),
    (("--each", "piano,bass"), "models",
     "the job stopped while the models were loading; no stem was written"),
    (("--each", "piano,bass"), "writing",
     "stopped while writing the stems; no stem was written, and the output folder is as it was"),
])  # fmt: skip
def test_ctrl_c_in_a_one_pass_run_says_where_it_stopped_and_what_was_written(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, what, phase, told
) -> None:
    song, out = _song(tmp_path / "song.wav", seconds=1.5), tmp_path / "out"
    _stop_at(monkeypatch, phase)
    code = main(["separate", str(song), *what, "--model-dir", str(tmp_path / "none"),
                 "-o", str(out)])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 130
    assert lines[-2:] == [f"tagbox: {told}", "tagbox: interrupted"]
    assert not out.exists()


@pytest.mark.parametrize("what", [("--tags", "piano"), ("--each", "piano,bass")])
def test_ctrl_c_while_the_log_is_written_says_the_stems_were_and_leaves_no_part_of_it(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, what
) -> None:
    song, out, log = _song(tmp_path / "song.wav", seconds=1.5), tmp_path / "out", tmp_path / "l"
    write_text = Path.write_text

    def half_then_ctrl_c(path: Path, data: str, *args, **kwargs):
        if not path.name.startswith(f".{log.name}."):  # the log's temporary
            return write_text(path, data, *args, **kwargs)
        write_text(path, data[: len(data) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", half_then_ctrl_c)
    code = main(["separate", str(song), *what, "--model-dir", str(tmp_path / "none"),
                 "--log-json", str(log), "-o", str(out)])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 130
    assert lines[-2:] == [f"tagbox: stopped while writing the --log-json file '{log}'; the "
                          "stems were written, the log was not", "tagbox: interrupted"]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "song.wav"]
    assert len(list(out.iterdir())) == (2 if what[0] == "--tags" else 3)


def _logged(tmp_path: Path, capsys, *words: str) -> tuple[dict, Path]:
    """The --log-json record of a run of ``words`` on a short song (strict JSON: no NaN), and
    its output folder."""
    import json

    def refuse(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    song, out, log = _song(tmp_path / "song.wav", seconds=1.5), tmp_path / "out", tmp_path / "l"
    code = main(["separate", str(song), *words, "--model-dir", str(tmp_path / "none"),
                 "--log-json", str(log), "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    return json.loads(log.read_text(), parse_constant=refuse), out


@pytest.mark.parametrize(("more", "beside"), [([], ["bass", "drums"]), (["--no-refine"], [])])
def test_log_json_says_whether_the_second_look_ran_and_beside_what(
    tmp_path: Path, capsys, more: list[str], beside: list[str]
) -> None:
    record, _ = _logged(tmp_path, capsys, "--tags", "piano", *more)
    assert record["second_look"] is bool(beside)
    assert record["second_look_beside"] == beside
    assert record["second_look_failed"] is None


def test_log_json_of_each_says_each_stem_was_looked_at_without_the_others(
    tmp_path: Path, capsys
) -> None:
    record, _ = _logged(tmp_path, capsys, "--each", "piano,bass")
    assert [record[name]["second_look_beside"] for name in ("piano", "bass")] == [
        ["bass"], ["piano"]]  # fmt: skip
    assert all(record[name]["second_look"] for name in ("piano", "bass"))


def test_log_json_says_why_the_second_look_failed(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tagbox_gui.core.separation.refine import LookBeside

    def out_of_memory(*args):
        raise MemoryError

    monkeypatch.setattr(LookBeside, "stem", out_of_memory)
    record, _ = _logged(tmp_path, capsys, "--tags", "piano")
    assert record["second_look"] is False and record["second_look_beside"] == []
    assert record["second_look_failed"] == "out of memory"


def test_log_json_config_leaves_out_what_did_not_act_as_the_metadata_does(
    tmp_path: Path, capsys
) -> None:
    """A one-pass run of the learned separator steers nothing: its stems' metadata reads ``-``
    for the avoided and ignored tags, the taggers, the learning rate and the quantiser, and
    the record's settings hold null for them."""
    record, out = _logged(tmp_path, capsys, "--tags", "piano")
    config = record["config"]
    idle = ("avoid", "ignore", "avoid_others", "ignore_related", "balance_tags", "taggers", "lr",
            "quantise")  # fmt: skip
    assert [name for name in config if config[name] is None] == [
        name for name in config if name in idle or name in ("region", "example")
    ]
    comment = sf.SoundFile(out / "song - piano.wav").comment.splitlines()
    for line in ("avoided: -", "ignored: -", "taggers: -", "learning rate: -", "quantise: -"):
        assert line in comment
    assert config["tags"] == ["piano"] and config["steps"] == 0 and config["seed"] == 0
