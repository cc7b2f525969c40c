"""Conformance for placement policies: the purity rules plus "never onto a full region".

`check_placement_policy(policy_or_config)` feeds a sequence of varied, valid
`PlacementSnapshot`s (each carrying the state the policy returned for the
previous one) and checks: same snapshot -> same placement; no clock, file,
network, environment or global randomness while deciding
(`forbid_impurity`); the snapshot is left unchanged; every placement has a
reason; the chosen region exists and has free capacity; when no region has
free capacity the answer is None; scores, when given, are finite, name only
known regions and rank the chosen region first (drivers such as the
Kubernetes extender turn them into node scores).

`placement_snapshots(seed)` gives the varied snapshots: no regions, all
full, all intensities equal, forecasts of mixed length, stale signals,
zero-capacity regions, and (with `regions=1000`) the benchmark's large ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tessera.carbon.placement import (
    Move,
    Placement,
    PlacementPolicy,
    PlacementSnapshot,
    Rebalancer,
    RegionView,
    create,
)
from tessera.testing.conformance import ConformanceError, pure_call

GCP_REGIONS = (
    "europe-southwest1",
    "europe-west9",
    "europe-west1",
    "europe-west4",
    "europe-west3",
    "europe-west2",
    "europe-central2",
    "europe-north1",
    "us-central1",
    "us-east4",
    "us-west1",
    "asia-southeast1",
)


def _names(n: int) -> list[str]:
    return list(GCP_REGIONS[:n]) if n <= len(GCP_REGIONS) else [f"region-{i:04d}" for i in range(n)]


def random_snapshot(
    rng: np.random.Generator, n: int, now_s: float = 0.0, seed: int = 0
) -> PlacementSnapshot:
    """One valid snapshot of `n` regions with random intensities, RTTs, load and forecasts."""
    names = _names(n)
    horizon = int(rng.choice([0, 3, 24]))
    origin = str(rng.choice(names)) if names else ""
    regions = []
    for name in names:
        cap = int(rng.integers(0, 20)) if rng.random() < 0.95 else 0
        free = 0 if rng.random() < 0.2 else int(rng.integers(0, cap + 1))
        now = float(np.round(rng.uniform(20.0, 800.0)))
        k = horizon if rng.random() < 0.9 else int(rng.integers(0, 5))
        ahead = tuple(float(x) for x in np.round(now * rng.uniform(0.5, 1.5, k)))
        regions.append(
            RegionView(
                name=name,
                intensity_g_per_kwh=now,
                rtt_ms=0.0 if name == origin else float(np.round(rng.uniform(1.0, 250.0))),
                free=free,
                capacity=cap,
                forecast=ahead,
                signal_age_s=float(rng.choice([0.0, 300.0, 3600.0, 4 * 3600.0])),
                instances=cap - free,
            )
        )
    return PlacementSnapshot(now_s=now_s, origin=origin, regions=tuple(regions), seed=seed)


def placement_snapshots(
    seed: int = 0, count: int = 40, regions: int | None = None
) -> list[PlacementSnapshot]:
    """Varied snapshots (the first few are edge cases unless `regions` fixes the size)."""
    rng = np.random.default_rng(seed)
    out: list[PlacementSnapshot] = []
    if regions is None:
        four = _names(4)
        out += [
            PlacementSnapshot(0.0, "europe-west1", (), seed=seed),
            PlacementSnapshot(
                60.0, "europe-west1", tuple(RegionView(r, 100.0, 5.0, 0, 4) for r in four)
            ),
            PlacementSnapshot(
                120.0, "europe-west1", tuple(RegionView(r, 250.0, 9.0, 2, 4) for r in four)
            ),
            PlacementSnapshot(
                180.0, "", (RegionView("europe-west9", 0.0, 0.0, 1, 1, (0.0,)),), seed=1
            ),
        ]
    while len(out) < count:
        n = regions if regions is not None else int(rng.integers(1, len(GCP_REGIONS) + 1))
        k = len(out)
        out.append(random_snapshot(rng, n, now_s=300.0 * k, seed=seed * 100_003 + k))
    return out[:count]


def check_placement_policy(
    policy: PlacementPolicy | Mapping[str, Any],
    snapshots: Sequence[PlacementSnapshot] | None = None,
) -> list[Placement]:
    """Run the placement conformance checks; raise `ConformanceError` on the first breach."""
    if isinstance(policy, Mapping):
        policy = create(policy)
    if not isinstance(policy, PlacementPolicy):
        raise ConformanceError(f"{policy!r} lacks `name` or `place(snapshot)`")
    name = policy.name
    results = []
    state: Any = None
    for snap in snapshots if snapshots is not None else placement_snapshots():
        snap = PlacementSnapshot(snap.now_s, snap.origin, snap.regions, state, snap.seed)
        first = pure_call(name, "place", "placements", policy.place, snap)
        if not isinstance(first, Placement):
            raise ConformanceError(
                f"{name}: place() returned {type(first).__name__}, not Placement"
            )
        _check_placement(name, snap, first)
        state = first.state
        results.append(first)
        if isinstance(policy, Rebalancer):
            moves = pure_call(name, "rebalance", "moves", policy.rebalance, snap)
            _check_moves(name, snap, moves)
    return results


def _check_moves(name: str, snap: PlacementSnapshot, moves: Sequence[Move]) -> None:
    """Moves name known regions, carry reasons, take no more than a source runs and put no
    more than a target has free."""
    held = {r.name: r.instances for r in snap.regions}
    free = {r.name: r.free for r in snap.regions}
    if not isinstance(moves, tuple) or not all(isinstance(mv, Move) for mv in moves):
        raise ConformanceError(f"{name}: rebalance() must return a tuple of Move")
    for mv in moves:
        if not isinstance(mv.count, int):
            raise ConformanceError(f"{name}: move count {mv.count!r} is not an integer")
        if mv.source not in held or mv.target not in held or mv.source == mv.target:
            raise ConformanceError(f"{name}: move between {mv.source!r} and {mv.target!r}")
        if mv.count <= 0 or not mv.reason:
            raise ConformanceError(f"{name}: move of {mv.count} with reason {mv.reason!r}")
        held[mv.source] -= mv.count
        free[mv.target] -= mv.count
        if held[mv.source] < 0 or free[mv.target] < 0:
            raise ConformanceError(
                f"{name}: moves take more than {mv.source} runs or {mv.target} has free"
            )


def _check_placement(name: str, snap: PlacementSnapshot, p: Placement) -> None:
    if not isinstance(p.reason, str) or not p.reason.strip():
        raise ConformanceError(f"{name}: placement {p.region!r} has no reason")
    by_name = {r.name: r for r in snap.regions}
    if p.region is not None:
        if p.region not in by_name:
            raise ConformanceError(f"{name}: placed on unknown region {p.region!r}")
        if by_name[p.region].free <= 0:
            raise ConformanceError(f"{name}: placed on full region {p.region!r} ({p.reason})")
    if p.scores is None:
        return
    if not isinstance(p.scores, dict):
        raise ConformanceError(f"{name}: scores must be a dict or None, got {type(p.scores)}")
    unknown = set(p.scores) - set(by_name)
    if unknown:
        raise ConformanceError(f"{name}: scores for unknown regions {sorted(unknown)[:5]}")
    bad = {k: v for k, v in p.scores.items() if not math.isfinite(float(v))}
    if bad:
        raise ConformanceError(f"{name}: non-finite scores {dict(list(bad.items())[:5])}")
    if p.region is not None:
        if p.region not in p.scores:
            raise ConformanceError(f"{name}: chose {p.region!r} but gave it no score")
        top = max(p.scores.values())
        if p.scores[p.region] < top:
            raise ConformanceError(
                f"{name}: chose {p.region!r} (score {p.scores[p.region]}) over a higher score {top}"
            )
