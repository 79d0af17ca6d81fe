"""The separator's training loop on a tiny rendered corpus: it learns, repeats itself, resumes."""

from __future__ import annotations

import gc
import json
import math
import shutil
from dataclasses import replace
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
from tests.training.runs import losses, train_until
from training.batches import draw_batch
from training.config import TrainConfig
from training.corpus import split_songs
from training.grow import load_init
from training.loss import separation_loss
from training.mixes import Example, MixSampler
from training.queries import QueryBank, cache_queries, load_query_taggers, query_path
from training.stems import StemRef
from training.train import train

pytestmark = pytest.mark.slow

TINY = TrainConfig(steps=60, batch=4, seconds=1.0, lr=3e-3, warmup=1, width=32, layers=1,
                   checkpoint_every=10, valid_every=30, valid_examples=4)  # fmt: skip


def test_queries_are_cached_once_per_stem(corpus: Path, model_dir: Path) -> None:
    meta = json.loads((corpus / "songs" / "s3-000000" / "meta.json").read_text())
    queries = torch.from_numpy(np.load(query_path(corpus, "s3-000000")))
    assert queries.shape == (len(meta["stems"]), 2 * (64 + 50))
    assert cache_queries(load_query_taggers(model_dir), corpus) == 0  # nothing left to do


def test_loss_falls_and_the_export_loads(corpus: Path, tmp_path: Path) -> None:
    path = train(corpus, tmp_path, TINY)
    assert len(losses(tmp_path)) == TINY.steps
    # On 64 fresh mixtures (steps past the run's), the trained network beats its start.
    train_songs = split_songs(corpus)[0]
    bank = QueryBank(corpus, train_songs)
    sampler = MixSampler(corpus, train_songs, TINY.seconds, eq_db=TINY.eq_db)
    held = [draw_batch(sampler, bank, replace(TINY, batch=32), 10_000 + k) for k in range(2)]
    trained = load_separator(path)[0]
    torch.manual_seed(TINY.seed)  # the network as train() built it before the first step
    start = QuerySeparator(trained.shape)
    start.load_state_dict({**start.state_dict(), "query_mean": trained.query_mean,
                           "query_std": trained.query_std})  # fmt: skip

    def held_loss(net: QuerySeparator) -> float:
        with torch.no_grad():
            return float(np.mean([separation_loss(net, *b[:3]).item() for b in held]))

    assert held_loss(trained) < held_loss(start) - 0.05
    validations = [r for r in map(json.loads, (tmp_path / "log.jsonl").read_text().splitlines())
                   if "si_sdri_prototype" in r]  # fmt: skip
    assert [r["step"] for r in validations] == [30, 60]
    for record in validations:  # remixed and whole-song mixtures, by prototype and own query
        for key in ("prototype", "own", "song_prototype", "song_own"):
            assert math.isfinite(record[f"si_sdri_{key}"])
    net, extra = load_separator(path)
    assert net.shape.width == 32 and extra["step"] == TINY.steps
    assert set(extra["prototypes"]) >= {"drums"} or extra["prototypes"]


def test_same_seed_same_run_and_resume_is_seamless(corpus: Path, tmp_path: Path) -> None:
    config = replace(TINY, steps=20, song_share=0.5)
    train(corpus, tmp_path / "a", config)
    train(corpus, tmp_path / "b", replace(config, steps=20))
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    # Stop at step 10 (a checkpoint), then resume to 20: the same losses as in one go.
    train(corpus, tmp_path / "c", config)
    shutil.rmtree(tmp_path / "c")
    half = replace(config, steps=20)
    (tmp_path / "c").mkdir()
    stopped = train_until(corpus, tmp_path / "c", half, stop_at=10)
    assert stopped == 10
    assert "optimiser" in torch.load(tmp_path / "c" / "last.pt", weights_only=True)
    train(corpus, tmp_path / "c", half)
    assert losses(tmp_path / "c") == losses(tmp_path / "a")
    # A finished run keeps no optimiser state; running it again changes nothing.
    final = torch.load(tmp_path / "c" / "last.pt", weights_only=True)
    assert final["step"] == 20 and "optimiser" not in final
    train(corpus, tmp_path / "c", half)
    assert losses(tmp_path / "c") == losses(tmp_path / "a")
    again = torch.load(tmp_path / "c" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(again[k], v) for k, v in final["model"].items())
    # A finished run as committed (last.pt and the log, no separator.pt) gets its separator.pt.
    (tmp_path / "c" / "separator.pt").unlink()
    net, extra = load_separator(train(corpus, tmp_path / "c", half))
    assert extra["step"] == 20
    assert all(torch.equal(net.state_dict()[k], v) for k, v in final["model"].items())


