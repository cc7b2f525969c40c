"""Tessera's simulator against plain SimPy on the same M/M/c queue.

Both sides simulate one FIFO queue served by `c` servers, with Poisson
arrivals until the horizon `arrivals / lam` and exponential service; work
admitted before the horizon runs to completion. Both keep one record per
invocation (arrival, start and end times) and both are timed end to end:

* Tessera: `run_scenario(case.scenario(n, seed))`, i.e. building the
  scenario, the run, the result arrays and the metrics.
* SimPy: building the `Environment`, the run, and turning the record lists
  into numpy arrays.

Random numbers are drawn the same way on both sides: from numpy Generators,
in blocks of `tessera.sim.random.BLOCK`, seeded as Tessera seeds a scenario's
only function. The two models therefore see the same arrival and service
streams and should produce the same records, which the output checks
alongside the Erlang-C mean wait.

    python benchmarks/sim_vs_simpy.py [--arrivals N] [--repeat R] [--seed S] [--json]

Reports invocations simulated per second for each side (best of R runs, after
one small untimed warm-up run per side) and the ratio Tessera / SimPy; the goal
is >= 2x.
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS/OpenMP pools, before numpy is imported anywhere.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Generator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import simpy  # noqa: E402

from tessera.sim.engine import run_scenario  # noqa: E402
from tessera.sim.random import BLOCK  # noqa: E402
from tessera.sim.validation import QueueCase, batch_means  # noqa: E402

GOAL = 2.0
CASES = (
    QueueCase("M/M/5 rho=0.8", lam=8.0, mu=2.0, c=5),
    QueueCase("M/M/1 rho=0.5", lam=0.5, mu=1.0, c=1),
)
RNG_NOTE = (
    f"both sides: numpy PCG64 Generators, exponential variates pre-drawn in blocks of {BLOCK}, "
    "seeded like Tessera's scenario (same streams)"
)


# --- SimPy side -------------------------------------------------------------------------------
class Blocks:
    """Exponential variates with mean `mean`, drawn `BLOCK` at a time and handed out one by one."""

    __slots__ = ("_buf", "_i", "_mean", "_rng")

    def __init__(self, rng: np.random.Generator, mean: float) -> None:
        self._rng = rng
        self._mean = mean
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.exponential(self._mean, BLOCK).tolist()
            self._i = 0
        x = self._buf[self._i]
        self._i += 1
        return x


def streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Arrival and service generators, derived from `seed` as Tessera derives its first function's."""
    (function_ss,) = np.random.SeedSequence(seed).spawn(1)
    arrival_ss, service_ss, _cold_start_ss = function_ss.spawn(3)
    return np.random.default_rng(arrival_ss), np.random.default_rng(service_ss)


@dataclass
class Records:
    arrival_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray


def run_simpy(case: QueueCase, arrivals: int, seed: int) -> Records:
    """The M/M/c queue as a textbook SimPy model: a source process, a Resource, one process per customer."""
    horizon = arrivals / case.lam
    a_rng, s_rng = streams(seed)
    gap = Blocks(a_rng, 1.0 / case.lam)
    service = Blocks(s_rng, 1.0 / case.mu)
    arrival: list[float] = []
    start: list[float] = []
    end: list[float] = []

    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=case.c)

    def customer() -> Generator[simpy.Event, Any, None]:
        rid = len(arrival)
        arrival.append(env.now)
        start.append(-1.0)
        end.append(-1.0)
        with servers.request() as req:
            yield req
            start[rid] = env.now
            yield env.timeout(service())
            end[rid] = env.now

    def source() -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(gap())
            if env.now >= horizon:
                return  # no arrivals from the horizon on; admitted work still completes
            env.process(customer())

    env.process(source())
    env.run()
    return Records(
        np.asarray(arrival, dtype=float),
        np.asarray(start, dtype=float),
        np.asarray(end, dtype=float),
    )


def run_tessera(case: QueueCase, arrivals: int, seed: int) -> Records:
    fr = run_scenario(case.scenario(arrivals, seed)).functions["f"]
    return Records(fr.arrival_s, fr.start_s, fr.end_s)


# --- measurement ------------------------------------------------------------------------------
def timed(fn: Callable[[], Records]) -> tuple[float, Records]:
    gc.collect()
    t0 = time.perf_counter()
    rec = fn()
    return time.perf_counter() - t0, rec


def mean_wait(rec: Records, warmup_s: float) -> tuple[float, float]:
    """Mean queueing delay of completed invocations that arrived after the warm-up, with a 95% half-width."""
    keep = (rec.end_s >= 0) & (rec.arrival_s >= warmup_s)
    return batch_means(rec.start_s[keep] - rec.arrival_s[keep])


def compare(a: Records, b: Records) -> dict[str, Any]:
    """Whether two runs produced the same per-invocation records (up to float rounding)."""
    if len(a.arrival_s) != len(b.arrival_s):
        return {"identical": False, "max_abs_diff_s": None}
    diff = max(
        (float(np.max(np.abs(x - y))) if len(x) else 0.0)
        for x, y in ((a.arrival_s, b.arrival_s), (a.start_s, b.start_s), (a.end_s, b.end_s))
    )
    return {"identical": diff < 1e-6, "max_abs_diff_s": diff}


