"""The application's log file, and what happens when its folder cannot be written."""

from __future__ import annotations

import logging
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
