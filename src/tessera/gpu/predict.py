"""Predict inference latency of (gpu, model, batch, sm_pct, quota_pct) from profile rows.

The autoscaler and the simulated GPU device ask "how long does one batch of this model take on
this slice of this GPU?" for slices nobody measured. `Predictor` answers from profile rows
(`tessera.gpu.profiles`) in two ways:

- a *densely* profiled model (at least `DENSE_MIN_SM` SM shares per batch) gets its own latency
  surface per batch (`tessera.gpu.surface`: a smooth max of SM-bound time and quota-bound time,
  plus residuals), interpolated in log batch between measured batch sizes;
- a *sparsely* profiled model (a few anchor measurements, e.g. SM 20/50/100% at quota 100)
  is the log-log line through its anchors, bent by the shape that its `neighbours` most
  similar densely profiled models of the same GPU show around the same anchors.

Everything is numpy/scipy, deterministic, and `predict_many` evaluates whole query columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tessera.core.errors import InputError
from tessera.gpu.profiles import FloatArray, ProfileRow, ProfileTable
from tessera.gpu.surface import Surface, complete_batches, fit_line

Query = tuple[str, str, int, float, float]

DENSE_MIN_SM = 4
"""A (gpu, model) with at least this many distinct SM shares per batch gets its own surface."""


@dataclass(frozen=True, slots=True)
class _Sparse:
    """Anchor rows of a sparsely profiled model, per batch: (log sm, quota, log latency)."""

    anchors: dict[int, tuple[FloatArray, FloatArray, FloatArray]]


@dataclass(slots=True)
class _Dense:
    surfaces: dict[int, Surface] = field(default_factory=dict)
    digest: bytes = b""  # of the rows it was fitted on, so a refit can reuse it


def _key_rows(t: ProfileTable) -> dict[tuple[str, str], np.ndarray]:
    keys = np.char.add(np.char.add(t.gpu.astype(str), "\x1f"), t.model.astype(str))
    out: dict[tuple[str, str], np.ndarray] = {}
    uniq, inv = np.unique(keys, return_inverse=True)
    for n, k in enumerate(uniq):
        g, m = str(k).split("\x1f", 1)
        out[(g, m)] = np.nonzero(inv == n)[0]
    return out


def _fit_dense(t: ProfileTable) -> _Dense:
    """Surfaces for every batch of one densely profiled (gpu, model)."""
    assert t.latency_ms is not None
    s_grid = np.unique(t.sm_pct)
    q_grid = np.unique(t.quota_pct)
    batches = np.unique(t.batch)
    log_sm = np.log(s_grid)
    grids: list[FloatArray] = []
    for b in batches:
        m = t.batch == b
        si = np.searchsorted(s_grid, t.sm_pct[m])
        qi = np.searchsorted(q_grid, t.quota_pct[m])
        acc = np.zeros((s_grid.size, q_grid.size))
        cnt = np.zeros_like(acc)
        np.add.at(acc, (si, qi), np.log(t.latency_ms[m]))
        np.add.at(cnt, (si, qi), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            grids.append(np.where(cnt > 0, acc / cnt, np.nan))
    out = _Dense()
    if q_grid.size == 1:
        for b, g in zip(batches, grids, strict=True):
            ok = ~np.isnan(g[:, 0])
            theta = fit_line(log_sm[ok], g[ok, 0])
            line = Surface(log_sm[ok], q_grid, g[ok], theta, None)
            resid = g[ok, 0] - line(np.exp(log_sm[ok]), np.full(int(ok.sum()), q_grid[0]))
            out.surfaces[int(b)] = Surface(log_sm[ok], q_grid, g[ok], theta, resid)
        return out
    for b, full in zip(batches, complete_batches(log_sm, q_grid, grids), strict=True):
        out.surfaces[int(b)] = Surface(log_sm, q_grid, full)
    return out


def _batch_interp(batches: FloatArray, values: FloatArray, batch: FloatArray) -> FloatArray:
    """Log-log interpolation across batch sizes; beyond the ends, the end slope (>= 0)."""
    if batches.size == 1:
        out0: FloatArray = values[0] + np.maximum(0.0, np.log(batch / batches[0]))
        return out0
    lb = np.log(batches)
    x = np.log(batch)
    out: FloatArray = np.empty_like(x)
    for n in range(x.size):
        if lb[0] <= x[n] <= lb[-1]:
            out[n] = np.interp(x[n], lb, values[:, n])
        else:
            i = 0 if x[n] < lb[0] else lb.size - 2
            slope = max(0.0, (values[i + 1, n] - values[i, n]) / (lb[i + 1] - lb[i]))
            out[n] = values[i, n] + slope * (x[n] - lb[i])
    return out


class Predictor:
    """Latency predictor: `fit(rows)` then `predict(...)` / `predict_many(...)`, in ms.

    ``neighbours``: how many densely profiled models of the same GPU shape the prediction for
    a sparsely profiled one (the most similar around its anchors).
    """

    def __init__(self, *, neighbours: int = 5) -> None:
        self.neighbours = neighbours
        self._dense: dict[tuple[str, str], _Dense] = {}
        self._sparse: dict[tuple[str, str], _Sparse] = {}

    def fit(
        self, rows: ProfileTable | Iterable[ProfileRow], *, reuse: Predictor | None = None
    ) -> Predictor:
        """Learn from profile rows (a `ProfileTable` or `ProfileRow`s); returns self.

        ``reuse``: a fitted predictor whose per-model surfaces are taken over where a model's
        rows are the same (cross-validation refits many times over mostly the same rows).
        """
        t = rows if isinstance(rows, ProfileTable) else ProfileTable.from_rows(rows)
        if t.latency_ms is None:
            raise InputError("rows", "queries without latency_ms", "profile rows with latency_ms")
        dense: dict[tuple[str, str], _Dense] = {}
        sparse: dict[tuple[str, str], _Sparse] = {}
        for key, idx in _key_rows(t).items():
            g = t.take(idx)
            n_sm = min(np.unique(g.sm_pct[g.batch == b]).size for b in np.unique(g.batch))
            if n_sm >= DENSE_MIN_SM:
                assert g.latency_ms is not None
                digest = np.stack(
                    [g.batch.astype(np.float64), g.sm_pct, g.quota_pct, g.latency_ms]
                ).tobytes()
                old = reuse._dense.get(key) if reuse is not None else None
                if old is not None and old.digest == digest:
                    dense[key] = old
                else:
                    dense[key] = _fit_dense(g)
                    dense[key].digest = digest
            else:
                assert g.latency_ms is not None
                anchors = {}
                for b in np.unique(g.batch):
                    m = g.batch == b
                    anchors[int(b)] = (
                        np.log(g.sm_pct[m]),
                        g.quota_pct[m],
                        np.log(g.latency_ms[m]),
                    )
                sparse[key] = _Sparse(anchors)
        self._dense, self._sparse = dense, sparse
        return self

    def known(self) -> list[tuple[str, str]]:
        """The (gpu, model) pairs the predictor has rows for."""
        return sorted([*self._dense, *self._sparse])

    def _unknown(self, gpu: str, model: str) -> InputError:
        gpus = sorted({g for g, _ in self.known()})
        if gpu.lower() not in gpus:
            return InputError(
                "gpu", gpu, "a profiled GPU: " + (", ".join(gpus) or "none (fit first)")
            )
        models = [m for g, m in self.known() if g == gpu.lower()]
        shown = ", ".join(models[:12]) + (
            f", ... ({len(models)} in all)" if len(models) > 12 else ""
        )
        return InputError(
            "model", model, f"a model with profile rows on {gpu.lower()} (add anchor rows): {shown}"
        )

    # -- evaluation -------------------------------------------------------------------------
    def _dense_log(self, d: _Dense, batch: FloatArray, sm: FloatArray, q: FloatArray) -> FloatArray:
        bs = np.array(sorted(d.surfaces), dtype=np.float64)
        vals = np.stack([d.surfaces[int(b)](sm, q) for b in bs])
        return _batch_interp(bs, vals, batch)

    def _sparse_log(
        self, gpu: str, sp: _Sparse, batch: FloatArray, sm: FloatArray, q: FloatArray
    ) -> FloatArray:
        refs = [d for (g, _), d in sorted(self._dense.items()) if g == gpu]
        bs = np.array(sorted(sp.anchors), dtype=np.float64)
        per_batch = []
        for b in bs:
            a_lsm, a_q, a_ly = sp.anchors[int(b)]
            order = np.argsort(a_lsm, kind="stable")
            a_lsm, a_q, a_ly = a_lsm[order], a_q[order], a_ly[order]
            base = _line_through(a_lsm, a_ly, np.log(sm))
            if not refs:
                per_batch.append(base)
                continue
            bb = np.full(a_lsm.size, b)
            dist, bend = [], []
            for d in refs:
                ref_a = self._dense_log(d, bb, np.exp(a_lsm), a_q)
                off = a_ly - ref_a
                dist.append(float(np.sqrt(np.mean(off**2))))
                ref_q = self._dense_log(d, np.full(sm.size, b), sm, q)
                bend.append(ref_q - _line_through(a_lsm, ref_a, np.log(sm)))
            near = np.argsort(np.array(dist), kind="stable")[: self.neighbours]
            w = 1.0 / (np.array(dist)[near] + 0.02)
            per_batch.append(base + np.tensordot(w / w.sum(), np.stack(bend)[near], axes=1))
        return _batch_interp(bs, np.stack(per_batch), batch)

    def predict(
        self, gpu: str, model: str, batch: int, sm_pct: float, quota_pct: float = 100.0
    ) -> float:
        """Predicted latency (ms) of one batch of `model` on `sm_pct`% SMs, `quota_pct`% time."""
        return float(self.predict_many([(gpu, model, batch, sm_pct, quota_pct)])[0])

    def predict_many(self, queries: ProfileTable | Sequence[Query]) -> FloatArray:
        """Predicted latencies (ms) for many queries, in order."""
        if isinstance(queries, ProfileTable):
            t = queries
        else:
            qs = list(queries)
            t = ProfileTable(
                np.array([str(q[0]).lower() for q in qs], dtype=np.str_),
                np.array([str(q[1]) for q in qs], dtype=np.str_),
                np.array([q[2] for q in qs], dtype=np.int64),
                np.array([q[3] for q in qs], dtype=np.float64),
                np.array([q[4] for q in qs], dtype=np.float64),
            )
        _check_queries(t)
        out = np.empty(len(t), dtype=np.float64)
        for (gpu, model), idx in _key_rows(t).items():
            b = t.batch[idx].astype(np.float64)
            s, q = t.sm_pct[idx], t.quota_pct[idx]
            key = (gpu.lower(), model)
            if key in self._dense:
                out[idx] = np.exp(self._dense_log(self._dense[key], b, s, q))
            elif key in self._sparse:
                out[idx] = np.exp(self._sparse_log(key[0], self._sparse[key], b, s, q))
            else:
                raise self._unknown(gpu, model)
        return out


def _line_through(a_lsm: FloatArray, a_ly: FloatArray, x: FloatArray) -> FloatArray:
    """Log-log line through anchors (averaged per SM share); end slopes continue outside."""
    us, inv = np.unique(a_lsm, return_inverse=True)
    uy = np.bincount(inv, weights=a_ly) / np.bincount(inv)
    if us.size == 1:
        return np.full(x.shape, uy[0])
    out: FloatArray = np.interp(x, us, uy)
    lo, hi = x < us[0], x > us[-1]
    s0 = (uy[1] - uy[0]) / (us[1] - us[0])
    s1 = (uy[-1] - uy[-2]) / (us[-1] - us[-2])
    out[lo] = uy[0] + s0 * (x[lo] - us[0])
    out[hi] = uy[-1] + s1 * (x[hi] - us[-1])
    return out


def _check_queries(t: ProfileTable) -> None:
    for name, ok, accepted in (
        ("batch", t.batch >= 1, "an integer >= 1"),
        ("sm_pct", (t.sm_pct > 0) & (t.sm_pct <= 100), "a number in (0, 100]"),
        ("quota_pct", (t.quota_pct > 0) & (t.quota_pct <= 100), "a number in (0, 100]"),
    ):
        bad = np.nonzero(~ok)[0]
        if bad.size:
            value = getattr(t, name)[bad[0]].item()
            raise InputError(f"queries[{bad[0]}]: {name}", value, accepted)