def bench(case: QueueCase, arrivals: int, repeat: int, seed: int) -> dict[str, Any]:
    best = {"simpy": float("inf"), "tessera": float("inf")}
    recs: dict[str, Records] = {}
    runners = {
        "simpy": lambda: run_simpy(case, arrivals, seed),
        "tessera": lambda: run_tessera(case, arrivals, seed),
    }
    for r in range(repeat):
        for side, fn in runners.items():  # interleaved, so drift hits both sides alike
            dt, recs[side] = timed(fn)
            best[side] = min(best[side], dt)
            print(f"  [{case.label}] run {r + 1}/{repeat} {side:<7} {dt:7.3f} s", file=sys.stderr)
    warmup_s = arrivals / case.lam * 0.02  # QueueCase.scenario's default warm-up
    n = {side: len(rec.arrival_s) for side, rec in recs.items()}
    rate = {side: n[side] / best[side] for side in best}
    waits = {side: mean_wait(rec, warmup_s) for side, rec in recs.items()}
    theory = case.theory_wait_s()
    return {
        "case": case.label,
        "lam": case.lam,
        "mu": case.mu,
        "c": case.c,
        "invocations": n,
        "best_s": best,
        "inv_per_s": rate,
        "ratio": rate["tessera"] / rate["simpy"],
        "mean_wait_s": {side: w[0] for side, w in waits.items()},
        "mean_wait_halfwidth_s": {side: w[1] for side, w in waits.items()},
        "theory_wait_s": theory,
        "wait_rel_err": {side: w[0] / theory - 1 for side, w in waits.items()},
        "records_match": compare(recs["simpy"], recs["tessera"]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--arrivals", type=int, default=200_000, help="arrivals per case (default 200000)"
    )
    p.add_argument(
        "--repeat", type=int, default=3, help="runs per side; the best is kept (default 3)"
    )
    p.add_argument("--seed", type=int, default=1, help="scenario seed (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = p.parse_args(argv)
    if args.arrivals < 1 or args.repeat < 1:
        p.error("--arrivals and --repeat must be >= 1")

    # One small untimed run per side first: numpy loads some submodules on first use,
    # which would otherwise land in whichever side's first timed run touches them.
    for case in CASES:
        run_simpy(case, min(args.arrivals, 2_000), args.seed)
        run_tessera(case, min(args.arrivals, 2_000), args.seed)
    results = []
    for case in CASES:
        print(f"{case.label}: {args.arrivals} arrivals x {args.repeat} runs", file=sys.stderr)
        results.append(bench(case, args.arrivals, args.repeat, args.seed))
    worst = min(r["ratio"] for r in results)
    out = {
        "arrivals": args.arrivals,
        "repeat": args.repeat,
        "seed": args.seed,
        "timing": "best of repeat, time.perf_counter, end to end per side",
        "rng": RNG_NOTE,
        "python": platform.python_version(),
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "cases": results,
        "ratio_min": worst,
        "goal": GOAL,
        "goal_met": worst >= GOAL,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0

    print(
        f"Tessera sim vs SimPy {simpy.__version__} (Python {out['python']}, numpy {out['numpy']}), "
        f"{args.arrivals} arrivals per case, best of {args.repeat}"
    )
    print(f"random numbers: {RNG_NOTE}")
    for r in results:
        n, rate, w, hw = (
            r["invocations"],
            r["inv_per_s"],
            r["mean_wait_s"],
            r["mean_wait_halfwidth_s"],
        )
        err = r["wait_rel_err"]
        match = r["records_match"]
        diff = "n/a" if match["max_abs_diff_s"] is None else f"{match['max_abs_diff_s']:.2e} s"
        print()
        print(f"{r['case']} (lam={r['lam']:g}, mu={r['mu']:g}, c={r['c']})")
        print(f"  invocations      simpy {n['simpy']:>10,}   tessera {n['tessera']:>10,}")
        print(
            f"  best time        simpy {r['best_s']['simpy']:>9.3f}s   "
            f"tessera {r['best_s']['tessera']:>9.3f}s"
        )
        print(
            f"  inv/s            simpy {rate['simpy']:>10,.0f}   tessera {rate['tessera']:>10,.0f}"
        )
        print(f"  ratio            {r['ratio']:.2f}x")
        print(
            f"  mean wait (s)    simpy {w['simpy']:.4f} +/- {hw['simpy']:.4f} ({err['simpy']:+.1%})   "
            f"tessera {w['tessera']:.4f} +/- {hw['tessera']:.4f} ({err['tessera']:+.1%})   "
            f"Erlang-C {r['theory_wait_s']:.4f}"
        )
        print(
            f"  records          {'identical' if match['identical'] else 'differ'} "
            f"(max |diff| {diff})"
        )
    print()
    verdict = "met" if out["goal_met"] else "NOT met"
    print(
        f"tessera/simpy invocation rate: {worst:.1f}x (worst of {len(results)} cases; "
        f"goal >= {GOAL:g}x: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
