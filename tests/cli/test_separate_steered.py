"""`tagbox separate` with steering steps: what the options ask of the taggers, and what the run
says and keeps when it ends."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import soundfile as sf

from tagbox_gui.cli import build_parser, main
from tagbox_gui.cli.common import Terminated
from tagbox_gui.cli.separate import build_config
from tagbox_gui.core.nets.taggers import vocabulary
from tagbox_gui.core.separation.provenance import stem_provenance
from tagbox_gui.core.separation.tags import resolve_targets
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import RunConfig, TagState
from tests.cli.processes import write_song
from tests.conftest import fail_at_step


def _config(model_dir: Path, *words: str) -> RunConfig:
    args = build_parser().parse_args(["separate", "s.wav", *words, "-o", "out"])
    return build_config(args, ModelStore(model_dir))


def _states(config: RunConfig) -> dict[str, TagState]:
    """Each MTAT tag's state in the loss of a run of ``config``."""
    c = config
    targets = resolve_targets("mtat", vocabulary("mtat"), c.tags, c.avoid, c.ignore,
                              c.avoid_others, c.ignore_related, c.balance_tags)  # fmt: skip
    return dict(zip(targets.vocabulary, targets.states, strict=True))


def test_avoid_names_the_only_tags_the_steps_push_away(model_dir: Path) -> None:
    steered = ("--tags", "piano", "--steps", "2", "--backend", "light")
    default = _states(_config(model_dir, *steered))  # every tag not wanted is avoided
    assert default["drums"] is default["rock"] is TagState.AVOIDED
    config = _config(model_dir, *steered, "--avoid", "drums")
    states = _states(config)
    assert states["piano"] is TagState.WANTED and states["drums"] is TagState.AVOIDED
    assert states["rock"] is states["guitar"] is TagState.IGNORED
    made = stem_provenance("s.wav", config, 2)
    assert (made["avoided"], made["ignored"]) == ("drums", "every other tag")


