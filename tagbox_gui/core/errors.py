"""Errors a user can act on. Their message is one sentence that says what to do; the helpers
here word parts of such sentences (:func:`reason_in_brief`, :func:`listed`)."""

from __future__ import annotations

from collections.abc import Sequence


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


_OUT_OF_MEMORY_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """``exc`` says that memory ran out: a MemoryError, or PyTorch's RuntimeError (CPU or GPU)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(m in text for m in _OUT_OF_MEMORY_WORDS)


def reason_in_brief(exc: BaseException, limit: int = 80) -> str:
    """Why ``exc`` happened, told inside a sentence: "out of memory" for any such error
    (PyTorch's name the GPU, the sizes and a setting, at length), else its text on one line,
    clipped to ``limit`` characters."""
    if is_out_of_memory(exc) or str(exc).lower().startswith("unable to allocate"):
        return "out of memory"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listed(words: Sequence[str]) -> str:
    """``words`` as a sentence lists them: "piano", "piano and bass", "drums, bass and piano";
    '' for none."""
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
