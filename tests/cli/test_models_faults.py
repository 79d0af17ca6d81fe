"""`tagbox models` under faults: an empty store, junk files, the user's umask."""

from __future__ import annotations

import errno
import io
import os
import signal
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.cli import main
from tagbox_gui.core.folders import format_size
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import JUKEBOX
from tests.conftest import require

FCN_REL = "taggers/mtat/fcn/best_model.pth"


def test_verify_fails_when_no_model_is_installed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "verify", "--model-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert {line.split()[-1] for line in captured.out.splitlines()} == {"missing"}
    assert captured.err.count("\n") == 1 and "no model is installed" in captured.err


def test_verify_fails_when_a_model_named_is_missing(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models", "verify", "fcn/mtat", "hcnn/mtat", "--model-dir", str(model_dir)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out.split() == ["fcn/mtat", "verified", "hcnn/mtat", "missing"]
    assert "hcnn/mtat is not installed" in captured.err
    assert main(["models", "verify", "fcn/mtat", "--model-dir", str(model_dir)]) == 0


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_an_installed_model_file_follows_the_umask(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str], umask: int, mode: int
) -> None:
    src = require(model_dir / FCN_REL)
    old = os.umask(umask)
    try:
        code = main(["models", "install", "fcn/mtat", str(src), "--model-dir", str(tmp_path)])
    finally:
        os.umask(old)
    assert code == 0, capsys.readouterr().err
    assert stat.S_IMODE((tmp_path / FCN_REL).stat().st_mode) == mode


