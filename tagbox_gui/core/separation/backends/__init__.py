"""Latent backends: what the engine optimises, and how a latent becomes audio or masks.

Each name in :data:`BACKENDS` is a module of this package (see ``base.Backend``). This file
imports nothing heavy, so the CLI can list the backends without loading torch.
"""

BACKENDS = ("learned", "light", "jukebox")
