"""Package data: tag vocabularies, tag groupings, icons."""
