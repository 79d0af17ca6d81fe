"""Qt front end of TagBox GUI.

Importing any part of it installs ``pyside_guard`` first (see that module: PySide6 6.12 on
Python 3.11 drops references to None/True, which would abort the app minutes into a run).
"""

from tagbox_gui.gui import pyside_guard  # noqa: F401
