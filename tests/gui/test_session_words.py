"""How the window words a refused example clip (``gui.session.whose_example``) and a stem that
came out very quiet (``gui.session.quiet_sentence``)."""

from __future__ import annotations

import numpy as np

from tagbox_gui.core.audio.song import ExampleError
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.types import Example, JobPart, RunConfig
from tagbox_gui.gui.session import RegionExample, quiet_sentence, whose_example


def _part(name: str, example: Example | None) -> JobPart:
    return JobPart(name, RunConfig(tags=(), example=example))


def test_a_refused_example_is_named_by_its_stems_and_its_stretch() -> None:
    lead = Example(None, 0.5, 2.5)
    error = ExampleError(lead, "is silent; choose a stretch where the instrument plays")
    parts = [_part("organ", Example(None, 10.0, 12.0)), _part("lead", lead), _part("keys", lead)]
    worded = whose_example(error, parts)
    assert isinstance(worded, ConfigError)
    assert str(worded) == ("the example of lead and keys, 0.5–2.5 s of the song, is silent; "
                           "choose a stretch where the instrument plays")  # fmt: skip
    parts.append(_part("pad", lead))
    assert str(whose_example(error, parts)).startswith("the example of lead, keys and pad, ")


def test_the_region_as_the_example_is_told_apart_from_an_example_named_example() -> None:
    """The stem "Use the region as the example" asks for is worded as the region; a picked
    example the musician named "example" (the same name) as the example of its stem."""
    clip = Example(None, 0.5, 2.5)
    error = ExampleError(clip, "is silent")
    region = RegionExample("example", RunConfig(tags=(), example=clip))
    assert str(whose_example(error, [region])) == (
        "the region used as the example, 0.5–2.5 s of the song, is silent"
    )
    assert str(whose_example(error, [_part("example", clip)])) == (
        "the example of example, 0.5–2.5 s of the song, is silent"
    )


def test_an_example_no_stem_asked_for_and_other_errors_are_left_as_they_are() -> None:
    error = ExampleError(Example(None, 1.0, 2.0), "is silent; choose a stretch where it plays")
    assert whose_example(error, [_part("organ", Example(None, 10.0, 12.0))]) is error
    other = ConfigError("no tagger knows 'kazoo'")
    assert whose_example(other, [_part("organ", None)]) is other


def test_a_silent_stem_and_a_very_quiet_one_are_each_told_what_they_mean() -> None:
    how = "Select a few seconds where it plays and use the region as the example."
    assert quiet_sentence({"piano": -np.inf}, how) == (
        " Piano is silent: if it plays in the song, it was not recognised. " + how
    )
    assert quiet_sentence({"piano": -40.0}, how, ["piano"]) == (
        " Piano is very quiet (40 dB under the song): if it plays louder than that, it was not "
        "recognised. Choose an example where it plays more clearly, ideally alone."
    )
    assert quiet_sentence({"piano": -9.0}, how) == ""


def test_several_quiet_stems_are_told_what_to_do_for_each() -> None:
    # two quiet stems were told to "name it": the advice agrees with the stems named
    how = "Select a few seconds where it plays, name it and add the region as an example."
    levels = {"drums": -8.0, "bass": -31.0, "organ": -np.inf, "lead": -33.0, "keys": -35.0}
    assert quiet_sentence(levels, how, ["lead", "keys"]) == (
        " Bass is very quiet (31 dB under the song): if it plays louder than that, it was not "
        "recognised; organ is silent: if it plays in the song, it was not recognised. For each, "
        "select a few seconds where it plays, name it and add the region as an example. Lead and "
        "keys are very quiet (33 and 35 dB under the song): if they play louder than that, they "
        "were not recognised. For each, choose an example where it plays more clearly, ideally "
        "alone."
    )
