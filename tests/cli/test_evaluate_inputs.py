"""The set's audio in `tagbox evaluate`: an estimate is kept only while the audio it was made
from is unchanged (a set re-rendered in place is separated again), and a true stem that does
not match its mix, or a song folder of a set without a manifest that has no true stems, is
refused before any work."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tagbox_gui.cli import main
from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.evaluation import recipes
from tagbox_gui.core.evaluation.sets import check_set, list_set
from tagbox_gui.core.separation.loading import default_config
from tests.cli.evaluation_sets import SONGS, STORE
from tests.conftest import fail_at_step


def _rerender(path: Path, gain: float = 0.5) -> None:
    """The file at ``path`` written again with other audio: the same name, length and format."""
    data, rate = soundfile.read(path, dtype="int16")
    soundfile.write(path, (data * gain).astype(np.int16), rate, subtype="PCM_16")


def _keep(pair: evaluation_pairs.Pair) -> None:
    """An estimate of ``pair`` on disk, recorded as made from the set as it is now."""
    pair.saved.parent.mkdir(parents=True, exist_ok=True)
    pair.saved.write_bytes(b"")
    made = recipes.recipe(pair.config, STORE, pair.looks_again, mix=pair.mix)
    pair.timing.write_text(json.dumps({"recipe": made}))


def test_an_estimate_of_a_mix_rerendered_in_place_is_not_done(
    tiny_set: Path, tmp_path: Path
) -> None:
    plan = evaluation_pairs.EvaluationPlan(sources=("drums",))
    pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path / "est", default_config("learned"),
                                       STORE, plan)[0]  # fmt: skip
    assert pair.mix == tiny_set / pair.song / "mix.flac"
    _keep(pair)
    assert pair.done
    # By content: a mix touched, or the same audio written again, keeps its estimate.
    stamp = pair.mix.stat().st_mtime_ns
    os.utime(pair.mix, ns=(stamp + 10**9, stamp + 10**9))
    assert pair.done
    _rerender(pair.mix)
    assert not pair.done
    _keep(pair)
    assert pair.done


def test_an_estimate_asked_for_by_a_rerendered_true_stem_is_not_done(
    tiny_set: Path, tmp_path: Path
) -> None:
    plan = evaluation_pairs.EvaluationPlan(sources=("drums", "bass"), example_seconds=1.0,
                                           by_example=("drums",))  # fmt: skip
    planned = evaluation_pairs.plan_pairs(tiny_set, tmp_path / "est", default_config("learned"),
                                          STORE, plan)  # fmt: skip
    first = {p.source: p for p in planned if p.song == SONGS[0]}
    for pair in first.values():
        _keep(pair)
    assert all(p.done for p in first.values())
    _rerender(tiny_set / SONGS[0] / "stems" / "drums.flac")
    # The drums were asked for by their true stem, which changed; the bass by its prototype.
    assert not first["drums"].done
    assert first["bass"].done


@pytest.mark.slow
def test_evaluate_separates_a_song_rerendered_in_place_again(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    est, report = tmp_path / "est", tmp_path / "report.json"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--threads", "1",
            "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    before = {song: (est / song / "drums.estimate.npz").read_bytes() for song in SONGS}
    kept = (est / SONGS[1] / "drums.wav").stat().st_mtime_ns
    _rerender(tiny_set / SONGS[0] / "mix.flac", gain=0.25)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 estimates were already there" in out
    assert "1 estimates had been made otherwise (settings, weights, audio or code)" in out
    assert set(json.loads(report.read_text())["timings"]) == {f"{s}/drums" for s in SONGS}
    assert (est / SONGS[0] / "drums.estimate.npz").read_bytes() != before[SONGS[0]]
    assert (est / SONGS[1] / "drums.estimate.npz").read_bytes() == before[SONGS[1]]
    assert (est / SONGS[1] / "drums.wav").stat().st_mtime_ns == kept


@pytest.mark.parametrize("change", ["shorter", "rate"])
def test_a_true_stem_that_does_not_match_its_mix_is_refused_before_any_work(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    stem = tiny_set / SONGS[1] / "stems" / "bass.flac"
    data, rate = soundfile.read(stem, dtype="int16")
    if change == "shorter":
        soundfile.write(stem, data[:-1000], rate, subtype="PCM_16")
    else:
        soundfile.write(stem, data, 22_050, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"bass\.flac' has .* samples at .* Hz, its mix"):
        check_set(tiny_set)
    est = tmp_path / "est"
    args = ["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--threads", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("tagbox: error:") and len(err.strip().splitlines()) == 1
    assert "bass.flac" in err and "must match its mix" in err
    assert not est.exists()  # nothing was separated


def test_a_true_stem_with_other_channels_than_its_mix_is_refused_before_any_work(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stereo true stem of a mono mix, each the same length and rate: the scores would
    average the stem to mono unsaid, as if it matched its mix; the set is refused in one line
    naming the song and the stem."""
    stem = tiny_set / SONGS[1] / "stems" / "bass.flac"
    data, rate = soundfile.read(stem, dtype="int16")
    soundfile.write(stem, np.stack([data, data], axis=1), rate, subtype="PCM_16")
    with pytest.raises(AudioError, match=f"'bass' of the song '{SONGS[1]}' has 2 channels"):
        check_set(tiny_set)
    err = _refused_before_any_work(tiny_set, tmp_path, capsys, "--sources", "drums")
    assert f"'bass' of the song '{SONGS[1]}' has 2 channels, its mix 1" in err


