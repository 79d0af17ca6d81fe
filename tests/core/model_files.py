"""What the model tests share: names, paths and a look at the files a store holds."""

from __future__ import annotations

import hashlib
from pathlib import Path

FCN = "fcn/mtat"
FCN_REL = "taggers/mtat/fcn/best_model.pth"
CHECKPOINT_HEAD = b"PK\x03\x04"  # how torch.save's (zip) files start


def files(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted (none when it is not there)."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
