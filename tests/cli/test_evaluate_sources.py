"""How `tagbox evaluate` asks for each source: by tag, by prototype or by an example clip of its
true stem (where it plays), what it reports of sources it cannot ask for, and the seconds it
scores."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from tagbox_gui.cli import main
from tagbox_gui.core.audio.estimates import load_estimate, share
from tagbox_gui.core.audio.song import load_song
from tagbox_gui.core.audio.stems import render_stems
from tagbox_gui.core.evaluation import driver as evaluation_run
from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.evaluation import recipes
from tagbox_gui.core.evaluation import scoring as evaluation
from tagbox_gui.core.nets.queries import QUERY_TAGGERS
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.store.models import ModelStore
from tests.cli.evaluation_sets import DRUMS, SONGS, STORE
from tests.core.test_evaluation import cut_set

pytestmark = pytest.mark.usefixtures("keep_threads")


def test_source_without_a_tag_is_reported_not_separated(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # MTAT has no bass tag: nothing is separated (so this is fast), the pair counts as missing.
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "bass",
            "--backend", "light", "--tagger", "fcn/mtat",
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "not separated (no chosen tagger has a tag for it): band000/bass, band001/bass" in out
    assert not (tmp_path / "est").exists() or not any((tmp_path / "est").rglob("*.wav"))


def test_learned_source_without_a_prototype_is_reported_with_how_to_ask_for_it(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evaluation_pairs, "has_prototype", lambda word: False)
    report = tmp_path / "report.json"
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--json", str(report), "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert ("not separated (the learned separator has no prototype for it, and no example was "
            "given; --example-seconds S asks for it by its true stem): band000/drums, "
            "band001/drums") in out  # fmt: skip
    notes = [pair["notes"] for pair in json.loads(report.read_text())["results"]]
    assert notes and all(any("no prototype" in note for note in n) for n in notes)


def test_a_pair_left_out_of_the_means_for_a_score_not_finite_is_named(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A song whose mix is its one source: the SDR of the mix is infinite, so the pair counts
    in no mean; the table's n leaves it out, and a line says which pair and why."""
    solo = tmp_path / "solo"
    (solo / "s" / "stems").mkdir(parents=True)
    piano = tiny_set / SONGS[0] / "stems" / "piano.flac"
    shutil.copy(piano, solo / "s" / "mix.flac")
    shutil.copy(piano, solo / "s" / "stems" / "piano.flac")
    (solo / "manifest.json").write_text(json.dumps({"songs": [{"id": "s", "sources": ["piano"]}]}))
    args = ["evaluate", str(solo), "-o", str(tmp_path / "est"), "--threads", "1",
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert ("left out of the means: s/piano (an SDR that is not a finite number, e.g. of a mix "
            "that is its source alone: in no mean)") in out  # fmt: skip


def test_source_no_longer_asked_for_is_missing_not_its_old_stem(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source separated by an earlier run that this run cannot ask for (here: no prototype
    and no example) is scored as missing, not by the stem the earlier run left."""
    torch.set_num_threads(1)
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    first = evaluation_run.evaluate_set(tiny_set, est, config, store, DRUMS)
    assert [s.status for s in first.scores] == ["ok", "ok"]
    monkeypatch.setattr(evaluation_pairs, "has_prototype", lambda word: False)
    run = evaluation_run.evaluate_set(tiny_set, est, config, store, DRUMS)
    assert list(run.unsupported) == [f"{song}/drums" for song in SONGS]
    assert [s.status for s in run.scores] == ["missing", "missing"]
    assert all(s.sdri is None and any("no prototype" in n for n in s.notes) for s in run.scores)


def test_source_no_longer_asked_for_shares_nothing_into_the_others(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept estimate of a source this run cannot ask for, though made with the very
    settings its pair has now, takes no part in the other sources' stems: they are rendered
    again without it."""
    torch.set_num_threads(1)
    est, store = tmp_path / "est", ModelStore(model_dir)
    config = default_config("learned", preview_every=1_000_000)
    plan = evaluation_pairs.EvaluationPlan(sources=("bass", "drums"), refined=False)
    evaluation_run.evaluate_set(tiny_set, est, config, store, plan)
    song = load_song(tiny_set / SONGS[0] / "mix.flac")
    beside_drums = soundfile.read(est / SONGS[0] / "bass.wav", dtype="float32")[0]
    monkeypatch.setattr(evaluation_pairs, "has_prototype", lambda word: word != "drums")
    run = evaluation_run.evaluate_set(tiny_set, est, config, store, plan)
    assert list(run.unsupported) == [f"{name}/drums" for name in SONGS]
    assert run.resumed == [f"{name}/bass" for name in SONGS]
    bass = load_estimate(est / SONGS[0] / "bass.estimate.npz")
    expected, _ = render_stems(song, share({"bass": bass})["bass"])
    written = soundfile.read(est / SONGS[0] / "bass.wav", dtype="float32")[0]
    np.testing.assert_allclose(written, expected[:, 0], atol=1e-6)
    # the drums no longer take their share of the bins both claim
    assert np.abs(written - beside_drums).max() > 0.01 * np.abs(written).max()
    assert {s.source: s.status for s in run.scores} == {"bass": "ok", "drums": "missing"}


def test_learned_backend_asks_by_prototype_or_by_example(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One pass of the learned separator; a source with no prototype needs --example-seconds."""
    from tagbox_gui.core.separation.loading import default_config

    config = default_config("learned")
    plan = evaluation_pairs.EvaluationPlan(sources=("drums",))
    pairs = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE, plan)
    assert all(p.supported and p.config.tags == ("drums",) for p in pairs)
    by_drums = dataclasses.replace(plan, example_seconds=3.0, by_example=("drums",))
    asked = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE, by_drums)
    assert all(p.config.example is not None and p.config.example.end == 3.0 for p in asked)
    # Pretend drums had no prototype: it is unsupported, or asked for by its true stem.
    original = evaluation_pairs.has_prototype
    evaluation_pairs.has_prototype = lambda word: False
    try:
        planned = evaluation_pairs.plan_pairs(tiny_set, tmp_path, config, STORE)
        assert not any(p.supported for p in planned)
        by_example = evaluation_pairs.plan_pairs(
            tiny_set, tmp_path, config, STORE, dataclasses.replace(plan, example_seconds=2.0)
        )
    finally:
        evaluation_pairs.has_prototype = original
    example = by_example[0].config.example
    assert example is not None and example.path.endswith("stems/drums.flac")
    # With steps a source no tagger names is asked for by example too, and steered towards
    # what the taggers hear in it; a source named by a tag keeps its tag unless --by-example
    steered = dataclasses.replace(config, steps=3)
    plans = {"timpani": (None, False), "drums": (2.0, False), "organ": (2.0, False),
             "piano": (2.0, True)}  # fmt: skip
    runs = {source: evaluation_pairs._pair_config(steered, source, (), Path("s.flac"), asked)
            for source, asked in plans.items()}  # fmt: skip
    assert runs["timpani"][1] is False and runs["drums"][0].tags == ("drums",)
    assert runs["organ"][1] and runs["organ"][0].example is not None
    assert runs["organ"][0].tags == () and runs["organ"][0].steps == 3
    assert runs["piano"][0].example is not None and runs["piano"][0].tags == ()
    assert (example.start, example.end) == (0.0, 2.0) and by_example[0].supported
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--threads", "1", "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "drums" in out and "SI-SDRi" in out
    assert sorted(p.name for p in (tmp_path / "est").rglob("drums.wav"))


def test_example_clip_is_the_true_stem_of_a_set_with_wav_stems(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for stem in tiny_set.glob("*/stems/drums.flac"):
        data, rate = soundfile.read(stem, dtype="int16")
        soundfile.write(stem.with_suffix(".wav"), data, rate, subtype="PCM_16")
        stem.unlink()
    monkeypatch.setattr(evaluation_pairs, "has_prototype", lambda word: False)
    plan = evaluation_pairs.EvaluationPlan(sources=("drums",), example_seconds=1.0)
    pairs = evaluation_pairs.plan_pairs(tiny_set, tmp_path, default_config("learned"), STORE, plan)
    for pair in pairs:
        assert pair.supported and pair.config.example is not None
        assert Path(pair.config.example.path) == tiny_set / pair.song / "stems" / "drums.wav"


def test_example_clips_are_kept_by_where_the_set_is_not_how_it_was_named(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume that names the set by another path (relative, absolute, from another folder)
    keeps the estimates asked for by the start of their true stems."""
    plan = dataclasses.replace(DRUMS, example_seconds=1.0, by_example=("drums",))
    config = default_config("learned")

    def made_by(set_dir: Path) -> list[dict[str, object]]:
        pairs = evaluation_pairs.plan_pairs(set_dir, tmp_path / "est", config, STORE, plan)
        assert all(Path(p.config.example.path).is_file() for p in pairs)
        return [recipes.recipe(p.config, STORE, mix=p.mix) for p in pairs]

    named = made_by(tiny_set)
    monkeypatch.chdir(tiny_set.parent)
    assert made_by(Path(tiny_set.name)) == named
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert made_by(Path("..") / tiny_set.name) == named


def test_the_cli_plans_the_pairs_once(
    tiny_set: Path,
    tmp_path: Path,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The pairs the progress bar counts are those the run separates: each true stem that
    gives an example clip is read once to find where it plays, not once more for the bar."""
    read: list[Path] = []
    sound_span = evaluation_pairs.sound_span

    def reading(path: Path) -> tuple[float | None, float]:
        read.append(path)
        return sound_span(path)

    monkeypatch.setattr(evaluation_pairs, "sound_span", reading)
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--threads", "1", "--by-example", "drums", "--example-seconds", "1",
            "--model-dir", str(model_dir)]  # fmt: skip
    assert main(args) == 0
    assert "drums" in capsys.readouterr().out
    assert sorted(read) == sorted(tiny_set.resolve().glob("*/stems/drums.flac"))


def test_score_from_leaves_the_example_clip_out_of_the_scores(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    est, report = tmp_path / "est", tmp_path / "report.json"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--threads", "1",
            "--by-example", "drums", "--example-seconds", "1", "--score-from", "1",
            "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    assert "scored from 1 s" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["score_from_seconds"] == 1.0
    assert data["config"]["by_example"] == ["drums"] and data["config"]["example_seconds"] == 1.0
    recorded = json.loads((est / SONGS[0] / "drums.timing.json").read_text())["recipe"]
    store = ModelStore(model_dir)  # the taggers that heard the example clip, by their sha256
    assert recorded["model_sha256"] == {str(s): store.sha256(str(s)) for s in QUERY_TAGGERS}
    assert all(recorded["model_sha256"].values())
    assert data["model_sha256"] == recorded["model_sha256"]  # the report names them too
    rescored = evaluation.score_set(tiny_set, est, ("drums",), score_from=1.0)
    assert [r["si_sdri"] for r in data["results"]] == [s.si_sdri for s in rescored]
    whole = evaluation.score_set(tiny_set, est, ("drums",))
    assert [s.n_windows for s in whole] != [s.n_windows for s in rescored]
    assert main([*args[:-2], "--score-from", "-1"]) == 2
    assert "--score-from" in capsys.readouterr().err
    # past the end of every song: refused before anything is separated, not an empty report
    longest = max(soundfile.info(str(p)).duration for p in tiny_set.glob("*/mix.flac"))
    fresh = tmp_path / "fresh"
    past = [a.replace(str(est), str(fresh)) for a in args[:-2]]
    assert main([*past, "--score-from", f"{longest:g}"]) == 2
    assert "leaves nothing to score" in capsys.readouterr().err and not fresh.exists()


def _enter_late(set_dir: Path, song: str, source: str, seconds: float) -> float:
    """Silence a true stem before ``seconds`` (its instrument enters then), and the mix with
    it; where the stem now starts to play (inf: nowhere)."""
    stems = set_dir / song / "stems"
    pcm, rate = soundfile.read(stems / f"{source}.flac", dtype="int16")
    pcm[: round(seconds * rate)] = 0
    soundfile.write(stems / f"{source}.flac", pcm, rate, subtype="PCM_16")
    total = sum(soundfile.read(p, dtype="int16")[0].astype(np.int32) for p in stems.iterdir())
    soundfile.write(set_dir / song / "mix.flac", total.astype(np.int16), rate, subtype="PCM_16")
    playing = np.flatnonzero(pcm)
    return int(playing[0]) / rate if playing.size else math.inf


def test_a_source_that_enters_late_is_asked_for_where_it_plays(
    eval_dir: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A true stem silent in its first S seconds gives the S seconds from where it starts to
    play as the example, and its pair is scored from --score-from seconds after that clip
    starts, so the clip is not scored; one with no such clip is not separated, and the rest
    of the run goes on."""
    late_set = cut_set(eval_dir / "dev", tmp_path / "set", SONGS, 5.0)
    plays = _enter_late(late_set, SONGS[0], "strings", 1.5)
    _enter_late(late_set, SONGS[1], "strings", 4.5)  # 0.5 s left: no 1-s clip
    est, report = tmp_path / "est", tmp_path / "report.json"
    args = ["evaluate", str(late_set), "-o", str(est), "--sources", "drums,strings",
            "--by-example", "strings", "--example-seconds", "1", "--score-from", "1",
            "--threads", "1", "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"scored from 1 s after it starts: {SONGS[0]}/strings (at {plays:.2f} s)" in out
    assert (f"not separated (its true stem has no 1 s example clip from where it starts to "
            f"play to its end): {SONGS[1]}/strings") in out  # fmt: skip
    recorded = json.loads((est / SONGS[0] / "strings.timing.json").read_text())["recipe"]
    assert recorded["example"]["start"] == plays and recorded["example"]["end"] == plays + 1
    data = json.loads(report.read_text())
    assert data["late_examples"] == {f"{SONGS[0]}/strings": plays}
    results = {(r["song"], r["source"]): r for r in data["results"]}
    late = results[SONGS[0], "strings"]
    rescored = evaluation.score_source(late_set, est, SONGS[0], "strings", plays + 1)
    assert late["status"] == "ok" and late["si_sdri"] == rescored.si_sdri
    assert late["n_windows"] == rescored.n_windows == 2  # the 2.5 s after the clip
    assert any("where it starts to play" in note for note in late["notes"])
    assert results[SONGS[1], "strings"]["status"] == "missing"
    for song in SONGS:  # the drums play from the start: scored from 1 s as before
        rescored = evaluation.score_source(late_set, est, song, "drums", 1.0)
        assert results[song, "drums"]["si_sdri"] == rescored.si_sdri
    # A stem silent throughout gives no clip at all.
    _enter_late(late_set, SONGS[1], "strings", 5.0)
    plan = evaluation_pairs.EvaluationPlan(("strings",), example_seconds=1.0,
                                           by_example=("strings",))  # fmt: skip
    planned = evaluation_pairs.plan_pairs(late_set, est, default_config("learned"), STORE, plan)
    assert [p.supported for p in planned] == [True, False]
    assert "silent" in planned[1].why_not and planned[0].scored_from(1.0) == plays + 1


def _hiss_before(set_dir: Path, song: str, source: str, seconds: float, db: float) -> None:
    """Replace a true stem's first ``seconds`` with hiss at ``db`` dBFS RMS (dither, a noise
    floor: not zero, far too quiet to be an example), and the mix with it."""
    stems = set_dir / song / "stems"
    pcm, rate = soundfile.read(stems / f"{source}.flac", dtype="float64", always_2d=True)
    cut = round(seconds * rate)
    noise = np.random.default_rng(0).standard_normal((cut, pcm.shape[1]))
    pcm[:cut] = noise * 10 ** (db / 20)
    soundfile.write(stems / f"{source}.flac", pcm, rate, subtype="PCM_24")
    total = sum(soundfile.read(p, always_2d=True)[0] for p in stems.iterdir())
    soundfile.write(set_dir / song / "mix.flac", total, rate, subtype="PCM_24")


def test_a_source_that_starts_with_a_noise_floor_is_asked_for_where_it_is_heard(
    eval_dir: Path, tmp_path: Path
) -> None:
    """A true stem whose first seconds are hiss under the floor of an example clip
    (``EXAMPLE_FLOOR_DB``) gives its clip from the first second heard above it, as a silent
    start does; one that is hiss throughout gives none, and is not separated, where the
    clip was refused and stopped the whole evaluation."""
    from tagbox_gui.core.audio.song import example_clip
    from tagbox_gui.core.types import Example

    noisy = cut_set(eval_dir / "dev", tmp_path / "set", SONGS, 8.0)
    _hiss_before(noisy, SONGS[0], "strings", 4.0, -80.0)
    _hiss_before(noisy, SONGS[1], "strings", 8.0, -80.0)
    plan = evaluation_pairs.EvaluationPlan(("strings",), example_seconds=2.0,
                                           by_example=("strings",))  # fmt: skip
    est = tmp_path / "est"
    planned = evaluation_pairs.plan_pairs(noisy, est, default_config("learned"), STORE, plan)
    assert [p.supported for p in planned] == [True, False]
    example = planned[0].config.example
    assert (example.start, example.end) == (4.0, 6.0)
    example_clip(Example(example.path, example.start, example.end),
                 load_song(noisy / SONGS[0] / "mix.flac"))  # fmt: skip  # not refused
    assert "nearly silent" in planned[1].why_not


def test_the_report_says_how_each_example_was_taken_and_whether_it_is_scored(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each pair asked for by example is named with the seconds of its true stem that were its
    clip; without a --score-from that leaves the clips out, the report says they are scored."""
    est, report = tmp_path / "est", tmp_path / "report.json"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--threads", "1",
            "--by-example", "drums", "--example-seconds", "1", "--model-dir", str(model_dir),
            "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    keys = [f"{song}/drums" for song in SONGS]
    assert f"asked for by the first 1 s of their true stems: {', '.join(keys)}" in out
    assert "the example clips are part of what is scored; --score-from 1 leaves them out" in out
    data = json.loads(report.read_text())
    assert data["examples"] == {key: [0.0, 1.0] for key in keys}
    assert all(any("0.00-1.00 s of its true stem" in note and "part of what is scored" in note
                   for note in r["notes"]) for r in data["results"])  # fmt: skip
    assert main([*args, "--score-from", "1"]) == 0
    out = capsys.readouterr().out
    assert "asked for by the first 1 s" in out and "part of what is scored" not in out
    assert not any("part of what" in n for r in json.loads(report.read_text())["results"]
                   for n in r["notes"])  # fmt: skip
