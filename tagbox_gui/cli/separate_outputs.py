"""The files `tagbox separate` writes: checked before a run's first step, so that a run never
ends by refusing to write; and its ``--log-json`` record."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tagbox_gui.core.audio.atomic import (
    check_file,
    check_file_apart,
    check_folder,
    write_json_atomically,
)
from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.folders import make_folders, removed_on_failure
from tagbox_gui.core.types import RunConfig, RunResult, StepResult, config_record

if TYPE_CHECKING:
    from tagbox_gui.core.audio.song import Song

__all__ = ["check_outputs", "check_targets", "log_record", "run_inputs", "write_json"]


def check_outputs(args: argparse.Namespace) -> None:
    """Every path the run will write, checked before its first step; nothing is created."""
    check_folder(args.output)
    if args.log_json is not None:
        check_file(args.log_json, "--log-json file")
        check_file_apart(args.log_json, args.output, "--log-json file", "output folder")


def check_targets(args: argparse.Namespace, stems: Sequence[Path], inputs: Sequence[Path]) -> None:
    """ConfigError, before the first step, for a file this run must not write: a stem that is
    a folder or an audio file it reads (never, not even with ``--overwrite``), a stem already
    there (unless ``--overwrite``), or a ``--log-json`` file that is either
    (:func:`_check_log_target`)."""
    for stem in stems:
        if os.path.isdir(stem):  # not even --overwrite replaces a folder
            raise ConfigError(f"'{stem}' is a folder, so no stem can be written in its place; "
                              "choose another folder with -o or another "
                              "--name-template")  # fmt: skip
        if any(_same_file(stem, path) for path in inputs):
            raise ConfigError(f"the stem '{stem.name}' would replace an audio file this run "
                              "reads; choose another folder with -o or another "
                              "--name-template")  # fmt: skip
    _refuse_existing(stems, args)
    _check_log_target(args, stems, inputs)


def _refuse_existing(paths: list[Path] | tuple[Path, ...], args: argparse.Namespace) -> None:
    """ConfigError listing the stems already in the output folder, unless ``--overwrite``."""
    from tagbox_gui.core.audio.files import existing_files

    existing = existing_files(paths)
    if existing and not args.overwrite:
        names = ", ".join(f"'{path.name}'" for path in existing)
        raise ConfigError(f"{names} {'is' if len(existing) == 1 else 'are'} already in "
                          f"'{args.output}'; add --overwrite to replace "
                          f"{'it' if len(existing) == 1 else 'them'}, or choose another "
                          "folder with -o")  # fmt: skip


def run_inputs(song: Song, configs: Iterable[RunConfig]) -> list[Path]:
    """The audio files a run reads: the song, and the example clips' files."""
    clips = [Path(c.example.path) for c in configs if c.example and c.example.path is not None]
    return [song.path, *clips]


def _check_log_target(
    args: argparse.Namespace, stems: Sequence[Path], inputs: Sequence[Path]
) -> None:
    """ConfigError if ``--log-json`` would replace a file: a stem of this run or an audio file it
    reads (never), or any other file already there (unless ``--overwrite``)."""
    log = args.log_json
    if log is None:
        return
    if any(_same_file(log, path) for path in stems):
        raise ConfigError(f"--log-json '{log}' is one of the stems this run writes; choose "
                          "another file")  # fmt: skip
    if any(_same_file(log, path) for path in inputs):
        raise ConfigError(f"--log-json '{log}' is an audio file this run reads; choose "
                          "another file")  # fmt: skip
    if os.path.lexists(log) and not args.overwrite:
        raise ConfigError(f"--log-json '{log}' is already there; add --overwrite to replace "
                          "it, or choose another file")  # fmt: skip


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (by path, or by the file itself where both exist)."""
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def log_record(
    config: RunConfig,
    steps: list[StepResult],
    result: RunResult,
    beside: Sequence[str] | None = None,
    look_failed: str = "",
) -> dict:
    """The ``--log-json`` record of one run of ``config`` (``--each``: of one part), as the
    option's help describes it: its settings, null for those that did not act
    (``core.separation.provenance.idle_settings``, as the stems' metadata reads ``-``), each
    step it made, the step its stems are of (``best_step``; 0 for a one-pass run, whose
    ``best_total`` is null), the step that cut it short and why (``cut_short_at``,
    ``cut_short_by``; null when none did), and whether its stem had a second look, without
    what, or why the look failed. The stem was looked at again without ``beside`` (default:
    ``result.helpers``; ``JobResult.looked_beside``), and ``look_failed`` says why a job's
    second look failed where the run's own did not."""
    from tagbox_gui.core.separation.provenance import idle_settings

    cut_short = bool(result.cut_short_at)
    idle = idle_settings(config)
    settings = {name: None if name in idle else value
                for name, value in config_record(config).items()}  # fmt: skip
    beside = list(result.helpers if beside is None else beside)
    failed = look_failed or result.second_look_failed
    return {
        "config": settings,
        "steps": [
            {"step": s.step, "total": s.total, "losses": s.losses, "grad_norm": s.grad_norm,
             "seconds": s.seconds}
            for s in steps
        ],
        "best_step": result.best_step,
        "best_total": result.best_total if result.best_step else None,
        "cut_short_at": result.cut_short_at if cut_short else None,
        "cut_short_by": result.cut_short_by if cut_short else None,
        "second_look": bool(beside),
        "second_look_beside": beside,
        "second_look_failed": failed or None,
    }  # fmt: skip


def write_json(path: Path, data: dict) -> None:
    """Write the ``--log-json`` record once the stems are written; a failure (a full disk) is
    a one-line error that says the stems are there all the same."""
    try:
        made = make_folders(path.parent)  # checked before the run (check_outputs)
        with removed_on_failure(made):  # a full disk, Ctrl+C: no empty folder stays
            write_json_atomically(path, data)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        message = (f"the stems were written, but the --log-json file '{path}' could not be "
                   f"({reason}); free some space or choose another file")  # fmt: skip
        raise ConfigError(message) from exc
