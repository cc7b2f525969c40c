"""VersaSlot (DAC'25): Big.Little slots, asynchronous DPR, and cluster-level layout switching.

One allocation (`VersaSlot`) runs every board, whatever its layout:

- Order: every app ranked by priority-weighted serial work left (`swrpt`;
  `srpt` ranks Nimblock's token candidates only, `fifo` keeps them in
  arrival order as the artifact does).
- Big slots take bundles of three consecutive tasks (one PR; on-chip
  pipelining) up to the app's big quota, starting at the app's next task
  (`aligned=False`: a 3-in-1 bitstream is prebuilt for every start offset,
  n-2 per app; `aligned=True`, the artifact: only at task 0, 3, 6); little
  slots take single tasks with no per-app cap by default (rank decides; the
  artifact's table OF 1, IC 3, LeNet 2, 3DR 2 is `LITTLE_QUOTA`); spare
  slots go to any app with work of that shape.
- Downstream tasks are loaded just in time (`jit_load`): once the upstream
  task's remaining work is at most theirs plus a PR.
- Preemption (`rank_preempt`): a higher-ranked app with ready work and no
  free slot of its shape takes the slot of the lowest-ranked app whose
  remaining weight is `margin` (2x) larger and which has held it for
  `MIN_HOLD_S`, at the batch boundary; otherwise Nimblock's over-allocation rule.
- `little_min_tasks` (artifact: 6): an unstarted app with at most this many
  tasks waits for a big slot rather than start in little slots of a
  Big.Little board.
- DPR is asynchronous (VersaSlot's PR server on a second core).

Registered: `versaslot-bl` (Big.Little), `versaslot-ol` (Only.Little, the
same allocation), `versaslot-artifact` (Big.Little with the artifact's
choices: fifo, no JIT, no rank preemption, short chains wait) and
`versaslot-switch` (boards switch layout as the app mix drifts; see its doc).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tessera.core.errors import require
from tessera.fpga.policy import (
    FPGA_POLICIES,
    BoardView,
    Evict,
    FpgaDecision,
    FpgaPolicyResult,
    FpgaSnapshot,
    JobView,
    Migrate,
    SlotView,
    Switch,
)
from tessera.fpga.schedulers import (
    TICK_S,
    FreeSlots,
    TokenState,
    allowed,
    candidates,
    load,
    occupied,
    preempt_over,
    ready,
    update_tokens,
)

ORDERS = ("swrpt", "srpt", "fifo")
MIN_HOLD_S = 1.0
"""A slot is preempted for a higher-ranked app only after its holder has had it this long."""
LITTLE_QUOTA: Mapping[str, int] = {"OF": 1, "IC": 3, "LeNet": 2, "3DR": 2}
BIG_QUOTA: Mapping[str, int] = {"OF": 2, "IC": 2, "LeNet": 2, "3DR": 2}
BUNDLE = 3
NO_CAP = 1 << 30
"""An app absent from the little quota may take every little slot its rank and ready work earn."""


def _bl_decide(
    snap: FpgaSnapshot, st: TokenState, boards: set[int], little_min_tasks: int,
    big_quota: Mapping[str, int], little_quota: Mapping[str, int], order: str = "fifo",
    jit_load: bool = False, rank_preempt: bool = False, margin: float = 1.0,
    aligned: bool = True,
) -> tuple[list[FpgaDecision], dict[int, str], dict[int, float]]:  # fmt: skip
    """VersaSlot's allocation on the boards `boards`: decisions, modes, preemption times."""
    modes: dict[int, str] = dict(st.extra.get("modes", {}))
    alive = {j.id for j in snap.jobs}
    modes = {k: v for k, v in modes.items() if k in alive}
    cooldown = {k: v for k, v in st.extra.get("cooldown", {}).items() if k in alive}
    sub = [b for b in snap.boards if b.index in boards]
    mine = [j for j in snap.jobs if j.board is None or j.board in boards]
    ids = {j.id for j in mine}
    cands = [j for j in candidates(snap, st.tokens) if j.id in ids]
    cand_ids = {j.id for j in cands}
    if order == "swrpt":  # every app is a candidate, least priority-weighted work left first
        cands = sorted(mine, key=lambda j: j.remaining_s / j.priority)
        rest = []
    elif order == "srpt":
        cands.sort(key=lambda j: j.remaining_s / j.priority)
        rest = sorted((j for j in mine if j.id not in cand_ids),
                      key=lambda j: j.remaining_s / j.priority)  # fmt: skip
    else:
        rest = [j for j in mine if j.id not in cand_ids]
    held = {k: v for k, v in occupied(snap).items() if v[0].board in boards}
    free = FreeSlots(sub)
    out: list[FpgaDecision] = []
    fresh: set[int] = set()

    def n_held(j: JobView, kind: str) -> int:
        return sum(1 for s in held.get(j.id, []) if s.kind == kind)

    big_boards = {b.index for b in sub if any(s.kind == "big" for s in b.slots)}

    def waits(j: JobView) -> set[int]:
        """Boards where an unstarted short chain must wait for a big slot (artifact's rule)."""
        return big_boards if not j.started and j.n_tasks <= little_min_tasks else set()

    def put(j: JobView, kind: str, why: str, skip: set[int] | None = None) -> None:
        tasks = BUNDLE if kind == "big" else 1
        s = free.take(j, kind, skip)
        if s is not None:
            modes[j.id] = kind
            out.append(load(j, s, tasks, why))
            held.setdefault(j.id, []).append(s)
            fresh.add(j.id)

    jit = snap.port.pr_s(1) if jit_load else None

    def bundle_ready(j: JobView) -> bool:
        at_start = not aligned or j.next_task % BUNDLE == 0
        return at_start and ready(j, BUNDLE, jit and snap.port.pr_s(BUNDLE))

    def little_ready(j: JobView) -> bool:
        return ready(j, 1, jit)

    for j in cands:  # big slots within quota: bundles of three
        if free.count("big") and bundle_ready(j) and n_held(j, "big") < big_quota.get(j.app, 2):
            put(j, "big", "bundle of three in a big slot")
    for j in cands:  # little slots within quota
        if not free.count("little"):
            break
        if (
            j.id in fresh
            or not little_ready(j)
            or n_held(j, "little") >= little_quota.get(j.app, NO_CAP)
        ):
            continue
        why = f"quota {little_quota[j.app]}" if j.app in little_quota else "by rank"
        put(j, "little", f"little mode, {why}", waits(j))
    for j in [*cands, *rest]:  # spare slots: whoever has work of the right shape
        if j.id in fresh or snap.now_s - cooldown.get(j.id, -math.inf) < TICK_S:
            continue  # (an app preempted a moment ago does not take its slot straight back)
        if free.count("big") and bundle_ready(j):
            put(j, "big", "spare big slot")
        elif free.count("little") and little_ready(j):
            put(j, "little", "spare little slot", waits(j))
    d = None
    if rank_preempt and order == "swrpt":
        d = _rank_preempt(cands, held, fresh, little_ready, bundle_ready, free, margin, snap.now_s)
    elif not free.count("little") and not free.count("big"):
        waiting = [j for j in cands if j.id not in fresh and not j.started]
        if waiting:
            alloc = {j.id: big_quota.get(j.app, 2) + little_quota.get(j.app, NO_CAP)
                     for j in cands}  # fmt: skip
            d = preempt_over(snap, alloc, held)
    if d is not None:
        out.append(d)
        victim = next(s for b in sub for s in b.slots
                      if (s.board, s.index) == (d.action.board, d.action.slot))  # type: ignore[union-attr]  # fmt: skip
        if victim.job is not None:
            cooldown[victim.job] = snap.now_s
    return out, modes, cooldown


