"""File names of stems: a template with the fields ``{song}`` and ``{stem}``.

:data:`DEFAULT_TEMPLATE`, ``"{song} - {stem}"``, names ``Song - piano`` and ``Song - no piano``.
Names are made safe for Windows, macOS and Linux (never hidden by a leading dot), kept within
file-system limits, and never shared by two stems of one export.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence

from tagbox_gui.core.errors import AudioError

_MAX_NAME_BYTES = 200  # file names stay well below the 255-byte limit of common file systems
_MAX_SONG_BYTES = _MAX_NAME_BYTES // 2  # the song's name leaves the rest to what the stem holds
_MAX_FILE_BYTES = 255 - len(".flac")  # beyond this not even a template's own text fits a name
_ILLEGAL = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f\udc80-\udcff]')  # Windows' set covers macOS
# and Linux too; \udc80-\udcff are the bytes of a file name that is not UTF-8 ("caf\xe9.wav")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)
# (Windows reserves COM¹, COM², COM³, LPT¹, LPT² and LPT³ too)


DEFAULT_TEMPLATE = "{song} - {stem}"
"""How stem files are named. ``{song}`` is the song's file name without its extension;
``{stem}`` is what the stem holds: ``piano``, ``drums + bass``, ``no piano``, ``no drums + bass``
(the residual, or the rest of several stems)."""

TEMPLATE_FIELDS = ("song", "stem")
"""The fields a name template may use."""

AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                    ".aifc", ".w64", ".rf64", ".caf")  # fmt: skip
"""File name endings, in lower case, of the audio formats the app reads (libsndfile's): what
the Open dialog offers, what a name with spaces typed without quotes is recognised by, and
what a name template may not end in (the export format adds its own)."""


def check_template(template: str) -> None:
    """AudioError (one sentence) unless stems can be named by ``template``.

    It may use the fields ``{song}`` and ``{stem}`` (no format spec or conversion; a brace
    itself is written ``{{`` or ``}}``) and no folder separator (a stem is written in the output
    folder itself), and it must give a separated stem and its residual names of their own, short
    enough for a file system (its own text under about 250 bytes). Whether
    the stems of a given song and given names all differ depends on those names too:
    :func:`stem_names` and :func:`shared_stem_names` check it.
    """
    stem_names("song", ["stem"], template=template)


def stem_names(
    song_name: str, tags: Iterable[str], *, template: str = DEFAULT_TEMPLATE
) -> tuple[str, str]:
    """File names (without extension) of the separated stem and the residual.

    With the default template: ``("<song> - a + b", "<song> - no a + b")``. Characters that
    Windows, macOS or Linux refuse in a file name are replaced by ``_``; the song's name and the
    tag part are shortened (with an ellipsis) so the name stays within file-system limits.
    AudioError for a template that :func:`check_template` refuses, or that gives a stem an empty
    name or one too long for a file name (its own text alone too long).
    """
    fields = _template_fields(template)
    song = _song_field(song_name, fields.count("song"))
    label = _stem_label(tags, song, template, fields.count("stem"))
    names = (_name(template, song, label), _name(template, song, f"no {label}"))
    _refuse_same_names(names, template)
    return names


def shared_stem_names(
    song_name: str, names: Sequence[str], *, template: str = DEFAULT_TEMPLATE
) -> list[str]:
    """File names (without extension) :func:`export_shared_stems` writes: one stem per name, then
    the rest (``{stem}`` is ``no a + b + ...``). AudioError as for :func:`stem_names`, and if two
    of the stems would share a name (names that differ only in case count as one: some file
    systems do not tell them apart)."""
    stems = [stem_names(song_name, [name], template=template)[0] for name in names]
    every = [*stems, stem_names(song_name, list(names), template=template)[1]]
    _refuse_same_names(every, template)
    return every


def _template_fields(template: str) -> list[str]:
    """The fields ``template`` uses, in order; AudioError for anything :func:`check_template`
    refuses but a name shared by two stems."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:  # Python's words ("Single '}' encountered in format string") mean little
        raise AudioError(
            f"the name template '{template}' has a brace that opens or closes no field; write "
            "the fields as {song} and {stem}, and a brace itself as {{ or }}."
        ) from None
    fields = []
    for literal, field, spec, conversion in parts:
        if "/" in literal or "\\" in literal:
            raise AudioError(
                f"the name template '{template}' has a folder separator in it, but "
                "a stem is written in the output folder itself; leave out / and \\."
            )
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS or spec or conversion:
            whole = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise AudioError(
                f"the name template '{template}' has the field '{{{whole}}}', which "
                "it does not know; use {song} and {stem} only."
            )
        fields.append(field)
    ending = _sanitise(template).lower()  # as the name ends: "{stem}.wav " names "piano.wav"
    extension = next((e for e in AUDIO_EXTENSIONS if ending.endswith(e)), None)
    if extension is not None:  # "{stem}.wav" would name "piano.wav.wav"
        raise AudioError(
            f"the name template '{template}' ends in '{extension}', but the format adds the "
            "extension itself; leave it out."
        )
    return fields


def _song_field(song_name: str, uses: int) -> str:
    """The song's name as ``{song}``: shortened (with an ellipsis) to half of a name's budget,
    shared by its ``uses``, since a song's own file name may already be as long as file systems
    allow and the stems' names add to it."""
    song = _sanitise(song_name) or "song"
    return _shorten(song, max(8, _MAX_SONG_BYTES // max(1, uses)))


def _stem_label(tags: Iterable[str], song: str, template: str, uses: int) -> str:
    """The tags as the ``{stem}`` of a separated stem, short enough for the residual's name
    (``uses``: how often the template has ``{stem}``)."""
    label = _sanitise(" + ".join(t.strip() for t in tags if t.strip())) or "separated"
    fixed = len(template.format(song=song, stem="no ").encode())  # all but the label(s)
    return _shorten(label, max(8, (_MAX_NAME_BYTES - fixed - len(".flac")) // max(1, uses)))


def _name(template: str, song: str, label: str) -> str:
    # A leading dot would hide the stem (macOS, Linux): a song named ".take 3" gets "take 3 - ..."
    name = _not_reserved(_sanitise(template.format(song=song, stem=label)).lstrip(". "))
    if not name:
        raise AudioError(f"the name template '{template}' gives the stem '{label}' an empty "
                         "file name; put {stem} in it.")  # fmt: skip
    if len(name.encode()) > _MAX_FILE_BYTES:
        raise AudioError(f"the name template '{template[:40]}…' is too long for a file name; "
                         "shorten it.")  # fmt: skip
    return name


def _refuse_same_names(names: Sequence[str], template: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        first = seen.get(name.casefold())
        if first is None:
            seen[name.casefold()] = name
            continue
        if "stem" not in _template_fields(template):
            raise AudioError(f"the name template '{template}' has no {{stem}}, so all the "
                             "stems would have one name; put {stem} in it.")  # fmt: skip
        if first == name:
            raise AudioError(f"two stems would both be named '{name}'; name them differently.")
        raise AudioError(f"the stems '{first}' and '{name}' differ only in case, which some file "
                         "systems do not tell apart; name them differently.")  # fmt: skip


def _sanitise(text: str) -> str:
    return _ILLEGAL.sub("_", text).strip().rstrip(". ")


def _shorten(text: str, budget: int) -> str:
    if len(text.encode()) <= budget:
        return text
    while len((text + "…").encode()) > budget:
        text = text[:-1]
    return text.rstrip(". ") + "…"


def _not_reserved(name: str) -> str:
    return f"_{name}" if _RESERVED.match(name) else name
