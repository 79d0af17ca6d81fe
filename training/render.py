"""Render a corpus of composed songs, every part to its own stem, with FluidSynth.

    python -m training.render --out /work/corpus --n-songs 1500 --seconds 16 --seed 0 \\
        [--soundfonts timgm6mb,csound,opl3] [--jobs 1]
    python -m training.render --index-only --out /work/corpus

Each part is written as a one-part MIDI file and rendered alone by the ``fluidsynth`` command
line (float WAV at 44100 Hz, so no dither; reverb and chorus on; one CPU core; sample-clock
timing, so the output is deterministic), down-mixed to mono, cut to the exact length with
short fades, resampled to 22050 Hz and normalised to a peak of 0.9. Per song::

    CORPUS/corpus.json              settings shared by all songs (checked when resuming)
    CORPUS/songs/<id>/stems.npy     int16 [n_stems, seconds * 22050]
    CORPUS/songs/<id>/meta.json     song and per-stem facts (see ``song_meta``)
    CORPUS/index.json               every song's meta, rebuilt at the end or with --index-only

One SoundFont per song, round-robin over ``--soundfonts`` by song index. A song whose folder
holds both files is skipped, and both files are written atomically (temporary name, then
rename; ``meta.json`` last), so an interrupted run resumes where it stopped, and removes the
temporaries that a kill left of the files it writes again.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from tqdm import tqdm

from tagbox_gui.core.audio.atomic import remove_leftovers, write_atomically
from training.compose import LINEUPS, Song, SongPart, compose_song, song_id
from training.corpus import FULL_SCALE, SAMPLE_RATE, save_array
from training.outputs import check_output_folder
from training.soundfonts import DEFAULT_SOUNDFONTS, STACKS, stack_paths, stack_presets
from training.synth import fluidsynth_version, render_part

GENERATOR_VERSION = "1"
PEAK = 0.9
SILENT_DB = -60.0


@dataclass(frozen=True)
class RenderSettings:
    """What every song of a corpus shares."""

    out: Path
    seconds: float
    seed: int
    soundfonts: tuple[str, ...]
    fluidsynth: str = "fluidsynth"
    lineup: str = "mixed"  # see compose.LINEUPS

    @property
    def n_samples(self) -> int:
        """Samples per stored stem."""
        return round(self.seconds * SAMPLE_RATE)

    def soundfont_of(self, index: int) -> str:
        """The SoundFont of song ``index`` (round-robin)."""
        return self.soundfonts[index % len(self.soundfonts)]

    def identity(self) -> dict:
        """The settings a resumed corpus must share (no file or program is looked up)."""
        return {
            "generator_version": GENERATOR_VERSION,
            "seconds": self.seconds,
            "sample_rate": SAMPLE_RATE,
            "seed": self.seed,
            "soundfonts": list(self.soundfonts),
            "lineup": self.lineup,
        }

    def manifest(self) -> dict:
        """The corpus-level settings written to ``corpus.json``: :meth:`identity` and what it
        was rendered with."""
        return {
            **self.identity(),
            "soundfont_files": {
                name: [p.name for p in stack_paths(name)] for name in self.soundfonts
            },
            "fluidsynth": fluidsynth_version(self.fluidsynth),
            "stem_format": "int16 [n_stems, samples], each stem peak-normalised to 0.9",
        }


# --------------------------------------------------------------------------------------------
# Levels


def rms_db_per_second(x: np.ndarray, rate: int = SAMPLE_RATE) -> list[float]:
    """RMS in dBFS (full scale 1.0, floor -120) of each 1-s window; a partial last one counts."""
    x = np.asarray(x, dtype=np.float64)
    out = []
    for start in range(0, len(x), rate):
        window = x[start : start + rate]
        rms = float(np.sqrt(np.mean(window**2)))
        out.append(round(20.0 * np.log10(max(rms, 1e-6)), 2))
    return out


def is_silent(levels: list[float]) -> bool:
    """Whether every window is below :data:`SILENT_DB`."""
    return all(level < SILENT_DB for level in levels)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Normalise to a peak of :data:`PEAK` and quantise to int16 (full scale
    :data:`training.corpus.FULL_SCALE`)."""
    peak = float(np.max(np.abs(x)))
    scaled = x * (PEAK / peak) if peak > 0 else x
    return np.clip(np.round(scaled * FULL_SCALE), -FULL_SCALE, FULL_SCALE - 1).astype(np.int16)


# --------------------------------------------------------------------------------------------
# One song


def song_dir(out: Path, song: str) -> Path:
    """The folder of one song."""
    return Path(out) / "songs" / song


