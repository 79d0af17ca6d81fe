"""Qt-free core: models, audio, the optimisation engine. Nothing here imports Qt."""
