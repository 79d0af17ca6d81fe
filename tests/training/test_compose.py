"""The composer: deterministic per (seed, index), every family often, parts in range and busy."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from training.compose import compose_song
from training.families import BAND_FAMILIES, FAMILIES, drum_kits, family_of_program
from training.midi import Note, separate_repeats
from training.music import comfortable_range

N_SONGS = 200


@pytest.fixture(scope="module")
def songs():
    return [compose_song(0, i, seconds=16.0) for i in range(N_SONGS)]


def test_same_seed_and_index_give_the_same_song():
    a, b = compose_song(7, 3), compose_song(7, 3)
    assert (a.tempo, a.key, a.progression) == (b.tempo, b.key, b.progression)
    assert [(p.family, p.program, p.role, p.style) for p in a.parts] == [
        (p.family, p.program, p.role, p.style) for p in b.parts
    ]
    assert [p.part.notes for p in a.parts] == [p.part.notes for p in b.parts]
    assert [p.part.controls for p in a.parts] == [p.part.controls for p in b.parts]


def test_other_index_or_seed_gives_another_song():
    notes = lambda s: [p.part.notes for p in s.parts]  # noqa: E731
    assert notes(compose_song(7, 3)) != notes(compose_song(7, 4))
    assert notes(compose_song(7, 3)) != notes(compose_song(8, 3))


def test_songs_have_3_to_7_parts_of_distinct_families(songs):
    for song in songs:
        families = [p.family for p in song.parts]
        assert 3 <= len(families) <= 7
        assert len(set(families)) == len(families)
        assert 70 <= song.tempo <= 160


def test_band_lineup_plays_the_five_band_families_once_each():
    for index in range(40):
        song = compose_song(3, index, lineup="band")
        assert sorted(p.family for p in song.parts) == sorted(BAND_FAMILIES)
        assert all(p.part.notes for p in song.parts)
    with pytest.raises(ValueError, match="line-up"):
        compose_song(3, 0, lineup="orchestra")


def test_every_family_appears_often_and_band_families_more(songs):
    counts = Counter(p.family for s in songs for p in s.parts)
    assert set(counts) == set(FAMILIES)
    assert min(counts.values()) >= 0.1 * N_SONGS
    assert 0.6 <= counts["drums"] / N_SONGS <= 0.8
    assert 0.7 <= counts["bass"] / N_SONGS <= 0.9
    others = [counts[f] for f in FAMILIES if f not in BAND_FAMILIES]
    for family in ("piano", "guitar", "strings"):
        assert counts[family] > max(others)


def test_programs_belong_to_their_family_and_notes_stay_in_range(songs):
    for song in songs:
        for p in song.parts:
            assert family_of_program(p.program, p.part.is_drum) == p.family
            assert p.part.is_drum == (p.family == "drums")
            if p.part.is_drum:
                continue
            lo, hi = comfortable_range(p.family, p.program)
            pitches = [n.pitch for n in p.part.notes]
            assert lo <= min(pitches) and max(pitches) <= hi, (p.family, p.program, p.role)


def test_parts_are_active_most_of_the_song(songs):
    busy = []
    for song in songs:
        bar_s = 240.0 / song.tempo
        n_bars = int(16.0 // bar_s)
        for p in song.parts:
            sounding = set()
            for n in p.part.notes:
                sounding.update(range(int(n.start // bar_s), int(n.end // bar_s) + 1))
            busy.append(len(sounding & set(range(n_bars))) / n_bars)
    assert min(busy) >= 0.5
    assert sum(busy) / len(busy) >= 0.9


def test_roles_and_velocities_vary(songs):
    roles = Counter(p.role for s in songs for p in s.parts)
    assert set(roles) == {"drums", "bass", "comp", "pad", "melody", "counter"}
    styles = Counter((p.role, p.style.split("/")[0]) for s in songs for p in s.parts)
    assert len([k for k in styles if k[0] == "drums"]) >= 6
    assert len([k for k in styles if k[0] == "bass"]) >= 5
    assert len([k for k in styles if k[0] == "comp"]) >= 6
    for p in songs[0].parts:
        assert len({n.velocity for n in p.part.notes}) > 3


def test_taxonomy_edges():
    assert family_of_program(47, False) is None  # timpani
    assert family_of_program(110, False) == "strings"  # fiddle
    assert family_of_program(109, False) == "reed"  # bagpipe
    assert family_of_program(111, False) == "reed"  # shanai
    assert family_of_program(104, False) == "plucked"
    assert family_of_program(0, True) == "drums"
    assert family_of_program(48, True) is None  # orchestra kit
    melodic = [p for f, ps in FAMILIES.items() if f != "drums" for p in ps]
    assert len(melodic) == len(set(melodic))
    assert drum_kits({(128, 0): "Standard"}) == (0,)
    assert drum_kits({(0, 0): "Piano"}) == (0,)


def test_composer_only_uses_presets_the_soundfont_has():
    presets = {(0, p): "x" for p in range(128) if p not in (24, 25, 26)} | {(128, 0): "Std"}
    for i in range(60):
        for p in compose_song(0, i, presets=presets).parts:
            assert (p.program == 0) if p.part.is_drum else (p.program not in (24, 25, 26))


def test_repeated_pitch_ends_before_its_next_onset():
    notes = [Note(60, 0.0, 1.0, 90), Note(60, 0.5, 1.5, 90), Note(64, 0.0, 2.0, 90)]
    out = separate_repeats(notes)
    first = next(n for n in out if n.pitch == 60)
    assert first.end <= 0.5 - 0.005 + 1e-9
    assert len(out) == 3


# The composition of 24 songs (12 mixed line-ups of seed 0, 12 band songs of seed 3), as the
# composer made them when the committed checkpoints' corpora were rendered.
COMPOSED_SHA256 = "a2853174f12971c768d4149331311b3b3242903e19f02f54839abb46b2b50aac"


def test_what_the_composer_writes_is_pinned():
    """Every corpus is re-rendered from its command on a new machine, and the committed
    checkpoints were trained on those corpora: what the composer writes must change only on
    purpose (then this digest is updated, and the change said)."""
    songs = [compose_song(seed, i, seconds=12.0, lineup=lineup)
             for seed, lineup in ((0, "mixed"), (3, "band")) for i in range(12)]  # fmt: skip
    rows = [
        [s.tempo, s.key, list(s.progression), round(s.beats_per_chord, 9), round(s.swing, 9),
         s.n_bars,
         [[p.family, p.program, p.role, p.style, sorted(p.part.controls.items()),
           [[n.pitch, round(n.start, 9), round(n.end, 9), n.velocity] for n in p.part.notes]]
          for p in s.parts]]
        for s in songs
    ]  # fmt: skip
    assert hashlib.sha256(json.dumps(rows).encode()).hexdigest() == COMPOSED_SHA256
