"""Carbon-aware placement in a real cluster: a Kubernetes scheduler extender over the policies.

GreenCourier ships as a scheduler plugin compiled into kube-scheduler. Tessera
instead answers kube-scheduler's documented extender webhook, so any cluster
(and any of `tessera.carbon.placement`'s policies) works without rebuilding
the scheduler. This module is a driver: it turns the scheduler's request into
a `PlacementSnapshot`, asks the policy, and turns the `Placement` back into
the scheduler's answer. The policy decides; nothing here second-guesses it.

Protocol (kube-scheduler extender v1; kube-scheduler reads keys case-insensitively,
this module does too and answers with the documented JSON names):

- `POST <urlPrefix>/filter` with ExtenderArgs `{pod, nodes: NodeList | nodenames: [..]}`
  -> ExtenderFilterResult `{nodes | nodenames, failedNodes, failedAndUnresolvableNodes, error}`.
- `POST <urlPrefix>/prioritize` with ExtenderArgs -> HostPriorityList `[{host, score}]`,
  scores 0..`max_score` (kube-scheduler's MaxExtenderPriority is 10).
- `GET /healthz`, `GET /decisions` (the last decisions with their reasons).

Snapshot: nodes map to regions by the `topology.kubernetes.io/region` label;
each region is one `RegionView`: intensity from the pluggable provider
`(zone, now_s) -> g/kWh` (region -> zone via `zones`, re-read every
`refresh_s`, the last good reading kept with its age when a read fails), RTT
from the pod's origin (annotation `tessera.dev/origin-region`, else the
configured origin) via `rtt_ms(origin, region)`, `free` = the pod slots
(`status.allocatable.pods`, 1 when absent) of the region's candidate nodes
(kube-scheduler's own filters already dropped the nodes this pod does not
fit) and `capacity` = those of the region's nodes seen in the last
`node_ttl_s`: utilisation is the share of the region on nodes that are full
for this pod.

Filter: nodes without a region label or signal, and regions the policy would
not place on (None chosen, or absent from its scores), fail with the reason;
`strict` keeps only the chosen region. Failures go to
`failedAndUnresolvableNodes`: preempting pods there would not change a
carbon decision. Prioritize (the decision `filter` made for the pod is
reused, so a stateful policy advances once per pod): the chosen region's
nodes get `max_score`; other regions the policy scored get
`round((max_score - 1) (s - lo) / (hi - lo))` (all `max_score - 1` when equal);
unscored regions and unlabelled nodes get 0.

    python -m tessera.control.k8s_extender --port 8888 --policy tessera \
        --intensities intensities.json [--zones gcp_region_to_emaps_zone.json] [--latency rtt.csv]
    EMAPS_TOKEN=... python -m tessera.control.k8s_extender --policy tessera \
        --source '{"kind": "electricitymaps", "token": "env:EMAPS_TOKEN"}' --zones zones.json
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import signal
import sys
import threading
import time
import zlib
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.carbon.footprint import LiveReadings
from tessera.carbon.grid import CarbonTable
from tessera.carbon.placement import (
    Placement,
    PlacementPolicy,
    PlacementSnapshot,
    RegionView,
    create,
)
from tessera.carbon.sources import source_from_config
from tessera.core.errors import InputError, require
from tessera.platforms.httpserver import Reply, server

log = logging.getLogger(__name__)

REGION_LABEL = "topology.kubernetes.io/region"
ORIGIN_ANNOTATION = "tessera.dev/origin-region"
MAX_EXTENDER_PRIORITY = 10

IntensityProvider = Callable[[str, float], "float | tuple[float, float]"]
"""(zone, now_s) -> gCO2eq/kWh, or (gCO2eq/kWh, when it was read); raising means "no reading
now"."""
ForecastProvider = Callable[[str, float], Sequence[float]]
"""(zone, now_s) -> the next hours' intensities (may be empty)."""
RttProvider = Callable[[str, str], float]
"""(origin region, region) -> round-trip time in ms; raising means unknown."""

_JSON = [("Content-Type", "application/json")]
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


class BadRequest(ValueError):
    """The request is not ExtenderArgs; the message is one line for the 400 answer."""


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    region: str | None
    slots: int  # pods the node can hold (status.allocatable.pods)
    raw: Mapping[str, Any] | None  # the Node object, when the scheduler sent objects


