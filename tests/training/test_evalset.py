"""Evaluation sets written from a corpus: the layout of shared/eval/dev, balanced levels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.core.evaluation.sets import check_set
from training.corpus import SAMPLE_RATE, split_songs
from training.evalset import PEAK_DB, main, write_set

N = SAMPLE_RATE  # one second per stem


def _song(root: Path, song: str, families: list[str], rng: np.random.Generator) -> None:
    folder = root / "songs" / song
    folder.mkdir(parents=True)
    gains = np.linspace(0.02, 0.6, len(families))  # very unequal levels as rendered
    stems = [(g * rng.standard_normal(N)).clip(-1, 1) * 32767 for g in gains]
    np.save(folder / "stems.npy", np.asarray(stems, dtype=np.int16))
    meta = {"soundfont": "timgm6mb", "stems": [{"family": f} for f in families]}
    (folder / "meta.json").write_text(json.dumps(meta))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "corpus"
    for i in range(40):
        _song(root, f"s0-{i:06d}", ["bass", "organ", "drums", "piano"], rng)
    _song(root, "s0-000100", ["organ", "reed"], rng)  # no band family: skipped
    _song(root, "s0-000101", ["piano"], rng)  # one stem: skipped
    return root


def test_set_has_the_dev_layout_and_balanced_levels(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    songs = ["s0-000000", "s0-000001", "s0-000100", "s0-000101"]
    manifest = write_set(corpus, out, songs, spread_db=6.0)
    assert [e["id"] for e in manifest["songs"]] == ["s0-000000", "s0-000001"]
    assert check_set(out) == [(s, ("bass", "drums", "piano")) for s in songs[:2]]
    entry = manifest["songs"][0]
    assert entry["others"] == ["organ"]
    mix, rate = sf.read(out / "s0-000000" / "mix.flac", dtype="int16")
    assert rate == SAMPLE_RATE
    assert 20 * np.log10(np.max(np.abs(mix)) / 32768) == pytest.approx(PEAK_DB, abs=0.01)
    stems = {f: sf.read(out / "s0-000000" / "stems" / f"{f}.flac", dtype="int16")[0]
             for f in ("bass", "drums", "piano")}  # fmt: skip
    rest = mix.astype(np.int32) - sum(s.astype(np.int32) for s in stems.values())
    rms = {f: np.sqrt(np.mean(np.square(s.astype(np.float64)))) for f, s in stems.items()}
    rms["organ"] = np.sqrt(np.mean(np.square(rest.astype(np.float64))))
    offsets = entry["level_offset_db"]
    assert all(abs(o) <= 3.0 for o in offsets.values())
    for f in ("drums", "piano", "organ"):  # the drawn offsets, not the rendered levels
        measured = 20 * np.log10(rms[f] / rms["bass"])
        assert measured == pytest.approx(offsets[f] - offsets["bass"], abs=0.05)


def test_same_seed_same_set_and_cli_takes_the_validation_side(corpus: Path, tmp_path: Path):
    assert main(["--corpus", str(corpus), "--out", str(tmp_path / "a")]) == 0
    assert main(["--corpus", str(corpus), "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "manifest.json").read_text())
    b = json.loads((tmp_path / "b" / "manifest.json").read_text())
    valid = [s for s in split_songs(corpus)[1] if s not in ("s0-000100", "s0-000101")]
    assert [e["id"] for e in a["songs"]] == valid and a["songs"] == b["songs"]
    assert (
        main(["--corpus", str(corpus), "--out", str(tmp_path / "c"), "--all", "--seed", "1"]) == 0
    )
    c = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert len(c["songs"]) == 40
    first = {e["id"]: e for e in c["songs"]}[a["songs"][0]["id"]]
    assert first["level_offset_db"] != a["songs"][0]["level_offset_db"]


def test_no_usable_song_is_an_error(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="band family"):
        write_set(corpus, tmp_path / "set", ["s0-000100"])


def test_a_set_stopped_half_way_holds_whole_songs_and_no_manifest(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "set"
    songs = ["s0-000000", "s0-000001", "s0-000002"]
    write_set(corpus, out, songs)  # a set written before, which a second run writes over
    before = (out / "s0-000001" / "mix.flac").read_bytes()
    write = sf.write
    calls = []

    def stopped(*args: object, **kwargs: object) -> None:
        calls.append(args[0])
        if len(calls) == 6:  # the second song's first stem, after its mixture
            raise KeyboardInterrupt
        write(*args, **kwargs)

    monkeypatch.setattr(sf, "write", stopped)
    with pytest.raises(KeyboardInterrupt):
        write_set(corpus, out, songs, seed=1)
    monkeypatch.setattr(sf, "write", write)
    assert sorted(p.name for p in out.iterdir()) == songs  # no manifest, nothing half-written
    assert (out / "s0-000001" / "mix.flac").read_bytes() == before  # as it was, whole
    assert check_set(out) == [(s, ("bass", "drums", "piano")) for s in songs]


def test_the_command_refuses_what_it_cannot_use_in_one_line(corpus: Path, tmp_path: Path) -> None:
    """A --out that is a file, or a corpus none of whose songs plays a band family, stopped
    the command with a traceback."""
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SystemExit) as exited:
        main(["--corpus", str(corpus), "--out", str(tmp_path / "file"), "--all"])
    assert "is a file, not a folder" in str(exited.value.code)
    assert (tmp_path / "file").read_text() == "not a folder"
    _song(tmp_path / "unbanded", "s0-000000", ["organ", "reed"], np.random.default_rng(0))
    with pytest.raises(SystemExit) as exited:
        main(["--corpus", str(tmp_path / "unbanded"), "--out", str(tmp_path / "set"), "--all"])
    message = str(exited.value.code)
    assert message == f"{tmp_path / 'unbanded'}: none of the 1 songs plays a band family"
    (tmp_path / "old").mkdir()  # a set written before: refused, it keeps its manifest
    (tmp_path / "old" / "manifest.json").write_text("{}")
    with pytest.raises(SystemExit):
        main(["--corpus", str(tmp_path / "unbanded"), "--out", str(tmp_path / "old"), "--all"])
    assert (tmp_path / "old" / "manifest.json").read_text() == "{}"
