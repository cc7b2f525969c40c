"""Conformance for GPU policies: the autoscaler rules plus "no GPU over-committed".

`check_gpu_policy(policy)` feeds a sequence of varied, valid `GpuSnapshot`s
(each carrying the state the policy returned for the previous one) and
checks: same snapshot -> same decisions; no clock, file, network,
environment or global randomness while deciding (`forbid_impurity`); the
snapshot is left unchanged; one decision per function, each with a reason
and at least one instance (GPU policies here never scale to zero unless
`allow_zero`); kept instances exist, are active and are kept once; every
instance lands on a known GPU or a `new:<k>` one; and no GPU's reserved
SM x time area exceeds the whole GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tessera.core.gpu_policy import (
    GpuFunctionView,
    GpuInstanceView,
    GpuPolicy,
    GpuPolicyResult,
    GpuSnapshot,
    GpuView,
    is_new_gpu,
)
from tessera.core.policy import InstanceState
from tessera.testing.conformance import ConformanceError, pure_call

MODELS = ("resnet50", "mobilenet_v3_large", "bert_base", "vit_b_16")


def gpu_snapshots(seed: int = 0, count: int = 30) -> list[GpuSnapshot]:
    """Valid layouts (at most two SM rows per GPU, quotas per row <= 100%) under varied load."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        n_gpu = int(rng.integers(0, 4))
        gpus = {f"gpu-{g}": GpuView(f"gpu-{g}") for g in range(n_gpu)}
        n_fn = int(rng.integers(1, 4))
        insts: dict[int, list[GpuInstanceView]] = {f: [] for f in range(n_fn)}
        next_id = 0
        for g in gpus:
            widths = [[100.0], [50.0, 50.0], [30.0, 70.0]][int(rng.integers(0, 3))]
            offset = 0.0
            for w in widths:
                used = 0.0
                for _ in range(int(rng.integers(0, 3))):
                    q = float(rng.choice([20.0, 30.0, 50.0]))
                    if used + q > 100:
                        break
                    placed = rng.random() < 0.5
                    insts[int(rng.integers(0, n_fn))].append(
                        GpuInstanceView(
                            next_id,
                            g,
                            w,
                            q,
                            1,
                            InstanceState(rng.choice(["ready", "ready", "starting", "draining"])),
                            offset if placed else None,
                            used if placed else None,
                        )
                    )
                    next_id += 1
                    used += q
                offset += w
        functions = {}
        for f in range(n_fn):
            rates = tuple(float(x) for x in rng.exponential(float(rng.choice([1, 20, 200])), 30))
            functions[f"fn-{f}"] = GpuFunctionView(
                name=f"fn-{f}",
                model=str(rng.choice(MODELS)),
                slo_ms=float(rng.choice([5.0, 20.0, 100.0])),
                instances=tuple(insts[f]),
                rps_window=rates if rng.random() < 0.9 else (),
                concurrency_window=tuple(r * 0.01 for r in rates),
                bucket_s=1.0,
            )
        out.append(GpuSnapshot(now_s=100.0 + 2.0 * k, gpus=gpus, functions=functions))
    return out


def check_gpu_policy(
    policy: GpuPolicy, snapshots: Sequence[GpuSnapshot] | None = None, allow_zero: bool = False
) -> list[GpuPolicyResult]:
    """Run the GPU conformance checks; raise `ConformanceError` on the first breach."""
    if not isinstance(policy, GpuPolicy):
        raise ConformanceError(f"{policy!r} lacks `name` or `decide(snapshot)`")
    results = []
    state: Any = None
    for snap in snapshots if snapshots is not None else gpu_snapshots():
        snap = GpuSnapshot(snap.now_s, snap.gpus, snap.functions, state, snap.extra)
        first = pure_call(policy.name, "decide", "decisions", policy.decide, snap)
        _check_decisions(policy.name, snap, first, allow_zero)
        state = first.state
        results.append(first)
    return results


def _check_decisions(
    name: str, snap: GpuSnapshot, result: GpuPolicyResult, allow_zero: bool
) -> None:
    seen = [d.function for d in result.decisions]
    if sorted(seen) != sorted(snap.functions):
        raise ConformanceError(f"{name}: decisions for {seen}, functions {sorted(snap.functions)}")
    area: dict[str, float] = {}
    for d in result.decisions:
        if not d.reason.strip():
            raise ConformanceError(f"{name}: decision for {d.function} has no reason")
        if not d.instances and not allow_zero:
            raise ConformanceError(f"{name}: scaled {d.function} to zero")
        active = {i.id for i in snap.functions[d.function].active}
        kept = [p.instance_id for p in d.instances if p.instance_id is not None]
        if len(kept) != len(set(kept)) or not set(kept) <= active:
            raise ConformanceError(f"{name}: {d.function} keeps unknown or repeated {kept}")
        for p in d.instances:
            if p.gpu_id not in snap.gpus and not is_new_gpu(p.gpu_id):
                held = {i.gpu_id for fv in snap.functions.values() for i in fv.active}
                if p.gpu_id not in held:
                    raise ConformanceError(f"{name}: {d.function} on unknown GPU {p.gpu_id}")
            area[p.gpu_id] = area.get(p.gpu_id, 0.0) + p.area
    over = {g: a for g, a in area.items() if a > 1.0 + 1e-6}
    if over:
        raise ConformanceError(f"{name}: GPUs over-committed (share reserved): {over}")