def _get(doc: Mapping[str, Any], key: str) -> Any:
    """`doc[key]` matched case-insensitively, as Go's encoding/json does."""
    if key in doc:
        return doc[key]
    low = key.lower()
    return next((v for k, v in doc.items() if k.lower() == low), None)


def _mapping(v: Any, what: str) -> Mapping[str, Any]:
    if v is None:
        return {}
    if type(v) is dict:  # what json.loads gives: skip the ABC check on the hot path
        return v
    if not isinstance(v, Mapping):
        raise BadRequest(f"{what} must be an object, got {type(v).__name__}")
    return v


def parse_args(body: bytes) -> dict[str, Any]:
    """ExtenderArgs from the request body, or `BadRequest` naming what is wrong."""
    try:
        doc = json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8 JSON") from None
    except json.JSONDecodeError as e:
        raise BadRequest(f"body is not JSON: {e.msg} (line {e.lineno} column {e.colno})") from None
    if not isinstance(doc, dict):
        raise BadRequest(f"ExtenderArgs must be a JSON object, got {type(doc).__name__}")
    if not isinstance(_get(doc, "pod"), Mapping):
        raise BadRequest("ExtenderArgs has no pod object")
    nodes, names = _get(doc, "nodes"), _get(doc, "nodenames")
    if nodes is None and names is None:
        raise BadRequest("ExtenderArgs has neither nodes nor nodenames")
    if nodes is not None and not isinstance(_get(_mapping(nodes, "nodes"), "items") or [], list):
        raise BadRequest("nodes.items must be a list of Node objects")
    if nodes is None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise BadRequest("nodenames must be a list of strings")
    return doc


def region_scores(placement: Placement, regions: Sequence[str], max_score: int) -> dict[str, int]:
    """The policy's ranking as extender scores (see the module docstring)."""
    out = {r: 0 for r in regions}
    scored = {r: s for r, s in (placement.scores or {}).items() if r in out}
    rest = {r: s for r, s in scored.items() if r != placement.region}
    if rest:
        lo, hi = min(rest.values()), max(rest.values())
        for r, s in rest.items():
            frac = 1.0 if hi == lo else (s - lo) / (hi - lo)
            out[r] = math.floor((max_score - 1) * frac + 0.5)
    if placement.region in out:
        out[placement.region] = max_score
    return out


