"""Where a new function instance should run: carbon-aware placement as pure policies.

GreenCourier (WoSC'23) scores regions by marginal emissions alone. Tessera also
weighs the forecast over the instance's horizon, how full each region is and
how old its signal is, and honours a latency budget. This module holds the
contract both drivers speak (the simulator and the Kubernetes scheduler
extender in `tessera.control.k8s_extender`) and the registered policies, so
the same objects decide in a simulated year and in front of a real cluster.

Contract: a `PlacementSnapshot` (the time, the request's origin, one
`RegionView` per candidate region, the policy's previous state and a seed) ->
a `Placement` (the region or None, a reason, optional per-region `scores`
where **higher is better** on the policy's own scale, and the next state).
When a region is chosen and scores are given, it holds the highest score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tessera.core.errors import require
from tessera.core.registry import Registry

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class RegionView:
    """One candidate region as a placement policy sees it.

    `rtt_ms` is measured from the request's origin; `free` counts instance
    slots left of `capacity`; `forecast` holds the intensities of the next
    hours (hour 1, 2, ...; may be empty); `signal_age_s` is how old the
    current intensity reading is.
    """

    name: str
    intensity_g_per_kwh: float
    rtt_ms: float
    free: int
    capacity: int
    forecast: tuple[float, ...] = ()
    signal_age_s: float = 0.0
    instances: int = 0
    """Instances running there now (what a `Rebalancer` may move)."""

    def __post_init__(self) -> None:
        require(bool(self.name), "region.name", self.name, "a non-empty string")
        for field, v in (
            ("intensity_g_per_kwh", self.intensity_g_per_kwh),
            ("rtt_ms", self.rtt_ms),
            ("signal_age_s", self.signal_age_s),
        ):
            require(math.isfinite(v) and v >= 0, f"region.{field}", v, "a finite number >= 0")
        require(self.capacity >= 0, "region.capacity", self.capacity, "an integer >= 0")
        require(self.instances >= 0, "region.instances", self.instances, "an integer >= 0")
        require(0 <= self.free <= self.capacity, "region.free", self.free, "0 <= free <= capacity")
        require(
            all(math.isfinite(x) and x >= 0 for x in self.forecast),
            "region.forecast",
            self.forecast,
            "finite intensities >= 0 (g/kWh)",
        )


@dataclass(frozen=True, slots=True)
class PlacementSnapshot:
    """Everything a placement policy may know when one instance must be placed."""

    now_s: float
    origin: str
    regions: tuple[RegionView, ...]
    state: Any = None
    seed: int = 0

    def __post_init__(self) -> None:
        names = [r.name for r in self.regions]
        require(len(set(names)) == len(names), "snapshot.regions", names, "unique region names")

    def rng(self) -> np.random.Generator:
        """A generator derived from `seed` alone (never global random state)."""
        return np.random.Generator(np.random.PCG64(self.seed))


@dataclass(frozen=True, slots=True)
class Placement:
    """The decision: a region (None = rejected), why, per-region scores and the next state."""

    region: str | None
    reason: str
    scores: dict[str, float] | None = None
    state: Any = None


@runtime_checkable
class PlacementPolicy(Protocol):
    name: str

    def place(self, snapshot: PlacementSnapshot) -> Placement: ...


@dataclass(frozen=True, slots=True)
class Move:
    """Move `count` running instances from `source` to `target` (start there, drain here)."""

    source: str
    target: str
    count: int
    reason: str


@runtime_checkable
class Rebalancer(Protocol):
    """A placement policy that also moves running instances when the grid changes (pure:
    the snapshot's regions carry `instances`; `origin` and `rtt_ms` are not meaningful)."""

    def rebalance(self, snapshot: PlacementSnapshot) -> tuple[Move, ...]: ...


PLACEMENT_POLICIES: Registry[PlacementPolicy] = Registry("placement_policy")


def create(config: Mapping[str, Any]) -> PlacementPolicy:
    """Build a placement policy from `{kind: NAME, **params}`."""
    return PLACEMENT_POLICIES.from_config(config)


# --- shared helpers -------------------------------------------------------------------------


def _none(snapshot: PlacementSnapshot, reason: str) -> Placement:
    return Placement(None, reason, None, snapshot.state)


def _column(regions: Sequence[RegionView], attr: str) -> FloatArray:
    return np.fromiter(map(attrgetter(attr), regions), np.float64, len(regions))


def _best(cost: FloatArray, tie: Callable[[int], tuple[Any, ...]]) -> tuple[int | None, int | None]:
    """Indices of the lowest and second-lowest finite cost; ties go to the smallest `tie(i)`."""

    def pick(c: FloatArray) -> int | None:
        m = float(c.min()) if len(c) else math.inf
        if not math.isfinite(m):
            return None
        ties = np.flatnonzero(c == m)
        return int(ties[0]) if len(ties) == 1 else min((int(i) for i in ties), key=tie)

    first = pick(cost)
    if first is None:
        return None, None
    rest = cost.copy()
    rest[first] = math.inf
    return first, pick(rest)


def _full_reason(snapshot: PlacementSnapshot, free: FloatArray) -> Placement | None:
    """The rejection when there is nothing to place on, else None."""
    if not snapshot.regions:
        return _none(snapshot, "no regions in the snapshot")
    if not (free > 0).any():
        return _none(snapshot, f"all {len(free)} regions are full")
    return None


# --- baselines ------------------------------------------------------------------------------


@PLACEMENT_POLICIES.register("round-robin")
class RoundRobin:
    """Regions in snapshot order, one after the other, skipping full ones; state = next index."""

    name = "round-robin"

    def place(self, snapshot: PlacementSnapshot) -> Placement:
        regions = snapshot.regions
        n = len(regions)
        start = snapshot.state % n if isinstance(snapshot.state, int) and n else 0
        for k in range(n):
            i = (start + k) % n
            if regions[i].free > 0:
                skipped = f" (skipped {k} full)" if k else ""
                why = f"round-robin: {regions[i].name} is slot {i} of {n}{skipped}"
                return Placement(regions[i].name, why, None, (i + 1) % n)
        why = "no regions in the snapshot" if n == 0 else f"all {n} regions are full"
        return _none(snapshot, why)


@PLACEMENT_POLICIES.register("latency-nearest")
class LatencyNearest:
    """The region with free capacity nearest the request's origin; scores are -rtt_ms."""

    name = "latency-nearest"

    def place(self, snapshot: PlacementSnapshot) -> Placement:
        regions = snapshot.regions
        free = _column(regions, "free")
        if (rejected := _full_reason(snapshot, free)) is not None:
            return rejected
        rtt = np.where(free > 0, _column(regions, "rtt_ms"), math.inf)
        win, run = _best(rtt, lambda i: (regions[i].name,))
        assert win is not None
        ok = np.flatnonzero(free > 0)
        scores = dict(zip([regions[i].name for i in ok], (-rtt[ok]).tolist(), strict=True))
        why = f"{regions[win].name}: nearest to {snapshot.origin or 'the origin'} with free capacity ({rtt[win]:.0f} ms)"
        if run is not None:
            why += f"; runner-up {regions[run].name} at {rtt[run]:.0f} ms"
        return Placement(regions[win].name, why, scores, snapshot.state)


@PLACEMENT_POLICIES.register("static-greenest")
class StaticGreenest:
    """A fixed preference order (e.g. by annual mean intensity), first one with free capacity.

    Give either `order` (region names, most preferred first) or `annual_means`
    (region -> mean g/kWh; ordered lowest first). Regions outside the order are
    never used. Scores: len(order) - position.
    """

    name = "static-greenest"

    def __init__(
        self,
        order: Sequence[str] | None = None,
        annual_means: Mapping[str, float] | None = None,
    ) -> None:
        require(
            (order is None) != (annual_means is None),
            "static-greenest",
            {"order": order, "annual_means": annual_means},
            "exactly one of order (names) or annual_means (name -> g/kWh)",
        )
        if annual_means is not None:
            order = sorted(annual_means, key=lambda r: (float(annual_means[r]), r))
        names = tuple(str(r) for r in order or ())
        require(
            bool(names) and len(set(names)) == len(names),
            "static-greenest.order",
            order,
            "a non-empty sequence of distinct region names",
        )
        self.order = names

    def place(self, snapshot: PlacementSnapshot) -> Placement:
        if not snapshot.regions:
            return _none(snapshot, "no regions in the snapshot")
        by_name = {r.name: r for r in snapshot.regions}
        n = len(self.order)
        ranked = [(k, by_name[r]) for k, r in enumerate(self.order) if r in by_name]
        scores = {r.name: float(n - k) for k, r in ranked if r.free > 0}
        full = [r.name for _, r in ranked if r.free <= 0]
        for k, r in ranked:
            if r.free > 0:
                why = (
                    f"{r.name}: first of the configured order with free capacity (rank {k + 1}/{n})"
                )
                if full:
                    why += f"; skipped full {', '.join(full[:3])}"
                return Placement(r.name, why, scores, snapshot.state)
        why = f"none of the {n} configured regions has free capacity here"
        why += f" ({len(full)} full, {n - len(ranked)} absent from the snapshot)"
        return _none(snapshot, why)


@PLACEMENT_POLICIES.register("greencourier")
class GreenCourier:
    """GreenCourier's score: 100 - round(100 (v - min) / (max - min)) on the current intensity.

    As in its Kubernetes Score plugin, only regions that passed filtering (here:
    those with free capacity) are scored; min and max are taken over them,
    rounding is half away from zero, all-equal intensities all score 100, the
    highest score wins, ties go to the first name. No latency, forecast or
    signal-age term.
    """

    name = "greencourier"

    def place(self, snapshot: PlacementSnapshot) -> Placement:
        regions = snapshot.regions
        free = _column(regions, "free")
        if (rejected := _full_reason(snapshot, free)) is not None:
            return rejected
        ok = np.flatnonzero(free > 0)
        v = _column(regions, "intensity_g_per_kwh")[ok]
        lo, hi = float(v.min()), float(v.max())
        s = (
            np.full(len(v), 100.0)
            if hi == lo
            else 100.0 - np.floor(100.0 * (v - lo) / (hi - lo) + 0.5)
        )
        names = [regions[i].name for i in ok]
        win, run = _best(-s, lambda i: (names[i],))
        assert win is not None
        why = f"{names[win]}: score {s[win]:.0f} at {v[win]:.0f} g/kWh (min-max over the {len(ok)} with free capacity"
        skipped = len(regions) - len(ok)
        why += f"; {skipped} full skipped)" if skipped else ")"
        if run is not None:
            why += f"; runner-up {names[run]} score {s[run]:.0f} at {v[run]:.0f} g/kWh"
        why += "; latency and forecast ignored"
        return Placement(names[win], why, dict(zip(names, s.tolist(), strict=True)), snapshot.state)


# --- ours -----------------------------------------------------------------------------------


_FORECAST = attrgetter("forecast")


def expected_intensity(regions: Sequence[RegionView], horizon_h: int) -> FloatArray:
    """Mean intensity over the next `horizon_h` hours: the current value, then the forecast."""
    now = _column(regions, "intensity_g_per_kwh")
    if horizon_h <= 1:
        return now
    ahead = [f[: horizon_h - 1] for f in map(_FORECAST, regions)]
    lens = np.fromiter(map(len, ahead), np.intp, len(ahead))
    total = np.zeros(len(ahead))
    some = np.flatnonzero(lens)
    if len(some):  # one pass over the concatenated hours, summed per region
        flat = np.fromiter(chain.from_iterable(ahead), np.float64, int(lens.sum()))
        starts = np.cumsum(lens)[some] - lens[some]
        total[some] = np.add.reduceat(flat, starts)
    out: FloatArray = (now + total) / (1.0 + lens)
    return out


@PLACEMENT_POLICIES.register("tessera")
class TesseraPlacement:
    """Carbon-, latency- and capacity-aware placement (ours).

    Among regions with free capacity and `rtt_ms <= latency_budget_ms` (None:
    no budget), minimise

        cost = expected x (1 + spread_beta x u^spread_power) x (1 + stale)

    where `expected` is the mean intensity over `horizon_h` hours (current
    value then forecast), `u` the region's utilisation once this instance is
    placed (so the greenest region is not filled to the brim while another is
    nearly as green) and `stale = min(stale_cap, stale_per_h x hours the signal
    is older than fresh_s)`. Ties go to the nearer, then the first name.
    Scores: 100 x best cost / cost (winner 100, eligible regions only).
    """

    name = "tessera"

    def __init__(
        self,
        latency_budget_ms: float | None = None,
        horizon_h: int = 4,
        spread_beta: float = 0.5,
        spread_power: float = 4.0,
        stale_per_h: float = 0.05,
        stale_cap: float = 0.25,
        fresh_s: float = 900.0,
        migrate_gain: float | None = None,
    ) -> None:
        budget = latency_budget_ms
        checks: tuple[tuple[str, object, bool, str], ...] = (
            ("latency_budget_ms", budget, budget is None or budget >= 0, "None (off) or ms >= 0"),
            ("horizon_h", horizon_h, int(horizon_h) == horizon_h >= 1, "an integer >= 1"),
            ("spread_beta", spread_beta, spread_beta >= 0, ">= 0"),
            ("spread_power", spread_power, spread_power > 0, "> 0"),
            ("stale_per_h", stale_per_h, stale_per_h >= 0, ">= 0 (fraction per hour)"),
            ("stale_cap", stale_cap, stale_cap >= 0, ">= 0 (fraction)"),
            ("fresh_s", fresh_s, fresh_s >= 0, "seconds >= 0"),
            (
                "migrate_gain",
                migrate_gain,
                migrate_gain is None or (0 < migrate_gain < 1 and budget is None),
                "None (never move running instances) or a fraction in (0, 1) without a "
                "latency budget (moves do not look at latency)",
            ),
        )
        for field, value, ok, accepted in checks:
            require(ok, f"tessera.{field}", value, accepted)
        self.latency_budget_ms, self.horizon_h = latency_budget_ms, int(horizon_h)
        self.spread_beta, self.spread_power = spread_beta, spread_power
        self.stale_per_h, self.stale_cap, self.fresh_s = stale_per_h, stale_cap, fresh_s
        self.migrate_gain = migrate_gain

    def rebalance(self, snapshot: PlacementSnapshot) -> tuple[Move, ...]:
        """With `migrate_gain` set: move running instances from the dirtiest regions to the
        greenest with free capacity while the target's intensity is at least `migrate_gain`
        below the source's (the margin pays for the cold start and absorbs noise). Only a
        fresh signal moves anything: a stale one is no reason to disturb running work."""
        if self.migrate_gain is None:
            return ()
        regions = snapshot.regions
        ci = _column(regions, "intensity_g_per_kwh")
        held = [r.instances for r in regions]
        free = [r.free for r in regions]
        fresh = [r.signal_age_s <= self.fresh_s for r in regions]
        moves: list[Move] = []
        by_ci = sorted(range(len(regions)), key=lambda i: (ci[i], regions[i].name))
        for src in reversed(by_ci):  # dirtiest first
            if not fresh[src]:
                continue
            for dst in by_ci:  # greenest first
                if ci[dst] > ci[src] * (1 - self.migrate_gain):
                    break  # targets only get dirtier from here
                k = min(held[src], free[dst]) if fresh[dst] else 0
                if k <= 0:
                    continue
                held[src] -= k
                free[dst] -= k
                why = (
                    f"{regions[dst].name} at {ci[dst]:.0f} g/kWh is "
                    f"{1 - ci[dst] / max(ci[src], 1e-9):.0%} below {regions[src].name} at "
                    f"{ci[src]:.0f} (threshold {self.migrate_gain:.0%}), {k} slot(s) free"
                )
                moves.append(Move(regions[src].name, regions[dst].name, k, why))
        return tuple(moves)

    def place(self, snapshot: PlacementSnapshot) -> Placement:
        regions = snapshot.regions
        free = _column(regions, "free")
        if (rejected := _full_reason(snapshot, free)) is not None:
            return rejected
        budget = self.latency_budget_ms
        ok = free > 0
        n_far = 0
        if budget is not None:
            rtt = _column(regions, "rtt_ms")
            near = rtt <= budget
            if not (ok & near).any():
                far = np.flatnonzero(ok)
                nearest = far[np.argmin(rtt[far])]
                why = f"no region with free capacity within the {budget:g} ms latency budget"
                why += f" ({int((~ok).sum())} full; nearest free {regions[nearest].name}"
                return _none(snapshot, why + f" at {rtt[nearest]:.0f} ms)")
            n_far = int((ok & ~near).sum())
            ok &= near
        cap = _column(regions, "capacity")
        expected = expected_intensity(regions, self.horizon_h)
        util = np.clip((cap - free + 1.0) / np.maximum(cap, 1.0), 0.0, 1.0)
        spread = 1.0 + self.spread_beta * util**self.spread_power
        late_h = np.maximum(_column(regions, "signal_age_s") - self.fresh_s, 0.0) / 3600.0
        stale = 1.0 + np.minimum(self.stale_cap, self.stale_per_h * late_h)
        cost = np.where(ok, expected * spread * stale, math.inf)
        win, run = _best(cost, lambda i: (regions[i].rtt_ms, regions[i].name))
        assert win is not None
        idx = np.flatnonzero(ok)
        c = cost[idx]
        best = cost[win]
        score = np.where(c > 0, 100.0 * best / np.where(c > 0, c, 1.0), 100.0)
        scores = dict(zip([regions[i].name for i in idx.tolist()], score.tolist(), strict=True))
        w = regions[win]
        if w.forecast and self.horizon_h > 1:
            why = f"{w.name}: expected {expected[win]:.0f} g/kWh over {self.horizon_h} h (forecast)"
        else:
            why = f"{w.name}: {expected[win]:.0f} g/kWh now (no forecast)"
        why += f", utilisation {util[win]:.0%} once placed, {w.rtt_ms:.0f} ms -> cost {best:.1f}"
        if run is not None:
            why += f"; runner-up {regions[run].name} cost {cost[run]:.1f}"
            why += f" ({self._why_worse(win, run, expected, spread, stale, regions)})"
        excluded = []
        if (n_full := int((free <= 0).sum())) > 0:
            excluded.append(f"{n_full} full")
        if n_far > 0:
            excluded.append(f"{n_far} beyond the {budget:g} ms budget")
        if excluded:
            why += "; excluded " + ", ".join(excluded)
        return Placement(w.name, why, scores, snapshot.state)

    @staticmethod
    def _why_worse(
        w: int,
        r: int,
        expected: FloatArray,
        spread: FloatArray,
        stale: FloatArray,
        regions: Sequence[RegionView],
    ) -> str:
        """Which factors make the runner-up cost more (or why it lost a tie)."""
        worse = []
        if expected[r] > expected[w]:
            worse.append(f"{expected[r] / max(expected[w], 1e-9):.2f}x the expected intensity")
        if spread[r] > spread[w]:
            worse.append(f"fuller: load penalty +{spread[r] - 1:.0%}")
        if stale[r] > stale[w]:
            worse.append(f"staler signal: +{stale[r] - 1:.0%}")
        if not worse:
            further = regions[r].rtt_ms > regions[w].rtt_ms
            worse.append(f"tied on cost, {regions[r].rtt_ms:.0f} ms away" if further else "tied")
        greener = f"greener at {expected[r]:.0f} g/kWh but " if expected[r] < expected[w] else ""
        return greener + ", ".join(worse)
