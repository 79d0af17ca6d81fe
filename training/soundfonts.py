"""The SoundFonts the training corpus may use, where they live, and what presets they hold.

Only the five Debian SoundFont packages below are ever used; ``training/setup.sh`` installs
them. A SoundFont is named by a short key (``timgm6mb``, ``csound``, ``opl3``, ``fluidr3``);
its file is the ``.sf2`` in ``dpkg -L <package>`` (the package's own file list).

The development corpus uses :data:`DEFAULT_SOUNDFONTS` (no FluidR3). FluidR3 is kept for a
separate corpus that trains the model we ship.

A machine without the packages (a lent GPU machine, say) can be given a **bundle**: a folder
that :func:`write_bundle` filled, here, with the files of the listed packages. With
``$TAGBOX_SOUNDFONT_BUNDLE`` naming that folder, :func:`sound_font_path` takes each SoundFont
from the bundle instead, after checking that the bundle says it came from the package
:data:`PACKAGES` names and that the file is the one that package ships (its sha256 is one of
:data:`SHIPPED_SHA256`); a SoundFont the bundle lacks is not found. No file is ever named by
hand.

``FluidR3_GS.sf2`` (package fluid-soundfont-gs) is not a General MIDI set on its own: it holds
only GS variation banks 1-8 (sound effects) and an SFX kit, and no bank-0 instruments. It is
therefore loaded layered above ``FluidR3_GM.sf2``: the renderer's ``fluidr3`` entry loads both
files; the GS file changes nothing the composer plays (bank 0 and the standard kits).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

from tagbox_gui.core.store.models import file_sha256

PACKAGES: dict[str, str] = {
    "timgm6mb": "timgm6mb-soundfont",
    "csound": "csound-soundfont",
    "opl3": "opl3-soundfont",
    "fluidr3_gm": "fluid-soundfont-gm",
    "fluidr3_gs": "fluid-soundfont-gs",
}
"""Each SoundFont by the Debian package that ships it (one ``.sf2`` file per package)."""

SHIPPED_SHA256: dict[str, frozenset[str]] = {
    "timgm6mb": frozenset({"c5378b62028c920cb11e4803327983fee2f2cdff5dc89c708e39da417e51c854"}),
    "csound": frozenset({"9f39fc53bd3a1a69f13cb486838944eded358b3b6e8afbd6c1c2c33675b2034b"}),
    "opl3": frozenset({"39bff96eee3dcfbce9665e3968701b894ca2136c7d0bd580281b2bbf59e80392"}),
    "fluidr3_gm": frozenset({"74594e8f4250680adf590507a306655a299935343583256f3b722c48a1bc1cb0"}),
    "fluidr3_gs": frozenset({"aadb5597fb95ea5f7d336999e3c68ad32aa6357027aed7d4d9ff0ac75f2988e6"}),
}
"""The sha256 of each package's ``.sf2`` as Debian ships it (timgm6mb-soundfont 1.3-5,
csound-soundfont 1:6.18.1+dfsg-1, opl3-soundfont 1.0-4, fluid-soundfont-gm and -gs 3.1-5.3):
what a bundle's file must be, whatever its manifest says. Another release of a package adds its
digest here, taken from that package's installed file."""

#: A name of the renderer's ``--soundfonts`` list -> the files FluidSynth loads, lowest
#: priority first (FluidSynth gives the last loaded file priority).
STACKS: dict[str, tuple[str, ...]] = {
    "timgm6mb": ("timgm6mb",),
    "csound": ("csound",),
    "opl3": ("opl3",),
    "fluidr3": ("fluidr3_gm", "fluidr3_gs"),
}

#: The development corpus: every SoundFont except FluidR3 (GM and GS).
DEFAULT_SOUNDFONTS: tuple[str, ...] = ("timgm6mb", "csound", "opl3")

Preset = tuple[int, int]  # (bank, program)

BUNDLE_ENV = "TAGBOX_SOUNDFONT_BUNDLE"
BUNDLE_MANIFEST = "soundfonts.json"


@functools.cache
def sound_font_path(key: str) -> Path:
    """Return the installed file of SoundFont ``key`` (a key of :data:`PACKAGES`).

    The file is the ``.sf2`` in the package's own file list (``dpkg -L``), so only the
    allowed packages can ever be used. Raises ``FileNotFoundError`` when it is not installed.
    With ``$TAGBOX_SOUNDFONT_BUNDLE`` set, the file comes from that bundle (see the module
    docstring and :func:`bundled_path`).
    """
    package = PACKAGES[key]
    if os.environ.get(BUNDLE_ENV):
        return bundled_path(Path(os.environ[BUNDLE_ENV]), key)
    try:
        listing = subprocess.run(
            ["dpkg", "-L", package], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        listing = ""
    for path in (Path(line) for line in listing.splitlines() if line.endswith(".sf2")):
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"SoundFont {key!r} not found; run training/setup.sh (package {package})"
    )


