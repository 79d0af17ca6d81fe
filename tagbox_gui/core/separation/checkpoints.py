"""Whether a file given as a model is that model: the check an install runs where the registry
knows no checksum (``tagbox models install``, ``fetch``, the Models dialog's Download and
Locate), through ``ModelStore.install_file`` and ``install``'s ``check``.

It loads the file, so it imports torch, but only when it checks one: the command line's models
command and the Models dialog name it when imported without loading torch.
"""

from __future__ import annotations

from pathlib import Path

from tagbox_gui.core.store.registry import model_info


def check_model_file(name: str, path: Path) -> None:
    """ModelError unless ``path`` loads as the registry's model ``name``: a checkpoint at all,
    of the right network with the right shapes (the Jukebox VQ-VAE, or the named tagger)."""
    from tagbox_gui.core.nets.taggers import load_tagger
    from tagbox_gui.core.separation.backends.jukebox import load_checked

    info = model_info(name)
    if info.kind == "jukebox":
        load_checked(path)
    elif info.spec is not None:
        load_tagger(info.spec, path)
