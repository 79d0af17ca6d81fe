"""A minimal Standard MIDI File writer: one part (one program) per file, times in seconds.

Each rendered stem is one part, so a format-0 file with a single channel is all the renderer
needs; writing it directly avoids a MIDI library dependency.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

PPQ = 960
DRUM_CHANNEL = 9


@dataclass(frozen=True)
class Note:
    """One note, in seconds from the start of the song."""

    pitch: int
    start: float
    end: float
    velocity: int


@dataclass
class Part:
    """The notes of one instrument (a GM program, or a drum kit on channel 10)."""

    program: int
    is_drum: bool
    notes: list[Note] = field(default_factory=list)
    controls: dict[int, int] = field(default_factory=dict)  # CC number -> value at time 0

    def add(self, pitch: int, start: float, end: float, velocity: float) -> None:
        """Add a note, clamping velocity to 1..127; out-of-range pitches are dropped."""
        pitch = int(pitch)
        if not 0 <= pitch <= 127 or end <= start:
            return
        vel = int(min(127, max(1, round(velocity))))
        self.notes.append(Note(pitch, max(0.0, float(start)), float(end), vel))


def _varlen(value: int) -> bytes:
    """Encode a MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def separate_repeats(notes: list[Note], gap: float = 0.005) -> list[Note]:
    """End every note before the next onset of the same pitch.

    A note-off releases the key, so an overlapping re-strike would otherwise be cut short by
    the earlier note's note-off.
    """
    out: list[Note] = []
    by_pitch = sorted(notes, key=lambda n: (n.pitch, n.start))
    for note, nxt in zip(by_pitch, [*by_pitch[1:], None], strict=True):
        end = note.end
        if nxt is not None and nxt.pitch == note.pitch and end > nxt.start - gap:
            end = nxt.start - gap
        if end - note.start >= 0.01:
            out.append(Note(note.pitch, note.start, end, note.velocity))
    return sorted(out, key=lambda n: (n.start, n.pitch))


def part_events(part: Part, tempo: float, end_time: float) -> list[tuple[int, int, bytes]]:
    """The channel events of a part as (tick, order, bytes), sorted; order puts offs first."""
    channel = DRUM_CHANNEL if part.is_drum else 0
    ticks_per_s = tempo / 60.0 * PPQ

    def tick(seconds: float) -> int:
        return round(seconds * ticks_per_s)

    events: list[tuple[int, int, bytes]] = []
    if not part.is_drum:
        events.append((0, 0, bytes([0xB0 | channel, 0, 0])))  # bank select: bank 0
    events.append((0, 1, bytes([0xC0 | channel, part.program & 0x7F])))
    for number, value in sorted(part.controls.items()):
        events.append((0, 2, bytes([0xB0 | channel, number & 0x7F, value & 0x7F])))
    for note in separate_repeats(part.notes):
        events.append((tick(note.start), 4, bytes([0x90 | channel, note.pitch, note.velocity])))
        events.append((tick(note.end), 3, bytes([0x80 | channel, note.pitch, 0])))
    # a harmless last event, so that the player keeps going (and rendering) until end_time
    events.append((tick(end_time), 5, bytes([0xB0 | channel, 7, part.controls.get(7, 100)])))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def write_midi(part: Part, tempo: float, path: Path, end_time: float) -> None:
    """Write ``part`` as a format-0 Standard MIDI File at a constant ``tempo`` (bpm)."""
    track = bytearray()
    usec = round(60_000_000 / tempo)
    track += b"\x00\xff\x51\x03" + usec.to_bytes(3, "big")
    last = 0
    for when, _, data in part_events(part, tempo, end_time):
        track += _varlen(when - last) + data
        last = when
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, PPQ)
    Path(path).write_bytes(header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track))