@pytest.mark.slow
def test_a_jukebox_checkpoint_of_the_published_layout_is_installed(
    tmp_path: Path, fixtures_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = require(fixtures_dir / "jukebox" / "vqvae_random.pth.tar")
    store = tmp_path / "store"
    args = ["models", "install", JUKEBOX, str(weights), "--model-dir", str(store)]
    assert main([*args, "--accept-license"]) == 0, capsys.readouterr().err
    assert "(unknown checksum)" in capsys.readouterr().out
    assert ModelStore(store).location(JUKEBOX).read_bytes() == weights.read_bytes()


def test_a_tagger_file_of_the_wrong_network_is_not_installed(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The registry knows no checksum for hcnn/mtat: only loading the file can refuse it.
    fcn = require(model_dir / FCN_REL)
    assert main(["models", "install", "hcnn/mtat", str(fcn), "--model-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not hold hcnn/mtat" in err
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("action", ["install", "fetch"])
def test_a_folder_where_the_model_file_belongs_is_one_line(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, action: str,
) -> None:  # fmt: skip
    src = require(model_dir / FCN_REL)
    (tmp_path / FCN_REL).mkdir(parents=True)
    monkeypatch.setenv("TAGBOX_MODEL_BASE_URL", model_dir.as_uri())  # a mirror on disk
    args = ["install", "fcn/mtat", str(src)] if action == "install" else ["fetch", "fcn/mtat"]
    assert main(["models", *args, "--model-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err  # after fetch's progress bar, the error in one line
    assert "Traceback" not in err and err.endswith("\n") and err.count("error") == 1, err
    assert "is a folder, where the model file belongs" in err.splitlines()[-1], err
    assert [p.name for p in (tmp_path / FCN_REL).parent.iterdir()] == ["best_model.pth"]


_KILLED_WHILE_COPYING = """
import os, signal, sys
import tagbox_gui.core.store.download as download

write = download._write
def _write(out, chunk, flush=False):
    write(out, chunk, flush)
    if chunk:  # part of the file is in the temporary: a kill (`timeout`, `kill`) comes now
        os.kill(os.getpid(), signal.SIGTERM)
download._write = _write
from tagbox_gui.cli import main
from tagbox_gui.core.folders import format_size
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("action", ["install", "fetch"])
def test_a_kill_while_a_model_is_copied_leaves_no_partial_file(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    from tests.cli.processes import run_cli

    src = require(model_dir / FCN_REL)
    args = ["install", "fcn/mtat", src] if action == "install" else ["fetch", "fcn/mtat"]
    monkeypatch.setenv("TAGBOX_MODEL_BASE_URL", model_dir.as_uri())  # a mirror on disk
    result = run_cli("models", *args, "--model-dir", tmp_path, script=_KILLED_WHILE_COPYING)
    assert result.returncode == 143, result.stderr  # 128 + SIGTERM, as a shell reports it
    assert result.stderr.rstrip().endswith("tagbox: terminated")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no temporary left behind


_TERMINATED_PART_WAY = _KILLED_WHILE_COPYING.replace(
    "    if chunk:", "    if chunk and out.tell() > len(chunk):  # the second chunk, one counted"
)


def test_a_fetch_terminated_part_way_keeps_what_came_and_says_so(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Ctrl+C or SIGTERM while a model comes: what came is kept beside the model file (never
    at its path), `tagbox models list` says so, and the next fetch ends with the model."""
    from tests.cli.processes import run_cli

    require(model_dir / FCN_REL)
    monkeypatch.setenv("TAGBOX_MODEL_BASE_URL", model_dir.as_uri())  # a mirror on disk
    args = ["fetch", "fcn/mtat", "--model-dir", tmp_path]
    result = run_cli("models", *args, script=_TERMINATED_PART_WAY)
    assert result.returncode == 143, result.stderr
    kept = ModelStore(tmp_path).kept("fcn/mtat")
    assert kept > 0 and not (tmp_path / FCN_REL).exists()
    said = f"fcn/mtat: the {format_size(kept)} received are kept, and the next download of it"
    assert said in result.stderr and result.stderr.rstrip().endswith("tagbox: terminated")
    assert main(["models", "list", "--model-dir", str(tmp_path)]) == 0
    listed = next(line for line in capsys.readouterr().out.splitlines() if "fcn/mtat" in line)
    assert listed.endswith(f"missing ({format_size(kept)} of a download kept: fetch goes on "
                           "from there)")  # fmt: skip
    assert main(["models", *map(str, args)]) == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / FCN_REL]


_KILLED_OUTRIGHT = _KILLED_WHILE_COPYING.replace("signal.SIGTERM", "signal.SIGKILL")


@pytest.mark.skipif(os.name != "posix", reason="kill -9 as POSIX has it")
@pytest.mark.parametrize("action", ["install", "fetch"])
def test_the_part_file_of_a_process_killed_outright_goes_with_the_next_download(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """kill -9 (or a power cut) gives the process no chance to remove its temporary: the
    next fetch or install of that model removes it, rather than leaving it for good."""
    from tests.cli.processes import run_cli

    src = require(model_dir / FCN_REL)
    args = ["install", "fcn/mtat", str(src)] if action == "install" else ["fetch", "fcn/mtat"]
    monkeypatch.setenv("TAGBOX_MODEL_BASE_URL", model_dir.as_uri())  # a mirror on disk
    killed = run_cli("models", *args, "--model-dir", tmp_path, script=_KILLED_OUTRIGHT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name.endswith(".part") for p in left] == [True]  # what the kill left
    assert main(["models", *args, "--model-dir", str(tmp_path)]) == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / FCN_REL]


@pytest.mark.skipif(os.name != "posix", reason="file permissions as POSIX has them")
def test_a_model_folder_that_may_not_be_searched_is_unreadable_not_a_traceback(
    tmp_path: Path, model_dir: Path
) -> None:
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO

    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root, and no setpriv to drop the file permission override")
    user = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] * (os.geteuid() == 0)
    store = tmp_path / "models"
    (store / FCN_REL).parent.mkdir(parents=True)
    shutil.copy(require(model_dir / FCN_REL), store / FCN_REL)
    song = tmp_path / "song.wav"
    sf.write(song, 0.1 * np.random.default_rng(0).standard_normal(44_100), 44_100)
    (store / "taggers").chmod(0o000)  # a shared folder of someone else's, say

    def tagbox(*args: object) -> subprocess.CompletedProcess:
        command = [*user, sys.executable, "-m", "tagbox_gui.cli", *map(str, args)]
        return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120,
                              check=False, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip

    try:
        listing = tagbox("models", "list", "--model-dir", store)
        verify = tagbox("models", "verify", "fcn/mtat", "--model-dir", store)
        run = tagbox("separate", song, "--example", song, "-o", tmp_path / "out",
                     "--model-dir", store)  # fmt: skip
    finally:
        (store / "taggers").chmod(0o755)
    for done in (listing, verify, run):
        assert "Traceback" not in done.stderr, done.stderr
    assert listing.returncode == 0 and "fcn/mtat" in listing.stdout
    assert listing.stdout.splitlines()[2].split()[-1] == "unreadable"  # fcn/mtat's row
    assert verify.returncode == 1 and verify.stdout.split() == ["fcn/mtat", "unreadable"]
    assert run.returncode == 2
    assert "fcn/mtat cannot be looked up" in run.stderr and "(Permission denied)" in run.stderr


class _FailingDisk:
    """A file whose reads fail part of the way, as on a failing disk (EIO)."""

    def __init__(self, handle) -> None:
        self._handle, self._reads = handle, 0

    def read1(self, size: int) -> bytes:
        self._reads += 1
        if self._reads > 1:
            raise OSError(errno.EIO, "Input/output error")
        return self._handle.read1(size)

    def __getattr__(self, name: str):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


class _FailingClose(io.BufferedWriter):
    """A written file whose close reports an error, as a network file system may (EIO)."""

    def close(self) -> None:
        super().close()
        raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize("fault", ["read", "close"])
def test_a_disk_error_while_a_model_is_copied_is_one_line_and_leaves_nothing(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, fault: str,
) -> None:  # fmt: skip
    import tagbox_gui.core.store.download as download

    src = require(model_dir / FCN_REL)
    if fault == "read":
        opened = Path.open

        def open_(path: Path, mode: str = "r", *args: object, **kwargs: object):
            handle = opened(path, mode, *args, **kwargs)
            return _FailingDisk(handle) if path == src and mode == "rb" else handle

        monkeypatch.setattr(Path, "open", open_)
    else:
        fdopen = os.fdopen
        monkeypatch.setattr(
            download.os,
            "fdopen",
            lambda fd, mode="r", *a, **k: (
                _FailingClose(io.FileIO(fd, "wb")) if mode == "wb" else fdopen(fd, mode, *a, **k)
            ),
        )
    store = tmp_path / "store"
    assert main(["models", "install", "fcn/mtat", str(src), "--model-dir", str(store)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("tagbox: error: ") and "Input/output error" in err
    said = f"cannot read {src}" if fault == "read" else "cannot finish writing the model file"
    assert said in err
    assert not [p for p in store.rglob("*") if p.is_file()]  # no temporary left behind