def _worse_each_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step of a steered run has a higher loss than the one before it."""
    from tagbox_gui.core.separation.engine import Optimisation

    step = Optimisation.step

    def worse(self, number: int = 0):
        evaluations, grad_norm = step(self, number)
        return [replace(e, total=e.total + number) for e in evaluations], grad_norm

    monkeypatch.setattr(Optimisation, "step", worse)


@pytest.mark.parametrize("what", [("--tags", "piano"), ("--each", "piano")])
def test_a_run_whose_steps_make_it_worse_keeps_and_names_the_best_step(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch, what
) -> None:
    _worse_each_step(monkeypatch)
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    out = tmp_path / "out"
    code = main(["separate", str(song), *what, "--steps", "3", "--backend", "light", "--fft",
                 "1024", "--model-dir", str(model_dir), "-o", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "step: 1 of 3" in sf.SoundFile(out / "song - piano.wav").comment
    stems = "the piano stem is" if what[0] == "--each" else "the stems are"
    assert f"{stems} of step 1 of 3, the best (loss " in err  # the bar ended on step 3's loss


@pytest.mark.parametrize("what", [("--tags", "piano"), ("--each", "piano")])
@pytest.mark.parametrize(("signal", "code", "said"), [
    (KeyboardInterrupt(), 130, "interrupted"), (Terminated(), 143, "terminated"),
])  # fmt: skip
def test_ctrl_c_or_sigterm_during_the_steps_says_how_far_it_got_and_that_nothing_was_written(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch, what, signal,
    code, said,
) -> None:  # fmt: skip
    fail_at_step(monkeypatch, 3, signal)
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    out = tmp_path / "out"
    assert main(["separate", str(song), *what, "--steps", "5", "--backend", "light", "--fft",
                 "1024", "--model-dir", str(model_dir), "-o", str(out)]) == code  # fmt: skip
    err = capsys.readouterr().err
    assert "2 of its 5 steps were made; no stem was written" in err
    assert err.rstrip().endswith(f"tagbox: {said}")
    assert not out.exists()


@pytest.mark.parametrize(
    "option", [("--lr", "0.1"), ("--tagger", "fcn/jamendo"), ("--balance-tags",)]
)
def test_a_steering_option_without_steps_is_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture, option: tuple[str, ...]
) -> None:
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    out = tmp_path / "out"
    code = main(["separate", str(song), "--tags", "piano", *option, "-o", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("tagbox: error: ") and option[0] in lines[0]
    assert "--steps" in lines[0]
    assert not out.exists()


def test_steering_options_without_steps_are_named_in_one_list(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    options = ["--lr", "0.1", "--tagger", "fcn/jamendo", "--balance-tags"]
    code = main(["separate", str(song), "--tags", "piano", *options, "-o", str(tmp_path / "o")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "error: --lr, --tagger and --balance-tags only steer the taggers' steps" in lines[0]


def test_a_first_step_whose_loss_is_not_finite_does_not_blame_the_learning_rate(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """Step 1's loss is that of the starting point, before the learning rate has moved
    anything; a later step's may be the learning rate's doing."""
    from tagbox_gui.core.separation.engine import NotFinite

    fail_at_step(monkeypatch, 1, NotFinite(1, "loss"))
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    code = main(
        [
            "separate",
            str(song),
            "--tags",
            "piano",
            "--steps",
            "3",
            "--backend",
            "light",
            "--fft",
            "1024",
            "--model-dir",
            str(model_dir),
            "-o",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "the loss of step 1 is not a finite number" in err
    assert "region without digital silence" in err and "learning rate" not in err
    assert "smaller learning rate" in str(NotFinite(3, "gradient"))


def _fail_first_step_of_run(monkeypatch: pytest.MonkeyPatch, run: int, error: Exception) -> None:
    """The ``run``-th steered run (1 is the first) raises ``error`` at its first step."""
    from tagbox_gui.core.separation.engine import Optimisation

    step, firsts = Optimisation.step, []

    def failing(self, number: int = 0):
        if number == 1:
            firsts.append(self)
            if len(firsts) == run:
                raise error
        return step(self, number)

    monkeypatch.setattr(Optimisation, "step", failing)


@pytest.mark.parametrize(("run", "said"), [
    (1, "the run of piano failed, so no stem was written: "),
    (2, "the run of strings failed, after piano was separated, so no stem was written: "),
])  # fmt: skip
def test_an_each_part_that_fails_at_its_first_step_is_named_with_how_far_the_job_got(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch, run, said
) -> None:
    from tagbox_gui.core.separation.engine import NotFinite

    _fail_first_step_of_run(monkeypatch, run, NotFinite(1, "loss"))
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    out = tmp_path / "out"
    code = main(["separate", str(song), "--each", "piano,strings", "--steps", "2",
                 "--backend", "light", "--fft", "1024", "--model-dir", str(model_dir),
                 "-o", str(out)])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2, lines
    assert lines[-1].startswith(f"tagbox: error: {said}the loss of step 1 is not a finite")
    assert not out.exists()


def _each_piano_strings(tmp_path: Path, model_dir: Path) -> list[str]:
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    return ["separate", str(song), "--each", "piano,strings", "--steps", "2", "--backend",
            "light", "--fft", "1024", "--model-dir", str(model_dir),
            "-o", str(tmp_path / "out")]  # fmt: skip


def test_an_each_part_that_runs_out_of_memory_is_named_with_how_far_the_job_got(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    _fail_first_step_of_run(monkeypatch, 2, MemoryError())
    code = main(_each_piano_strings(tmp_path, model_dir))
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2, lines
    assert lines[-1] == (
        "tagbox: error: the run of strings ran out of memory, after piano was separated, so no "
        "stem was written; close other programs and try again, or separate a shorter stretch "
        "of the song (--region START:END)"
    )
    assert not (tmp_path / "out").exists()


def test_an_each_part_with_a_bug_says_which_before_its_traceback(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    bug = ZeroDivisionError("a bug")
    _fail_first_step_of_run(monkeypatch, 2, bug)
    with pytest.raises(ZeroDivisionError) as raised:
        main(_each_piano_strings(tmp_path, model_dir))
    assert raised.value is bug  # not swallowed, not wrapped: its traceback is the bug's
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == (
        "tagbox: the run of strings failed, after piano was separated, so no stem was written"
    )
    assert not (tmp_path / "out").exists()


def _interrupt(monkeypatch: pytest.MonkeyPatch, where: str, signal: BaseException) -> None:
    """A job of the learned separator is interrupted by ``signal`` in the single pass of its
    second part (``"pass"``), or in the second look at its second stem (``"look"``)."""
    from tagbox_gui.core.separation.engine import Optimisation
    from tagbox_gui.core.separation.refine import Refinement

    one_pass, stem, passes = Optimisation._one_pass, Refinement.stem, []

    def passing(self, region_start: int):
        passes.append(self)
        if where == "pass" and len(passes) == 2:
            raise signal
        return one_pass(self, region_start)

    def looking(self, name: str):
        if where == "look" and name == "bass":
            raise signal
        return stem(self, name)

    monkeypatch.setattr(Optimisation, "_one_pass", passing)
    monkeypatch.setattr(Refinement, "stem", looking)


@pytest.mark.parametrize(("where", "told"), [
    ("pass", "the run of bass stopped before its single pass was done, after piano was "
             "separated; no stem was written"),
    ("look", "the job stopped during the second look at bass, after piano and bass were "
             "separated; no stem was written"),
])  # fmt: skip
@pytest.mark.parametrize(("signal", "code", "said"), [
    (KeyboardInterrupt(), 130, "interrupted"), (Terminated(), 143, "terminated"),
])  # fmt: skip
def test_ctrl_c_or_sigterm_in_each_says_which_parts_were_done_and_that_nothing_was_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch, where, told, signal, code, said
) -> None:
    _interrupt(monkeypatch, where, signal)
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    out = tmp_path / "out"
    assert main(["separate", str(song), "--each", "piano,bass", "--model-dir",
                 str(tmp_path / "none"), "-o", str(out)]) == code  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-2:] == [f"tagbox: {told}", f"tagbox: {said}"]
    assert not out.exists()


def _strict_json(path: Path) -> dict:
    """The JSON in ``path``, refusing what strict JSON has not (NaN, Infinity)."""

    def refuse(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("what", [("--tags", "piano"), ("--each", "piano,strings")])
def test_log_json_records_the_step_the_stems_are_of_and_where_the_run_was_cut_short(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture, monkeypatch, what
) -> None:
    from tagbox_gui.core.separation.engine import NotFinite

    _worse_each_step(monkeypatch)  # step 1 is the best
    fail_at_step(monkeypatch, 3, NotFinite(3, "loss"))
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    log = tmp_path / "log.json"
    code = main(["separate", str(song), *what, "--steps", "4", "--backend", "light", "--fft",
                 "1024", "--model-dir", str(model_dir), "--log-json", str(log), "-o",
                 str(tmp_path / "out")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    written = _strict_json(log)
    records = [written] if what[0] == "--tags" else [written["piano"], written["strings"]]
    assert what[0] == "--tags" or list(written) == ["piano", "strings"]
    for record in records:
        assert [s["step"] for s in record["steps"]] == [1, 2]  # the keys there were are kept
        assert record["config"]["steps"] == 4
        # steered: the taggers and the learning rate acted; the light backend has no quantiser
        assert record["config"]["lr"] > 0 and record["config"]["taggers"]
        assert record["config"]["quantise"] is None
        assert record["best_step"] == 1 and record["best_total"] == record["steps"][0]["total"]
        assert record["cut_short_at"] == 3
        assert record["cut_short_by"] == "had a loss that is not a finite number"
    # the stems say so too: of step 1 of a run of 4 steps that stopped after step 2
    comments = [sf.SoundFile(path).comment for path in sorted((tmp_path / "out").glob("*.wav"))]
    said = [line for text in comments for line in text.splitlines() if line.startswith("step:")]
    assert len(said) >= len(records) and set(said) == {"step: 1 of 4, stopped after step 2"}


def test_log_json_of_a_one_pass_run_is_strict_json_that_says_no_step_and_no_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    log = tmp_path / "log.json"
    code = main(["separate", str(song), "--tags", "piano", "--no-refine", "--model-dir",
                 str(tmp_path / "none"), "--log-json", str(log),
                 "-o", str(tmp_path / "out")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    record = _strict_json(log)  # the best loss of no step is null, not NaN
    assert record["steps"] == [] and record["best_step"] == 0 and record["best_total"] is None
    assert record["cut_short_at"] is None and record["cut_short_by"] is None


def test_log_json_help_describes_the_record_of_a_run_and_of_each() -> None:
    page = " ".join(build_parser().parse_args(["separate", "s", "-o", "o"]).commands[
        "separate"].format_help().split())  # fmt: skip
    for key in (
        "config",
        "steps",
        "best_step",
        "best_total",
        "cut_short_at",
        "cut_short_by",
        "second_look",
        "second_look_beside",
        "second_look_failed",
    ):
        assert f'"{key}"' in page
    assert "with --each, one such record per part, under its name" in page


CPU_OUT_OF_MEMORY = (
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you "
    "tried to allocate 17179869184 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.mark.parametrize(
    ("error", "region", "advice"),
    [
        (MemoryError(), (), "separate a shorter stretch of the song (--region START:END)"),
        (RuntimeError(CPU_OUT_OF_MEMORY), (), "(--region START:END)"),
        (MemoryError(), ("--region", "0:1.2"), "give a shorter --region"),
    ],
)
def test_memory_that_runs_out_at_the_first_step_is_one_line(
    tmp_path: Path,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    error: Exception,
    region: tuple[str, ...],
    advice: str,
) -> None:
    """With no step before it to keep, the run ends: in one line that says why and what
    helps (a shorter stretch, or a shorter one than the region given), not a traceback."""
    fail_at_step(monkeypatch, 1, error)
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    out = tmp_path / "out"
    assert main(["separate", str(song), "--tags", "piano", "--steps", "3", "--backend", "light",
                 "--fft", "1024", "--model-dir", str(model_dir), "-o", str(out),
                 *region]) == 2  # fmt: skip
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("tagbox: error: the run ran out of memory") and advice in last, last
    assert not out.exists()


def test_stems_that_run_out_of_memory_as_they_are_written_are_not_told_to_take_a_region(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The stems keep the song's length, with --region too: a shorter region does not help
    their writing, and the line said to take one."""
    from tagbox_gui.core.audio import export

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(export, "export_stems", out_of_memory)
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    assert main(["separate", str(song), "--tags", "piano", "--steps", "1", "--backend", "light",
                 "--fft", "1024", "--model-dir", str(model_dir),
                 "-o", str(tmp_path / "out")]) == 2  # fmt: skip
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("tagbox: error: writing the stems ran out of memory"), last
    assert "--region" not in last and "close other programs" in last


def test_an_error_that_is_no_lack_of_memory_is_not_called_one(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_at_step(monkeypatch, 1, RuntimeError("a bug"))
    song = write_song(tmp_path / "song.wav", seconds=1.5)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["separate", str(song), "--tags", "piano", "--steps", "3", "--backend", "light",
              "--fft", "1024", "--model-dir", str(model_dir), "-o", str(tmp_path)])  # fmt: skip
