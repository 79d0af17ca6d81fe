"""No command of the CLI prints a Python traceback for bad input.

Each bad invocation runs as a real process (``python -m tagbox_gui.cli ...``), as a user types
it, and must end with exit status 2 and one line on stderr that says what is wrong. A separate
run must leave no output folder behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.cli.processes import assert_one_line_error, run_cli, write_song
from tests.conftest import REPO


def _set(folder: Path, manifest: object | None = None, mix: bool = True) -> None:
    """A one-song set (``s1`` with a drums stem), its manifest replaced by ``manifest``."""
    (folder / "s1" / "stems").mkdir(parents=True)
    audio = 0.1 * np.random.default_rng(0).standard_normal(44_100)
    sf.write(folder / "s1" / "stems" / "drums.flac", audio, 44_100, subtype="PCM_16")
    if mix:
        sf.write(folder / "s1" / "mix.flac", audio, 44_100, subtype="PCM_16")
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    if manifest is not None:
        (folder / "manifest.json").write_text(text)


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """Every file and folder the bad invocations name."""
    write_song(tmp_path / "song.wav")
    write_song(tmp_path / "short.wav", seconds=500 / 44_100)  # < 1024 samples
    write_song(tmp_path / "tiny.wav", seconds=0.05)
    write_song(tmp_path / "nine.wav", seconds=1.0, channels=9)  # more than FLAC holds
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("not audio\n" * 100)
    (tmp_path / "a-file").write_text("a file, not a folder")
    (tmp_path / "junk.tar").write_bytes(np.random.default_rng(2).bytes(5000))
    _set(tmp_path / "set", {"songs": [{"id": "s1", "sources": ["drums"]}]})
    _set(tmp_path / "set-not-json", "{songs: [")
    _set(tmp_path / "set-incomplete", {"songs": [{"id": "s1"}]})
    _set(tmp_path / "set-no-mix", {"songs": [{"id": "s1", "sources": ["drums"]}]}, mix=False)
    _set(tmp_path / "set-bad-mix", {"songs": [{"id": "s1", "sources": ["drums"]}]})
    (tmp_path / "set-bad-mix" / "s1" / "mix.flac").write_bytes(b"fLaC but not really")
    return tmp_path


SEP = "separate {d}/song.wav --tags piano"
LIGHT = "--backend light --steps 1"
EACH = "separate {d}/song.wav --each drums,"
# name: (command line after `tagbox`, {d} for the test's folder; words the error line has)
CASES = {
    # separate: where the stems go
    "output under a file": (f"{SEP} -o {{d}}/a-file/out", "is a file, not a folder"),
    "output in /proc": (f"{SEP} -o /proc/tagbox-out", "no folder can be made there"),
    "log-json under a file": (f"{SEP} --log-json {{d}}/a-file/x.json -o {{d}}/o", "--log-json"),
    "output missing": (SEP, "required: -o/--output"),
    # separate: the song
    "song missing": ("separate {d}/nope.wav --tags piano -o {d}/out", "does not exist"),
    "song empty": ("separate {d}/empty.wav --tags piano -o {d}/out", "is an empty file"),
    "song not audio": ("separate {d}/notes.wav --tags piano -o {d}/out", "cannot be read as"),
    "song of 500 samples": ("separate {d}/short.wav --tags piano -o {d}/out", "half a second"),
    "song of 0.05 s": ("separate {d}/tiny.wav --tags piano -o {d}/out", "second (0.05 s)"),
    # separate: settings
    "tagger without dataset": (f"{SEP} --tagger fcn -o {{d}}/out", "ARCH/DATASET"),
    "fft larger than region": (
        f"{SEP} {LIGHT} --fft 131072 --region 0:1 -o {{d}}/out",
        "FFT size 131072 is longer than the region",
    ),
    "fft larger than song": (f"{SEP} --fft 262144 -o {{d}}/out", "longer than the song"),
    "negative region": (f"{SEP} --region -1:3 -o {{d}}/out", "0 <= START < END"),
    "region of one number": (f"{SEP} --region 5 -o {{d}}/out", "START:END"),
    "region past the end": (f"{SEP} --region 2:9 -o {{d}}/out", "outside the song"),
    "negative steps": (f"{SEP} --steps -1 -o {{d}}/out", "steps must be 0"),
    "threads past the CPUs": (f"{SEP} --threads 100000 -o {{d}}/out", "the logical CPUs here"),
    "seed past 64 bits": (f"{SEP} --seed 99999999999999999999 -o {{d}}/out", "is not a seed"),
    "no such format": (f"{SEP} --format mp3 -o {{d}}/out", "invalid choice: 'mp3'"),
    "flac of 9 channels": (
        "separate {d}/nine.wav --tags piano --format flac24 -o {d}/out",
        "FLAC holds at most 8 channels and the song has 9",
    ),
    "each, flac of 9 channels": (
        "separate {d}/nine.wav --each piano,drums --format flac16 -o {d}/out",
        "write its stems as WAV",
    ),
    "wanted and avoided": (f"{SEP} --avoid piano -o {{d}}/out", "contradiction"),
    "unknown tag": (f"separate {{d}}/song.wav --tags banjo {LIGHT} -o {{d}}/out", "'banjo'; "),
    "example missing": ("separate {d}/song.wav --example {d}/nope.wav -o {d}/o", "not exist"),
    "example of START only": (
        "separate {d}/song.wav --example {d}/song.wav:2 -o {d}/o",
        "neither a file nor FILE:START:END",
    ),
    "example of START-END": (
        "separate {d}/song.wav --example {d}/song.wav:1-2 -o {d}/o",
        "neither a file nor FILE:START:END",
    ),
    # separate --each: an entry NAME=FILE[:START:END] asks for NAME by an example clip
    "each example missing": (f"{EACH}organ={{d}}/nope.wav -o {{d}}/o", "nope.wav: '"),
    "each example not audio": (f"{EACH}organ={{d}}/notes.wav -o {{d}}/o", "cannot be read as"),
    "each example empty": (f"{EACH}organ={{d}}/empty.wav -o {{d}}/o", "is an empty file"),
    "each example END before START": (f"{EACH}organ={{d}}/song.wav:2:1 -o {{d}}/o", "START < END"),
    "each example of START only": (f"{EACH}organ={{d}}/song.wav:2 -o {{d}}/o", "FILE:START:END"),
    "each example past its end": (f"{EACH}organ={{d}}/song.wav:1:9 -o {{d}}/o", "ends after"),
    "each example too short": (f"{EACH}organ={{d}}/song.wav:1:1.2 -o {{d}}/o", "shorter than"),
    "each entry without a name": (f"{EACH}={{d}}/song.wav -o {{d}}/o", "no name before '='"),
    "each entry without a clip": (f"{EACH}organ= -o {{d}}/o", "names no example clip"),
    "each name twice": (f"{EACH}Drums={{d}}/song.wav -o {{d}}/o", "names 'Drums' twice"),
    "each of nothing": ("separate {d}/song.wav --each , -o {d}/o", "at least one instrument"),
    "each example, light backend": (
        f"{EACH}organ={{d}}/song.wav --backend light --steps 1 -o {{d}}/o",
        "light backend cannot be asked by example",
    ),
    "each and example": (f"{EACH}bass --example {{d}}/song.wav -o {{d}}/o", "organ=organ.wav"),
    "each example, its taggers missing": (
        f"{EACH}organ={{d}}/song.wav --model-dir {{d}}/none -o {{d}}/o",
        "--each organ=",
    ),
    # separate: how the stems are named
    "name template, unknown field": (f"{SEP} --name-template {{song}}-{{x}} -o {{d}}/o", "'{x}'"),
    "name template, folder": (f"{SEP} --name-template out/{{stem}} -o {{d}}/o", "separator"),
    "name template without stem": (f"{SEP} --name-template {{song}} -o {{d}}/o", "no {stem}"),
    "jukebox weights missing": (
        f"{SEP} --jukebox-weights /missing/file -o {{d}}/out",
        "'/missing/file' does not exist",
    ),
    "jukebox weights a device": (
        f"{SEP} --backend jukebox --jukebox-weights /dev/null -o {{d}}/out",
        "'/dev/null' is not a file on disk (a pipe or a device)",
    ),
    "jukebox weights of random bytes": (
        f"{SEP} --backend jukebox --steps 1 --jukebox-weights {{d}}/junk.tar -o {{d}}/out",
        "corrupt or not a PyTorch checkpoint",
    ),
    # evaluate
    "manifest not json": ("evaluate {d}/set-not-json -o {d}/est", "cannot be read as JSON"),
    "manifest incomplete": ("evaluate {d}/set-incomplete -o {d}/est", "does not list the songs"),
    "manifest song without mix": ("evaluate {d}/set-no-mix -o {d}/est", "s1' has no mix.flac"),
    "mix not audio": ("evaluate {d}/set-bad-mix -o {d}/est", "set-bad-mix/s1/mix.flac' cannot"),
    "estimates under a file": ("evaluate {d}/set -o {d}/a-file/est", "is a file, not a folder"),
    "json under a file": ("evaluate {d}/set -o {d}/est --json {d}/a-file/r.json", "--json file"),
    "source in no song": ("evaluate {d}/set -o {d}/est --sources banjo", "no song of"),
    "example in no song": ("evaluate {d}/set -o {d}/e --by-example drumz", "--by-example: no song"),
    "evaluate seed past 64 bits": ("evaluate {d}/set -o {d}/e --seed -1" + "0" * 19, "not a seed"),
    "evaluate threads past the CPUs": ("evaluate {d}/set -o {d}/e --threads 100000", "CPUs here"),
    "evaluate tagger without dataset": ("evaluate {d}/set -o {d}/e --tagger fcn", "ARCH/DATASET"),
    # models
    "install jukebox without licence": (
        "models install jukebox-vqvae-5b {d}/junk.tar --model-dir {d}/models",
        "run `tagbox models install jukebox-vqvae-5b",
    ),
    "install jukebox junk": (
        "models install jukebox-vqvae-5b {d}/junk.tar --accept-license --model-dir {d}/models",
        "corrupt or not a PyTorch checkpoint",
    ),
    "install tagger junk": ("models install hcnn/mtat {d}/junk.tar --model-dir {d}/m", "corrupt"),
    "install missing file": ("models install fcn/mtat {d}/no.pth --model-dir {d}/m", "not a file"),
    "unknown model": ("models fetch vgg/mtat --model-dir {d}/models", "unknown model 'vgg/mtat'"),
    # tag, tags, and the command itself
    "tag an empty file": ("tag {d}/empty.wav", "is an empty file"),
    "tags of a malformed tagger": ("tags --tagger fcn", "ARCH/DATASET"),
    "no command": ("", "required: COMMAND"),
    # words no argument takes: for separate, the likely fix
    "instrument without --tags": ("separate {d}/song.wav piano -o {d}/out", "--tags piano)"),
    "tags by spaces": (f"{SEP} guitar -o {{d}}/out", "--tags piano,guitar)"),
    "unknown option": (f"{SEP} --frobnicate 3 -o {{d}}/out", "arguments: --frobnicate 3; see"),
    "word after tags": ("tags piano", "tagbox tags: error: unrecognized arguments: piano; see"),
    "unknown command": ("separat", "invalid choice: 'separat'"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("line", "words"), list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_and_exit_2(
    place: Path, model_dir: Path, line: str, words: str
) -> None:
    if "/proc/" in line and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    argv = line.replace("{d}", str(place)).split()
    if argv and argv[0] in ("separate", "tag") and "--model-dir" not in argv:
        argv += ["--model-dir", str(model_dir)]
    before = sorted(p.relative_to(place) for p in place.rglob("*"))
    result = run_cli(*argv)
    assert_one_line_error(result, words)
    # Nothing was created: no output folder, no log, no model file.
    assert sorted(p.relative_to(place) for p in place.rglob("*")) == before


def test_banjo_is_not_taken_for_piano(place: Path, model_dir: Path) -> None:
    from tagbox_gui.core.errors import TagError
    from tagbox_gui.core.nets.taggers import vocabulary
    from tagbox_gui.core.separation.tags import check_known

    with pytest.raises(TagError) as error:
        check_known(("banjo",), {"mtat": vocabulary("mtat")})
    assert "did you mean" not in str(error.value) and "tagbox tags" in str(error.value)
    with pytest.raises(TagError, match=r"did you mean 'drums'\?"):
        check_known(("drumz",), {"mtat": vocabulary("mtat")})


def test_a_closed_pipe_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`tagbox models list | head`: the reader is gone before the listing is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader stopped: any write now fails with EPIPE
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tagbox_gui.cli", "models", "list", "--model-dir", tmp_path],
            stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env, timeout=120,
            check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    lines = result.stderr.splitlines()  # no traceback, no "Exception ignored ... BrokenPipe"
    assert lines == ["tagbox: error: the output was closed before the end (broken pipe)"]
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["song.wav", "piano"], "--tags piano)"),
        (["song.wav", "--tags", "acoustic guitar", "drums"], "--tags 'acoustic guitar,drums')"),
        (["song.wav", "--each", "drums", "piano"], None),  # --each names them: no --tags hint
        (["song.wav", "--tags", "piano", "--frobnicate"], None),
    ],
)
def test_stray_words_name_the_fix(
    argv: list[str], hint: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A word `separate` does not take says how to name instruments, unless that is not it."""
    from tagbox_gui.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["separate", *argv, "-o", "out"])
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("tagbox separate: error: unrecognized arguments: ")
    assert line.endswith("; see 'tagbox separate --help'")
    assert (hint in line) if hint else ("--tags" not in line.split(" arguments: ")[1])


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["separate", "{d}/My", "Song.wav", "--tags", "piano"], ["Song.wav"]),
        (["separate", "{d}/My", "Great", "Song.wav", "--each", "drums"], ["Great", "Song.wav"]),
        (["separate", "{d}/Not", "There.flac", "--tags", "piano"], ["There.flac"]),
        (["tag", "{d}/My", "Song.wav"], ["Song.wav"]),
        (["tag", "{d}/Not", "There.opus"], ["There.opus"]),  # every format the app reads
    ],
)
def test_a_song_name_split_at_its_spaces_is_told_to_go_in_quotes(
    tmp_path: Path, command: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`tagbox separate My Song.wav` (no quotes): the fix is quotes, not --tags 'piano,Song.wav'."""
    from tagbox_gui.cli import main

    write_song(tmp_path / "My Song.wav")
    write_song(tmp_path / "My Great Song.wav")
    argv = [word.format(d=tmp_path) for word in command]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "-o", str(tmp_path / "out")] if argv[0] == "separate" else argv)
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    whole = " ".join([argv[1], *words])
    assert f"in quotes: '{whole}'" in line and "--tags" not in line.split(" arguments: ")[1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "fix"),
    [
        (["separate", "-take1.wav", "--tags", "piano"], "./-take1.wav, or put it after --"),
        (["separate", "--tags", "piano", "-o.wav"], "./-o.wav, or put it after --"),
        (["separate", "-o.wav", "--tags", "piano"], "./-o.wav, or put it after --"),
        (["separate", "song.wav", "--example", "-take1.wav"], "or as --example=-take1.wav"),
        (["tag", "-take1.wav"], "./-take1.wav"),
        (["separate", "-gone.wav", "--tags", "piano"], None),  # no such file: no such hint
    ],
)
def test_a_song_named_like_an_option_is_told_how_to_be_given(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    fix: str | None,
) -> None:
    """`tagbox separate -take1.wav` said only that SONG is required: the file is there, and
    argparse took its name for an option."""
    from tagbox_gui.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("-take1.wav", "-o.wav", "song.wav"):
        write_song(tmp_path / name)
    with pytest.raises(SystemExit) as stop:
        main([*argv, "-o", "out"] if argv[0] == "separate" else argv)
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("--help'") and ": error: " in line
    if fix is None:
        assert "starts with '-'" not in line
    else:
        assert "starts with '-', so it was read as an option" in line and fix in line
    assert not (tmp_path / "out").exists()


def test_an_option_is_never_taken_for_a_longer_one_it_begins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """evaluate has no --mode: argparse's abbreviations read `--mode free` as `--model-dir free`."""
    from tagbox_gui.cli import build_parser

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["evaluate", "set", "-o", "est", "--mode", "free"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --mode free" in capsys.readouterr().err


def test_a_model_folder_that_is_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`models list` listed every model as missing from a "folder" that was a file; the error
    names where the folder came from: the option, or $TAGBOX_MODEL_DIR (not the option)."""
    from tagbox_gui.cli import build_parser, main

    afile = tmp_path / "weights.pt"
    afile.write_bytes(b"x")
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["models", "list", "--model-dir", str(afile)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --model-dir: " in err and "is a file, not a folder" in err
    monkeypatch.setenv("TAGBOX_MODEL_DIR", str(afile))
    for argv in (["models", "list"], ["tag", "song.wav"], ["separate", "s.wav", "--tags", "piano",
                 "-o", str(tmp_path / "out")], ["evaluate", "set", "-o", "est"]):  # fmt: skip
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line == (f"tagbox: error: the model folder '{afile}' given by $TAGBOX_MODEL_DIR "
                        "is a file, not a folder; set TAGBOX_MODEL_DIR to a folder, or give one "
                        "with --model-dir")  # fmt: skip
    assert main(["models", "list", "--model-dir", str(tmp_path)]) == 0  # the option comes first
    assert "error" not in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="symbolic links as POSIX has them")
@pytest.mark.parametrize("where", ["itself", "above"])
def test_a_model_folder_that_links_to_nothing_is_refused_as_such_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """--model-dir or $TAGBOX_MODEL_DIR a link to a drive not plugged in (or a folder under
    one): refused before any work, the link, where it leads and 'plug it in' said; it passed
    the check and the store called it 'a file, not a folder' when a model was fetched."""
    from tagbox_gui.cli import build_parser, main

    link, usb = tmp_path / "models", tmp_path / "usb" / "models"
    link.symlink_to(usb)
    folder = link / ("" if where == "itself" else "tagbox")
    place = "is" if where == "itself" else f"is under '{link}', which is"
    said = f"{place} a link to '{usb}', which is not there (a drive not plugged in?); plug it in"
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["models", "fetch", "fcn/mtat", "--model-dir", str(folder)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --model-dir: the model folder '{folder}' {said}, or " in err, err
    monkeypatch.setenv("TAGBOX_MODEL_DIR", str(folder))
    assert main(["models", "fetch", "fcn/mtat"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"tagbox: error: the model folder '{folder}' given by $TAGBOX_MODEL_DIR {said}, or set "
        "TAGBOX_MODEL_DIR to a folder, or give one with --model-dir"
    )
    assert not (tmp_path / "usb").exists()


@pytest.mark.skipif(os.name != "posix", reason="file permissions as POSIX has them")
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--tags", "piano", "--log-json", "{locked}/logs/run.json"), "(Permission denied)"),
        (("--each", "organ={locked}/clip.wav"), "cannot be opened (Permission denied)"),
        (("--each", "organ={locked}/clip.wav:0:1"), "cannot be opened (Permission denied)"),
        (("--tags", "piano", "--jukebox-weights", "{locked}/v.tar"), "cannot be looked up"),
        (("--example", "{song}", "--model-dir", "{locked}/models"), "(Permission denied)"),
    ],
)
def test_a_path_in_a_folder_that_may_not_be_searched_is_one_line(
    place: Path, model_dir: Path, args: tuple[str, ...], words: str
) -> None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root, and no setpriv to drop the file permission override")
    user = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] * (os.geteuid() == 0)
    locked = place / "locked"
    locked.mkdir()
    locked.chmod(0o000)  # someone else's folder, say
    song = place / "song.wav"
    argv = [a.replace("{locked}", str(locked)).replace("{song}", str(song)) for a in args]
    command = [*user, sys.executable, "-m", "tagbox_gui.cli", "separate", str(song), *argv,
               "-o", str(place / "out")]  # fmt: skip
    if "--model-dir" not in argv:
        command += ["--model-dir", str(model_dir)]
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                                env=env, check=False)  # fmt: skip
    finally:
        locked.chmod(0o755)
    assert_one_line_error(result, words)


def test_a_model_folder_that_cannot_be_searched_names_the_options_that_choose_another(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tagbox_gui.cli import main
    from tagbox_gui.core.store import models

    monkeypatch.setattr(models, "_file_state", lambda path: (None, "Permission denied"))
    song = write_song(tmp_path / "song.wav")
    assert main(["tag", str(song), "--model-dir", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (f"tagbox: error: model fcn/mtat cannot be looked up in {tmp_path} (Permission "
                    "denied); check the permissions of its folders, or choose another model "
                    "folder with --model-dir or $TAGBOX_MODEL_DIR")  # fmt: skip


def test_a_model_not_installed_names_the_command_that_fetches_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from tagbox_gui.cli import main

    song = write_song(tmp_path / "song.wav")
    assert main(["tag", str(song), "--model-dir", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (f"tagbox: error: model fcn/mtat is not installed in {tmp_path}; download it "
                    "with `tagbox models fetch fcn/mtat`")  # fmt: skip
