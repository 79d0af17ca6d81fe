"""Latent backends: what the engine optimises, and how a latent becomes audio or masks."""
