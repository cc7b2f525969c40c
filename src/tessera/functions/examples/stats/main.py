"""Example function: summary statistics of a list of numbers (imports numpy at start-up)."""

import time

import numpy as np


def handle(event, context):
    event = event if isinstance(event, dict) else {}
    if event.get("work_ms"):  # stand-in for real work (a model's forward pass, a query)
        time.sleep(min(event["work_ms"] / 1000, max(0.0, context.remaining_s())))
    values = np.asarray(event.get("values", []), dtype=float)
    if values.size == 0:
        return {"n": 0}
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "median": float(np.median(values)),
    }
