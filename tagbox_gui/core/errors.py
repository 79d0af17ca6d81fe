"""Errors a user can act on. Their message is one sentence that says what to do."""

from __future__ import annotations


class UserError(Exception):
    """Base of every error caused by input, files or settings rather than by a bug."""


class AudioError(UserError):
    """An audio file cannot be read or holds unusable samples."""


class ModelError(UserError):
    """A model file is missing, corrupt, mis-shaped or untrusted."""


class DownloadError(ModelError):
    """A model download failed; nothing was left behind."""


class TagError(UserError):
    """A tag name is unknown to the chosen taggers."""


class ConfigError(UserError):
    """A run setting is impossible (region, FFT size, device ...)."""
