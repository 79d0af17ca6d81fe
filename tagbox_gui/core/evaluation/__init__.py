"""Scoring separations against true stems, and the driver that separates a whole set."""
