"""`tagbox separate` with taggers it needs and the model folder lacks (an example, steps): on a
terminal it says what they are for and their size and offers to fetch them once; declined, or
without a terminal, one line names them all with the one command that fetches them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tagbox_gui.cli import main
from tagbox_gui.cli import models as models_cli
from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.store.models import ModelStore
from tests.cli.processes import write_song
from tests.httpserver import http_server  # noqa: F401  (fixture)

EXAMPLE_TAGGERS = ("fcn/mtat", "fcn/jamendo")


class _Terminal(io.StringIO):
    """What the musician types, on a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch):
    """Standard input and error are a terminal; the test says what is typed."""

    def typing(text: str) -> None:
        monkeypatch.setattr("sys.stdin", _Terminal(text))
        monkeypatch.setattr(models_cli, "on_a_terminal", lambda: True)

    return typing


@pytest.mark.parametrize(
    "asked",
    [("--example-region", "0:2"), ("--each", "drums,organ=CLIP")],
    ids=["example", "each"],
)
def test_without_a_terminal_every_missing_tagger_is_named_with_one_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], asked: tuple[str, ...]
) -> None:
    song = write_song(tmp_path / "song.wav")
    clip = write_song(tmp_path / "clip.wav")
    asked = tuple(a.replace("CLIP", str(clip)) for a in asked)
    store = tmp_path / "no models"
    code = main(["separate", str(song), *asked, "--model-dir", str(store), "--threads", "1",
                 "-o", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("tagbox: error:")]
    assert len(lines) == 1, err
    assert "fcn/mtat and fcn/jamendo are not installed" in lines[0]
    assert "`tagbox models fetch fcn/mtat fcn/jamendo`" in lines[0]
    assert "example" in lines[0]  # what they are for
    assert not store.exists() and not (tmp_path / "out").exists()


def test_on_a_terminal_the_missing_taggers_are_offered_and_fetched_once(
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    terminal,
    http_server,  # noqa: F811
) -> None:
    server = http_server(model_dir)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    terminal("y\n")
    models_cli.fetch_missing(store, EXAMPLE_TAGGERS)
    err = capsys.readouterr().err
    assert "fcn/mtat (1.9 MB) and fcn/jamendo (1.9 MB)" in err and "MIT" in err
    assert "example" in err and "[y/N]" in err
    for name in EXAMPLE_TAGGERS:
        assert store.verify(name) == "verified"
    requests = list(server.requests)
    terminal("")  # nothing more to ask: nothing is read, nothing fetched again
    models_cli.fetch_missing(store, EXAMPLE_TAGGERS)
    assert "[y/N]" not in capsys.readouterr().err
    assert server.requests == requests


@pytest.mark.parametrize("typed", ["n\n", "\n", ""], ids=["no", "enter", "end of input"])
def test_on_a_terminal_declining_fetches_nothing_and_says_how_to_later(
    tmp_path: Path,
    model_dir: Path,
    terminal,
    typed: str,
    http_server,  # noqa: F811
) -> None:
    server = http_server(model_dir)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    terminal(typed)
    with pytest.raises(ModelError, match="`tagbox models fetch fcn/mtat fcn/jamendo`"):
        models_cli.fetch_missing(store, EXAMPLE_TAGGERS)
    assert server.requests == [] and not store.root.exists()
