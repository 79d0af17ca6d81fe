"""Wall time, peak memory and add-back error of `tagbox separate SONG --each A,B,...`.

The case of the --each issue: a 4-minute stereo 44.1 kHz song (the dev set's mixes of drums,
bass, piano, guitar and strings, tiled as ``learned_speed.py`` does) separated into drums, bass,
piano and guitar plus the rest, with the default backend and settings and 32-bit float stems.
The command runs as a child process; the wall time runs from its start to the written stems,
the peak resident memory is the child's own (``ru_maxrss``), and the written stems are read back
and added up against the song.

    python benchmarks/each_speed.py [--minutes 4] [--each drums,bass,piano,guitar]
        [--shared ../shared] [--threads N] [--no-refine]

``--no-refine`` leaves out the second look at each stem, so the two runs give its cost.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from learned_speed import add_back_error, load_average, long_song, song_parser, timed_separate


def main() -> None:
    parser = song_parser()
    parser.add_argument("--each", default="drums,bass,piano,guitar")
    parser.add_argument("--no-refine", action="store_true", help="no second look at the stems")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        song = long_song(args.shared, args.minutes, Path(tmp) / "song.wav")
        out, load = Path(tmp) / "out", load_average()
        more = ["--no-refine"] if args.no_refine else []
        wall, peak = timed_separate([str(song), "--each", args.each, "--format", "wav32",
                                     "--model-dir", str(args.shared / "models"), "-o", str(out),
                                     *more], args.threads)  # fmt: skip
        stems = sorted(out.glob("*.wav"))
        error = add_back_error(song, stems)
    look = "first look only" if args.no_refine else "with the second look"
    print(f"{args.minutes:g} min stereo 44.1 kHz, --each {args.each} (default backend and "
          f"settings, {look}, {len(stems)} stems written): wall {wall:.1f} s, peak RSS "
          f"{peak:.2f} GiB, max |stems + rest - song| {error:.1e} (load average {load} before "
          "the run)")  # fmt: skip


if __name__ == "__main__":
    main()
