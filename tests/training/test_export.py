"""Averaging separators (``training.export --run A --run B``): what it accepts and computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tagbox_gui.core.nets.separator import (
    QuerySeparator,
    SeparatorShape,
    load_separator,
    save_separator,
)
from tagbox_gui.core.store.models import file_sha256
from training import export
from training.export import average_networks


def _corpus(root: Path, queried: bool = True) -> Path:
    """A corpus of three songs (a piano and drums each, silent), with random cached queries."""
    for k in range(3):
        song = root / "songs" / f"s0-{k:06d}"
        song.mkdir(parents=True)
        np.save(song / "stems.npy", np.zeros((2, 100), np.int16))
        stems = [{"family": "piano", "program": 0}, {"family": "drums", "program": 0,
                                                      "is_drum": True}]  # fmt: skip
        (song / "meta.json").write_text(json.dumps({"stems": stems}))
        if queried:
            (root / "queries").mkdir(exist_ok=True)
            np.save(root / "queries" / f"{song.name}.npy", np.random.default_rng(k).random((2, 8)))
    return root


def _net(seed: int, width: int = 32) -> QuerySeparator:
    torch.manual_seed(seed)
    return QuerySeparator(SeparatorShape(query_dim=8, width=width, layers=1))


def test_the_average_is_the_mean_of_every_tensor() -> None:
    nets = [_net(1), _net(2), _net(3)]
    mean = average_networks(nets).state_dict()
    for key, value in mean.items():
        expected = sum(net.state_dict()[key] for net in nets) / 3
        torch.testing.assert_close(value, expected, rtol=0, atol=1e-7)
    assert not mean["head.2.weight"].requires_grad


def test_networks_of_other_shapes_or_query_statistics_are_refused() -> None:
    with pytest.raises(SystemExit, match="shapes"):
        average_networks([_net(1), _net(2, width=16)])
    other = _net(2)
    other.query_std.fill_(2.0)
    with pytest.raises(SystemExit, match="query statistics"):
        average_networks([_net(1), other])


def test_the_shipped_file_named_by_a_relative_path_gets_its_sha256_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out`` naming the package's file (here relative to the working folder) ships it: the
    app loads it only with its digest recorded, so the digest must be recorded."""
    package = tmp_path / "tagbox_gui" / "resources" / "separator" / "separator.pt"
    learned = tmp_path / "learned.py"
    learned.write_text('WEIGHTS_SHA256 = "00"\n')
    monkeypatch.setattr(export, "PACKAGE_FILE", package)
    monkeypatch.setattr(export, "LEARNED_MODULE", learned)
    (tmp_path / "run").mkdir()
    _corpus(tmp_path / "corpus")
    save_separator(_net(0), tmp_path / "run" / "separator.pt", {"step": 7})
    monkeypatch.chdir(tmp_path)
    out = "tagbox_gui/resources/separator/separator.pt"
    export.main(["--corpus", "corpus", "--run", "run", "--out", out])
    digest = file_sha256(package)
    assert learned.read_text() == f'WEIGHTS_SHA256 = "{digest}"\n'
    load_separator(package)  # as the app loads it


