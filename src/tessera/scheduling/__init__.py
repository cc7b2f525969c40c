"""Scheduling policies: where instances run (placement and packing), as pure functions.

GPU sharing policies live in `tessera.scheduling.gpu` with their own registry.
"""
