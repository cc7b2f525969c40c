"""FPGA boards in simulated time: the driver that runs an FPGA slot policy against app arrivals.

The model (calibration in `tessera.fpga.model`; tested in tests/sim/test_fpga.py):

- Control: the policy decides after every change (arrival, PR done, slot
  freed, app finished) and every `tick_s` (0.4 s, Nimblock's scheduling
  interval); decisions at one instant are coalesced into one call.
- Loading: a `Load` configures a free slot with the app's next tasks (one,
  or a bundle of up to three consecutive tasks in a big slot). A slot whose
  configured bitstream is the one asked for is ready at once; otherwise the
  PR joins the board's port queue (FIFO, one PR at a time).
- Execution: batch b of task i starts when its slot is configured, task i-1
  has finished batch b (pipelining across slots) and the app's migrated state
  has arrived; a batch takes the task's per-batch latency. Inside a big slot
  the bundle's tasks are wired on chip: only the bundle's first task needs
  the host to dispatch a batch.
- Blocking DPR: without `async_dpr` the host reconfigures synchronously, so
  while the port runs a PR no batch is dispatched anywhere on that board; the
  delay is summed in `dispatch_blocked_s`. With it (VersaSlot's PR server on
  a second core) dispatch never waits.
- Preemption (`Evict`), migration (`Migrate`) and layout switches
  (`Switch`) take effect at batch boundaries: a running batch always
  finishes, the tasks' finished-batch counts are kept, no batch is lost or
  repeated. A migrated app's state crosses the link (`link_bytes_per_s`)
  before its next batch; a switch waits for the board to empty, then
  reloads the whole shell (`PortModel.full_s`).
- Accounting, over the makespan (first arrival to last finish): `lut_util` /
  `ff_util` = time-average of the LUT/FF of kernels configured in slots
  held by unfinished tasks, over the boards' device totals; `pr_port_busy`
  = the ports' busy share.

Every batch and every PR is logged (`FpgaOutcome.batches`, `.prs`), which is
what the invariant tests read.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.core.errors import InputError
from tessera.fpga.model import (
    ZCU216,
    Job,
    Layout,
    PortModel,
    SlotSpec,
    Vec,
    layout,
)
from tessera.fpga.policy import (
    BoardView,
    Evict,
    FpgaPolicy,
    FpgaSnapshot,
    JobView,
    Load,
    Migrate,
    SlotView,
    Switch,
)
from tessera.sim.kernel import Environment

LATE = 2  # decisions run after every other event of the same instant
BUNDLE_TIMINGS = ("pipelined", "artifact")


class _Slot:
    __slots__ = ("board", "index", "job", "kernel", "phase", "release", "res", "serial", "since",
                 "spec", "tasks")  # fmt: skip

    def __init__(self, board: _Board, index: int, spec: SlotSpec) -> None:
        self.board = board
        self.index = index
        self.spec = spec
        self.job: _Job | None = None
        self.tasks: list[int] = []
        self.kernel = ""
        self.phase = "free"
        self.release = False
        self.since = 0.0
        self.res = Vec()
        self.serial = False  # artifact timing: the bundle runs one stage at a time


class _Board:
    __slots__ = ("index", "layout", "pr_active", "pr_busy_s", "queue", "slots", "switching_to",
                 "waiting")  # fmt: skip

    def __init__(self, index: int, lay: Layout) -> None:
        self.index = index
        self.layout = lay
        self.slots = [_Slot(self, i, s) for i, s in enumerate(lay.slots)]
        self.queue: deque[_Slot | None] = deque()  # None: a whole-shell reload
        self.pr_active: _Slot | bool | None = False  # False: port idle
        self.pr_busy_s = 0.0
        self.switching_to: str | None = None
        self.waiting: list[tuple[_Job, int, float]] = []  # dispatches blocked by a PR


class _Job:
    __slots__ = ("done", "end", "job", "lat", "pinned", "ready_at", "running", "slot_of", "start")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.lat = job.spec.latencies_s
        n = len(self.lat)
        self.done = [0] * n
        self.running = [False] * n
        self.slot_of: list[_Slot | None] = [None] * n
        self.ready_at = 0.0
        self.pinned: int | None = None
        self.start = math.nan
        self.end = math.nan

    @property
    def board(self) -> int | None:
        for s in self.slot_of:
            if s is not None:
                return s.board.index
        return None


@dataclass
class FpgaOutcome:
    """Per-job times, the batch and PR logs, and the counters behind `metrics()`."""

    policy: str
    jobs: tuple[Job, ...]
    start_s: np.ndarray
    end_s: np.ndarray
    makespan_s: float
    lut_util: float
    ff_util: float
    pr_port_busy: float
    dispatch_blocked_s: float
    counts: dict[str, int]
    batches: list[tuple[int, int, int, int, int, float, float]] = field(repr=False)
    """(job, task, batch, board, slot, start_s, end_s)"""
    prs: list[tuple[int, int, float, float]] = field(repr=False)
    """(board, slot or -1 for a shell reload, start_s, end_s)"""
    layouts: list[tuple[float, int, str]] = field(repr=False)
    reasons: list[str] = field(default_factory=list)

    @property
    def response_s(self) -> np.ndarray:
        arrivals = np.array([j.arrival_s for j in self.jobs], dtype=float)
        return np.asarray(self.end_s - arrivals, dtype=float)

    def metrics(self) -> dict[str, float]:
        r = self.response_s
        deadlines = np.array([j.deadline_s for j in self.jobs])
        p9 = np.array([j.priority == 9 for j in self.jobs])
        missed = self.end_s > deadlines
        return {
            "mean_response_s": float(np.mean(r)),
            "p95_response_s": float(np.percentile(r, 95)),
            "deadline_miss_rate": float(np.mean(missed)),
            "deadline_miss_rate_p9": float(np.mean(missed[p9])) if p9.any() else 0.0,
            "lut_util": self.lut_util,
            "ff_util": self.ff_util,
            "pr_port_busy": self.pr_port_busy,
            "dispatch_blocked_s": self.dispatch_blocked_s,
            "makespan_s": self.makespan_s,
            "prs": float(self.counts["prs"]),
            "preemptions": float(self.counts["evictions"]),
            "migrations": float(self.counts["migrations"]),
            "switches": float(self.counts["switches"]),
            "rejected": float(self.counts["rejected"]),
        }


@dataclass(frozen=True)
class FpgaScenario:
    jobs: Sequence[Job]
    boards: int = 1
    port: PortModel = field(default_factory=PortModel)
    tick_s: float = 0.4
    link_bytes_per_s: float = 1.25e9  # 10 Gb/s between boards
    layouts: Sequence[str] | None = None  # per board; default the policy's
    max_time_s: float = 1e6
    bundle_timing: str = "pipelined"
    """How a big slot's bundle runs: "pipelined" (each stage at its own latency, batch b of a
    stage when the previous stage finished it) or "artifact" (the VersaSlot artifact's 3-in-1
    kernels: lock step, every stage taking the slowest stage's latency, B + k - 1 steps for k
    stages; or serial, one stage at a time, B x the latency sum, when that is shorter for the
    batches each stage has left when the slot becomes ready)."""


class FpgaSim:
    """One run of one policy over one scenario (use `simulate`)."""

    def __init__(self, policy: FpgaPolicy, sc: FpgaScenario) -> None:
        self.policy = policy
        self.sc = sc
        self.env = Environment()
        if sc.bundle_timing not in BUNDLE_TIMINGS:
            raise InputError("bundle_timing", sc.bundle_timing, " or ".join(BUNDLE_TIMINGS))
        names = sc.layouts or [policy.layout] * sc.boards
        if len(names) != sc.boards:
            raise ValueError(f"layouts names {len(names)} boards, scenario has {sc.boards}")
        self.boards = [_Board(i, layout(n)) for i, n in enumerate(names)]
        self.jobs = [_Job(j) for j in sorted(sc.jobs, key=lambda j: (j.arrival_s, j.id))]
        self.active: dict[int, _Job] = {}
        self.state: Any = None
        self.pending = False
        self.finished = 0
        self.batches: list[tuple[int, int, int, int, int, float, float]] = []
        self.prs: list[tuple[int, int, float, float]] = []
        self.layouts: list[tuple[float, int, str]] = [(0.0, b.index, b.layout.name)
                                                      for b in self.boards]  # fmt: skip
        self.counts = dict.fromkeys(("prs", "evictions", "migrations", "switches", "rejected"), 0)
        self.reasons: list[str] = []
        self.blocked_s = 0.0
        self._same_t, self._same_n = -1.0, 0
        self._pending_key: dict[_Slot, str] = {}  # bitstream each queued or running PR loads
        # utilisation integrals
        self.res_now = Vec()
        self.res_int = Vec()
        self.res_t = 0.0

    # ---- bookkeeping -------------------------------------------------------------------

    def _res_add(self, v: Vec, sign: float) -> None:
        now = self.env.now
        self.res_int = self.res_int + self.res_now.scale(now - self.res_t)
        self.res_t = now
        self.res_now = self.res_now + v.scale(sign)

    def _request_decision(self) -> None:
        if not self.pending:
            self.pending = True
            self.env.schedule(0.0, self._decide, None, LATE)

    # ---- events ------------------------------------------------------------------------

    def _arrive(self, j: _Job) -> None:
        self.active[j.job.id] = j
        self._request_decision()

    def _tick(self, _: Any) -> None:
        if self.finished < len(self.jobs):
            self._request_decision()
            self.env.schedule(self.sc.tick_s, self._tick)

    def _decide(self, _: Any) -> None:
        self.pending = False
        now = self.env.now
        if now == self._same_t:
            self._same_n += 1
            if self._same_n > 1000:
                raise RuntimeError(
                    f"{self.policy.name}: over 1000 decisions at t={now:.3f}s without time "
                    "advancing (a policy that preempts and reloads the same slot?)"
                )
        else:
            self._same_t, self._same_n = now, 0
        snap = self._snapshot()
        result = self.policy.decide(snap)
        self.state = result.state
        for d in result.decisions:
            err = self._apply(d.action)
            if err:
                self.counts["rejected"] += 1
                if len(self.reasons) < 50:
                    self.reasons.append(f"t={self.env.now:.2f}s rejected {d.action}: {err}")
            elif len(self.reasons) < 50 and not isinstance(d.action, Load):
                self.reasons.append(f"t={self.env.now:.2f}s {d.action}: {d.reason}")

    # ---- snapshot ----------------------------------------------------------------------

    def _slot_view(self, s: _Slot) -> SlotView:
        phase = "releasing" if s.release else s.phase
        return SlotView(
            board=s.board.index,
            index=s.index,
            kind=s.spec.kind,
            units=s.spec.units,
            max_tasks=s.spec.max_tasks,
            phase=phase,  # type: ignore[arg-type]
            job=None if s.job is None else s.job.job.id,
            tasks=tuple(s.tasks),
            kernel=s.kernel,
            since_s=s.since,
        )

    def _snapshot(self) -> FpgaSnapshot:
        boards = tuple(
            BoardView(
                index=b.index,
                layout=b.layout.name,
                slots=tuple(self._slot_view(s) for s in b.slots),
                pr_pending=len(b.queue) + (0 if b.pr_active is False else 1),
                switching_to=b.switching_to,
            )
            for b in self.boards
        )
        jobs = tuple(
            JobView(
                id=j.job.id,
                app=j.job.app,
                batches=j.job.batches,
                priority=j.job.priority,
                arrival_s=j.job.arrival_s,
                deadline_s=j.job.deadline_s,
                latencies_s=j.lat,
                done=tuple(j.done),
                loaded=tuple(i for i, s in enumerate(j.slot_of) if s is not None),
                board=j.board,
                pinned_board=j.pinned,
                ready_at_s=j.ready_at,
            )
            for j in self.active.values()
        )
        return FpgaSnapshot(self.env.now, boards, jobs, self.sc.port, self.state)

    # ---- actions -----------------------------------------------------------------------

    def _apply(self, a: object) -> str:
        if isinstance(a, Load):
            return self._load(a)
        if isinstance(a, Evict):
            return self._evict(a)
        if isinstance(a, Migrate):
            return self._migrate(a)
        if isinstance(a, Switch):
            return self._switch(a)
        return f"unknown action {type(a).__name__}"

    def _slot(self, board: int, slot: int) -> _Slot | None:
        if not 0 <= board < len(self.boards):
            return None
        b = self.boards[board]
        return b.slots[slot] if 0 <= slot < len(b.slots) else None

    def _load(self, a: Load) -> str:
        s = self._slot(a.board, a.slot)
        j = self.active.get(a.job)
        if s is None:
            return "no such slot"
        if j is None:
            return "job not admitted or finished"
        if s.phase != "free" or s.board.switching_to is not None:
            return f"slot is {s.phase}" if s.phase != "free" else "board is switching layout"
        home = j.board
        if home is not None and home != a.board:
            return f"the job's tasks are on board {home}; migrate it first"
        if j.pinned is not None and j.pinned != a.board:
            return f"the job is migrating to board {j.pinned}"
        todo = [i for i, d in enumerate(j.done) if d < j.job.batches and j.slot_of[i] is None]
        if not todo:
            return "no task left to place"
        k = max(1, min(a.tasks, s.spec.max_tasks))
        tasks = [t for t in range(todo[0], todo[0] + k) if t in todo]
        kernels = j.job.spec.kernels
        res = Vec()
        for t in tasks:
            res = res + kernels[t].res
        if not res.fits(s.spec.capacity):
            return "kernels do not fit the slot"
        key = f"{j.job.app}/{tasks[0]}-{tasks[-1]}@{s.spec.kind}"
        s.job, s.tasks, s.since, s.res = j, tasks, self.env.now, res
        for t in tasks:
            j.slot_of[t] = s
        if math.isnan(j.start):
            j.start = self.env.now
        if s.kernel == key:
            self._ready(s)
            self._res_add(res, +1)
            for t in tasks:
                self._try_start(j, t)
        else:
            s.phase = "pr-queued"
            s.kernel = ""
            self._pending_key[s] = key
            s.board.queue.append(s)
            self._pump_port(s.board)
        return ""

    def _evict(self, a: Evict) -> str:
        s = self._slot(a.board, a.slot)
        if s is None:
            return "no such slot"
        if s.job is None:
            return "slot is free"
        if s.release:
            return "already releasing"
        self.counts["evictions"] += 1
        self._release(s)
        return ""

    def _release(self, s: _Slot) -> None:
        """Free `s` at its next batch boundary (now, when nothing runs in it)."""
        if s.phase == "pr-queued":
            s.board.queue.remove(s)
            del self._pending_key[s]
            self._free(s, keep_kernel=False)
            return
        s.release = True
        if s.phase == "ready" and not any(s.job.running[t] for t in s.tasks):  # type: ignore[union-attr]
            self._free(s)

    def _migrate(self, a: Migrate) -> str:
        j = self.active.get(a.job)
        if j is None:
            return "job not admitted or finished"
        if not 0 <= a.board < len(self.boards):
            return "no such board"
        home = j.board
        if home is None or home == a.board:
            j.pinned = a.board
            return ""
        self.counts["migrations"] += 1
        j.pinned = a.board
        for s in {id(s): s for s in j.slot_of if s is not None}.values():
            if not s.release:
                self._release(s)
        return ""

    def _switch(self, a: Switch) -> str:
        if not 0 <= a.board < len(self.boards):
            return "no such board"
        b = self.boards[a.board]
        layout(a.layout)  # validates the name
        if b.switching_to is not None:
            return "already switching"
        if b.layout.name == a.layout:
            return "board already has that layout"
        self.counts["switches"] += 1
        b.switching_to = a.layout
        for s in b.slots:
            if s.job is not None and not s.release:
                s.job.pinned = None
                self._release(s)
        self._maybe_reload(b)
        return ""

    # ---- the port ----------------------------------------------------------------------

    def _pump_port(self, b: _Board) -> None:
        if b.pr_active is not False or not b.queue:
            return
        s = b.queue.popleft()
        now = self.env.now
        if s is None:
            dur = self.sc.port.full_s()
        else:
            dur = self.sc.port.pr_s(s.spec.units)
            s.phase = "pr"
        b.pr_active = s
        self.counts["prs"] += 1
        self.env.schedule(dur, self._pr_done, (b, s, now))

    def _pr_done(self, arg: tuple[_Board, _Slot | None, float]) -> None:
        b, s, t0 = arg
        now = self.env.now
        b.pr_busy_s += now - t0
        b.pr_active = False
        self.prs.append((b.index, -1 if s is None else s.index, t0, now))
        if s is None:  # the shell reload of a layout switch
            assert b.switching_to is not None
            b.layout = layout(b.switching_to)
            b.slots = [_Slot(b, i, sp) for i, sp in enumerate(b.layout.slots)]
            b.switching_to = None
            self.layouts.append((now, b.index, b.layout.name))
        else:
            s.kernel = self._pending_key.pop(s)
            self._ready(s)
            self._res_add(s.res, +1)
            if s.release:
                self._free(s)
        # the host dispatches what waited for the port, then starts the next PR
        waiting, b.waiting = b.waiting, []
        for j, t, since in waiting:
            self.blocked_s += now - since
            self._start(j, t)
        if s is not None and s.job is not None:
            for t in s.tasks:
                self._try_start(s.job, t)
        self._pump_port(b)
        self._request_decision()

    def _maybe_reload(self, b: _Board) -> None:
        if b.switching_to is None or any(s.job is not None for s in b.slots):
            return
        if b.pr_active is False and None not in b.queue:
            b.queue.append(None)
            self._pump_port(b)

    # ---- execution ---------------------------------------------------------------------

    def _try_start(self, j: _Job, t: int) -> None:
        s = j.slot_of[t]
        if s is None or s.phase != "ready" or s.release or j.running[t]:
            return
        d = j.done[t]
        if d >= j.job.batches or (t > 0 and j.done[t - 1] <= d):
            return
        now = self.env.now
        if j.ready_at > now:
            self.env.at(j.ready_at, self._retry, (j, t))
            return
        first = t == s.tasks[0]
        b = s.board
        if first and not self.policy.async_dpr and b.pr_active is not False:
            if all(w[0] is not j or w[1] != t for w in b.waiting):
                b.waiting.append((j, t, now))
            return
        self._start(j, t)

    def _retry(self, arg: tuple[_Job, int]) -> None:
        j, t = arg
        if j.job.id in self.active:
            self._try_start(j, t)

    def _start(self, j: _Job, t: int) -> None:
        s = j.slot_of[t]
        if s is None or s.phase != "ready" or s.release or j.running[t]:
            return
        lat = j.lat[t]
        if self.sc.bundle_timing == "artifact" and len(s.tasks) > 1:
            if s.serial:
                if any(j.running[x] for x in s.tasks):
                    return  # the stage still running restarts the others when it ends
            else:
                lat = max(j.lat[x] for x in s.tasks)
        j.running[t] = True
        self.env.schedule(lat, self._batch_done, (j, t, s, self.env.now))

    def _ready(self, s: _Slot) -> None:
        """The slot's kernels are configured: pick the artifact's bundle mode for what is left."""
        s.phase = "ready"
        if self.sc.bundle_timing == "artifact" and s.job is not None and len(s.tasks) > 1:
            j = s.job  # after a preemption or migration the stages may have done unequal work
            left = [j.job.batches - j.done[x] for x in s.tasks]
            lats = [j.lat[x] for x in s.tasks]
            serial = sum(n * lat for n, lat in zip(left, lats, strict=True))
            s.serial = serial < (max(left) + len(lats) - 1) * max(lats)
        else:
            s.serial = False

    def _batch_done(self, arg: tuple[_Job, int, _Slot, float]) -> None:
        j, t, s, t0 = arg
        now = self.env.now
        j.running[t] = False
        b = j.done[t]
        j.done[t] = b + 1
        self.batches.append((j.job.id, t, b, s.board.index, s.index, t0, now))
        n = j.job.batches
        if s.release:
            if not any(j.running[x] for x in s.tasks):
                self._free(s)
        elif all(j.done[x] >= n for x in s.tasks):
            self._free(s)
        elif s.serial:  # batch-major: the deepest stage with work goes next
            for x in reversed(s.tasks):
                self._try_start(j, x)
        else:
            self._try_start(j, t)
        if t + 1 < len(j.lat):
            self._try_start(j, t + 1)
        if all(d >= n for d in j.done):
            j.end = now
            del self.active[j.job.id]
            self.finished += 1
        self._request_decision()

    def _free(self, s: _Slot, keep_kernel: bool = True) -> None:
        j = s.job
        assert j is not None
        was_ready = s.phase == "ready"
        if was_ready:
            self._res_add(s.res, -1)
        for t in s.tasks:
            j.slot_of[t] = None
        moved = s.release and j.pinned is not None and j.pinned != s.board.index
        switching = s.board.switching_to is not None
        if (moved or switching) and j.board is None and any(0 < d < j.job.batches
                                                             for d in j.done):  # fmt: skip
            j.ready_at = self.env.now + j.job.spec.state_bytes / self.sc.link_bytes_per_s
        s.job, s.tasks, s.release, s.res = None, [], False, Vec()
        s.phase = "free"
        if not keep_kernel or not was_ready:
            s.kernel = ""
        self._maybe_reload(s.board)
        self._request_decision()

    # ---- run ---------------------------------------------------------------------------

    def run(self) -> FpgaOutcome:
        for j in self.jobs:
            self.env.at(j.job.arrival_s, self._arrive, j)
        first = self.jobs[0].job.arrival_s if self.jobs else 0.0
        self.env.at(first, self._tick)
        self.env.run(until=self.sc.max_time_s)
        if self.finished < len(self.jobs):
            raise RuntimeError(
                f"{self.policy.name}: {len(self.jobs) - self.finished} of {len(self.jobs)} apps "
                f"unfinished after {self.sc.max_time_s:g} s (a policy that never loads them?)"
            )
        end = max(j.end for j in self.jobs)
        span = max(end - first, 1e-12)
        self.env.now = end
        self._res_add(Vec(), 0)
        nb = len(self.boards)
        ordered = sorted(self.jobs, key=lambda j: j.job.id)
        return FpgaOutcome(
            policy=self.policy.name,
            jobs=tuple(j.job for j in ordered),
            start_s=np.array([j.start for j in ordered]),
            end_s=np.array([j.end for j in ordered]),
            makespan_s=span,
            lut_util=self.res_int.lut / (ZCU216.lut * nb * span),
            ff_util=self.res_int.ff / (ZCU216.ff * nb * span),
            pr_port_busy=sum(b.pr_busy_s for b in self.boards) / (nb * span),
            dispatch_blocked_s=self.blocked_s,
            counts=self.counts,
            batches=self.batches,
            prs=self.prs,
            layouts=self.layouts,
            reasons=self.reasons,
        )


def simulate(policy: FpgaPolicy, sc: FpgaScenario) -> FpgaOutcome:
    """Run `policy` over the scenario's apps until every one has finished."""
    return FpgaSim(policy, sc).run()
