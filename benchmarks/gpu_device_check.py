"""Device check of `tessera.gpu` on a real CUDA GPU (an H200), in under 5 minutes.

    PYTHONPATH=src python3 benchmarks/gpu_device_check.py --out $OUT
    PYTHONPATH=src python3 benchmarks/gpu_device_check.py --simulate --seconds 0.1 --out /tmp/x

Writes `OUT/gpu_device_check.json` (rewritten after every part, so a crash
or a timeout still leaves what was measured) and prints a summary. Parts, each
in its own try/except, under one time budget (`--budget-s`, default 270 s):

  a. sm_sweep      ResNet-50 b8 CUDA-graph p50 on {8,16,32,64,all} SMs of one split,
                   against the H200 profile in shared/data (green contexts made one by one)
  b. quota         one instance at quotas 0.25/0.5/0.75 under continuous load:
                   achieved GPU-time share (target within +-0.05)
  c. quota_change  0.25 -> 0.75: how many windows until the share moves (target: 1)
  d. resize        32 <-> 64 SMs while serving: new partition vs graph capture time
  e. colocation    4 ResNet-50 b8 tenants on 4 disjoint partitions (threads) vs 4 tenants
                   time-sliced on the whole GPU with quota 0.25 each (threads, exclusive and
                   concurrent) and vs each tenant's solo rate on its partition (isolation 10%).
                   On an H200 one split into 8-SM groups gives 15 groups (+12 SMs), so the
                   first run is 4 x 24 SMs; 4 x 32 then uses a device split into 32-SM groups
                   (4 groups), falling back to a split that ignores SM coscheduling
  g. colocation_models  the same comparison per (model, batch) (`--colo-mix`): whole-GPU
                   solo rate, 4 tenants time-sliced at quota 0.25, solo and 4 disjoint on
                   32-SM partitions, with SM clock and board power sampled per phase
  f. processes     4 tenant processes time-sliced (no MPS), then under MPS at 25%: one
                   process alone, then four (isolation under MPS) (real device only; MPS via
                   tessera.gpu.mps; runs last)

Needs only `src/` and the GPU machine's packages (torch, cuda-bindings;
torchvision if present). `--simulate` runs the same parts on the
SimulatedDevice (wall clock), which is what CI exercises.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tessera.gpu.device import Device, SimulatedDevice
from tessera.gpu.gate import Quota
from tessera.gpu.worker import GpuWorker, InferResult, achieved_share

MODEL, BATCH = "resnet50", 8
REF_P50_MS = {8: 6.573, 16: 3.725, 32: 2.255, 64: 1.49, 132: 1.112}
"""ResNet-50 b8 on the H200, green contexts created one by one (shared/data/gpu)."""
REF_SOLO_32_PER_S, REF_TIMESLICED_PROCS_PER_S = 443.0, 874.0


def _out_file(out: str) -> Path:
    """`--out` names a folder for gpu_device_check.json, or the .json file itself."""
    p = Path(out)
    return p if p.suffix == ".json" else p / "gpu_device_check.json"


class Check:
    def __init__(self, args: argparse.Namespace, device: Device) -> None:
        self.args = args
        self.device = device
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.budget_s
        self.out_path = _out_file(args.out)
        self.result: dict[str, Any] = {
            "mode": "simulate" if args.simulate else "cuda",
            "seconds_per_measurement": args.seconds,
            "budget_s": args.budget_s,
            "device": {},
            "parts": {},
        }
        self.lock = threading.Lock()

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        with self.lock:
            self.result["elapsed_s"] = round(time.monotonic() - self.t0, 2)
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.out_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(_clean(self.result), indent=2))
            tmp.replace(self.out_path)

    def part(self, key: str, need_s: float, fn: Callable[[Check], dict[str, Any]]) -> None:
        if self.left_s() < need_s:
            self.result["parts"][key] = {
                "status": "skipped",
                "reason": f"time budget: {self.left_s():.0f}s left, needs ~{need_s:.0f}s",
            }
        else:
            t = time.monotonic()
            try:
                body = fn(self)
                self.result["parts"][key] = {"status": "ok", **body}
            except Exception as e:
                self.result["parts"][key] = {
                    "status": "error",
                    "error": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(limit=6),
                }
            self.result["parts"][key]["took_s"] = round(time.monotonic() - t, 2)
        print(
            f"[{time.monotonic() - self.t0:6.1f}s] {key}: {_brief(self.result['parts'][key])}",
            flush=True,
        )
        self.save()


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return None if v != v or v in (float("inf"), float("-inf")) else round(v, 4)
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def _brief(p: dict[str, Any]) -> str:
    keep = {
        k: v for k, v in p.items() if k not in ("traceback",) and not isinstance(v, dict | list)
    }
    return json.dumps(_clean(keep))[:300]


def _p(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def _sm_pct(c: Check, sms: int) -> float:
    return c.device.info.sm_pct(sms)


# -- a. SM sweep ---------------------------------------------------------------------
def sm_sweep(c: Check) -> dict[str, Any]:
    dev, info = c.device, c.device.info
    model = dev.load_model(MODEL)
    rows = {}
    for sms in (8, 16, 32, 64, info.total_sms):
        chunks = None if sms == info.total_sms else list(range(sms // info.sm_granularity))
        part = dev.open_partition(chunks)
        try:
            exe = dev.capture(part, model, BATCH)
            for _ in range(5):
                dev.run(exe)
            t = time.perf_counter()
            ms = [dev.run(exe) for _ in range(c.args.reps)]
            wall_ms = (time.perf_counter() - t) * 1000 / c.args.reps
            dev.release(exe)
        finally:
            dev.close_partition(part)
        ref = REF_P50_MS.get(sms)
        p50 = _p(ms, 0.5)
        rows[str(sms)] = {
            "partition_sms": part.sms,
            "p50_ms": p50,
            "p90_ms": _p(ms, 0.9),
            "wall_ms_per_replay": wall_ms,
            "reference_p50_ms": ref,
            "ratio_to_reference": p50 / ref if ref else None,
        }
    dev.unload_model(model)
    return {"model": MODEL, "batch": BATCH, "weights_mib": model.mem_mib, "by_sms": rows}


# -- b. quota accuracy ---------------------------------------------------------------
def _steady(w: GpuWorker, name: str, seconds: float) -> tuple[list[InferResult], float, float]:
    """Run `seconds` after a settle of two windows; returns (results, t0, t1) of the measured span."""
    clock, gate = w.device.clock, w.gate
    settle_to = gate.window_start_s(gate.window_index(clock.now_s()) + 2)
    while clock.now_s() < settle_to:
        w.infer(name, BATCH)
    res = w.run_for(name, BATCH, seconds)
    return res, settle_to, clock.now_s()


def quota(c: Check) -> dict[str, Any]:
    w = GpuWorker(c.device)
    w.add_instance("q", MODEL, 100, 0.25, 0.25, batches=(BATCH,))
    rows = {}
    try:
        for q in (0.25, 0.5, 0.75):
            w.resize("q", quota=Quota(q, q))
            res, t0, t1 = _steady(w, "q", c.args.seconds)
            share = achieved_share(res, t0, t1)
            rows[str(q)] = {
                "achieved_share": share,
                "error": share - q,
                "within_0.05": abs(share - q) <= 0.05,
                "batches": len(res),
                "gpu_ms_p50": _p([r.gpu_ms for r in res], 0.5),
                "latency_ms_p50": _p([r.latency_ms for r in res], 0.5),
                "latency_ms_p99": _p([r.latency_ms for r in res], 0.99),
            }
    finally:
        w.close()
    return {
        "window_ms": w.gate.window_ms,
        "all_within_0.05": all(r["within_0.05"] for r in rows.values()),
        "by_quota": rows,
    }


# -- c. quota change -----------------------------------------------------------------
def quota_change(c: Check) -> dict[str, Any]:
    w = GpuWorker(c.device)
    gate, clock = w.gate, c.device.clock
    w.add_instance("c", MODEL, 100, 0.25, 0.25, batches=(BATCH,))
    try:
        before, _, _ = _steady(w, "c", max(0.2, c.args.seconds / 3))
        t_change = clock.now_s()
        w.resize("c", quota=0.75)
        after = w.run_for("c", BATCH, max(0.3, c.args.seconds / 2))
    finally:
        w.close()
    k0 = gate.window_index(t_change)
    per: dict[int, float] = {}
    for r in before + after:
        k = gate.window_index(r.end_s)
        per[k] = per.get(k, 0.0) + r.gpu_ms
    shares = {k - k0: per.get(k, 0.0) / gate.window_ms for k in range(k0 - 2, max(per))}
    moved = next((d for d, s in sorted(shares.items()) if d >= 0 and s >= 0.5), None)
    return {
        "window_ms": gate.window_ms,
        "share_by_window_from_change": {str(d): s for d, s in sorted(shares.items())},
        "windows_until_moved": moved,
        "ms_from_change_to_moved_window": (gate.window_start_s(k0 + moved) - t_change) * 1000
        if moved is not None
        else None,
        "effective_within_one_window": moved is not None and moved <= 1,
        "change_window_share": shares.get(0),
    }


# -- d. SM resize --------------------------------------------------------------------
def resize(c: Check) -> dict[str, Any]:
    w = GpuWorker(c.device)
    w.add_instance("r", MODEL, _sm_pct(c, 32), 1.0, batches=(BATCH,))
    stop = threading.Event()
    lat: list[tuple[float, float]] = []  # (end_s, latency_ms) while resizing
    errors: list[str] = []

    def serve() -> None:
        try:
            while not stop.is_set():
                r = w.infer("r", BATCH)
                lat.append((r.end_s, r.latency_ms))
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")

    th = threading.Thread(target=serve)
    th.start()
    reports = []
    try:
        for sms in (64, 32, 64):
            time.sleep(0.1)
            rep = w.resize("r", sm_pct=_sm_pct(c, sms))
            assert rep is not None
            reports.append(rep)
        time.sleep(0.1)
    finally:
        stop.set()
        th.join()
        m = w.metrics("r")
        w.close()
    rows = [
        {
            "from_sms": r.old_sms,
            "to_sms": r.new_sms,
            "partition_ms": r.partition_ms,
            "capture_ms": r.capture_ms,
            "switch_ms": r.switch_ms,
            "drain_ms": r.drain_ms,
        }
        for r in reports
    ]
    return {
        "resizes": rows,
        "partition_ms_median": statistics.median(r.partition_ms for r in reports),
        "capture_ms_median": statistics.median(r.capture_ms for r in reports),
        "served_batches_during": m.requests,
        "max_latency_ms_while_resizing": max((x for _, x in lat), default=None),
        "p50_latency_ms": m.latency_ms["p50"],
        "serving_errors": errors,
    }


# -- e. co-location ------------------------------------------------------------------
def _rates(w: GpuWorker, names: list[str], seconds: float, batch: int = BATCH) -> dict[str, Any]:
    start = threading.Barrier(len(names))
    out: dict[str, Any] = {}
    gpu: dict[str, tuple[float, float]] = {}

    def one(n: str) -> None:
        try:
            start.wait()
            t = time.perf_counter()
            res = w.run_for(n, batch, seconds)
            span = time.perf_counter() - t
            out[n] = len(res) / span
            gpu[n] = (_p([r.gpu_ms for r in res], 0.5), sum(r.gpu_ms for r in res) / 1000 / span)
        except Exception as e:
            out[n] = f"{type(e).__name__}: {e}"

    ths = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    each = [out[n] for n in names]
    nums = [x for x in each if isinstance(x, float)]
    return {
        "each_per_s": each,
        "total_per_s": sum(nums),
        # event-timed GPU ms per batch, and the share of wall time the tenant's GPU work covered:
        # a p50 above solo means interference on the GPU, a low busy share means launch gaps (CPU)
        "gpu_ms_p50": [gpu[n][0] if n in gpu else None for n in names],
        "gpu_busy_share": [gpu[n][1] if n in gpu else None for n in names],
        "errors": [x for x in each if isinstance(x, str)],
    }


def _disjoint(c: Check, device: Device, sms: int) -> dict[str, Any]:
    """Solo rate on `sms` SMs, then 4 tenants on 4 disjoint `sms`-SM partitions (threads)."""
    s = c.args.seconds
    r: dict[str, Any] = {"partition_sms": sms}
    w = GpuWorker(device)
    names = [f"t{i}" for i in range(4)]
    try:
        w.add_instance("solo", MODEL, device.info.sm_pct(sms), 1.0, batches=(BATCH,))
        r["solo"] = _rates(w, ["solo"], s)
        w.remove("solo")
        for n in names:
            w.add_instance(n, MODEL, device.info.sm_pct(sms), 1.0, batches=(BATCH,))
        r["weights_shared"] = {k: {"mib": v[0], "instances": v[1]} for k, v in w.weights().items()}
        r["tenants"] = _rates(w, names, s)
    finally:
        w.close()
    solo = r["solo"]["total_per_s"]
    each = [x for x in r["tenants"]["each_per_s"] if isinstance(x, float)]
    r["each_vs_solo"] = [x / solo for x in each] if solo else None
    r["isolation_within_10pct"] = (
        bool(solo) and len(each) == 4 and all(abs(x / solo - 1) <= 0.10 for x in each)
    )
    return r


def colocation(c: Check) -> dict[str, Any]:
    s = c.args.seconds
    info = c.device.info
    r: dict[str, Any] = {}
    fit = min(32, info.chunks // 4 * info.sm_granularity)
    r[f"disjoint_4x{fit}"] = _disjoint(c, c.device, fit)
    best = r[f"disjoint_4x{fit}"]
    names = [f"t{i}" for i in range(4)]
    for mode in ("exclusive", "concurrent"):
        if c.left_s() < 4 * s + 20:
            r[f"timesliced_quota_025_{mode}"] = {"status": "skipped: time budget"}
            continue
        w = GpuWorker(c.device, time_slice=mode)  # type: ignore[arg-type]
        try:
            for n in names:
                w.add_instance(n, MODEL, 100, 0.25, 0.25, batches=(BATCH,))
            r[f"timesliced_quota_025_{mode}"] = _rates(w, names, s)
        finally:
            w.close()
    if fit < 32 and not c.args.simulate:
        # (last: a failure here must not cost the results above) the default split of 8-SM
        # groups leaves too few for 4 x 32: try one split into 32-SM groups, then a split
        # that ignores SM coscheduling (with cuDNN's heuristics instead of its benchmark)
        from tessera.gpu.cuda_device import CudaDevice

        attempts: list[tuple[str, dict[str, Any]]] = [
            ("split_32_sm_groups", {"granularity": 32}),
            ("split_ignoring_coscheduling", {"coscheduling": False, "cudnn_benchmark": False}),
        ]
        for label, kw in attempts:
            if c.left_s() < 4 * s + 20:
                r[label] = {"status": "skipped: time budget"}
                break
            try:
                dev2 = CudaDevice(0, **kw)
                r[label] = {"split": dev2.describe()}
                if dev2.info.chunks * dev2.info.sm_granularity < 128:
                    r[label]["status"] = "too few SMs in whole groups for 4 x 32"
                    continue
                r[label]["disjoint_4x32"] = _disjoint(c, dev2, 32)
                best = r[label]["disjoint_4x32"]
                break
            except Exception as e:
                r[label] = {**r.get(label, {}), "status": f"error: {type(e).__name__}: {e}"}
    ts = r["timesliced_quota_025_exclusive"].get("total_per_s")
    r["disjoint_partition_sms"] = best["partition_sms"]
    r["disjoint_total_per_s"] = best["tenants"]["total_per_s"]
    r["isolation_within_10pct"] = best["isolation_within_10pct"]
    r["disjoint_vs_timesliced_quota"] = best["tenants"]["total_per_s"] / ts if ts else None
    r["reference"] = {
        "solo_32_per_s": REF_SOLO_32_PER_S,
        "timesliced_procs_per_s": REF_TIMESLICED_PROCS_PER_S,
        "ideal_disjoint_total_per_s": 4 * REF_SOLO_32_PER_S,
    }
    return r


# -- g. co-location across models and batch sizes -------------------------------------
COLO_MIX = (
    "resnet50:1,resnet50:8,resnet50:32,mobilenet_v3_large:1,mobilenet_v3_large:8,"
    "bert_base:1,bert_base:8"
)


def _visible_gpu() -> str:
    """nvidia-smi's index of CUDA device 0 (the first of CUDA_VISIBLE_DEVICES, when set)."""
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return first or "0"


