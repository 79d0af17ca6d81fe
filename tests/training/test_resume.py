"""A resumed run trains on the songs it started with; one that cannot resume says why and
what to do, and leaves what it has as it was."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import NoReturn

import numpy as np
import pytest
import torch

from tagbox_gui.core.nets.separator import QuerySeparator, SeparatorShape
from tests.training.runs import losses, train_until
from training import train as module
from training.config import TrainConfig
from training.corpus import split_songs
from training.queries import query_path
from training.train import TEMPORARIES, train

pytestmark = pytest.mark.slow

TINY = TrainConfig(steps=10, batch=2, seconds=1.0, warmup=1, width=8, layers=1,
                   checkpoint_every=5, valid_every=10, valid_examples=2)  # fmt: skip


@pytest.mark.parametrize("keep", [0, 100, 0.5])  # empty, cut in its header, cut half way
def test_a_checkpoint_cut_short_is_one_clear_error(
    corpus: Path, tmp_path: Path, keep: float
) -> None:
    train(corpus, tmp_path, replace(TINY, steps=5))
    last = tmp_path / "last.pt"
    data = last.read_bytes()
    cut = data[: int(keep * len(data)) if isinstance(keep, float) else keep]
    last.write_bytes(cut)
    with pytest.raises(SystemExit) as exited:
        train(corpus, tmp_path, TINY)
    message = str(exited.value.code)
    assert message.startswith(f"{last} cannot be read (") and "remove it to train" in message
    assert last.read_bytes() == cut  # nothing taken away: a copy of it may be put back


def test_a_file_that_is_not_a_runs_checkpoint_is_one_clear_error(
    corpus: Path, tmp_path: Path
) -> None:
    torch.save({"weights": torch.zeros(3)}, tmp_path / "last.pt")
    with pytest.raises(SystemExit, match=r"is not a checkpoint of training\.train"):
        train(corpus, tmp_path, TINY)


def test_a_resumed_run_takes_no_song_queried_since_it_started(corpus: Path, tmp_path: Path) -> None:
    """Queries cached between an interruption and the resume change nothing: the run goes on
    with the songs its checkpoint records, and only a new run takes the others in."""
    part = tmp_path / "corpus"
    shutil.copytree(corpus, part)
    later = split_songs(part)[0][:2]  # two training songs not yet queried when the runs start
    (tmp_path / "aside").mkdir()
    for song in later:
        query_path(part, song).rename(tmp_path / "aside" / f"{song}.npy")
    config = replace(TINY, song_share=0.5)
    train(part, tmp_path / "unbroken", config)
    assert train_until(part, tmp_path / "resumed", config, stop_at=5) == 5
    for song in later:  # queried while the run was stopped
        (tmp_path / "aside" / f"{song}.npy").rename(query_path(part, song))
    train(part, tmp_path / "resumed", config)
    assert losses(tmp_path / "resumed") == losses(tmp_path / "unbroken")
    train(part, tmp_path / "new", config)  # a new run trains on them too
    assert losses(tmp_path / "new") != losses(tmp_path / "unbroken")


def test_a_run_whose_songs_are_gone_is_not_resumed(corpus: Path, tmp_path: Path) -> None:
    part = tmp_path / "corpus"
    shutil.copytree(corpus, part)
    assert train_until(part, tmp_path / "run", TINY, stop_at=5) == 5
    gone = split_songs(part)[0][0]
    query_path(part, gone).unlink()
    with pytest.raises(SystemExit) as exited:
        train(part, tmp_path / "run", TINY)
    message = str(exited.value.code)
    assert "\n" not in message and gone in message and "new run" in message
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 5


@pytest.mark.parametrize("target", ["last.pt", "separator.pt", "best.pt", "log.jsonl"])
def test_a_save_stopped_half_way_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    (tmp_path / target).write_text('{"step": 1, "loss": 0.5}\n')
    before = (tmp_path / target).read_bytes()
    stem = target.split(".")[0]

    def cut_short(path: Path) -> NoReturn:
        Path(path).write_bytes(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # Ctrl-C while the file is written

    save, write_text = torch.save, Path.write_text

    def save_or_stop(obj: object, f: Path, *args: object, **kwargs: object) -> None:
        return cut_short(f) if Path(f).name.startswith(stem) else save(obj, f, *args, **kwargs)

    def write_or_stop(path: Path, *args: object, **kwargs: object) -> int:
        return cut_short(path) if path.name.startswith(stem) else write_text(path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_or_stop)
    monkeypatch.setattr(Path, "write_text", write_or_stop)
    torch.manual_seed(0)
    net = QuerySeparator(SeparatorShape(query_dim=6, width=8, layers=1))
    bank = SimpleNamespace(prototypes={})
    with pytest.raises(KeyboardInterrupt):
        if target == "last.pt":
            optimiser = torch.optim.Adam(net.parameters())
            module._save_checkpoint(tmp_path, net, optimiser, 5, TINY, bank, 0.0, {})
        elif target == "log.jsonl":
            module.trim_log(tmp_path / target, 0)
        else:
            module._save_separator(tmp_path / target, net, 5, bank)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert (tmp_path / target).read_bytes() == before


def test_a_run_removes_the_temporaries_a_kill_left(corpus: Path, tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    for name in TEMPORARIES:
        (tmp_path / name).write_bytes(b"PK\x03\x04 half a file")
    train(corpus, tmp_path, replace(TINY, steps=2, checkpoint_every=2, valid_every=2))
    assert {p.name for p in tmp_path.iterdir()} == {"last.pt", "separator.pt", "best.pt",
                                                     "log.jsonl"}  # fmt: skip


def test_ctrl_c_says_where_the_run_stopped_and_the_same_command_resumes_it(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Ctrl+C printed a KeyboardInterrupt traceback; it now says which step the run stopped at
    and which checkpoint the same command goes on from (exit 130), and that resume gives the
    run an unbroken one gives."""
    out = tmp_path / "run"
    loss = module.separation_loss
    calls = [0]

    def interrupted_at_step_7(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == 7:
            raise KeyboardInterrupt
        return loss(*args, **kwargs)

    monkeypatch.setattr(module, "separation_loss", interrupted_at_step_7)
    with pytest.raises(SystemExit) as stopped:
        train(corpus, out, TINY)
    assert stopped.value.code == 130
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said == ("training stopped at step 6 of 10; the same command resumes it from its last "
                    "checkpoint, step 5")  # fmt: skip
    monkeypatch.setattr(module, "separation_loss", loss)
    train(corpus, out, TINY)
    train(corpus, tmp_path / "unbroken", TINY)
    assert losses(out) == losses(tmp_path / "unbroken")


def test_init_weights_that_do_not_load_leave_no_run_folder(corpus: Path, tmp_path: Path) -> None:
    """The run's folder is made once the weights it starts from have loaded."""
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"PK\x03\x04 not weights")
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match="damaged"):
        train(corpus, out, replace(TINY, init=str(damaged)))
    assert not out.exists()