def _rank_preempt(
    ranked: list[JobView], held: Mapping[int, list[SlotView]], fresh: set[int],
    little_ready: Any, bundle_ready: Any, free: FreeSlots, margin: float, now_s: float,
) -> FpgaDecision | None:  # fmt: skip
    """Evict one slot of the lowest-ranked app holding one, for a higher-ranked app whose
    ready work finds no free slot of its shape (at the batch boundary)."""
    pos = {j.id: k for k, j in enumerate(ranked)}
    weight = {j.id: j.remaining_s / j.priority for j in ranked}
    for k, j in enumerate(ranked):
        if j.id in fresh:
            continue
        for kind, ok in (("big", bundle_ready(j)), ("little", little_ready(j))):
            if not ok or free.count(kind):
                continue
            victims = [
                (pos.get(jid, len(ranked)), s.tasks[-1], s)
                for jid, slots in held.items() if pos.get(jid, len(ranked)) > k
                and weight.get(jid, float("inf")) > margin * weight[j.id]
                for s in slots if s.kind == kind and s.tasks and s.phase == "ready"
                and allowed(j, s.board) and now_s - s.since_s >= MIN_HOLD_S
            ]  # fmt: skip
            if victims:
                _, _, s = max(victims, key=lambda v: (v[0], v[1]))
                return FpgaDecision(
                    Evict(s.board, s.index),
                    f"app {j.id} ({j.app}, rank {k}) needs a {kind} slot: preempt app {s.job} "
                    f"(rank {pos.get(s.job or -1, len(ranked))}) task {s.tasks[-1]}",
                )
    return None


