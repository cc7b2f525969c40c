"""Experiment `has-gpu`: GPU autoscaling policies on HAS-GPU-style request stages.

Reproduces the shape of HAS-GPU's (Euro-Par'25) evaluation on the simulated
GPU cluster (`tessera.sim.gpu_cluster`) with the latencies HAS-GPU's own
predictor was trained on: five models of the V100 RaPP grid shipped in
`tessera.gpu.rapp_table` (SM 5-100% x quota 10-100% x batch 1-8, measured
under MPS partitions and 40 ms token windows), served with
`quota_model="measured"` (a batch takes the measured latency at its slice;
the slice takes the next one no sooner than its quota allows, `busy_ms`).
Each model is one function; its load is 50 stages of 5 s whose rates come from
a 50-minute segment of the Azure Functions 2019 per-minute trace, min-max
scaled to 5-15 rps and to 1-20 rps (HAS-GPU's two settings), Poisson within a
stage, plus `dense` (50-150 rps: a third of a GPU's least area, so no policy
holding whole GPUs passes ~0.35 packing efficiency there) and `heavy`
(500-1500 rps: several GPUs, where packing efficiency means something), and
`5-15rps-even` with HAS-GPU's own load client's arrivals (evenly spaced, the
stage's whole-number rate each second). Every run starts with 30 s at the
first stage's rate that is decided and served but not measured (`WARMUP_S`).
Per setting, `packing_ceiling` (meta) says how high packing efficiency can go
on its streams in a fluid model (`tessera.core.gpu_run.packing_ceiling`).
The SLO of each model is 5x its whole-GPU batch-1 latency; every policy also
runs at 10/20/40x in the first setting (`slo_scale`). Policies: `kserve-kpa`
(whole GPUs, the paper's baseline), `exclusive-batched` (whole GPUs with
dynamic batching at the grid's batches 1-8, the strong baseline),
`fast-gshare`, `has-gpu` and `tessera` (ours: SM and quota resized in place,
batching, scale to zero). Every slicing policy profiles the same 5%-SM x
10%-quota grid; the latency model is passed to simulator and policies as one
callable. In `PREDICTED_SETTINGS` has-gpu, tessera and tessera with
calibration also plan with grids the predictor fills in from three anchor
profiles per model (`predicted_latency`), served at the measured latencies
(meta `predicted_planning`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tessera.core.data import find
from tessera.core.gpu_run import packing_bound, packing_ceiling
from tessera.experiments.base import ExperimentResult, RunConfig, register
from tessera.gpu.rapp_table import (
    BATCHES,
    MODELS,
    QUOTAS,
    SMS,
    V100_SMS,
    GridLatency,
    v100_latency_ms,
)
from tessera.scheduling.gpu import create
from tessera.scheduling.gpu.base import grid
from tessera.sim.gpu_cluster import (
    ClusterConfig,
    GpuClusterResult,
    GpuFunction,
    even_stages,
    piecewise_poisson,
    simulate,
)
from tessera.sim.workload import read_minute_counts

TRACE = "traces/azure2019_one_function_per_minute.csv"
POLICIES = ("kserve-kpa", "exclusive-batched", "fast-gshare", "has-gpu", "tessera")
STAGES = 50
STAGE_S = 5.0
SLO_X = 5.0
SLO_SCALES = (5.0, 10.0, 20.0, 40.0)
"""SLO multiples (of whole-GPU batch-1 latency) every policy also runs at, in the first setting:
the 40 ms token window makes slicing policies' violations depend on how loose the SLO is."""
SETTINGS: dict[str, tuple[float, float]] = {
    "5-15rps": (5.0, 15.0),
    "1-20rps": (1.0, 20.0),
    "dense": (50.0, 150.0),
    "heavy": (500.0, 1500.0),
    "5-15rps-even": (5.0, 15.0),
}
"""Rate ranges of the stages; the first is the headline setting. Arrivals are Poisson within
a stage, except in `EVEN_SETTINGS`: HAS-GPU's own load client (each second of a stage, the
stage's whole-number rate in evenly spaced requests; `even_stages`)."""
EVEN_SETTINGS = ("5-15rps-even",)
SEEDS = 3  # full mode: medians over this many seeds (quick: one)
FRONTIER_SETTINGS = ("5-15rps", "dense")
"""Settings where each slicing policy's own knob is swept (cost vs violations)."""
HAS_GPU_KNOBS = tuple((up, b) for b in (1, 2) for up in (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3))
"""has-gpu's (scale-up threshold x predicted capacity, batch size); down = min(0.3, up / 3);
(0.9, 1) is its default. As many points as tessera's sweep."""
TESSERA_KNOBS = tuple((sf, mu) for sf in (0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0) for mu in (0.5, 0.9))
"""tessera's (slo_fraction, max_utilization) pairs; (0.45, 0.5) is its default."""
SM_STEP_PCT = 5.0
WARMUP_S = 30.0
"""Seconds of load at the first stage's rate before the measured stages: decided and served,
not measured (`ClusterConfig.warmup_s`), so every policy meets the first stage as a deployed,
loaded service (without it the first decision sees no history and sizes a loaded service for no
load, and the first seconds of every loaded setting were mostly violations)."""
ANCHOR_SMS = (20.0, 50.0, 100.0)
"""SM shares (at quota 100%, every batch) a model is profiled at when the policies plan with the
predictor: it fills in the rest of the model's grid from the other models' (issue 5's
unseen-model setting)."""
PREDICTED_SETTINGS = ("5-15rps", "dense", "heavy")
PREDICTED_POLICIES: dict[str, tuple[str, dict[str, Any]]] = {
    "has-gpu": ("has-gpu", {}),
    "tessera": ("tessera", {}),
    "tessera-calibrated": ("tessera", {"calibrate": True}),
}
"""Where the policies that plan with latencies also plan with the predicted grids (label:
policy, knobs); `tessera-calibrated` corrects the grid from the batch latencies it observes."""
CLUSTER = ClusterConfig(
    n_gpus=128, gpu_type="v100", total_sms=V100_SMS, sm_step_pct=SM_STEP_PCT,
    quota_model="measured", a_star_batches=(1, 2, 4, 8), warmup_s=WARMUP_S,
)  # fmt: skip
"""128 GPUs: room for has-gpu at `heavy` (61.9 held on average in the full run); the others hold fewer."""


