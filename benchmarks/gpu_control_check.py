"""Device check of the GPU control loop: the simulator's policies drive one real GPU, then the simulator.

    PYTHONPATH=src python3 benchmarks/gpu_control_check.py --out $OUT              # CUDA (an H200)
    PYTHONPATH=src python3 benchmarks/gpu_control_check.py --simulate --seconds 20 --out /tmp/gcc.json

For each policy (`has-gpu`, `tessera`; the registered objects, built with the
device's SM step) it replays one short trace through `tessera.control.gpu`
on a `GpuWorker` over the GPU (`CudaDevice`; `--simulate`: the
`SimulatedDevice` on the wall clock), then runs `tessera.sim.gpu_cluster` on
the *same* arrivals with the same policy class, and writes
{policy: {real: metrics, sim: metrics, ratio: real/sim, ...}} so sim-vs-real
agreement is visible. The simulator is the peer measured in the same run: one
GPU of the device's SMs and step, the loop's decision interval, the cold start
the real run measured, and (with `--simulate`, whose device models none) no
co-location interference.

Trace: per model, Poisson arrivals whose rate steps through `--rates`
(default 20 -> 200 -> 50 rps, equal thirds of `--seconds`); SLO = `--slo-x`
(5) x the model's whole-GPU batch-1 latency (`tessera.gpu.latency`).
The JSON file is rewritten after each policy (temp file + rename), so a crash
or timeout keeps what was measured. Needs only `src/`, numpy and torch (no
pydantic: `tessera.sim`'s package imports the scenario loader, so without
pydantic the script imports `tessera.sim.gpu_cluster` on its own).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _light_sim_package() -> None:
    """Let `tessera.sim.gpu_cluster` import where pydantic is absent (the GPU machine)."""
    if "tessera.sim" in sys.modules:
        return
    try:
        import pydantic  # noqa: F401
    except ImportError:
        import tessera

        pkg = types.ModuleType("tessera.sim")
        pkg.__path__ = [str(Path(tessera.__file__).parent / "sim")]
        sys.modules["tessera.sim"] = pkg


_light_sim_package()

from tessera.control.gpu import GpuLoopConfig, replay  # noqa: E402
from tessera.gpu.device import Device, SimulatedDevice  # noqa: E402
from tessera.gpu.latency import h200_latency_ms  # noqa: E402
from tessera.gpu.worker import GpuWorker  # noqa: E402
from tessera.scheduling.gpu import create  # noqa: E402
from tessera.sim.gpu_cluster import (  # noqa: E402
    ClusterConfig,
    GpuFunction,
    piecewise_poisson,
    simulate,
)

POLICIES = ("has-gpu", "tessera")
COMPARED = ("slo_violation_rate", "p50_latency_ms", "p99_latency_ms", "cost_gpu_s")


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def _save(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_clean(result), indent=2))
    tmp.replace(path)


def _device(simulate_: bool) -> Device:
    if simulate_:
        return SimulatedDevice()
    try:
        import torch
    except ImportError:
        sys.exit("gpu_control_check: torch is not installed; use --simulate")
    if not torch.cuda.is_available():
        sys.exit("gpu_control_check: no CUDA device visible to torch; use --simulate")
    from tessera.gpu.cuda_device import CudaDevice

    return CudaDevice(0)


def trace(
    models: list[str], rates: list[float], seconds: float, slo_x: float, seed: int
) -> list[GpuFunction]:
    """One function per model: Poisson arrivals stepping through `rates` in equal stages."""
    rng = np.random.default_rng(seed)
    stage_s = seconds / len(rates)
    out = []
    for m in models:
        slo_ms = slo_x * h200_latency_ms(m, 1, 100.0, 100.0)
        out.append(GpuFunction(m, m, slo_ms, piecewise_poisson(rng, rates, stage_s)))
    return out


def run_policy(
    kind: str, device: Device, fns: list[GpuFunction], args: argparse.Namespace, simulated: bool
) -> dict[str, Any]:
    info = device.info
    step = 100.0 * info.sm_granularity / info.total_sms
    params = {"kind": kind, "sm_step_pct": step, "predict_interval_s": args.interval_s}
    worker = GpuWorker(device)
    t = time.monotonic()
    cfg_loop = GpuLoopConfig(drain_s=args.drain_s)
    real = replay(create(params), worker, fns, args.seconds, args.interval_s, config=cfg_loop)
    real_wall_s = time.monotonic() - t
    cold = real.info.get("cold_start_mean_s", math.nan)
    cfg = ClusterConfig(
        n_gpus=1,
        total_sms=info.total_sms,
        sm_step_pct=step,
        decide_interval_s=args.interval_s,
        cold_start_s=cold if math.isfinite(cold) else ClusterConfig().cold_start_s,
        interference=0.0 if simulated else ClusterConfig().interference,
    )
    t = time.monotonic()
    sim = simulate(create(params), fns, h200_latency_ms, args.seconds, cfg)
    sim_wall_s = time.monotonic() - t
    ratio = {
        k: (real.metrics[k] / sim.metrics[k] if sim.metrics[k] else math.nan) for k in COMPARED
    }
    return {
        "real": real.metrics,
        "sim": sim.metrics,
        "ratio_real_over_sim": ratio,
        "real_info": {**real.info, "wall_s": real_wall_s},
        "sim_config": {"cold_start_s": cfg.cold_start_s, "interference": cfg.interference},
        "sim_wall_s": sim_wall_s,
        "actions": [
            f"t={a.t_s:.2f}s {a.kind} {a.instance}: {a.detail} ({a.took_s * 1000:.1f} ms)"
            for a in real.actions[:60]
        ],
        "rejections": [
            f"t={r.t_s:.2f}s {r.function} [{r.kind}]: {r.reason}" for r in real.rejections[:20]
        ],
        "decisions": [f"t={d.t_s:.2f}s {d.function}: {d.reason}" for d in real.decisions[: 2 * 12]],
        "errors": real.errors[:20],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--out",
        default=os.environ.get("OUT", "out"),
        help="a .json file, or a folder for gpu_control_check.json",
    )
    ap.add_argument("--simulate", action="store_true", help="run on the SimulatedDevice (no GPU)")
    ap.add_argument("--seconds", type=float, default=60.0, help="trace length per policy")
    ap.add_argument("--interval-s", type=float, default=2.0, help="the loop's decision interval")
    ap.add_argument(
        "--drain-s",
        type=float,
        default=10.0,
        help="at most this long to serve the backlog at the end",
    )
    ap.add_argument("--models", default="resnet50,bert_base", help="comma-separated model keys")
    ap.add_argument("--rates", default="20,200,50", help="rps per stage (equal stages)")
    ap.add_argument("--slo-x", type=float, default=5.0, help="SLO = this x whole-GPU b1 latency")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    path = out if out.suffix == ".json" else out / "gpu_control_check.json"
    models = [m for m in args.models.split(",") if m]
    rates = [float(r) for r in args.rates.split(",") if r]
    t0 = time.monotonic()
    device = _device(args.simulate)
    fns = trace(models, rates, args.seconds, args.slo_x, args.seed)
    result: dict[str, Any] = {
        "meta": {
            "mode": "simulate" if args.simulate else "cuda",
            "device": {
                "name": device.info.name,
                "total_sms": device.info.total_sms,
                "sm_granularity": device.info.sm_granularity,
                "chunks": device.info.chunks,
            },
            "seconds": args.seconds,
            "interval_s": args.interval_s,
            "rates_rps": rates,
            "functions": {f.name: {"slo_ms": f.slo_ms, "requests": len(f.arrivals_s)} for f in fns},
            "device_init_s": time.monotonic() - t0,
            "pydantic_loaded": "pydantic" in sys.modules,
        }
    }
    status = 0
    for kind in [p for p in args.policies.split(",") if p]:
        try:
            result[kind] = run_policy(kind, device, fns, args, args.simulate)
        except Exception as e:
            status = 1
            result[kind] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
        result["meta"]["elapsed_s"] = time.monotonic() - t0
        _save(path, result)
        r = result[kind]
        if "real" in r:
            print(f"{kind}:")
            for k in COMPARED:
                print(
                    f"  {k:20s} real {r['real'][k]:10.4g}  sim {r['sim'][k]:10.4g}  "
                    f"real/sim {r['ratio_real_over_sim'][k]:.3g}"
                )
            print(f"  rejected plans {r['real']['rejected_plans']:.0f}, info {r['real_info']}")
        else:
            print(f"{kind}: {r['error']}")
    print(f"wrote {path} in {time.monotonic() - t0:.1f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
