"""What ``python -m training.train`` refuses before it trains (no corpus needed)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.mixtures import FAMILIES, write_corpus
from training.config import TrainConfig
from training.corpus import split_songs
from training.queries import query_path
from training.train import main, train

TINY = TrainConfig(steps=4, batch=2, seconds=1.0, width=8, layers=1, valid_examples=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--steps", "-5"], "--steps must be at least 1, not -5"),
        (["--steps", "0"], "--steps must be at least 1, not 0"),
        (["--batch", "0"], "--batch must be at least 1, not 0"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
        (["--valid-every", "0"], "--valid-every must be at least 1"),
        (["--valid-examples", "0"], "--valid-examples must be at least 1"),
        (["--seed", "-1"], "--seed must be at least 0"),
        (["--seconds", "0"], "--seconds must be positive"),
        (["--song-share", "1.5"], "--song-share must lie in [0, 1]"),
        (["--lr=-1e-3"], "--lr must be at least 0"),
        (["--recipe", "1"], "--recipe 1 is retired"),
        (["--threads", "0"], "--threads must be at least 1"),
        (["--workers", "-2"], "--workers at least 0"),
    ],
)
def test_impossible_settings_are_refused_with_the_option_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--corpus", str(tmp_path), "--out", str(tmp_path / "run"), *options])
    assert exited.value.code == 2  # argparse's usage error
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_config_of_impossible_settings_names_them_all() -> None:
    with pytest.raises(ValueError, match=r"--batch must .*; --gap must lie in \[0, 1\]"):
        TrainConfig(batch=0, gap=-0.1)
    TrainConfig(warmup=0, layers=0, lr=0.0, gap=1.0)  # the edges are settings a run can have


def test_a_corpus_without_songs_or_queries_is_refused_before_the_run_starts(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match="no rendered songs"):
        train(tmp_path / "nowhere", out, TINY)  # a mistyped --corpus
    for song in ("s0-000000", "s0-000001", "s0-000002"):  # rendered, queries not yet cached
        (tmp_path / "corpus" / "songs" / song).mkdir(parents=True)
        (tmp_path / "corpus" / "songs" / song / "stems.npy").write_bytes(b"")
        (tmp_path / "corpus" / "songs" / song / "meta.json").write_text("{}")
    with pytest.raises(SystemExit, match="no training song with cached queries"):
        train(tmp_path / "corpus", out, TINY)
    for song in split_songs(tmp_path / "corpus")[0]:  # the held-out songs' are still missing
        query_path(tmp_path / "corpus", song).parent.mkdir(exist_ok=True)
        np.save(query_path(tmp_path / "corpus", song), np.zeros((1, 4), np.float32))
    with pytest.raises(SystemExit, match="no held-out song with cached queries"):
        train(tmp_path / "corpus", out, TINY)
    assert not out.exists()


def test_init_weights_that_are_not_there_are_refused_before_the_run_starts(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match=r"--init .*nowhere\.pt: no such file"):
        main(["--corpus", str(tmp_path), "--out", str(out), "--init", str(tmp_path / "nowhere.pt")])
    assert not out.exists()


def test_init_weights_that_cannot_be_loaded_are_one_clear_error(tmp_path: Path) -> None:
    from tagbox_gui.core.nets.separator import QuerySeparator, SeparatorShape
    from training.grow import load_init

    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not weights")
    with pytest.raises(SystemExit, match=r"--init: .*damaged\.pt"):
        load_init(QuerySeparator(SeparatorShape(query_dim=6, width=8, layers=1)), damaged)


@pytest.mark.parametrize(
    ("given", "wanted", "named"),
    [
        ({"width": 16, "layers": 1}, {"width": 8, "layers": 1}, "--width 16 (this run: 8)"),
        ({"width": 8, "layers": 2}, {"width": 8, "layers": 1}, "--layers of at least 2"),
        (
            {"width": 8, "layers": 1, "hidden": 12},
            {"width": 8, "layers": 1},
            "--hidden of at least 12",
        ),
        ({"width": 8, "layers": 1, "band_width": 4}, {"width": 8, "layers": 1}, "--band-width 4"),
    ],
)
def test_init_weights_of_another_shape_are_refused_in_one_line_naming_the_setting(
    tmp_path: Path, given: dict, wanted: dict, named: str
) -> None:
    from tagbox_gui.core.nets.separator import QuerySeparator, SeparatorShape, save_separator
    from training.grow import load_init

    save_separator(QuerySeparator(SeparatorShape(query_dim=6, **given)), tmp_path / "given.pt")
    with pytest.raises(SystemExit) as exited:
        load_init(QuerySeparator(SeparatorShape(query_dim=6, **wanted)), tmp_path / "given.pt")
    message = str(exited.value.code)
    assert "does not fit this network" in message and named in message
    assert "\n" not in message and "size mismatch" not in message


def test_a_run_folder_of_other_settings_names_only_the_settings_that_differ(
    tmp_path: Path,
) -> None:
    other = replace(TINY, seed=7, init="V8tu.pt")
    torch.save({"config": asdict(other), "model": {}, "step": 2}, tmp_path / "last.pt")
    with pytest.raises(SystemExit) as exited:
        train(tmp_path / "corpus", tmp_path, TINY)
    message = str(exited.value.code)
    assert "was made with other settings" in message
    assert "--seed 7 there, 0 here" in message and "--init 'V8tu.pt' there, '' here" in message
    assert "width" not in message and "\n" not in message


def test_every_option_of_the_help_says_what_it_sets(capsys: pytest.CaptureFixture[str]) -> None:
    """Each training option is described, with its default: the help listed bare names."""
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, value in asdict(TrainConfig()).items():
        option = f"--{name.replace('_', '-')}"
        shown = f"{option} {name.upper()} "
        assert shown in text, option
        about = text.split(shown, 1)[1].split(" --", 1)[0]
        assert len(about) > 20 and f"(default: {value})" in about, (option, about)


@pytest.mark.parametrize(("song", "side"), [("s0-000033", "training"), ("s0-000000", "held-out")])
def test_a_corpus_whose_split_leaves_a_side_empty_says_so(
    tmp_path: Path, song: str, side: str
) -> None:
    """One song, queried: the hash split puts it on one side and none on the other. That was
    said as "no rendered songs" or as a want of queries, which training.queries cannot mend."""
    (tmp_path / "songs" / song).mkdir(parents=True)
    (tmp_path / "songs" / song / "stems.npy").write_bytes(b"")
    (tmp_path / "songs" / song / "meta.json").write_text("{}")
    query_path(tmp_path, song).parent.mkdir()
    np.save(query_path(tmp_path, song), np.zeros((1, 4), np.float32))
    with pytest.raises(SystemExit) as exited:
        train(tmp_path, tmp_path / "run", TINY)
    assert str(exited.value.code) == (
        f"{tmp_path}: its split by a hash of the song ids puts none of its 1 rendered songs on "
        f"the {side} side; render more songs (training.render --n-songs)"
    )
    assert not (tmp_path / "run").exists()


def test_held_out_families_that_no_queried_training_song_has_are_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """A run started while training.queries is still caching (held-out songs first) may find
    no training song of a family a held-out song plays: its validation by prototype has
    nothing to ask with. That was a KeyError from the validation set."""
    corpus = write_corpus(tmp_path / "corpus")
    _, (held_out,) = split_songs(corpus)
    index = int(held_out[-6:])
    played = {FAMILIES[(index + k) % len(FAMILIES)] for k in range(4)}
    for k in range(12):  # the training songs queried so far: those of four other families
        song = f"s0-{k:06d}"
        if (k - index) % len(FAMILIES) == 4 or song == held_out:
            query_path(corpus, song).parent.mkdir(exist_ok=True)
            np.save(query_path(corpus, song), np.ones((4, 8), np.float32))
    with pytest.raises(SystemExit) as exited:
        train(corpus, tmp_path / "run", replace(TINY, valid_examples=8))
    message = str(exited.value.code)
    assert message.startswith(f"{corpus}: the held-out songs play ")
    assert "no training song with cached queries" in message
    assert message.endswith("or let training.queries cache the queries of more")
    assert any(family in message for family in played) and "\n" not in message
    assert not (tmp_path / "run").exists()


def test_held_out_songs_of_fewer_than_two_families_are_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """The validation mixtures need stems of two families; the sampler's error printed every
    stem it had, with its samples, after the corpus named twice."""
    corpus = write_corpus(tmp_path / "corpus")
    _, (held_out,) = split_songs(corpus)
    meta_path = corpus / "songs" / held_out / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["stems"] = [{**stem, "family": "piano"} for stem in meta["stems"]]
    meta_path.write_text(json.dumps(meta))
    for song in (f"s0-{k:06d}" for k in range(12)):
        query_path(corpus, song).parent.mkdir(exist_ok=True)
        np.save(query_path(corpus, song), np.ones((4, 8), np.float32))
    with pytest.raises(SystemExit) as exited:
        train(corpus, tmp_path / "run", TINY)
    assert str(exited.value.code) == (
        f"{corpus}: need stems of at least two families, have piano: render more songs "
        "(training.render), or let training.queries cache the queries of more"
    )


def test_training_songs_of_fewer_than_two_families_are_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """The queried training songs' stems that play (here a piano; their guitar is silent) are
    of one family: the training sampler's error came as a traceback, after the run's folder
    was made."""
    corpus = write_corpus(tmp_path / "corpus")
    (training, *_), (held_out,) = split_songs(corpus)
    for song, families in ((training, ["piano", "guitar", "piano", "piano"]),
                           (held_out, ["piano", "guitar", "piano", "guitar"])):  # fmt: skip
        meta_path = corpus / "songs" / song / "meta.json"
        meta = json.loads(meta_path.read_text())
        stems = zip(meta["stems"], families, strict=True)
        meta["stems"] = [{**stem, "family": family} for stem, family in stems]
        if song == training:
            meta["stems"][1]["rms_db_per_second"] = [-120.0] * 6
        meta_path.write_text(json.dumps(meta))
        query_path(corpus, song).parent.mkdir(exist_ok=True)
        np.save(query_path(corpus, song), np.ones((4, 8), np.float32))
    with pytest.raises(SystemExit) as exited:
        train(corpus, tmp_path / "run", TINY)
    assert str(exited.value.code) == (
        f"{corpus}: need stems of at least two families, have piano: render more songs "
        "(training.render), or let training.queries cache the queries of more"
    )
    assert not (tmp_path / "run").exists()
