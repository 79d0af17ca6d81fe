"""A model file downloaded by hand, copied into the store as a download is written: atomically,
and checked against its sha256 (see :mod:`tagbox_gui.core.store.download`)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from tagbox_gui.core.errors import ModelError
from tagbox_gui.core.store.download import copy_stream, write_checked
from tagbox_gui.core.store.resuming import Received

__all__ = ["copy_file"]


def copy_file(src: Path, target: Path, sha256: str | None) -> None:
    """Copy ``src`` to ``target`` atomically; ChecksumMismatch if its sha256 is not ``sha256``.

    A file that cannot be read, at once or part of the way (a failing disk), is a ModelError,
    and nothing is left in the target's folder.
    """
    try:
        length = src.stat().st_size
        reader = src.open("rb")
    except OSError as exc:
        raise _unreadable(src, exc) from exc

    def fill(out: BinaryIO, got: Received) -> str:
        try:
            return copy_stream(reader, out, length, received=got)
        except OSError as exc:  # a read: copy_stream's writes say ModelError themselves
            raise _unreadable(src, exc) from exc

    with reader:
        write_checked(target, sha256, fill)


def _unreadable(src: Path, exc: OSError) -> ModelError:
    return ModelError(f"cannot read {src} ({exc.strerror or type(exc).__name__}); nothing was "
                      "installed: check the disk it is on, or copy the file from another "
                      "place")  # fmt: skip
