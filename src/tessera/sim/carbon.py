"""Carbon-aware placement across regions in virtual time: one placement per invocation.

The driver behind `tessera experiment greencourier`. Time runs in minutes;
minute `m` brings `per_minute[m] x scale` invocations, spread over the
origin regions by `origins` (largest-remainder rounding, then one seeded
shuffle), each starting a new instance that holds one slot for a lifetime
drawn uniformly from `lifetime_min` (1 minute by default; Knative keeps a
pod while traffic lasts, and the instance is billed carbon for all of it). Every invocation
asks the placement policy (`tessera.carbon.placement`) for a region, with a
`PlacementSnapshot` built from:

- the *signal* the policy would have: the grid intensity of the region's
  zone (`CarbonTable`) as read at the last refresh (every `refresh_s`,
  GreenCourier's 5 minutes), `signal_lag_s` old when read; during a provider
  `outage` the last reading before it is served, its age growing (the
  `Fallback` source's behaviour);
- a seasonal-naive forecast for the next `forecast_h` hours (the reading of
  the same hour the day before: past data only, no clairvoyance);
- the round-trip time from the invocation's origin (`Latency`);
- free slots: with a `cap`, a region is given no new instance once it holds
  ``ceil(cap x N)``, N the instances alive once this minute's are placed
  (older ones may outlive that share); without one, every region can hold all.

Metrics come from what happened, at the *true* intensity of every minute
the instance lived: operational gCO2 = energy x PUE x intensity summed over
its life (`tessera.carbon.accounting.account` of `usage`, one minute),
embodied gCO2 (the same per minute in every region: one server model),
added latency = RTT to the chosen region minus RTT to the origin's nearest
region, and whether the chosen region was the greenest of all when placed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.carbon.accounting import DEFAULT_SERVER, ServerModel, Usage, account
from tessera.carbon.grid import CarbonTable, Latency
from tessera.carbon.placement import (
    PlacementPolicy,
    PlacementSnapshot,
    Rebalancer,
    RegionView,
)
from tessera.core.errors import require

DAY_S = 86400.0


@dataclass(frozen=True)
class CarbonScenario:
    """Regions (cloud region names), origins (region -> share of requests) and the run."""

    regions: tuple[str, ...]
    origins: Mapping[str, float]
    per_minute: np.ndarray
    """Invocations per minute (e.g. the Azure trace); the run lasts len(per_minute) minutes."""
    start_s: float = 0.0
    """Where minute 0 falls in the carbon table (seconds since its start)."""
    scale: float = 1.0
    cap: float | None = None
    refresh_s: float = 300.0
    signal_lag_s: float = 0.0
    outage: tuple[float, float] | None = None
    """[start, end) in seconds since minute 0 during which no new reading arrives."""
    forecast_h: int = 4
    lifetime_min: tuple[int, int] = (1, 1)
    """An instance holds its slot for a lifetime drawn uniformly from this range (minutes)."""
    usage: Usage = field(default_factory=lambda: Usage(duration_s=60.0, mem_gib=0.25))
    """What one instance holds for one minute (its energy per minute of life)."""
    server: ServerModel = DEFAULT_SERVER
    seed: int = 0
    keep_reasons: int = 20
    migration_min: float = 0.1
    """A moved instance's cold start, in minutes of one instance at the target's intensity."""

    def __post_init__(self) -> None:
        require(len(self.regions) >= 1, "scenario.regions", self.regions, "at least one region")
        require(
            bool(self.origins) and all(v >= 0 for v in self.origins.values()),
            "scenario.origins",
            dict(self.origins),
            "region -> share >= 0",
        )
        require(self.cap is None or 0 < self.cap <= 1, "scenario.cap", self.cap, "None or (0, 1]")
        require(self.refresh_s > 0, "scenario.refresh_s", self.refresh_s, "seconds > 0")
        require(self.signal_lag_s >= 0, "scenario.signal_lag_s", self.signal_lag_s, ">= 0")
        require(self.scale > 0, "scenario.scale", self.scale, "> 0")
        lo, hi = self.lifetime_min
        require(1 <= lo <= hi, "scenario.lifetime_min", self.lifetime_min, "1 <= min <= max")


@dataclass
class CarbonRun:
    """Per-invocation outcomes of one policy over one scenario."""

    policy: str
    minute: np.ndarray
    origin: np.ndarray
    region: np.ndarray
    """Index into the scenario's regions; -1: rejected."""
    operational_g: np.ndarray
    embodied_g: np.ndarray
    added_ms: np.ndarray
    in_greenest: np.ndarray
    reasons: list[str]
    life: np.ndarray
    """Minutes each instance held its slot."""
    moved: int = 0
    """Running instances moved to another region (policies that rebalance)."""
    moved_g: float = 0.0
    """What those moves changed in operational grams (negative: saved), cold starts included;
    `operational_g` is per invocation as placed, so the metric adds this to their sum.
    `region`, `added_ms` and `in_greenest` stay where an instance was placed."""
    over_cap: int = 0
    """Placements into a region that had no free slot (0 for a policy that reads `free`)."""

    def metrics(self) -> dict[str, float]:
        ok = self.region >= 0
        n = int(ok.sum())
        total_g = float(self.operational_g[ok].sum()) + self.moved_g
        return {
            "gco2_per_invocation": total_g / n if n else math.nan,
            "moves_per_invocation": self.moved / n if n else math.nan,
            "embodied_gco2_per_invocation": float(self.embodied_g[ok].mean()) if n else math.nan,
            "p95_added_latency_ms": float(np.percentile(self.added_ms[ok], 95)) if n else math.nan,
            "share_in_greenest": float(self.in_greenest[ok].mean()) if n else math.nan,
            "rejected_share": float(1.0 - n / max(len(self.region), 1)),
            "invocations": float(len(self.region)),
        }


