"""`tagbox models` run in-process, downloads from a local HTTP server (never the internet)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagbox_gui.cli import main
from tagbox_gui.core.store.models import ENV_BASE_URL, ENV_MODEL_DIR, ModelStore
from tagbox_gui.core.store.registry import JUKEBOX, REGISTRY
from tests.httpserver import Fault, FileServer, closed_port_url, http_server  # noqa: F401

FCN_REL = "taggers/mtat/fcn/best_model.pth"
PRESENT = {
    "fcn/mtat", "crnn/mtat", "musicnn/mtat", "fcn/jamendo", "crnn/jamendo",
    "musicnn/jamendo", "fcn/msd", "crnn/msd",
}  # fmt: skip


pytestmark = pytest.mark.usefixtures("offline_models")


@pytest.fixture
def mirror(http_server, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> FileServer:  # noqa: F811
    server = http_server(model_dir)
    monkeypatch.setenv(ENV_BASE_URL, server.url)
    return server


def _table(text: str) -> dict[str, list[str]]:
    """Rows of `models list` keyed by model name (header and folder line dropped)."""
    rows = {}
    for line in text.splitlines():
        cells = line.split()
        if cells and cells[0] in REGISTRY:
            rows[cells[0]] = cells
    return rows


def test_list_shared_folder(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--model-dir", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"Model folder: {model_dir}"
    assert "NAME" in out and "LICENCE" in out and "STATUS" in out
    rows = _table(out)
    assert set(rows) == set(REGISTRY)
    assert {name for name, cells in rows.items() if cells[-1] == "present"} == PRESENT
    assert rows["fcn/mtat"][1:5] == ["tagger", "MIT", "1.9", "MB"]
    assert rows[JUKEBOX][1] == "jukebox" and "Noncommercial" in rows[JUKEBOX]
    assert rows[JUKEBOX][-1] == "missing"


def test_list_honours_env_model_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_MODEL_DIR, str(tmp_path))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"Model folder: {tmp_path}"
    assert {cells[-1] for cells in _table(out).values()} == {"missing"}


def test_verify_shared_folder(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "verify", "--model-dir", str(model_dir)]) == 0
    results = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert {results[name] for name in PRESENT} == {"verified"}
    assert {r for n, r in results.items() if n not in PRESENT} == {"missing"}
    assert set(results) == set(REGISTRY)


def test_verify_mismatch_exits_non_zero(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / FCN_REL
    target.parent.mkdir(parents=True)
    target.write_bytes((model_dir / FCN_REL).read_bytes()[:-1] + b"?")
    assert main(["models", "verify", "fcn/mtat", "crnn/mtat", "--model-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.split() == ["fcn/mtat", "mismatch", "crnn/mtat", "missing"]
    assert "tagbox models fetch NAME --force" in captured.err


def test_verify_says_which_file_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / FCN_REL
    target.parent.mkdir(parents=True)
    target.symlink_to("/proc/self/mem")  # its first byte cannot be read, even by root
    assert main(["models", "verify", "fcn/mtat", "--model-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.split() == ["fcn/mtat", "unreadable"]
    assert captured.err.count("\n") == 1 and "fcn/mtat cannot be read" in captured.err


def test_fetch_downloads_with_progress_bar(
    tmp_path: Path, mirror: FileServer, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "fetch", "fcn/mtat", "--model-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"fcn/mtat: saved to {tmp_path / FCN_REL}"
    assert "fcn/mtat" in captured.err and "100%" in captured.err  # tqdm on stderr
    assert "1.90M/1.90M" in captured.err  # 1,902,811 bytes: decimal units, as `list` says them
    assert (tmp_path / FCN_REL).read_bytes() == (model_dir / FCN_REL).read_bytes()
    assert main(["models", "fetch", "fcn/mtat", "--model-dir", str(tmp_path)]) == 0
    assert "already present" in capsys.readouterr().out
    assert mirror.requests == [f"/{FCN_REL}"]


def test_fetch_failure_is_one_line(
    tmp_path: Path, mirror: FileServer, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror.fault = Fault.NOT_FOUND
    assert main(["models", "fetch", "fcn/mtat", "--model-dir", str(tmp_path)]) == 2
    err_lines = [line for line in capsys.readouterr().err.splitlines() if "tagbox:" in line]
    assert len(err_lines) == 1 and "HTTP 404" in err_lines[0]
    assert err_lines[0].startswith("tagbox: error: could not download fcn/mtat")
    assert "Traceback" not in err_lines[0]
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_fetch_tries_every_model_named_and_reports_each_failure(
    tmp_path: Path, mirror: FileServer, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One model that cannot be fetched does not keep the others from being fetched: each
    failure is one line, the models that came are saved, and the exit status says that not
    all did."""
    names = ["hcnn/mtat", "fcn/mtat", "hcnn/jamendo", "crnn/mtat"]  # no hcnn on the mirror
    assert main(["models", "fetch", *names, "--model-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"fcn/mtat: saved to {tmp_path / FCN_REL}",
        f"crnn/mtat: saved to {tmp_path / 'taggers/mtat/crnn/best_model.pth'}",
    ]
    errors = [line for line in captured.err.splitlines() if line.startswith("tagbox:")]
    assert len(errors) == 2, captured.err
    assert errors[0].startswith("tagbox: error: could not download hcnn/mtat")
    assert errors[1].startswith("tagbox: error: could not download hcnn/jamendo")
    assert all("HTTP 404" in line for line in errors)
    assert (tmp_path / FCN_REL).read_bytes() == (model_dir / FCN_REL).read_bytes()
    assert main(["models", "fetch", "fcn/mtat", "crnn/mtat", "--model-dir", str(tmp_path)]) == 0


@pytest.mark.parametrize("cause", ["server", "folder"])
def test_a_cause_every_model_shares_is_said_once(
    tmp_path: Path, mirror: FileServer, capsys: pytest.CaptureFixture[str], cause: str
) -> None:
    """A mirror that refuses every request, or a model folder that cannot be made: the cause
    and its advice in full for the first model, then one line naming the others."""
    if cause == "server":
        mirror.fault = Fault.NOT_FOUND
        said, advice = "HTTP 404 Not Found", "retry `tagbox models fetch fcn/mtat`"
    else:
        (tmp_path / "taggers").write_text("not a folder")
        said, advice = f"'{tmp_path / 'taggers'}' is a file, not a folder", "move it away"
    names = ["fcn/mtat", "crnn/mtat", "musicnn/mtat"]
    assert main(["models", "fetch", *names, "--model-dir", str(tmp_path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "tagbox:" in line]
    assert len(errors) == 2, errors
    assert said in errors[0] and advice in errors[0]
    assert errors[1] == (
        "tagbox: error: could not download crnn/mtat and musicnn/mtat either, for the same "
        f"reason ({said})"
    )


def test_errors_that_differ_per_model_are_each_said(
    tmp_path: Path, mirror: FileServer, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror.fault = Fault.CORRUPT  # each model's file with its own wrong checksum
    assert main(["models", "fetch", "fcn/mtat", "crnn/mtat", "--model-dir", str(tmp_path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "tagbox:" in line]
    assert [line.split(":")[2].strip() for line in errors] == [
        "could not download fcn/mtat",
        "could not download crnn/mtat",
    ]


def test_fetch_jukebox_requires_licence(
    tmp_path: Path,
    http_server,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fixtures_dir: Path,
) -> None:
    source = tmp_path / "mirror" / "jukebox" / "vqvae.pth.tar"
    source.parent.mkdir(parents=True)
    source.write_bytes((fixtures_dir / "jukebox" / "vqvae_random.pth.tar").read_bytes())
    server = http_server(tmp_path / "mirror")
    monkeypatch.setenv(ENV_BASE_URL, server.url)
    store = tmp_path / "store"
    assert main(["models", "fetch", JUKEBOX, "--model-dir", str(store)]) == 2
    err = capsys.readouterr().err
    assert "Noncommercial" in err and "--accept-license" in err and server.requests == []
    assert main(["models", "fetch", JUKEBOX, "--accept-license", "--model-dir", str(store)]) == 0
    assert (store / "jukebox" / "vqvae.pth.tar").read_bytes() == source.read_bytes()
    assert main(["models", "verify", JUKEBOX, "--model-dir", str(store)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split(None, 1) == [JUKEBOX, "unknown checksum"]


def test_a_model_without_checksum_cut_short_is_not_installed(
    tmp_path: Path,
    http_server,  # noqa: F811
    fixtures_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Jukebox VQ-VAE has no known checksum or size: a server that closes the connection
    half-way, having sent no Content-Length, sends what looks like a whole file. It must
    load as the model, as an install must, or it is not installed."""
    weights = fixtures_dir / "jukebox" / "vqvae_random.pth.tar"
    mirror = tmp_path / "mirror"
    (mirror / "jukebox").mkdir(parents=True)
    (mirror / "jukebox" / "vqvae.pth.tar").write_bytes(weights.read_bytes())
    server = http_server(mirror, fault=Fault.CUT)
    store = tmp_path / "store"
    args = ["models", "fetch", JUKEBOX, "--accept-license", "--model-dir", str(store)]
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ENV_BASE_URL, server.url)
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "what arrived is not the expected vqvae.pth.tar" in err and "corrupt" in err
        assert not any(p.is_file() for p in store.rglob("*"))
        server.fault = Fault.NONE
        assert main(args) == 0, capsys.readouterr().err
    assert ModelStore(store).location(JUKEBOX).read_bytes() == weights.read_bytes()


def test_unknown_model_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "fetch", "vgg/mtat"]) == 2
    assert "unknown model 'vgg/mtat'" in capsys.readouterr().err


def test_install_command(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = model_dir / FCN_REL
    assert main(["models", "install", "fcn/mtat", str(src), "--model-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("(verified)")
    bad = ["models", "install", "crnn/mtat", str(src), "--model-dir", str(tmp_path)]
    assert main(bad) == 2
    assert "is not the crnn/mtat checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "taggers" / "mtat" / "crnn").exists() or not any(
        (tmp_path / "taggers" / "mtat" / "crnn").iterdir()
    )