class _Clocks:
    """SM clock (MHz) and board power (W) from `nvidia-smi --loop-ms`, stamped on arrival.

    Tells whether a slowdown under co-location comes with a lower clock (power or
    thermal limits) rather than contention in the memory system.
    """

    def __init__(self, period_ms: int = 100) -> None:
        self.rows: list[tuple[float, float, float]] = []
        self.error: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        try:
            self.proc = subprocess.Popen(
                [
                    "nvidia-smi",
                    "-i",
                    _visible_gpu(),
                    "--query-gpu=clocks.sm,power.draw",
                    "--format=csv,noheader,nounits",
                    f"--loop-ms={period_ms}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError as e:
            self.error = f"{type(e).__name__}: {e}"
            return
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                sm, watts = (float(x) for x in line.split(",")[:2])
            except ValueError:
                continue
            self.rows.append((time.monotonic(), sm, watts))

    def between(self, t0: float, t1: float) -> dict[str, Any]:
        sel = [(sm, w) for t, sm, w in list(self.rows) if t0 <= t <= t1]
        if not sel:
            rc = self.proc.poll() if self.proc is not None else None
            error = self.error or (f"nvidia-smi exited with {rc}" if rc is not None else None)
            return {"samples": 0, **({"error": error} if error else {})}
        return {
            "samples": len(sel),
            "sm_mhz_median": statistics.median(x[0] for x in sel),
            "sm_mhz_min": min(x[0] for x in sel),
            "power_w_median": statistics.median(x[1] for x in sel),
        }

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _tenant_rates(
    device: Device,
    model: str,
    batch: int,
    sm_pct: float,
    quota: float,
    n: int,
    seconds: float,
    clocks: _Clocks | None = None,
) -> dict[str, Any]:
    """`n` tenants of `model` on `device`, measured together; clocks sampled over the run only."""
    w = GpuWorker(device)
    names = [f"t{i}" for i in range(n)]
    try:
        for name in names:
            w.add_instance(name, model, sm_pct, quota, quota, batches=(batch,))
        t0 = time.monotonic()
        r = _rates(w, names, seconds, batch)
        if clocks is not None:
            r["clocks"] = clocks.between(t0, time.monotonic())
        return r
    finally:
        w.close()


def _split32(c: Check) -> tuple[Device, int, dict[str, Any]]:
    """A device split whose whole groups hold 4 x 32 SMs (the H200's 8-SM split has 15 chunks)."""
    info = c.device.info
    if c.args.simulate or info.chunks // 4 * info.sm_granularity >= 32:
        fit = min(32, info.chunks // 4 * info.sm_granularity)
        return c.device, fit, {"split": "the device's own", "partition_sms": fit}
    from tessera.gpu.cuda_device import CudaDevice

    tried: list[str] = []
    for label, kw in (("32-SM groups", {"granularity": 32}),
                      ("32-SM groups ignoring coscheduling",
                       {"granularity": 32, "coscheduling": False})):  # fmt: skip
        try:
            dev = CudaDevice(0, **kw)  # type: ignore[arg-type]
        except Exception as e:
            tried.append(f"{label}: {type(e).__name__}: {e}")
            continue
        if dev.info.chunks * dev.info.sm_granularity >= 128:
            return dev, 32, {"split": label, **dev.describe(), "failed_before": tried}
        tried.append(f"{label}: {dev.info.chunks} groups of {dev.info.sm_granularity} SMs")
    raise RuntimeError("no split holds 4 x 32 SMs: " + "; ".join(tried))


def parse_mix(text: str, known: Sequence[str]) -> list[tuple[str, int]]:
    """`--colo-mix` as (model, batch) pairs; one line naming the bad item otherwise."""
    pairs: list[tuple[str, int]] = []
    for item in text.split(","):
        model, sep, b = item.strip().partition(":")
        ok = bool(sep) and model in known and b.strip().isdigit() and int(b) >= 1
        if not ok or (model, int(b)) in pairs:
            raise ValueError(
                f"--colo-mix: got {item.strip()!r}; accepted: distinct MODEL:BATCH items, "
                f"MODEL one of {sorted(known)}, BATCH an integer >= 1"
            )
        pairs.append((model, int(b)))
    return pairs


def colocation_matrix(c: Check) -> dict[str, Any]:
    """Per (model, batch): 4 tenants on disjoint partitions vs quota time-slicing of the GPU.

    For each pair: the whole GPU's solo rate, 4 tenants time-sliced at quota 0.25 each
    (exclusive turns), one tenant alone on a 32-SM partition, and 4 tenants on 4
    disjoint 32-SM partitions; `ideal` = 4 x solo-32 / whole-GPU solo is what perfect
    isolation would give. SM clock and board power are sampled during each phase.
    """
    s = c.args.seconds
    mix = c.args.colo_pairs
    dev32, sms, split = _split32(c)
    clocks = _Clocks() if not c.args.simulate else None
    rows: dict[str, Any] = {}
    try:
        for model, batch in mix:
            key = f"{model}_b{batch}"
            if c.left_s() < 4 * s + 25:
                rows[key] = {"status": "skipped: time budget"}
                continue
            try:
                rows[key] = _colo_pair(c, dev32, sms, model, batch, clocks)
            except Exception as e:
                rows[key] = {"status": f"error: {type(e).__name__}: {e}"}
            c.result["parts"]["g_colocation_models"] = {"status": "running", "by_pair": rows}
            c.save()
    finally:
        if clocks is not None:
            clocks.stop()
    return {"partition_sms": sms, "split": split, "seconds": s, "by_pair": rows}


def _colo_pair(
    c: Check, dev32: Device, sms: int, model: str, batch: int, clocks: _Clocks | None
) -> dict[str, Any]:
    s = c.args.seconds
    whole = _tenant_rates(c.device, model, batch, 100, 1.0, 1, s, clocks)
    sliced = _tenant_rates(c.device, model, batch, 100, 0.25, 4, s, clocks)
    pct = dev32.info.sm_pct(sms)
    solo = _tenant_rates(dev32, model, batch, pct, 1.0, 1, s, clocks)
    four = _tenant_rates(dev32, model, batch, pct, 1.0, 4, s, clocks)
    solo_r, whole_r = solo["total_per_s"], whole["total_per_s"]
    each = [x for x in four["each_per_s"] if isinstance(x, float)]
    vs_solo = [x / solo_r for x in each] if solo_r else []
    return {
        "whole_gpu_solo": whole,
        "timesliced_quota_025": sliced,
        f"solo_{sms}": solo,
        f"disjoint_4x{sms}": four,
        "disjoint_vs_timesliced": (
            four["total_per_s"] / sliced["total_per_s"] if sliced["total_per_s"] else None
        ),
        "ideal_vs_whole": 4 * solo_r / whole_r if whole_r else None,
        "each_vs_solo": vs_solo,
        "isolation_within_10pct": len(vs_solo) == 4 and all(abs(v - 1) <= 0.10 for v in vs_solo),
    }


# -- f. processes (plain time-slicing, MPS) --------------------------------------------
def tenant_main(args: argparse.Namespace) -> int:
    """One tenant process: ResNet-50 b8 graph on a plain stream; waits for `go`, runs, reports."""
    import torch

    from tessera.gpu.models import build

    d = Path(args.tenant_dir)
    dev = torch.device("cuda", 0)
    torch.cuda.set_device(dev)
    with torch.inference_mode():
        module, make_input = build(MODEL, dev)
        x = make_input(BATCH)
        st = torch.cuda.Stream(dev)
        st.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(st):
            for _ in range(3):
                module(x)
        st.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=st):
            module(x)
    (d / f"ready-{args.tenant}").write_text("1")
    go = d / "go"
    limit = time.time() + 120
    while not go.exists():
        if time.time() > limit:
            return 3
        time.sleep(0.01)
    t_start = float(go.read_text())
    while time.time() < t_start:
        time.sleep(0.001)
    n, t_end = 0, t_start + args.seconds
    with torch.cuda.stream(st):
        while time.time() < t_end:
            g.replay()
            st.synchronize()
            n += 1
    (d / f"result-{args.tenant}.json").write_text(
        json.dumps({"batches": n, "per_s": n / args.seconds})
    )
    return 0


def _run_tenants(c: Check, env_extra: dict[str, str] | None, n: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as td:
        d = Path(td)
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
            **(env_extra or {}),
        }
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--tenant",
                    str(i),
                    "--tenant-dir",
                    td,
                    "--seconds",
                    str(c.args.seconds),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for i in range(n)
        ]
        try:
            limit = time.monotonic() + min(90.0, c.left_s() - c.args.seconds - 10)
            while sum((d / f"ready-{i}").exists() for i in range(n)) < n:
                if time.monotonic() > limit or any(p.poll() not in (None, 0) for p in procs):
                    raise RuntimeError(
                        "tenants not ready: " + "; ".join(f"rc={p.poll()}" for p in procs)
                    )
                time.sleep(0.05)
            (d / "go").write_text(str(time.time() + 0.5))
            for p in procs:
                p.wait(timeout=c.args.seconds + 30)
            each = []
            for i in range(n):
                f = d / f"result-{i}.json"
                each.append(json.loads(f.read_text())["per_s"] if f.exists() else None)
        finally:
            logs = []
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                out = p.stdout.read().decode(errors="replace") if p.stdout else ""
                if p.returncode:
                    logs.append(out[-800:])
        nums = [x for x in each if x is not None]
        return {"each_per_s": each, "total_per_s": sum(nums), "tenant_errors": logs}


def processes(c: Check) -> dict[str, Any]:
    from tessera.gpu.mps import MpsDaemon, MpsInstance

    r: dict[str, Any] = {"timesliced_4_procs": _run_tenants(c, None)}
    if c.left_s() < 2 * c.args.seconds + 60:
        r["mps_4_procs_25pct"] = {"status": "skipped: time budget"}
        return r
    with tempfile.TemporaryDirectory() as td:
        daemon = MpsDaemon.under(td)
        try:
            daemon.start()
            env = MpsInstance(daemon, 25).env()
            # isolation under MPS: one process alone at 25%, then four at once
            r["mps_1_proc_25pct"] = _run_tenants(c, env, n=1)
            r["mps_4_procs_25pct"] = _run_tenants(c, env)
            solo = r["mps_1_proc_25pct"]["total_per_s"]
            each = [x for x in r["mps_4_procs_25pct"]["each_per_s"] if x is not None]
            r["mps_each_vs_solo"] = [x / solo for x in each] if solo else None
            r["mps_isolation_within_10pct"] = (
                bool(solo) and len(each) == 4 and all(abs(x / solo - 1) <= 0.10 for x in each)
            )
        except Exception as e:
            r["mps_4_procs_25pct"] = {"status": f"error: {type(e).__name__}: {e}"}
        finally:
            daemon.stop()
    r["reference"] = {
        "timesliced_procs_per_s": REF_TIMESLICED_PROCS_PER_S,
        "mps_25pct_procs_per_s": 1319.0,
    }
    return r


# -- summary ---------------------------------------------------------------------------
def summarize(parts: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of every part that ran (missing ones are left out)."""
    out: dict[str, Any] = {}

    def get(*path: str) -> Any:
        v: Any = parts
        for k in path:
            if not isinstance(v, dict) or k not in v:
                return None
            v = v[k]
        return v

    if sweep := get("a_sm_sweep", "by_sms"):
        out["resnet50_b8_p50_ms_by_sms"] = {k: v["p50_ms"] for k, v in sweep.items()}
    if q := get("b_quota", "by_quota"):
        out["quota_achieved_share"] = {k: v["achieved_share"] for k, v in q.items()}
    out["quota_change_windows_until_moved"] = get("c_quota_change", "windows_until_moved")
    out["resize_partition_ms_median"] = get("d_resize", "partition_ms_median")
    out["resize_capture_ms_median"] = get("d_resize", "capture_ms_median")
    e = get("e_colocation") or {}
    for k, v in e.items():
        if isinstance(v, dict) and "total_per_s" in v:
            out[f"colocation_{k}_per_s"] = v["total_per_s"]
        elif isinstance(v, dict) and isinstance(v.get("tenants"), dict):
            out[f"colocation_{k}_per_s"] = v["tenants"]["total_per_s"]
            out[f"colocation_{k}_solo_per_s"] = v["solo"]["total_per_s"]
    for k in (
        "disjoint_partition_sms",
        "disjoint_total_per_s",
        "disjoint_vs_timesliced_quota",
        "isolation_within_10pct",
    ):
        out[f"colocation_{k}"] = e.get(k)
    for pair, v in (get("g_colocation_models", "by_pair") or {}).items():
        if isinstance(v, dict) and "disjoint_vs_timesliced" in v:
            out[f"colocation_{pair}"] = {
                "disjoint_vs_timesliced": v["disjoint_vs_timesliced"],
                "ideal_vs_whole": v["ideal_vs_whole"],
                "each_vs_solo_min": min(v["each_vs_solo"], default=None),
                "isolation_within_10pct": v["isolation_within_10pct"],
            }
    for k in ("timesliced_4_procs", "mps_1_proc_25pct", "mps_4_procs_25pct"):
        out[f"processes_{k}_per_s"] = get("f_processes", k, "total_per_s")
    if mps := get("f_processes", "mps_each_vs_solo"):
        out["processes_mps_each_vs_solo_min"] = min(mps)
    return {k: v for k, v in out.items() if v is not None}


# -- main ------------------------------------------------------------------------------
def _device(args: argparse.Namespace) -> Device | None:
    if args.simulate:
        return SimulatedDevice()
    try:
        import torch
    except ImportError:
        print(
            "gpu_device_check: torch is not installed; use --simulate to run on the simulated device"
        )
        return None
    if not torch.cuda.is_available():
        print(
            "gpu_device_check: no CUDA device visible to torch; nothing to check "
            "(use --simulate to run the same parts on the simulated device)"
        )
        return None
    from tessera.gpu.cuda_device import CudaDevice

    return CudaDevice(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--out",
        default=os.environ.get("OUT", "out"),
        help="a folder for gpu_device_check.json, or a .json file",
    )
    ap.add_argument("--simulate", action="store_true", help="run on the SimulatedDevice (no GPU)")
    ap.add_argument(
        "--seconds", type=float, default=1.0, help="length of each throughput/quota measurement"
    )
    ap.add_argument("--reps", type=int, default=50, help="graph replays per SM count in the sweep")
    ap.add_argument("--budget-s", type=float, default=270.0, help="stop starting parts after this")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip (a..g names)")
    ap.add_argument(
        "--colo-mix", default=COLO_MIX, help="part g's model:batch pairs, comma-separated"
    )
    ap.add_argument("--tenant", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--tenant-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tenant is not None:
        return tenant_main(args)
    if args.simulate:
        from tessera.gpu.latency import known_models
    else:
        from tessera.gpu.models import MODELS as known_models_tuple

        def known_models() -> list[str]:
            return list(known_models_tuple)

    try:
        args.colo_pairs = parse_mix(args.colo_mix, known_models())
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t_start = time.monotonic()
    try:
        device = _device(args)
    except Exception as e:
        traceback.print_exc()
        out_file = _out_file(args.out)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(
            json.dumps(
                {
                    "mode": "cuda",
                    "error": f"device setup failed: {type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(limit=8),
                },
                indent=2,
            )
        )
        return 1
    if device is None:
        return 2
    c = Check(args, device)
    describe = getattr(device, "describe", None)
    c.result["device"] = describe() if callable(describe) else {"name": device.info.name}
    c.result["device"]["setup_s"] = round(time.monotonic() - t_start, 2)
    print(f"device: {c.result['device']}", flush=True)

    def watchdog() -> None:  # a hung CUDA call must not cost the JSON
        while True:
            time.sleep(1.0)
            if c.left_s() < -25:
                c.result["aborted"] = "watchdog: time budget exceeded by 25 s (a part hung)"
                c.save()
                print(c.result["aborted"], flush=True)
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    skip = set(filter(None, args.skip.split(",")))
    s = args.seconds
    parts: list[tuple[str, float, Callable[[Check], dict[str, Any]]]] = [
        ("a_sm_sweep", 10, sm_sweep),
        ("b_quota", 3 * s + 8, quota),
        ("c_quota_change", s + 8, quota_change),
        ("d_resize", 15, resize),
        ("e_colocation", 4 * s + 20, colocation),
        ("g_colocation_models", 4 * s + 25, colocation_matrix),
    ]
    if not args.simulate:
        parts.append(("f_processes", 2 * s + 60, processes))
    for key, need, fn in parts:
        if key in skip or key.split("_")[0] in skip:
            c.result["parts"][key] = {"status": "skipped", "reason": "--skip"}
            continue
        c.part(key, need, fn)
    c.result["summary"] = summarize(c.result["parts"])
    c.save()
    print("summary:\n" + json.dumps(_clean(c.result["summary"]), indent=1), flush=True)
    print(f"wrote {c.out_path} in {time.monotonic() - t_start:.1f}s", flush=True)
    failed = [k for k, v in c.result["parts"].items() if v.get("status") == "error"]
    if failed:
        print(f"parts with errors: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