def test_workers_draw_the_same_batches(corpus: Path, tmp_path: Path) -> None:
    config = replace(TINY, steps=12, song_share=0.5, timbre=0.3)
    train(corpus, tmp_path / "a", config)
    train(corpus, tmp_path / "b", config, workers=2)
    assert losses(tmp_path / "b") == losses(tmp_path / "a")
    # The timbre changes reach the batches.
    train(corpus, tmp_path / "c", replace(config, timbre=0.0))
    assert losses(tmp_path / "c") != losses(tmp_path / "a")


def test_init_starts_from_the_given_weights(corpus: Path, tmp_path: Path) -> None:
    first = train(corpus, tmp_path / "a", replace(TINY, steps=10))
    config = replace(TINY, steps=1, lr=1e-12, warmup=1, init=str(first))
    second = train(corpus, tmp_path / "b", config)
    before, after = load_separator(first)[0].state_dict(), load_separator(second)[0].state_dict()
    assert before.keys() == after.keys()
    for name, value in before.items():  # one step at lr 1e-12 moves nothing measurable
        assert torch.allclose(value, after[name], atol=1e-6), name
    # A resumed run starts from its checkpoint: the weights it began from may be gone.
    shutil.move(first, tmp_path / "elsewhere.pt")
    assert train(corpus, tmp_path / "b", config) == second
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["step"] == 1


def test_init_adds_a_band_branch_to_weights_without_one(corpus: Path, tmp_path: Path) -> None:
    first = train(corpus, tmp_path / "a", replace(TINY, steps=10))
    config = replace(TINY, steps=1, lr=1e-12, warmup=1, init=str(first), band_width=8)
    before = load_separator(first)[0].state_dict()
    net = load_separator(train(corpus, tmp_path / "b", config))[0]
    after = net.state_dict()
    assert net.shape.band_width == 8
    assert set(after) - set(before) == {k for k in after if k.startswith("band.")} != set()
    for name, value in before.items():
        assert torch.allclose(value, after[name], atol=1e-6), name
    with pytest.raises(SystemExit, match="does not fit"):  # a trunk of another width
        train(corpus, tmp_path / "c", replace(config, width=16))


def test_init_adds_blocks_that_start_as_the_identity(tmp_path: Path) -> None:
    """A deeper network started from shallower weights gives their masks until it trains,
    and its new block still learns: its FiLM scale has a gradient."""
    torch.manual_seed(0)
    shallow = QuerySeparator(SeparatorShape(query_dim=6, width=16, layers=1))
    for parameter in shallow.parameters():  # trained-looking weights, FiLM included
        parameter.data.normal_(0.0, 0.2)
    save_separator(shallow, tmp_path / "shallow.pt")
    deep = QuerySeparator(SeparatorShape(query_dim=6, width=16, layers=2))
    load_init(deep, tmp_path / "shallow.pt")
    magnitude, query = torch.rand(2, 513, 20), torch.randn(2, 6)
    torch.testing.assert_close(deep(magnitude, query), shallow(magnitude, query))
    deep(magnitude, query).mean().backward()
    assert deep.blocks[1].film.proj.bias.grad.abs().sum() > 0
    with pytest.raises(SystemExit, match="does not fit"):  # fewer blocks than the weights
        load_init(QuerySeparator(SeparatorShape(query_dim=6, width=16, layers=0)),
                   tmp_path / "shallow.pt")  # fmt: skip


