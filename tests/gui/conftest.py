"""GUI tests run offscreen unless the caller chose a platform (e.g. xvfb for screenshots)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