def test_an_export_stopped_half_way_leaves_the_file_it_was_to_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "run").mkdir()
    _corpus(tmp_path / "corpus")
    save_separator(_net(0), tmp_path / "run" / "separator.pt", {"step": 7})
    out = tmp_path / "out" / "separator.pt"
    out.parent.mkdir()
    out.write_bytes(b"the weights exported before")

    def cut_short(obj: object, path: Path, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # Ctrl-C while the file is written

    monkeypatch.setattr(torch, "save", cut_short)
    with pytest.raises(KeyboardInterrupt):
        export.main(["--corpus", str(tmp_path / "corpus"), "--run", str(tmp_path / "run"),
                     "--out", str(out)])  # fmt: skip
    assert out.read_bytes() == b"the weights exported before"
    assert [p.name for p in out.parent.iterdir()] == ["separator.pt"]  # nothing half-written


@pytest.mark.parametrize("corpus", ["not queried", "mistyped"])
def test_an_export_without_prototypes_is_refused(tmp_path: Path, corpus: str) -> None:
    """Weights with no prototype could be asked for nothing by name: a corpus with no queried
    training song is refused, and nothing is written (nor any sha256 recorded)."""
    (tmp_path / "run").mkdir()
    save_separator(_net(0), tmp_path / "run" / "separator.pt", {"step": 7})
    path = _corpus(tmp_path / "corpus", queried=False) if corpus == "not queried" else (
        tmp_path / "corpsu")  # fmt: skip
    out = tmp_path / "out" / "separator.pt"
    with pytest.raises(SystemExit, match=r"no training song with cached queries .* --corpus"):
        export.main(["--corpus", str(path), "--run", str(tmp_path / "run"), "--out", str(out)])
    assert not out.parent.exists()


def test_a_missing_weights_file_is_one_clear_error(tmp_path: Path) -> None:
    _corpus(tmp_path / "corpus")
    (tmp_path / "run").mkdir()
    with pytest.raises(SystemExit, match=r"best\.pt: no such file \(--weights names"):
        export.main(["--corpus", str(tmp_path / "corpus"), "--run", str(tmp_path / "run"),
                     "--weights", "best.pt", "--out", str(tmp_path / "out.pt")])  # fmt: skip


@pytest.mark.parametrize("damage", ["cut short", "not weights", "another dict"])
@pytest.mark.parametrize("name", ["separator.pt", "last.pt"])
def test_weights_that_cannot_be_read_are_one_clear_error(
    tmp_path: Path, name: str, damage: str
) -> None:
    _corpus(tmp_path / "corpus")
    (tmp_path / "run").mkdir()
    path = tmp_path / "run" / name
    if name == "separator.pt":
        save_separator(_net(0), path, {"step": 7})
    else:  # as a run writes its checkpoint
        torch.save({"config": {}, "shape": {"query_dim": 8, "width": 32, "layers": 1},
                    "model": _net(0).state_dict(), "step": 7}, path)  # fmt: skip
    if damage == "cut short":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "not weights":
        path.write_text('{"step": 1, "loss": 0.5}\n')
    else:
        torch.save({"step": 7}, path)
    with pytest.raises(SystemExit) as exited:
        export.main(["--corpus", str(tmp_path / "corpus"), "--run", str(tmp_path / "run"),
                     "--weights", name, "--out", str(tmp_path / "out.pt")])  # fmt: skip
    message = str(exited.value.code)
    assert message.startswith(f"{path} is not a run's weights, or is damaged (")
    assert "\n" not in message
    assert not (tmp_path / "out.pt").exists()


def test_a_corpus_whose_split_puts_no_song_on_the_training_side_says_so(tmp_path: Path) -> None:
    """One queried song, which the hash split puts on the held-out side: that was said as a
    want of cached queries, which training.queries cannot mend; more songs must be rendered."""
    corpus = tmp_path / "corpus"
    (corpus / "songs" / "s0-000033").mkdir(parents=True)
    np.save(corpus / "songs" / "s0-000033" / "stems.npy", np.zeros((1, 100), np.int16))
    (corpus / "songs" / "s0-000033" / "meta.json").write_text('{"stems": [{"family": "piano"}]}')
    (corpus / "queries").mkdir()
    np.save(corpus / "queries" / "s0-000033.npy", np.ones((1, 8), np.float32))
    (tmp_path / "run").mkdir()
    save_separator(_net(0), tmp_path / "run" / "separator.pt", {"step": 7})
    out = tmp_path / "out.pt"
    with pytest.raises(SystemExit) as exited:
        export.main(["--corpus", str(corpus), "--run", str(tmp_path / "run"), "--out", str(out)])
    assert str(exited.value.code) == (
        f"{corpus}: its split by a hash of the song ids puts none of its 1 rendered songs on "
        "the training side; render more songs (training.render --n-songs)"
    )
    assert not out.exists()


@pytest.mark.parametrize("weights", ["separator.pt", "last.pt"])
def test_a_corpus_without_the_runs_training_songs_is_refused(tmp_path: Path, weights: str) -> None:
    """The prototypes are mean queries of the corpus's training songs, paired with the query
    statistics the network learned on the run's own: another corpus's were exported as well."""
    corpus = _corpus(tmp_path / "corpus")  # training side: s0-000001, s0-000002
    run = tmp_path / "run"
    run.mkdir()
    save_separator(_net(0), run / "separator.pt", {"step": 7})
    out = tmp_path / "out.pt"
    command = ["--corpus", str(corpus), "--run", str(run), "--weights", weights, "--out", str(out)]
    for trained, refused in ((["s0-000001", "s1-000003", "s1-000004"], True),
                             (["s0-000001", "s0-000002"], False)):  # fmt: skip
        torch.save({"config": {}, "shape": {"query_dim": 8, "width": 32, "layers": 1},
                    "model": _net(0).state_dict(), "step": 7,
                    "songs": {"train": trained, "valid": ["s0-000000"]}},
                   run / "last.pt")  # fmt: skip
        if refused:
            with pytest.raises(SystemExit) as exited:
                export.main(command)
            assert str(exited.value.code) == (
                f"{corpus} does not hold the training songs of {run / 'last.pt'} with their "
                "queries (s1-000003, s1-000004): give --corpus the corpus the run trained on"
            )
            assert not out.exists()
        else:
            export.main(command)
            assert out.is_file()


def test_a_runs_checkpoint_that_cannot_be_read_for_its_songs_is_one_clear_error(
    tmp_path: Path,
) -> None:
    corpus = _corpus(tmp_path / "corpus")
    (tmp_path / "run").mkdir()
    save_separator(_net(0), tmp_path / "run" / "separator.pt", {"step": 7})
    (tmp_path / "run" / "last.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(SystemExit) as exited:
        export.main(["--corpus", str(corpus), "--run", str(tmp_path / "run"),
                     "--out", str(tmp_path / "out.pt")])  # fmt: skip
    message = str(exited.value.code)
    assert message.startswith(f"{tmp_path / 'run' / 'last.pt'} cannot be read (")
    assert message.endswith("cannot be checked against --corpus; put back a copy of it")
    assert "\n" not in message and not (tmp_path / "out.pt").exists()