class Extender:
    """One placement policy behind kube-scheduler's filter and prioritize verbs."""

    def __init__(
        self,
        policy: PlacementPolicy,
        intensity: IntensityProvider,
        *,
        zones: Mapping[str, str] | None = None,
        rtt_ms: RttProvider | None = None,
        forecast: ForecastProvider | None = None,
        origin: str = "",
        region_label: str = REGION_LABEL,
        origin_annotation: str = ORIGIN_ANNOTATION,
        max_score: int = MAX_EXTENDER_PRIORITY,
        refresh_s: float = 300.0,
        node_ttl_s: float = 600.0,
        strict: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        require(max_score >= 1, "extender.max_score", max_score, "an integer >= 1")
        require(refresh_s >= 0, "extender.refresh_s", refresh_s, "seconds >= 0")
        require(node_ttl_s > 0, "extender.node_ttl_s", node_ttl_s, "seconds > 0")
        self.policy, self.intensity, self.forecast = policy, intensity, forecast
        self.zones, self.rtt_ms, self.origin = dict(zones or {}), rtt_ms, origin
        self.region_label, self.origin_annotation = region_label, origin_annotation
        self.max_score, self.refresh_s, self.node_ttl_s = max_score, refresh_s, node_ttl_s
        self.strict, self.clock = strict, clock
        self._lock = threading.Lock()
        self._state: Any = None
        self._signals: dict[str, tuple[float, float]] = {}  # zone -> (g/kWh, read at)
        self._seen: dict[str, tuple[str, int, float]] = {}  # node -> (region, slots, seen at)
        self._decided: OrderedDict[str, tuple[Placement, dict[str, str]]] = OrderedDict()
        self.decisions: deque[dict[str, Any]] = deque(maxlen=200)

    # --- the two verbs -----------------------------------------------------------------------

    def filter(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """ExtenderFilterResult for parsed ExtenderArgs."""
        pod, candidates, by_name = self._candidates(args)
        try:
            placement, excluded = self._decide(pod, candidates, remember=True)
        except BadRequest:
            raise
        except Exception as e:  # the scheduler reads `error`; keep serving
            log.exception("placement failed")
            return {"error": f"{self.policy.name} failed: {type(e).__name__}: {e}"}
        passed, failed = [], {}
        for c in candidates:
            why = self._fails(c, placement, excluded)
            if why is None:
                passed.append(c)
            else:
                failed[c.name] = why
        out: dict[str, Any] = {"failedNodes": {}, "failedAndUnresolvableNodes": failed}
        if by_name:
            out["nodenames"] = [c.name for c in passed]
        else:
            envelope = _mapping(_get(args, "nodes"), "nodes")
            nodes = {k: v for k, v in envelope.items() if k.lower() != "items"}
            out["nodes"] = {**nodes, "items": [c.raw for c in passed]}
        return out

    def prioritize(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        """HostPriorityList for parsed ExtenderArgs."""
        pod, candidates, _ = self._candidates(args)
        with self._lock:
            reused = self._decided.pop(_pod_key(pod), None)
        regions = sorted({c.region for c in candidates if c.region is not None})
        if reused is None or (reused[0].region is not None and reused[0].region not in regions):
            reused = self._decide(pod, candidates, remember=False)
        scores = region_scores(reused[0], regions, self.max_score)
        return [
            {"host": c.name, "score": 0 if c.region is None else scores[c.region]}
            for c in candidates
        ]

    def route(self, method: str, path: str, _headers: Any, body: bytes) -> Reply:
        """The HTTP face: `tessera.platforms.httpserver` serves it; tests call it directly."""
        verb = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if method == "GET" and verb in ("healthz", "readyz"):
            return 200, _TEXT, b"ok\n"
        if method == "GET" and verb == "decisions":
            with self._lock:
                recent = list(self.decisions)
            return 200, _JSON, json.dumps(recent).encode()
        if method != "POST" or verb not in ("filter", "prioritize"):
            return 404, _TEXT, f"no {method} {path}; POST .../filter or .../prioritize\n".encode()
        try:
            args = parse_args(body)
            out: Any = self.filter(args) if verb == "filter" else self.prioritize(args)
        except BadRequest as e:
            return 400, _TEXT, f"bad ExtenderArgs: {e}\n".encode()
        except Exception as e:
            log.exception("%s failed", verb)
            line = f"{verb} failed: {type(e).__name__}: {e}".replace("\n", " ")
            return 500, _TEXT, f"{line}\n".encode()
        return 200, _JSON, json.dumps(out).encode()

    # --- snapshot and decision ---------------------------------------------------------------

    def _candidates(
        self, args: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], list[Candidate], bool]:
        pod = _mapping(_get(args, "pod"), "pod")
        nodes = _get(args, "nodes")
        if nodes is not None:
            out = []
            for n in _get(_mapping(nodes, "nodes"), "items") or []:
                meta = _mapping(_get(_mapping(n, "node"), "metadata"), "node.metadata")
                labels = _mapping(_get(meta, "labels"), "node.metadata.labels")
                region = labels.get(self.region_label)
                name, region = str(_get(meta, "name")), str(region) if region else None
                out.append(Candidate(name, region, _slots(n), n))
            return pod, out, False
        with self._lock:
            seen = dict(self._seen)
        names = _get(args, "nodenames") or []
        out = []
        for n in names:  # the region and slots remembered from earlier Node objects
            region, slots = seen[n][:2] if n in seen else (None, 1)
            out.append(Candidate(n, region, slots, None))
        return pod, out, True

    def _fails(self, c: Candidate, placement: Placement, excluded: Mapping[str, str]) -> str | None:
        if c.region is None:
            return f"no {self.region_label} label known for this node"
        if c.region in excluded:
            return excluded[c.region]
        name = self.policy.name
        if placement.region is None:
            return f"{name} places nowhere: {placement.reason}"
        if self.strict and c.region != placement.region:
            return f"{name} chose {placement.region}: {placement.reason}"
        if placement.scores is not None and c.region not in placement.scores:
            return f"{name} would not place in {c.region}: {placement.reason}"
        return None

    def _decide(
        self, pod: Mapping[str, Any], candidates: Sequence[Candidate], remember: bool
    ) -> tuple[Placement, dict[str, str]]:
        now = float(self.clock())
        key = _pod_key(pod)
        annotations = _mapping(
            _get(_mapping(_get(pod, "metadata"), "pod.metadata"), "annotations"), "annotations"
        )
        origin = str(annotations.get(self.origin_annotation) or self.origin)
        with self._lock:
            for c in candidates:
                if c.region is not None and c.raw is not None:
                    self._seen[c.name] = (c.region, c.slots, now)
            self._seen = {n: v for n, v in self._seen.items() if now - v[2] <= self.node_ttl_s}
            views, excluded = self._views(candidates, now, origin)
            snap = PlacementSnapshot(now, origin, views, self._state, zlib.crc32(key.encode()))
            placement = self.policy.place(snap)
            self._state = placement.state
            if remember:
                self._decided[key] = (placement, excluded)
                while len(self._decided) > 4096:
                    self._decided.popitem(last=False)
            self.decisions.append(
                {"now_s": now, "pod": key, "region": placement.region, "reason": placement.reason}
            )
        log.info("%s -> %s: %s", key, placement.region, placement.reason)
        return placement, excluded

    def _views(
        self, candidates: Sequence[Candidate], now: float, origin: str
    ) -> tuple[tuple[RegionView, ...], dict[str, str]]:
        free: Counter[str] = Counter()
        for c in candidates:
            if c.region is not None:
                free[c.region] += c.slots
        known: Counter[str] = Counter()
        for region, slots, _ in self._seen.values():
            known[region] += slots
        views, excluded = [], {}
        for region in sorted(free):
            zone = self.zones.get(region, region)
            try:
                g, age = self._signal(zone, now)
                rtt = float(self.rtt_ms(origin, region)) if origin and self.rtt_ms else 0.0
                ahead = tuple(float(x) for x in self.forecast(zone, now)) if self.forecast else ()
                cap = max(free[region], known[region])
                views.append(RegionView(region, g, rtt, free[region], cap, ahead, age))
            except InputError as e:
                excluded[region] = f"region {region}: bad input {e}"
            except Exception as e:
                excluded[region] = f"region {region} (zone {zone}): {type(e).__name__}: {e}"
        return tuple(views), excluded

    def _signal(self, zone: str, now: float) -> tuple[float, float]:
        """(g/kWh, age in s): a reading younger than `refresh_s`, a new one, or the last good one."""
        cached = self._signals.get(zone)
        if cached is not None and self.refresh_s > 0 and 0 <= now - cached[1] < self.refresh_s:
            return cached[0], max(0.0, now - cached[1])
        try:
            value = self.intensity(zone, now)
        except Exception as e:
            if cached is None:
                raise LookupError(f"no carbon signal yet ({type(e).__name__}: {e})") from None
            log.warning("intensity of %s failed (%s); using the last reading", zone, e)
            return cached[0], max(0.0, now - cached[1])
        g, read_at = (
            (float(value[0]), float(value[1])) if isinstance(value, tuple) else (float(value), now)
        )
        self._signals[zone] = (g, read_at)
        return g, max(0.0, now - read_at)


def _slots(node: Any) -> int:
    """The pods a Node object can hold (`status.allocatable.pods`), 1 when absent or odd."""
    status = _get(node, "status") if isinstance(node, Mapping) else None
    alloc = _get(status, "allocatable") if isinstance(status, Mapping) else None
    pods = _get(alloc, "pods") if isinstance(alloc, Mapping) else None
    try:
        return max(1, int(str(pods))) if pods is not None else 1
    except ValueError:
        return 1


def _pod_key(pod: Mapping[str, Any]) -> str:
    meta = _mapping(_get(pod, "metadata"), "pod.metadata")
    uid = _get(meta, "uid")
    return str(uid) if uid else f"{_get(meta, 'namespace') or 'default'}/{_get(meta, 'name')}"


# --- providers from files and the command line --------------------------------------------------


def table_intensity(table: Mapping[str, float]) -> IntensityProvider:
    """A fixed zone -> g/kWh table (until a live source is configured)."""
    values = {str(k): float(v) for k, v in table.items()}

    def intensity(zone: str, _now_s: float) -> float:
        return values[zone]

    return intensity


def live_intensity(live: LiveReadings) -> IntensityProvider:
    """Readings of a live source as the extender's provider: never blocks a scheduling
    request (`LiveReadings` asks the source in the background), says how old each reading
    is, and the zone's annual mean (as old as `max_age_s`) stands in when there is none."""

    def intensity(zone: str, now_s: float) -> tuple[float, float]:
        r = live.read(zone, now_s)
        return r.g_per_kwh, r.at_s

    return intensity


def rtt_table(path: Path) -> RttProvider:
    """RTTs from a `sending_region,receiving_region,milliseconds` CSV; same region is 0 ms."""
    ms: dict[tuple[str, str], float] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            a, b, v = row["sending_region"], row["receiving_region"], float(row["milliseconds"])
            ms[(a, b)] = v
            ms.setdefault((b, a), v)

    def rtt(origin: str, region: str) -> float:
        return 0.0 if origin == region else ms[(origin, region)]

    return rtt


def build(argv: Sequence[str] | None = None) -> tuple[Extender, argparse.Namespace]:
    p = argparse.ArgumentParser(
        prog="python -m tessera.control.k8s_extender",
        description="A Kubernetes scheduler extender over a placement policy.",
    )
    add = p.add_argument
    add("--host", default="0.0.0.0")
    add("--port", type=int, default=8888)
    add("--policy", default="tessera", help="a registered placement policy")
    add("--params", default="{}", help='policy parameters, JSON: {"latency_budget_ms": 50}')
    add("--intensities", type=Path, help="JSON zone (or region) -> gCO2eq/kWh")
    add(
        "--source",
        help='a live carbon source, JSON: {"kind": "electricitymaps", "token": "env:EMAPS_TOKEN"}'
        " (env:NAME reads a variable); failures fall back to the last reading, then the "
        "zone's annual mean",
    )
    add("--zones", type=Path, help="JSON region -> zone, e.g. gcp_region_to_emaps_zone.json")
    add("--latency", type=Path, help="CSV sending_region,receiving_region,milliseconds")
    add("--origin", default="", help="origin region of pods without the annotation")
    add("--region-label", default=REGION_LABEL)
    add("--max-score", type=int, default=MAX_EXTENDER_PRIORITY)
    add("--refresh-s", type=float, default=300.0, help="re-read intensities this often")
    add("--strict", action="store_true", help="filter to the chosen region only")
    a = p.parse_args(argv)
    try:
        params = json.loads(a.params)
    except json.JSONDecodeError as e:
        raise InputError("--params", a.params, f"a JSON object ({e.msg})") from None
    require(isinstance(params, dict), "--params", a.params, "a JSON object")
    policy = create({**params, "kind": a.policy})
    if a.source is not None and a.intensities is not None:
        raise InputError("--source", a.source, "either --source or --intensities, not both")
    zones = json.loads(a.zones.read_text()) if a.zones else {}
    refresh_s = a.refresh_s
    require(a.refresh_s > 0, "--refresh-s", a.refresh_s, "seconds > 0")
    if a.source is not None:
        source = source_from_config(a.source, "--source")
        live = LiveReadings(source, a.refresh_s, table=CarbonTable.load())  # loaded now
        live.prefetch(sorted(set(zones.values())))
        intensity = live_intensity(live)
        refresh_s = 0.0  # LiveReadings paces the source; ask it (microseconds) every time
    else:
        if a.intensities is None:
            log.warning("no --intensities or --source: every region fails without a signal")
        intensity = table_intensity(json.loads(a.intensities.read_text()) if a.intensities else {})
    ext = Extender(
        policy,
        intensity,
        zones=zones,
        rtt_ms=rtt_table(a.latency) if a.latency else None,
        origin=a.origin,
        region_label=a.region_label,
        max_score=a.max_score,
        refresh_s=refresh_s,
        strict=a.strict,
    )
    return ext, a


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        ext, a = build(argv)
    except (InputError, OSError, ValueError) as e:  # bad option, unreadable or bad file
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    srv = server(a.host, a.port, ext.route)
    print(f"tessera k8s extender ({ext.policy.name}) on {a.host}:{srv.server_port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
