"""Neural networks: the Jukebox VQ-VAE bottom level and the frozen music taggers."""