def test_a_run_resumed_with_its_init_named_by_another_path_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--init was compared as a string: the same file named by a relative path instead of the
    absolute one was refused as other settings. Another file (a copy too) still is, and the
    checkpoint keeps the path the run started with."""
    from tagbox_gui.core.nets.separator import save_separator
    from tests.training.mixtures import write_corpus
    from training.corpus import list_songs

    corpus = write_corpus(tmp_path / "corpus")
    for k, song in enumerate(list_songs(corpus)):
        query_path(corpus, song).parent.mkdir(exist_ok=True)
        np.save(query_path(corpus, song), np.random.default_rng(k).random((4, 8), np.float32))
    start = tmp_path / "start.pt"
    save_separator(QuerySeparator(SeparatorShape(query_dim=8, width=8, layers=1)), start)
    config = replace(TINY, init=str(start))
    out = tmp_path / "run"
    assert train_until(corpus, out, config, stop_at=5) == 5
    monkeypatch.chdir(tmp_path)
    train(corpus, out, replace(config, init="start.pt"))
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 10 and state["config"]["init"] == str(start)
    (tmp_path / "copy").mkdir()
    shutil.copy(start, tmp_path / "copy" / "start.pt")
    for other in ("copy/start.pt", str(tmp_path / "copy" / "start.pt"), "nowhere.pt"):
        with pytest.raises(SystemExit, match=r"was made with other settings \(--init "):
            train(corpus, out, replace(config, init=other))
