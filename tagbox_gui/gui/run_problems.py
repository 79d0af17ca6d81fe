"""Why the parts a Run would separate cannot run together, in the window's words."""

from __future__ import annotations

from collections.abc import Sequence

from tagbox_gui.core.audio.song import Song
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.separation.job import JobPart
from tagbox_gui.core.separation.job_checks import check_file_names, check_sharing, stem_key
from tagbox_gui.gui.errors import user_message

EXAMPLES_NEED_LEARNED = "Only the learned separator can be asked by example; choose it in Settings."
EXAMPLE_IN_WHOLE_SONG = (
    'An example is separated in the whole song: tick "Run on the whole song" to separate the '
    "other instruments with it."
)


def parts_problem(parts: Sequence[JobPart], song: Song, learned: bool) -> str:
    """Why ``parts`` (of ``song``) cannot run, as the job would refuse them, or ''.

    ``learned``: whether the chosen backend is the learned separator, the one that can be asked
    by example (the taggers an example needs are no problem here: Run offers to download them,
    ``RunRequest.missing_taggers``). Names are compared as the job compares them
    (``job_checks.stem_key``), and so are the stems' file names (``job_checks.check_file_names``)
    and their sharing of the song (``job_checks.check_sharing``).
    """
    if not learned and any(p.config.example is not None for p in parts):
        return EXAMPLES_NEED_LEARNED
    names = [stem_key(p.name) for p in parts]
    twice = [p for p in parts if names.count(stem_key(p.name)) > 1]
    if twice:
        return _asked_twice(twice)
    try:
        check_file_names(parts, song)
    except ConfigError as exc:
        return user_message(exc)
    try:
        check_sharing(parts, song)
    except ConfigError as exc:
        if len({p.config.region for p in parts}) > 1:  # an example beside picks in a region
            return EXAMPLE_IN_WHOLE_SONG
        return user_message(exc)
    return ""


def _asked_twice(parts: Sequence[JobPart]) -> str:
    """What to do about ``parts``, stems of one name (``job_checks.stem_key``): an example is
    renamed; else one is a picked instrument and the other the Tags panel's wanted tags (the
    picker makes no two picks of one name)."""
    example = next((p for p in parts if p.config.example is not None), None)
    if example is not None:
        return f"Two stems would be called {example.name}; give the example another name."
    return f"{parts[0].name} is both picked and wanted in the Tags panel; untick it in one of them."