@pytest.mark.parametrize("hidden", [0, 12])  # from width // 2 units, or from widened ones
def test_init_widens_blocks_that_give_the_same_masks_until_they_train(
    tmp_path: Path, hidden: int
) -> None:
    """More GRU units than the weights have: the given units run as before, the new ones
    start unheard (the output map is zero for them) and learn (they get a gradient)."""
    torch.manual_seed(0)
    narrow = QuerySeparator(SeparatorShape(query_dim=6, width=16, layers=2, hidden=hidden))
    for parameter in narrow.parameters():  # trained-looking weights, FiLM included
        parameter.data.normal_(0.0, 0.2)
    save_separator(narrow, tmp_path / "narrow.pt")
    wide = QuerySeparator(SeparatorShape(query_dim=6, width=16, layers=2, hidden=20))
    load_init(wide, tmp_path / "narrow.pt")
    magnitude, query = torch.rand(2, 513, 20), torch.randn(2, 6)
    torch.testing.assert_close(wide(magnitude, query), narrow(magnitude, query))
    assert wide.blocks[0].gru.hidden_size == 20 and wide.blocks[0].out is not None
    wide(magnitude, query).mean().backward()
    for block in wide.blocks:
        assert block.out.weight.grad[:, 12:20].abs().sum() > 0  # the new forward units
        assert block.out.weight.grad[:, 32:].abs().sum() > 0  # the new backward units
    new_inputs = wide.blocks[0].gru.weight_ih_l0[12:20]  # the reset gate of new units
    assert new_inputs.abs().sum() > 0  # initialised afresh, not zero
    with pytest.raises(SystemExit, match="does not fit"):  # widened, but of another width
        load_init(QuerySeparator(SeparatorShape(query_dim=6, width=8, layers=2, hidden=20)),
                  tmp_path / "narrow.pt")  # fmt: skip


def test_a_run_of_the_retired_recipe_is_not_resumed(corpus: Path, tmp_path: Path) -> None:
    train(corpus, tmp_path, replace(TINY, steps=10))
    path = tmp_path / "last.pt"
    state = torch.load(path, weights_only=True)
    del state["config"]["recipe"], state["config"]["eq_db"], state["config"]["init"]
    torch.save(state, path)
    with pytest.raises(SystemExit, match="other settings"):
        train(corpus, tmp_path, replace(TINY, steps=20))


def test_the_prototype_share_decides_how_often_a_source_is_asked_for_by_tag(corpus: Path) -> None:
    bank = QueryBank(corpus, split_songs(corpus)[0])
    family, refs = max(bank.families.items(), key=lambda item: len(item[1]))
    assert len(refs) >= 2
    song, index = refs[0]
    target = (StemRef(song, index, family, 0),)
    example = Example(np.zeros(1), np.zeros(1), target, family, "single")

    def share(prototype_share: float) -> float:
        rng = np.random.default_rng(0)
        draws = [bank.choose(example, rng, 0.0, prototype_share) for _ in range(400)]
        # A query with one tagger's half dropped still matches the prototype on the other half.
        half = len(bank.mean) // 2
        return np.mean([np.allclose(q[:half], bank.prototypes[family][:half], atol=1e-6)
                        or np.allclose(q[half:], bank.prototypes[family][half:], atol=1e-6)
                        for q in draws])  # fmt: skip

    assert share(0.0) < 0.1  # only a dropped half can happen to match
    assert 0.4 < share(0.5) < 0.65
    assert share(1.0) == 1.0


@pytest.mark.parametrize("kind", ["solo", "refuse"])
def test_solo_and_refusal_examples_are_always_asked_for_by_the_family_prototype(
    corpus: Path, kind: str
) -> None:
    bank = QueryBank(corpus, split_songs(corpus)[0])
    family, refs = next(iter(bank.families.items()))
    song, index = refs[0]
    example = Example(np.ones(1), np.ones(1), (StemRef(song, index, family, 0),), family, kind)
    rng = np.random.default_rng(0)
    half = len(bank.mean) // 2
    for query in (bank.choose(example, rng, 0.0, prototype_share=0.0) for _ in range(50)):
        kept = [part for part in (slice(0, half), slice(half, None))
                if not np.allclose(query[part], bank.mean[part])]  # fmt: skip
        assert kept and all(np.allclose(query[p], bank.prototypes[family][p]) for p in kept)


def test_a_run_from_before_the_prototype_share_resumes_with_its_old_value(
    corpus: Path, tmp_path: Path
) -> None:
    config = replace(TINY, steps=10)
    train(corpus, tmp_path, config)
    path = tmp_path / "last.pt"
    state = torch.load(path, weights_only=True)
    del state["config"]["prototype_share"]
    torch.save(state, path)
    train(corpus, tmp_path, config)  # the missing field reads as its old value, 0.2
    assert torch.load(path, weights_only=True)["step"] == 10
    with pytest.raises(SystemExit, match="other settings"):
        train(corpus, tmp_path, replace(config, prototype_share=0.5))


def test_export_reads_the_committed_checkpoint_like_the_exported_weights(
    corpus: Path, tmp_path: Path
) -> None:
    from training.export import main as export

    train(corpus, tmp_path / "run", replace(TINY, steps=10))
    for name in ("separator.pt", "last.pt"):
        export(["--corpus", str(corpus), "--run", str(tmp_path / "run"), "--weights", name,
                "--out", str(tmp_path / f"from-{name}")])  # fmt: skip
    a, extra_a = load_separator(tmp_path / "from-separator.pt")
    b, extra_b = load_separator(tmp_path / "from-last.pt")
    assert extra_a["step"] == extra_b["step"] == 10
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert extra_a["prototypes"].keys() == extra_b["prototypes"].keys()
    assert "drums" in extra_b["prototypes"]