class VersaSlot:
    """VersaSlot's allocation on every board, whatever its layout (see the module doc)."""

    name = "versaslot"
    layout = "BL"
    async_dpr = True

    def __init__(
        self, order: str = "swrpt", jit_load: bool = True, rank_preempt: bool = True,
        margin: float = 2.0, little_min_tasks: int = 0,
        big_quota: Mapping[str, int] | None = None, little_quota: Mapping[str, int] | None = None,
        aligned: bool = False,
    ) -> None:  # fmt: skip
        require(order in ORDERS, "versaslot.order", order, ", ".join(ORDERS))
        require(margin >= 1.0, "versaslot.margin", margin, "a factor >= 1")
        self.order = order
        self.jit_load = jit_load
        self.rank_preempt = rank_preempt
        self.margin = margin
        self.little_min_tasks = little_min_tasks
        self.big_quota = dict(BIG_QUOTA if big_quota is None else big_quota)
        self.little_quota = dict({} if little_quota is None else little_quota)
        self.aligned = aligned

    def allocate(
        self, snap: FpgaSnapshot, st: TokenState, boards: set[int]
    ) -> tuple[list[FpgaDecision], dict[str, Any]]:
        out, modes, cooldown = _bl_decide(
            snap, st, boards, self.little_min_tasks, self.big_quota, self.little_quota,
            self.order, self.jit_load, self.rank_preempt, self.margin, self.aligned,
        )  # fmt: skip
        return out, {"modes": modes, "cooldown": cooldown}

    def decide(self, snap: FpgaSnapshot) -> FpgaPolicyResult:
        st = update_tokens(snap, snap.state)
        out, extra = self.allocate(snap, st, {b.index for b in snap.boards})
        return FpgaPolicyResult(tuple(out), replace(st, extra={**st.extra, **extra}))


@FPGA_POLICIES.register("versaslot-bl")
class VersaSlotBL(VersaSlot):
    """Big.Little boards."""

    name = "versaslot-bl"
    layout = "BL"


@FPGA_POLICIES.register("versaslot-ol")
class VersaSlotOL(VersaSlot):
    """Only.Little boards: the same allocation with little slots only."""

    name = "versaslot-ol"
    layout = "OL"


@FPGA_POLICIES.register("versaslot-artifact")
class VersaSlotArtifact(VersaSlot):
    """Big.Little as the artifact schedules it: arrival order among Nimblock's candidates,
    loads as soon as ready, Nimblock's over-allocation preemption, short chains wait for a
    big slot (the ablation that shows what the ordering adds)."""

    name = "versaslot-artifact"
    layout = "BL"

    def __init__(self) -> None:
        super().__init__(order="fifo", jit_load=False, rank_preempt=False, little_min_tasks=6,
                         little_quota=LITTLE_QUOTA, aligned=True)  # fmt: skip


