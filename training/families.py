"""The instrument taxonomy of the training corpus: General MIDI programs grouped in families.

A family is what a query asks for ("the bass", "the strings"). Fourteen families cover the
melodic General MIDI programs that a band or an orchestra plays, plus the drum kits.

Choices where the General MIDI groups do not match how a listener names the sound:

* ``strings`` is GM 40-46 and 48-51 (violin, viola, cello, contrabass, tremolo, pizzicato,
  harp, the two string ensembles, the two synth string sets) plus **110 fiddle**, which is a
  violin. 47 timpani is a drum, not a string instrument, and is left out.
* ``reed`` is GM 64-71 (saxophones, oboe, English horn, bassoon, clarinet) plus **109
  bagpipe** (a double-reed chanter over reed drones) and **111 shanai** (a double-reed oboe).
* ``plucked`` keeps only the plucked instruments of GM 104-111: sitar, banjo, shamisen, koto,
  kalimba (104-108).
* ``drums`` are channel-10 kits, named by their bank-128 preset number. Only the kits a band
  plays are used (standard, room, power, electronic, TR-808, jazz, brush); the orchestra kit
  (48) and the SFX kit (56) are not drums in this sense. :func:`drum_kits` keeps the kits a
  SoundFont actually has (read from its ``phdr`` preset table).

Left out altogether: 47 timpani, 55 orchestra hit, 96-103 synth effects and 112-127
(percussive instruments and sound effects).
"""

from __future__ import annotations

from collections.abc import Mapping

FAMILIES: dict[str, tuple[int, ...]] = {
    "piano": tuple(range(0, 8)),
    "chromatic_percussion": tuple(range(8, 16)),
    "organ": tuple(range(16, 24)),
    "guitar": tuple(range(24, 32)),
    "bass": tuple(range(32, 40)),
    "strings": (*range(40, 47), *range(48, 52), 110),
    "choir": (52, 53, 54),
    "brass": tuple(range(56, 64)),
    "reed": (*range(64, 72), 109, 111),
    "pipe": tuple(range(72, 80)),
    "synth_lead": tuple(range(80, 88)),
    "synth_pad": tuple(range(88, 96)),
    "plucked": tuple(range(104, 109)),
    "drums": (0, 8, 16, 24, 25, 32, 40),
}

#: The families that matter most (a band's core): drawn more often, by the composer and by the
#: mixture sampler.
BAND_FAMILIES: tuple[str, ...] = ("piano", "guitar", "bass", "drums", "strings")

DRUM_BANK = 128

_MELODIC: dict[int, str] = {
    program: family
    for family, programs in FAMILIES.items()
    if family != "drums"
    for program in programs
}

GM_NAMES: tuple[str, ...] = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone",
    "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ",
    "Reed Organ", "Accordion", "Harmonica", "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar",
    "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass",
    "Slap Bass 1", "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass",
    "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2",
    "Choir Aahs", "Voice Oohs", "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
    "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax",
    "Oboe", "English Horn", "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute",
    "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)",
    "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)",
    "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    "Sitar", "Banjo", "Shamisen", "Koto",
    "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
    "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet",
    "Telephone Ring", "Helicopter", "Applause", "Gunshot",
)  # fmt: skip

KIT_NAMES: dict[int, str] = {
    0: "Standard Kit", 8: "Room Kit", 16: "Power Kit", 24: "Electronic Kit",
    25: "TR-808 Kit", 32: "Jazz Kit", 40: "Brush Kit",
}  # fmt: skip


def family_of_program(program: int, is_drum: bool) -> str | None:
    """The family of a GM program (or, with ``is_drum``, of a channel-10 kit number).

    Returns ``None`` for programs outside the taxonomy (timpani, orchestra hit, effects,
    percussive instruments) and for kits other than the band kits of ``FAMILIES["drums"]``.
    """
    if is_drum:
        return "drums" if program in FAMILIES["drums"] else None
    return _MELODIC.get(program)


def program_name(program: int, is_drum: bool) -> str:
    """The General MIDI name of a program, or of a kit for channel-10 parts."""
    if is_drum:
        return KIT_NAMES.get(program, f"Drum Kit {program}")
    return GM_NAMES[program]


def drum_kits(presets: Mapping[tuple[int, int], str] | None) -> tuple[int, ...]:
    """The band kits of ``FAMILIES["drums"]`` that a SoundFont's preset table holds.

    ``presets`` maps (bank, program) to a name (see ``soundfonts.read_presets``); ``None``
    means "assume every kit exists". Falls back to the standard kit 0, which FluidSynth plays
    on channel 10 for any kit number a SoundFont lacks.
    """
    kits = FAMILIES["drums"]
    if presets is None:
        return kits
    found = tuple(kit for kit in kits if (DRUM_BANK, kit) in presets)
    return found or (0,)


def melodic_programs(family: str, presets: Mapping[tuple[int, int], str] | None) -> tuple[int, ...]:
    """The programs of a melodic family that a SoundFont holds in bank 0 (all if ``None``)."""
    programs = FAMILIES[family]
    if presets is None:
        return programs
    return tuple(p for p in programs if (0, p) in presets)
