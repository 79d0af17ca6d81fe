"""Tag words -> per-vocabulary tag states."""

import numpy as np
import pytest

from tagbox_gui.core.errors import TagError
from tagbox_gui.core.separation.tags import (
    TAG_GROUPS,
    check_contradictions,
    check_known,
    display_name,
    heard_targets,
    instrument_tags,
    resolve_targets,
    tag_group,
)
from tagbox_gui.core.types import TagState

MTAT = ("guitar", "piano", "drums", "beat", "classical", "vocal", "male vocal", "rock")
JAMENDO = ("genre---rock", "instrument---bass", "instrument---piano", "instrument---voice")


def test_instrument_names_map_across_vocabularies():
    assert instrument_tags("piano", "mtat", MTAT) == ("piano",)
    assert instrument_tags("Piano", "jamendo", JAMENDO) == ("instrument---piano",)
    assert instrument_tags("instrument---piano", "mtat", MTAT) == ("piano",)
    assert instrument_tags("bass", "jamendo", JAMENDO) == ("instrument---bass",)


def test_missing_tag_in_a_vocabulary_says_which_tagger_has_it():
    with pytest.raises(TagError, match=r"mtat taggers have no tag for 'bass'.*jamendo"):
        instrument_tags("bass", "mtat", MTAT)


def test_a_tag_of_another_vocabulary_says_which_tagger_has_it():
    """With several taggers a wanted tag must be in each vocabulary; one that is a tag of
    another (MTAT's 'beat', MTG-Jamendo's 'genre---rock') is not unknown: the error names
    the taggers that have it."""
    with pytest.raises(TagError, match=r"jamendo taggers have no tag for 'beat'.*mtat"):
        instrument_tags("beat", "jamendo", JAMENDO)
    with pytest.raises(TagError, match=r"mtat taggers have no tag for 'Genre---Rock'.*jamendo"):
        instrument_tags("Genre---Rock", "mtat", MTAT)
    with pytest.raises(TagError, match="unknown tag 'xyzzy'"):
        instrument_tags("xyzzy", "jamendo", JAMENDO)


def test_unknown_word_suggests_nearest():
    with pytest.raises(TagError, match=r"unknown tag 'pianno'.*'piano'"):
        instrument_tags("pianno", "mtat", MTAT)
    with pytest.raises(TagError, match="unknown tag 'xyzzy'"):
        check_known(("xyzzy",), {"mtat": MTAT})


def test_default_states_avoid_everything_not_wanted():
    t = resolve_targets("mtat", MTAT, ("piano",))
    assert t.wanted == ("piano",)
    np.testing.assert_array_equal(t.target, [0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(t.weight, np.ones(8))


def test_balanced_weights_give_wanted_and_avoided_tags_equal_halves():
    t = resolve_targets("mtat", MTAT, ("piano",), ignore=("rock",), balanced=True)
    weight = t.weight
    assert weight[MTAT.index("rock")] == 0.0  # ignored stays out
    assert weight.sum() == pytest.approx(7.0)  # the same total as one per tag in the loss
    assert weight[MTAT.index("piano")] == pytest.approx(3.5)
    assert weight[t.target == 0].sum() == pytest.approx(3.5)  # six avoided tags share half
    np.testing.assert_allclose(weight[[0, 2, 3, 4, 5, 6]], 3.5 / 6)
    # Nothing avoided: nothing to balance against, every wanted tag weighs one.
    lone = resolve_targets("mtat", MTAT, ("piano", "drums"), avoid_others=False, balanced=True)
    assert lone.weight.sum() == 2.0 and lone.weight.max() == 1.0


def test_explicit_ignore_avoid_and_related():
    t = resolve_targets("mtat", MTAT, ("drums",), ignore=("rock",), avoid_others=False)
    states = dict(zip(MTAT, t.states, strict=True))
    assert states["drums"] is TagState.WANTED
    assert states["rock"] is TagState.IGNORED and states["piano"] is TagState.IGNORED
    t = resolve_targets("mtat", MTAT, ("drums",), avoid=("piano",), ignore_related=True)
    states = dict(zip(MTAT, t.states, strict=True))
    assert states["beat"] is TagState.IGNORED  # related to drums
    assert states["piano"] is TagState.AVOIDED and states["guitar"] is TagState.AVOIDED
    assert t.weight.sum() == len(MTAT) - 2  # beat and rock are related to drums


def test_an_example_is_steered_towards_what_the_tagger_hears_in_it():
    heard = np.array([0.9, 0.2, 0.6, 0.7, 0.55, 0.1, 0.05, 0.8], dtype=np.float32)
    t = heard_targets("mtat", MTAT, heard, avoid=("drums",), ignore=("rock",))
    expected = heard.copy()
    expected[MTAT.index("drums")] = 0.0  # avoided: wanted absent, however loud in the example
    np.testing.assert_array_equal(t.target, expected)
    np.testing.assert_array_equal(t.weight, [1, 1, 1, 1, 1, 1, 1, 0])  # rock ignored
    # the meters show the tags heard most (at least 0.5, three at most), never drums or rock
    assert [MTAT[i] for i in t.shown] == ["guitar", "beat", "classical"]
    quiet = heard_targets("mtat", MTAT, np.full(8, 0.1) + np.eye(8)[1] * 0.2)
    assert [MTAT[i] for i in quiet.shown] == ["piano"]  # nothing likely: the one heard most
    assert resolve_targets("mtat", MTAT, ("piano", "rock")).shown == (1, 7)  # the wanted tags
    with pytest.raises(ValueError, match="8"):
        heard_targets("mtat", MTAT, heard[:5])


def test_vocals_preset_wants_every_vocal_tag():
    t = resolve_targets("mtat", MTAT, ("vocals",))
    assert set(t.wanted) == {"vocal", "male vocal"}


def test_groups_and_display_names():
    assert tag_group("instrument---piano") == "instruments"
    assert tag_group("piano") == "instruments"
    assert tag_group("male vocal") == "voice"
    assert tag_group("genre---rock") == "genre"
    assert tag_group("mood/theme---happy") == "mood"
    assert tag_group("00s") == "genre"
    assert all(tag_group(t) in TAG_GROUPS for t in MTAT + JAMENDO)
    assert display_name("instrument---piano") == "piano"


def test_words_contradict_only_where_a_tagger_hears_them_as_one_tag():
    mtat = {"mtat": MTAT}
    check_contradictions(("vocal",), ("male vocal",), (), mtat)  # two tags: keep one voice
    check_contradictions(("piano",), (), ("guitar",), {"mtat": MTAT, "jamendo": JAMENDO})
    with pytest.raises(
        TagError,
        match=r"'vocal' \(wanted\) and 'male vocal' \(avoided\) are "
        r"both instrument---voice to the jamendo taggers",
    ):
        check_contradictions(("vocal",), ("male vocal",), (), {"mtat": MTAT, "jamendo": JAMENDO})
    with pytest.raises(TagError, match=r"'piano' \(wanted\) and 'keys' \(ignored\) are both piano"):
        check_contradictions(("piano",), (), ("keys",), mtat)
    with pytest.raises(TagError, match="'Rock' is both avoided and ignored, a contradiction"):
        check_contradictions((), ("Rock",), ("rock",), mtat)
    for taggers in (mtat, {}):  # a word no tagger knows, or no tagger at all: still one word
        with pytest.raises(TagError, match="'organ' is both wanted and avoided"):
            check_contradictions(("organ",), ("Organ",), (), taggers)
