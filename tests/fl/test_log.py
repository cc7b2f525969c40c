"""InvocationLog (transactions, roundtrip) and the FL metrics on hand-computed examples."""

from __future__ import annotations

import dataclasses
import itertools
import math
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.core.errors import InputError
from tessera.fl.log import (
    GCF_GEN1_CPU_GHZ,
    GCF_GEN1_PRICE_PER_100MS_USD,
    InvocationLog,
    InvocationRecord,
    cold_start_share,
    coverage_time,
    effective_update_ratio,
    final_accuracy,
    gcf_gen1_cost_usd,
    gcf_gen1_tier_mib,
    gini,
    invocations_gini,
    summary,
    time_to_accuracy,
)

INV = 0.40 / 1e6  # per-invocation price


def rec(key: str, client: str = "c0", **kw: object) -> InvocationRecord:
    base: dict[str, object] = {
        "key": key,
        "client": client,
        "round_started": 0,
        "start_s": 0.0,
        "end_s": 1.0,
        "train_time_s": 0.5,
        "cold": False,
        "ok": True,
        "memory_mib": 2048,
        "cost_usd": 0.0,
    }
    base.update(kw)
    return InvocationRecord(**base)  # type: ignore[arg-type]


@pytest.fixture
def log() -> Iterator[InvocationLog]:
    with InvocationLog() as lg:
        yield lg


# --- the log ------------------------------------------------------------------------


def test_append_mark_records_roundtrip(log: InvocationLog) -> None:
    a = rec("r0/a", "a", cold=True, cost_usd=1e-6, hardware="h200:sm30", train_time_s=0.25)
    b = rec("r0/b", "b", start_s=0.5, end_s=2.75, ok=False)
    c = rec("r1/a", "a", round_started=1, start_s=3.0, end_s=4.0)
    for r in (a, b, c):
        log.append(r)
    log.mark_aggregated(["r0/a"], 0)
    log.mark_aggregated(iter(["r1/a"]), 1)
    got = log.records()
    assert got == [
        dataclasses.replace(a, round_aggregated=0),
        b,
        dataclasses.replace(c, round_aggregated=1),
    ]
    assert [type(x.cold) for x in got] == [bool] * 3
    assert len(log) == 3


def test_records_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "inv.db"
    with InvocationLog(path) as lg:
        lg.append(rec("k1", cold=True))
        lg.mark_aggregated(["k1"], 4)
    with InvocationLog(path) as lg:
        assert lg.records() == [rec("k1", cold=True, round_aggregated=4)]


def test_duplicate_key_is_rejected_and_changes_nothing(log: InvocationLog) -> None:
    log.append(rec("k"))
    with pytest.raises(InputError) as e:
        log.append(rec("k", client="other"))
    assert e.value.field == "key"
    assert log.records() == [rec("k")]


def test_crash_inside_extend_leaves_no_partial_rows(log: InvocationLog) -> None:
    log.append(rec("before"))

    def crashing() -> Iterator[InvocationRecord]:
        yield rec("x1")
        yield rec("x2")
        raise RuntimeError("driver died mid-batch")

    with pytest.raises(RuntimeError, match="mid-batch"):
        log.extend(crashing())
    assert [r.key for r in log.records()] == ["before"]
    with pytest.raises(InputError):  # a duplicate at the end rolls back the whole batch
        log.extend([rec("y1"), rec("y2"), rec("before")])
    assert [r.key for r in log.records()] == ["before"]
    log.extend([rec("y1"), rec("y2")])
    assert [r.key for r in log.records()] == ["before", "y1", "y2"]


def test_crash_inside_mark_aggregated_marks_nothing(log: InvocationLog) -> None:
    log.extend([rec("a"), rec("b"), rec("c")])

    def crashing() -> Iterator[str]:
        yield "a"
        yield "b"
        raise RuntimeError("aggregator died")

    with pytest.raises(RuntimeError):
        log.mark_aggregated(crashing(), 2)
    with pytest.raises(KeyError, match="missing"):
        log.mark_aggregated(["a", "missing"], 2)
    assert all(r.round_aggregated is None for r in log.records())


def test_mark_aggregated_once_per_result(log: InvocationLog) -> None:
    log.extend([rec("a"), rec("b")])
    log.mark_aggregated(["a"], 1)
    log.mark_aggregated(["a"], 1)  # same round again: no-op
    with pytest.raises(InputError, match="already aggregated"):
        log.mark_aggregated(["b", "a"], 2)
    assert [r.round_aggregated for r in log.records()] == [1, None]
    with pytest.raises(InputError):
        log.mark_aggregated("ab", 3)  # a single string is not a list of keys
    with pytest.raises(InputError):
        log.mark_aggregated(["b"], -1)


