"""Predict inference latency of (gpu, model, batch, sm_pct, quota_pct) from profile rows.

The autoscaler and the simulated GPU device ask "how long does one batch of this model take on
this slice of this GPU?" for slices nobody measured. `Predictor` answers from profile rows
(`tessera.gpu.profiles`) in two ways:

- a *densely* profiled model (at least `DENSE_MIN_SM` SM shares per batch) gets its own latency
  surface per batch (`tessera.gpu.surface`: a smooth max of SM-bound time and quota-bound time,
  plus residuals), interpolated in log batch between measured batch sizes;
- a *sparsely* profiled model (a few anchor measurements, e.g. SM 20/50/100% at quota 100)
  is the log-log line through its anchors, bent by the shape that its `neighbours` most
  similar densely profiled models of the same GPU show around the same anchors. Under a time
  quota, when the model has structural features (`tessera.gpu.features`: torchvision models),
  latency is the smooth maximum of that full-quota prediction and a quota-bound time H(quota)
  borrowed from the `structure_neighbours` dense models with the closest operator structure
  (scaled by the ratio of operator calls). Why: the V100 quota is a launch-gating token (40 ms
  window), so its cost follows how a forward is cut into launches, not latency at full quota.
  Without features (or with `structural=False`) the neighbours' bend covers the quota too.

Everything is numpy/scipy, deterministic, and `predict_many` evaluates whole query columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tessera.core.errors import InputError
from tessera.gpu.features import aten_ops, structure
from tessera.gpu.profiles import FloatArray, ProfileRow, ProfileTable
from tessera.gpu.surface import SMOOTH_MAX_K, Surface, complete_batches, fit_line, smooth_max

Query = tuple[str, str, int, float, float]

OPS_EXP = 1.0
"""Quota-bound time of a model scales as (operator calls)^OPS_EXP across similar models (CV)."""
LAT_EXP = 0.0
"""...and as (latency at the anchors)^LAT_EXP (0: the quota charges launches, not GPU time)."""
ANCHOR_WEIGHT = 1.0
"""Weight of the anchors' log-latency offset next to the structural distance (chosen by CV)."""
STRUCT_IN_BEND = 0.1
"""Weight of the structural distance when picking neighbours for the SM bend (chosen by CV)."""
GATE_SHOWS = 0.05
"""A row under a quota shows the gate when it is this much slower (log) than a full-quota
anchor measured at the same batch and SM share..."""
GATE_SHOWS_PREDICTED = 0.3
"""...or this much slower than the full-quota prediction where no anchor was measured (that
prediction errs by 5-15% at interior SM shares and often more at SM 5%, and a small lift
inverts into a large H)."""
HIDDEN_GATE = 0.3
"""Where the gate hides at a quota, H there and above is capped this far (log) below the rows'
full-quota time."""
GATE_PINNED = 0.15
"""A dense model's gate curve keeps a quota where it lifts >= 3 cells by this much (log)."""
GATE_FADE = 0.5
"""Above its last quota where the gate shows, H falls as (100 - quota)^GATE_FADE to none at
100% (leave-one-model-out CV with RaPP's prior rows: 0.25 scores ~0.1 point better, 1.0 ~0.2
worse; 0.5 keeps latency at 99% closer to 100% where the gate is strong at the last quota)."""
QUOTA_GRID: FloatArray = np.log(np.linspace(0.5, 100.0, 400))
"""Log quotas on which gate curves are laid out (then interpolated at the queries)."""
DENSE_MIN_SM = 4
"""A (gpu, model) with at least this many distinct SM shares per batch gets its own surface."""


@dataclass(frozen=True, slots=True)
class _Sparse:
    """Anchor rows of a sparsely profiled model.

    ``anchors``: per batch, (log sm, quota, log latency) of the rows the SM line goes through
    (those at full quota; a batch without any keeps all its rows). ``gated``: (batch, sm,
    quota, log latency) of the other rows, measured under a time quota, or None.
    """

    anchors: dict[int, tuple[FloatArray, FloatArray, FloatArray]]
    gated: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None


@dataclass(slots=True)
class _Dense:
    surfaces: dict[int, Surface] = field(default_factory=dict)
    digest: bytes = b""  # of the rows it was fitted on, so a refit can reuse it
    gate: tuple[FloatArray, FloatArray] | None = None  # `_gate_curve`, made on first use
    gate_grid: FloatArray | None = None  # the same over `QUOTA_GRID` (`_on_grid`)
    gate_done: bool = False


