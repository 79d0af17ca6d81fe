"""The renderer: a tiny TimGM6mb corpus has the stated layout, and a second run resumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.families import BAND_FAMILIES
from training.render import RenderSettings, build_index, main, render_corpus
from training.soundfonts import BUNDLE_ENV, read_presets, sound_font_path, write_bundle

SECONDS = 2.0
RATE = 22050


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fluidsynth: str, timgm6mb: Path) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    settings = RenderSettings(out, SECONDS, seed=5, soundfonts=("timgm6mb",), fluidsynth=fluidsynth)
    assert render_corpus(settings, n_songs=2) == []
    return out


def test_preset_table_of_timgm6mb(timgm6mb: Path):
    presets = read_presets(timgm6mb)
    assert all((0, p) in presets for p in range(128))
    assert (128, 0) in presets


def test_layout_and_meta(corpus: Path):
    songs = sorted(p.name for p in (corpus / "songs").iterdir())
    assert songs == ["s5-000000", "s5-000001"]
    for song in songs:
        folder = corpus / "songs" / song
        assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "stems.npy"]
        stems = np.load(folder / "stems.npy")
        meta = json.loads((folder / "meta.json").read_text())
        assert stems.dtype == np.int16
        assert stems.shape == (len(meta["stems"]), round(SECONDS * RATE))
        assert len(meta["stems"]) + len(meta["dropped"]) >= 3
        peaks = np.abs(stems.astype(np.int32)).max(axis=1) / 32768
        assert np.allclose(peaks, 0.9, atol=1e-3)
        assert meta["id"] == song and meta["seed"] == 5 and meta["soundfont"] == "timgm6mb"
        assert 70 <= meta["tempo"] <= 160 and meta["key"].split()[1] in ("major", "minor")
        families = [s["family"] for s in meta["stems"]]
        assert len(set(families)) == len(families)
        for k, stem in enumerate(meta["stems"]):
            assert {"name", "family", "program", "role", "rms_db_per_second"} <= set(stem)
            levels = stem["rms_db_per_second"]
            assert len(levels) == 2
            x = stems[k, :RATE].astype(np.float64) / 32768
            assert levels[0] == pytest.approx(20 * np.log10(np.sqrt(np.mean(x**2))), abs=0.01)
            assert max(levels) > -60


def test_index_lists_every_song(corpus: Path):
    index = json.loads((corpus / "index.json").read_text())
    assert index["n_songs"] == 2 and [m["id"] for m in index["songs"]] == ["s5-000000", "s5-000001"]
    assert index["soundfonts"] == {"timgm6mb": 2}
    assert main(["--index-only", "--out", str(corpus)]) == 0


def test_resume_skips_done_songs_and_redoes_unfinished_ones(corpus: Path, fluidsynth: str):
    settings = RenderSettings(
        corpus, SECONDS, seed=5, soundfonts=("timgm6mb",), fluidsynth=fluidsynth
    )
    done, redo = corpus / "songs" / "s5-000000", corpus / "songs" / "s5-000001"
    stamp = (done / "stems.npy").stat().st_mtime_ns
    before = np.load(redo / "stems.npy")
    (redo / "meta.json").unlink()  # as if interrupted between the two files
    assert render_corpus(settings, n_songs=2) == []
    assert (done / "stems.npy").stat().st_mtime_ns == stamp
    assert (redo / "meta.json").is_file()
    assert np.array_equal(np.load(redo / "stems.npy"), before)  # rendering is deterministic
    assert not list(corpus.rglob("*.tmp"))
    assert build_index(corpus)["n_songs"] == 2


def test_a_resumed_render_removes_the_temporaries_a_kill_left_and_nothing_else(
    tmp_path: Path, fluidsynth: str, timgm6mb: Path
):
    """A kill while a song's file (or the index) is written leaves its hidden temporary, which
    the next run wrote beside, never over: it stayed for good."""
    settings = RenderSettings(tmp_path, 1.0, 5, ("timgm6mb",), fluidsynth)
    folder = tmp_path / "songs" / "s5-000000"
    folder.mkdir(parents=True)
    left = {
        folder: [".stems.npy.0123456789ab.part", ".meta.json.a1b2c3d4e5f6.part"],
        tmp_path: [".index.json.0123456789ab.part", ".corpus.json.0123456789ab.part"],
    }
    kept = {folder: [".stems.npy.0123456789AB.part", ".stems.npy.0123456789a.part",
                     ".stems.npy.part", ".stems.npy.tmp", ".other.npy.0123456789ab.part",
                     "notes.txt"],
            tmp_path: [".index.json.0123456789abc.part"]}  # fmt: skip
    for where, names in (*left.items(), *kept.items()):
        for name in names:
            (where / name).write_bytes(b"x")
    assert render_corpus(settings, n_songs=1) == []
    song_files, corpus_files = ["meta.json", "stems.npy"], ["corpus.json", "index.json", "songs"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*kept[folder], *song_files])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept[tmp_path], *corpus_files])


def test_resume_refuses_other_settings(corpus: Path, fluidsynth: str):
    settings = RenderSettings(corpus, 3.0, seed=5, soundfonts=("timgm6mb",), fluidsynth=fluidsynth)
    with pytest.raises(SystemExit, match="seconds"):
        render_corpus(settings, n_songs=1)
    band = RenderSettings(corpus, SECONDS, 5, ("timgm6mb",), fluidsynth, lineup="band")
    with pytest.raises(SystemExit, match="lineup"):
        render_corpus(band, n_songs=1)


def test_band_lineup_renders_the_five_band_families(tmp_path: Path, fluidsynth: str):
    settings = RenderSettings(tmp_path, SECONDS, 6, ("timgm6mb",), fluidsynth, lineup="band")
    assert render_corpus(settings, n_songs=1) == []
    meta = json.loads((tmp_path / "songs" / "s6-000000" / "meta.json").read_text())
    assert meta["lineup"] == "band"
    assert json.loads((tmp_path / "corpus.json").read_text())["lineup"] == "band"
    kept = [s["family"] for s in meta["stems"]] + [s["family"] for s in meta["dropped"]]
    assert sorted(kept) == sorted(BAND_FAMILIES)


def test_only_renders_the_songs_of_the_given_soundfonts(
    tmp_path: Path, fluidsynth: str, timgm6mb: Path, monkeypatch: pytest.MonkeyPatch
):
    """As on a machine with only TimGM6mb (a bundle of it) and the corpus's manifest: resuming
    looks up no other SoundFont, and the songs of the others keep their places, unrendered."""
    write_bundle(["timgm6mb"], tmp_path / "sf2")
    monkeypatch.setenv(BUNDLE_ENV, str(tmp_path / "sf2"))
    sound_font_path.cache_clear()
    out = tmp_path / "corpus"
    settings = RenderSettings(out, SECONDS, 7, ("timgm6mb", "opl3"), fluidsynth)
    out.mkdir()
    (out / "corpus.json").write_text(json.dumps(settings.identity()))
    try:
        with pytest.raises(FileNotFoundError, match="opl3"):
            settings.manifest()  # a new manifest would need OPL3's file
        assert render_corpus(settings, n_songs=4, only=("timgm6mb",)) == []
    finally:
        sound_font_path.cache_clear()
    index = json.loads((out / "index.json").read_text())
    assert [m["id"] for m in index["songs"]] == ["s7-000000", "s7-000002"]
    assert index["soundfonts"] == {"timgm6mb": 2}
    with pytest.raises(SystemExit, match="not in --soundfonts"):
        main(["--out", str(out), "--soundfonts", "timgm6mb,opl3", "--only", "csound"])


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_soundfont_that_does_not_load_fails_the_part_instead_of_playing_the_default(
    tmp_path: Path, fluidsynth: str, timgm6mb: Path, damage: str
) -> None:
    """FluidSynth reports a SoundFont it cannot load and, exit status 0, plays its default
    one (FluidR3 on Debian): the part must fail, never come back in another library's sound."""
    from training.compose import compose_song
    from training.soundfonts import read_presets
    from training.synth import render_part

    song = compose_song(0, 0, 2.0, read_presets(timgm6mb))
    part = song.parts[0]
    assert np.abs(render_part(part, song.tempo, 2.0, [timgm6mb], fluidsynth)).max() > 0.01
    broken = tmp_path / "TimGM6mb.sf2"
    if damage == "truncated":
        broken.write_bytes(timgm6mb.read_bytes()[:100_000])
    with pytest.raises(RuntimeError, match="fluidsynth failed"):
        render_part(part, song.tempo, 2.0, [broken], fluidsynth)
