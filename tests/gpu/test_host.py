"""The GPU host's requests without a process (`GpuHost.handle`), and its client over a real socket."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tessera.gpu.client import GpuHostError, HostClient, InstanceClient
from tessera.gpu.clock import FakeClock
from tessera.gpu.device import SimulatedDevice
from tessera.gpu.host import GpuHost, grant_sm_pct, serve
from tessera.gpu.latency import h200_latency_ms
from tessera.gpu.worker import GpuWorker


@pytest.fixture
def host() -> GpuHost:
    return GpuHost(GpuWorker(SimulatedDevice(clock=FakeClock())))


def ok(host: GpuHost, **req: object) -> dict[str, object]:
    reply = host.handle(req)
    assert reply["ok"], reply
    out = reply["result"]
    assert isinstance(out, dict)
    return out


def test_a_share_is_rounded_up_to_whole_chunks_or_the_whole_gpu(host: GpuHost) -> None:
    info = host.worker.device.info
    assert grant_sm_pct(info, 24) == pytest.approx(100 * 32 / 132)  # 31.7 SMs -> 4 chunks
    assert grant_sm_pct(info, 100 * 32 / 132) == pytest.approx(100 * 32 / 132)
    assert grant_sm_pct(info, 1) == pytest.approx(100 * 8 / 132)
    assert grant_sm_pct(info, 99) == 100.0  # more than 16 chunks: only the whole GPU has it
    # a policy's grid share rounded up to 6 decimals names the same partition, not the next
    assert grant_sm_pct(info, 54.545455) == pytest.approx(100 * 72 / 132)
    assert grant_sm_pct(info, 54.5455) == pytest.approx(100 * 72 / 132)  # as device hints print
    assert grant_sm_pct(info, 54.5456) == pytest.approx(100 * 80 / 132)


def test_add_infer_resize_remove(host: GpuHost) -> None:
    added = ok(host, op="add", instance="f/v1/1", model="resnet50", sm_pct=24, quota_request=0.5)
    assert added["sms"] == 32 and added["chunks"] == [0, 1, 2, 3]
    assert added["quota_request"] == added["quota_limit"] == 0.5
    r = ok(host, op="infer", instance="f/v1/1", batch=8)
    assert r["sms"] == 32 and r["batch"] == 8 and r["inputs"] == "synthetic"
    assert r["gpu_ms"] == pytest.approx(h200_latency_ms("resnet50", 8, 100 * 32 / 132))
    assert r["latency_ms"] >= r["gpu_ms"]

    # the quota alone: the limit follows the request unless given
    q = ok(host, op="resize", instance="f/v1/1", quota_request=0.75)
    assert (q["quota_request"], q["quota_limit"], q["report"]) == (0.75, 0.75, None)
    s = ok(host, op="resize", instance="f/v1/1", sm_pct=48, quota_limit=1.0)
    assert s["sms"] == 64 and s["quota_request"] == 0.75 and s["quota_limit"] == 1.0
    report = s["report"]
    assert isinstance(report, dict) and (report["old_sms"], report["new_sms"]) == (32, 64)

    assert ok(host, op="remove", instance="f/v1/1") == {"instance": "f/v1/1", "removed": True}
    assert ok(host, op="remove", instance="f/v1/1")["removed"] is False  # idempotent
    m = ok(host, op="metrics")
    assert m["instances"] == [] and m["free_sms"] == 128 and m["weights_mib"] == {}


def test_refusals_name_the_field_and_the_room_left(host: GpuHost) -> None:
    ok(host, op="add", instance="a", model="resnet50", sm_pct=90)  # 15 chunks
    full = host.handle({"op": "add", "instance": "b", "model": "resnet50", "sm_pct": 10})
    assert full["ok"] is False and full["field"] == "sm_pct"
    assert "16 of 132 SMs" in full["error"] and "at most 8 SMs" in full["error"]
    bad = host.handle({"op": "add", "instance": "b", "model": "resnet51"})
    assert bad["field"] == "model_key" and "resnet50" in bad["error"]
    mem = host.handle({"op": "add", "instance": "b", "model": "bert_base", "mem_mib": 10**9})
    assert mem["field"] == "mem_mib" and "GPU budget" in mem["error"]
    assert host.handle({"op": "fly"})["ok"] is False
    assert "unexpected keyword" in host.handle({"op": "remove", "who": "a"})["error"]
    assert host.worker.names() == ["a"]  # nothing half-added
    # a refused SM change leaves the quota as it was
    ok(host, op="add", instance="b", model="resnet50", sm_pct=5, quota_request=0.5)
    big = host.handle({"op": "resize", "instance": "b", "sm_pct": 20, "quota_request": 0.9})
    assert big["ok"] is False and big["field"] == "sm_pct"
    q = ok(host, op="resize", instance="b", quota_limit=0.6)
    assert (q["quota_request"], q["quota_limit"]) == (0.5, 0.6)


def test_a_move_to_the_whole_gpu_that_the_quota_does_not_fit_changes_nothing(
    host: GpuHost,
) -> None:
    ok(host, op="add", instance="w", model="resnet50", sm_pct=100, quota_request=0.6)
    ok(host, op="add", instance="p", model="resnet50", sm_pct=24, quota_request=0.6)
    r = host.handle({"op": "resize", "instance": "p", "sm_pct": 100})
    assert r["ok"] is False and r["field"] == "quota_request" and "'gpu'" in r["error"]
    p = ok(host, op="metrics", instance="p")
    assert p["sms"] == 32 and p["chunks"] == [0, 1, 2, 3]
    assert host.worker.free_sms() == 128 - 32
    assert ok(host, op="infer", instance="p", batch=1)["sms"] == 32
    dev = host.worker.device
    assert isinstance(dev, SimulatedDevice) and len(dev.open) == 2  # the new partition was closed


def test_clients_over_the_socket_from_several_threads(tmp_path: Path, host: GpuHost) -> None:
    path = str(tmp_path / "gpu.sock")
    server = serve(path, host)
    try:
        client = HostClient(path)
        client.call("add", instance="x", model="mobilenet_v3_large", sm_pct=24)
        inst = InstanceClient(path, "x")
        results: list[dict[str, object]] = []

        def run() -> None:
            results.extend(inst.infer(4) for _ in range(5))

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 15 and {r["sms"] for r in results} == {32}
        assert inst.info()["requests"] == 15
        with pytest.raises(GpuHostError, match="instances") as e:
            InstanceClient(path, "nobody").infer()
        assert e.value.field == "name"
        client.close()
        inst.close()
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(GpuHostError, match="unreachable"):
        HostClient(str(tmp_path / "none.sock")).call("metrics")


def test_with_an_admin_token_a_function_can_touch_only_its_own_instance(tmp_path: Path) -> None:
    """Every worker can reach the socket; the tokens keep tenants apart."""
    import os
    import stat

    host = GpuHost(GpuWorker(SimulatedDevice(clock=FakeClock())), admin_token="admin-secret")
    path = str(tmp_path / "gpu.sock")
    server = serve(path, host)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        admin = HostClient(path, token="admin-secret")
        victim = admin.call("add", instance="victim", model="resnet50", sm_pct=24)["token"]
        thief = admin.call("add", instance="thief", model="resnet50", sm_pct=24)["token"]
        assert victim != thief
        mine = InstanceClient(path, "thief", thief)
        assert mine.infer(1)["sms"] == 32 and mine.info()["requests"] == 1
        rogue = HostClient(path, token=thief)
        for op, args in [
            ("resize", {"instance": "victim", "quota_request": 0.01}),
            ("resize", {"instance": "thief", "quota_request": 1.0}),
            ("remove", {"instance": "victim"}),
            ("add", {"instance": "more", "model": "resnet50"}),
            ("infer", {"instance": "victim", "batch": 1}),
            ("metrics", {}),
        ]:
            with pytest.raises(GpuHostError) as e:
                rogue.call(op, **args)
            assert e.value.field == "token", (op, e.value)
        with pytest.raises(GpuHostError):
            HostClient(path).call("infer", instance="victim", batch=1)  # no token at all
        assert admin.call("metrics", instance="victim")["requests"] == 0  # untouched
        admin.call("remove", instance="thief")
        with pytest.raises(GpuHostError):  # a removed instance's token is dead
            mine.infer(1)
        for c in (admin, mine, rogue):
            c.close()
    finally:
        server.shutdown()
        server.server_close()


def test_add_can_share_an_instances_partition(host: GpuHost) -> None:
    ok(host, op="add", instance="a", model="resnet50", sm_pct=24, quota_request=0.5)
    b = ok(
        host, op="add", instance="b", model="bert_base", sm_pct=20, quota_request=0.5, share="a"
    )  # 20% rounds up to the same 4 chunks
    assert b["chunks"] == [0, 1, 2, 3] and b["sms"] == 32 and b["shared_with"] == ["a"]
    assert ok(host, op="metrics", instance="a")["shared_with"] == ["b"]
    assert ok(host, op="infer", instance="b", batch=1)["sms"] == 32
    wide = host.handle(
        {"op": "add", "instance": "c", "model": "resnet50", "sm_pct": 48, "share": "a"}
    )
    assert wide["ok"] is False and wide["field"] == "sm_pct" and "share='a'" in wide["error"]
    full = host.handle(
        {"op": "add", "instance": "c", "model": "resnet50", "sm_pct": 24, "share": "b"}
    )  # quota 1.0 by default: the partition's window is taken
    assert full["ok"] is False and full["field"] == "quota_request"
    who = host.handle({"op": "add", "instance": "c", "model": "resnet50", "share": "nobody"})
    assert who["ok"] is False and who["field"] == "share"
    ok(host, op="remove", instance="a")
    m = ok(host, op="metrics")
    assert m["free_sms"] == 128 - 32 and [i["instance"] for i in m["instances"]] == ["b"]
    assert m["instances"][0]["shared_with"] == [] and m["instances"][0]["chunks"] == [0, 1, 2, 3]


def test_only_the_platform_may_add_a_sharer() -> None:
    host = GpuHost(GpuWorker(SimulatedDevice(clock=FakeClock())), admin_token="admin-secret")
    a = host.handle(
        {"op": "add", "instance": "a", "model": "resnet50", "sm_pct": 24, "quota_request": 0.5}
        | {"token": "admin-secret"}
    )
    assert a["ok"], a
    mine = a["result"]["token"]
    sneak = {"op": "add", "instance": "x", "model": "resnet50", "sm_pct": 24, "share": "a"}
    denied = host.handle(sneak | {"quota_request": 0.5, "token": mine})
    assert denied["ok"] is False and denied["field"] == "token"
    assert host.worker.names() == ["a"]
