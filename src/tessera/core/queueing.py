"""Closed-form queueing results the simulator is checked against.

Erlang C gives the mean waiting time of M/M/c; Pollaczek-Khinchine gives it
for M/G/1 (so M/D/1). Both are textbook results; see e.g. Kleinrock,
"Queueing Systems", vol. 1.
"""

from __future__ import annotations


def erlang_c(lam: float, mu: float, c: int) -> float:
    """Probability that an arrival waits in M/M/c (arrival rate lam, service rate mu, c servers)."""
    a = lam / mu
    rho = a / c
    if not 0 < rho < 1:
        raise ValueError(f"utilisation must be in (0, 1), got {rho}")
    # sum_{k<c} a^k/k! computed stably
    term = 1.0
    total = 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    last = term * a / c  # a^c / c!
    top = last / (1 - rho)
    return top / (total + top)


def mmc_mean_wait_s(lam: float, mu: float, c: int) -> float:
    """Mean time in queue (before service) for M/M/c."""
    return erlang_c(lam, mu, c) / (c * mu - lam)


def mg1_mean_wait_s(lam: float, mean_s: float, second_moment_s2: float) -> float:
    """Pollaczek-Khinchine mean wait for M/G/1: lam E[S^2] / (2 (1 - rho))."""
    rho = lam * mean_s
    if not 0 < rho < 1:
        raise ValueError(f"utilisation must be in (0, 1), got {rho}")
    return lam * second_moment_s2 / (2 * (1 - rho))


def md1_mean_wait_s(lam: float, service_s: float) -> float:
    """M/D/1 mean wait: rho * s / (2 (1 - rho))."""
    return mg1_mean_wait_s(lam, service_s, service_s * service_s)
