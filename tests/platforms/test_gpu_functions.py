"""GPU functions on the local platform, end to end through the gateway, on the simulated GPU.

A function with `resources.gpu` gets each instance placed on the platform's GPU host (one
process, `tessera.gpu.host`, here with TESSERA_GPU=sim) before it starts; its handler runs
its model through `context.gpu`. The `home` fixture also fails a test that leaves the GPU
host running (its command line names the home).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.core.errors import InputError
from tessera.functions.examples import example
from tessera.functions.manifest import GPU_MODELS, parse_manifest
from tessera.gpu.models import MODELS
from tests.platforms.helpers import (
    async_test,
    deploy,
    deploy_raw,
    describe,
    invoke,
    kill_pid,
    pid_alive,
    platform,
    settle,
    tar_files,
    wait_for,
    write_function,
)

pytestmark = [pytest.mark.xdist_group("gpu-functions")]

ONE = {"kind": "fixed", "replicas": 1}
SM32 = 100 * 32 / 132
SM64 = 100 * 64 / 132

GPU_ECHO = """
import os


def handle(event, context):
    event = event if isinstance(event, dict) else {}
    if "exit" in event:
        os._exit(event["exit"])
    out = context.gpu.infer(int(event.get("batch", 1)))
    out["pid"] = os.getpid()
    return out
