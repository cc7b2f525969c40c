"""One latency surface per (gpu, model, batch): latency over SM share and time quota.

Why this shape: under token time-slicing a request is held back by whichever is slower, its
own GPU/host time at that SM share, T(sm), or the time the quota lets it run per window,
H(quota). Latency is a smooth maximum of the two, ``(T^k + H^k)^(1/k)`` in log space, fitted
with one free value per measured SM share and per quota (smoothness-penalised, robust loss).
What the law misses (MPS step effects, quota thresholds that move with the SM share) stays as a
residual grid; a missing grid cell borrows a robust weighted mean of its neighbours' residuals
(one and two steps along SM share and quota, one along batch). A single-quota profile (green
contexts, no time slicing) is an Amdahl-style line ``a + w / sm^p`` times half its interpolated
residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from tessera.gpu.profiles import FloatArray

SMOOTH_MAX_K = 8.0
"""Sharpness of the smooth maximum of log T and log H (8: a soft corner, chosen by CV)."""
OBSERVED_SHRINK = 0.5
"""Share of an observed cell's residual kept: half, since measurements carry noise."""
BORROW_FROM: tuple[tuple[int, int, int, float], ...] = (
    *((0, ds, 0, 1.0 if abs(ds) == 1 else 0.5) for ds in (-1, 1, -2, 2)),  # SM share
    *((0, 0, dq, 1.0 if abs(dq) == 1 else 0.5) for dq in (-1, 1, -2, 2)),  # quota
    (-1, 0, 0, 1.0),  # batch
    (1, 0, 0, 1.0),
)
"""(batch, SM, quota) steps and weights of the cells a missing cell borrows residuals from.

Along the axes only (diagonal cells and a third step lost in CV), the second step at half
weight. Chosen by 10-fold CV on the V100 rows of the first half of the models (alphabetical):
MAPE 2.74 (the 6 nearest, plain median) -> 2.66; with the Huber step below 2.64."""
BORROW_HUBER = 0.02
"""Neighbour residuals beyond this (log) distance from the centre count less (Huber; CV as
above, 0.015-0.03 about equal)."""
BORROW_HUBER_STEPS = 5
"""Reweighting steps of the Huber mean, from the weighted median."""


def smooth_max(a: FloatArray, b: FloatArray, k: float = SMOOTH_MAX_K) -> FloatArray:
    """log((e^(k a) + e^(k b))^(1/k)): the log of a smooth maximum of e^a and e^b."""
    m = np.maximum(a, b)
    out: FloatArray = m + np.log(np.exp(k * (a - m)) + np.exp(k * (b - m))) / k
    return out


@dataclass(frozen=True, slots=True)
class Surface:
    """Completed log-latency grid over (log sm_pct, quota_pct) for one batch size."""

    log_sm: FloatArray  # (ns,) ascending
    quota: FloatArray  # (nq,) ascending
    log_lat: FloatArray  # (ns, nq) complete, no NaN
    line: tuple[float, float, float] | None = None  # Amdahl (log a, log w, p) for one-quota data
    line_resid: FloatArray | None = None  # (ns,) residual of the line at the grid
    quota_law: FloatArray | None = None  # (nq,) fitted log quota-bound time H per quota

    def __call__(self, sm_pct: FloatArray, quota_pct: FloatArray) -> FloatArray:
        """Log latency at each (sm_pct, quota_pct)."""
        x = np.log(sm_pct)
        if self.line is not None and self.line_resid is not None:
            r = np.interp(x, self.log_sm, self.line_resid)
            return _amdahl(self.line, x) + OBSERVED_SHRINK * r
        return _bilinear(self.log_sm, self.quota, self.log_lat, x, quota_pct)


def _bilinear(
    xs: FloatArray, ys: FloatArray, z: FloatArray, x: FloatArray, y: FloatArray
) -> FloatArray:
    """Bilinear interpolation of z over the grid (xs, ys), clamped at the edges."""

    def locate(grid: FloatArray, v: FloatArray) -> tuple[np.ndarray, FloatArray]:
        if grid.size == 1:
            return np.zeros(v.shape, dtype=np.intp), np.zeros(v.shape)
        v = np.clip(v, grid[0], grid[-1])
        i = np.clip(np.searchsorted(grid, v, side="right") - 1, 0, grid.size - 2)
        t = (v - grid[i]) / (grid[i + 1] - grid[i])
        return i, t

    i, tx = locate(xs, x)
    j, ty = locate(ys, y)
    i1 = np.minimum(i + 1, xs.size - 1)
    j1 = np.minimum(j + 1, ys.size - 1)
    top = z[i, j] * (1 - ty) + z[i, j1] * ty
    bot = z[i1, j] * (1 - ty) + z[i1, j1] * ty
    out: FloatArray = top * (1 - tx) + bot * tx
    return out


def _amdahl(theta: tuple[float, float, float], log_sm: FloatArray) -> FloatArray:
    la, lw, p = theta
    out: FloatArray = np.logaddexp(la, lw - p * log_sm)
    return out


def fit_line(log_sm: FloatArray, log_lat: FloatArray) -> tuple[float, float, float]:
    """Fit log(a + w / sm^p) to one SM sweep (least squares in log space)."""
    if log_sm.size < 3:
        slope = 0.0
        if log_sm.size == 2:
            slope = float(np.clip(-(log_lat[1] - log_lat[0]) / (log_sm[1] - log_sm[0]), 0, 2))
        return (float(np.min(log_lat)) - 30.0, float(log_lat[0] + slope * log_sm[0]), slope)
    x0 = np.array([np.min(log_lat) - 0.7, np.max(log_lat + log_sm), 1.0])

    def res(th: FloatArray) -> FloatArray:
        return _amdahl((th[0], th[1], th[2]), log_sm) - log_lat

    th = least_squares(res, x0, bounds=([-50, -50, 0.05], [50, 50, 3.0])).x
    return (float(th[0]), float(th[1]), float(th[2]))


