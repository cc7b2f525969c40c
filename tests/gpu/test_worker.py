"""The GPU worker on the simulated device: partitions, quotas, resize, memory, weight sharing, errors."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from tessera.core.errors import InputError
from tessera.gpu.clock import FakeClock
from tessera.gpu.device import SimulatedDevice
from tessera.gpu.gate import Quota
from tessera.gpu.greenctx import CudaDriverError, SmSplit
from tessera.gpu.latency import from_predictor, h200_latency_ms
from tessera.gpu.mps import MpsDaemon, MpsInstance
from tessera.gpu.worker import GpuWorker, achieved_share

SM32 = 100 * 32 / 132
SM64 = 100 * 64 / 132


@pytest.fixture
def dev() -> SimulatedDevice:
    return SimulatedDevice(clock=FakeClock())


# -- the simulated device ------------------------------------------------------------
def test_disjoint_partitions_run_in_parallel(dev: SimulatedDevice) -> None:
    m = dev.load_model("resnet50")
    a = dev.capture(dev.open_partition([0, 1, 2, 3]), m, 8)
    b = dev.capture(dev.open_partition([4, 5, 6, 7]), m, 8)
    ms = h200_latency_ms("resnet50", 8, SM32)
    sa, ea = dev.submit(a, 0.0)
    sb, eb = dev.submit(b, 0.0)
    assert sa == sb == 0.0
    assert ea == eb == pytest.approx(ms / 1000)


def test_the_whole_gpu_is_time_sliced(dev: SimulatedDevice) -> None:
    m = dev.load_model("resnet50")
    a = dev.capture(dev.open_partition(None), m, 8)
    b = dev.capture(dev.open_partition(None), m, 8)
    part = dev.capture(dev.open_partition([0, 1, 2, 3]), m, 8)
    _, e1 = dev.submit(a, 0.0)
    s2, e2 = dev.submit(b, 0.0)
    s3, _ = dev.submit(part, 0.0)
    assert s2 == pytest.approx(e1)  # two whole-GPU users share: one after the other
    assert s3 == pytest.approx(e2)  # a partition overlapping the whole GPU waits too


def test_four_tenants_on_partitions_beat_four_time_sliced(dev: SimulatedDevice) -> None:
    m = dev.load_model("resnet50")
    parts = [dev.capture(dev.open_partition(range(4 * i, 4 * i + 4)), m, 8) for i in range(4)]
    whole = [dev.capture(dev.open_partition(None), m, 8) for _ in range(4)]
    end_p = max(dev.submit(p, 0.0)[1] for _ in range(50) for p in parts)
    t = end_p
    end_w = max(dev.submit(w, t)[1] for _ in range(50) for w in whole) - t
    # 4 x 443/s against 899/s on the H200 profile: about 2x
    assert end_w / end_p == pytest.approx(4 * 1 / 2.255 / (1 / 1.112), rel=0.05)


# -- quotas through the worker ---------------------------------------------------------
@pytest.mark.parametrize("q", [0.25, 0.5, 0.75])
def test_worker_enforces_the_quota_over_many_windows(dev: SimulatedDevice, q: float) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", 100, q, batches=(8,))
    res = w.run_for("a", 8, 4.0)  # 100 windows of 40 ms
    assert achieved_share(res, 0.08, res[-1].end_s) == pytest.approx(q, abs=0.05)
    assert w.metrics("a").mean_share == pytest.approx(q, abs=0.05)


def test_quota_resize_takes_effect_at_the_next_window(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", 100, 0.25, batches=(8,))
    w.run_for("a", 8, 0.5)
    k = w.gate.window_index(dev.clock.now_s())
    assert w.resize("a", quota=0.75) is None
    w.run_for("a", 8, 0.5)
    shares = {h.index: h.share for h in w.gate.history("a")}
    assert shares[k] < 0.35
    assert shares[k + 1] == pytest.approx(0.75, abs=0.05)
    assert w.metrics("a").quota == Quota(0.75, 0.75)


def test_limit_lets_an_instance_borrow_idle_time(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", 100, 0.25, 0.75, batches=(8,))
    w.add_instance("b", "bert_base", 100, 0.5, batches=(8,))  # idle: lends its request
    res = w.run_for("a", 8, 2.0)
    assert achieved_share(res, 0.08, res[-1].end_s) == pytest.approx(0.75, abs=0.05)


# -- SM partitions and resize ----------------------------------------------------------
def test_partitions_are_disjoint_and_accounted(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    for i in range(4):
        w.add_instance(f"t{i}", "resnet50", SM32, 1.0)
    chunks = [set(w._instances[f"t{i}"].partition.chunks or ()) for i in range(4)]
    assert all(len(c) == 4 for c in chunks)
    assert len(set().union(*chunks)) == 16
    assert w.free_sms() == 0
    with pytest.raises(InputError, match="held by other instances"):
        w.add_instance("t4", "resnet50", SM32, 1.0)
    w.add_instance("whole", "resnet50", 100, 0.5)  # the whole GPU needs no chunks
    w.remove("t0")
    assert w.free_sms() == 32


def test_resize_recaptures_switches_and_drains_the_old_partition(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM32, 1.0, batches=(1, 8))
    old = w._instances["a"].partition
    # a long launch is still queued on the old partition when the resize starts
    _, busy_until = dev.submit(w._instances["a"].exes[8], dev.clock.now_s())
    rep = w.resize("a", sm_pct=SM64)
    assert rep is not None and (rep.old_sms, rep.new_sms) == (32, 64)
    assert dev.clock.now_s() >= busy_until  # drained before it was closed
    assert old.id not in dev.open
    new = w._instances["a"].partition
    assert new.sms == 64 and sorted(w._instances["a"].exes) == [1, 8]
    assert all(e.partition is new for e in w._instances["a"].exes.values())
    w.infer("a", 8)
    assert dev.launches[-1][0] == new.id
    assert w.metrics("a").sms == 64 and w.free_sms() == 128 - 64
    # shrinking may reuse the instance's own chunks
    w.resize("a", sm_pct=SM32)
    assert w.free_sms() == 128 - 32
    w.resize("a", sm_pct=100)
    assert w._instances["a"].partition.whole and w.free_sms() == 128


def test_a_resize_that_does_not_fit_leaves_the_instance_as_it_was(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM64, 1.0)
    w.add_instance("b", "resnet50", SM32, 1.0)
    before = w._instances["a"].partition
    with pytest.raises(InputError, match="at most 96 SMs"):
        w.resize("a", sm_pct=100 * 104 / 132)
    assert w._instances["a"].partition is before and w.free_sms() == 32
    w.infer("a", 1)


# -- memory and weights ----------------------------------------------------------------
def test_weights_are_shared_and_memory_refused_with_the_numbers(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev, mem_budget_mib=1000)
    w.add_instance("a", "resnet50", SM32, 1.0, mem_mib=600)
    w.add_instance("b", "resnet50", SM32, 1.0, mem_mib=300)  # weights already there: 49 + 900
    assert w.weights() == {"resnet50": (49, 2)}
    assert w.mem_used_mib == 949
    with pytest.raises(InputError) as e:
        w.add_instance("c", "resnet50", SM32, 1.0, mem_mib=100)
    assert e.value.field == "mem_mib" and "at most 51 MiB" in str(e.value)
    with pytest.raises(InputError, match="163 MiB for the weights of 'bert_base'"):
        w.add_instance("c", "bert_base", SM32, 1.0, mem_mib=10)
    assert "c" not in w.names() and w.free_sms() == 128 - 64
    w.remove("a")
    assert w.weights() == {"resnet50": (49, 1)}
    w.remove("b")
    assert w.weights() == {} and w.mem_used_mib == 0


# -- clear errors ----------------------------------------------------------------------
@pytest.mark.parametrize("sm", [25, 0, -5, 150, 3.0])
def test_bad_sm_sizes(dev: SimulatedDevice, sm: float) -> None:
    w = GpuWorker(dev)
    with pytest.raises(InputError) as e:
        w.add_instance("a", "resnet50", sm, 1.0)
    assert e.value.field == "sm_pct"
    if sm == 25:
        assert "multiple of 8 SMs" in str(e.value)


@pytest.mark.parametrize(("req", "lim"), [(0.0, None), (1.5, None), (0.5, 0.25), (0.5, 1.1)])
def test_bad_quotas(dev: SimulatedDevice, req: float, lim: float | None) -> None:
    w = GpuWorker(dev)
    with pytest.raises(InputError, match="quota_"):
        w.add_instance("a", "resnet50", 100, req, lim)
    assert w.names() == [] and w.weights() == {}


def test_unknown_instance_and_model(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", 100, 0.5)
    for call in (
        lambda: w.infer("nope", 1),
        lambda: w.resize("nope", quota=0.5),
        lambda: w.remove("nope"),
        lambda: w.metrics("nope"),
    ):
        with pytest.raises(InputError, match=r"one of the worker's instances \['a'\]"):
            call()
    with pytest.raises(InputError, match="model_key"):
        w.add_instance("b", "gpt-9", 100, 0.25)
    with pytest.raises(InputError, match="already in use"):
        w.add_instance("a", "resnet50", 100, 0.25)
    with pytest.raises(InputError, match="already hold"):
        w.add_instance("c", "resnet50", 100, 0.75)  # whole-GPU requests would exceed 1


def test_new_batch_sizes_are_captured_on_first_use(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "mobilenet_v3_large", SM32, 1.0)
    r = w.infer("a", 16)
    assert r.gpu_ms == pytest.approx(h200_latency_ms("mobilenet_v3_large", 16, SM32))
    assert sorted(w._instances["a"].exes) == [1, 16]
    m = w.metrics("a")
    assert m.requests == 1 and m.latency_ms["n"] == 1


# -- latency sources, MPS, driver wrapper --------------------------------------------------
def test_builtin_table_and_predictor_adapter() -> None:
    assert h200_latency_ms("resnet50", 8, SM32) == pytest.approx(2.255)
    assert h200_latency_ms("resnet50", 8, 100) == pytest.approx(1.112)
    xs = [h200_latency_ms("bert_base", 4, p) for p in (6.06, 20, 40, 80, 100)]
    assert xs == sorted(xs, reverse=True)
    fake = SimpleNamespace(predict=lambda g, m, b, s, q=100.0: 1.0 + b + s / 100)
    dev = SimulatedDevice(from_predictor(fake), clock=FakeClock())
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", 100, 1.0)
    assert w.infer("a", 2).gpu_ms == pytest.approx(4.0)
    with pytest.raises(InputError, match="model"):
        h200_latency_ms("llama", 1, 50)


def test_mps_descriptor(tmp_path: Any) -> None:
    d = MpsDaemon.under(tmp_path)
    env = MpsInstance(d, 25, mem_limit_mib=4096).env()
    assert env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "25"
    assert env["CUDA_MPS_PIPE_DIRECTORY"] == str(tmp_path / "pipe")
    assert env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=4096M"
    assert d.stop_command() == (["nvidia-cuda-mps-control"], "quit\n")
    with pytest.raises(InputError):
        MpsInstance(d, 0)


class _Res:
    def __init__(self, sms: int) -> None:
        self.sm = SimpleNamespace(smCount=sms, minSmPartitionSize=8, smCoscheduledAlignment=8)


class FakeDriver:
    """Just enough of cuda.bindings.driver to check the call sequence of one split."""

    CUdevResourceType = SimpleNamespace(CU_DEV_RESOURCE_TYPE_SM=1)
    CU_GREEN_CTX_DEFAULT_STREAM = 1
    CU_STREAM_NON_BLOCKING = 1

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.splits = 0

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("cu"):
            raise AttributeError(name)

        def call(*args: Any) -> tuple[Any, ...]:
            self.calls.append(name)
            return (0, *self._out(name, args))

        return call

    def _out(self, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if name == "cuDeviceGetDevResource":
            return (_Res(132),)
        if name == "cuDevSmResourceSplitByCount":
            n = args[0]
            self.splits += 1
            return ([_Res(8) for _ in range(n)], 15, _Res(12))
        if name == "cuDevResourceGenerateDesc":
            return (sum(r.sm.smCount for r in args[0]),)
        if name == "cuGreenCtxCreate":
            return (("ctx", args[0]),)
        if name == "cuGreenCtxStreamCreate":
            return (1234,)
        if name == "cuGreenCtxGetDevResource":
            return (_Res(args[0][1]),)
        if name in ("cuInit", "cuStreamSynchronize", "cuStreamDestroy", "cuGreenCtxDestroy"):
            return ()
        return (0,)


def test_green_partitions_come_from_one_split() -> None:
    drv = FakeDriver()
    split = SmSplit(0, driver=drv)
    assert split.describe()["chunks"] == 15 and split.granularity == 8
    assert split.remaining_sms == 12
    p = split.open([0, 1, 2, 3])
    assert p.sms == 32 and p.stream_handle == 1234
    split.open([4, 5])
    assert drv.splits == 2  # the query and the one real split, never one per partition
    split.close(p)
    assert drv.calls[-3:] == ["cuStreamSynchronize", "cuStreamDestroy", "cuGreenCtxDestroy"]


class _Err(int):
    name = "CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION"


def test_driver_failures_name_the_call_and_result() -> None:
    drv = FakeDriver()
    split = SmSplit(0, driver=drv)

    def bad(*args: Any) -> tuple[Any, ...]:
        return (_Err(914), None)

    drv.cuGreenCtxCreate = bad  # type: ignore[attr-defined]
    with pytest.raises(CudaDriverError) as e:
        split.open([0])
    assert e.value.call == "cuGreenCtxCreate" and e.value.code == 914
    assert "CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION" in str(e.value)


# -- instances sharing one partition (rows of the SM x time plane) -------------------------
def test_instances_sharing_a_partition_take_turns_on_the_same_chunks(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM32, 0.5, batches=(8,))
    w.add_instance("b", "bert_base", SM32, 0.5, batches=(8,), share="a")
    w.add_instance("c", "resnet50", SM32, 1.0, batches=(8,))
    a, b, c = (w._instances[n] for n in "abc")
    assert w.chunks("a") == w.chunks("b") == (0, 1, 2, 3) and a.partition is b.partition
    assert set(w.chunks("c") or ()).isdisjoint(w.chunks("a") or ())
    assert w.sharing("b") == ("a", "b") and w.sharing("c") == ("c",)
    assert w.free_sms() == 128 - 64 and len(dev.open) == 2
    # each keeps its own graphs (captured on the shared partition) and its own weights
    assert a.exes[8] is not b.exes[8] and b.exes[8].partition is a.partition
    assert w.weights() == {"resnet50": (49, 2), "bert_base": (163, 1)}
    # on the device: the sharers' launches follow each other, the third runs beside them
    t = dev.clock.now_s()
    sa, ea = dev.submit(a.exes[8], t)
    sb, eb = dev.submit(b.exes[8], t)
    sc, ec = dev.submit(c.exes[8], t)
    assert sa == sc == t and sb == pytest.approx(ea) and eb > sb and ec > t
    assert w.metrics("b").sms == 32 and w.metrics("b").sm_pct == pytest.approx(SM32)


class _OverlapDevice(SimulatedDevice):
    """Records how many launches run at once on each partition (real threads, fake time)."""

    def __init__(self) -> None:
        super().__init__(clock=FakeClock())
        self.running: dict[int, int] = {}
        self.most: dict[int, int] = {}
        self._count = threading.Lock()

    def run(self, exe: Any) -> float:
        pid = exe.partition.id
        with self._count:
            self.running[pid] = self.running.get(pid, 0) + 1
            self.most[pid] = max(self.most.get(pid, 0), self.running[pid])
        try:
            time.sleep(0.0002)  # a chance for another thread to launch meanwhile
            return super().run(exe)
        finally:
            with self._count:
                self.running[pid] -= 1


@pytest.mark.parametrize("mode", ["exclusive", "concurrent"])
def test_launches_of_instances_sharing_a_partition_never_overlap(mode: str) -> None:
    dev = _OverlapDevice()
    w = GpuWorker(dev, time_slice=mode)  # type: ignore[arg-type]
    w.add_instance("a", "resnet50", SM32, 0.5, batches=(8,))
    w.add_instance("b", "resnet50", SM32, 0.5, batches=(8,), share="a")
    w.add_instance("c", "resnet50", SM32, 1.0, batches=(8,))

    def serve(name: str) -> None:
        for _ in range(40):
            w.infer(name, 8)

    threads = [threading.Thread(target=serve, args=(n,)) for n in ("a", "b", "a", "b", "c")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    shared, own = w._instances["a"].partition.id, w._instances["c"].partition.id
    assert dev.most[shared] == 1  # the sharers took turns
    assert w.metrics("a").requests == w.metrics("b").requests == 80
    assert w.metrics("c").requests == 40 and own != shared


def test_quotas_in_a_shared_partition_must_fit_one_window(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM32, 0.6)
    with pytest.raises(InputError) as e:
        w.add_instance("b", "bert_base", SM32, 0.6, share="a")
    msg = str(e.value)
    assert e.value.field == "quota_request" and "\n" not in msg
    assert "at most 0.400" in msg and "share='a'" in msg and "['a']" in msg
    # nothing half-added: no instance, no weights, no partition
    assert w.names() == ["a"] and w.weights() == {"resnet50": (49, 1)} and len(dev.open) == 1
    w.add_instance("b", "bert_base", SM32, 0.4, share="a")  # what is left of the window fits
    with pytest.raises(InputError, match="quota_request"):  # a quota resize stays in the domain
        w.resize("b", quota=0.5)
    w.add_instance("c", "bert_base", SM32, 0.6)  # a partition of its own: a domain of its own


def test_a_shared_partition_is_split_by_quota(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM32, 0.5, batches=(8,))
    w.add_instance("b", "resnet50", SM32, 0.5, batches=(8,), share="a")
    end = dev.clock.now_s() + 4.0  # 100 windows, both always asking
    while dev.clock.now_s() < end:
        w.infer("a", 8)
        w.infer("b", 8)
    for n in "ab":
        assert w.metrics(n).mean_share == pytest.approx(0.5, abs=0.06)
    both = [
        x.share + y.share for x, y in zip(w.gate.history("a"), w.gate.history("b"), strict=True)
    ]
    assert max(both[1:]) <= 1.0 + 0.06  # together never more than the partition's window


def test_removing_one_sharer_leaves_the_partition_to_the_other(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM32, 0.5)
    w.add_instance("b", "resnet50", SM32, 0.5, share="a")
    part = w._instances["b"].partition
    w.remove("a")
    assert part.id in dev.open and w.chunks("b") == (0, 1, 2, 3) and w.sharing("b") == ("b",)
    assert w.free_sms() == 128 - 32 and w.weights() == {"resnet50": (49, 1)}
    w.infer("b", 1)
    assert dev.launches[-1][0] == part.id
    w.add_instance("c", "resnet50", SM32, 0.5, share="b")  # still joinable
    assert w.chunks("c") == (0, 1, 2, 3)
    w.remove("b")
    w.remove("c")  # the last one closes it
    assert part.id not in dev.open and w.free_sms() == 128 and w.weights() == {}


def test_resizing_one_sharer_moves_only_that_one(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM32, 0.5, batches=(1, 8))
    w.add_instance("b", "resnet50", SM32, 0.5, batches=(1, 8), share="a")
    old = w._instances["a"].partition
    assert w.resize("b", sm_pct=SM32) is None  # the same size: it stays
    rep = w.resize("b", sm_pct=SM64)
    assert rep is not None and (rep.old_sms, rep.new_sms) == (32, 64)
    assert w.chunks("a") == (0, 1, 2, 3) and w._instances["a"].partition is old
    assert set(w.chunks("b") or ()) == set(range(4, 12)) and old.id in dev.open
    assert w.sharing("a") == ("a",) and w.sharing("b") == ("b",)
    assert sorted(w._instances["b"].exes) == [1, 8] and w.free_sms() == 128 - 96
    w.infer("a", 8)
    assert dev.launches[-1][0] == old.id
    w.infer("b", 8)
    assert dev.launches[-1][0] == w._instances["b"].partition.id
    w.resize("a", quota=0.9)  # its domain is its own now: room for more
    w.resize("a", sm_pct=100)  # the last one leaves: the old partition closes
    assert old.id not in dev.open and w.free_sms() == 128 - 64


def test_share_must_name_an_instance_at_the_same_sm_size(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM32, 0.5)
    w.add_instance("whole", "resnet50", 100, 0.25)
    with pytest.raises(InputError) as e:
        w.add_instance("b", "resnet50", SM32, 0.5, share="nobody")
    assert e.value.field == "share" and "['a', 'whole']" in str(e.value)
    with pytest.raises(InputError) as e:
        w.add_instance("b", "resnet50", SM64, 0.5, share="a")
    assert e.value.field == "sm_pct" and "\n" not in str(e.value)
    assert "24.2424 (32 SMs)" in str(e.value) and "share='a'" in str(e.value)
    with pytest.raises(InputError, match="sm_pct"):
        w.add_instance("b", "resnet50", 100, 0.5, share="a")
    assert w.names() == ["a", "whole"] and w.free_sms() == 128 - 32
    # at 100% every instance time-shares the GPU already: share only checks the name
    w.add_instance("b", "resnet50", 100, 0.25, share="whole")
    assert w.chunks("b") is None and w.sharing("b") == ("b",)


def test_resize_can_move_an_instance_onto_or_off_a_shared_partition(dev: SimulatedDevice) -> None:
    w = GpuWorker(dev)
    w.add_instance("a", "resnet50", SM32, 0.5, batches=(1, 8))
    w.add_instance("b", "resnet50", SM32, 0.5, batches=(1, 8), share="a")
    w.add_instance("c", "bert_base", SM32, 0.3, batches=(8,))
    shared, own_c = w._instances["a"].partition, w._instances["c"].partition
    with pytest.raises(InputError) as e:  # a and b hold the whole window
        w.resize("c", share="a")
    assert e.value.field == "quota_request" and "at most 0.000" in str(e.value)
    assert w._instances["c"].partition is own_c and len(dev.open) == 2  # nothing was opened
    rep = w.resize("b", alone=True)  # off it, at the same size
    assert rep is not None and (rep.old_sms, rep.new_sms) == (32, 32)
    assert w.sharing("a") == ("a",) and set(w.chunks("b") or ()).isdisjoint(shared.chunks or ())
    assert w.resize("b", alone=True) is None  # alone already
    rep = w.resize("c", share="a")  # onto it: c's own partition was its last, so it closes
    assert rep is not None and w._instances["c"].partition is shared
    assert w.sharing("a") == ("a", "c") and own_c.id not in dev.open
    assert sorted(w._instances["c"].exes) == [8] and w.free_sms() == 128 - 64
    w.infer("c", 8)
    assert dev.launches[-1][0] == shared.id
    with pytest.raises(InputError, match="sm_pct"):  # a different size than the partition's
        w.resize("b", sm_pct=SM64, share="a")
    with pytest.raises(InputError, match="share"):
        w.resize("a", share="a")
    with pytest.raises(InputError, match="alone"):
        w.resize("a", share="b", alone=True)
    assert w.resize("c", share="a") is None  # there already
    w.resize("b", quota=0.2)  # in force from the next window, and counted as 0.2 in the move
    w.resize("b", share="a")  # 0.5 + 0.3 + 0.2: the window is full, not more
    assert w.sharing("a") == ("a", "b", "c") and w.free_sms() == 128 - 32
