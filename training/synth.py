"""One part of a composed song rendered alone by the ``fluidsynth`` command line: a float WAV at
44100 Hz (no dither; reverb and chorus on; one CPU core; sample-clock timing, so the output is
deterministic), down-mixed to mono and cut to the exact length with short fades.

Only the given SoundFonts are ever played: FluidSynth's default SoundFont (FluidR3 on Debian,
which the development corpus must not hear) is switched off, and a render where FluidSynth
reports a file it could not load fails instead of playing whatever did load."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from training.compose import SongPart
from training.midi import write_midi

RENDER_RATE = 44100
FADE_IN_S = 0.005
FADE_OUT_S = 0.02
TAIL_S = 0.5  # the MIDI player runs this long past the excerpt, so that the cut is clean


def fluidsynth_command(fluidsynth: str, soundfonts: list[Path], midi: Path, wav: Path) -> list[str]:
    """The command line that renders ``midi`` to a float WAV at 44100 Hz."""
    return [
        fluidsynth, "-q", "-n", "-i",
        "-R", "1", "-C", "1",
        "-g", "0.5",
        "-r", str(RENDER_RATE),
        "-O", "float", "-T", "wav",
        "-o", "synth.cpu-cores=1",
        "-o", "synth.polyphony=256",
        "-o", "synth.dynamic-sample-loading=1",
        "-o", "player.timing-source=sample",
        "-o", "synth.default-soundfont=",
        "-F", str(wav),
        *[str(p) for p in soundfonts],
        str(midi),
    ]  # fmt: skip


def fluidsynth_version(fluidsynth: str = "fluidsynth") -> str:
    """E.g. ``"FluidSynth runtime version 2.3.1"`` (or ``"unknown"``)."""
    try:
        text = subprocess.run(
            [fluidsynth, "--version"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return "unknown"
    return next((line.strip() for line in text.splitlines() if "version" in line), "unknown")


def load_errors(stderr: str) -> list[str]:
    """The lines of ``fluidsynth``'s error output that say a file it was given was not loaded.

    FluidSynth reports such a file and goes on, with exit status 0: without any SoundFont it
    would load its own default SoundFont (FluidR3 on Debian; the renderer switches it off),
    and with one of a stack missing it plays the others' presets (or nothing).
    """
    return [
        line
        for line in stderr.splitlines()
        if line.startswith("fluidsynth: error") or "Failed to load" in line
        or "not a SoundFont or MIDI file" in line
    ]  # fmt: skip


def render_part(
    song_part: SongPart, tempo: float, seconds: float, soundfonts: list[Path], fluidsynth: str
) -> np.ndarray:
    """Render one part alone: mono float64 at 44100 Hz, exactly ``seconds`` long, faded."""
    with tempfile.TemporaryDirectory(prefix="tagbox_render_") as tmp:
        midi, wav = Path(tmp, "part.mid"), Path(tmp, "part.wav")
        write_midi(song_part.part, tempo, midi, seconds + TAIL_S)
        cmd = fluidsynth_command(fluidsynth, soundfonts, midi, wav)
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wav.exists() or load_errors(result.stderr):
            raise RuntimeError(f"fluidsynth failed ({result.returncode}): {result.stderr[:400]}")
        audio, rate = sf.read(wav, dtype="float64", always_2d=True)
    if rate != RENDER_RATE:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz, expected {RENDER_RATE}")
    return cut_and_fade(audio.mean(axis=1), round(seconds * RENDER_RATE), RENDER_RATE)


def cut_and_fade(x: np.ndarray, n: int, rate: int) -> np.ndarray:
    """Cut or zero-pad to ``n`` samples, with short linear fades in and out."""
    x = np.pad(x[:n], (0, max(0, n - len(x))))
    fade_in, fade_out = round(FADE_IN_S * rate), round(FADE_OUT_S * rate)
    x[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    x[n - fade_out :] *= np.linspace(1.0, 0.0, fade_out)
    return x
