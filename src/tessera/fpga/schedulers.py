"""The four schedulers VersaSlot is measured against: baseline, FCFS, RR and Nimblock.

Each follows what the Nimblock artifact (ISCA'23) implements, restated:

- `baseline`: temporal multiplexing. One active slot per board and one app at
  a time, in arrival order; each task is configured, then runs all its batches.
- `fcfs`: every free slot takes the ready task of the earliest-arrived app;
  no preemption.
- `rr` (Coyote-style): each pass queues one ready task per app on the slot
  with the shortest queue (a busy slot counts one more); queues are ordered
  by priority, then app, then task; a slot that frees takes its queue's head.
- `nimblock`: apps accumulate tokens (start at their priority; at each
  400 ms tick, arrival and retirement add `priority x 0.125 x waited / L`,
  L = the app's serial work); the highest count sets the bar (9 above 9, 3
  above 3, else 1); apps at or above it are candidates. Candidates get slot
  allocations in three passes (one each; then a per-app goal; then all
  their tasks); free slots go to the first candidate (arrival order) under
  its allocation with a ready task. With no free slot, the slot of the app
  furthest over its allocation (its latest task) is preempted at the batch
  boundary.

A task is *ready* when it is its app's next unplaced task and its
predecessor has finished more batches than it (Nimblock's pipelining rule).
All but `baseline` use the Only.Little layout; none has an asynchronous DPR
server, so the host stops dispatching while a PR runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tessera.fpga.policy import (
    FPGA_POLICIES,
    BoardView,
    Evict,
    FpgaDecision,
    FpgaPolicyResult,
    FpgaSnapshot,
    JobView,
    Load,
    SlotView,
)

TICK_S = 0.4
NIMBLOCK_GOALS: Mapping[str, int] = {"LeNet": 3, "OF": 3, "IC": 3, "3DR": 2}
"""Nimblock's per-app parallelism goals (its artifact's fixed table)."""


def ready(j: JobView, tasks: int = 1, jit_s: float | None = None) -> bool:
    """Whether the job's next `tasks` tasks may be loaded now (see the module doc).

    With `jit_s` (just in time), a task downstream of a running one is loaded
    only once its predecessor's remaining work is at most its own plus
    `jit_s` (the PR time), so its slot is not held idle waiting for input.
    """
    t = j.next_task
    if t + tasks > j.n_tasks:
        return False
    if any(i in j.loaded for i in range(t, t + tasks)):
        return False
    if t == 0:
        return True
    if j.done[t - 1] <= j.done[t]:
        return False
    if jit_s is None or j.done[t - 1] >= j.batches:
        return True
    lat = j.latencies_s
    upstream = (j.batches - j.done[t - 1]) * lat[t - 1]
    mine = (j.batches - j.done[t]) * max(lat[t : t + tasks])
    return upstream <= mine + jit_s


def allowed(j: JobView, board: int) -> bool:
    """A job's tasks stay on one board; a migrating job goes to its target."""
    if j.board is not None:
        return j.board == board
    return j.pinned_board is None or j.pinned_board == board


class FreeSlots:
    """The free slots of a snapshot, consumed as a decision hands them out."""

    def __init__(self, boards: Iterable[BoardView]) -> None:
        self.slots: list[SlotView] = [s for b in boards for s in b.free_slots]

    def take(
        self, j: JobView, kind: str | None = None, skip: set[int] | None = None
    ) -> SlotView | None:
        """The first free slot the job may use (of `kind` when given, not on a board in
        `skip`), preferring one that already holds its kernel."""
        best = None
        for s in self.slots:
            if (
                (kind is None or s.kind == kind)
                and allowed(j, s.board)
                and (not skip or s.board not in skip)
            ):
                if s.kernel.startswith(f"{j.app}/{j.next_task}-"):
                    best = s
                    break
                best = best or s
        if best is not None:
            self.slots.remove(best)
        return best

    def count(self, kind: str | None = None) -> int:
        return sum(1 for s in self.slots if kind is None or s.kind == kind)


def occupied(snap: FpgaSnapshot) -> dict[int, list[SlotView]]:
    """Slots held (not being released) per job."""
    out: dict[int, list[SlotView]] = {}
    for b in snap.boards:
        for s in b.slots:
            if s.job is not None and s.phase != "releasing":
                out.setdefault(s.job, []).append(s)
    return out