def _gate_curve(d: _Dense) -> tuple[FloatArray, FloatArray] | None:
    """A dense model's quota-bound time as one curve: (quotas, log H) where the gate shows.

    Per quota below 100 of its grid, the H whose smooth maximum with the full-quota column
    best explains the completed grid of every batch (least absolute log error); kept where at
    least three cells are lifted by more than `GATE_PINNED` (elsewhere H hides under the
    full-quota time and the fit does not pin it). Cached on `d`; None without quota rows.
    """
    if d.gate_done:
        return d.gate
    d.gate_done = True
    sfs = [sf for sf in d.surfaces.values() if sf.quota.size >= 2 and sf.quota[-1] >= 100.0]
    if not sfs or any(not np.array_equal(sf.quota, sfs[0].quota) for sf in sfs):
        return None
    full = np.concatenate([sf.log_lat[:, -1] for sf in sfs])
    grid = np.linspace(float(full.min()) - 2.0, float(full.max()) + 4.0, 600)
    qs, hs = [], []
    for j, q in enumerate(sfs[0].quota[:-1]):
        y = np.concatenate([sf.log_lat[:, j] for sf in sfs])
        err = np.abs(y[None, :] - smooth_max(full[None, :], grid[:, None])).sum(axis=1)
        h = float(grid[int(np.argmin(err))])
        if int(np.sum(smooth_max(full, np.full(full.size, h)) - full > GATE_PINNED)) >= 3:
            qs.append(float(q))
            hs.append(h)
    if len(qs) >= 2:
        d.gate = (np.array(qs), np.array(hs))
        d.gate_grid = _on_grid(np.log(d.gate[0]), d.gate[1])
    return d.gate


def _on_grid(log_q: FloatArray, log_h: FloatArray) -> FloatArray:
    """A gate curve over `QUOTA_GRID`: log-log interpolation between its points, a 1/quota
    fall beyond them, never rising with the quota."""
    x = QUOTA_GRID
    out = np.interp(x, log_q, log_h)
    out = np.where(x < log_q[0], log_h[0] - (x - log_q[0]), out)
    out = np.where(x > log_q[-1], log_h[-1] - (x - log_q[-1]), out)
    grid: FloatArray = np.minimum.accumulate(out)
    return grid


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
    completed, quota_laws = complete_batches(log_sm, q_grid, grids)
    for b, full, lh in zip(batches, completed, quota_laws, strict=True):
        out.surfaces[int(b)] = Surface(log_sm, q_grid, full, quota_law=lh)
    return out


def _batch_interp(batches: FloatArray, values: FloatArray, batch: FloatArray) -> FloatArray:
    """Log-log interpolation across batch sizes; beyond the ends, the end slope (>= 0)."""
    if batches.size == 1:
        out0: FloatArray = values[0] + np.maximum(0.0, np.log(batch / batches[0]))
        return out0
    lb = np.log(batches)
    x = np.log(batch)
    cols = np.arange(x.size)
    i = np.clip(np.searchsorted(lb, x, side="right") - 1, 0, lb.size - 2)
    v0, v1 = values[i, cols], values[i + 1, cols]
    slope = (v1 - v0) / (lb[i + 1] - lb[i])
    outside = (x < lb[0]) | (x > lb[-1])
    slope = np.where(outside, np.maximum(slope, 0.0), slope)
    out: FloatArray = v0 + slope * (x - lb[i])
    return out