def _split(n: int, shares: np.ndarray) -> np.ndarray:
    """`n` items over `shares` by largest remainder."""
    want = shares / shares.sum() * n
    counts: np.ndarray = np.floor(want).astype(int)
    for k in np.argsort(-(want - counts), kind="stable")[: n - int(counts.sum())]:
        counts[k] += 1
    return counts


def simulate(
    policy: PlacementPolicy,
    scenario: CarbonScenario,
    table: CarbonTable,
    latency: Latency,
) -> CarbonRun:
    """Run `policy` over `scenario` (see the module docstring)."""
    sc = scenario
    regions = list(sc.regions)
    index = {r: i for i, r in enumerate(regions)}
    zones = [latency.zone_of(r) for r in regions]
    origins = sorted(sc.origins)
    rtt = np.array([[latency.rtt_ms(o, r) for r in regions] for o in origins])
    nearest = rtt.min(axis=1)
    series = np.stack([table.series(z) for z in zones])  # regions x hours
    hours = series.shape[1]
    unit = account(sc.usage, 1.0, sc.server)  # per minute of life: grams per g/kWh, embodied
    rng = np.random.default_rng(sc.seed)
    shares = np.array([sc.origins[o] for o in origins], dtype=float)
    out_min, out_org, out_reg, out_ci = [], [], [], []
    reasons: list[str] = []
    state = None

    def hour_at(t_s: float) -> int:
        return int((sc.start_s + t_s) // 3600.0) % int(hours)

    minutes = len(sc.per_minute)
    lo, hi = sc.lifetime_min
    ends = np.zeros((len(regions), minutes + hi + 1), dtype=np.int64)  # expiries per minute
    alive = np.zeros(len(regions), dtype=np.int64)
    out_life: list[int] = []
    # the true intensity of every minute, summed: grams over any span of an instance's life
    first = int(sc.start_s // 60.0)
    span = np.arange(first, first + minutes + hi + 1)
    per_min = series[:, (span // 60) % hours]
    prefix = np.concatenate([np.zeros((len(regions), 1)), np.cumsum(per_min, axis=1)], axis=1)
    mover = policy if isinstance(policy, Rebalancer) else None
    moved = [0, 0.0]  # instances moved, their carbon change in per-minute intensity units
    move_rng = np.random.default_rng([sc.seed, 1])  # moves must not change the workload draws
    last_read: float | None = None
    over_cap = 0
    for m, count in enumerate(np.asarray(sc.per_minute, dtype=float)):
        alive -= ends[:, m]
        t = m * 60.0
        fetched = math.floor(t / sc.refresh_s) * sc.refresh_s
        if sc.outage is not None and sc.outage[0] <= t < sc.outage[1]:
            fetched = min(fetched, math.floor(sc.outage[0] / sc.refresh_s) * sc.refresh_s)
        read_t = fetched - sc.signal_lag_s
        h = hour_at(read_t)
        signal = series[:, h]
        if mover is not None and fetched != last_read and alive.any():  # a new reading: move?
            _rebalance(
                mover, sc, regions, signal, t - read_t, alive, ends, m, prefix, move_rng, moved
            )
        last_read = fetched
        n = round(count * sc.scale)
        if n <= 0:
            continue
        forecast = [series[:, (h + k - 24) % hours] for k in range(1, sc.forecast_h + 1)]
        fc = [tuple(float(f[i]) for f in forecast) for i in range(len(regions))]
        age = t - read_t
        total = int(alive.sum()) + n
        slots = total if sc.cap is None else math.ceil(sc.cap * total)
        who = np.repeat(np.arange(len(origins)), _split(n, shares))
        rng.shuffle(who)
        lives = rng.integers(lo, hi + 1, size=n)
        true_h = hour_at(t)
        for o, life in zip(who, lives, strict=True):
            views = tuple(
                RegionView(
                    regions[i],
                    float(signal[i]),
                    float(rtt[o, i]),
                    max(slots - int(alive[i]), 0),
                    slots,
                    fc[i],
                    age,
                )
                for i in range(len(regions))
            )
            snap = PlacementSnapshot(t, origins[o], views, state, sc.seed * 1_000_003 + m)
            decision = policy.place(snap)
            state = decision.state
            i = index[decision.region] if decision.region is not None else -1
            if i >= 0:
                over_cap += int(alive[i] >= slots)  # a policy that ignored `free`
                alive[i] += 1
                ends[i, m + int(life)] += 1
            if len(reasons) < sc.keep_reasons:
                reasons.append(f"minute {m} from {origins[o]}: {decision.reason}")
            out_min.append(m)
            out_org.append(o)
            out_reg.append(i)
            out_ci.append(true_h)
            out_life.append(int(life))
    minute = np.array(out_min, dtype=np.int64)
    origin = np.array(out_org, dtype=np.int64)
    region = np.array(out_reg, dtype=np.int64)
    hour = np.array(out_ci, dtype=np.int64)
    life = np.array(out_life, dtype=np.int64)
    ok = region >= 0
    r = np.where(ok, region, 0)
    ci_minutes = prefix[r, minute + life] - prefix[r, minute]
    ci = np.where(ok, ci_minutes, math.nan)
    greenest = series[:, hour].min(axis=0) if len(hour) else np.zeros(0)
    now_ci = series[r, hour]
    added = np.where(ok, rtt[origin, r] - nearest[origin], math.nan)
    return CarbonRun(
        getattr(policy, "name", type(policy).__name__),
        minute,
        origin,
        region,
        ci * unit.operational_g,
        np.where(ok, unit.embodied_g * life, math.nan),
        added,
        np.where(ok, now_ci <= greenest + 1e-9, False),
        reasons,
        life,
        moved=int(moved[0]),
        moved_g=float(moved[1]) * unit.operational_g,
        over_cap=over_cap,
    )


def _rebalance(
    mover: Rebalancer,
    sc: CarbonScenario,
    regions: list[str],
    signal: np.ndarray,
    age_s: float,
    alive: np.ndarray,
    ends: np.ndarray,
    m: int,
    prefix: np.ndarray,
    rng: np.random.Generator,
    moved: list[Any],
) -> None:
    """Ask `mover` where running instances should go and move them: which instances of a
    source region move is drawn at random (the policy cannot know lifetimes); each is
    charged the target's intensity for the rest of its life instead of the source's, plus
    `migration_min` minutes at the target for its cold start."""
    total = int(alive.sum())
    slots = total if sc.cap is None else math.ceil(sc.cap * total)
    views = tuple(
        RegionView(
            regions[i],
            float(signal[i]),
            0.0,
            max(slots - int(alive[i]), 0),
            slots,
            (),
            age_s,
            int(alive[i]),
        )
        for i in range(len(regions))
    )
    index = {r: i for i, r in enumerate(regions)}
    for mv in mover.rebalance(PlacementSnapshot(m * 60.0, "*", views, None, sc.seed + m)):
        src, dst = index[mv.source], index[mv.target]
        k = min(mv.count, int(alive[src]), max(slots - int(alive[dst]), 0))
        if k <= 0 or src == dst:
            continue
        later = ends[src, m + 1 :]  # the source's instances by the minute they end
        take = rng.multivariate_hypergeometric(later, k)
        ends[src, m + 1 :] -= take
        ends[dst, m + 1 :] += take
        alive[src] -= k
        alive[dst] += k
        e = np.flatnonzero(take) + m + 1
        rest = (prefix[dst, e] - prefix[dst, m]) - (prefix[src, e] - prefix[src, m])
        cold = sc.migration_min * float(prefix[dst, m + 1] - prefix[dst, m])  # minute m there
        moved[0] += k
        moved[1] += float(rest @ take[e - m - 1]) + k * cold


def diurnal_minutes(days: float, mean_per_min: float, seed: int = 0) -> np.ndarray:
    """A synthetic per-minute workload (when the trace is absent): Poisson around a diurnal
    sine with its peak at 14:00 UTC, amplitude 60% of the mean."""
    minutes = int(days * 1440)
    t = np.arange(minutes) / 60.0
    rate = mean_per_min * (1.0 + 0.6 * np.sin(2 * np.pi * (t - 8.0) / 24.0))
    out: np.ndarray = np.random.default_rng(seed).poisson(rate).astype(float)
    return out


def region_means(table: CarbonTable, latency: Latency, regions: Sequence[str]) -> dict[str, float]:
    """Annual mean intensity per region (what `static-greenest` ranks by)."""
    return {r: table.annual_mean(latency.zone_of(r)) for r in regions}


def fluid_bound(
    run: CarbonRun, scenario: CarbonScenario, table: CarbonTable, latency: Latency
) -> float:
    """A lower bound on operational gCO2 per invocation for *any* policy on `scenario`,
    even one that could move every running instance every minute for free and knew the
    true intensity: each minute, the instances alive (the same for every policy that
    rejects nothing) fill regions greenest-first, each up to what the cap can leave in one
    region then. That is not the cap of the minute itself: a region is refused new
    instances at ``ceil(cap x alive)`` when they are placed or moved there, and keeps them
    while the total shrinks, so it may hold up to the largest such cap of any minute within
    the longest lifetime before (the last arrival there, after which its count only
    falls)."""
    return _greenest_fill(run, scenario, table, latency, strict=False)


def strict_cap_ideal(
    run: CarbonRun, scenario: CarbonScenario, table: CarbonTable, latency: Latency
) -> float:
    """Operational gCO2 per invocation of the best a policy can do if it keeps every region
    within the cap at *every* minute (``ceil(cap x alive)``, the cap read strictly) while
    moving every running instance every minute for free with the true intensity: the same
    greenest-first fill as `fluid_bound`, each region up to the cap of that very minute.
    Not a lower bound (the simulator lets a region keep what it holds while the total
    shrinks, which `fluid_bound` allows for), but the reference for "no region above 40%
    of the live instances"; without a cap it equals `fluid_bound`."""
    return _greenest_fill(run, scenario, table, latency, strict=True)


def _greenest_fill(
    run: CarbonRun, sc: CarbonScenario, table: CarbonTable, latency: Latency, *, strict: bool
) -> float:
    if not len(run.minute):
        return 0.0  # nothing placed: nothing to charge
    zones = [latency.zone_of(r) for r in sc.regions]
    series = np.stack([table.series(z) for z in zones])
    span = int(run.minute.max() + run.life.max() + 1)
    alive = np.zeros(span, dtype=np.int64)
    np.add.at(alive, run.minute, 1)
    np.subtract.at(alive, run.minute + run.life, 1)
    alive = np.cumsum(alive)
    if sc.cap is None:
        held = alive
    else:
        caps = np.ceil(sc.cap * alive).astype(np.int64)
        longest = 0 if strict else int(run.life.max())
        padded = np.concatenate([np.zeros(longest, dtype=np.int64), caps])
        held = np.lib.stride_tricks.sliding_window_view(padded, longest + 1).max(axis=1)
    first = int(sc.start_s // 60.0)
    ci = series[:, ((first + np.arange(span)) // 60) % series.shape[1]]
    order = np.sort(ci, axis=0)  # greenest first, per minute
    total = 0.0
    for t in range(span):
        n, cap = int(alive[t]), int(held[t])
        k = np.minimum(cap, np.maximum(n - cap * np.arange(len(zones)), 0))
        total += float(k @ order[:, t])
    unit = account(sc.usage, 1.0, sc.server).operational_g
    return total * unit / max(len(run.minute), 1)