def slo_ms(model: str, slo_x: float = SLO_X) -> float:
    """SLO: `slo_x` times the model's whole-GPU batch-1 latency on the V100 grid."""
    return slo_x * v100_latency_ms(model, 1, 100.0, 100.0)


def policy(name: str, **knobs: Any) -> Any:
    """The named policy; slicing policies profile the cluster's SM grid."""
    params: dict[str, Any] = {"kind": name, **knobs}
    if name in ("fast-gshare", "has-gpu", "tessera"):
        params["sm_step_pct"] = SM_STEP_PCT
    if name == "exclusive-batched":  # the grid's measured batches: past 8 the table extrapolates
        params.setdefault("batches", BATCHES)
    return create(params)


def frontier_points() -> list[tuple[str, str, dict[str, Any]]]:
    """(policy, label, knobs) for every point of the two swept frontiers."""
    pts: list[tuple[str, str, dict[str, Any]]] = [
        ("has-gpu", f"up {up:g}, batch {b}",
         {"up_threshold": up, "down_threshold": min(0.3, up / 3), "batch": b})
        for up, b in HAS_GPU_KNOBS
    ]  # fmt: skip
    pts += [
        ("tessera", f"slo x{sf:g}, util {mu:g}", {"slo_fraction": sf, "max_utilization": mu})
        for sf, mu in TESSERA_KNOBS
    ]
    return pts


def _slices() -> list[tuple[float, float]]:
    """The (SM %, quota %) grid every slicing policy profiles."""
    return [(sm, q) for sm in grid(SM_STEP_PCT) for q in grid(10.0)]


def packing_bounds() -> dict[str, float]:
    """Per model, the packing efficiency of GPUs each full of copies of one slice of the slicing
    policies' grid at the measured batches (`tessera.core.gpu_run.packing_bound`, with the
    cluster's slowdown): a yardstick, not a bound on every policy."""
    return {
        m: round(packing_bound(
            v100_latency_ms, m, slo_ms(m), _slices(), CLUSTER.a_star_batches,
            CLUSTER.interference, CLUSTER.total_sms, CLUSTER.a_star_batches,
        ), 4)
        for m in MODELS
    }  # fmt: skip


@cache
def predicted_latency() -> GridLatency:
    """Each model's grid as `tessera.gpu.predict.Predictor` predicts it from the other models'
    measured grids plus the model's own rows at `ANCHOR_SMS` x quota 100% (every batch): what a
    policy plans with when a new model is profiled at three points only. The simulator still
    serves with the measured grid."""
    from tessera.gpu.predict import Predictor
    from tessera.gpu.profiles import ProfileRow, ProfileTable

    def rows(model: str, anchors_only: bool) -> list[ProfileRow]:
        return [
            ProfileRow("v100", model, b, sm, q, v100_latency_ms(model, b, sm, q))
            for b in BATCHES for sm in SMS for q in QUOTAS
            if not anchors_only or (q == 100.0 and sm in ANCHOR_SMS)
        ]  # fmt: skip

    grids = {}
    for m in MODELS:
        known = [r for other in MODELS if other != m for r in rows(other, False)]
        pred = Predictor().fit(ProfileTable.from_rows(known + rows(m, True)))
        flat = pred.predict_many(
            [("v100", m, b, sm, q) for b in BATCHES for sm in SMS for q in QUOTAS]
        )
        it = iter(float(v) for v in flat)
        grids[m] = [[[next(it) for _q in QUOTAS] for _s in SMS] for _b in BATCHES]
    return GridLatency(grids, "predicted V100 grid")


