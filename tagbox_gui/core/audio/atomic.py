"""Writing small files so that a reader never sees a partial one."""

from __future__ import annotations

from pathlib import Path


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary beside it, then a rename.

    The rename is atomic within one folder: ``path`` holds either its old content or all of
    ``data``, never a part of it (an interrupted write leaves only the ``.part`` file).
    """
    tmp = path.with_name(f".{path.name}.part")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data)
    tmp.replace(path)
