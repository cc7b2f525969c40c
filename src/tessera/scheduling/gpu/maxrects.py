"""2-D maximal-rectangles packing of GPU slices on the SM x time plane.

A GPU is a 100 x 100 square: the x axis is its SMs (%), the y axis its time
window (%). A slice of `sm_pct` SMs for `quota_pct` of the time is a
rectangle; two slices interfere only if their rectangles overlap, so packing
them without overlap is spatio-temporal sharing (FaST-GShare). The free space
is kept as the list of *maximal* free rectangles; a placement splits every
free rectangle it touches into the (up to four) maximal pieces around it and
drops those contained in others. Placement picks the free rectangle that
leaves the shortest leftover side (best short side fit), ties broken by
position, so results are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

SIDE = 100.0
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle: x, w along SMs (%); y, h along time (%)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def top(self) -> float:
        return self.y + self.h

    def overlaps(self, o: Rect) -> bool:
        return (
            self.x < o.right - _EPS
            and o.x < self.right - _EPS
            and self.y < o.top - _EPS
            and o.y < self.top - _EPS
        )

    def contains(self, o: Rect) -> bool:
        return (
            self.x <= o.x + _EPS
            and self.y <= o.y + _EPS
            and o.right <= self.right + _EPS
            and o.top <= self.top + _EPS
        )


class MaxRects:
    """The free space of one GPU; `place` and `occupy` return new packers (immutable use)."""

    __slots__ = ("free", "used")

    def __init__(self, free: tuple[Rect, ...] | None = None, used: tuple[Rect, ...] = ()) -> None:
        self.free = free if free is not None else (Rect(0.0, 0.0, SIDE, SIDE),)
        self.used = used

    def best_fit(self, w: float, h: float) -> tuple[float, float, Rect] | None:
        """Where a w x h slice would go (best short side fit) and its (short, long) leftovers."""
        best: tuple[float, float, float, float, Rect] | None = None
        for f in self.free:
            if w <= f.w + _EPS and h <= f.h + _EPS:
                short = min(f.w - w, f.h - h)
                long = max(f.w - w, f.h - h)
                key = (short, long, f.y, f.x, Rect(f.x, f.y, w, h))
                if best is None or key[:4] < best[:4]:
                    best = key
        return None if best is None else (best[0], best[1], best[4])

    def fits(self, w: float, h: float) -> Rect | None:
        """Where a w x h slice would go, or None."""
        b = self.best_fit(w, h)
        return None if b is None else b[2]

    def occupy(self, r: Rect) -> MaxRects:
        """The free space after `r` is taken (r must lie inside the GPU)."""
        pieces: list[Rect] = []
        for f in self.free:
            if not f.overlaps(r):
                pieces.append(f)
                continue
            if r.x > f.x + _EPS:
                pieces.append(Rect(f.x, f.y, r.x - f.x, f.h))
            if r.right < f.right - _EPS:
                pieces.append(Rect(r.right, f.y, f.right - r.right, f.h))
            if r.y > f.y + _EPS:
                pieces.append(Rect(f.x, f.y, f.w, r.y - f.y))
            if r.top < f.top - _EPS:
                pieces.append(Rect(f.x, r.top, f.w, f.top - r.top))
        kept = [
            p
            for i, p in enumerate(pieces)
            if not any(
                j != i and q.contains(p) and (not p.contains(q) or j < i)
                for j, q in enumerate(pieces)
            )
        ]
        return MaxRects(tuple(kept), (*self.used, r))

    def place(self, w: float, h: float) -> tuple[MaxRects, Rect] | None:
        """Place a w x h slice; the new packer and where it went, or None if it does not fit."""
        r = self.fits(w, h)
        return None if r is None else (self.occupy(r), r)

    @property
    def used_area(self) -> float:
        """Share of the GPU's SM-time plane taken, in [0, 1]."""
        return sum(u.w * u.h for u in self.used) / (SIDE * SIDE)
