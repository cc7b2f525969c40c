"""A small built-in latency table, so the simulated GPU runs without ../shared/data.

The simulated device needs `latency_ms(model, batch, sm_pct, quota_pct)`. The
real source is `tessera.gpu.predict.Predictor` fitted on
`gpu/profiles.csv.gz`; any callable of that shape is accepted
(`from_predictor`). When neither is given, this table answers: p50 ms of one
CUDA-graph replay on an NVIDIA H200 inside a green context of N SMs (fp16,
random weights), copied from `gpu/h200-cudagraph-green-context-profile.jsonl`
(see shared/data/README.md), interpolated log-log in batch and SMs.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from typing import Protocol

from tessera.core.errors import InputError, require

LatencyFn = Callable[[str, int, float, float], float]
"""(model, batch, sm_pct, quota_pct) -> latency in ms."""

H200_SMS = 132

_SMS = (8, 16, 32, 64, 132)
_BATCHES = (1, 8, 32, 64)
# model -> batch -> p50 ms at _SMS (H200, CUDA graph, green context, fp16)
_H200_P50_MS: dict[str, dict[int, tuple[float, ...]]] = {
    "resnet50": {
        1: (2.289, 1.503, 1.126, 0.955, 0.867),
        8: (6.573, 3.725, 2.255, 1.490, 1.112),
        32: (20.176, 10.890, 6.049, 3.593, 2.329),
        64: (38.907, 20.716, 11.236, 6.532, 4.164),
    },
    "mobilenet_v3_large": {
        1: (1.443, 1.004, 0.778, 0.676, 0.638),
        8: (4.744, 2.751, 1.702, 1.183, 0.975),
        32: (17.269, 9.143, 4.968, 2.873, 1.896),
        64: (30.441, 15.847, 8.324, 4.606, 2.890),
    },
    "bert_base": {
        1: (4.728, 2.705, 1.722, 1.366, 1.143),
        8: (16.619, 8.759, 4.796, 2.759, 1.881),
        32: (58.324, 30.203, 15.706, 8.504, 5.005),
        64: (116.412, 59.398, 31.131, 16.985, 9.388),
    },
    "vit_b_16": {
        1: (3.530, 1.951, 1.177, 0.879, 0.691),
        8: (11.962, 6.330, 3.574, 2.175, 1.127),
        32: (42.402, 21.934, 11.751, 6.666, 3.245),
        64: (83.109, 42.631, 22.406, 12.385, 6.325),
    },
}

WEIGHTS_MIB: dict[str, int] = {
    "resnet50": 49,
    "mobilenet_v3_large": 11,
    "bert_base": 163,
    "vit_b_16": 165,
}
"""fp16 parameter bytes of each model, MiB (what one shared copy of the weights costs)."""


def known_models() -> list[str]:
    return sorted(_H200_P50_MS)


def _interp(xs: tuple[float, ...], ys: tuple[float, ...], x: float) -> float:
    """Piecewise-linear interpolation of log y over log x, extrapolating the end segments."""
    lx = [math.log(v) for v in xs]
    ly = [math.log(v) for v in ys]
    t = math.log(x)
    i = min(max(bisect.bisect_left(lx, t), 1), len(lx) - 1)
    x0, x1, y0, y1 = lx[i - 1], lx[i], ly[i - 1], ly[i]
    return math.exp(y0 + (y1 - y0) * (t - x0) / (x1 - x0))


def h200_latency_ms(model: str, batch: int, sm_pct: float, quota_pct: float = 100.0) -> float:
    """Latency of one batch on an H200 slice (the built-in table; see the module docstring).

    `quota_pct` < 100 stretches the latency by 100/quota_pct: a crude stand-in for
    time-slicing, good enough for a default (the gate does the real accounting).
    """
    table = _H200_P50_MS.get(model)
    if table is None:
        raise InputError("model", model, f"one of the built-in table's models {known_models()}")
    require(isinstance(batch, int) and batch >= 1, "batch", batch, "an integer >= 1")
    require(0 < sm_pct <= 100, "sm_pct", sm_pct, "a percentage in (0, 100]")
    require(0 < quota_pct <= 100, "quota_pct", quota_pct, "a percentage in (0, 100]")
    sms = max(sm_pct * H200_SMS / 100.0, 1.0)
    per_batch = [_interp(tuple(float(s) for s in _SMS), table[b], sms) for b in _BATCHES]
    ms = _interp(tuple(float(b) for b in _BATCHES), tuple(per_batch), float(batch))
    return ms * 100.0 / quota_pct


class _PredictorLike(Protocol):
    def predict(
        self, gpu: str, model: str, batch: int, sm_pct: float, quota_pct: float = 100.0
    ) -> float: ...


def from_predictor(predictor: _PredictorLike, gpu: str = "h200") -> LatencyFn:
    """Adapt a fitted `tessera.gpu.predict.Predictor` (or anything with its `predict`)."""

    def latency_ms(model: str, batch: int, sm_pct: float, quota_pct: float = 100.0) -> float:
        return float(predictor.predict(gpu, model, batch, sm_pct, quota_pct))

    return latency_ms
