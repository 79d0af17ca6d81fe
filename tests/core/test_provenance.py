"""The metadata lines that say what made a stem, the same from the window and the CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tagbox_gui.core.separation.job import JobPart, JobResult
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.separation.provenance import job_provenance, stem_provenance
from tagbox_gui.core.types import Example, Region, RunResult


def test_a_one_pass_learned_stem_names_its_query_and_no_steering() -> None:
    config = replace(default_config("learned"), tags=("piano",), region=Region(1.0, 3.5))
    made = stem_provenance("song.wav", config, 0)
    assert made["backend"] == "learned"
    assert made["query"] == "prototype: piano, fitted to the song"  # the shipped fits
    assert made["step"] == "0 of 0" and made["region"] == "1.00-3.50 s"
    assert made["taggers"] == made["learning rate"] == made["quantise"] == "-"
    clip = Example(Path("organ.wav"), 3.0, 8.0)
    by_example = stem_provenance("song.wav", replace(config, tags=(), example=clip), 0)
    assert by_example["query"] == f"example: {clip}"


def test_a_steered_stem_names_its_taggers_and_the_learning_rate_of_its_step() -> None:
    config = replace(default_config("light"), tags=("drums",), steps=20, lr=0.5)
    made = stem_provenance("song.wav", config, 12, lr=0.25)
    assert made["step"] == "12 of 20" and made["learning rate"] == "0.25"
    assert made["taggers"] == ", ".join(str(t) for t in config.taggers) and made["query"] == "-"
    assert stem_provenance("song.wav", config, 12)["learning rate"] == "0.5"


def test_the_stems_of_a_run_that_stopped_early_say_after_which_step() -> None:
    """A run of 12 steps stopped (or cut short) after step 7 did not run to 12: its stems'
    step line says so; a run that made all its steps reads as before."""
    config = replace(default_config("light"), tags=("drums",), steps=12)
    assert stem_provenance("song.wav", config, 5, made=7)["step"] == "5 of 12, stopped after step 7"
    assert stem_provenance("song.wav", config, 5, made=12)["step"] == "5 of 12"
    assert stem_provenance("song.wav", config, 5)["step"] == "5 of 12"  # made: not known yet
    parts = [JobPart("drums", config)]
    run = RunResult(best_step=5, best_total=0.5, steps_done=7, stopped=False, cut_short_at=8)
    made = job_provenance("song.wav", parts, JobResult({"drums": run}, stopped=False))
    assert made["drums"]["step"] == "5 of 12, stopped after step 7"


def test_a_jobs_stems_say_what_their_second_look_left_out() -> None:
    base = default_config("learned")
    parts = [JobPart(name, replace(base, tags=(name,))) for name in ("drums", "bass", "piano")]
    run = RunResult(best_step=0, best_total=0.0, steps_done=0, stopped=False)
    runs = {"drums": run, "bass": run}
    made = job_provenance("song.wav", parts, JobResult(runs, stopped=True, refined=True))
    assert list(made) == ["drums", "bass"]  # piano never finished
    assert made["drums"]["second look"] == "asked again in the song without bass"
    assert made["bass"]["query"] == "prototype: bass, fitted to the song"
    first_look = job_provenance("song.wav", parts, JobResult(runs, stopped=True))
    assert "second look" not in first_look["drums"]


def test_the_avoided_and_ignored_lines_say_what_the_steering_did() -> None:
    steered = replace(default_config("light"), tags=("drums",), steps=20)
    made = stem_provenance("song.wav", steered, 20)
    assert made["avoided"] == "every other tag" and made["ignored"] == "-"  # the paper's default
    aside = stem_provenance("song.wav", replace(steered, ignore=("beat",), ignore_related=True), 3)
    assert aside["avoided"] == "every other tag"
    assert aside["ignored"] == "beat, tags related to drums"
    only = stem_provenance("song.wav", replace(steered, avoid=("piano",), avoid_others=False), 3)
    assert only["avoided"] == "piano" and only["ignored"] == "every other tag"
    one_pass = replace(default_config("learned"), tags=("piano",), avoid=("drums",))
    made = stem_provenance("song.wav", one_pass, 0)
    assert made["avoided"] == made["ignored"] == "-"  # nothing was steered


def test_a_stem_asked_for_by_an_example_alone_names_no_tags() -> None:
    clip = Example(Path("organ.wav"), 3.0, 8.0)
    config = replace(default_config("learned"), tags=(), example=clip, steps=5)
    made = stem_provenance("song.wav", config, 5)
    assert made["tags"] == "-" and made["avoided"] == "-"
    assert made["query"] == f"example: {clip}, then steered by the taggers"
    made = stem_provenance("song.wav", replace(config, avoid=("drums",)), 5)
    assert made["avoided"] == "drums"  # pushed away from what the example holds


def test_a_steered_learned_stem_says_its_query_was_moved() -> None:
    config = replace(default_config("learned"), tags=("piano",), steps=8)
    made = stem_provenance("song.wav", config, 5)
    assert made["query"].startswith("prototype: piano")
    assert made["query"].endswith(", then steered by the taggers") and made["step"] == "5 of 8"
    clip = Example(Path("organ.wav"), 3.0, 8.0)
    by_example = stem_provenance("song.wav", replace(config, tags=(), example=clip), 8)
    assert by_example["query"] == f"example: {clip}, then steered by the taggers"
