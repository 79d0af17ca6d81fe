"""Why the parts a Run would separate cannot run together (``gui.run_problems``)."""

from __future__ import annotations

import pytest

from tagbox_gui.core.nets import queries
from tagbox_gui.core.types import Example, JobPart, RunConfig, TaggerSpec
from tagbox_gui.gui.run_problems import parts_problem


def test_the_taggers_an_example_needs_are_listed_as_a_sentence_lists_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needed = (TaggerSpec("fcn", "mtat"), TaggerSpec("fcn", "jamendo"), TaggerSpec("crnn", "mtat"))
    monkeypatch.setattr(queries, "QUERY_TAGGERS", needed)
    parts = [JobPart("lead", RunConfig(tags=(), example=Example(None, 0.5, 2.5)))]
    assert parts_problem(parts, song=None, learned=True, taggers=()) == (
        "Asking by an example needs the taggers fcn/mtat, fcn/jamendo and crnn/mtat: download "
        "fcn/mtat, fcn/jamendo and crnn/mtat (Tools ▸ Models…)."
    )