def predicted_mape() -> dict[str, float]:
    """Per model, the predicted grid's mean absolute percentage error against the measured one."""
    pred = predicted_latency()
    out = {}
    for m in MODELS:
        errs = [
            abs(pred(m, b, sm, q) / v100_latency_ms(m, b, sm, q) - 1.0)
            for b in BATCHES for sm in SMS for q in QUOTAS
        ]  # fmt: skip
        out[m] = round(100.0 * float(np.mean(errs)), 2)
    return out


def ceiling(fns: list[GpuFunction]) -> dict[str, float]:
    """The fluid packing ceiling of one setting's measured streams (after the warm-up) on the
    policies' grid at the measured batches, with the cluster's slowdown."""
    return packing_ceiling(
        v100_latency_ms, fns, WARMUP_S, STAGES * STAGE_S, _slices(), CLUSTER.a_star_batches,
        CLUSTER.interference, CLUSTER.total_sms, CLUSTER.a_star_batches,
    )  # fmt: skip


def matched_cost(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each has-gpu point, the cheapest tessera point with no more SLO violations.

    `ratio` = has-gpu's cost / that tessera point's cost (> 1: tessera is cheaper at equal or
    better violations); None where no tessera point has as few violations."""
    ours = [p for p in points if p["policy"] == "tessera"]
    out = []
    for h in (p for p in points if p["policy"] == "has-gpu"):
        ok = [t for t in ours if t["slo_violation_rate"] <= h["slo_violation_rate"]]
        best = min(ok, key=lambda t: t["cost_gpu_s"]) if ok else None
        out.append({
            "has_gpu": h["label"], "has_gpu_cost": h["cost_gpu_s"],
            "has_gpu_violations": h["slo_violation_rate"],
            "tessera": best["label"] if best else None,
            "tessera_cost": best["cost_gpu_s"] if best else None,
            "tessera_violations": best["slo_violation_rate"] if best else None,
            "ratio": _ratio(h["cost_gpu_s"], best["cost_gpu_s"]) if best else None,
        })  # fmt: skip
    return out


def _minute_counts(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    path = find(TRACE)
    if path is not None:
        return read_minute_counts(path).astype(float), f"Azure Functions 2019 trace ({TRACE})"
    minutes = np.arange(24 * 60)
    counts = 8.75 * (1 + 0.6 * np.sin(2 * np.pi * minutes / 1440)) + rng.normal(0, 2, len(minutes))
    return np.clip(counts, 0, None), (
        "synthetic diurnal per-minute counts (shared data folder not found; "
        "set TESSERA_DATA to use the real trace)"
    )


def stage_rates(counts: np.ndarray, start: int, lo: float, hi: float) -> np.ndarray:
    """`STAGES` consecutive minutes from `start`, min-max scaled to [lo, hi] rps."""
    seg = counts[start : start + STAGES]
    span = seg.max() - seg.min()
    unit = (seg - seg.min()) / span if span > 0 else np.full(len(seg), 0.5)
    out: np.ndarray = lo + (hi - lo) * unit
    return out


def functions(
    seed: int, lo: float, hi: float, slo_x: float = SLO_X, even: bool = False
) -> tuple[list[GpuFunction], str]:
    """One function per model: a random trace segment's stages scaled to [lo, hi] rps, Poisson
    arrivals within a stage (`even`: HAS-GPU's client, on the same segments and rates), after
    `WARMUP_S` at the first stage's rate (the simulator's warm-up, not measured)."""
    rng = np.random.default_rng(seed)
    counts, source = _minute_counts(rng)
    out = []
    lead = round(WARMUP_S / STAGE_S)
    for m in MODELS:
        start = int(rng.integers(0, len(counts) - STAGES))
        rates = stage_rates(counts, start, lo, hi)
        rates = np.concatenate([np.full(lead, rates[0]), rates])
        arrivals = piecewise_poisson(rng, rates, STAGE_S)  # drawn either way: same segments
        if even:
            arrivals = even_stages(rates, STAGE_S)
        out.append(GpuFunction(m, m, slo_ms(m, slo_x), arrivals))
    return out, source


def _row(res: GpuClusterResult) -> dict[str, float]:
    keys = (
        "cost_gpu_s", "gpus_held_mean", "slo_violation_rate", "p99_latency_ms", "p50_latency_ms",
        "packing_efficiency", "area_efficiency", "served", "dropped", "rejected_plans",
    )  # fmt: skip
    return {k: res.metrics[k] for k in keys}


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf") if a > 0 else 1.0


@register(
    "has-gpu",
    "Hybrid GPU autoscaling (HAS-GPU) vs FaST-GShare vs KServe",
    "Five models on a simulated V100 cluster (measured SM x quota latencies) under 50 x 5 s "
    "trace-driven stages: tenant cost (GPU-seconds of SM x quota area), GPUs held, SLO "
    "violations, p99 latency, packing efficiency.",
    order=60,
)
def run(cfg: RunConfig) -> ExperimentResult:
    horizon_s = STAGES * STAGE_S
    seeds = [cfg.seed] if cfg.quick else [cfg.seed + k for k in range(SEEDS)]
    rows: dict[str, dict[str, float]] = {}
    results: dict[str, GpuClusterResult] = {}
    source = ""
    sweep = frontier_points()
    total = (
        len(SETTINGS) * len(POLICIES)
        + len(FRONTIER_SETTINGS) * len(sweep)
        + len(PREDICTED_SETTINGS) * len(PREDICTED_POLICIES)
        + sum(x != SLO_X for x in SLO_SCALES) * len(POLICIES)
    ) * len(seeds)
    step = 0
    frontier: dict[str, dict[str, Any]] = {}
    by_scale: dict[str, dict[str, list[dict[str, float]]]] = {}
    ceilings: dict[str, dict[str, float]] = {}
    planned: dict[str, dict[str, list[dict[str, float]]]] = {}
    for r_i, (setting, (lo, hi)) in enumerate(SETTINGS.items()):
        per_seed: dict[str, list[dict[str, float]]] = {name: [] for name in POLICIES}
        ceils = []
        for seed in seeds:
            fns, source = functions(seed, lo, hi, even=setting in EVEN_SETTINGS)
            ceils.append(ceiling(fns))
            for name in POLICIES:
                cfg.progress(step / total, f"{name} {setting} seed {seed}")
                step += 1
                res = simulate(policy(name), fns, v100_latency_ms, horizon_s, CLUSTER)
                per_seed[name].append(_row(res))
                if r_i == 0 and seed == seeds[0]:
                    results[name] = res
            for label in PREDICTED_POLICIES if setting in PREDICTED_SETTINGS else ():
                cfg.progress(step / total, f"{label} {setting} seed {seed}, predicted grid")
                step += 1
                name, knobs = PREDICTED_POLICIES[label]
                pol = policy(name, latency_ms=predicted_latency(), **knobs)
                res = simulate(pol, fns, v100_latency_ms, horizon_s, CLUSTER)
                planned.setdefault(setting, {}).setdefault(label, []).append(_row(res))
            if setting in FRONTIER_SETTINGS:
                for name, label, knobs in sweep:
                    cfg.progress(step / total, f"frontier {setting}: {name} {label} seed {seed}")
                    step += 1
                    res = simulate(policy(name, **knobs), fns, v100_latency_ms, horizon_s, CLUSTER)
                    per_seed.setdefault(f"{name} {label}", []).append(_row(res))
        ceilings[setting] = {k: float(np.median([c[k] for c in ceils])) for k in ceils[0]}
        if r_i == 0 and SLO_X in SLO_SCALES:  # the default multiple of the SLO-scale runs
            by_scale[f"{SLO_X:g}"] = {name: per_seed[name] for name in POLICIES}
        for name in POLICIES:
            runs = per_seed[name]
            rows[name if r_i == 0 else f"{name}@{setting}"] = {
                k: float(np.median([r[k] for r in runs])) for k in runs[0]
            }
        if setting in FRONTIER_SETTINGS:
            points = [
                {"policy": name, "label": label, **knobs,
                 **{k: float(np.median([r[k] for r in per_seed[f"{name} {label}"]]))
                    for k in ("cost_gpu_s", "slo_violation_rate", "p99_latency_ms")}}
                for name, label, knobs in sweep
            ]  # fmt: skip
            frontier[setting] = {"points": points, "matched": matched_cost(points)}
    first_lo, first_hi = next(iter(SETTINGS.values()))
    for x in SLO_SCALES:
        if x == SLO_X:
            continue
        for seed in seeds:
            fns, _ = functions(seed, first_lo, first_hi, x)
            for name in POLICIES:
                cfg.progress(step / total, f"SLO {x:g}x: {name} seed {seed}")
                step += 1
                res = simulate(policy(name), fns, v100_latency_ms, horizon_s, CLUSTER)
                by_scale.setdefault(f"{x:g}", {}).setdefault(name, []).append(_row(res))
    slo_scale = {
        x: {
            name: {k: float(np.median([r[k] for r in runs]))
                   for k in ("cost_gpu_s", "slo_violation_rate", "p99_latency_ms")}
            for name, runs in per_policy.items()
        }
        for x, per_policy in sorted(by_scale.items(), key=lambda kv: float(kv[0]))
    }  # fmt: skip
    cfg.progress(1.0, "done")
    per = {
        setting: {p: rows[p if i == 0 else f"{p}@{setting}"] for p in POLICIES}
        for i, setting in enumerate(SETTINGS)
    }
    first = next(iter(SETTINGS))
    headline = (
        f"{first}: {_papers_claims(per[first])}. Ours, per setting: "
        + "; ".join(
            f"{setting}: {_tessera_vs_has_gpu(r['tessera'], r['has-gpu'])}"
            for setting, r in per.items()
        )
        + ". Each policy's own knob swept: "
        + "; ".join(
            f"{setting}: {_frontier_line(f['matched'], detail=False)}"
            for setting, f in frontier.items()
        )
    )
    bounds = packing_bounds()
    mape = predicted_mape()
    predicted_rows = {
        setting: {
            name: {k: float(np.median([r[k] for r in runs]))
                   for k in ("cost_gpu_s", "slo_violation_rate", "p99_latency_ms")}
            for name, runs in per_policy.items()
        }
        for setting, per_policy in planned.items()
    }  # fmt: skip
    result = ExperimentResult(
        experiment="has-gpu",
        policies=rows,
        meta={
            "workload": source,
            "stages": STAGES,
            "stage_s": STAGE_S,
            "settings": SETTINGS,
            "gpu": "v100 (RaPP grid, tessera.gpu.rapp_table)",
            "slo_ms": {m: slo_ms(m) for m in MODELS},
            "seeds": seeds,
            "frontier": frontier,
            "slo_scale": slo_scale,
            "packing_bound": bounds,
            "packing_ceiling": ceilings,
            "warmup_s": WARMUP_S,
            "predicted_planning": predicted_rows,
            "predicted_mape": mape,
        },
        headline=headline,
        notes=[
            f"Workload: {source}; per model a random 50-minute segment, min-max scaled to the "
            "rps range, 5 s per minute-stage, Poisson within a stage (in "
            f"{', '.join(EVEN_SETTINGS)}: HAS-GPU's client, each second the stage's "
            "whole-number rate evenly spaced, on the same segments).",
            f"SLO: {SLO_X:g}x each model's whole-GPU batch-1 latency. Latency: the measured V100 "
            "RaPP grid (lone requests' latencies under a 40 ms token window, with a 10-20 ms "
            "host floor; some low quotas show no throttling at all), co-location with a slowdown "
            "of 1 + 0.376 x others' area (0.78x speed at four quarter tenants, H200 data). Back "
            "to back a slice computes at most its quota's share of the time: it takes its next "
            "batch max(L_q, L_100 / q) after the last one started (busy_ms, an upper bound "
            "where part of L_100 is host time the gate does not charge; since 2026-11-30 - "
            "before, a low-quota slice whose lone latency was near the whole-time one served "
            "up to 1/q times what its quota grants, and every slicing policy planned on "
            "that).",
            "cost_gpu_s is the tenant's reserved SM x quota area over time (HAS-GPU's charge); "
            "gpus_held_mean the provider's GPUs holding any instance; packing_efficiency = served "
            "x a* / GPU-seconds held, area_efficiency the same over cost_gpu_s (a* = least SM-time "
            "area per request meeting the SLO). A yardstick, packing_bound (meta): GPUs each "
            "full of copies of one grid slice at batch <= 8, busy back to back with full "
            "batches, no queueing, under the co-location slowdown (mixing slices on a GPU can "
            "do a little better) - " + ", ".join(f"{m} {b:.2f}" for m, b in bounds.items()) + ".",
            _packing_line(per, ceilings),
            _predicted_line(per, predicted_rows, mape),
            *(f"{setting}: {_papers_claims(r)}" for setting, r in per.items()),
            *(
                f"{setting}: {_vs_exclusive(r['tessera'], r['exclusive-batched'], 'tessera')}"
                for setting, r in per.items()
            ),
            *(
                f"Frontier {setting} (has-gpu's up-threshold and batch vs tessera's SLO fraction "
                "and utilisation target; each point's cost and violations are medians over the "
                f"seeds, taken separately): {_frontier_line(f['matched'])}"
                for setting, f in frontier.items()
            ),
            f"SLO scale ({next(iter(SETTINGS))}, each policy at its default): "
            + _slo_scale_line(slo_scale),
            "KServe's concurrency is estimated by Little's law from the rate (the snapshot carries "
            "no concurrency window). The first decision's instances start warm.",
            *_on_device(),
        ],
    )
    result.figures.append(("Tenant cost vs SLO violations", _tradeoff(rows)))
    result.figures.append(("Reserved GPU area over time", _timeline(results)))
    if frontier:
        result.figures.append(("Cost-violation frontiers, each policy's knob swept",
                               _frontier_plot(frontier)))  # fmt: skip
    result.figures.append(("SLO violations vs how loose the SLO is", _slo_scale_plot(slo_scale)))
    result.figures.append(("Packing efficiency per setting, with its fluid ceiling",
                           _packing_plot(per, ceilings)))  # fmt: skip
    return result


def _packing_line(
    per: dict[str, dict[str, dict[str, float]]], ceilings: dict[str, dict[str, float]]
) -> str:
    """Per setting: the fluid packing ceiling, whole GPUs' share of it, and tessera's packing."""
    parts = []
    for setting, r in per.items():
        c, t = ceilings[setting], r["tessera"]
        parts.append(
            f"{setting} {c['packing_ceiling']:.3f} (a* alone in whole GPUs: "
            f"{c['whole_gpus']:.3f}; tessera {t['packing_efficiency']:.3f} at "
            f"{t['slo_violation_rate']:.1%} violations)"
        )
    return (
        "Packing ceiling (meta packing_ceiling, fluid model: each second's requests served "
        "the cheapest way the grid allows at that second's rate - full batches, the first "
        "request waiting for the batch to fill, instances on full GPUs under the slowdown, "
        "whole GPUs held; not a proof over every schedule): " + "; ".join(parts) + "."
    )


def _predicted_line(
    per: dict[str, dict[str, dict[str, float]]],
    predicted: dict[str, dict[str, dict[str, float]]],
    mape: dict[str, float],
) -> str:
    """Per setting and policy: cost and violations planning with the measured grid and with
    the predicted one (served by the measured grid either way)."""
    parts = []
    for setting, rows in predicted.items():
        for label, p in rows.items():
            m = per[setting][PREDICTED_POLICIES[label][0]]
            parts.append(
                f"{setting} {label} {m['cost_gpu_s']:.1f} GPU-s / {m['slo_violation_rate']:.2%} "
                f"-> {p['cost_gpu_s']:.1f} / {p['slo_violation_rate']:.2%}"
            )
    return (
        "Planning with the predictor (meta predicted_planning): each model profiled at "
        f"{'/'.join(f'{s:g}' for s in ANCHOR_SMS)}% SMs, quota 100%, and its grid predicted from "
        "the other four models' (tessera.gpu.predict; MAPE "
        + ", ".join(f"{m} {v:.1f}%" for m, v in mape.items())
        + "); batches still served at the measured latencies; tessera-calibrated scales the "
        "predicted latency of each slice it ran by what its batches took there (elsewhere by "
        "the mean ratio). Measured grid -> predicted grid: " + "; ".join(parts) + "."
    )


def _packing_plot(
    per: dict[str, dict[str, dict[str, float]]], ceilings: dict[str, dict[str, float]]
) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    settings = list(per)
    fig, ax = plt.subplots()
    width = 0.8 / len(POLICIES)
    handles: list[Any] = []
    for k, name in enumerate(POLICIES):
        xs = [i + (k - (len(POLICIES) - 1) / 2) * width for i in range(len(settings))]
        bars = ax.bar(xs, [per[s][name]["packing_efficiency"] for s in settings], width)
        handles.append(Patch(color=bars.patches[0].get_facecolor(), label=name))
        for bar, s in zip(bars, settings, strict=True):
            if per[s][name]["slo_violation_rate"] > 0.5:  # packing bought with the SLO
                bar.set_hatch("////")
                bar.set_alpha(0.45)
    for i, s in enumerate(settings):
        ax.hlines(ceilings[s]["packing_ceiling"], i - 0.45, i + 0.45, colors="k", lw=1.5,
                  label="fluid ceiling" if i == 0 else "_nolegend_")  # fmt: skip
    ax.axhline(0.8, color="tab:red", ls=":", lw=1, label="issue goal 0.8")
    lines, _labels = ax.get_legend_handles_labels()
    ax.set_xticks(range(len(settings)), settings)
    ax.set_ylabel("packing efficiency")
    ax.set_title("hatched: over half the requests miss the SLO", fontsize=8)
    ax.set_yscale("log")
    ax.legend(handles=lines + handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.set_size_inches(9, 3.4)
    fig.tight_layout()
    return fig


def _on_device() -> list[str]:
    """A note on the same policy objects driving a real H200 (committed control-loop check)."""
    path = Path(__file__).resolve().parents[3] / "benchmarks/results/gpu_control_check_h200.json"
    try:
        data = json.loads(path.read_text())
        parts = []
        for kind in ("has-gpu", "tessera"):
            r = data[kind]
            text = (
                f"{kind} {r['real']['slo_violation_rate']:.1%} real vs "
                f"{r['sim']['slo_violation_rate']:.1%} simulated, cost "
                f"{r['real']['cost_gpu_s']:.1f} vs {r['sim']['cost_gpu_s']:.1f} GPU-s"
            )
            if "sim_profiled" in r:
                text += (
                    f" ({r['sim_profiled']['slo_violation_rate']:.1%} simulated with the "
                    "device's own profile)"
                )
            parts.append(text)
        meta = data["meta"]
        fns = " + ".join(meta["functions"])
        rates = "/".join(f"{r:g}" for r in meta["rates_rps"])
        seconds = float(meta["seconds"])
    except (OSError, KeyError, TypeError, ValueError):
        return []
    return [
        "On a real H200 (benchmarks/gpu_control_check.py; the same policy objects drive the GPU "
        f"worker through tessera.control.gpu, {seconds:g} s of {fns} at {rates} rps, "
        "H200 latency table): " + "; ".join(parts) + ". Measured with the policies as they "
        "were then: has-gpu's port before its Kalman offset and cooldown fix, tessera before "
        "its shape hysteresis, no-shrink rule and per-slice co-location slowdown (all changed "
        "later on 2026-11-30)."
    ]


def _slo_scale_line(slo_scale: dict[str, dict[str, dict[str, float]]]) -> str:
    """Per SLO multiple: the paper's has-gpu vs kserve-kpa comparison and tessera vs has-gpu."""
    parts = []
    for x, r in slo_scale.items():
        h, k, t = r["has-gpu"], r["kserve-kpa"], r["tessera"]
        holds = (
            _ratio(k["cost_gpu_s"], h["cost_gpu_s"]) >= 5
            and h["slo_violation_rate"] <= k["slo_violation_rate"]
        )
        parts.append(
            f"{x}x: has-gpu {h['slo_violation_rate']:.2%} vs kserve-kpa "
            f"{k['slo_violation_rate']:.2%} violations at "
            f"{_ratio(k['cost_gpu_s'], h['cost_gpu_s']):.0f}x lower cost "
            f"({'holds' if holds else 'does not hold'}: >= 5x cheaper with no more violations), "
            f"tessera {t['slo_violation_rate']:.2%} at {t['cost_gpu_s']:.1f} GPU-s vs has-gpu "
            f"{h['cost_gpu_s']:.1f}"
        )
    return "; ".join(parts)


def _slo_scale_plot(slo_scale: dict[str, dict[str, dict[str, float]]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [float(x) for x in slo_scale]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name in next(iter(slo_scale.values())):
        a1.plot(xs, [100 * slo_scale[x][name]["slo_violation_rate"] for x in slo_scale],
                marker="o", lw=1, label=name)  # fmt: skip
        a2.plot(xs, [slo_scale[x][name]["cost_gpu_s"] for x in slo_scale], marker="o", lw=1)
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}x" for x in xs])
        ax.set_xlabel("SLO (x whole-GPU batch-1 latency)")
    a1.set_ylabel("SLO violations (%)")
    a2.set_ylabel("tenant cost (GPU-seconds)")
    a2.set_yscale("log")
    a1.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _frontier_line(matched: list[dict[str, Any]], detail: bool = True) -> str:
    """Cost at matched violations (with `detail`, one clause per has-gpu point), whichever
    way it goes."""
    parts = []
    for m in matched:
        if m["ratio"] is None:
            parts.append(f"has-gpu {m['has_gpu']} ({m['has_gpu_violations']:.1%}): no tessera "
                         "point has as few violations")  # fmt: skip
            continue
        r = m["ratio"]
        how = f"{r:.2f}x cheaper" if r >= 1 else f"{1 / r:.2f}x dearer"
        parts.append(
            f"has-gpu {m['has_gpu']} {m['has_gpu_cost']:.1f} GPU-s at "
            f"{m['has_gpu_violations']:.1%} -> tessera {m['tessera']} {m['tessera_cost']:.1f} at "
            f"{m['tessera_violations']:.1%} ({how})"
        )
    ratios = [m["ratio"] for m in matched if m["ratio"] is not None]
    lead = (
        f"has-gpu's cost / tessera's at equal or fewer violations {min(ratios):.2f}-"
        f"{max(ratios):.2f}x ({sum(r > 1 for r in ratios)} of {len(matched)} has-gpu points "
        "beaten)"
        if ratios
        else "no matched points"
    )
    default = matched[0]  # has-gpu's own setting (up 0.9, batch 1) comes first
    if default["ratio"] is not None and default["ratio"] < 1:
        lead += f"; at has-gpu's default ({default['has_gpu']}) it is {1 / default['ratio']:.2f}x dearer"
    return lead + (" [" + "; ".join(parts) + "]" if detail else "")


def _frontier_plot(frontier: dict[str, dict[str, Any]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(1, len(frontier), figsize=(5 * len(frontier), 3.6), squeeze=False)
    for ax, (setting, f) in zip(axes[0], frontier.items(), strict=True):
        for name, marker in (("has-gpu", "s"), ("tessera", "o")):
            pts = sorted(
                (p["cost_gpu_s"], 100 * p["slo_violation_rate"])
                for p in f["points"]
                if p["policy"] == name
            )
            ax.scatter(*zip(*pts, strict=True), marker=marker, s=22, label=name)
            front, best = [], float("inf")  # the lower-left envelope
            for c, v in pts:
                if v < best:
                    front.append((c, v))
                    best = v
            ax.step(*zip(*front, strict=True), where="post", lw=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(
            FuncFormatter(lambda x, _: f"{x:g}" if f"{x:g}"[0] in "125" else "")
        )
        ax.tick_params(axis="x", which="both", labelsize=7)
        ax.set_title(setting, fontsize=9)
        ax.set_xlabel("tenant cost (GPU-seconds)")
        ax.set_ylabel("SLO violations (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _papers_claims(r: dict[str, dict[str, float]]) -> str:
    """The two comparisons the HAS-GPU paper reports, measured here, whichever way they go."""
    h, k, f = r["has-gpu"], r["kserve-kpa"], r["fast-gshare"]
    return (
        f"has-gpu vs kserve-kpa: {_ratio(k['cost_gpu_s'], h['cost_gpu_s']):.1f}x lower tenant "
        f"cost, SLO violations {h['slo_violation_rate']:.2%} vs {k['slo_violation_rate']:.2%}; "
        f"vs fast-gshare: {_times(f['cost_gpu_s'], h['cost_gpu_s'], 'lower', 'higher')} cost, "
        f"{_times(f['slo_violation_rate'], h['slo_violation_rate'], 'fewer', 'more')} "
        "violations (paper: 10.8x with better SLOs; 1.72x and 4.8x)"
    )


def _times(theirs: float, ours: float, better: str, worse: str) -> str:
    """'2.00x fewer' / '1.50x more' (of ours against theirs); 'none either' when both are 0,
    'none vs X' or 'X vs none' when one is."""
    if theirs == ours == 0:
        return "equal (none either)"
    if ours == 0 or theirs == 0:
        return f"{ours:.3g} vs {theirs:.3g}"
    r = theirs / ours
    return f"{r:.2f}x {better}" if r >= 1 else f"{1 / r:.2f}x {worse}"


def _vs_exclusive(h: dict[str, float], e: dict[str, float], who: str = "has-gpu") -> str:
    """A slicing policy against the whole-GPU batching baseline, on both cost and violations."""
    cost = _ratio(e["cost_gpu_s"], h["cost_gpu_s"])
    cheaper = f"{cost:.1f}x lower" if cost >= 1 else f"{1 / cost:.1f}x higher"
    hv, ev = h["slo_violation_rate"], e["slo_violation_rate"]
    slo = "fewer" if hv < ev else "more" if hv > ev else "as many"
    where = (
        "exclusive-batched wins on SLO violations and tail latency"
        if ev < hv or (ev == hv and e["p99_latency_ms"] < h["p99_latency_ms"])
        else "exclusive-batched does not win on SLOs here"
    )
    return (
        f"{who} vs exclusive-batched (whole GPUs + dynamic batching): {cheaper} tenant cost, "
        f"{slo} SLO violations ({hv:.2%} vs {ev:.2%}; p99 {h['p99_latency_ms']:.2f} vs "
        f"{e['p99_latency_ms']:.2f} ms), GPUs held {h['gpus_held_mean']:.2f} vs "
        f"{e['gpus_held_mean']:.2f}. {where}; its cost is at least one whole GPU per model."
    )


def _tessera_vs_has_gpu(t: dict[str, float], h: dict[str, float]) -> str:
    """Our policy against has-gpu on tenant cost and SLO violations, whichever way it goes."""
    cost = _ratio(h["cost_gpu_s"], t["cost_gpu_s"])
    cheaper = f"{cost:.2f}x lower" if cost >= 1 else f"{1 / cost:.2f}x higher"
    tv, hv = t["slo_violation_rate"], h["slo_violation_rate"]
    slo = "fewer" if tv < hv else "more" if tv > hv else "as many"
    wins = cost >= 1 and tv <= hv
    return (
        f"tessera vs has-gpu: {cheaper} tenant cost, {slo} SLO violations "
        f"({tv:.2%} vs {hv:.2%}) - {'a win on both' if wins else 'not a win on both'}"
    )


def _tradeoff(rows: dict[str, dict[str, float]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, r in rows.items():
        ax.scatter(r["cost_gpu_s"], 100 * r["slo_violation_rate"], s=40)
        ax.annotate(name, (r["cost_gpu_s"], 100 * r["slo_violation_rate"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("tenant cost (GPU-seconds of SM x quota area)")
    ax.set_ylabel("SLO violations (%)")
    fig.tight_layout()
    return fig


def _timeline(results: dict[str, GpuClusterResult]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 4.6), sharex=True)
    for name, res in results.items():
        a1.step(res.timeline_s, res.area_timeline, where="post", lw=1, label=name)
        a2.step(res.timeline_s, res.held_timeline, where="post", lw=1, label=name)
    a1.set_ylabel("reserved area (GPUs)")
    a1.set_yscale("log")
    a2.set_ylabel("GPUs held")
    a2.set_xlabel("seconds")
    a1.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return fig