def is_done(folder: Path) -> bool:
    """A song is done when both of its files exist."""
    return (folder / "stems.npy").is_file() and (folder / "meta.json").is_file()


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically."""
    write_atomically(path, json.dumps(data, indent=1))


def stem_meta(song_part: SongPart, levels: list[float], preset_name: str) -> dict:
    """The per-stem facts stored in ``meta.json``."""
    return {
        "name": song_part.name,
        "family": song_part.family,
        "program": song_part.program,
        "is_drum": song_part.part.is_drum,
        "instrument": song_part.instrument,
        "preset_name": preset_name,
        "role": song_part.role,
        "style": song_part.style,
        "n_notes": len(song_part.part.notes),
        "rms_db_per_second": levels,
    }


def song_meta(song: Song, settings: RenderSettings, soundfont: str) -> dict:
    """The song-level facts stored in ``meta.json`` (stems are added by the caller)."""
    return {
        "id": song.song_id,
        "seed": song.seed,
        "index": song.index,
        "soundfont": soundfont,
        "soundfont_files": [p.name for p in stack_paths(soundfont)],
        "tempo": song.tempo,
        "key": song.key,
        "progression": list(song.progression),
        "beats_per_chord": song.beats_per_chord,
        "swing": round(song.swing, 3),
        "lineup": settings.lineup,
        "seconds": settings.seconds,
        "sample_rate": SAMPLE_RATE,
        "n_samples": settings.n_samples,
        "generator_version": GENERATOR_VERSION,
    }


def render_song(settings: RenderSettings, index: int) -> dict:
    """Compose, render and store song ``index``; returns its meta (also when skipped)."""
    folder = song_dir(settings.out, song_id(settings.seed, index))
    if is_done(folder):
        return json.loads((folder / "meta.json").read_text())
    remove_leftovers(folder, ("stems.npy", "meta.json"))  # of a run killed writing them
    t0 = time.perf_counter()
    soundfont = settings.soundfont_of(index)
    presets = stack_presets(soundfont)
    song = compose_song(settings.seed, index, settings.seconds, presets, settings.lineup)
    paths = stack_paths(soundfont)
    stems, stems_meta, dropped = [], [], []
    for song_part in song.parts:
        audio = render_part(song_part, song.tempo, settings.seconds, paths, settings.fluidsynth)
        audio = resample_poly(audio, 1, 2)[: settings.n_samples]
        bank = 128 if song_part.part.is_drum else 0
        preset = presets.get((bank, song_part.program), "?")
        stored = to_int16(audio)
        levels = rms_db_per_second(stored / FULL_SCALE)
        if is_silent(rms_db_per_second(audio)) or is_silent(levels):
            dropped.append({**stem_meta(song_part, levels, preset), "reason": "silent"})
            continue
        stems.append(stored)
        stems_meta.append(stem_meta(song_part, levels, preset))
    meta = song_meta(song, settings, soundfont)
    meta["stems"] = stems_meta
    meta["dropped"] = dropped
    meta["render_seconds"] = round(time.perf_counter() - t0, 2)
    array = np.stack(stems) if stems else np.zeros((0, settings.n_samples), np.int16)
    folder.mkdir(parents=True, exist_ok=True)
    save_array(folder / "stems.npy", array)
    write_json(folder / "meta.json", meta)
    return meta


# --------------------------------------------------------------------------------------------
# Corpus


def iter_metas(out: Path) -> Iterator[dict]:
    """The meta of every finished song, in id order."""
    songs = Path(out) / "songs"
    if not songs.is_dir():
        return
    for folder in sorted(songs.iterdir()):
        if is_done(folder):
            yield json.loads((folder / "meta.json").read_text())


def build_index(out: Path) -> dict:
    """Rebuild ``index.json`` from the songs' meta files; returns it."""
    metas = list(iter_metas(out))
    index = {
        "n_songs": len(metas),
        "n_stems": sum(len(m["stems"]) for m in metas),
        "soundfonts": dict(Counter(m["soundfont"] for m in metas)),
        "families": dict(Counter(s["family"] for m in metas for s in m["stems"])),
        "dropped": [{"id": m["id"], **d} for m in metas for d in m["dropped"]],
        "songs": metas,
    }
    write_json(Path(out) / "index.json", index)
    return index


def prepare_corpus(settings: RenderSettings) -> None:
    """Create the corpus folder, or check that a resumed one has the same settings.

    A resumed corpus is checked against :meth:`RenderSettings.identity` alone, so resuming
    needs only the files of the SoundFonts it renders.
    """
    path = settings.out / "corpus.json"
    if path.is_file():
        old = json.loads(path.read_text())
        for key, value in settings.identity().items():
            if old.get(key, "mixed" if key == "lineup" else None) != value:
                raise SystemExit(
                    f"{path}: {key} is {old.get(key)!r}, this run has {value!r}; use another --out"
                )
        return
    (settings.out / "songs").mkdir(parents=True, exist_ok=True)
    write_json(path, settings.manifest())


def check_soundfonts(settings: RenderSettings, only: tuple[str, ...] = ()) -> None:
    """SystemExit in one line unless the files of every SoundFont the run looks up are there:
    all of ``--soundfonts`` for a new corpus (its ``corpus.json`` names them), those it renders
    (``only``, or all) for a resumed one."""
    resumed = (settings.out / "corpus.json").is_file()
    for name in (only or settings.soundfonts) if resumed else settings.soundfonts:
        try:
            stack_paths(name)
        except (FileNotFoundError, ValueError) as exc:  # not installed; a bundle's bad file
            raise SystemExit(str(exc)) from exc


