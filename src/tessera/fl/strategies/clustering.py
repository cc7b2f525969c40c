"""DBSCAN and the Calinski-Harabasz score in numpy, for FedLesScan's client tiers.

FedLesScan groups clients by behaviour (training-time EMA, missed-round
penalty) with DBSCAN, trying a range of radii and keeping the clustering
with the best Calinski-Harabasz score. Written here (about 80 lines) rather
than taking scikit-learn as a dependency for one call. Deterministic: points
are visited in index order. Quadratic in the number of points (a distance
matrix), which is fine for the hundreds of clients a FedLess population has.
"""

from __future__ import annotations

import numpy as np

NOISE = -1


def standardise(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column; a constant column becomes 0."""
    x = np.asarray(x, dtype=float)
    std = x.std(axis=0)
    out: np.ndarray = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return out


def distances(x: np.ndarray) -> np.ndarray:
    """Euclidean distance between every pair of rows."""
    diff = x[:, None, :] - x[None, :, :]
    out: np.ndarray = np.sqrt((diff**2).sum(axis=-1))
    return out


def dbscan(dist: np.ndarray, eps: float, min_samples: int = 2) -> np.ndarray:
    """Labels 0, 1, ... per cluster, NOISE (-1) for points in no cluster.

    A core point has at least `min_samples` points (itself included) within
    `eps`; a cluster is everything density-reachable from a core point; a
    border point joins the first cluster that reaches it.
    """
    n = dist.shape[0]
    near = dist <= eps
    core = near.sum(axis=1) >= min_samples
    labels = np.full(n, NOISE, dtype=int)
    cluster = 0
    for i in range(n):
        if labels[i] != NOISE or not core[i]:
            continue
        labels[i] = cluster
        stack = [i]
        while stack:
            j = stack.pop()
            for q in np.flatnonzero(near[j]):
                if labels[q] == NOISE:
                    labels[q] = cluster
                    if core[q]:
                        stack.append(int(q))
        cluster += 1
    return labels


def noise_as_singletons(labels: np.ndarray) -> np.ndarray:
    """Give every noise point a cluster of its own (numbered after the real ones)."""
    out = labels.copy()
    nxt = int(labels.max(initial=NOISE)) + 1
    for i in np.flatnonzero(labels == NOISE):
        out[i] = nxt
        nxt += 1
    return out


def calinski_harabasz(x: np.ndarray, labels: np.ndarray) -> float:
    """Between-group over within-group dispersion, each per degree of freedom.

    [sum_j n_j |c_j - c|^2 / (k - 1)] / [sum_i |x_i - c_(i)|^2 / (n - k)];
    +inf when the clusters have no inner spread; needs 1 < k < n.
    """
    n, k = len(x), len(set(labels.tolist()))
    centre = x.mean(axis=0)
    between = within = 0.0
    for lab in sorted(set(labels.tolist())):
        members = x[labels == lab]
        c = members.mean(axis=0)
        between += len(members) * float(((c - centre) ** 2).sum())
        within += float(((members - c) ** 2).sum())
    if within == 0:
        return float("inf")
    return (between / (k - 1)) / (within / (n - k))


EPS_GRID = tuple(float(e) for e in np.arange(0.01, 2.0, 0.1))
"""Radii tried on standardised features (FedLesScan: 0.01 to 2 in steps of 0.1)."""


def best_clusters(features: np.ndarray, min_samples: int = 2) -> np.ndarray:
    """Cluster labels (noise as singletons) of the best-scoring DBSCAN over `EPS_GRID`.

    Each radius is scored by Calinski-Harabasz with the noise points counted
    as one group (so a radius that leaves many points unclustered scores
    badly), among clusterings with 1 < k < n groups; the best is the highest
    score, then the fewest noise points, then the smallest radius. When none
    qualifies: one cluster if all rows are equal, else every point alone.
    """
    n = len(features)
    if n == 0:
        return np.zeros(0, dtype=int)
    x = standardise(features)
    if not np.any(x):
        return np.zeros(n, dtype=int)
    dist = distances(x)
    best: np.ndarray | None = None
    best_key = (-1.0, 0)
    for eps in EPS_GRID:
        labels = dbscan(dist, eps, min_samples)
        k = len(set(labels.tolist()))
        if 1 < k < n:
            key = (calinski_harabasz(x, labels), -int((labels == NOISE).sum()))
            if best is None or key > best_key:
                best, best_key = labels, key
    return noise_as_singletons(best) if best is not None else np.arange(n)
