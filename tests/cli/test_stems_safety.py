"""Nothing lost: a run's stems appear together or not at all, old stems are replaced only when
asked, a failed run leaves no folder, and every output path is checked before the first step.

Faults are real where the fault needs it: Ctrl+C is a SIGINT to a real `tagbox` process, a full
disk is a small tmpfs mounted in a private mount namespace (skipped where the system allows
none).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tagbox_gui.cli import main
from tests.cli.processes import run_cli, write_song
from tests.conftest import REPO

PAIR = ["song - piano.wav", "song - no piano.wav"]
EACH = ["song - piano.wav", "song - strings.wav", "song - no piano + strings.wav"]

# A `tagbox` process that sends itself SIGINT (Ctrl+C) at one chosen moment of the writing.
# Ctrl+C is made live first, as in a terminal: a process started in the background by a
# non-interactive shell inherits SIGINT ignored, and then never sees the SIGINT it sends.
_INTERRUPT = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
import tagbox_gui.core.audio.files as files

def ctrl_c():  # or a SIGTERM, as `timeout` or `kill` send, for a moment ending in "-term"
    os.kill(os.getpid(), signal.SIGTERM if sys.argv[1].endswith("-term") else signal.SIGINT)

if sys.argv[1].startswith("writes"):  # once the first stem is complete in its temporary file
    close = files._TempFile.close
    def _close(self):
        close(self)
        ctrl_c()
    files._TempFile.close = _close
else:  # once the first new stem has been renamed into place
    replace, renamed = os.replace, []
    def _replace(src, dst):
        replace(src, dst)
        if str(src).endswith(".part") and not renamed:
            renamed.append(dst)
            ctrl_c()
    os.replace = _replace
from tagbox_gui.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _old_stems(folder: Path, names: list[str]) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        sf.write(folder / name, [[0.125 * (index + 1)]] * 100, 44_100)
    return _contents(folder)


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["writes", "renames", "writes-term", "renames-term"])
@pytest.mark.parametrize(
    ("what", "names"), [(("--tags", "piano"), PAIR), (("--each", "piano,strings"), EACH)]
)
def test_ctrl_c_or_sigterm_while_writing_keeps_the_old_stems_whole(
    tmp_path: Path, model_dir: Path, moment: str, what: tuple[str, ...], names: list[str]
) -> None:
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    old = _old_stems(out, names)
    result = run_cli(moment, "separate", song, *what, "--overwrite", "--model-dir", model_dir,
                     "-o", out, script=_INTERRUPT)  # fmt: skip
    term = moment.endswith("-term")  # 128 + the signal, as a shell reports it
    assert result.returncode == (143 if term else 130), result.stderr
    assert result.stderr.rstrip().endswith("tagbox: " + ("terminated" if term else "interrupted"))
    assert "Traceback" not in result.stderr
    # The old stems, every one of them and byte for byte: no new stem beside an old one, and
    # no temporary or backup file left behind.
    assert _contents(out) == old


def _tmpfs_works(place: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    place.mkdir()
    probe = ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{place}'"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "size", "said"),
    [
        # WAV sizes are known: 1.1 MB of stems on 800 kB is refused before the first step
        ("wav32", "800k", "the stems take 1.1 MB and the disk of"),
        # a FLAC's is not: the separated stem (185 kB) fits in 400 kB, the residual does not
        ("flac24", "400k", "the disk is full), so none of the stems was written"),
    ],
)
def test_a_full_disk_leaves_nothing_and_says_disk_full(
    tmp_path: Path, model_dir: Path, fmt: str, size: str, said: str
) -> None:
    disk = tmp_path / "disk"
    if not _tmpfs_works(disk):
        pytest.skip("no private mount namespace here (unshare -rm) to mount a small tmpfs in")
    song = write_song(tmp_path / "song.wav")  # 3 s mono: a 32-bit float stem is 529 kB
    tagbox = (f"'{sys.executable}' -m tagbox_gui.cli separate '{song}' --tags piano "
              f"--format {fmt} --model-dir '{model_dir}'")  # fmt: skip
    # The listing is taken inside the namespace, before the tmpfs goes away with it.
    script = (f"mount -t tmpfs -o size={size} tmpfs '{disk}' && cd '{REPO}' && "
              f"{tagbox} -o '{disk}/stems'; echo \"rc=$?\" >&2; ls -A '{disk}'")  # fmt: skip
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                            text=True, timeout=300, check=False)  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == "rc=2" and "Traceback" not in result.stderr, result.stderr
    assert lines[-2].startswith("tagbox: error: ") and said in lines[-2], lines[-2]
    assert "free some disk space" in lines[-2]
    assert "System error" not in result.stderr
    assert result.stdout.split() == []  # not a stem, not a temporary, not even the folder


def _separate(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["separate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str, words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tagbox: error:"), err
    assert words in lines[0], lines[0]


def test_stems_already_there_are_kept_unless_overwrite(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    old = _old_stems(out, PAIR)
    code, _, err = _separate(capsys, song, "--tags", "piano", "--model-dir", model_dir, "-o", out)
    assert code == 2
    _one_line(err, "'song - piano.wav', 'song - no piano.wav' are already in")
    assert "--overwrite" in err and _contents(out) == old
    code, _, _ = _separate(capsys, song, "--tags", "piano", "--overwrite",
                           "--model-dir", model_dir, "-o", out)  # fmt: skip
    assert code == 0 and sorted(_contents(out)) == sorted(PAIR)
    assert _contents(out) != old
    assert sf.info(out / PAIR[0]).frames == sf.info(song).frames


@pytest.mark.parametrize("what", [("--tags", "piano"), ("--each", "piano,strings")])
def test_a_folder_where_a_stem_goes_is_refused_before_the_first_step_even_with_overwrite(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str], what: tuple[str, ...]
) -> None:
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    (out / "song - piano.wav").mkdir(parents=True)
    code, _, err = _separate(capsys, song, *what, "--overwrite", "--model-dir", model_dir,
                             "-o", out)  # fmt: skip
    assert code == 2
    _one_line(err, "song - piano.wav' is a folder")  # one line: nothing was separated
    assert [p.name for p in out.iterdir()] == ["song - piano.wav"]


def test_songs_that_share_a_name_do_not_replace_each_others_stems(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flac, ogg = tmp_path / "song.flac", tmp_path / "song.ogg"
    sf.write(flac, sf.read(write_song(tmp_path / "song.wav"))[0], 44_100)
    sf.write(ogg, sf.read(tmp_path / "song.wav")[0], 44_100)
    out = tmp_path / "out"
    assert _separate(capsys, flac, "--tags", "piano", "--model-dir", model_dir, "-o", out)[0] == 0
    first = _contents(out)
    code, _, err = _separate(capsys, ogg, "--tags", "piano", "--model-dir", model_dir, "-o", out)
    assert code == 2 and "already in" in err and _contents(out) == first


def test_each_refuses_when_one_of_its_stems_is_there(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    old = _old_stems(out, [EACH[2]])  # only the rest stem
    code, _, err = _separate(capsys, song, "--each", "piano,strings", "--model-dir", model_dir,
                             "-o", out)  # fmt: skip
    assert code == 2
    _one_line(err, "'song - no piano + strings.wav' is already in")
    assert _contents(out) == old


@pytest.mark.parametrize(
    ("song_seconds", "args", "words"),
    [
        (3.0, ("--tags", "zither"), "no prototype for 'zither'"),
        (3.0, ("--tags", "piano", "--region", "2:9"), "outside the song"),
        (3.0, ("--tags", "piano", "--steps", "1", "--model-dir", "EMPTY"), "models fetch"),
        (3.0, ("--each", "piano,zither"), "no prototype for 'zither'"),
    ],
)
def test_a_failed_run_leaves_no_output_folder(
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    song_seconds: float,
    args: tuple[str, ...],
    words: str,
) -> None:
    song = write_song(tmp_path / "song.wav", seconds=song_seconds)
    args = tuple(str(tmp_path / "none") if a == "EMPTY" else a for a in args)
    if "--model-dir" not in args:
        args = (*args, "--model-dir", str(model_dir))
    out = tmp_path / "new" / "out"
    code, _, err = _separate(capsys, song, *args, "-o", out)
    assert code == 2
    _one_line(err, words)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("where", "words"),
    [
        (lambda d: d / "a-file" / "log.json", "is a file, not a folder"),
        (lambda d: d / "a-folder", "is a folder"),
        pytest.param(
            lambda d: Path("/proc/tagbox/log.json"),
            "no folder can be made there",
            marks=pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc here"),
        ),
    ],
)
def test_an_unwritable_log_json_is_refused_before_the_first_step(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str], where, words: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    code, _, err = _separate(capsys, song, "--tags", "piano", "--steps", "1", "--backend", "light",
                             "--model-dir", model_dir, "--log-json", where(tmp_path),
                             "-o", out)  # fmt: skip
    assert code == 2
    _one_line(err, words)  # one line: no progress bar was ever drawn
    assert "--log-json" in err and not out.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_log_json_that_is_a_pipe_is_refused_not_replaced(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pipe (or a device, /dev/null) is no file the log can be written to through a
    temporary and a rename: the rename would put a plain file in its place, even with
    --overwrite."""
    song = write_song(tmp_path / "song.wav")
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    code, _, err = _separate(capsys, song, "--tags", "piano", "--model-dir", model_dir,
                             "--overwrite", "--log-json", pipe, "-o", tmp_path / "out")  # fmt: skip
    assert code == 2
    _one_line(err, "is not a file on disk (a pipe or a device)")
    assert stat.S_ISFIFO(pipe.lstat().st_mode) and not (tmp_path / "out").exists()


