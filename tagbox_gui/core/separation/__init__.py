"""The separation run: engine loop, objective, tag targets, model loading and the backends.

Imports nothing itself, so ``separation.backends`` can be listed without loading torch.
"""