def _render_or_report(settings: RenderSettings, index: int) -> tuple[int, dict | None, str]:
    """Render one song; a failure is reported, not raised, so a long run keeps going."""
    try:
        return index, render_song(settings, index), ""
    except Exception as exc:  # a failed song is logged and redone on the next run
        return index, None, f"{type(exc).__name__}: {exc}"


def render_corpus(settings: RenderSettings, n_songs: int, jobs: int = 1,
                  only: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    """Render songs 0..n_songs-1 (skipping finished ones); returns the error messages.

    With ``only``, just the songs whose SoundFont (:meth:`RenderSettings.soundfont_of`) is one
    of those are rendered: the others keep their places in the corpus's round-robin, unrendered
    (a machine that lacks some SoundFonts renders the rest, the same songs as a full run).
    SystemExit in one line, before anything is written, when a SoundFont it needs is missing.
    """
    check_soundfonts(settings, only)
    remove_leftovers(settings.out, ("corpus.json", "index.json"))  # a killed run's
    prepare_corpus(settings)
    wanted = [i for i in range(n_songs) if not only or settings.soundfont_of(i) in only]
    todo = [i for i in wanted if not is_done(song_dir(settings.out, song_id(settings.seed, i)))]
    errors: list[str] = []
    bar = tqdm(total=len(wanted), initial=len(wanted) - len(todo), unit="song", dynamic_ncols=True)
    with bar:
        for index, meta, error in _run(settings, todo, jobs):
            if meta is None:
                errors.append(f"song {index}: {error}")
                tqdm.write(f"song {index} failed: {error}", file=sys.stderr)
            bar.update(1)
    build_index(settings.out)
    return errors


def _run(settings: RenderSettings, todo: list[int], jobs: int):
    """Render the songs in ``todo``, in this process or in ``jobs`` worker processes."""
    if jobs <= 1:
        for index in todo:
            yield _render_or_report(settings, index)
        return
    with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_render_or_report, settings, i) for i in todo]
        for future in cf.as_completed(futures):
            yield future.result()


# --------------------------------------------------------------------------------------------
# CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(
        prog="python -m training.render",
        description="Render composed songs stem by stem with FluidSynth (resumable).",
    )
    ap.add_argument("--out", type=Path, required=True, help="corpus folder, e.g. /work/corpus")
    ap.add_argument("--n-songs", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=16.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--soundfonts",
        default=",".join(DEFAULT_SOUNDFONTS),
        help=f"comma list out of {', '.join(STACKS)} (default: the non-FluidR3 set)",
    )
    ap.add_argument(
        "--lineup",
        choices=LINEUPS,
        default="mixed",
        help="mixed: 3-7 families per song; band: the five band families in every song",
    )
    ap.add_argument(
        "--only",
        default="",
        help="comma list: render only the songs of these of the --soundfonts (default: all)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--fluidsynth", default=shutil.which("fluidsynth") or "fluidsynth")
    ap.add_argument("--index-only", action="store_true", help="only rebuild index.json")
    args = ap.parse_args(argv)
    if args.index_only:
        if not (args.out / "corpus.json").is_file():
            ap.error(f"--index-only: {args.out} is not a rendered corpus (no corpus.json)")
        return args
    # Refused before corpus.json is written: a resumed corpus must keep its seconds and seed.
    problems = [f"--{name} must be at least {low}, not {getattr(args, name.replace('-', '_'))}"
                for name, low in (("n-songs", 1), ("seed", 0), ("jobs", 1))
                if getattr(args, name.replace("-", "_")) < low]  # fmt: skip
    if not 0 < args.seconds < math.inf:
        problems.append(f"--seconds must be a positive number, not {args.seconds}")
    if problems:
        ap.error("; ".join(problems))
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m training.render``."""
    args = parse_args(argv)
    if args.index_only:
        index = build_index(args.out)
        print(f"{args.out / 'index.json'}: {index['n_songs']} songs, {index['n_stems']} stems")
        return 0
    soundfonts = tuple(s.strip() for s in args.soundfonts.split(",") if s.strip())
    unknown = [s for s in soundfonts if s not in STACKS]
    if unknown or not soundfonts:
        raise SystemExit(f"unknown SoundFonts {unknown} (known: {', '.join(STACKS)})")
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    if set(only) - set(soundfonts):
        raise SystemExit(f"--only {sorted(set(only) - set(soundfonts))}: not in --soundfonts")
    if shutil.which(args.fluidsynth) is None:
        raise SystemExit("fluidsynth not found: run training/setup.sh")
    check_output_folder(args.out, "corpus folder")  # a file, a read-only disk: before any song
    settings = RenderSettings(
        args.out, args.seconds, args.seed, soundfonts, args.fluidsynth, args.lineup
    )
    t0 = time.perf_counter()
    errors = render_corpus(settings, args.n_songs, args.jobs, only)
    print(f"done in {time.perf_counter() - t0:.1f} s; {len(errors)} failed songs")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