def test_export_averages_runs_of_one_shape(corpus: Path, tmp_path: Path) -> None:
    from training.export import main as export

    for seed in (1, 2):
        train(corpus, tmp_path / f"run{seed}", replace(TINY, steps=10, seed=seed))
    runs = [tmp_path / "run1", tmp_path / "run2"]
    export(["--corpus", str(corpus), "--weights", "last.pt", "--out", str(tmp_path / "mean.pt"),
            "--run", str(runs[0]), "--run", str(runs[1])])  # fmt: skip
    mean, extra = load_separator(tmp_path / "mean.pt")
    assert extra["averaged"] == ["run1@10", "run2@10"]
    a, b = (torch.load(run / "last.pt", weights_only=True)["model"] for run in runs)
    assert not torch.equal(a["head.0.weight"], b["head.0.weight"])  # the runs differ
    for key, value in mean.state_dict().items():
        torch.testing.assert_close(value, (a[key] + b[key]) / 2, rtol=0, atol=1e-7)


def test_the_validation_examples_do_not_depend_on_the_training_seed(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import train as module
    from training.validation import valid_set

    drawn: dict[int, list] = {}

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        examples, queries = valid_set(*args, **kwargs)
        drawn.setdefault(seed, []).append(examples)
        return examples, queries

    monkeypatch.setattr(module, "valid_set", recording)
    for seed in (0, 7):
        train(corpus, tmp_path / str(seed), replace(TINY, steps=1, seed=seed))
    assert len(drawn[0]) == len(drawn[7]) == 2  # the remixed set and the whole-song set
    for a, b in zip(drawn[0], drawn[7], strict=True):
        assert [e.targets for e in a] == [e.targets for e in b]
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x.mix, y.mix)


def test_a_run_stopped_between_checkpoints_resumes_with_an_unbroken_log(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped (Ctrl-C) between two checkpoints, a run has logged steps past its last
    checkpoint; resumed, it takes those steps again, and its log holds each step once."""
    from training import train as module

    config = replace(TINY, steps=20, valid_every=10)
    train(corpus, tmp_path / "a", config)
    original = module.learning_rate

    def stop_at_15(config: TrainConfig, step: int) -> float:
        if step == 14:
            raise KeyboardInterrupt
        return original(config, step)

    monkeypatch.setattr(module, "learning_rate", stop_at_15)
    with pytest.raises(SystemExit) as stopped:  # Ctrl+C ends the run, said in one line
        train(corpus, tmp_path / "b", config)
    assert stopped.value.code == 130
    monkeypatch.setattr(module, "learning_rate", original)
    gc.collect()  # the interrupted run's log is closed (and flushed), as at the process's exit
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["step"] == 10
    with (tmp_path / "b" / "log.jsonl").open("a") as log:
        log.write('{"step": 15, "lo')  # and a line cut short by a kill
    train(corpus, tmp_path / "b", config)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "log.jsonl").open()]
    assert steps == list(range(1, 21))
    assert losses(tmp_path / "b") == losses(tmp_path / "a")


def test_a_run_stopped_while_writing_its_last_checkpoint_ends_with_its_last_weights(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped between the files of its last checkpoint, a run run again exports the weights
    of its last step, not those of the checkpoint before."""
    from training import train as module

    config = replace(TINY, steps=20)
    original = module._save_separator

    def stopped(path: Path, net: QuerySeparator, step: int, bank: QueryBank) -> None:
        if path.name == "separator.pt" and step == config.steps:
            raise KeyboardInterrupt
        original(path, net, step, bank)

    monkeypatch.setattr(module, "_save_separator", stopped)
    with pytest.raises(SystemExit) as stopped:  # Ctrl+C ends the run, said in one line
        train(corpus, tmp_path, config)
    assert stopped.value.code == 130
    monkeypatch.setattr(module, "_save_separator", original)
    net, extra = load_separator(train(corpus, tmp_path, config))
    final = torch.load(tmp_path / "last.pt", weights_only=True)
    assert extra["step"] == final["step"] == config.steps
    assert all(torch.equal(net.state_dict()[k], v) for k, v in final["model"].items())
