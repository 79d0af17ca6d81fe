"""Fitting the prototypes to the song (``training.fit_queries``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tagbox_gui.core.nets.fitting import FEATURES, QueryFit
from tagbox_gui.core.nets.separator import (
    QuerySeparator,
    SeparatorShape,
    load_separator,
    save_separator,
)
from training import fit_queries
from training.config import TrainConfig
from training.corpus import split_songs
from training.fit_queries import (
    collect,
    cross_validate,
    fit_all,
    main,
    ridge,
    song_mix,
    stem_keys,
)
from training.train import train


def test_a_stem_belongs_to_its_family_its_alias_and_its_program() -> None:
    prototypes = dict.fromkeys(["strings", "violin", "synth", "synth_lead", "drums", "bass"])
    assert stem_keys({"family": "strings", "program": 40}, prototypes) == ["strings", "violin"]
    assert stem_keys({"family": "strings", "program": 48}, prototypes) == ["strings"]
    assert stem_keys({"family": "synth_lead", "program": 80}, prototypes) == ["synth_lead", "synth"]
    assert stem_keys({"family": "drums", "program": 40, "is_drum": True}, prototypes) == ["drums"]
    assert stem_keys({"family": "organ", "program": 16}, prototypes) == []  # no prototype


def test_a_mix_holds_every_stem_and_peaks_at_a_half() -> None:
    stems = np.stack([np.sin(np.arange(1000) / 10.0), 0.01 * np.cos(np.arange(1000) / 7.0)])
    mix = song_mix(stems.astype(np.float32), np.random.default_rng(0))
    assert mix.dtype == np.float32 and np.abs(mix).max() == pytest.approx(0.5)
    # the quiet stem was brought to the loud one's level (within ±6 dB each)
    weights = np.linalg.lstsq(stems.T, mix, rcond=None)[0] * np.sqrt((stems**2).mean(axis=1))
    assert 10 ** (-12 / 20) <= abs(weights[1] / weights[0]) <= 10 ** (12 / 20)


def _data(n: int, learnable: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, FEATURES))
    noise = rng.standard_normal((n, 6))
    y = x[:, :6] * 0.8 + 0.3 * noise if learnable else noise
    return x, y


def test_a_fit_is_kept_only_where_it_asks_better_than_the_prototype(capsys) -> None:
    x, y = _data(400, learnable=True)
    strength, relative = cross_validate(x, y)
    assert relative < 0.5 and strength in (30.0, 100.0, 300.0, 1000.0, 3000.0)
    fit = ridge(x, y, strength)
    assert isinstance(fit, QueryFit) and fit.weights.shape == (FEATURES, 6)
    held, truth = _data(200, learnable=True, seed=1)
    error = ((fit.offset(torch.from_numpy(held).float()).numpy() - truth) ** 2).mean()
    assert error < 0.5 * (truth**2).mean()
    rows = {"piano": (x, y), "organ": _data(400, learnable=False), "harp": _data(20, True)}
    fits = fit_all(rows, min_stems=150)
    assert list(fits) == ["piano"]
    said = capsys.readouterr().out
    assert "harp: 20 stems, too few" in said and "organ: 400 stems" in said and "not kept" in said


def test_a_fit_stopped_half_way_leaves_the_weights_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out`` naming the ``--weights`` file: stopped while writing, the weights stay whole."""
    torch.manual_seed(0)
    weights = tmp_path / "weights.pt"
    save_separator(QuerySeparator(SeparatorShape(query_dim=6, width=8, layers=1)), weights,
                   {"prototypes": {"piano": torch.zeros(6)}, "step": 3})  # fmt: skip
    before = weights.read_bytes()
    monkeypatch.setattr(fit_queries, "collect", lambda *args: {"piano": _data(20, True)})

    def cut_short(obj: object, path: Path, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # Ctrl-C while the file is written

    monkeypatch.setattr(torch, "save", cut_short)
    with pytest.raises(KeyboardInterrupt):
        main(["--weights", str(weights), "--corpus", str(tmp_path), "--out", str(weights),
              "--min-stems", "5", "--threads", "1"])  # fmt: skip
    assert weights.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["weights.pt"]  # nothing half-written


def test_the_folds_follow_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--seed`` draws the cross-validation's folds too, not only the mixes."""
    x, y = _data(60, learnable=True)
    errors = {cross_validate(x, y, seed)[1] for seed in range(4)}
    assert len(errors) > 1  # other folds, other errors: the seed matters
    torch.manual_seed(0)
    weights = tmp_path / "weights.pt"
    save_separator(QuerySeparator(SeparatorShape(query_dim=6, width=8, layers=1)), weights,
                   {"prototypes": {"piano": torch.zeros(6)}})  # fmt: skip
    monkeypatch.setattr(fit_queries, "collect", lambda *args: {"piano": (x, y)})
    seeds = []

    def recorded(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float]:
        seeds.append(seed)
        return cross_validate(x, y, seed)

    monkeypatch.setattr(fit_queries, "cross_validate", recorded)
    for seed in ("0", "7"):
        main(["--weights", str(weights), "--corpus", str(tmp_path), "--out",
              str(tmp_path / f"fitted{seed}.pt"), "--min-stems", "5", "--threads", "1",
              "--seed", seed])  # fmt: skip
    assert seeds == [0, 7]


def test_weights_or_a_corpus_it_cannot_use_are_one_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "fitted.pt"
    args = ["--corpus", str(tmp_path / "corpus"), "--out", str(out), "--threads", "1"]
    with pytest.raises(SystemExit, match=r"weights are missing: .*nope\.pt does not exist"):
        main(["--weights", str(tmp_path / "nope.pt"), *args])
    torch.manual_seed(0)
    net = QuerySeparator(SeparatorShape(query_dim=6, width=8, layers=1))
    save_separator(net, tmp_path / "bare.pt", {"step": 3})
    with pytest.raises(SystemExit, match=r"bare\.pt holds no prototypes"):
        main(["--weights", str(tmp_path / "bare.pt"), *args])
    save_separator(net, tmp_path / "weights.pt", {"prototypes": {"piano": torch.zeros(6)}})
    (tmp_path / "corpus").mkdir()  # no songs: nothing to fit, rather than a file of no fits
    with pytest.raises(SystemExit, match=r"corpus: no training song with cached queries"):
        main(["--weights", str(tmp_path / "weights.pt"), *args])
    assert not out.exists()


@pytest.mark.slow
def test_the_fits_go_into_the_weights_file(corpus: Path, tmp_path: Path, capsys) -> None:
    tiny = TrainConfig(steps=2, batch=2, seconds=1.0, width=32, layers=1, checkpoint_every=2,
                       valid_every=2, valid_examples=2)  # fmt: skip
    weights = train(corpus, tmp_path / "run", tiny)
    net, extra = load_separator(weights)
    rows = collect(net, extra["prototypes"], corpus, seed=0)
    songs = split_songs(corpus)[0]
    assert rows and all(x.shape[1] == FEATURES and y.shape[1] == net.query_mean.shape[0]
                        for x, y in rows.values())  # fmt: skip
    assert sum(len(x) for x, _ in rows.values()) >= len(songs)  # every stem, once a prototype
    again = collect(net, extra["prototypes"], corpus, seed=0)
    for key, (x, y) in rows.items():  # the same seed, the same mixes
        np.testing.assert_array_equal(again[key][0], x)
        np.testing.assert_array_equal(again[key][1], y)
    out = tmp_path / "fitted.pt"
    main(["--weights", str(weights), "--corpus", str(corpus), "--out", str(out),
          "--min-stems", "3", "--threads", "1"])  # fmt: skip
    said = capsys.readouterr().out
    assert f"wrote {out}, sha256" in said
    for key, (x, _) in rows.items():
        assert f"{key}: {len(x)} stems" in said
    fitted, fitted_extra = load_separator(out)
    assert torch.equal(fitted.project.weight, net.project.weight)
    assert set(fitted_extra["query_fits"]) <= {k for k, (x, _) in rows.items() if len(x) >= 3}
    for data in fitted_extra["query_fits"].values():
        assert QueryFit.from_dict(data).bias.shape == net.query_mean.shape
    assert fitted_extra["prototypes"].keys() == extra["prototypes"].keys()


@pytest.mark.parametrize("least", ["0", "1"])
def test_too_few_stems_to_cross_validate_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], least: str
) -> None:
    """One stem cannot be cross-validated (it divided by zero after all the first looks)."""
    with pytest.raises(SystemExit) as refused:
        main(["--weights", str(tmp_path / "w.pt"), "--corpus", str(tmp_path), "--out",
              str(tmp_path / "o.pt"), "--min-stems", least])  # fmt: skip
    assert refused.value.code == 2
    assert f"--min-stems must be at least 2, not {least}" in capsys.readouterr().err


def test_stems_that_the_prototype_asks_for_exactly_get_no_fit(capsys) -> None:
    x, _ = _data(20, learnable=True)
    assert fit_all({"harp": (x, np.zeros((20, 6)))}, min_stems=2) == {}
    assert "harp: its stems are asked for by the prototype exactly" in capsys.readouterr().out
