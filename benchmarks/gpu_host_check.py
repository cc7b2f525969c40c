"""Device check of the GPU host process (`tessera.gpu.host`): what the local platform drives.

    PYTHONPATH=src python3 benchmarks/gpu_host_check.py --out $OUT            # CUDA (an H200)
    PYTHONPATH=src python3 benchmarks/gpu_host_check.py --simulate --out /tmp/x

Starts the host as the platform does (stdin a pipe, one JSON ready line),
places two tenants on disjoint partitions (ResNet-50 and BERT-base, 32 SMs
each) and one whole-GPU tenant at a 25% quota (MobileNet-v3), runs each from
its own thread through `InstanceClient` (what `context.gpu` is) for
`--seconds`, resizes ResNet-50 to 64 SMs and BERT's quota to 50% while they
serve, runs again, removes everything and closes stdin: the host must exit.
Writes OUT/gpu_host_check.json. Needs only `src/` and torch (no pydantic).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tessera.gpu.client import HostClient, InstanceClient

TENANTS = {  # name -> (model, sm_pct, quota, batch)
    "resnet": ("resnet50", 24.0, 1.0, 8),
    "bert": ("bert_base", 24.0, 0.25, 8),
    "mobile": ("mobilenet_v3_large", 100.0, 0.25, 8),
}


def load(sock: str, seconds: float) -> dict[str, Any]:
    """Every tenant from its own thread for `seconds`: rate, latency and GPU-time share."""
    out: dict[str, Any] = {}

    def run(name: str, batch: int) -> None:
        c = InstanceClient(sock, name)
        res = []
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            res.append(c.infer(batch))
        gpu_s = sum(r["gpu_ms"] for r in res) / 1000.0
        out[name] = {
            "n": len(res),
            "per_s": len(res) / seconds,
            "p50_ms": statistics.median(r["latency_ms"] for r in res),
            "gpu_p50_ms": statistics.median(r["gpu_ms"] for r in res),
            "gpu_share": gpu_s / seconds,
            "sms": res[-1]["sms"],
            "quota": res[-1]["quota_request"],
        }
        c.close()

    threads = [threading.Thread(target=run, args=(n, t[3])) for n, t in TENANTS.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--simulate", action="store_true")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--out", default=".")
    a = p.parse_args()
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    sock = f"/tmp/tessera-gpu-host-check-{time.time_ns()}.sock"
    result: dict[str, Any] = {"mode": "simulate" if a.simulate else "cuda"}
    device = "sim" if a.simulate else "cuda"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera.gpu.host", "--socket", sock, "--device", device],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready = json.loads(proc.stdout.readline() or b"{}")
        result["ready"] = ready
        result["start_s"] = time.perf_counter() - t0
        host = HostClient(sock)
        added = {}
        for name, (model, sm_pct, quota, batch) in TENANTS.items():
            t = time.perf_counter()
            r = host.call(
                "add", instance=name, model=model, sm_pct=sm_pct, quota_request=quota,
                batches=[batch],
            )  # fmt: skip
            added[name] = {"sms": r["sms"], "chunks": r["chunks"], "s": time.perf_counter() - t}
        result["added"] = added
        owned = [set(v["chunks"] or ()) for v in added.values() if v["chunks"]]
        result["disjoint"] = len(set().union(*owned)) == sum(len(c) for c in owned)
        result["before"] = load(sock, a.seconds)
        t = time.perf_counter()
        result["resize_sm"] = host.call("resize", instance="resnet", sm_pct=48.0)["report"]
        result["resize_sm"]["wall_s"] = time.perf_counter() - t
        host.call("resize", instance="bert", quota_request=0.5)
        result["after"] = load(sock, a.seconds)
        metrics = host.call("metrics")
        result["metrics"] = {k: v for k, v in metrics.items() if k != "instances"}
        result["achieved_share"] = {
            i["instance"]: i["achieved_share"] for i in metrics["instances"]
        }
        for name in TENANTS:
            host.call("remove", instance=name)
        result["free_sms_after_remove"] = host.call("metrics")["free_sms"]
        host.close()
        t = time.perf_counter()
        proc.stdin.close()
        result["exit_code"] = proc.wait(20)
        result["exit_s"] = time.perf_counter() - t
        result["status"] = "ok"
    except Exception as e:
        result["status"] = f"failed: {type(e).__name__}: {e}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        (out_dir / "gpu_host_check.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))
    sys.exit(0 if result["status"] == "ok" else 1)


if __name__ == "__main__":
    main()