def load(j: JobView, s: SlotView, tasks: int, why: str) -> FpgaDecision:
    span = f"tasks {j.next_task}-{j.next_task + tasks - 1}" if tasks > 1 else f"task {j.next_task}"
    return FpgaDecision(
        Load(s.board, s.index, j.id, tasks),
        f"{why}: app {j.id} ({j.app}) {span} -> board {s.board} {s.kind} slot {s.index}",
    )


@FPGA_POLICIES.register("baseline")
class Baseline:
    """Temporal multiplexing: one slot, one app at a time, tasks one after another."""

    name = "baseline"
    layout = "TM"
    async_dpr = False

    def decide(self, snap: FpgaSnapshot) -> FpgaPolicyResult:
        current: dict[int, int] = dict(snap.state or {})
        alive = {j.id: j for j in snap.jobs}
        current = {b: jid for b, jid in current.items() if jid in alive}
        busy = set(current.values())
        out = []
        for b in snap.boards:
            for s in b.free_slots:
                jid = current.get(b.index)
                if jid is None:
                    waiting = [j for j in snap.jobs if j.id not in busy and allowed(j, b.index)]
                    if not waiting:
                        continue
                    jid = current[b.index] = waiting[0].id
                    busy.add(jid)
                j = alive[jid]
                if ready(j):
                    out.append(load(j, s, 1, "the board's one app, its next task"))
        return FpgaPolicyResult(tuple(out), current)


@FPGA_POLICIES.register("fcfs")
class Fcfs:
    """Free slots go to the earliest-arrived app with a ready task."""

    name = "fcfs"
    layout = "OL"
    async_dpr = False

    def decide(self, snap: FpgaSnapshot) -> FpgaPolicyResult:
        free = FreeSlots(snap.boards)
        out = []
        for j in snap.jobs:
            if not free.slots:
                break
            if ready(j):
                s = free.take(j)
                if s is not None:
                    out.append(load(j, s, 1, "first come, first served"))
        return FpgaPolicyResult(tuple(out))


@FPGA_POLICIES.register("rr")
class RoundRobin:
    """Coyote-style: one ready task per app per pass onto the shortest slot queue."""

    name = "rr"
    layout = "OL"
    async_dpr = False

    def decide(self, snap: FpgaSnapshot) -> FpgaPolicyResult:
        alive = {j.id: j for j in snap.jobs}
        prev: dict[tuple[int, int], list[tuple[int, int, int]]] = snap.state or {}
        queues = {
            (b.index, s.index): [
                e
                for e in prev.get((b.index, s.index), [])
                if e[1] in alive and alive[e[1]].next_task == e[2] and allowed(alive[e[1]], b.index)
            ]
            for b in snap.boards
            if b.switching_to is None
            for s in b.slots
        }
        queued = {e[1] for q in queues.values() for e in q}
        held = {(s.board, s.index) for b in snap.boards for s in b.slots if not s.free}
        for j in snap.jobs:
            if j.id in queued or not ready(j):
                continue
            options = [k for k in queues if allowed(j, k[0])]
            if not options:
                continue
            k = min(options, key=lambda k: (len(queues[k]) + (k in held), k))
            queues[k] = sorted([*queues[k], (-j.priority, j.id, j.next_task)])
        out = []
        for b in snap.boards:
            for s in b.free_slots:
                q = queues.get((b.index, s.index))
                if q:
                    _, jid, _ = q.pop(0)
                    out.append(load(alive[jid], s, 1, "round robin: head of this slot's queue"))
        return FpgaPolicyResult(tuple(out), queues)


@dataclass(frozen=True)
class TokenState:
    """Nimblock's per-app tokens, when they were last updated, and the policy's own extras."""

    tokens: Mapping[int, float] = field(default_factory=dict)
    last_s: float = float("-inf")
    ids: frozenset[int] = frozenset()
    extra: Mapping[str, Any] = field(default_factory=dict)


