"""The core must stay free of Qt: importing every core module loads no Qt binding."""

import pkgutil
import subprocess
import sys

import tagbox_gui.core


def test_core_imports_no_qt():
    names = [m.name for m in pkgutil.walk_packages(tagbox_gui.core.__path__, "tagbox_gui.core.")]
    assert "tagbox_gui.core.separation.engine" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'superqt', 'tagbox_gui.gui'} "
        "or m.startswith('tagbox_gui.gui'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
