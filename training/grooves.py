"""The rhythm section of a composed song: drum grooves with fills, and bass lines."""

from __future__ import annotations

from training.music import Chord, Player, choose, fit, nearest, pitches_with

# --------------------------------------------------------------------------------------------
# Drums

KICK, SIDESTICK, SNARE, CLAP, SNARE_2 = 36, 37, 38, 39, 40
HAT_CLOSED, HAT_PEDAL, HAT_OPEN = 42, 44, 46
CRASH, CRASH_2, RIDE, RIDE_BELL, TAMBOURINE, COWBELL, SHAKER = 49, 57, 51, 53, 54, 56, 70
TOMS = (50, 48, 47, 45, 43, 41)  # high to low

# groove -> (kick patterns on a 16-step grid, backbeat steps, allowed cymbal modes)
GROOVES: dict[str, tuple[tuple[tuple[int, ...], ...], tuple[int, ...], tuple[str, ...]]] = {
    "rock": (((0, 8), (0, 8, 10), (0, 6, 8), (0, 2, 8)), (4, 12), ("8ths", "8ths", "ride")),
    "pop": (((0, 7, 8), (0, 3, 8, 10), (0, 8, 11)), (4, 12), ("8ths", "16ths", "quarters")),
    "four_floor": (((0, 4, 8, 12),), (4, 12), ("open_offbeat", "16ths", "8ths")),
    "halftime": (((0, 10), (0, 3, 10), (0, 11, 14)), (8,), ("8ths", "16ths", "ride")),
    "funk": (((0, 3, 10), (0, 6, 7, 10), (0, 2, 10, 13)), (4, 12), ("16ths", "8ths")),
    "shuffle": (((0, 8, 14), (0, 6, 8)), (4, 12), ("8ths", "ride")),
    "bossa": (((0, 6, 8, 14),), (), ("8ths", "ride")),
    "ballad": (((0, 10), (0, 6, 10)), (8,), ("ride", "quarters", "8ths")),
}
SWUNG_GROOVES = ("shuffle", "shuffle", "ballad", "rock", "halftime")
STRAIGHT_GROOVES = tuple(g for g in GROOVES if g != "shuffle")
BOSSA_RIM = ((0, 6, 12), (4, 8))  # a 3-2 clave on the rim, over two bars


def _cymbal(player: Player, mode: str, step: int, t: float, base: float) -> None:
    """One step of the hi-hat or ride pattern."""
    quarter = step % 4 == 0
    if mode == "16ths":
        player.play(HAT_CLOSED, t, 0.2, player.vel(base, -12 if quarter else -24))
    elif step % 2:
        return
    elif mode == "8ths":
        note = HAT_OPEN if step == 14 and player.rng.random() < 0.2 else HAT_CLOSED
        player.play(note, t, 0.25, player.vel(base, -10 if quarter else -22))
    elif mode == "ride":
        note = RIDE_BELL if step == 0 and player.rng.random() < 0.15 else RIDE
        player.play(note, t, 0.25, player.vel(base, -8 if quarter else -18))
        if step in (4, 12):
            player.play(HAT_PEDAL, t, 0.2, player.vel(base, -20))
    elif mode == "open_offbeat":
        note = HAT_OPEN if step % 4 == 2 else HAT_CLOSED
        player.play(note, t, 0.25, player.vel(base, -14 if note == HAT_OPEN else -24))
    elif mode == "quarters" and quarter:
        player.play(HAT_CLOSED, t, 0.25, player.vel(base, -12))


