"""Device check of the GPU control loop: the simulator's policies drive one real GPU, then the simulator.

    PYTHONPATH=src python3 benchmarks/gpu_control_check.py --out $OUT              # CUDA (an H200)
    PYTHONPATH=src python3 benchmarks/gpu_control_check.py --simulate --seconds 20 --out /tmp/gcc.json
    python benchmarks/gpu_control_check.py --real-from benchmarks/results/gpu_control_check_h200.json \
        --service-profile benchmarks/results/gpu_profile_models_h200.csv --out /tmp/gcc.json

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
Per function and stage it also writes violations, latency and service time
(`by_function_stage`), so a real/sim gap can be traced to the latency table
(service differs) or to queueing (only latency differs). `--service-profile`
adds `sim_profiled`: the same simulation with batches timed by a profile of
the worker's own models measured on the device (`gpu_profile_models.py`)
while the policy still plans with the table, as it did on the device;
`--real-from` re-simulates against the real runs of an earlier output
without a GPU.
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
from tessera.core.errors import InputError, require  # noqa: E402
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


def _pct(x: np.ndarray, q: float) -> float | None:
    return float(np.percentile(x, q)) if len(x) else None


def breakdown(res: Any, stages: int, seconds: float) -> dict[str, Any]:
    """Per function and trace stage: requests, SLO violations, latency and service p50/p99 (ms).

    Service = end - start of a request (its batch's run, token-window waits included), so a
    real/sim gap there is the latency model's, and one in latency only is queueing. Real
    arrivals are stamped when the driver submits them, so a request near a stage boundary
    can count in the neighbouring stage (a few of thousands).
    """
    stage_s = seconds / stages
    out: dict[str, Any] = {}
    for fn, arr in res.arrivals_s.items():
        lat = res.latency_ms(fn)
        met = res.slo_met(fn)
        svc = (res.end_s[fn] - res.start_s[fn]) * 1000.0
        rows = []
        for k in range(stages):
            sel = (arr >= k * stage_s) & (arr < (k + 1) * stage_s)
            n = int(sel.sum())
            ok = sel & np.isfinite(svc)  # dropped requests: violations, no latency or service
            served = sel & np.isfinite(lat)
            rows.append(
                {
                    "requests": n,
                    "dropped": int(n - served.sum()),
                    "slo_violation_rate": float(1 - met[sel].mean()) if n else None,
                    "latency_ms_p50": _pct(lat[served], 50),
                    "latency_ms_p99": _pct(lat[served], 99),
                    "service_ms_p50": _pct(svc[ok], 50),
                    "service_ms_p99": _pct(svc[ok], 99),
                }
            )
        out[fn] = rows
    return out


def run_real(
    kind: str, device: Device, fns: list[GpuFunction], args: argparse.Namespace
) -> dict[str, Any]:
    """Replay the trace through `tessera.control.gpu` on `device` with the registered policy."""
    info = device.info
    params = {"kind": kind, "sm_step_pct": _step(info), "predict_interval_s": args.interval_s}
    worker = GpuWorker(device)
    t = time.monotonic()
    cfg_loop = GpuLoopConfig(drain_s=args.drain_s)
    real = replay(create(params), worker, fns, args.seconds, args.interval_s, config=cfg_loop)
    real_wall_s = time.monotonic() - t
    return {
        "real": real.metrics,
        "by_function_stage": {"real": breakdown(real.result, len(args.rates_), args.seconds)},
        "real_info": {**real.info, "wall_s": real_wall_s},
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


def _step(info: Any) -> float:
    return 100.0 * float(info.sm_granularity) / float(info.total_sms)


def run_sims(
    kind: str,
    info: Any,
    fns: list[GpuFunction],
    args: argparse.Namespace,
    r: dict[str, Any],
    interference: float,
    service: Any = None,
) -> None:
    """The simulator on the same arrivals and policy: with the H200 table, and (given
    `service`) with batches timed by the device's own profile while the policy still
    plans with the table, as it did on the device."""
    params = {"kind": kind, "sm_step_pct": _step(info), "predict_interval_s": args.interval_s}
    cold = r["real_info"].get("cold_start_mean_s", math.nan)
    cold = cold if cold is not None and math.isfinite(cold) else ClusterConfig().cold_start_s
    cfg = ClusterConfig(
        n_gpus=1,
        total_sms=info.total_sms,
        sm_step_pct=_step(info),
        decide_interval_s=args.interval_s,
        cold_start_s=cold,
        interference=interference,
    )
    r["sim_config"] = {"cold_start_s": cfg.cold_start_s, "interference": cfg.interference}
    variants = [("sim", None)] + ([("sim_profiled", service)] if service is not None else [])
    for label, svc in variants:
        t = time.monotonic()
        sim = simulate(create(params), fns, h200_latency_ms, args.seconds, cfg, svc)
        r[f"{label}_wall_s"] = time.monotonic() - t
        r[label] = sim.metrics
        r["by_function_stage"][label] = breakdown(sim, len(args.rates_), args.seconds)
        suffix = "" if label == "sim" else "_profiled"
        r[f"ratio_real_over_sim{suffix}"] = {
            k: (r["real"][k] / sim.metrics[k] if sim.metrics[k] else math.nan) for k in COMPARED
        }


def _earlier(path: str) -> dict[str, Any]:
    """An earlier output of this script, checked enough to re-simulate it (else one line, 2)."""
    try:
        prev = json.loads(Path(path).read_text())
        meta = prev["meta"]
        ok = isinstance(meta["device"], dict) and meta["mode"] in ("cuda", "simulate")
        for k in ("seconds", "interval_s", "rates_rps", "functions"):
            _ = meta[k]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(
            "--real-from", path, f"a readable output of this script ({type(e).__name__}: {e})"
        ) from None
    require(ok, "--real-from", path, "an output of this script")
    return dict(prev)


def _profiled(path: str, models: list[str]) -> Any:
    """A latency model fitted to profile rows measured on the device (the worker's own models)."""
    from tessera.gpu.latency import from_predictor
    from tessera.gpu.predict import Predictor
    from tessera.gpu.profiles import load_profiles

    table = load_profiles(path)
    gpus = sorted(set(table.gpu))
    require(len(gpus) == 1, "--service-profile", path, "rows of one GPU")
    have = set(table.model.tolist())
    require(
        all(m in have for m in models),
        "--service-profile",
        f"{path} (models {sorted(have)})",
        f"rows of every --models entry: {models}",
    )
    fitted = from_predictor(Predictor().fit(table), gpu=gpus[0])
    top = {m: int(max(table.batch[table.model == m])) for m in have}
    full = {m: set(table.quota_pct[table.model == m].tolist()) == {100.0} for m in have}

    def service(model: str, batch: int, sm_pct: float, quota_pct: float = 100.0) -> float:
        # past the profiled batches: linear in batch from the largest (no extrapolated
        # saving); a profile measured at full quota only: stretched by 1/quota (fluid)
        b = min(batch, top[model])
        ms = float(fitted(model, b, sm_pct, 100.0 if full[model] else quota_pct)) * batch / b
        return ms * 100.0 / quota_pct if full[model] else ms

    return service


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
    ap.add_argument(
        "--service-profile",
        help="profile CSV measured on the device (benchmarks/gpu_profile_models.py): also "
        "simulate with batches timed by it (`sim_profiled`)",
    )
    ap.add_argument(
        "--real-from",
        help="an earlier output of this script: take its real runs (metrics, per-stage "
        "breakdown, cold starts) instead of driving a device, and simulate again",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    path = out if out.suffix == ".json" else out / "gpu_control_check.json"
    models = [m for m in args.models.split(",") if m]
    require(bool(models), "--models", args.models, "comma-separated model keys")
    try:
        rates = [float(r) for r in args.rates.split(",") if r]
    except ValueError:
        rates = []
    require(
        bool(rates) and all(math.isfinite(r) and r >= 0 for r in rates),
        "--rates",
        args.rates,
        "comma-separated rates in rps, >= 0",
    )
    kinds = [p for p in args.policies.split(",") if p]
    require(bool(kinds), "--policies", args.policies, "comma-separated GPU policy names")
    for kind in kinds:
        create({"kind": kind})  # an unknown name: one line naming the registered ones
    args.rates_ = rates
    t0 = time.monotonic()
    service = _profiled(args.service_profile, models) if args.service_profile else None
    prev: dict[str, Any] | None = None
    info: Any
    if args.real_from:
        prev = _earlier(args.real_from)
        info = types.SimpleNamespace(**prev["meta"]["device"])
        meta = {**prev["meta"], "real_from": args.real_from}
        simulated = prev["meta"]["mode"] == "simulate"
    else:
        device = _device(args.simulate)
        info = device.info
        simulated = args.simulate
        meta = {
            "mode": "simulate" if args.simulate else "cuda",
            "device": {
                "name": info.name,
                "total_sms": info.total_sms,
                "sm_granularity": info.sm_granularity,
                "chunks": info.chunks,
            },
            "device_init_s": time.monotonic() - t0,
            "pydantic_loaded": "pydantic" in sys.modules,
        }
    fns = trace(models, rates, args.seconds, args.slo_x, args.seed)
    meta.update(
        seconds=args.seconds,
        interval_s=args.interval_s,
        rates_rps=rates,
        functions={f.name: {"slo_ms": f.slo_ms, "requests": len(f.arrivals_s)} for f in fns},
        service_profile=args.service_profile,
        seed=args.seed,
        slo_x=args.slo_x,
    )
    if prev is not None:
        for k in ("seconds", "interval_s", "rates_rps", "functions", "seed", "slo_x"):
            if k not in prev["meta"] and k in ("seed", "slo_x"):
                continue  # files of the first H200 run do not record them (defaults: 0, 5)
            require(
                prev["meta"].get(k) == meta[k],
                "--real-from",
                f"{args.real_from}: {k} = {prev['meta'].get(k)!r}",
                f"the value this run would use ({meta[k]!r}): pass the same options",
            )
    result: dict[str, Any] = {"meta": meta}
    # no co-location interference where the device models none (--simulate)
    interference = 0.0 if simulated else ClusterConfig().interference
    status = 0
    if prev is not None:
        for kind in kinds:
            r0 = prev.get(kind)
            require(
                isinstance(r0, dict) and "by_function_stage" in r0 and "real_info" in r0,
                "--real-from",
                f"{args.real_from} [{kind}]",
                "an output of this script (since 2026-11-30) with a real run of every policy "
                "in --policies",
            )
    for kind in kinds:
        try:
            if prev is not None:
                keep = {"by_function_stage", "real", "real_info", "actions", "rejections"}
                r = {k: v for k, v in prev[kind].items() if k in keep | {"decisions", "errors"}}
                r["by_function_stage"] = {"real": r["by_function_stage"]["real"]}
            else:
                r = run_real(kind, device, fns, args)
            result[kind] = r  # the real run is kept whatever the simulations do
            run_sims(kind, info, fns, args, r, interference, service)
        except Exception as e:
            status = 1
            err = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
            result[kind] = {**result.get(kind, {}), **err}
        result["meta"]["resimulated_s" if prev is not None else "elapsed_s"] = time.monotonic() - t0
        _save(path, result)
        r = result[kind]
        if "sim" in r and "error" not in r:
            print(f"{kind}:")
            for k in COMPARED:
                line = (
                    f"  {k:20s} real {r['real'][k]:10.4g}  sim {r['sim'][k]:10.4g}  "
                    f"real/sim {r['ratio_real_over_sim'][k]:.3g}"
                )
                if "sim_profiled" in r:
                    line += (
                        f"  sim(profiled) {r['sim_profiled'][k]:10.4g}  "
                        f"real/sim {r['ratio_real_over_sim_profiled'][k]:.3g}"
                    )
                print(line)
            print(f"  rejected plans {r['real']['rejected_plans']:.0f}, info {r['real_info']}")
        else:
            print(f"{kind}: {r['error']}")
    print(f"wrote {path} in {time.monotonic() - t0:.1f}s")
    return status


def _cli() -> int:
    try:
        return main()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_cli())