def test_songs_and_stems_the_manifest_does_not_list_are_said_not_evaluated(
    tiny_set: Path, tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest listing fewer songs or stems than the set holds is a subset, evaluated as
    listed; one line says how many song folders and true stems it left out, and the --json
    report names them."""
    manifest = json.loads((tiny_set / "manifest.json").read_text())
    manifest["songs"] = manifest["songs"][:1]
    manifest["songs"][0]["sources"] = ["drums"]
    (tiny_set / "manifest.json").write_text(json.dumps(manifest))
    stems = sorted(p.stem for p in (tiny_set / SONGS[0] / "stems").iterdir() if p.stem != "drums")
    report = tmp_path / "report.json"
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--threads", "1",
            "--model-dir", str(model_dir), "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (f"not evaluated: 1 song folder and {len(stems)} true stems of '{tiny_set}' that its "
            "manifest does not list") in out  # fmt: skip
    assert json.loads(report.read_text())["unlisted"] == {
        "songs": [SONGS[1]],
        "stems": [f"{SONGS[0]}/{stem}" for stem in stems],
    }


def test_a_song_too_short_to_separate_is_refused_before_any_work(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A song shorter than half a second cannot be separated: refused, naming it, before the
    songs before it are separated, not by a run that fails on it without saying which."""
    song = tiny_set / SONGS[1]
    for path in [song / "mix.flac", *(song / "stems").iterdir()]:
        data, rate = soundfile.read(path, dtype="int16")
        soundfile.write(path, data[: rate // 4], rate, subtype="PCM_16")
    with pytest.raises(AudioError, match="shorter than half a second"):
        check_set(tiny_set)
    err = _refused_before_any_work(tiny_set, tmp_path, capsys, "--sources", "drums")
    assert f"'{song / 'mix.flac'}'" in err and "shorter than half a second" in err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_song_that_cannot_be_separated_is_named(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    """A silent song ends the run with an error that says which song and source it is, in
    a worker process too, not only that "the song" is silent."""
    song = tiny_set / SONGS[1]
    for path in [song / "mix.flac", *(song / "stems").iterdir()]:
        data, rate = soundfile.read(path, dtype="int16")
        soundfile.write(path, np.zeros_like(data), rate, subtype="PCM_16")
    args = ["evaluate", str(tiny_set), "-o", str(tmp_path / "est"), "--sources", "drums",
            "--threads", "1", "--jobs", jobs]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("tagbox: error:") and "the song is silent" in err
    assert f"drums of '{song / 'mix.flac'}'" in err


@pytest.mark.parametrize("twice", ["song", "source"])
def test_a_manifest_that_lists_a_song_or_a_source_twice_is_refused(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], twice: str
) -> None:
    """Its scores would be counted twice in the means and medians, as if it were two."""
    manifest = tiny_set / "manifest.json"
    data = json.loads(manifest.read_text())
    if twice == "song":
        data["songs"].append(data["songs"][0])
    else:
        data["songs"][0]["sources"].append(data["songs"][0]["sources"][0])
    manifest.write_text(json.dumps(data))
    with pytest.raises(AudioError, match="twice"):
        list_set(tiny_set)
    err = _refused_before_any_work(tiny_set, tmp_path, capsys)
    assert f"'{manifest}' lists " in err and "twice" in err


@pytest.mark.parametrize("stems", ["no folder", "empty folder"])
def test_a_song_folder_without_true_stems_is_refused_in_a_set_without_a_manifest(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], stems: str
) -> None:
    """Its sources would be left out of the scores unsaid, as a listed stem that is missing
    would; a folder that holds neither a mixture nor stems is no song and changes nothing."""
    (tiny_set / "manifest.json").unlink()
    (tiny_set / "notes").mkdir()  # no song: no mix.flac, no stems/
    assert [song for song, _ in list_set(tiny_set)] == SONGS
    shutil.rmtree(tiny_set / SONGS[1] / "stems")
    if stems == "empty folder":
        (tiny_set / SONGS[1] / "stems").mkdir()
    folder = tiny_set / SONGS[1] / ("stems" if stems == "empty folder" else "")
    err = _refused_before_any_work(tiny_set, tmp_path, capsys, "--sources", "drums")
    assert f"'{folder.as_posix().rstrip('/')}'" in err and "true stem" in err


def test_an_estimate_made_by_other_separating_code_is_not_done(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = evaluation_pairs.EvaluationPlan(sources=("drums",))
    pair = evaluation_pairs.plan_pairs(tiny_set, tmp_path / "est", default_config("learned"),
                                       STORE, plan)[0]  # fmt: skip
    _keep(pair)
    assert pair.done
    monkeypatch.setattr(recipes, "code_sha256", lambda: "another version of the backends")
    assert not pair.done  # kept from other code: made again, never scored as this code's


def test_the_code_fingerprint_covers_what_separates_and_not_the_scoring(tmp_path: Path) -> None:
    package = tmp_path / "tagbox_gui"
    shutil.copytree(recipes.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    fingerprint = recipes.code_sha256.__wrapped__
    before = fingerprint(package)
    assert before == recipes.code_sha256()  # the same files give the same digest
    cases = {"core/evaluation/scoring.py": False, "gui/app.py": False,
             "core/separation/engine.py": True, "resources/vocab/mtat.txt": True}  # fmt: skip
    for name, counts in cases.items():
        path = package / name
        kept = path.read_bytes()
        path.write_bytes(kept + b"\n# changed\n")
        assert (fingerprint(package) != before) is counts, name
        path.write_bytes(kept)


def test_a_source_whose_second_look_fails_is_not_scored_as_looked_at_again(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from tagbox_gui.core.separation.refine import LookBeside

    def out_of_memory(*args: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(LookBeside, "stem", out_of_memory)
    est = tmp_path / "est"
    code = main(["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--alone",
                 "--threads", "1", "--model-dir", str(model_dir)])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "the second look at drums" in err and "out of memory" in err, err
    assert not list(est.rglob("*.estimate.npz"))  # no first look kept as if it were the second


def test_a_source_whose_run_ran_out_of_memory_midway_is_not_scored(
    tiny_set: Path, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Fewer steps than asked for would be scored as the whole run."""
    fail_at_step(monkeypatch, 2, MemoryError())
    est = tmp_path / "est"
    code = main(["evaluate", str(tiny_set), "-o", str(est), "--sources", "drums", "--alone",
                 "--backend", "light", "--steps", "3", "--threads", "1",
                 "--model-dir", str(model_dir)])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "step 2 of drums" in err and "ran out of memory" in err, err
    assert not list(est.rglob("*.estimate.npz"))


def _refused_before_any_work(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> str:
    """``tagbox evaluate`` of ``tiny_set`` with ``options`` ends in one line of error before
    anything is separated; that line."""
    est = tmp_path / "est"
    assert main(["evaluate", str(tiny_set), "-o", str(est), "--threads", "1", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tagbox: error:") and len(err.strip().splitlines()) == 1
    assert not est.exists()  # nothing was separated
    return err
