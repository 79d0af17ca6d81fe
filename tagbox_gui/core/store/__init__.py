"""Model weights on disk: the registry of known models, the local store and downloads."""
