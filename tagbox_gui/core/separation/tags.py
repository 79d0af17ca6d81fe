"""Tags: presets that map instrument names across vocabularies, tag groups, and loss targets.

Each tagger has a vocabulary of 50 tags (``core.nets.taggers.vocabulary``). A user names what they
want in their own words: an exact tag of a vocabulary (``instrument---piano``), or a preset /
instrument name (``piano``, ``vocals``) that this module maps onto every vocabulary. For every
tagger each tag is then WANTED (target 1), AVOIDED (target 0) or IGNORED (no loss).

A preset lists, per dataset, the tags that *are* the instrument (wanted) and the tags that merely
co-occur with it (``related``: e.g. ``beat`` for drums). By default every tag that is not wanted
is avoided, as in the paper; with ``ignore_related`` the related tags are left out of the loss
instead, so it never asks a tagger to hear drums and "no beat" at the same time. The targets
themselves, what the loss reads, are ``core.separation.targets``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tagbox_gui.core.errors import TagError
from tagbox_gui.core.separation.targets import HeardTargets, TagTargets
from tagbox_gui.core.types import TagState

JAMENDO_INSTRUMENT = "instrument---"
JAMENDO_GENRE = "genre---"
JAMENDO_MOOD = "mood/theme---"


@dataclass(frozen=True)
class Preset:
    """A named instrument: its tags in each dataset and the tags that go along with it."""

    name: str
    wanted: dict[str, tuple[str, ...]]
    related: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


_VOCAL_MTAT = (
    "vocal", "vocals", "singing", "voice", "male vocal", "female vocal", "male voice",
    "female voice",
)  # fmt: skip
_SINGER_MTAT = ("female", "male", "woman", "man", "opera", "choir", "choral")

PRESETS: tuple[Preset, ...] = (
    Preset(
        "Vocals",
        {
            "mtat": _VOCAL_MTAT,
            "jamendo": ("instrument---voice",),
            "msd": ("female vocalists", "male vocalists", "female vocalist"),
        },
        {"mtat": _SINGER_MTAT},
        aliases=("vocal", "voice", "voices", "singing", "singer", "vox"),
    ),
    Preset(
        "Piano",
        {"mtat": ("piano",), "jamendo": ("instrument---piano",)},
        {
            "mtat": ("classical", "classic", "solo", "harpsichord"),
            "jamendo": ("instrument---electricpiano", "instrument---keyboard"),
        },
        aliases=("keys", "grand piano"),
    ),
    Preset(
        "Strings",
        {"mtat": ("strings",), "jamendo": ("instrument---strings",)},
        {
            "mtat": ("violin", "cello", "classical", "classic", "harp"),
            "jamendo": ("instrument---violin", "genre---orchestral", "genre---classical"),
        },
        aliases=("string", "string section", "orchestra"),
    ),
    Preset(
        "Drums",
        {"mtat": ("drums",), "jamendo": ("instrument---drums",)},
        {
            "mtat": ("beat", "beats", "fast", "loud", "rock", "dance", "techno"),
            "jamendo": ("instrument---drummachine",),
        },
        aliases=("drum", "percussion", "drum kit", "kit"),
    ),
    Preset(
        "Guitar",
        {"mtat": ("guitar",), "jamendo": ("instrument---guitar",), "msd": ("guitar",)},
        {
            "mtat": ("rock", "country", "metal", "sitar"),
            "jamendo": ("instrument---acousticguitar", "instrument---electricguitar"),
        },
        aliases=("guitars", "acoustic guitar", "electric guitar"),
    ),
    Preset(
        "Bass",
        {"jamendo": ("instrument---bass",)},
        aliases=("bass guitar", "electric bass", "double bass"),
    ),
    Preset(
        "Violin",
        {"mtat": ("violin",), "jamendo": ("instrument---violin",)},
        {"mtat": ("strings", "classical", "classic"), "jamendo": ("instrument---strings",)},
        aliases=("violins", "fiddle"),
    ),
    Preset("Cello", {"mtat": ("cello",)}, {"mtat": ("strings", "classical", "classic")}),
    Preset("Flute", {"mtat": ("flute",)}, {"mtat": ("classical", "classic")}),
    Preset("Harp", {"mtat": ("harp",)}, {"mtat": ("strings", "classical", "classic")}),
    Preset("Harpsichord", {"mtat": ("harpsichord",)}, {"mtat": ("classical", "classic")}),
    Preset("Sitar", {"mtat": ("sitar",)}, {"mtat": ("indian",)}),
    Preset(
        "Synth",
        {"mtat": ("synth",), "jamendo": ("instrument---synthesizer",)},
        {
            "mtat": ("electronic", "techno", "dance"),
            "jamendo": ("instrument---computer", "instrument---keyboard"),
        },
        aliases=("synthesizer", "synths"),
    ),
)

_VOICE_TAGS = frozenset(_VOCAL_MTAT) | frozenset(_SINGER_MTAT) | {
    "no vocals", "no vocal", "no voice", "female vocalists", "male vocalists", "female vocalist",
    "instrument---voice",
}  # fmt: skip
_INSTRUMENT_TAGS = frozenset(
    {"guitar", "strings", "drums", "piano", "violin", "synth", "harpsichord", "flute", "sitar",
     "harp", "cello", "beat", "beats", "acoustic", "instrumental"}
)  # fmt: skip
_MOOD_TAGS = frozenset(
    {"slow", "fast", "ambient", "loud", "quiet", "soft", "weird", "beautiful", "Mellow", "chill",
     "sexy", "catchy", "party", "sad", "happy", "easy listening", "chillout"}
)  # fmt: skip
_GENRE_TAGS = frozenset(
    {"classical", "techno", "electronic", "rock", "indian", "opera", "pop", "classic", "new age",
     "dance", "country", "metal", "alternative", "indie", "00s", "alternative rock", "jazz",
     "classic rock", "soul", "indie rock", "electronica", "80s", "folk", "90s", "punk", "oldies",
     "blues", "hard rock", "experimental", "Hip-Hop", "70s", "funk", "electro", "heavy metal",
     "Progressive rock", "60s", "rnb", "indie pop", "House"}
)  # fmt: skip

TAG_GROUPS = ("instruments", "voice", "genre", "mood", "other")


def tag_group(tag: str) -> str:
    """The display group of a tag: one of :data:`TAG_GROUPS`."""
    if tag in _VOICE_TAGS:
        return "voice"
    if tag.startswith(JAMENDO_INSTRUMENT) or tag in _INSTRUMENT_TAGS:
        return "instruments"
    if tag.startswith(JAMENDO_GENRE) or tag in _GENRE_TAGS:
        return "genre"
    if tag.startswith(JAMENDO_MOOD) or tag in _MOOD_TAGS:
        return "mood"
    return "other"


def display_name(tag: str) -> str:
    """A tag as a musician reads it (``instrument---piano`` -> ``piano``)."""
    return tag.rpartition("---")[2]


def find_preset(word: str) -> Preset | None:
    """The preset a word names (its name or an alias, any case), or None."""
    key = word.strip().lower()
    for preset in PRESETS:
        if key == preset.name.lower() or key in preset.aliases:
            return preset
    return None


def instrument_tags(word: str, dataset: str, vocabulary: tuple[str, ...]) -> tuple[str, ...]:
    """The tags of ``vocabulary`` (of ``dataset``) that a word stands for.

    An exact tag (any case) stands for itself, unless it is the wanted tag of a preset whose
    other datasets are asked about. A preset or instrument name stands for its wanted tags.
    Raises TagError when the word is unknown (with the nearest valid names) or when this
    vocabulary has nothing for it.
    """
    by_lower = {t.lower(): t for t in vocabulary}
    key = word.strip().lower()
    if key in by_lower:
        return (by_lower[key],)
    preset = find_preset(word) or _preset_of_tag(key)
    if preset is None:
        elsewhere = _datasets_with_tag(key, dataset)
        if elsewhere:
            raise TagError(
                f"the {dataset} taggers have no tag for '{word}'; choose a tagger trained on "
                f"{' or '.join(elsewhere)} (e.g. fcn/{elsewhere[0]})"
            )
        raise TagError(_unknown_message(word, vocabulary))
    tags = preset.wanted.get(dataset, ())
    if not tags:
        has = sorted(d for d, t in preset.wanted.items() if t)
        raise TagError(
            f"the {dataset} taggers have no tag for '{word}'; choose a tagger trained on "
            f"{' or '.join(has)} (e.g. fcn/{has[0]})"
        )
    return tags


def _datasets_with_tag(key: str, dataset: str) -> list[str]:
    """The datasets other than ``dataset`` whose vocabulary has the tag ``key`` (lower case)."""
    from tagbox_gui.core.nets.taggers import DATASETS, vocabulary  # imports torch: only here

    return [d for d in DATASETS
            if d != dataset and key in (t.lower() for t in vocabulary(d))]  # fmt: skip


def _preset_of_tag(key: str) -> Preset | None:
    for preset in PRESETS:
        for tags in preset.wanted.values():
            if key in (t.lower() for t in tags):
                return preset
    return None


_CLOSE = 0.75
"""How alike (difflib's ratio) a name must be to be suggested: a typo ('pianno', 'drumz',
'guitr') is, another instrument ('banjo' and 'piano': 0.6) is not."""


def did_you_mean(word: str, names: list[str]) -> str:
    """`` (did you mean 'x', 'y'?)`` for the up to three of ``names`` that look like a typo of
    ``word`` (see :data:`_CLOSE`), or '' when none does."""
    close = difflib.get_close_matches(word.strip().lower(), names, n=3, cutoff=_CLOSE)
    return f" (did you mean {', '.join(repr(c) for c in dict.fromkeys(close))}?)" if close else ""


def _unknown_message(word: str, vocabulary: tuple[str, ...]) -> str:
    names = [*vocabulary, *(p.name.lower() for p in PRESETS)]
    names += [display_name(t) for t in vocabulary]
    return (f"unknown tag '{word}'{did_you_mean(word, names)}; the chosen taggers have no tag or "
            "instrument of that name (`tagbox tags` lists them)")  # fmt: skip


def heard_targets(
    dataset: str,
    vocabulary: tuple[str, ...],
    heard: np.ndarray,
    avoid: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
) -> HeardTargets:
    """Targets that steer towards ``heard`` (one probability per tag of ``vocabulary``, what a
    tagger of ``dataset`` hears in an example), with the tags of the ``avoid`` and ``ignore``
    words (those the vocabulary lacks are skipped, as in :func:`resolve_targets`)."""
    if len(heard) != len(vocabulary):
        raise ValueError(f"{len(heard)} probabilities for a vocabulary of {len(vocabulary)}")
    return HeardTargets(
        vocabulary,
        tuple(float(p) for p in heard),
        _tags_of(avoid, dataset, vocabulary),
        _tags_of(ignore, dataset, vocabulary),
    )


def resolve_targets(
    dataset: str,
    vocabulary: tuple[str, ...],
    wanted: tuple[str, ...],
    avoid: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
    avoid_others: bool = True,
    ignore_related: bool = False,
    balanced: bool = False,
) -> TagTargets:
    """Tag states for one vocabulary from the user's words.

    Wanted words must exist in this vocabulary (TagError otherwise). Every other tag is avoided
    when ``avoid_others`` (the paper's setting), else ignored; with ``ignore_related`` the tags
    related to a wanted preset are ignored. Explicit ``avoid`` / ``ignore`` words override that
    default; those a vocabulary lacks are skipped for it (the caller checks them against all
    vocabularies with :func:`check_known`). ``balanced`` weighs the wanted and the avoided tags
    equally in total (:attr:`TagTargets.weight`).
    """
    if not wanted:
        raise TagError("no wanted tag given; name at least one, e.g. --tags piano")
    default = TagState.AVOIDED if avoid_others else TagState.IGNORED
    states = dict.fromkeys(vocabulary, default)
    for word in wanted if ignore_related else ():
        preset = find_preset(word) or _preset_of_tag(word.strip().lower())
        for tag in preset.related.get(dataset, ()) if preset else ():
            states[tag] = TagState.IGNORED
    for words, state in ((avoid, TagState.AVOIDED), (ignore, TagState.IGNORED)):
        for word in words:
            for tag in _optional_tags(word, dataset, vocabulary):
                states[tag] = state
    for word in wanted:
        for tag in instrument_tags(word, dataset, vocabulary):
            states[tag] = TagState.WANTED
    return TagTargets(dataset, vocabulary, tuple(states[t] for t in vocabulary), balanced)


def _tags_of(words: tuple[str, ...], dataset: str, vocabulary: tuple[str, ...]) -> frozenset[str]:
    return frozenset(t for w in words for t in _optional_tags(w, dataset, vocabulary))


def _optional_tags(word: str, dataset: str, vocabulary: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return instrument_tags(word, dataset, vocabulary)
    except TagError:
        return ()


def check_contradictions(
    wanted: tuple[str, ...],
    avoid: tuple[str, ...],
    ignore: tuple[str, ...],
    vocabularies: Mapping[str, tuple[str, ...]],
) -> None:
    """TagError for a tag of ``vocabularies`` (dataset -> tags) that the words ask to be two of
    wanted, avoided and ignored.

    Words a vocabulary hears as one tag contradict (``keys`` is ``piano``); words it hears
    apart do not (mtat's ``female vocal`` and ``male vocal``; jamendo hears both as
    ``instrument---voice``). A word a vocabulary lacks is skipped for it; the same word in
    two lists contradicts whatever the vocabularies.
    """
    said: dict[str, tuple[str, str]] = {}
    for words, state in ((wanted, "wanted"), (avoid, "avoided"), (ignore, "ignored")):
        for word in words:
            first, first_state = said.setdefault(word.strip().lower(), (word, state))
            if first_state != state:
                raise TagError(f"'{first}' is both {first_state} and {state}, a "
                               "contradiction; name it in one list only")  # fmt: skip
    for dataset, vocabulary in vocabularies.items():
        seen: dict[str, tuple[str, str]] = {}
        for words, state in ((wanted, "wanted"), (avoid, "avoided"), (ignore, "ignored")):
            for word in words:
                for tag in _optional_tags(word, dataset, vocabulary):
                    first, first_state = seen.setdefault(tag, (word, state))
                    if first_state == state:
                        continue
                    raise TagError(f"'{first}' ({first_state}) and '{word}' ({state}) are both "
                                   f"{tag} to the {dataset} taggers, a contradiction; keep "
                                   "one of them, or choose other taggers")  # fmt: skip


def check_known(words: tuple[str, ...], vocabularies: dict[str, tuple[str, ...]]) -> None:
    """Raise TagError for a word that no vocabulary or preset knows."""
    for word in words:
        if find_preset(word) or any(
            word.strip().lower() in (t.lower() for t in vocab) for vocab in vocabularies.values()
        ):
            continue
        union = tuple(t for vocab in vocabularies.values() for t in vocab)
        raise TagError(_unknown_message(word, union))