"""


@pytest.fixture(autouse=True)
def simulated_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_GPU", "sim")


def gpu_function(src: Path, name: str, **gpu: Any) -> Path:
    share = {"model": "resnet50", **gpu}
    return write_function(src, name, GPU_ECHO, resources={"gpu": share}, timeout_s=20)


async def gpu_status(c: httpx.AsyncClient) -> dict[str, Any]:
    r = await c.get("/system/gpu")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def host_instances(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["instance"]: i for i in status.get("instances", [])}


@async_test(60)
async def test_the_example_runs_its_batch_on_its_own_partition(home: Path) -> None:
    async with platform(home, autoscaler=ONE) as (_p, c):
        assert (await gpu_status(c)) == {"running": False, "functions": {}}
        await deploy(c, example("resnet"))
        await settle(c, "resnet")
        r = await invoke(c, "resnet", {"batch": 8})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["instance"] == "resnet/v1/1" and out["model"] == "resnet50"
        assert out["device"] == "simulated" and out["inputs"] == "synthetic"
        assert out["sms"] == 32 and out["sm_pct"] == pytest.approx(SM32)  # 24% rounded up
        assert (out["quota_request"], out["quota_limit"]) == (0.5, 1.0)
        assert out["gpu_ms"] > 0 and out["latency_ms"] >= out["gpu_ms"]

        status = await gpu_status(c)
        assert status["running"] is True and status["device"]["kind"] == "simulated"
        inst = host_instances(status)["resnet/v1/1"]
        assert inst["requests"] == 1 and inst["mem_mib"] == 512 and len(inst["chunks"]) == 4
        assert status["free_sms"] == 128 - 32
        assert status["mem_used_mib"] == 512 + status["weights_mib"]["resnet50"]
        fn = status["functions"]["resnet"]
        assert fn["instances"] == ["resnet/v1/1"]
        assert list(fn["workers"]) == ["resnet/v1/1"]
        assert (await describe(c, "resnet"))["gpu"]["share"]["sm_pct"] == 24
        host_pid = status["pid"]
        assert pid_alive(host_pid)
    assert not pid_alive(host_pid), "the GPU host outlived the platform"


@async_test(90)
async def test_two_functions_get_disjoint_partitions_and_a_third_is_refused(
    home: Path, src: Path
) -> None:
    async with platform(home, autoscaler=ONE) as (_p, c):
        for name in ("left", "right"):
            await deploy(c, gpu_function(src, name, sm_pct=48, quota_pct=100))
            r = await invoke(c, name, {"batch": 4})
            assert r.status_code == 200, r.text
            assert r.json()["sms"] == 64
        inst = host_instances(await gpu_status(c))
        a, b = set(inst["left/v1/1"]["chunks"]), set(inst["right/v1/1"]["chunks"])
        assert len(a) == len(b) == 8 and not a & b

        await deploy(c, gpu_function(src, "third", sm_pct=10))
        r = await invoke(c, "third", {})
        assert r.status_code == 503, r.text
        assert "GPU share refused" in r.text and "sm_pct" in r.text
        assert "16 of 132 SMs" in r.text  # what it asked for, rounded up
        assert "third/v1/1" not in host_instances(await gpu_status(c))
        # the whole GPU, time-sliced, is still there for a share that asks for it
        await deploy(c, gpu_function(src, "whole", sm_pct=100, quota_pct=25))
        r = await invoke(c, "whole", {})
        assert r.status_code == 200, r.text
        assert r.json()["sms"] == 132


@async_test(90)
async def test_scale_down_and_crash_remove_the_host_instance(home: Path, src: Path) -> None:
    # a target of 2 in flight: one request asks for one instance (with the default of 1, 1 in
    # flight / 0.7 asks for two, and the test could not know which instance served or crashed)
    kpa = {"kind": "kpa", "stable_window_s": 2, "scale_to_zero_grace_s": 0, "target_concurrency": 2}
    async with platform(home, autoscaler=kpa) as (_p, c):
        await deploy(c, gpu_function(src, "f", sm_pct=SM32))
        r = await invoke(c, "f", {"batch": 2})
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["instance"] == "f/v1/1"

        # a crash: the instance is removed, the next request gets a fresh placement
        r = await invoke(c, "f", {"exit": 3})
        assert r.status_code == 502, r.text

        async def gone_from_host() -> dict[str, Any]:
            return await gpu_status(c)

        await wait_for(
            gone_from_host,
            lambda s: "f/v1/1" not in host_instances(s),
            15,
            "the crashed instance to leave the GPU host",
        )
        r = await invoke(c, "f", {"batch": 2})
        assert r.status_code == 200, r.text
        assert r.json()["instance"] != "f/v1/1" and r.json()["pid"] != first["pid"]

        # idle: the autoscaler scales to zero and the partition is freed
        status = await wait_for(
            gone_from_host,
            lambda s: not host_instances(s) and not s["functions"]["f"]["instances"],
            30,
            "scale to zero to remove the GPU instance",
        )
        assert status["free_sms"] == 128 and status["mem_used_mib"] == 0


@async_test(90)
async def test_resize_changes_every_live_instance_and_later_ones(home: Path, src: Path) -> None:
    async with platform(home, autoscaler={"kind": "fixed", "replicas": 2}) as (_p, c):
        await deploy(c, gpu_function(src, "f", sm_pct=SM32, quota_pct=40))
        await settle(c, "f")
        status = await wait_for(
            lambda: gpu_status(c), lambda s: len(host_instances(s)) == 2, 20, "two GPU instances"
        )
        assert {i["sms"] for i in status["instances"]} == {32}

        r = await c.post("/system/functions/f/gpu", json={"sm_pct": SM64, "quota_pct": 30})
        assert r.status_code == 200, r.text
        reports = r.json()["instances"]
        assert len(reports) == 2
        for rep in reports:
            assert rep["sms"] == 64 and (rep["quota_request"], rep["quota_limit"]) == (0.3, 0.3)
            assert (rep["report"]["old_sms"], rep["report"]["new_sms"]) == (32, 64)
        r = await invoke(c, "f", {"batch": 8})
        assert r.status_code == 200 and r.json()["sms"] == 64
        assert (await describe(c, "f"))["gpu"]["share"]["sm_pct"] == pytest.approx(SM64)

        # two whole-GPU instances asking 60% each do not fit one window: refused, nothing moved
        r = await c.post("/system/functions/f/gpu", json={"sm_pct": 100, "quota_pct": 60})
        assert r.status_code == 409, r.text
        assert "quota_request" in r.text
        assert {i["sms"] for i in (await gpu_status(c))["instances"]} == {64}
        # a quota alone; the limit may be above the request
        r = await c.post("/system/functions/f/gpu", json={"quota_pct": 20, "quota_limit_pct": 90})
        assert r.status_code == 200, r.text
        assert {(i["quota_request"], i["quota_limit"]) for i in r.json()["instances"]} == {
            (0.2, 0.9)
        }

        for bad in ({"sm_pct": 0}, {"cores": 3}, {}, [1], {"quota_pct": 50, "quota_limit_pct": 10}):
            r = await c.post("/system/functions/f/gpu", json=bad)
            assert r.status_code == 400, (bad, r.text)
        assert (await c.post("/system/functions/nope/gpu", json={"sm_pct": 50})).status_code == 404


@async_test(60)
async def test_resize_of_a_function_without_a_gpu_is_refused(home: Path, src: Path) -> None:
    fn = write_function(src, "plain", "def handle(event, context):\n    return context.gpu\n")
    async with platform(home) as (_p, c):
        await deploy(c, fn)
        assert (await invoke(c, "plain", {})).status_code == 204  # context.gpu is None
        r = await c.post("/system/functions/plain/gpu", json={"sm_pct": 50})
        assert r.status_code == 400 and "resources.gpu" in r.text
        assert (await gpu_status(c))["running"] is False  # no GPU function: no host


@async_test(60)
async def test_a_killed_host_is_restarted_for_the_next_instance(home: Path, src: Path) -> None:
    kpa = {"kind": "kpa", "stable_window_s": 2, "scale_to_zero_grace_s": 0}
    async with platform(home, autoscaler=kpa) as (p, c):
        await deploy(c, gpu_function(src, "f", sm_pct=SM32))
        assert (await invoke(c, "f", {})).status_code == 200
        old = (await gpu_status(c))["pid"]
        kill_pid(old)
        await wait_for(lambda: describe(c, "f"), lambda d: d["instances"] == 0, 30, "scale to zero")
        r = await invoke(c, "f", {})
        assert r.status_code == 200, r.text
        assert p.platform.gpu_host.proc is not None and p.platform.gpu_host.proc.pid != old


def test_bad_gpu_model_is_a_one_line_input_error() -> None:
    data = {"name": "f", "resources": {"gpu": {"model": "resnet51", "sm_pct": 25}}}
    with pytest.raises(InputError) as e:
        parse_manifest(data)
    msg = str(e.value)
    assert "\n" not in msg and "resources.gpu.model" in msg and "'resnet51'" in msg
    assert all(k in msg for k in GPU_MODELS)
    bad_limit = {"name": "f", "resources": {"gpu": {"quota_pct": 50, "quota_limit_pct": 20}}}
    with pytest.raises(InputError, match="quota_limit_pct"):
        parse_manifest(bad_limit)
    assert parse_manifest({"name": "f", "resources": {"gpu": {}}}).resources.gpu is not None
    assert set(GPU_MODELS) == set(MODELS)  # what the manifest accepts, a real device can load


@async_test(60)
async def test_deploy_with_a_bad_gpu_model_is_refused(home: Path) -> None:
    manifest = "name: f\nresources:\n  gpu: {model: gpt5}\n"
    archive = tar_files({"function.yaml": manifest, "main.py": "def handle(e, c):\n  return 1\n"})
    async with platform(home) as (_p, c):
        r = await deploy_raw(c, archive)
        assert r.status_code == 400, r.text
        assert "resources.gpu.model" in r.text and "resnet50" in r.text


@pytest.mark.skipif(Path("/dev/nvidiactl").exists(), reason="a GPU is here: the host would start")
@async_test(90)
async def test_a_host_that_cannot_start_gives_503_with_its_reason(
    home: Path, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_GPU", "cuda")  # and there is no CUDA device here
    async with platform(home, autoscaler=ONE) as (_p, c):
        await deploy(c, gpu_function(src, "f", sm_pct=SM32))
        r = await invoke(c, "f", {})
        assert r.status_code == 503, r.text
        assert "GPU host did not start: gpu host: no cuda device" in r.text
        assert (await gpu_status(c))["running"] is False
