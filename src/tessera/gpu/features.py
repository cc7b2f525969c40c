"""Structural features of torchvision models, for predicting a time quota's effect.

Under token time-slicing (FaST-GShare: a CUDA hook takes a time token before kernel launches,
the launch time is charged against the pod's quota per 40 ms window) how much a quota slows a
model depends on how its forward pass is cut into operator calls, which its latency at full
quota does not show. `torchvision_features.json` (package data, made by
``benchmarks/torchvision_features.py`` from the architectures alone, batch 1) holds per model
the ATen operator calls of one forward by kind (conv / matmul / norm / pool / other), how
many of them launch a kernel, FLOPs,
parameters and modules. `structure` turns them into one vector per model; models with the same
operator structure (variants of one family) are close in it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

import numpy as np

from tessera.gpu.profiles import FloatArray

KINDS: tuple[str, ...] = ("conv", "matmul", "norm", "pool", "other")


@cache
def _table() -> dict[str, dict[str, object]]:
    raw = files("tessera.gpu").joinpath("data/torchvision_features.json").read_text("utf-8")
    models: dict[str, dict[str, object]] = json.loads(raw)["models"]
    return models


def known_models() -> list[str]:
    """Model names with structural features."""
    return sorted(_table())


def aten_ops(model: str) -> float | None:
    """ATen operator calls in one forward at batch 1 (~ kernel launches), or None."""
    f = _table().get(model)
    if f is None:
        return None
    return float(f["aten_ops"])  # type: ignore[arg-type]


def kernel_ops(model: str) -> float | None:
    """Operator calls in one forward at batch 1 that launch a kernel (views and other
    header-only calls left out), or None."""
    f = _table().get(model)
    if f is None or "kernel_ops" not in f:
        return None
    return float(f["kernel_ops"])  # type: ignore[arg-type]


def structure(model: str) -> FloatArray | None:
    """log(1 + operator calls) per kind (`KINDS`), or None for a model without features."""
    f = _table().get(model)
    if f is None:
        return None
    kinds = f["ops_by_kind"]
    assert isinstance(kinds, dict)
    out: FloatArray = np.log1p(np.array([float(kinds.get(k, 0)) for k in KINDS]))
    return out