def update_tokens(snap: FpgaSnapshot, prev: TokenState | None) -> TokenState:
    """Add each app's tokens at a tick, an arrival or a retirement (else carry them)."""
    prev = prev or TokenState()
    ids = frozenset(j.id for j in snap.jobs)
    due = ids != prev.ids or snap.now_s - prev.last_s >= TICK_S - 1e-9
    tokens = {j.id: prev.tokens.get(j.id, float(j.priority)) for j in snap.jobs}
    if due:
        for j in snap.jobs:
            serial = sum(lat * j.batches for lat in j.latencies_s)
            tokens[j.id] += j.priority * 0.125 * (snap.now_s - j.arrival_s) / serial
    return TokenState(tokens, snap.now_s if due else prev.last_s, ids, prev.extra)


def candidates(snap: FpgaSnapshot, tokens: Mapping[int, float]) -> list[JobView]:
    """Apps whose tokens reach the bar the highest count sets, in arrival order."""
    if not tokens:
        return []
    top = max(tokens.values())
    bar = 9.0 if top > 9 else 3.0 if top > 3 else 1.0
    return [j for j in snap.jobs if tokens[j.id] >= bar]


def three_pass(cands: list[JobView], goals: Mapping[str, int], total: int) -> dict[int, int]:
    """Nimblock's allocation: one slot each, then the goal, then every remaining task."""
    left = {j.id: sum(1 for d in j.done if d < j.batches) for j in cands}
    alloc = {j.id: min(1, left[j.id]) for j in cands}
    if sum(alloc.values()) < total:
        alloc = {j.id: min(goals.get(j.app, 1), left[j.id]) for j in cands}
    if sum(alloc.values()) < total:
        alloc = dict(left)
    return alloc


def preempt_over(
    snap: FpgaSnapshot, alloc: Mapping[int, int], held: Mapping[int, list[SlotView]],
    kind: str | None = None,
) -> FpgaDecision | None:  # fmt: skip
    """Evict the latest-task slot of the app furthest over its allocation (None if nobody is)."""

    def evictable(s: SlotView) -> bool:  # held before this decision, of the kind asked
        return bool(s.tasks) and (kind is None or s.kind == kind)

    over = [
        (len(slots) - alloc.get(jid, 0), jid)
        for jid, slots in held.items()
        if len(slots) > alloc.get(jid, 0) and any(evictable(s) for s in slots)
    ]
    if not over:
        return None
    excess, jid = max(over)
    victim = max((s for s in held[jid] if evictable(s)), key=lambda s: s.tasks[-1])
    return FpgaDecision(
        Evict(victim.board, victim.index),
        f"preempt app {jid}: {excess} slot(s) over its allocation {alloc.get(jid, 0)} "
        f"(task {victim.tasks[-1]} on board {victim.board} slot {victim.index})",
    )


@FPGA_POLICIES.register("nimblock")
class Nimblock:
    """Token-based candidates, goal-based slot allocation, preemption at batch boundaries."""

    name = "nimblock"
    layout = "OL"
    async_dpr = False

    def __init__(self, goals: Mapping[str, int] | None = None) -> None:
        self.goals = dict(NIMBLOCK_GOALS if goals is None else goals)

    def decide(self, snap: FpgaSnapshot) -> FpgaPolicyResult:
        st = update_tokens(snap, snap.state)
        cands = candidates(snap, st.tokens)
        total = sum(len(b.slots) for b in snap.boards)
        alloc = three_pass(cands, self.goals, total)
        held = occupied(snap)
        free = FreeSlots(snap.boards)
        out = []
        # one load per app per decision: its next task is not ready until a batch of this one ends
        fresh: set[int] = set()
        for j in cands:
            if not free.slots:
                break
            if len(held.get(j.id, [])) < alloc[j.id] and ready(j):
                s = free.take(j)
                if s is not None:
                    out.append(load(j, s, 1, f"candidate under its allocation {alloc[j.id]}"))
                    held.setdefault(j.id, []).append(s)
                    fresh.add(j.id)
        if not free.slots:
            wants = any(
                j.id not in fresh and len(held.get(j.id, [])) < alloc[j.id] and ready(j)
                for j in cands
            )
            if wants:
                d = preempt_over(snap, alloc, held)
                if d is not None:
                    out.append(d)
        return FpgaPolicyResult(tuple(out), st)
