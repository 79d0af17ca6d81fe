"""`tagbox separate` with steering steps: what the options ask of the taggers, and what the run
says and keeps when it ends."""

from __future__ import annotations

from pathlib import Path

from tagbox_gui.cli import build_parser
from tagbox_gui.cli.separate import build_config
from tagbox_gui.core.nets.taggers import vocabulary
from tagbox_gui.core.separation.provenance import stem_provenance
from tagbox_gui.core.separation.tags import resolve_targets
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import RunConfig, TagState


def _config(model_dir: Path, *words: str) -> RunConfig:
    args = build_parser().parse_args(["separate", "s.wav", *words, "-o", "out"])
    return build_config(args, ModelStore(model_dir))


def _states(config: RunConfig) -> dict[str, TagState]:
    """Each MTAT tag's state in the loss of a run of ``config``."""
    c = config
    targets = resolve_targets("mtat", vocabulary("mtat"), c.tags, c.avoid, c.ignore,
                              c.avoid_others, c.ignore_related, c.balance_tags)  # fmt: skip
    return dict(zip(targets.vocabulary, targets.states, strict=True))


def test_avoid_names_the_only_tags_the_steps_push_away(model_dir: Path) -> None:
    steered = ("--tags", "piano", "--steps", "2", "--backend", "light")
    default = _states(_config(model_dir, *steered))  # every tag not wanted is avoided
    assert default["drums"] is default["rock"] is TagState.AVOIDED
    config = _config(model_dir, *steered, "--avoid", "drums")
    states = _states(config)
    assert states["piano"] is TagState.WANTED and states["drums"] is TagState.AVOIDED
    assert states["rock"] is states["guitar"] is TagState.IGNORED
    made = stem_provenance("s.wav", config, 2)
    assert (made["avoided"], made["ignored"]) == ("drums", "every other tag")