def write_bundle(keys: list[str], folder: Path) -> Path:
    """Copy the installed files of SoundFonts ``keys`` into ``folder``, with a manifest.

    Each file is found as :func:`sound_font_path` finds it (in its package's file list); the
    manifest records, per key, the package and the file's name. Returns the manifest's path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for key in keys:
        source = sound_font_path(key)
        _check_shipped(key, source)
        shutil.copyfile(source, folder / source.name)
        manifest[key] = {"package": PACKAGES[key], "file": source.name}
    path = folder / BUNDLE_MANIFEST
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def bundled_path(folder: Path, key: str) -> Path:
    """The file of SoundFont ``key`` in a bundle made by :func:`write_bundle`.

    Raises ``FileNotFoundError`` when the bundle lacks it, and ``ValueError`` when the bundle
    says it came from another package than :data:`PACKAGES` names, or the file's sha256 is not
    one of :data:`SHIPPED_SHA256` (the manifest's own digest is not trusted).
    """
    try:
        manifest = json.loads((folder / BUNDLE_MANIFEST).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{folder} is not a SoundFont bundle (no {BUNDLE_MANIFEST})"
        ) from None
    entry = manifest.get(key)
    if entry is None:
        raise FileNotFoundError(f"SoundFont {key!r} is not in the bundle {folder}")
    if entry.get("package") != PACKAGES[key]:
        raise ValueError(f"{folder}: {key!r} is not from package {PACKAGES[key]}")
    path = folder / Path(entry["file"]).name
    if not path.is_file():
        raise FileNotFoundError(f"{path}, which the bundle lists for {key!r}, is not there")
    _check_shipped(key, path)
    return path


def _check_shipped(key: str, path: Path) -> None:
    """ValueError unless ``path`` is the file package ``PACKAGES[key]`` ships (its sha256)."""
    digest = file_sha256(path)
    if digest not in SHIPPED_SHA256[key]:
        raise ValueError(
            f"{path} is not a file package {PACKAGES[key]} ships (sha256 {digest[:16]}…); "
            f"a new release of the package adds its digest to SHIPPED_SHA256"
        )


def stack_paths(name: str) -> list[Path]:
    """The files FluidSynth loads for a ``--soundfonts`` entry, lowest priority first."""
    if name not in STACKS:
        raise KeyError(f"unknown SoundFont {name!r} (known: {', '.join(STACKS)})")
    return [sound_font_path(key) for key in STACKS[name]]


def _chunks(data: bytes, start: int, stop: int) -> dict[bytes, tuple[int, int]]:
    """Map the RIFF sub-chunk ids in ``data[start:stop]`` to (offset of body, size)."""
    out: dict[bytes, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= stop:
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if cid == b"LIST":
            out[b"LIST:" + data[body : body + 4]] = (body + 4, size - 4)
        else:
            out[cid] = (body, size)
        pos = body + size + (size & 1)  # chunks are padded to an even size
    return out


def read_presets(path: Path) -> dict[Preset, str]:
    """Read the preset table (the ``phdr`` chunk) of a SoundFont 2 file.

    Returns ``{(bank, program): preset name}``; bank 128 holds the drum kits.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        riff, size, form = struct.unpack("<4sI4s", head)
        if riff != b"RIFF" or form != b"sfbk":
            raise ValueError(f"{path}: not a SoundFont 2 file")
        top: dict[bytes, tuple[int, int]] = {}
        pos = 12
        while pos + 8 <= size + 8:  # walk the top level without reading the sample data
            f.seek(pos)
            cid, csize = struct.unpack("<4sI", f.read(8))
            if cid == b"LIST":
                top[b"LIST:" + f.read(4)] = (pos + 12, csize - 4)
            pos += 8 + csize + (csize & 1)
        if b"LIST:pdta" not in top:
            raise ValueError(f"{path}: no pdta list")
        offset, length = top[b"LIST:pdta"]
        f.seek(offset)
        pdta = f.read(length)
    chunks = _chunks(pdta, 0, len(pdta))
    if b"phdr" not in chunks:
        raise ValueError(f"{path}: no phdr chunk")
    body, size = chunks[b"phdr"]
    presets: dict[Preset, str] = {}
    for record in range(size // 38 - 1):  # the last record is the terminal "EOP"
        name, program, bank = struct.unpack_from("<20sHH", pdta, body + 38 * record)
        presets[(bank, program)] = name.split(b"\0")[0].decode("latin-1").strip()
    return presets


@functools.cache
def stack_presets(name: str) -> dict[Preset, str]:
    """The presets FluidSynth sees for a ``--soundfonts`` entry (later files win)."""
    merged: dict[Preset, str] = {}
    for path in stack_paths(name):
        merged.update(read_presets(path))
    return merged