class Predictor:
    """Latency predictor: `fit(rows)` then `predict(...)` / `predict_many(...)`, in ms.

    ``neighbours``: how many densely profiled models of the same GPU shape the prediction for
    a sparsely profiled one (the most similar around its anchors). ``structural``: use model
    features for sparsely profiled models under a time quota; ``structure_neighbours``: how
    many structurally closest dense models lend their quota-bound time.
    """

    def __init__(
        self, *, neighbours: int = 5, structural: bool = True, structure_neighbours: int = 4
    ) -> None:
        self.neighbours = neighbours
        self.structural = structural
        self.structure_neighbours = structure_neighbours
        self._dense: dict[tuple[str, str], _Dense] = {}
        self._sparse: dict[tuple[str, str], _Sparse] = {}
        # own gate curves of sparse models, per (gpu, model, structural, neighbours)
        self._own: dict[
            tuple[str, str, bool, int], tuple[FloatArray | None, list[tuple[float, float]]]
        ] = {}

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
                in_line = np.zeros(len(g), dtype=bool)
                for b in np.unique(g.batch):
                    m = g.batch == b
                    if (m & (g.quota_pct >= 100.0)).any():
                        m &= g.quota_pct >= 100.0
                    in_line |= m
                    anchors[int(b)] = (
                        np.log(g.sm_pct[m]),
                        g.quota_pct[m],
                        np.log(g.latency_ms[m]),
                    )
                rest = ~in_line
                gated = (
                    (
                        g.batch[rest].astype(np.float64),
                        g.sm_pct[rest],
                        g.quota_pct[rest],
                        np.log(g.latency_ms[rest]),
                    )
                    if rest.any()
                    else None
                )
                sparse[key] = _Sparse(anchors, gated)
        self._dense, self._sparse = dense, sparse
        self._own = {}
        return self

    def gate_curve(self, gpu: str, model: str) -> tuple[FloatArray, FloatArray] | None:
        """(quotas, log H) of a densely profiled model's quota-bound time where its rows pin
        it down (`_gate_curve`); None for a model without quota rows or with only anchors."""
        d = self._dense.get((gpu.lower(), model))
        return _gate_curve(d) if d is not None else None

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
        self, gpu: str, model: str, sp: _Sparse, batch: FloatArray, sm: FloatArray, q: FloatArray
    ) -> FloatArray:
        refs = [d for (g, _), d in sorted(self._dense.items()) if g == gpu]
        own = structure(model) if self.structural else None
        sdist = np.zeros(len(refs))
        if own is not None:
            for i, (_, m) in enumerate(k for k in sorted(self._dense) if k[0] == gpu):
                st = structure(m)
                sdist[i] = float(np.sqrt(np.sum((st - own) ** 2))) if st is not None else 1.0
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
            dd = np.array(dist) + STRUCT_IN_BEND * sdist
            near = np.argsort(dd, kind="stable")[: self.neighbours]
            w = 1.0 / (dd[near] + 0.02)
            per_batch.append(base + np.tensordot(w / w.sum(), np.stack(bend)[near], axes=1))
        return _batch_interp(bs, np.stack(per_batch), batch)

    def _quota_log(
        self, gpu: str, model: str, batch: FloatArray, q: FloatArray
    ) -> tuple[FloatArray, FloatArray] | None:
        """Log quota-bound time H at (batch, q) and at quota 100 for a model without quota rows.

        Borrowed from the `structure_neighbours` densely profiled models of the same GPU whose
        operator structure (`tessera.gpu.features.structure`) is closest, each scaled by the
        ratio of operator calls (the quota is charged per launch phase). None when the model
        or every candidate lacks features or time-quota rows: the caller falls back.
        """
        own = structure(model)
        own_ops = aten_ops(model)
        if own is None or own_ops is None:
            return None
        cands: list[tuple[float, str, _Dense, float]] = []
        for (g, m), d in sorted(self._dense.items()):
            if g != gpu or m == model:
                continue
            st, ops = structure(m), aten_ops(m)
            if st is None or ops is None:
                continue
            if any(sf.quota_law is None or sf.quota.size < 2 for sf in d.surfaces.values()):
                continue
            off = self._anchor_offset(self._sparse[(gpu, model)], d)
            dist = float(np.sqrt(np.sum((st - own) ** 2))) + ANCHOR_WEIGHT * abs(off)
            cands.append((dist, m, d, off))
        if not cands:
            return None
        cands.sort(key=lambda c: (c[0], c[1]))
        near = cands[: self.structure_neighbours]
        w = 1.0 / (np.array([c[0] for c in near]) + 0.05)
        w /= w.sum()
        lh = np.zeros(q.size)
        lh100 = np.zeros(q.size)
        for wi, (_, m, d, off) in zip(w, near, strict=True):
            scale = OPS_EXP * np.log(own_ops / (aten_ops(m) or own_ops)) + LAT_EXP * off
            bs = np.array(sorted(d.surfaces), dtype=np.float64)
            at_q, at_100 = [], []
            for bb in bs:
                sf = d.surfaces[int(bb)]
                assert sf.quota_law is not None
                at_q.append(np.interp(q, sf.quota, sf.quota_law))
                at_100.append(np.interp(np.full(q.size, 100.0), sf.quota, sf.quota_law))
            lh += wi * (_batch_interp(bs, np.stack(at_q), batch) + scale)
            lh100 += wi * (_batch_interp(bs, np.stack(at_100), batch) + scale)
        return lh, lh100

    def _own_gate(
        self, gpu: str, model: str, sp: _Sparse
    ) -> tuple[FloatArray | None, list[tuple[float, float]]]:
        """A sparsely profiled model's own gate curve from its rows under a time quota.

        Returns log H over `QUOTA_GRID` (None where no row shows the gate) and caps (log
        quota, log H bound) from quotas where the gate hides. Each row, against the
        full-quota time at its batch and SM share (measured there; else predicted but at
        most its fastest row there, or that row where two quotas time the same), shows
        the gate when slower by more than `GATE_SHOWS` (`GATE_SHOWS_PREDICTED` without a
        measurement) and not slower than a row at a lower quota there, and then gives H at
        its quota by inverting the smooth maximum; a row at least as fast as full quota caps
        H at its quota and above (`HIDDEN_GATE` lower),
        where no row shows it at that quota or above. H depends on the quota alone (V100
        data: one curve at every batch and SM share), so rows pool per quota (median,
        measured configurations first). Between quotas where the gate shows, log H is
        interpolated in log quota; below them it takes the steps other models show
        (`_gate_steps`), above them it fades out by 100%; it never rises with the quota.
        Cached per model and `structural` / `neighbours` setting until the next fit.
        """
        # the full-quota predictions it starts from depend on these settings
        key = (gpu, model, self.structural, self.neighbours)
        if key in self._own:
            return self._own[key]
        assert sp.gated is not None
        gb, gs, gq, gy = sp.gated
        full = self._sparse_log(gpu, model, sp, gb, gs, np.full(gs.size, 100.0))
        measured = np.array([_measured(sp, int(bb), ss) for bb, ss in zip(gb, gs, strict=True)])
        for bb, ss in sorted(set(zip(gb.tolist(), gs.tolist(), strict=True))):
            at = np.nonzero((gb == bb) & (gs == ss))[0]
            if measured[at[0]]:
                continue
            # no full-quota row here: a quota only slows, so the fastest row bounds the
            # full-quota time from above; where the two fastest quotas time the same, the
            # gate hides at both and the fastest *is* the full-quota time
            order = at[np.argsort(gy[at], kind="stable")]
            other = order[gq[order] != gq[order[0]]]
            if other.size and gy[other[0]] - gy[order[0]] <= GATE_SHOWS:
                full[at] = gy[order[0]]
                measured[at] = True
            else:
                full[at] = np.minimum(full[at], gy[order[0]])
        lift = gy - full
        # a gate slows lower quotas more: a row slower than one at a lower quota of the same
        # configuration is noise, not the gate
        same = (gb[:, None] == gb[None, :]) & (gs[:, None] == gs[None, :])
        below = same & (gq[None, :] < gq[:, None])
        noise = np.any(below & (gy[None, :] < gy[:, None] - GATE_SHOWS), axis=1)
        shows = ~noise & (lift > np.where(measured, GATE_SHOWS, GATE_SHOWS_PREDICTED))
        hides = np.where(measured, lift <= GATE_SHOWS, lift < 0.0)
        inverted = full + np.log(np.expm1(SMOOTH_MAX_K * np.maximum(lift, 1e-9))) / SMOOTH_MAX_K
        shown_q, shown_h = [], []
        for qa in np.unique(gq[shows]):
            r = shows & (gq == qa)
            if (r & measured).any():
                r &= measured
            shown_q.append(float(np.log(qa)))
            shown_h.append(float(np.median(inverted[r])))
        top = max(shown_q, default=-np.inf)
        caps = [
            (float(np.log(qa)), float(np.min(full[hides & (gq == qa)])) - HIDDEN_GATE)
            for qa in np.unique(gq[hides])
            if np.log(qa) > top
        ]
        curve: FloatArray | None = None
        if shown_q:
            lq, own = np.array(shown_q), np.array(shown_h)
            x = QUOTA_GRID
            c = np.interp(x, lq, own)
            c = np.where(x < lq[0], own[0] + self._gate_steps(gpu, model, lq[0]), c)
            # above the last quota where it shows, the gate fades out by 100% (no gate there:
            # the anchors at full quota are the time without it)
            top_q = float(np.exp(lq[-1]))
            fade = GATE_FADE * np.log(np.clip((100.0 - np.exp(x)) / (100.0 - top_q), 1e-12, 1.0))
            c = np.where(x > lq[-1], own[-1] + self._gate_steps(gpu, model, lq[-1]) + fade, c)
            curve = np.minimum.accumulate(c)  # (caps apply to the latency: `_capped`)
        self._own[key] = (curve, caps)
        return curve, caps

    def _gate_steps(self, gpu: str, model: str, x_end: float) -> FloatArray:
        """Change of log H from log quota `x_end` to each point of `QUOTA_GRID`, as the other
        dense models of the same GPU show it (median; each curve carried beyond its own
        quotas by a 1/quota fall, `_on_grid`); a 1/quota fall where none has a gate curve.
        (The median over all beat the 6 or 12 structurally closest in leave-one-model-out
        CV on the V100 data: 10.21% against 10.38% / 10.24%.)"""
        curves = [
            d.gate_grid
            for (g, m), d in sorted(self._dense.items())
            if g == gpu and m != model and _gate_curve(d) is not None and d.gate_grid is not None
        ]
        if not curves:
            fall: FloatArray = -(QUOTA_GRID - x_end)
            return fall
        near = np.stack(curves)
        at_end = np.array([np.interp(x_end, QUOTA_GRID, c) for c in near])
        out: FloatArray = np.median(near - at_end[:, None], axis=0)
        return out

    def _sparse_quota_log(
        self, gpu: str, model: str, b: FloatArray, s: FloatArray, q: FloatArray
    ) -> FloatArray:
        """Log latency of a sparsely profiled model at (batch, SM share, quota)."""
        sp = self._sparse[(gpu, model)]
        curve, caps = self._own_gate(gpu, model, sp) if sp.gated is not None else (None, [])
        quota_log = self._quota_log(gpu, model, b, q) if self.structural and curve is None else None
        if curve is None and quota_log is None and not caps:
            return self._sparse_log(gpu, model, sp, b, s, q)
        full = self._sparse_log(gpu, model, sp, b, s, np.full(s.size, 100.0))
        if curve is not None:
            gate = smooth_max(full, np.interp(np.log(q), QUOTA_GRID, curve))
            return _capped(np.where(q < 100.0, gate, full), full, q, caps)
        if quota_log is not None:
            lh, lh100 = quota_log
        else:
            return _capped(self._sparse_log(gpu, model, sp, b, s, q), full, q, caps)
        # normalised so that quota 100 gives the full-quota time
        out = smooth_max(full, lh) - (smooth_max(full, lh100) - full)
        return _capped(out, full, q, caps)

    def _anchor_offset(self, sp: _Sparse, d: _Dense) -> float:
        """Mean log-latency difference of a sparse model's anchors to a dense model there."""
        diffs = []
        for b, (a_lsm, a_q, a_ly) in sorted(sp.anchors.items()):
            ref = self._dense_log(d, np.full(a_lsm.size, float(b)), np.exp(a_lsm), a_q)
            diffs.append(a_ly - ref)
        return float(np.mean(np.concatenate(diffs)))

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
                out[idx] = np.exp(self._sparse_quota_log(key[0], key[1], b, s, q))
            else:
                raise self._unknown(gpu, model)
        return out


def _measured(sp: _Sparse, batch: int, sm: float) -> bool:
    """Whether the sparse model has a full-quota anchor at this batch and SM share."""
    a_lsm, a_q, _ = sp.anchors[batch]
    return bool(np.any((np.abs(a_lsm - np.log(sm)) < 1e-9) & (a_q >= 100.0)))


def _capped(
    log_lat: FloatArray, full: FloatArray, q: FloatArray, caps: list[tuple[float, float]]
) -> FloatArray:
    """Log latency held under each cap on H from its quota up (where the gate hides)."""
    x = np.log(q)
    for cq, ch in caps:
        log_lat = np.where(
            x >= cq, np.minimum(log_lat, smooth_max(full, np.full(x.size, ch))), log_lat
        )
    return log_lat


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
