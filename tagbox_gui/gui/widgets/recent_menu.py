"""File ▸ Open recent: the remembered songs, numbered with mnemonics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import QMenu

from tagbox_gui.gui.widgets.plain_text import keep_ampersands


def fill_recent_menu(
    menu: QMenu,
    files: Sequence[str],
    open_song: Callable[[str], object],
    clear: Callable[[], object],
) -> None:
    """Fill ``menu`` with ``files`` (newest first), each opened by ``open_song``, and "Clear
    list" (``clear``); "(none)" when there are none. The entries' mnemonics are 1 to 9, then 0;
    an "&" in a file name is shown as it is."""
    menu.clear()
    for number, path in enumerate(files, 1):
        name = keep_ampersands(Path(path).name)
        digits = str(number)
        menu.addAction(f"{digits[:-1]}&{digits[-1]} {name}", lambda p=path: open_song(p))
    if not files:
        menu.addAction("(none)").setEnabled(False)
    else:
        menu.addSeparator()
        menu.addAction("&Clear list", clear)
