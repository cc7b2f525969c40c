"""The FPGA simulator and its policies: invariants over the batch and PR logs, purity, errors."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tessera.fpga  # noqa: F401  (registers the policies)
from tessera.core.errors import InputError
from tessera.fpga.model import APPS, Job, PortModel, layout, nimblock_trace, phased_trace
from tessera.fpga.policy import FPGA_POLICIES, FpgaSnapshot, create
from tessera.sim.fpga import FpgaOutcome, FpgaScenario, simulate
from tessera.testing.conformance import forbid_impurity

SINGLE = ("baseline", "fcfs", "rr", "nimblock", "versaslot-ol", "versaslot-bl",
          "versaslot-artifact")  # fmt: skip
EPS = 1e-9


def check_invariants(out: FpgaOutcome, policy: Any) -> None:
    """No slot double-booked, one PR at a time per port, chain order kept, no batch lost or
    repeated, nothing runs in a slot while it is reconfigured, blocking DPR blocks."""
    runs: dict[tuple[int, int, int], list[tuple[float, float]]] = defaultdict(list)
    by_slot: dict[tuple[int, int], list[tuple[float, float, int, int]]] = defaultdict(list)
    seen: set[tuple[int, int, int]] = set()
    for job, task, b, board, slot, t0, t1 in out.batches:
        assert (job, task, b) not in seen, f"batch {b} of job {job} task {task} ran twice"
        seen.add((job, task, b))
        assert t1 > t0
        runs[(job, task, b)].append((t0, t1))
        by_slot[(board, slot)].append((t0, t1, job, task))
    for j in out.jobs:
        for task in range(APPS[j.app].n_tasks):
            for b in range(j.batches):
                assert (j.id, task, b) in seen, f"batch {b} of job {j.id} task {task} lost"
                if task:
                    (s, _), (_, e_prev) = runs[(j.id, task, b)][0], runs[(j.id, task - 1, b)][0]
                    assert s >= e_prev - EPS, "chain order broken"
    for (board, slot), items in by_slot.items():
        items.sort()
        for k, (_t0, t1, job, task) in enumerate(items):
            for u0, _u1, job2, task2 in items[k + 1 :]:
                if u0 >= t1 - EPS:
                    break
                assert job2 == job and task2 != task, f"slot {board}/{slot} double-booked"
    prs: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    for board, slot, t0, t1 in out.prs:
        prs[board].append((t0, t1, slot))
    for board, items in prs.items():
        items.sort()
        for (_a0, a1, _), (b0, _b1, _) in pairwise(items):
            assert b0 >= a1 - EPS, f"two PRs at once on board {board}'s port"
        for p0, p1, slot in items:
            for t0, t1, _, _ in by_slot.get((board, slot), []):
                assert t1 <= p0 + EPS or t0 >= p1 - EPS, "a slot ran while reconfigured"
            if not policy.async_dpr:
                for (bd, _s), its in by_slot.items():
                    if bd == board:
                        assert all(not (p0 + EPS < t0 < p1 - EPS) for t0, *_ in its), (
                            "a blocking host dispatched during a PR"
                        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=st.sampled_from(SINGLE),
    regime=st.sampled_from(["standard", "stress", "realtime"]),
    seed=st.integers(0, 10_000),
    n=st.integers(1, 12),
    pr_scale=st.sampled_from([0.5, 1.0, 4.0]),
)
def test_invariants_hold_for_every_policy(
    policy: str, regime: str, seed: int, n: int, pr_scale: float
) -> None:
    p = create({"kind": policy})
    jobs = nimblock_trace(regime, seed, n).jobs
    out = simulate(p, FpgaScenario(jobs, port=PortModel(scale=pr_scale)))
    check_invariants(out, p)
    assert (out.end_s > out.start_s).all() and out.counts["rejected"] == 0


def test_switching_and_migration_keep_the_invariants() -> None:
    p = create({"kind": "versaslot-switch", "hold_s": 5.0, "window": 6})
    jobs = phased_trace(1, per_phase=12).jobs
    out = simulate(p, FpgaScenario(jobs, boards=2))
    check_invariants(out, p)
    assert out.counts["switches"] >= 1 and out.counts["migrations"] >= 1
    assert {name for _, _, name in out.layouts} == {"BL", "OL"}
    assert any(slot == -1 for _, slot, _, _ in out.prs)  # the shell reload of a switch


def test_baseline_runs_one_app_at_a_time_and_one_task_at_a_time() -> None:
    out = simulate(create({"kind": "baseline"}), FpgaScenario(nimblock_trace("stress", 3, 6).jobs))
    spans: dict[int, tuple[float, float]] = {}
    for job, _task, _b, _board, slot, t0, t1 in out.batches:
        assert slot == 0
        lo, hi = spans.get(job, (t0, t1))
        spans[job] = (min(lo, t0), max(hi, t1))
    ordered = sorted(spans.values())
    assert all(a[1] <= b[0] + EPS for a, b in pairwise(ordered))


def test_pipelining_overlaps_tasks_and_bundles_load_once() -> None:
    job = Job(0, "LeNet", batches=10, priority=3, arrival_s=0.0)
    out = simulate(create({"kind": "versaslot-bl"}), FpgaScenario([job]))
    assert out.counts["prs"] == 1  # the three tasks as one bundle in a big slot
    lat = APPS["LeNet"].latencies_s
    assert out.end_s[0] == pytest.approx(PortModel().pr_s(3) + sum(lat) + 9 * max(lat))
    serial = simulate(create({"kind": "baseline"}), FpgaScenario([job]))
    assert serial.end_s[0] == pytest.approx(3 * PortModel().pr_s(1) + 10 * sum(lat))


@pytest.mark.parametrize("batches", [1, 2, 10])
def test_artifact_bundles_run_in_lock_step_or_serially_whichever_is_shorter(batches: int) -> None:
    job = Job(0, "LeNet", batches=batches, priority=3, arrival_s=0.0)
    sc = FpgaScenario([job], bundle_timing="artifact")
    p = create({"kind": "versaslot-bl"})
    out = simulate(p, sc)
    check_invariants(out, p)
    lat = APPS["LeNet"].latencies_s  # 113, 51, 113 ms: serial wins at B = 1, lock step above
    serial, lock = batches * sum(lat), (batches + 2) * max(lat)
    assert out.end_s[0] == pytest.approx(PortModel().pr_s(3) + min(serial, lock))
    if serial < lock:  # one stage at a time in the slot
        spans = sorted((t0, t1) for *_, t0, t1 in out.batches)
        assert all(a[1] <= b[0] + EPS for a, b in pairwise(spans))


def test_artifact_mode_counts_each_stage_s_own_batches_left() -> None:
    from tessera.sim.fpga import FpgaSim

    job = Job(0, "LeNet", batches=21, priority=3, arrival_s=0.0)
    sim = FpgaSim(create({"kind": "versaslot-bl"}), FpgaScenario([job], bundle_timing="artifact"))
    j = sim.jobs[0]
    big = next(s for s in sim.boards[0].slots if s.spec.kind == "big")
    big.job, big.tasks = j, [0, 1, 2]
    j.done = [20, 0, 0]  # preempted after the first stage ran ahead
    sim._ready(big)  # serial: 113 + 21 x 51 + 21 x 113 ms; lock step (21 + 2) x 113 ms: shorter
    assert big.serial is False
    j.done = [20, 20, 20]  # one batch left in every stage: serial (277 ms) beats 3 x 113 ms
    sim._ready(big)
    assert big.serial is True


def test_artifact_timing_keeps_the_invariants_on_a_mixed_trace() -> None:
    for kind in ("versaslot-bl", "versaslot-artifact"):
        p = create({"kind": kind})
        out = simulate(p, FpgaScenario(nimblock_trace("stress", 4, 12).jobs,
                                       bundle_timing="artifact"))  # fmt: skip
        check_invariants(out, p)
        assert out.counts["rejected"] == 0


def test_blocking_dpr_delays_dispatch_and_async_does_not() -> None:
    jobs = nimblock_trace("realtime", 2, 12).jobs
    slow = PortModel(scale=4.0)
    sync = simulate(create({"kind": "nimblock"}), FpgaScenario(jobs, port=slow))
    asyn = simulate(create({"kind": "versaslot-ol"}), FpgaScenario(jobs, port=slow))
    assert sync.dispatch_blocked_s > 0 and asyn.dispatch_blocked_s == 0


def test_same_inputs_same_outcome() -> None:
    jobs = nimblock_trace("stress", 5).jobs
    a = simulate(create({"kind": "versaslot-bl"}), FpgaScenario(jobs)).metrics()
    b = simulate(create({"kind": "versaslot-bl"}), FpgaScenario(jobs)).metrics()
    assert a == b


class _Recorder:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.layout, self.async_dpr = inner.name, inner.layout, inner.async_dpr
        self.snaps: list[FpgaSnapshot] = []

    def decide(self, snap: FpgaSnapshot) -> Any:
        self.snaps.append(snap)
        return self.inner.decide(snap)


@pytest.mark.parametrize("name", sorted(FPGA_POLICIES.names()))
def test_policies_are_pure_and_give_reasons(name: str) -> None:
    rec = _Recorder(create({"kind": name}))
    boards = 2 if name == "versaslot-switch" else 1
    jobs = phased_trace(0, per_phase=5).jobs if boards == 2 else nimblock_trace("stress", 1, 8).jobs
    simulate(rec, FpgaScenario(jobs, boards=boards))
    fresh = create({"kind": name})
    for snap in rec.snaps[:: max(1, len(rec.snaps) // 60)]:
        with forbid_impurity():
            a = fresh.decide(snap)
            b = fresh.decide(snap)
        assert a == b
        assert all(d.reason for d in a.decisions)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(InputError, match=r"fpga_policy\.kind"):
        create({"kind": "nope"})
    with pytest.raises(InputError, match=r"fpga\.regime"):
        nimblock_trace("bogus")
    with pytest.raises(InputError, match=r"port\.scale"):
        PortModel(scale=0)
    with pytest.raises(InputError, match=r"versaslot\.order"):
        create({"kind": "versaslot-bl", "order": "random"})
    with pytest.raises(InputError, match=r"fpga\.layout"):
        layout("XL")
    with pytest.raises(InputError, match=r"job\.batches"):
        Job(0, "IC", batches=0, priority=1, arrival_s=0.0)


def test_rejected_actions_are_counted_not_fatal() -> None:
    class Greedy:
        name, layout, async_dpr = "greedy", "OL", False

        def decide(self, snap: FpgaSnapshot) -> Any:
            from tessera.fpga.policy import FpgaDecision, FpgaPolicyResult, Load

            out = [FpgaDecision(Load(0, s.index, j.id), "all at once")
                   for j in snap.jobs for s in snap.boards[0].free_slots]  # fmt: skip
            out.append(FpgaDecision(Load(7, 0, 0), "no such board"))
            return FpgaPolicyResult(tuple(out))

    jobs = [replace(j, deadline_s=1e9) for j in nimblock_trace("stress", 0, 3).jobs]
    out = simulate(Greedy(), FpgaScenario(jobs))
    check_invariants(out, Greedy())
    assert out.counts["rejected"] > 0


def _empty_board(layout_name: str) -> Any:
    from tessera.fpga.policy import BoardView, SlotView

    lay = layout(layout_name)
    slots = tuple(
        SlotView(0, i, s.kind, s.units, s.max_tasks, "free") for i, s in enumerate(lay.slots)
    )
    return BoardView(0, layout_name, slots)


def _job(job_id: int, app: str, done: tuple[int, ...] | None = None, batches: int = 5) -> Any:
    from tessera.fpga.policy import JobView

    spec = APPS[app]
    return JobView(job_id, app, batches, 3, 0.0, 1e9, spec.latencies_s,
                   done if done is not None else (0,) * spec.n_tasks)  # fmt: skip


def _loads(policy: Any, snap: FpgaSnapshot) -> list[tuple[int, int, int]]:
    """(job, slot, tasks) of every Load the policy decides on the snapshot."""
    from tessera.fpga.policy import Load

    acts = [d.action for d in policy.decide(snap).decisions]
    return [(a.job, a.slot, a.tasks) for a in acts if isinstance(a, Load)]


def test_bundles_start_at_the_next_task_unless_aligned() -> None:
    from tessera.fpga.versaslot import VersaSlot

    # IC with task 0 done: its next bundle is tasks 1-3
    snap = FpgaSnapshot(0.0, (_empty_board("BL"),), (_job(0, "IC", (5, 0, 0, 0, 0, 0)),))
    big = {s.index for s in snap.boards[0].slots if s.kind == "big"}
    ours = _loads(VersaSlot(jit_load=False), snap)
    assert any(slot in big and tasks == 3 for _, slot, tasks in ours)
    # the artifact's prebuilt 3-in-1 kernels start at task 0, 3 or 6 only
    aligned = _loads(VersaSlot(jit_load=False, aligned=True), snap)
    assert aligned and not any(slot in big for _, slot, _ in aligned)


def test_little_slots_go_by_rank_unless_capped() -> None:
    from tessera.fpga.versaslot import LITTLE_QUOTA, VersaSlot

    # OF (two batches: the least work left) holds a little slot with task 0, one batch done;
    # LeNet (60 batches) waits. One little slot per app per decision.
    board = _empty_board("OL")
    held = replace(board.slots[0], phase="ready", job=0, tasks=(0,), kernel="OF/0-0")
    board = replace(board, slots=(held, *board.slots[1:]))
    of = replace(_job(0, "OF", (1,) + (0,) * 8, batches=2), loaded=(0,), board=0)
    snap = FpgaSnapshot(0.0, (board,), (of, _job(1, "LeNet", batches=60)))
    ours = _loads(VersaSlot(jit_load=False), snap)
    assert [j for j, _, _ in ours] == [0, 1]  # OF's second little slot first: rank decides
    capped = _loads(VersaSlot(jit_load=False, little_quota=LITTLE_QUOTA), snap)
    # within its quota LeNet goes first; OF, past its quota of one, gets a spare slot after
    assert [j for j, _, _ in capped] == [1, 0]
