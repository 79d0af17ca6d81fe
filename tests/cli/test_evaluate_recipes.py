"""`tagbox evaluate`'s recipes: what decides whether a kept estimate is done, what a run
records of its cost, and kept estimates left as they were by a run that fails."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from tagbox_gui.cli import main
from tagbox_gui.core.evaluation import driver as evaluation_run
from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.evaluation import recipes
from tagbox_gui.core.nets.queries import QUERY_TAGGERS
from tagbox_gui.core.separation.backends import learned, light
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import REGISTRY
from tests.cli.evaluation_sets import DRUMS, SONGS, STORE

pytestmark = pytest.mark.usefixtures("keep_threads")


def test_recipe_names_what_decides_an_estimate(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = default_config("light", steps=2)
    pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE, DRUMS)[0]
    assert pair.config.tags == ("drums",) and not pair.kept and not pair.done
    base = recipes.recipe(pair.config, STORE, mix=pair.mix)
    assert base["backend_settings"]["components"] == light.SETTINGS.components

    # Speed-only settings do not count; the method's settings, the backend's own included, do.
    def recipe(**changes: object) -> dict[str, object]:
        return recipes.recipe(dataclasses.replace(pair.config, **changes), STORE, mix=pair.mix)

    assert recipe(device="cpu") == base
    assert recipe(lr=0.2) != base
    assert recipe(balance_tags=False) != base
    monkeypatch.setattr(light, "SETTINGS", dataclasses.replace(light.SETTINGS, components=41))
    assert recipes.recipe(pair.config, STORE, mix=pair.mix) != base
    monkeypatch.undo()
    assert base["hops_per_window"] == 2  # estimates made at another hop are made again
    monkeypatch.setattr(light, "HOPS_PER_WINDOW", 4, raising=False)
    assert recipes.recipe(pair.config, STORE, mix=pair.mix) != base
    monkeypatch.undo()
    # An estimate on disk counts as done only with the same recipe beside it.
    pair.saved.parent.mkdir(parents=True)
    pair.saved.write_bytes(b"")
    assert pair.kept and not pair.done
    pair.timing.write_text(json.dumps({"cpu_s": 1.0, "recipe": base}))
    assert pair.done
    pair.timing.write_text("not json")
    assert not pair.done


def test_recipe_names_the_separator_file_in_use(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Estimates of other separator weights ($TAGBOX_SEPARATOR) are not kept as done."""
    config = default_config("learned")
    pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE, DRUMS)[0]
    shipped = recipes.recipe(pair.config, STORE, mix=pair.mix)
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(learned.weights_path()))
    assert (
        recipes.recipe(pair.config, STORE, mix=pair.mix) == shipped
    )  # the same weights by their path
    other = tmp_path / "other.pt"
    other.write_bytes(b"other weights")
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(other))
    first = recipes.recipe(pair.config, STORE, mix=pair.mix)
    assert first != shipped
    other.write_bytes(b"weights trained further")  # the same path, other weights
    assert recipes.recipe(pair.config, STORE, mix=pair.mix) != first
    # The light backend does not use the separator: its estimates stay.
    light_config = default_config("light")
    light_pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path, light_config, STORE, DRUMS)
    monkeypatch.delenv(learned.WEIGHTS_ENV)
    before = recipes.recipe(light_pair[0].config, STORE, mix=light_pair[0].mix)
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(other))
    assert recipes.recipe(light_pair[0].config, STORE, mix=light_pair[0].mix) == before


def test_recipe_names_the_tagger_files_of_examples_and_steps(
    tiny_set: Path, tmp_path: Path
) -> None:
    """An estimate made by example or with steps depends on the taggers' files of the model
    folder (--model-dir): with other files it is made again; one by prototype (one pass of
    the learned separator) loads no tagger and is kept."""

    def store_with(folder: str, weights: bytes) -> ModelStore:
        store = ModelStore(tmp_path / folder)
        for name, info in REGISTRY.items():
            if info.kind == "tagger":
                store.location(name).parent.mkdir(parents=True)
                store.location(name).write_bytes(name.encode() + weights)
        return store

    ours, moved, other = store_with("a", b"1"), store_with("b", b"1"), store_with("c", b"2")
    by_example = dataclasses.replace(DRUMS, example_seconds=1.0, by_example=("drums",))
    learned_config = default_config("learned")
    cases = [(learned_config, by_example, True), (learned_config, DRUMS, False),
             (default_config("learned", steps=2), DRUMS, True),
             (default_config("light", steps=2), DRUMS, True)]  # fmt: skip
    for n, (config, plan, uses_taggers) in enumerate(cases):
        pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path / f"est{n}", config, ours, plan)[0]
        pair.saved.parent.mkdir(parents=True)
        pair.saved.write_bytes(b"")
        pair.timing.write_text(
            json.dumps({"recipe": recipes.recipe(pair.config, ours, mix=pair.mix)})
        )
        assert pair.done
        assert dataclasses.replace(pair, store=moved).done  # the same files in another folder
        assert dataclasses.replace(pair, store=other).done is not uses_taggers
        assert dataclasses.replace(pair, store=STORE).done is not uses_taggers  # none there


def test_estimates_of_other_settings_stay_until_made_again(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run with other settings that fails before it makes an estimate again (here the engine
    refuses its learning rate; a missing tagger, Ctrl+C) leaves the kept estimates as they were,
    done for a run with their own settings."""
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    for pair in evaluation_pairs.plan_pairs(tiny_set, est, config, store, DRUMS):
        pair.saved.parent.mkdir(parents=True)
        pair.saved.write_bytes(b"kept")
        pair.timing.write_text(
            json.dumps({"recipe": recipes.recipe(pair.config, store, mix=pair.mix)})
        )
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--model-dir",
            str(model_dir), "--lr", "0"]  # fmt: skip
    assert main(args) == 2
    assert "learning rate must be a positive number" in capsys.readouterr().err
    planned = evaluation_pairs.plan_pairs(tiny_set, est, config, store, DRUMS)
    assert all(p.done and p.saved.read_bytes() == b"kept" for p in planned)


def test_timings_name_the_taggers_each_run_loaded(
    tiny_set: Path, tmp_path: Path, model_dir: Path
) -> None:
    """One pass by prototype loads no tagger; one by example loads those that hear the clip.
    A resumed run reports the kept estimates' recorded costs too."""
    torch.set_num_threads(1)
    store, config = ModelStore(model_dir), default_config("learned", preview_every=1_000_000)
    plans = {"prototype": (DRUMS, ()),
             "example": (dataclasses.replace(DRUMS, example_seconds=1.0, by_example=("drums",)),
                         tuple(str(spec) for spec in QUERY_TAGGERS))}  # fmt: skip
    for name, (plan, taggers) in plans.items():
        est = tmp_path / name
        run = evaluation_run.evaluate_set(tiny_set, est, config, store, plan)
        assert {k: t.taggers for k, t in run.timings.items()} == {
            f"{song}/drums": taggers for song in SONGS
        }
        recorded = json.loads((est / SONGS[0] / "drums.timing.json").read_text())
        assert tuple(recorded["taggers"]) == taggers
    again = evaluation_run.evaluate_set(tiny_set, est, config, store, plan)
    assert again.resumed == list(again.timings) == [f"{song}/drums" for song in SONGS]
    assert again.timings == run.timings
