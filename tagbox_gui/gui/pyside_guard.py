"""Guard against PySide6 6.12.0 dropping references to ``None`` and ``True`` on Python 3.11.

Measured here (PySide6-Essentials 6.12.0, shiboken6 6.12.0, CPython 3.11.7): every call of a
Qt method that returns nothing (``QLabel.setText``, ``QSlider.setRange``, ...) or returns None
(``QObject.parent()`` of a top-level object) lowers the reference count of ``None`` by one, and
every ``Signal.emit`` lowers that of ``True`` by one. From Python 3.12 on these objects are
immortal and the missing references do no harm; on 3.11 the count reaches zero after a few
thousand calls (``True`` holds about 11,000 references once torch and pyqtgraph are loaded, so
about 11,000 signal emissions) and the interpreter aborts with "Fatal Python error:
bool_dealloc" or "none_dealloc" - the app would die a few minutes into a run.

The guard gives the three singletons a very large reference count once, which is what Python
3.12 does by making them immortal. They are statically allocated and never freed, so no
behaviour changes except the number ``sys.getrefcount`` reports. Remove this module once the
project requires Python >= 3.12 or a PySide6 release without the leak.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 60  # far more references than any run can drop; far below ssize_t overflow
_installed = False


def needed() -> bool:
    """True on interpreters where None/True/False are not immortal (before 3.12)."""
    return sys.version_info < (3, 12)


def install() -> bool:
    """Raise the reference counts of None, True and False once; True if it did."""
    global _installed
    if _installed or not needed():
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object, at the object's address.
        ctypes.c_ssize_t.from_address(id(singleton)).value += _HEADROOM
    _installed = True
    return True


install()