def test_concurrent_appends_all_land(log: InvocationLog) -> None:
    def work(t: int) -> None:
        for i in range(50):
            log.append(rec(f"t{t}/{i}", client=f"c{t}"))
            if i % 10 == 9:
                log.mark_aggregated([f"t{t}/{i}"], i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    got = log.records()
    assert len(got) == 200 and len({r.key for r in got}) == 200
    assert sum(r.round_aggregated is not None for r in got) == 20


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"key": ""}, "key"),
        ({"end_s": -1.0}, "end_s"),
        ({"round_started": -1}, "round_started"),
        ({"train_time_s": -0.1}, "train_time_s"),
        ({"cost_usd": -1.0}, "cost_usd"),
        ({"memory_mib": -128}, "memory_mib"),
    ],
)
def test_record_rejects_bad_values(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as e:
        rec(**{"key": "k", **kw})  # type: ignore[arg-type]
    assert e.value.field == field


# --- cost ---------------------------------------------------------------------------


def test_cost_rounds_up_to_100ms() -> None:
    p128 = GCF_GEN1_PRICE_PER_100MS_USD[128]
    assert gcf_gen1_cost_usd(0.26, 128) == pytest.approx(3 * p128 + INV, rel=1e-12)
    assert gcf_gen1_cost_usd(0.3, 128) == pytest.approx(3 * p128 + INV, rel=1e-12)
    assert gcf_gen1_cost_usd(0.30001, 128) == pytest.approx(4 * p128 + INV, rel=1e-12)
    assert gcf_gen1_cost_usd(0.1, 128) == pytest.approx(p128 + INV, rel=1e-12)
    assert gcf_gen1_cost_usd(0.0, 128) == pytest.approx(p128 + INV, rel=1e-12)  # >= 1 step
    # 1.1 s is 11.000000000000002 steps in floating point: still 11
    assert gcf_gen1_cost_usd(1.1, 128) == pytest.approx(11 * p128 + INV, rel=1e-12)
    assert gcf_gen1_cost_usd(0.7, 128) == pytest.approx(7 * p128 + INV, rel=1e-12)


def test_cost_by_tier_and_invocations() -> None:
    # 10 invocations of 2.05 s at 2 GB (2.4 GHz): 21 steps of $0.0000029 each, + $0.40/M
    assert gcf_gen1_cost_usd(2.05, 2048, invocations=10) == pytest.approx(
        10 * (21 * 0.0000029 + 0.0000004), rel=1e-12
    )
    assert gcf_gen1_cost_usd(1.0, 8192) == pytest.approx(10 * 0.0000068 + INV, rel=1e-12)
    assert gcf_gen1_cost_usd(5.0, 512, invocations=0) == 0.0
    # a memory size that is not a tier bills as the next tier up
    assert gcf_gen1_cost_usd(1.0, 200) == gcf_gen1_cost_usd(1.0, 256)
    assert [gcf_gen1_tier_mib(m) for m in (1, 128, 129, 1000, 1024, 3000, 8192)] == [
        128,
        128,
        256,
        1024,
        1024,
        4096,
        8192,
    ]


def test_published_prices_match_the_unit_rates() -> None:
    """Each per-100 ms price is $0.0000025/GB-s + $0.0000100/GHz-s over 0.1 s (3 digits)."""
    for mem, price in GCF_GEN1_PRICE_PER_100MS_USD.items():
        derived = 0.1 * (mem / 1024 * 0.0000025 + GCF_GEN1_CPU_GHZ[mem] * 0.0000100)
        assert price == pytest.approx(derived, rel=3e-3), mem


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((1.0, 0), "memory_mib"),
        ((1.0, 8193), "memory_mib"),
        ((-0.1, 256), "duration_s"),
        ((math.nan, 256), "duration_s"),
        ((1.0, 256, -1), "invocations"),
    ],
)
def test_cost_rejects_bad_input(args: tuple[float, int], field: str) -> None:
    with pytest.raises(InputError) as e:
        gcf_gen1_cost_usd(*args)
    assert e.value.field == field


# --- metrics ------------------------------------------------------------------------


def test_gini_hand_examples() -> None:
    assert gini([3, 3, 3, 3]) == 0.0
    for n in range(1, 8):
        assert gini([1.0] + [0.0] * (n - 1)) == pytest.approx((n - 1) / n, abs=1e-12)
    assert gini([]) == 0.0
    assert gini([0, 0, 0]) == 0.0
    # [1, 2, 3, 4]: sum |xi - xj| over ordered pairs = 20, 2 n^2 mean = 2*16*2.5 = 80
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25, abs=1e-12)
    with pytest.raises(InputError):
        gini([1.0, -1.0])


@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=30))
def test_gini_equals_the_pairwise_definition(xs: list[int]) -> None:
    n, total = len(xs), sum(xs)
    expected = (
        0.0
        if total == 0
        else sum(abs(a - b) for a, b in itertools.product(xs, xs)) / (2 * n * total)
    )
    assert gini(xs) == pytest.approx(expected, abs=1e-9)
    assert 0.0 <= gini(xs) <= (n - 1) / n + 1e-12


def test_invocations_gini_counts_never_invoked_clients() -> None:
    recs = [rec(f"k{i}", client="a") for i in range(5)]
    assert invocations_gini(recs, ["a", "b", "c", "d"]) == pytest.approx(0.75, abs=1e-12)
    even = [rec(f"k{c}{i}", client=c) for c in "abcd" for i in range(2)]
    assert invocations_gini(even, ["a", "b", "c", "d"]) == 0.0
    with pytest.raises(InputError) as e:
        invocations_gini(recs, ["b"])
    assert e.value.field == "clients"


