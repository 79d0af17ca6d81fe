"""`tagbox separate` end to end, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tagbox_gui.cli import main
from tagbox_gui.core.separation.engine import NotFinite
from tests.conftest import fail_at_step, require

RATE = 48_000


def _song(path: Path, seconds: float = 3.0, channels: int = 2, rate: int = RATE) -> Path:
    rng = np.random.default_rng(1)
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    noise = 0.05 * rng.standard_normal((t.size, channels))
    sf.write(path, tone[:, None] + noise, rate, subtype="PCM_24")
    return path


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["separate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_light_backend_writes_stems_that_add_up(tmp_path, model_dir, capsys):
    song = _song(tmp_path / "song.wav")
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, song, "--tags", "piano", "--steps", "2", "--region", "0.5:2.5",
                           "--backend", "light", "--model-dir", model_dir,
                           "--log-json", tmp_path / "log.json",
                           "--format", "wav24", "--no-balance-tags", "-o", out)  # fmt: skip
    assert code == 0, stdout
    sep, res = out / "song - piano.wav", out / "song - no piano.wav"
    assert str(sep) in stdout and str(res) in stdout
    original, _ = sf.read(song)
    a, rate = sf.read(sep)
    b, _ = sf.read(res)
    assert rate == RATE and a.shape == b.shape == original.shape
    assert np.abs(a + b - original).max() <= 2 / 2**23
    assert np.all(a[: RATE // 4] == 0)  # silent before the region
    assert "light" in sf.info(sep).extra_info or "light" in sf.SoundFile(sep).comment
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["config"]["backend"] == "light" and log["config"]["region"] == [0.5, 2.5]
    assert log["config"]["balance_tags"] is False  # the light default (on) was turned off
    assert [s["step"] for s in log["steps"]] == [1, 2]
    first = log["steps"][0]
    assert set(first) == {"step", "total", "losses", "grad_norm", "seconds"}
    assert set(first["losses"]) == {"fcn_mtat_2048", "fcn_mtat_1024"} and first["grad_norm"] > 0


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "ran out of memory"),
        (NotFinite(3, "loss"), "had a loss that is not a finite number"),
    ],
)
def test_a_step_cut_short_writes_the_best_step_before_it_and_warns(
    tmp_path, model_dir, capsys, monkeypatch, error, why
):
    fail_at_step(monkeypatch, 3, error)
    song = _song(tmp_path / "song.wav")
    out = tmp_path / "out"
    code, _, err = _run(capsys, song, "--tags", "piano", "--steps", "5", "--region", "0.5:2.5",
                        "--backend", "light", "--model-dir", model_dir, "--no-refine",
                        "--log-json", tmp_path / "log.json", "-o", out)  # fmt: skip
    assert code == 0, err
    log = json.loads((tmp_path / "log.json").read_text())
    assert [s["step"] for s in log["steps"]] == [1, 2]
    best = 1 + int(np.argmin([s["total"] for s in log["steps"]]))
    assert (f"tagbox: warning: step 3 {why}; the stems are of step {best}, the best before "
            "it") in err  # fmt: skip
    a, _ = sf.read(out / "song - piano.wav")
    b, _ = sf.read(out / "song - no piano.wav")
    original, _ = sf.read(song)
    assert np.abs(a + b - original).max() <= 1e-6


@pytest.mark.slow
def test_jukebox_backend_with_given_weights(tmp_path, model_dir, fixtures_dir, capsys):
    weights = require(fixtures_dir / "jukebox" / "vqvae_random.pth.tar")
    song = _song(tmp_path / "song.flac", seconds=2.0, channels=1, rate=44_100)
    code, _, _ = _run(capsys, song, "--tags", "piano", "--steps", "1", "--fft", "1024",
                           "--backend", "jukebox", "--jukebox-weights", weights,
                           "--model-dir", model_dir,
                           "--tagger", "fcn/mtat", "-o", tmp_path)  # fmt: skip
    assert code == 0
    sep = tmp_path / "song - piano.wav"
    assert "non-commercial" in sf.SoundFile(sep).comment.lower().replace(
        "noncommercial", "non-commercial"
    )
    a, _ = sf.read(sep)
    b, _ = sf.read(tmp_path / "song - no piano.wav")
    original, _ = sf.read(song)
    assert np.abs(a + b - original).max() <= 1e-6


def _bad_wav(tmp_path: Path, data: np.ndarray) -> Path:
    path = tmp_path / "bad.wav"
    sf.write(path, data, 44_100, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda d: d / "missing.wav", (), "missing.wav"),
        (lambda d: _bad_wav(d, np.zeros((0, 1))), (), "no audio"),
        (lambda d: _bad_wav(d, np.full((1000, 1), np.nan)), (), "NaN"),
        (lambda d: _song(d / "s.wav"), ("--tags", "pianno", "--backend", "light"), "'piano'"),
        (lambda d: _song(d / "s.wav"), ("--tags", "bass", "--tagger", "fcn/mtat"), "jamendo"),
        (lambda d: _song(d / "s.wav"), ("--region", "2:9"), "outside the song"),
        (lambda d: _song(d / "s.wav"), ("--threads", "-2"), "0 (automatic) or more"),
        (lambda d: _song(d / "s.wav"), ("--model-dir", "EMPTY"), "tagbox models fetch fcn/mtat"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(
    tmp_path, model_dir, capsys, make, args, message
):
    song = make(tmp_path)
    options = {"--tags": "piano", "--model-dir": str(model_dir)}
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    if pairs.get("--model-dir") == "EMPTY":
        pairs["--model-dir"] = str(tmp_path / "no-models")
    options.update(pairs)
    flat = [item for pair in options.items() for item in pair]
    out = tmp_path / "out"
    code, _, err = _run(capsys, song, *flat, "--steps", "1", "-o", out)
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tagbox: error:"), err
    assert message.lower() in lines[0].lower()
    assert not out.exists() or not any(out.iterdir())


def test_without_a_chosen_tagger_words_the_defaults_lack_get_one_that_has_them(model_dir):
    from tagbox_gui.cli import build_parser
    from tagbox_gui.cli.separate import build_config
    from tagbox_gui.core.store.models import ModelStore

    def config(*words: str):
        args = build_parser().parse_args(["separate", "s.wav", *words, "-o", "out"])
        return build_config(args, ModelStore(model_dir))

    assert [str(t) for t in config("--tags", "piano").taggers] == ["fcn/mtat"]
    assert [str(t) for t in config("--tags", "bass").taggers] == ["fcn/jamendo"]
    chosen = config("--tags", "bass", "--tagger", "fcn/mtat").taggers
    assert [str(t) for t in chosen] == ["fcn/mtat"]  # a chosen tagger is kept (and refused later)


@pytest.mark.slow
def test_each_instrument_gets_a_stem_and_they_add_up_with_the_rest(tmp_path, model_dir, capsys):
    song = _song(tmp_path / "song.wav")
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, song, "--each", "piano,strings", "--steps", "2",
                           "--model-dir", model_dir, "--log-json", tmp_path / "log.json",
                           "--format", "wav24", "-o", out)  # fmt: skip
    assert code == 0, stdout
    paths = [
        out / "song - piano.wav",
        out / "song - strings.wav",
        out / "song - no piano + strings.wav",
    ]
    assert sorted(out.iterdir()) == sorted(paths)
    assert [line.split(": ")[0] for line in stdout.splitlines()] == ["piano", "strings", "rest"]
    assert "looking again at strings without the others" in stderr  # the second look
    original, _ = sf.read(song)
    decoded = [sf.read(p)[0] for p in paths]
    assert all(d.shape == original.shape for d in decoded)
    assert np.abs(sum(decoded) - original).max() <= 3 / 2**23
    assert "tags: strings" in sf.SoundFile(paths[1]).comment
    assert "second look: asked again in the song without piano" in sf.SoundFile(paths[1]).comment
    log = json.loads((tmp_path / "log.json").read_text())
    assert list(log) == ["piano", "strings"]
    assert log["strings"]["config"]["tags"] == ["strings"] and len(log["piano"]["steps"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--example FILE or --example-region START:END"),  # every way to say what
        (("--tags", "piano", "--each", "drums"), "either --tags"),
        (("--each", "piano,piano"), "twice"),
        (("--each", "piano,pianno"), "no prototype for 'pianno'"),  # the learned backend's word
        (("--each", "piano,pianno", "--backend", "light"), "did you mean 'piano'"),
        (("--each", "piano", "--mode", "free", "--backend", "jukebox"), "mask mode"),
        # free mode is the jukebox backend's: the others' "decoded audio" is the masked song
        (("--tags", "piano", "--mode", "free"), "the learned backend only masks the song"),
        (("--each", "piano", "--mode", "free"), "the learned backend only masks"),
        (("--tags", "piano", "--mode", "free", "--backend", "light", "--steps", "1"), "light"),
    ],
)
def test_each_refuses_bad_requests_before_separating(tmp_path, model_dir, capsys, args, message):
    out = tmp_path / "out"
    code, _, err = _run(capsys, _song(tmp_path / "s.wav"), *args, "--model-dir", model_dir,
                        "-o", out)  # fmt: skip
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tagbox: error:"), err
    assert message.lower() in lines[0].lower()
    assert not out.exists()


def test_a_steered_run_keeps_freed_memory_and_a_single_pass_does_not(
    tmp_path, model_dir, capsys, monkeypatch
):
    """Steering runs the taggers at every step: the process, which ends with the run, keeps
    its freed memory for the next step (core.separation.memory); one pass has nothing to gain."""
    from tagbox_gui.core.separation import memory

    calls: list[bool] = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(True) or True)
    song = _song(tmp_path / "song.wav", seconds=1.5)
    steered = ("--tags", "piano", "--steps", "1", "--backend", "light", "--fft", "1024")
    assert _run(capsys, song, *steered, "--model-dir", model_dir, "-o", tmp_path / "a")[0] == 0
    assert calls == [True]
    assert _run(capsys, song, "--tags", "piano", "-o", tmp_path / "b")[0] == 0  # learned, 0 steps
    assert _run(capsys, song, "--each", "piano,drums", "-o", tmp_path / "c")[0] == 0
    assert calls == [True]


@pytest.mark.parametrize("what", [("--tags", "piano"), ("--each", "piano,drums")])
def test_stems_that_cannot_fit_on_the_disk_are_refused_before_the_first_step(
    tmp_path, model_dir, capsys, monkeypatch, what
):
    import shutil

    import tagbox_gui.core.audio.files as files

    song = _song(tmp_path / "song.wav", seconds=1.0)  # 1 s stereo: 384 kB a float stem
    out = tmp_path / "out"
    usage = shutil.disk_usage(tmp_path)
    small = usage._replace(free=500_000)  # room for one stem, not for all of them
    monkeypatch.setattr(files.shutil, "disk_usage", lambda place: small)
    code, _, err = _run(capsys, song, *what, "--model-dir", model_dir, "-o", out)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err  # one line: nothing was separated
    assert "has 500 kB free; free some disk space" in lines[0] and not out.exists()
    # a file system that reports no size at all (some network mounts) is not judged
    monkeypatch.setattr(files.shutil, "disk_usage", lambda place: usage._replace(total=0, free=0))
    code, _, err = _run(capsys, song, *what, "--model-dir", model_dir, "-o", tmp_path / "net")
    assert code == 0, err
    monkeypatch.setattr(files.shutil, "disk_usage", lambda place: small)
    # FLAC is compressed by an amount not known before: it is left to the writing
    code, _, err = _run(capsys, song, *what, "--format", "flac24", "--model-dir", model_dir,
                        "-o", out)  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize(
    "what",
    [
        ("--tags", "piano", "--region", "nan:1"),
        ("--tags", "piano", "--region", "0:inf"),
        ("--example-region", "1:nan"),
        ("--example", "{clip}:nan:2"),
        ("--each", "organ={clip}:0:inf"),
    ],
)
def test_a_time_that_is_not_a_number_is_refused_as_such(tmp_path, capsys, what):
    """nan and inf are no times: refused when the options are read, not as a region outside
    the song or an example clip that is empty."""
    song, clip = _song(tmp_path / "s.wav"), _song(tmp_path / "clip.wav", seconds=1.0)
    words = [word.replace("{clip}", str(clip)) for word in what]
    with pytest.raises(SystemExit) as exit_:
        main(["separate", str(song), *words, "-o", str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_.value.code == 2 and len(lines) == 1, lines
    assert "a time must be a number of seconds, not nan or inf" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "what",
    [("--tags", "piano", "--example", ""), ("--example", ":1:2"), ("--each", "organ=:1:2")],
)
def test_an_example_without_a_file_name_is_refused_as_such(tmp_path, capsys, what):
    """An empty file name is not taken for the current folder ('.' is a folder)."""
    with pytest.raises(SystemExit) as exit_:
        main(["separate", str(_song(tmp_path / "s.wav")), *what, "-o", str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_.value.code == 2 and len(lines) == 1, lines
    assert "names no file; give the example's file" in lines[0]
    assert not (tmp_path / "out").exists()


def test_each_takes_an_example_clip_with_a_comma_in_its_name(tmp_path):
    from tagbox_gui.cli.separate_options import parse_each

    clip = _song(tmp_path / "Organ, take 2.wav", seconds=1.0)
    entries = parse_each(f"drums, organ={clip}:0.2:0.9 ,bass")
    assert [entry.name for entry in entries] == ["drums", "organ", "bass"]
    example = entries[1].example
    assert (Path(example.path), example.start, example.end) == (clip, 0.2, 0.9)
    whole = parse_each(f"organ={clip}")[0].example
    assert Path(whole.path) == clip and whole.start is None
    # where no file is there, a comma still ends an entry
    assert [e.name for e in parse_each(f"organ={tmp_path}/nope.wav,bass")] == ["organ", "bass"]


def test_a_song_and_stems_deeper_than_libsndfile_takes_are_read_and_written(
    tmp_path, model_dir, capsys
):
    # libsndfile refuses a path of 1 KiB or more; the system takes up to 4 KiB
    deep = tmp_path.joinpath(*["ソング" * 20] * 6)  # 6 folders of 180 bytes each
    deep.mkdir(parents=True)
    song = _song(tmp_path / "song.wav", seconds=1.0).rename(deep / "song.wav")
    assert len(str(song).encode()) >= 1024
    code, _, err = _run(capsys, song, "--tags", "piano", "--format", "flac24",
                        "--model-dir", model_dir, "-o", deep / "stems")  # fmt: skip
    assert code == 0, err
    with open(song, "rb") as handle:  # soundfile, too, takes so long a path only so
        x = sf.read(handle, always_2d=True)[0]
    stems = sorted((deep / "stems").iterdir())
    assert len(stems) == 2
    with open(stems[0], "rb") as a, open(stems[1], "rb") as b:
        total = sf.read(a, always_2d=True)[0] + sf.read(b, always_2d=True)[0]
    np.testing.assert_array_equal(total, x)


def test_a_song_whose_name_is_not_utf8_gets_its_stems(tmp_path, model_dir, capsys):
    import os

    song = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.wav"))  # Latin-1, from an old archive
    try:
        _song(tmp_path / "song.wav", seconds=1.0).rename(song)
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    code, out, err = _run(capsys, song, "--tags", "piano", "--format", "wav24",
                          "--model-dir", model_dir, "-o", tmp_path / "out")  # fmt: skip
    assert code == 0, err
    stems = [tmp_path / "out" / name for name in ("caf_ - piano.wav", "caf_ - no piano.wav")]
    assert "caf_ - piano.wav" in out
    with open(song, "rb") as handle:
        x = sf.read(handle, always_2d=True)[0]
    total = sum(sf.read(stem, always_2d=True)[0] for stem in stems)
    np.testing.assert_array_equal(total, x)
    assert "song: caf\N{REPLACEMENT CHARACTER}.wav" in sf.SoundFile(stems[0]).comment


def test_the_stems_of_a_broadcast_wav_keep_its_place_on_the_timeline(tmp_path, capsys):
    """A DAW places a BWF song at its bext TimeReference: `--each` stems and the rest too."""
    from tests.core.test_bext import TIME_REFERENCE, stem_bext, write_bwf

    rng = np.random.default_rng(2)
    song = write_bwf(tmp_path / "take.wav", 0.1 * rng.standard_normal((2 * RATE, 2)),
                     TIME_REFERENCE)  # fmt: skip
    out = tmp_path / "out"
    code, _, err = _run(capsys, song, "--each", "piano,drums", "--format", "wav24",
                        "--threads", "1", "-o", out)  # fmt: skip
    assert code == 0, err
    stems = sorted(out.iterdir())
    assert len(stems) == 3
    for stem in stems:
        assert int.from_bytes(stem_bext(stem)[338:346], "little") == TIME_REFERENCE
    total = sum(sf.read(stem, always_2d=True)[0] for stem in stems)
    assert np.abs(total - sf.read(song, always_2d=True)[0]).max() <= 2 * 2.0**-23


def test_a_song_that_does_not_fit_in_memory_is_not_told_to_take_a_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """--region separates a stretch of the song but reads all of it: where reading the song
    ran out of memory (a recording of many hours, or a header that says it is), the line
    said to separate a shorter stretch with --region, which runs out the same way."""
    from tagbox_gui.core.audio import song as song_module

    def out_of_memory(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(song_module, "_read_all", out_of_memory)
    song, out = _song(tmp_path / "song.wav", seconds=1.0), tmp_path / "out"
    code, _, err = _run(capsys, song, "--tags", "piano", "--region", "0:0.5", "-o", out)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("tagbox: error: reading the song ran out of memory"), err
    assert "cut it into shorter files" in lines[0] and "--region" not in lines[0]
    assert not out.exists()
