"""Textbook queues as scenarios, and the statistics to compare them with theory.

Used by the `sim-queueing` experiment, the tests and the SimPy benchmark, so
all three check the very same models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tessera.core.queueing import md1_mean_wait_s, mmc_mean_wait_s
from tessera.sim.scenario import Scenario, from_dict

# Student t quantile t_{0.975, 19}, for 95% intervals over 20 batch means.
T975_19 = 2.093
BATCHES = 20


@dataclass(frozen=True)
class QueueCase:
    """An M/M/c (exponential service) or M/D/1 (deterministic service) queue."""

    label: str
    lam: float
    mu: float
    c: int
    deterministic: bool = False

    @property
    def rho(self) -> float:
        return self.lam / (self.c * self.mu)

    def theory_wait_s(self) -> float:
        if self.deterministic:
            return md1_mean_wait_s(self.lam, 1.0 / self.mu)
        return mmc_mean_wait_s(self.lam, self.mu, self.c)

    def scenario(self, arrivals: int, seed: int, warmup_frac: float = 0.02) -> Scenario:
        duration = arrivals / self.lam
        service = (
            {"kind": "deterministic", "s": 1.0 / self.mu}
            if self.deterministic
            else {"kind": "exponential", "mean_s": 1.0 / self.mu}
        )
        return from_dict(
            {
                "name": self.label,
                "seed": seed,
                "duration_s": duration,
                "warmup_s": duration * warmup_frac,
                "autoscaler_interval_s": max(1.0, duration / 100),
                "functions": [
                    {
                        "name": "f",
                        "workload": {"kind": "poisson", "rate_per_s": self.lam},
                        "service_time": service,
                        "concurrency": 1,
                    }
                ],
                "autoscaler": {"kind": "fixed", "replicas": self.c},
            }
        )


CASES = (
    QueueCase("M/M/1 rho=0.5", lam=0.5, mu=1.0, c=1),
    QueueCase("M/M/2 rho=0.7", lam=1.4, mu=1.0, c=2),
    QueueCase("M/M/5 rho=0.8", lam=8.0, mu=2.0, c=5),
    QueueCase("M/M/10 rho=0.9", lam=9.0, mu=1.0, c=10),
    QueueCase("M/D/1 rho=0.5", lam=0.5, mu=1.0, c=1, deterministic=True),
    QueueCase("M/D/1 rho=0.8", lam=0.8, mu=1.0, c=1, deterministic=True),
)


def batch_means(values: np.ndarray, batches: int = BATCHES) -> tuple[float, float]:
    """Mean and 95% half-width from `batches` consecutive batch means."""
    n = len(values) // batches
    if n == 0:
        return float(np.mean(values)) if len(values) else math.nan, math.inf
    means = values[: n * batches].reshape(batches, n).mean(axis=1)
    half = T975_19 * float(means.std(ddof=1)) / math.sqrt(batches)
    return float(values.mean()), half