def test_cold_share_and_eur() -> None:
    recs = [
        rec("1", cold=True, round_aggregated=0),
        rec("2", cold=True),
        rec("3", round_aggregated=1),
        rec("4", ok=False),
        rec("5", round_aggregated=1),
    ]
    assert cold_start_share(recs) == pytest.approx(2 / 5)
    assert effective_update_ratio(recs) == pytest.approx(3 / 5)
    assert cold_start_share([]) == 0.0
    assert effective_update_ratio([]) == 0.0


def test_time_to_accuracy() -> None:
    tl = [(0.0, 0.1), (10.0, 0.5), (20.0, 0.8), (30.0, 0.7), (40.0, 0.9)]
    assert time_to_accuracy(tl, 0.8) == 20.0  # reached exactly counts
    assert time_to_accuracy(tl, 0.75) == 20.0
    assert time_to_accuracy(tl, 0.85) == 40.0
    assert time_to_accuracy(tl, 0.95) == math.inf
    assert time_to_accuracy([], 0.5) == math.inf
    assert time_to_accuracy(list(reversed(tl)), 0.8) == 20.0  # earliest time, not first listed
    assert final_accuracy(tl) == 0.9
    assert final_accuracy(list(reversed(tl))) == 0.9
    assert math.isnan(final_accuracy([]))


def test_coverage_time_is_the_last_first_invocation() -> None:
    recs = [
        rec("r3/a", "a", start_s=6.0, end_s=7.0),
        rec("r1/a", "a", start_s=1.0, end_s=2.0),  # earliest start counts, not first listed
        rec("r0/b", "b", start_s=5.0, end_s=9.0),
        rec("r2/b", "b", start_s=7.0, end_s=8.0),
        rec("r0/c", "c", start_s=4.0, end_s=4.5, ok=False),  # a failed invocation still counts
    ]
    assert coverage_time(recs, ["a", "b", "c"]) == 5.0
    assert coverage_time(recs, ["a", "c"]) == 4.0  # only the clients asked about
    assert coverage_time(recs, ["a", "b", "c", "d"]) == math.inf
    assert coverage_time([], []) == 0.0


def test_summary_hand_example() -> None:
    c = gcf_gen1_cost_usd(1.25, 2048)  # 13 steps: 13 * 0.0000029 + 0.0000004
    recs = [
        rec("r0/a", "a", cold=True, cost_usd=c, round_aggregated=0, operational_g=0.5),
        rec("r0/b", "b", cold=True, cost_usd=c, round_aggregated=0, embodied_g=0.25),
        rec("r1/a", "a", round_started=1, cost_usd=c, round_aggregated=1),
        rec("r1/b", "b", round_started=1, cost_usd=c, ok=False),
    ]
    tl = [(5.0, 0.4), (9.0, 0.62), (14.0, 0.6)]
    got = summary(recs, tl, ["a", "b", "c"], target=0.6)
    assert got == {
        "tta_s": 9.0,
        "final_accuracy": 0.6,
        "cold_start_share": 0.5,
        "cost_usd": pytest.approx(4 * (13 * 0.0000029 + 0.0000004), rel=1e-12),
        "eur": 0.75,
        # counts a=2, b=2, c=0: sum |xi-xj| = 8, 2 n^2 mean = 2*9*(4/3) = 24
        "invocations_gini": pytest.approx(1 / 3, abs=1e-12),
        "invocations": 4.0,
        "failures": 1.0,
        "rounds": 2.0,
        "gco2": 0.75,
        "coverage_s": math.inf,  # c was never invoked
    }
    empty = summary([], [], ["a"], target=0.5)
    assert empty["tta_s"] == math.inf and math.isnan(empty["final_accuracy"])
    assert empty["invocations"] == 0.0 and empty["cost_usd"] == 0.0


def test_a_log_written_before_the_carbon_columns_opens_with_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE invocations (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL "
        "UNIQUE, client TEXT NOT NULL, round_started INTEGER NOT NULL, start_s REAL NOT NULL, "
        "end_s REAL NOT NULL, train_time_s REAL NOT NULL, cold INTEGER NOT NULL, ok INTEGER "
        "NOT NULL, memory_mib INTEGER NOT NULL, cost_usd REAL NOT NULL, round_aggregated "
        "INTEGER, hardware TEXT NOT NULL)"
    )
    old.execute(
        "INSERT INTO invocations (key, client, round_started, start_s, end_s, train_time_s, "
        "cold, ok, memory_mib, cost_usd, round_aggregated, hardware) "
        "VALUES ('k0', 'a', 0, 0.0, 1.0, 0.5, 0, 1, 2048, 0.0, NULL, 'cpu1')"
    )
    old.commit()
    old.close()
    with InvocationLog(path) as log:
        (first,) = log.records()
        assert (first.key, first.operational_g, first.embodied_g) == ("k0", 0.0, 0.0)
        log.append(rec("k1", "b", operational_g=2.0, embodied_g=0.5))
        assert log.records()[1].operational_g == 2.0