def fit_smooth_max(log_sm: FloatArray, quota: FloatArray, grid: FloatArray) -> FloatArray:
    """Fit the smooth-max law to a (ns, nq) log-latency grid with NaN holes; return the law."""
    return fit_smooth_max_terms(log_sm, quota, grid)[0]


def fit_smooth_max_terms(
    log_sm: FloatArray, quota: FloatArray, grid: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The smooth-max law on the grid and its terms: (law, log T per SM share, log H per quota)."""
    ns, nq = grid.shape
    ok = ~np.isnan(grid)
    si, qi = np.nonzero(ok)
    ly = grid[ok]
    lt0 = np.array([np.nanmin(grid[s]) if ok[s].any() else np.nan for s in range(ns)])
    lt0 = np.where(np.isnan(lt0), np.nanmean(lt0), lt0)
    lh0 = np.array([np.nanmax(grid[:, q]) if ok[:, q].any() else np.nan for q in range(nq)])
    lh0 = np.where(np.isnan(lh0), np.nanmin(lt0), lh0) - 0.5
    dx = np.diff(log_sm) if ns > 1 else np.ones(0)

    def res(th: FloatArray) -> FloatArray:
        lt, lh = th[:ns], th[ns:]
        parts = [smooth_max(lt[si], lh[qi]) - ly]
        if ns > 2:
            parts.append(0.3 * np.diff(np.diff(lt) / dx) * np.mean(dx))
        if nq > 2:
            parts.append(0.3 * np.diff(lh, 2))
        return np.concatenate(parts)

    th = least_squares(res, np.concatenate([lt0, lh0]), loss="soft_l1", f_scale=0.05).x
    law: FloatArray = smooth_max(th[:ns, None], th[None, ns:])
    return law, th[:ns].copy(), th[ns:].copy()


def complete_batches(
    log_sm: FloatArray, quota: FloatArray, grids: list[FloatArray]
) -> tuple[list[FloatArray], list[FloatArray]]:
    """Complete each batch's (ns, nq) log grid: law + residuals borrowed from neighbours.

    ``grids`` are one model's batches in ascending batch order on a shared grid (NaN = not
    measured). Observed cells keep `OBSERVED_SHRINK` of their residual; missing cells borrow
    from their measured neighbours in SM share, quota and batch (`borrow_residuals`). Returns the
    completed grids and each batch's fitted log quota-bound time per quota (the law's H).
    """
    terms = [fit_smooth_max_terms(log_sm, quota, g) for g in grids]
    laws = [t[0] for t in terms]
    res = np.stack([g - law for g, law in zip(grids, laws, strict=True)])  # (nb, ns, nq)
    filled = np.where(np.isnan(res), borrow_residuals(res), OBSERVED_SHRINK * res)
    return [laws[b] + filled[b] for b in range(len(grids))], [t[2] for t in terms]


def borrow_residuals(res: FloatArray) -> FloatArray:
    """Residual each cell of a (batch, SM share, quota) grid borrows from its neighbours.

    A robust (Huber) weighted mean of the measured cells along each axis (`BORROW_FROM`),
    started from their weighted median: one outlier among the neighbours moves it little. A
    cell with no measured neighbour borrows 0.
    """
    nb, ns, nq = res.shape
    r = max(max(abs(db), abs(ds), abs(dq)) for db, ds, dq, _ in BORROW_FROM)
    pad = np.pad(res, r, constant_values=np.nan)
    vals = np.stack(
        [
            pad[r + db : r + db + nb, r + ds : r + ds + ns, r + dq : r + dq + nq]
            for db, ds, dq, _ in BORROW_FROM
        ]
    )
    seen = ~np.isnan(vals)
    w = np.array([b[3] for b in BORROW_FROM])[:, None, None, None] * seen
    vals = np.where(seen, vals, 0.0)
    total = w.sum(axis=0)
    has = total > 0
    centre = _weighted_median(vals, w)
    for _ in range(BORROW_HUBER_STEPS):
        dev = np.abs(vals - centre)
        ww = w * np.minimum(1.0, BORROW_HUBER / np.maximum(dev, 1e-12))
        centre = (ww * vals).sum(axis=0) / np.where(has, ww.sum(axis=0), 1.0)
    out: FloatArray = np.where(has, centre, 0.0)
    return out


def _weighted_median(vals: FloatArray, w: FloatArray) -> FloatArray:
    """Weighted median along axis 0 (the mean of the two middle values at an exact tie)."""
    order = np.argsort(np.where(w > 0, vals, np.inf), axis=0, kind="stable")
    sv = np.take_along_axis(vals, order, 0)
    sw = np.take_along_axis(w, order, 0)
    cum = np.cumsum(sw, axis=0)
    half = cum[-1] / 2
    k = np.argmax(cum >= half - 1e-12, axis=0)
    lo = np.take_along_axis(sv, k[None], 0)[0]
    hi = np.take_along_axis(sv, np.minimum(k + 1, sv.shape[0] - 1)[None], 0)[0]
    tie = np.isclose(np.take_along_axis(cum, k[None], 0)[0], half)
    out: FloatArray = np.where(tie, (lo + hi) / 2, lo)
    return out
