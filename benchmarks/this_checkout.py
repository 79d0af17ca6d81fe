"""The checkout these benchmarks live in, first on ``sys.path``.

``python benchmarks/x.py`` puts benchmarks/ on ``sys.path``, not the repository: a script that
imports ``tagbox_gui`` would time an installed one (or another checkout's) rather than this
one. A script imports this module before anything of ``tagbox_gui``; :data:`REPO` is the
repository's folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(REPO))
