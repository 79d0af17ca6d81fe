"""Training data for a learned, query-conditioned separator (never imported by the app)."""