@FPGA_POLICIES.register("versaslot-switch")
class VersaSlotSwitch(VersaSlot):
    """Each board runs VersaSlot's allocation; boards switch layout as the app mix drifts.

    The mix is the share of long-chain apps (at least `long_tasks` tasks: OF)
    among the last `window` apps admitted; the cluster wants
    `round(share x boards / bl_share)` Big.Little boards (all of them at or
    above `bl_share`). One board switches at a time, at most every `hold_s`;
    the least-loaded board of the other layout is chosen and its apps are
    live-migrated to the other boards first.
    """

    name = "versaslot-switch"
    layout = "BL"

    def __init__(
        self, long_tasks: int = 7, bl_share: float = 0.5, hold_s: float = 30.0,
        window: int = 12, **params: Any,
    ) -> None:  # fmt: skip
        super().__init__(**params)
        require(0 < bl_share <= 1, "versaslot-switch.bl_share", bl_share, "a share in (0, 1]")
        require(hold_s >= 0, "versaslot-switch.hold_s", hold_s, "seconds >= 0")
        require(window >= 1, "versaslot-switch.window", window, "an integer >= 1")
        self.long_tasks = long_tasks
        self.bl_share = bl_share
        self.hold_s = hold_s
        self.window = window

    def decide(self, snap: FpgaSnapshot) -> FpgaPolicyResult:
        st = update_tokens(snap, snap.state)
        seen: dict[int, int] = dict(st.extra.get("seen", {}))
        for j in snap.jobs:
            seen.setdefault(j.id, j.n_tasks)
        recent = [seen[k] for k in sorted(seen)[-self.window :]]
        seen = {k: seen[k] for k in sorted(seen)[-self.window :]}
        last_switch = float(st.extra.get("last_switch", float("-inf")))
        out: list[FpgaDecision] = []
        n = len(snap.boards)
        share = sum(1 for t in recent if t >= self.long_tasks) / len(recent) if recent else None
        have = sum(1 for b in snap.boards if (b.switching_to or b.layout) == "BL")
        want = have if share is None else min(n, round(share * n / self.bl_share))
        busy = any(b.switching_to for b in snap.boards)
        if want != have and not busy and snap.now_s - last_switch >= self.hold_s:
            to = "BL" if want > have else "OL"
            board = self._least_loaded([b for b in snap.boards if b.layout != to])
            if board is not None:
                out.append(FpgaDecision(
                    Switch(board.index, to),
                    f"long-chain share {share:.0%} of the last {len(recent)} apps wants {want} "
                    f"Big.Little board(s), {have} now: board {board.index} -> {to}",
                ))  # fmt: skip
                out += self._evacuate(board, snap)
                last_switch = snap.now_s
        switching = {d.action.board for d in out if isinstance(d.action, Switch)}
        boards = {b.index for b in snap.boards if not b.switching_to} - switching
        decisions, own = self.allocate(snap, st, boards)
        out += decisions
        extra = {**st.extra, **own, "seen": seen, "last_switch": last_switch}
        return FpgaPolicyResult(tuple(out), replace(st, extra=extra))

    @staticmethod
    def _least_loaded(boards: list[BoardView]) -> BoardView | None:
        if not boards:
            return None
        return min(boards, key=lambda b: (sum(1 for s in b.slots if not s.free), b.index))

    def _evacuate(self, board: BoardView, snap: FpgaSnapshot) -> list[FpgaDecision]:
        """Live-migrate the board's apps to the other boards, fewest held slots first."""
        others = [b for b in snap.boards if b.index != board.index and not b.switching_to]
        if not others:
            return []
        load_of = {b.index: sum(1 for s in b.slots if not s.free) for b in others}
        out = []
        apps: list[JobView] = [j for j in snap.jobs if j.board == board.index]
        for j in apps:
            target = min(load_of, key=lambda k: (load_of[k], k))
            load_of[target] += len(j.loaded)
            out.append(FpgaDecision(
                Migrate(j.id, target),
                f"board {board.index} switches layout: app {j.id} ({j.app}) moves to board "
                f"{target} at its batch boundary",
            ))  # fmt: skip
        return out


__all__ = ["VersaSlot", "VersaSlotArtifact", "VersaSlotBL", "VersaSlotOL", "VersaSlotSwitch"]