def test_log_json_in_a_new_folder_is_written(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = write_song(tmp_path / "song.wav")
    log = tmp_path / "logs" / "run.json"
    code, _, err = _separate(capsys, song, "--tags", "piano", "--model-dir", model_dir,
                             "--log-json", log, "-o", tmp_path / "out")  # fmt: skip
    assert code == 0, err
    assert log.is_file()


def test_a_song_with_a_long_name_gets_its_stems(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 82 CJK characters: 246 bytes, a file name Linux takes, but not with " - no piano" added.
    song = write_song(tmp_path / ("月" * 82 + ".wav"))
    out = tmp_path / "out"
    code, _, err = _separate(capsys, song, "--tags", "piano", "--model-dir", model_dir, "-o", out)
    assert code == 0, err
    stems = sorted(out.iterdir())
    assert len(stems) == 2 and all(len(p.name.encode()) <= 205 for p in stems)
    assert all(sf.info(p).frames == sf.info(song).frames for p in stems)


@pytest.mark.parametrize(
    ("query", "log", "words"),
    [
        (("--tags", "piano"), "out/song - piano.wav", "one of the stems this run writes"),
        (("--each", "piano,strings"), "out/" + EACH[2], "one of the stems this run writes"),
        (("--tags", "piano"), "song.wav", "an audio file this run reads"),
        (("--example", "clip.wav:0:1"), "clip.wav", "an audio file this run reads"),
        (("--tags", "piano"), "out", "is the output folder"),  # made first, for the stems
    ],
)
def test_log_json_never_replaces_a_stem_or_an_input(
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    query: tuple[str, ...],
    log: str,
    words: str,
) -> None:
    song = write_song(tmp_path / "song.wav")
    write_song(tmp_path / "clip.wav")
    before = _contents(tmp_path)
    query = tuple(str(tmp_path / a) if a.startswith("clip") else a for a in query)
    code, _, err = _separate(capsys, song, *query, "--overwrite", "--model-dir", model_dir,
                             "--log-json", tmp_path / log, "-o", tmp_path / "out")  # fmt: skip
    assert code == 2
    _one_line(err, words)
    assert _contents(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_log_json_already_there_is_kept_unless_overwrite(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = write_song(tmp_path / "song.wav")
    log = tmp_path / "notes.json"
    log.write_text("my notes")
    args = (song, "--tags", "piano", "--model-dir", model_dir, "--log-json", log)
    code, _, err = _separate(capsys, *args, "-o", tmp_path / "out")
    assert code == 2
    _one_line(err, "is already there; add --overwrite")
    assert log.read_text() == "my notes" and not (tmp_path / "out").exists()
    code, _, err = _separate(capsys, *args, "--overwrite", "-o", tmp_path / "out")
    assert code == 0, err
    assert "config" in json.loads(log.read_text())


@pytest.mark.parametrize(
    ("song_name", "query"),
    [
        ("piano.wav", ("--tags", "piano")),  # the song's own name is the stem's
        ("song.wav", ("--each", "drums,organ=organ.wav:0:1")),  # an example clip's
    ],
)
def test_a_stem_never_replaces_an_input_even_with_overwrite(
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    song_name: str,
    query: tuple[str, ...],
) -> None:
    song = write_song(tmp_path / song_name)
    write_song(tmp_path / "organ.wav")
    query = tuple(a.replace("organ.wav", str(tmp_path / "organ.wav")) for a in query)
    before = _contents(tmp_path)
    code, _, err = _separate(capsys, song, *query, "--name-template", "{stem}", "--overwrite",
                             "--model-dir", model_dir, "-o", tmp_path)  # fmt: skip
    assert code == 2
    _one_line(err, "would replace an audio file this run reads")
    assert _contents(tmp_path) == before


def test_a_log_json_on_a_full_disk_is_one_line_and_keeps_the_stems(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    song = write_song(tmp_path / "song.wav")
    out, logs = tmp_path / "out", tmp_path / "logs"
    write_text = Path.write_text

    def full_disk(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if self.parent != logs:
            return write_text(self, data, *args, **kwargs)
        write_text(self, data[:10])  # a part of it, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    code, stdout, err = _separate(capsys, song, "--tags", "piano", "--model-dir", model_dir,
                                  "--log-json", logs / "run.json", "-o", out)  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("tagbox: error: the stems were written")
    assert "No space left on device" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(PAIR)
    assert str(out / PAIR[0]) in stdout  # where they are is said all the same
    assert not logs.exists()  # no half-written temporary, nor the folder made for it