def _fill(player: Player, bar: int, first_step: int, snare: int, base: float) -> None:
    """A tom / snare fill from ``first_step`` to the end of the bar."""
    kind = choose(player.rng, ("toms", "snare_roll", "mixed", "flams"))
    n = 16 - first_step
    for k in range(n):
        t = bar * 4 + (first_step + k) / 4
        vel = base - 14 + 22 * k / max(1, n - 1)
        tom = TOMS[min(k * len(TOMS) // n, len(TOMS) - 1)]
        if kind == "toms":
            note = tom
        elif kind == "snare_roll":
            note = snare
        elif kind == "mixed":
            note = snare if k % 2 == 0 else tom
        else:
            if k % 2:
                continue
            note = tom if k % 4 else snare
            player.play(note, t - 0.03, 0.2, player.vel(vel, -25))
        player.play(note, t, 0.2, player.vel(vel, 0, 4))
        if k % 4 == 0:
            player.play(KICK, t, 0.2, player.vel(vel, 0, 4))


def play_drums(player: Player) -> str:
    """A drum groove with fills at the end of 4-bar phrases; returns the style name."""
    rng = player.rng
    grooves = SWUNG_GROOVES if player.swing else STRAIGHT_GROOVES
    groove = choose(rng, grooves)
    kicks, backbeat, modes = GROOVES[groove]
    mode = choose(rng, modes)
    if player.swing and mode == "16ths":
        mode = "8ths"
    extra = choose(rng, ("none", "none", "tambourine", "shaker", "clap", "cowbell"))
    snare = SIDESTICK if groove in ("bossa", "ballad") and rng.random() < 0.6 else SNARE
    if snare == SNARE and rng.random() < 0.25:
        snare = SNARE_2
    base = rng.uniform(85, 108)
    kick = choose(rng, kicks)
    for bar in range(player.n_bars):
        if bar % 2 == 0 and rng.random() < 0.4:
            kick = choose(rng, kicks)
        fill = bar % 4 == 3 and rng.random() < 0.65
        fill_from = 16 - (int(choose(rng, (4, 8, 8))) if fill else 0)
        if bar % 4 == 0 and (bar > 0 or rng.random() < 0.6):
            player.play(choose(rng, (CRASH, CRASH_2)), bar * 4, 1.0, player.vel(base, 6))
        for step in range(fill_from):
            t = bar * 4 + step / 4
            _groove_step(player, groove, kick, backbeat, snare, bar, step, t, base)
            _cymbal(player, mode, step, t, base)
            _extra(player, extra, step, t, base, backbeat)
        if fill:
            _fill(player, bar, fill_from, SNARE if snare == SIDESTICK else snare, base)
    return f"{groove}/{mode}/{extra}"


def _groove_step(
    player: Player,
    groove: str,
    kick: tuple[int, ...],
    backbeat: tuple[int, ...],
    snare: int,
    bar: int,
    step: int,
    t: float,
    base: float,
) -> None:
    """Kick and snare of one 16th step."""
    if step in kick:
        player.play(KICK, t, 0.25, player.vel(base, 8 if step == 0 else 0))
    if step in backbeat:
        player.play(snare, t, 0.25, player.vel(base, 4))
    elif groove == "bossa" and step in BOSSA_RIM[bar % 2]:
        player.play(SIDESTICK, t, 0.25, player.vel(base, -6))
    elif groove == "funk" and step % 2 and player.rng.random() < 0.2:
        player.play(snare, t, 0.2, player.vel(42, 0, 6))  # ghost note


def _extra(
    player: Player, extra: str, step: int, t: float, base: float, backbeat: tuple[int, ...]
) -> None:
    """Auxiliary percussion of one 16th step."""
    if extra == "tambourine" and step in (4, 12):
        player.play(TAMBOURINE, t, 0.2, player.vel(base, -16))
    elif extra == "shaker" and step % 2 == 0:
        player.play(SHAKER, t, 0.2, player.vel(base, -18 if step % 4 == 0 else -26))
    elif extra == "clap" and step in backbeat:
        player.play(CLAP, t, 0.25, player.vel(base, -8))
    elif extra == "cowbell" and step % 4 == 0:
        player.play(COWBELL, t, 0.2, player.vel(base, -22 if step else -14))


# --------------------------------------------------------------------------------------------
# Bass

BASS_STYLES = (
    "root_quarters",
    "root_eighths",
    "root_fifth",
    "octaves",
    "walking",
    "syncopated",
    "sustained",
)
SYNCOPATED_CELLS = (
    ((0, 1.5), (1.5, 1.0), (2.5, 1.5)),
    ((0, 1.5), (1.5, 0.5), (2, 1.5), (3.5, 0.5)),
    ((0, 0.75), (0.75, 0.75), (1.5, 1.0), (2.5, 0.5), (3, 1.0)),
    ((0, 1.0), (1.5, 0.5), (2.0, 1.0), (3.0, 0.5), (3.5, 0.5)),
)


def _bass_root(player: Player, chord: Chord) -> int:
    """The chord root in the bass's lowest octave."""
    return fit(player.lo + ((chord.root - player.lo) % 12), player.lo, player.hi)


def _bass_bar(player: Player, style: str, bar: int, base: float, cell) -> None:
    """One bar of a bass line."""
    b0 = bar * 4
    if style == "root_quarters":
        for k in range(4):
            root = _bass_root(player, player.harmony.at(b0 + k))
            player.play(root, b0 + k, 0.9, player.vel(base, 8 if k == 0 else 0))
    elif style == "root_eighths":
        for k in range(8):
            chord = player.harmony.at(b0 + k / 2)
            pitch = _bass_root(player, chord)
            if k == 7 and player.rng.random() < 0.3:
                pitch = _bass_root(player, player.harmony.at(b0 + 4)) + choose(player.rng, (-1, 2))
            player.play(pitch, b0 + k / 2, 0.45, player.vel(base, 8 if k % 2 == 0 else -6))
    elif style in ("root_fifth", "octaves"):
        for k in range(4 if style == "root_fifth" else 8):
            beat = b0 + (k if style == "root_fifth" else k / 2)
            chord = player.harmony.at(beat)
            root = _bass_root(player, chord)
            fifth = root + ((chord.pcs[2] - chord.root) % 12)
            up = fifth if style == "root_fifth" else root + 12
            pitch = fit(root if k % 2 == 0 else up, player.lo, player.hi)
            dur = 0.9 if style == "root_fifth" else 0.4
            player.play(pitch, beat, dur, player.vel(base, 8 if k == 0 else 0))
    elif style == "walking":
        _walking_bar(player, b0, base)
    elif style == "syncopated":
        for onset, dur in cell:
            chord = player.harmony.at(b0 + onset)
            pitch = _bass_root(player, chord)
            if onset and player.rng.random() < 0.25:
                pitch = fit(nearest(choose(player.rng, chord.pcs), pitch + 5), player.lo, player.hi)
            player.play(pitch, b0 + onset, dur * 0.9, player.vel(base, 10 if onset == 0 else 0))
    else:  # sustained
        for half in (0, 2):
            chord = player.harmony.at(b0 + half)
            if half and player.harmony.at(b0) == chord and player.rng.random() < 0.7:
                continue
            length = 3.9 if half == 0 and player.harmony.at(b0 + 2) == chord else 1.9
            player.play(_bass_root(player, chord), b0 + half, length, player.vel(base, 4))


def _walking_bar(player: Player, b0: float, base: float) -> None:
    """Four quarter notes: root, two chord/scale tones, a chromatic approach to the next."""
    for k in range(4):
        chord = player.harmony.at(b0 + k)
        root = _bass_root(player, chord)
        if k == 0:
            pitch = root
        elif k == 3:
            target = _bass_root(player, player.harmony.at(b0 + 4))
            pitch = target + choose(player.rng, (-1, 1, -2, 2))
        else:
            options = pitches_with(chord.pcs, player.lo, player.hi - 5)
            goal = root + 4 * k
            pitch = min(options, key=lambda p, g=goal: abs(p - g) + 3 * player.rng.random())
        player.play(fit(pitch, player.lo, player.hi), b0 + k, 0.92, player.vel(base, 0, 6))


def play_bass(player: Player) -> str:
    """A bass line in one of :data:`BASS_STYLES`; returns the style."""
    rng = player.rng
    style = choose(rng, BASS_STYLES)
    if player.tempo > 135 and style == "octaves":
        style = "root_quarters"
    base = rng.uniform(80, 104)
    cell = choose(rng, SYNCOPATED_CELLS)
    for bar in range(player.n_bars):
        if bar % 2 == 0 and rng.random() < 0.5:
            cell = choose(rng, SYNCOPATED_CELLS)
        _bass_bar(player, style, bar, base, cell)
    return style
