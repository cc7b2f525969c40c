"""The simulator reproduces closed-form queueing results (Erlang C, Pollaczek-Khinchine).

Long runs: the arrivals per case are chosen so that the standard error of the
simulated mean wait is well under 1%, making the 3% bound a real check (a
biased simulator fails it) rather than a coin toss. Independent replications
of at most 2M arrivals each keep memory bounded.
"""

from __future__ import annotations

import numpy as np
import pytest

from tessera.core.queueing import erlang_c, md1_mean_wait_s, mmc_mean_wait_s
from tessera.sim.engine import run_scenario
from tessera.sim.validation import CASES, QueueCase, batch_means

# total arrivals per case (replications of <= 2M)
ARRIVALS = {
    "M/M/1 rho=0.5": 2_000_000,
    "M/M/2 rho=0.7": 2_000_000,
    "M/M/5 rho=0.8": 4_000_000,
    "M/M/10 rho=0.9": 10_000_000,
    "M/D/1 rho=0.5": 1_000_000,
    "M/D/1 rho=0.8": 2_000_000,
}
CHUNK = 2_000_000


def simulated_mean_wait(case: QueueCase, total: int, seed: int) -> tuple[float, float]:
    sums, counts, halves = 0.0, 0, []
    for r in range(max(1, total // CHUNK)):
        res = run_scenario(case.scenario(min(total, CHUNK), seed + 1000 * r))
        fr = res.functions["f"]
        keep = fr.arrival_s >= res.scenario.warmup_s
        waits = (fr.start_s - fr.arrival_s)[keep]
        assert (waits >= 0).all()
        sums += float(waits.sum())
        counts += len(waits)
        halves.append(batch_means(waits)[1])
    return sums / counts, float(np.mean(halves)) / np.sqrt(len(halves))


@pytest.mark.xdist_group("theory")
@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_mean_queue_delay_matches_theory_within_3pct(case: QueueCase) -> None:
    mean, half = simulated_mean_wait(case, ARRIVALS[case.label], seed=11)
    theory = case.theory_wait_s()
    err = abs(mean - theory) / theory
    assert err < 0.03, f"{case.label}: sim {mean:.4f} vs theory {theory:.4f} ({100 * err:.2f}%)"
    # the run was long enough for 3% to be meaningful
    assert half / theory < 0.03


def test_closed_forms_against_known_values() -> None:
    # M/M/1: P(wait) = rho, Wq = rho / (mu - lam)
    assert erlang_c(0.5, 1.0, 1) == pytest.approx(0.5)
    assert mmc_mean_wait_s(0.5, 1.0, 1) == pytest.approx(1.0)
    # M/M/2 with a = 1: C = 1/3, Wq = C / (2 mu - lam) = 1/3
    assert erlang_c(1.0, 1.0, 2) == pytest.approx(1 / 3)
    assert mmc_mean_wait_s(1.0, 1.0, 2) == pytest.approx(1 / 3)
    # M/D/1 is half the M/M/1 wait
    assert md1_mean_wait_s(0.8, 1.0) == pytest.approx(mmc_mean_wait_s(0.8, 1.0, 1) / 2)
    with pytest.raises(ValueError):
        erlang_c(2.0, 1.0, 2)  # rho = 1 has no steady state
