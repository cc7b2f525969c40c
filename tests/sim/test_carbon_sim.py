"""Carbon placement simulator: caps hold, lifetimes are charged at every minute's intensity."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tessera.carbon.accounting import Usage, account
from tessera.carbon.grid import CarbonTable, Latency
from tessera.carbon.placement import Placement, PlacementSnapshot, create
from tessera.core.errors import InputError
from tessera.sim.carbon import CarbonScenario, fluid_bound, simulate, strict_cap_ideal

REGIONS = ("r-a", "r-b", "r-c")


def _world(hours: int = 48) -> tuple[CarbonTable, Latency]:
    a = np.full(hours, 100.0)
    b = np.where(np.arange(hours) % 24 < 12, 50.0, 400.0)  # green mornings, dirty afternoons
    c = np.full(hours, 300.0)
    table = CarbonTable(("A", "B", "C"), np.column_stack([a, b, c]), source="test")
    latency = Latency(
        zones_by_region={"r-a": "A", "r-b": "B", "r-c": "C"},
        measured_ms={("r-a", "r-b"): 10.0, ("r-a", "r-c"): 40.0, ("r-b", "r-c"): 30.0},
    )
    return table, latency


def _scenario(**kw: object) -> CarbonScenario:
    base: dict[str, object] = {
        "regions": REGIONS,
        "origins": {"r-a": 1.0, "r-c": 1.0},
        "per_minute": np.full(24 * 60, 5.0),
    }
    return CarbonScenario(**(base | kw))  # type: ignore[arg-type]


def test_one_minute_instances_cost_the_hour_they_ran_in() -> None:
    table, latency = _world()
    run = simulate(create({"kind": "greencourier"}), _scenario(), table, latency)
    per_min = account(Usage(duration_s=60.0, mem_gib=0.25), 1.0).operational_g
    hour = run.minute // 60
    expected = np.where(hour % 24 < 12, 50.0, 100.0) * per_min  # B before noon, then A
    np.testing.assert_allclose(run.operational_g, expected)
    assert run.metrics()["share_in_greenest"] == 1.0 and run.metrics()["rejected_share"] == 0
    # added latency is measured against each user's nearest region (their own)
    assert set(np.unique(run.added_ms).tolist()) <= {0.0, 10.0, 30.0, 40.0}


def test_a_cap_bounds_every_region_and_lifetimes_hold_slots() -> None:
    table, latency = _world()
    run = simulate(
        create({"kind": "greencourier"}), _scenario(cap=0.4, lifetime_min=(5, 30)), table, latency
    )
    assert run.life.min() >= 5 and run.life.max() <= 30
    live = np.zeros((len(REGIONS), 24 * 60 + 31), dtype=int)
    for m, r, n in zip(run.minute, run.region, run.life, strict=True):
        live[r, m : m + n] += 1
    total = live.sum(axis=0)
    placed = np.zeros_like(live)
    np.add.at(placed, (run.region, run.minute), 1)
    cap = np.ceil(0.4 * total)
    # a region is given new instances only up to 40% of all alive (older ones may outlive that)
    assert np.all(live[placed > 0] <= np.broadcast_to(cap, live.shape)[placed > 0])
    assert (live[1] == cap).any()  # and the green region does fill up
    # each instance is charged for every minute it lived: far more than a one-minute one
    one = simulate(create({"kind": "greencourier"}), _scenario(cap=0.4), table, latency)
    assert run.operational_g.mean() > 4 * one.operational_g.mean()


def test_stale_and_missing_signals_cost_carbon() -> None:
    table, latency = _world()
    fresh = simulate(create({"kind": "greencourier"}), _scenario(), table, latency)
    late = simulate(
        create({"kind": "greencourier"}), _scenario(signal_lag_s=6 * 3600.0), table, latency
    )
    down = simulate(
        create({"kind": "greencourier"}),
        _scenario(outage=(6 * 3600.0, 18 * 3600.0)),
        table,
        latency,
    )
    f, lag, d = (r.metrics()["gco2_per_invocation"] for r in (fresh, late, down))
    assert lag > f and d > f  # B turns dirty at noon; a stale signal keeps sending work there


def test_latency_budget_and_determinism() -> None:
    table, latency = _world()
    sc = _scenario(origins={"r-c": 1.0})
    tight = simulate(create({"kind": "tessera", "latency_budget_ms": 35.0}), sc, table, latency)
    assert tight.metrics()["p95_added_latency_ms"] <= 35.0
    assert "r-a" not in {REGIONS[i] for i in tight.region}  # 40 ms away from r-c users
    again = simulate(create({"kind": "tessera", "latency_budget_ms": 35.0}), sc, table, latency)
    assert again.metrics() == tight.metrics()


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"cap": 0.0}, "scenario.cap"), ({"lifetime_min": (0, 3)}, "scenario.lifetime_min")],
)
def test_bad_scenarios_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as e:
        _scenario(**kw)
    assert e.value.field == field


def test_the_fluid_bound_is_below_every_policy_and_tight_for_greedy_one_minute_work() -> None:
    table, latency = _world()
    sc = _scenario()
    greedy = simulate(create({"kind": "greencourier"}), sc, table, latency)
    assert fluid_bound(greedy, sc, table, latency) == pytest.approx(
        greedy.metrics()["gco2_per_invocation"]
    )
    capped = _scenario(cap=0.4, lifetime_min=(5, 30))
    for kind in ("round-robin", "greencourier", "tessera"):
        run = simulate(create({"kind": kind}), capped, table, latency)
        assert fluid_bound(run, capped, table, latency) <= run.metrics()["gco2_per_invocation"]


def test_the_capped_bound_lets_a_region_keep_what_it_held_while_the_total_shrinks() -> None:
    """A region refused new instances at 40% keeps the ones it has while others expire: a
    bound capping every minute at 40% of that minute's total was above greencourier here
    (the package's own tables: ten European regions, three hours from January 7)."""
    table, latency = CarbonTable.default(), Latency.default()
    eu = tuple(r for r in latency.regions if r.startswith("europe-"))
    assert len(eu) >= 8
    sc = CarbonScenario(
        regions=eu, origins=dict.fromkeys(eu[:4], 1.0), per_minute=np.full(180, 6.0),
        start_s=7 * 86400.0, lifetime_min=(15, 180), cap=0.4,
    )  # fmt: skip
    for kind in ("static-greenest", "greencourier", "tessera"):
        params = {"annual_means": {r: 1.0 for r in eu}} if kind == "static-greenest" else {}
        run = simulate(create({"kind": kind, **params}), sc, table, latency)
        assert fluid_bound(run, sc, table, latency) <= run.metrics()["gco2_per_invocation"]


def test_the_strict_cap_ideal_holds_every_region_to_the_cap_of_each_minute() -> None:
    """Five instances start at minute 0 and live 60 minutes, five more at minute 30 and live
    30; A is 100 g/kWh, B 200, C 300 throughout, cap 40%. Minutes 0-29: 5 alive, at most 2 a
    region: 2 x 100 + 2 x 200 + 1 x 300 = 900 per minute. Minutes 30-59: 10 alive, 4 a region:
    4 x 100 + 4 x 200 + 2 x 300 = 1,800. Ideal = (30 x 900 + 30 x 1,800) / 10 instances
    = 8,100 g/kWh-minutes each. The fluid bound lets A keep the 4 of minute 30 through minute
    59 as well, the same here; with the two arrival groups swapped (ten at 0 living 30, five
    at 30 living 30) the bound keeps A's 4 while only 5 are alive (4 x 100 + 1 x 200 = 600
    per minute) where the strict ideal fills 2/2/1 (900)."""
    table = CarbonTable(("A", "B", "C"), np.array([[100.0, 200.0, 300.0]] * 2), source="test")
    latency = Latency(
        zones_by_region={"r-a": "A", "r-b": "B", "r-c": "C"},
        measured_ms={("r-a", "r-b"): 5.0, ("r-a", "r-c"): 5.0, ("r-b", "r-c"): 5.0},
    )
    per_minute = np.zeros(60)
    per_minute[0], per_minute[30] = 5, 5
    sc = CarbonScenario(
        regions=("r-a", "r-b", "r-c"), origins={"r-a": 1.0}, per_minute=per_minute, cap=0.4,
        lifetime_min=(30, 30),
    )  # fmt: skip
    unit = account(sc.usage, 1.0, sc.server).operational_g
    run = simulate(create({"kind": "greencourier"}), sc, table, latency)
    run.life[:5] = 60  # the first five live an hour (only the bound's input is changed)
    assert strict_cap_ideal(run, sc, table, latency) == pytest.approx(8_100 * unit)
    assert fluid_bound(run, sc, table, latency) == pytest.approx(8_100 * unit)
    per_minute[0], per_minute[30] = 10, 5
    shrink = simulate(create({"kind": "greencourier"}), sc, table, latency)
    # minutes 0-29: 10 alive, 4/4/2 = 1,800; minutes 30-59: 5 alive
    assert strict_cap_ideal(shrink, sc, table, latency) == pytest.approx(
        (30 * 1_800 + 30 * 900) / 15 * unit
    )
    assert fluid_bound(shrink, sc, table, latency) == pytest.approx(
        (30 * 1_800 + 30 * 600) / 15 * unit
    )
    # nothing placed: nothing charged (a capped empty run raised before)
    empty = simulate(create({"kind": "greencourier"}), replace(sc, per_minute=np.zeros(5)), table,
                     latency)  # fmt: skip
    assert (
        fluid_bound(empty, sc, table, latency) == strict_cap_ideal(empty, sc, table, latency) == 0
    )
    # without a cap the two are the same fill
    free = replace(sc, cap=None)
    assert strict_cap_ideal(shrink, free, table, latency) == fluid_bound(
        shrink, free, table, latency
    )


MOVER = {"kind": "tessera", "spread_beta": 0.0, "horizon_h": 1, "migrate_gain": 0.1}


def test_moving_running_instances_is_charged_where_they_run_after_the_move() -> None:
    """Two instances start in A (100 g/kWh, then 400 after the first hour) and live two
    hours; B is 300, then 50. Placement only: 60 x 100 + 60 x 400 = 30,000 g/kWh-minutes
    each. Moved when the hour-1 reading arrives: 60 x 100 + 60 x 50 + a 0.1-minute cold
    start at 50 = 9,005."""
    table = CarbonTable(
        ("A", "B"), np.array([[100.0, 300.0], [400.0, 50.0], [400.0, 50.0]]), source="test"
    )
    latency = Latency(zones_by_region={"r-a": "A", "r-b": "B"}, measured_ms={("r-a", "r-b"): 5.0})
    per_minute = np.zeros(180)
    per_minute[0] = 2
    sc = CarbonScenario(
        regions=("r-a", "r-b"), origins={"r-a": 1.0}, per_minute=per_minute,
        lifetime_min=(120, 120),
    )  # fmt: skip
    unit = account(sc.usage, 1.0, sc.server).operational_g
    stay = simulate(create({"kind": "greencourier"}), sc, table, latency)
    move = simulate(create(MOVER), sc, table, latency)
    assert stay.moved == 0 and move.moved == 2
    assert stay.metrics()["gco2_per_invocation"] == pytest.approx(30_000 * unit)
    assert move.metrics()["gco2_per_invocation"] == pytest.approx(9_005 * unit)
    assert move.metrics()["moves_per_invocation"] == 1.0
    assert fluid_bound(move, sc, table, latency) <= move.metrics()["gco2_per_invocation"]
    # capped at one each: placed one per region, and neither may take the other's
    capped = simulate(create(MOVER), replace(sc, cap=0.5), table, latency)
    assert sorted(capped.region.tolist()) == [0, 1] and capped.moved == 0


def test_moves_keep_the_cap_and_leave_the_workload_alone() -> None:
    table, latency = _world()
    sc = _scenario(cap=0.4, lifetime_min=(30, 120), refresh_s=90.0)  # readings between minutes
    still = simulate(create({"kind": "greencourier"}), sc, table, latency)
    moving = simulate(create(MOVER), sc, table, latency)
    assert moving.moved > 0 and moving.over_cap == still.over_cap == 0
    # the same invocations, origins and lifetimes whatever the policy moves
    assert (moving.minute == still.minute).all() and (moving.life == still.life).all()
    assert (moving.origin == still.origin).all()
    bound = fluid_bound(moving, sc, table, latency)
    assert bound <= moving.metrics()["gco2_per_invocation"]
    assert bound == fluid_bound(still, sc, table, latency)


def test_a_policy_that_ignores_free_slots_is_counted_over_the_cap() -> None:
    table, latency = _world()
    sc = _scenario(cap=0.4)
    assert simulate(create({"kind": "latency-nearest"}), sc, table, latency).over_cap == 0
    first = create({"kind": "static-greenest", "order": list(REGIONS)})

    class Stubborn:
        name = "stubborn"

        def place(self, snap: PlacementSnapshot) -> Placement:  # always the first region
            return Placement(REGIONS[0], "first", None, snap.state)

    assert simulate(Stubborn(), sc, table, latency).over_cap > 0
    assert simulate(first, sc, table, latency).over_cap == 0
