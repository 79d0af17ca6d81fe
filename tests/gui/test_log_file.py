"""The application's log file, and what happens when its folder cannot be written."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tagbox_gui.gui.errors import setup_logging


def test_a_log_folder_that_cannot_be_made_leaves_the_app_without_a_log_file(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not a folder"
    blocker.write_text("a file where the log folder would go")
    root = logging.getLogger()
    handlers = list(root.handlers)
    assert setup_logging(blocker / "logs") is None  # no exception: the window still opens
    assert root.handlers == handlers
    assert root.getEffectiveLevel() <= logging.INFO


def test_the_message_of_a_bug_names_the_log_file_written_or_says_there_is_none(
    tmp_path: Path,
) -> None:
    from tagbox_gui.gui.errors import user_message

    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "baseFilename", "").endswith("tagbox-gui.log")]
    for handler in ours:
        root.removeHandler(handler)
    try:
        text = user_message(ZeroDivisionError("a bug"))
        assert "no log file could be written" in text and "tagbox-gui.log" not in text
        written = setup_logging(tmp_path / "elsewhere")  # not the default folder
        assert written is not None and str(written) in user_message(ZeroDivisionError("a bug"))
        handler = next(h for h in root.handlers if getattr(h, "baseFilename", "") == str(written))
        root.removeHandler(handler)
        handler.close()
    finally:
        for handler in ours:
            root.addHandler(handler)


def test_a_window_that_is_not_the_running_instance_logs_to_a_file_of_its_own(
    tmp_path: Path,
) -> None:
    """Only the running instance writes and rotates tagbox-gui.log; another (--new-instance,
    or started while the running one did not answer) writes its own file, never rotated."""
    from tagbox_gui.gui.errors import log_file

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        written = setup_logging(tmp_path, shared=False)
        assert written == tmp_path / f"tagbox-gui-{os.getpid()}.log"
        (handler,) = [h for h in root.handlers if h not in before]
        assert type(handler) is logging.FileHandler
        assert log_file() == written  # what an error's message and Help > Open log folder name
        logging.getLogger("tagbox_gui").warning("a line of its own")
        assert "a line of its own" in written.read_text(encoding="utf-8")
        assert not (tmp_path / "tagbox-gui.log").exists()
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()


def test_the_running_instance_removes_other_processes_log_files_unwritten_for_a_week(
    tmp_path: Path,
) -> None:
    """One tagbox-gui-<pid>.log is left by each window that was not the running instance; the
    running instance removes those nobody has written to for a week, and nothing else."""
    from tagbox_gui.gui.errors import OWN_LOGS_KEPT_S

    week_old = os.path.getmtime(tmp_path) - OWN_LOGS_KEPT_S - 60
    names = ("tagbox-gui-123.log", "tagbox-gui-456.log", "tagbox-gui-x.log", "tagbox-gui.log.1")
    for name in names:
        (tmp_path / name).write_text("a line\n")
    for name in ("tagbox-gui-123.log", "tagbox-gui-x.log", "tagbox-gui.log.1"):
        os.utime(tmp_path / name, (week_old, week_old))
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        assert setup_logging(tmp_path, shared=False) is not None  # not the running instance
        assert (tmp_path / "tagbox-gui-123.log").exists()
        assert setup_logging(tmp_path) == tmp_path / "tagbox-gui.log"
        left = sorted(path.name for path in tmp_path.iterdir())
        assert left == sorted({*names, "tagbox-gui.log", f"tagbox-gui-{os.getpid()}.log"}
                              - {"tagbox-gui-123.log"})  # fmt: skip
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
