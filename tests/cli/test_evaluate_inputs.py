"""`tagbox evaluate` keeps an estimate only while the audio it was made from is unchanged: a set
re-rendered in place (the same song names, other audio) is separated again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tagbox_gui.cli import main
from tagbox_gui.core.evaluation import pairs as evaluation_pairs
from tagbox_gui.core.separation.loading import default_config
from tagbox_gui.core.store.models import ModelStore
from tests.core.test_evaluation import cut_set

SONGS = ["band000", "band001"]
STORE = ModelStore(Path(__file__).parent / "no-models")  # for recipes: no model file in it


@pytest.fixture
def tiny_set(eval_dir: Path, tmp_path: Path) -> Path:
    return cut_set(eval_dir / "dev", tmp_path / "set", SONGS, 3.0)


def _rerender(path: Path, gain: float = 0.5) -> None:
    """The file at ``path`` written again with other audio: the same name, length and format."""
    data, rate = soundfile.read(path, dtype="int16")
    soundfile.write(path, (data * gain).astype(np.int16), rate, subtype="PCM_16")


def _keep(pair: evaluation_pairs.Pair) -> None:
    """An estimate of ``pair`` on disk, recorded as made from the set as it is now."""
    pair.saved.parent.mkdir(parents=True, exist_ok=True)
    pair.saved.write_bytes(b"")
    made = evaluation_pairs.recipe(pair.config, STORE, pair.looks_again, mix=pair.mix)
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
    assert "1 estimates had been made with other settings and were made again" in out
    assert set(json.loads(report.read_text())["timings"]) == {f"{s}/drums" for s in SONGS}
    assert (est / SONGS[0] / "drums.estimate.npz").read_bytes() != before[SONGS[0]]
    assert (est / SONGS[1] / "drums.estimate.npz").read_bytes() == before[SONGS[1]]
    assert (est / SONGS[1] / "drums.wav").stat().st_mtime_ns == kept
