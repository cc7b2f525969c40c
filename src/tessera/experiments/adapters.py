"""Experiment `adapters`: one unmodified function served by every platform adapter, same answers.

Builds the example `stats` function for each platform (`tessera fn build
--platform P`), serves each build output for real on loopback with that
platform's runtime (functions-framework for Cloud Functions, awslambdaric
against a local Runtime API for Lambda, the OpenWhisk action protocol, ...:
the conformance targets), sends every platform the same inputs and compares
the answers byte for byte after JSON parsing. A platform whose runtime package
is not installed is reported as skipped, with the reason.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tessera.experiments.base import ExperimentResult, RunConfig, register

INPUTS: list[dict[str, Any]] = [
    {"values": [1, 2, 3, 4, 10]},
    {"values": [2.5, -1, 7.25]},
    {},
]


def _serve_all(platforms: list[str], calls: int, progress: Any) -> dict[str, dict[str, Any]]:
    import httpx

    from tessera.conformance.suite import target
    from tessera.functions.examples import example

    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tessera-adapters-") as tmp:
        for i, p in enumerate(platforms):
            progress(i / len(platforms), f"serving stats on {p}")
            work = Path(tmp) / p
            work.mkdir()
            try:
                with target(p)(example("stats"), work) as invoke:
                    answers = []
                    for event in INPUTS:
                        status, _h, body = invoke(json.dumps(event).encode(), "application/json")
                        answers.append([status, json.loads(body)])
                    lat = []
                    body = json.dumps(INPUTS[0]).encode()
                    for _ in range(calls):
                        t0 = time.perf_counter()
                        invoke(body, "application/json")
                        lat.append(time.perf_counter() - t0)
                out[p] = {"answers": answers, "p50_ms": 1000 * statistics.median(lat)}
            except (ImportError, RuntimeError, OSError, httpx.HTTPError) as e:
                out[p] = {"skipped": f"{type(e).__name__}: {e}"}
    return out


@register(
    "adapters",
    "gFaaS adapters: one function, every platform",
    "The example `stats` function, unchanged, built for and served by each platform adapter "
    "(local, Kubernetes, Cloud Functions, Knative, Lambda, OpenWhisk, OpenFaaS, Fission, Nuclio, "
    "Fn) on loopback; the same inputs must give identical outputs everywhere.",
    order=40,
)
def run(cfg: RunConfig) -> ExperimentResult:
    from tessera.conformance.suite import TARGETS

    calls = 50 if cfg.quick else 500
    served = _serve_all(list(TARGETS), calls, cfg.progress)
    cfg.progress(1.0, "done")
    ok = {p: r for p, r in served.items() if "answers" in r}
    reference = ok.get("local", next(iter(ok.values()), {})).get("answers")
    rows = {
        p: {
            "identical_to_local": float(r["answers"] == reference),
            "warm_p50_ms": r["p50_ms"],
            "inputs": float(len(INPUTS)),
        }
        for p, r in ok.items()
    }
    identical = all(r["answers"] == reference for r in ok.values())
    skipped = {p: r["skipped"] for p, r in served.items() if "skipped" in r}
    notes = [
        "Inputs -> answers (HTTP status, parsed JSON body), as the local platform gave them: "
        + "; ".join(
            f"{json.dumps(e)} -> {a[0]} {json.dumps(a[1])}"
            for e, a in zip(INPUTS, reference or [], strict=False)
        ),
        "warm_p50_ms: one request at a time from this process, through each platform's own "
        "server (Flask's development server for several of them, as their local runtimes use); "
        "benchmarks/adapter_overhead.py compares each adapter with a native handler on the same "
        "runtime.",
    ]
    if skipped:
        notes.append("Skipped: " + "; ".join(f"{p}: {why}" for p, why in skipped.items()))
    return ExperimentResult(
        experiment="adapters",
        policies=rows,
        meta={
            "platforms_served": len(ok),
            "identical_outputs": identical,
            "skipped": skipped,
            "answers": {p: r["answers"] for p, r in ok.items()},
        },
        headline=f"{len(ok)} platforms served the unmodified function; outputs identical: "
        f"{'yes' if identical else 'NO'}",
        notes=notes,
    )
