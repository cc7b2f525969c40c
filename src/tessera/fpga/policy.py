"""What an FPGA slot scheduler sees and answers: snapshot in, actions with reasons out.

A scheduler (`baseline`, `fcfs`, `rr`, `nimblock`, `versaslot-ol`,
`versaslot-bl`, `versaslot-switch`) is pure: it gets an `FpgaSnapshot` (the
boards with their layouts and slots, the DPR ports' queues, the admitted
apps with their progress per task, its own previous state) and returns
actions, each with a reason:

- `Load(board, slot, job, tasks)`: configure a free slot with the job's next
  `tasks` consecutive tasks (the lowest ones neither finished nor in a slot;
  up to 3 in a big slot, 1 elsewhere). The PR waits its turn on the board's
  port; a slot whose bitstream is already the one asked for starts at once.
- `Evict(board, slot)`: preempt at the batch boundary: the running batch
  finishes, the tasks' progress is kept, the slot becomes free.
- `Switch(board, layout)`: change the board's layout: its apps are evicted
  at batch boundaries (their state moves with them), then the whole shell is
  reloaded.
- `Migrate(job, board)`: move a running app to another board at batch
  boundaries (cost: its state over the link, then PR on the target).

Two facts about the system a policy drives are attributes of the policy:
`layout` (the boards' initial layout) and `async_dpr` (VersaSlot's DPR server
on a second core; without it the host blocks dispatching while a PR runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from tessera.core.registry import Registry
from tessera.fpga.model import PortModel, SlotKind

SlotPhase = Literal["free", "pr-queued", "pr", "ready", "releasing"]


@dataclass(frozen=True, slots=True)
class SlotView:
    board: int
    index: int
    kind: SlotKind
    units: int
    max_tasks: int
    phase: SlotPhase
    job: int | None = None  # occupant (None when free)
    tasks: tuple[int, ...] = ()
    kernel: str = ""  # bitstream configured now ("" none): reloading it costs no PR
    since_s: float = 0.0  # when the occupant got the slot

    @property
    def free(self) -> bool:
        return self.phase == "free"


@dataclass(frozen=True, slots=True)
class BoardView:
    index: int
    layout: str
    slots: tuple[SlotView, ...]
    pr_pending: int = 0  # PRs queued or running on the port
    switching_to: str | None = None

    @property
    def free_slots(self) -> tuple[SlotView, ...]:
        if self.switching_to is not None:
            return ()
        return tuple(s for s in self.slots if s.free)


@dataclass(frozen=True, slots=True)
class JobView:
    """One admitted, unfinished app and its progress."""

    id: int
    app: str
    batches: int
    priority: int
    arrival_s: float
    deadline_s: float
    latencies_s: tuple[float, ...]
    done: tuple[int, ...]  # batches finished, per task
    loaded: tuple[int, ...] = ()  # tasks in a slot now
    board: int | None = None  # where its loaded tasks are (None: nowhere)
    pinned_board: int | None = None  # a migration's target
    ready_at_s: float = 0.0  # its state is in flight until then

    @property
    def n_tasks(self) -> int:
        return len(self.latencies_s)

    @property
    def next_task(self) -> int:
        """The lowest task neither finished nor loaded (`n_tasks` when none)."""
        for i, d in enumerate(self.done):
            if d < self.batches and i not in self.loaded:
                return i
        return self.n_tasks

    @property
    def unplaced(self) -> int:
        """Tasks neither finished nor loaded."""
        return sum(1 for i, d in enumerate(self.done) if d < self.batches and i not in self.loaded)

    @property
    def remaining_s(self) -> float:
        """Serial work left (each task's unfinished batches x its latency)."""
        return sum(
            (self.batches - d) * lat for d, lat in zip(self.done, self.latencies_s, strict=True)
        )

    @property
    def started(self) -> bool:
        return bool(self.loaded) or any(self.done)


@dataclass(frozen=True)
class FpgaSnapshot:
    now_s: float
    boards: tuple[BoardView, ...]
    jobs: tuple[JobView, ...]  # admitted and unfinished, in arrival order
    port: PortModel = field(default_factory=PortModel)
    state: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Load:
    board: int
    slot: int
    job: int
    tasks: int = 1


@dataclass(frozen=True, slots=True)
class Evict:
    board: int
    slot: int


@dataclass(frozen=True, slots=True)
class Switch:
    board: int
    layout: str


@dataclass(frozen=True, slots=True)
class Migrate:
    job: int
    board: int


FpgaAction = Load | Evict | Switch | Migrate


@dataclass(frozen=True, slots=True)
class FpgaDecision:
    action: FpgaAction
    reason: str


@dataclass(frozen=True, slots=True)
class FpgaPolicyResult:
    decisions: tuple[FpgaDecision, ...] = ()
    state: Any = None


@runtime_checkable
class FpgaPolicy(Protocol):
    name: str
    layout: str
    async_dpr: bool

    def decide(self, snapshot: FpgaSnapshot) -> FpgaPolicyResult: ...


FPGA_POLICIES: Registry[FpgaPolicy] = Registry("fpga_policy")


def create(config: Mapping[str, Any]) -> FpgaPolicy:
    """Build an FPGA policy from `{kind: NAME, **params}`."""
    return FPGA_POLICIES.from_config(config)
