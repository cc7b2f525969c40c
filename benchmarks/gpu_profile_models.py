"""Profile the models the GPU worker serves, on the GPU at hand, in the one profile schema.

    PYTHONPATH=src python3 benchmarks/gpu_profile_models.py --out $OUT            # CUDA (an H200)
    PYTHONPATH=src python3 benchmarks/gpu_profile_models.py --simulate --out /tmp/p

`tessera gpu profile` does the same per model from the CLI; this script exists
for the GPU machine, which has torch but not the CLI's dependencies. It runs
`tessera.gpu.profiler.profile` for each model over batch x SM count at quota
100 and writes `OUT/gpu_profile_models.csv` (gpu, model, batch, sm_pct,
quota_pct, latency_ms: the mean of the timed batches) plus
`OUT/gpu_profile_models.json` with p50/p90 and event-timed GPU ms per point.
Both are rewritten (temp file + rename) after each model, so a timeout keeps
what was measured.

Why: the simulator's H200 table (`tessera.gpu.latency`) comes from
../shared/data, measured on other builds of these models; the control-loop
device check compares the simulator with the real worker, and needs the
latencies of the worker's own models to tell the loop's error from the table's.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tessera.gpu.device import Device, SimulatedDevice
from tessera.gpu.profiler import profile
from tessera.gpu.profiles import PROFILE_COLUMNS


def _device(simulate: bool) -> Device:
    if simulate:
        from tessera.gpu.clock import FakeClock

        return SimulatedDevice(clock=FakeClock())
    from tessera.gpu.cuda_device import CudaDevice

    return CudaDevice(0)


def _atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default=os.environ.get("OUT", "out"), help="output folder")
    ap.add_argument("--simulate", action="store_true", help="the simulated device (no GPU)")
    ap.add_argument("--models", default="resnet50,bert_base,mobilenet_v3_large")
    ap.add_argument("--batches", default="1,2,4,8")
    ap.add_argument(
        "--sms", default="", help="SM counts (default: every multiple of the step, and all)"
    )
    ap.add_argument("--replays", type=int, default=30)
    args = ap.parse_args(argv)
    if Path(args.out).suffix in (".csv", ".json"):
        print(
            f"error: --out: got {args.out!r}; accepted: a folder (the script writes "
            "gpu_profile_models.csv and .json into it)",
            file=sys.stderr,
        )
        return 2
    t0 = time.monotonic()
    dev = _device(args.simulate)
    info = dev.info
    if args.sms:
        sms = [int(x) for x in args.sms.split(",") if x]
    else:
        step = info.sm_granularity
        sms = [*range(step, info.chunks * step + 1, step)]
        if sms[-1] != info.total_sms:
            sms.append(info.total_sms)
    batches = [int(x) for x in args.batches.split(",") if x]
    out = Path(args.out)
    rows: list[list[Any]] = []
    detail: dict[str, Any] = {
        "device": {"name": info.name, "total_sms": info.total_sms, "step": info.sm_granularity},
        "replays": args.replays,
        "models": {},
    }
    for model in filter(None, args.models.split(",")):
        t = time.monotonic()
        try:
            measured = profile(dev, model, batches, sms, [100.0], replays=args.replays)
        except Exception as e:  # keep the other models
            detail["models"][model] = {"error": f"{type(e).__name__}: {e}"}
            detail["elapsed_s"] = time.monotonic() - t0
            _atomic(out / "gpu_profile_models.json", json.dumps(detail, indent=1))
            print(f"{model}: {type(e).__name__}: {e}", flush=True)
            continue
        points = []
        for m in measured:
            r = m.row
            rows.append([r.gpu, r.model, r.batch, f"{r.sm_pct:g}", f"{r.quota_pct:g}",
                         f"{r.latency_ms:.4f}"])  # fmt: skip
            points.append(
                {"batch": r.batch, "sm_pct": r.sm_pct, "mean_ms": r.latency_ms,
                 "p50_ms": m.p50_ms, "p90_ms": m.p90_ms, "gpu_ms_p50": m.gpu_ms_p50}
            )  # fmt: skip
        detail["models"][model] = {"points": points, "took_s": time.monotonic() - t}
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(PROFILE_COLUMNS)
        w.writerows(rows)
        _atomic(out / "gpu_profile_models.csv", buf.getvalue())
        detail["elapsed_s"] = time.monotonic() - t0
        _atomic(out / "gpu_profile_models.json", json.dumps(detail, indent=1))
        print(f"{model}: {len(points)} points in {time.monotonic() - t:.1f}s", flush=True)
    failed = [m for m, d in detail["models"].items() if "error" in d]
    print(f"wrote {out} in {time.monotonic() - t0:.1f}s")
    if failed:
        print(f"not profiled: {', '.join(failed)} (errors in the JSON)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
