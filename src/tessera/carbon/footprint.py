"""The footprint of real invocations: energy, operational and embodied carbon, per record.

The simulator charges every invocation it models (`tessera.sim`); the local platform runs
real ones and gives each record the same accounting (`tessera.carbon.accounting`):

  execution = the function's allocated cores, memory and GPU share (one concurrency slot's:
              divided by the requests an instance serves at once) for the execution time, at
              utilisation cpu_s / (time x cores) when the worker measured its CPU time (1.0,
              the busy upper bound, when it did not); CPU beyond the allocation (the ranks
              of an MPI job) is charged as the cores it kept busy
  cold start = the same slot of the instance, busy, for the part of its cold start the
              invocation waited for (the `concurrency` requests a new instance takes in
              share it; instances started ahead of demand are the platform's overhead)
  energy    = power(usage) x time                 (J at the server's wall)
  operational = energy x PUE x intensity(zone, end of the invocation)
  embodied  = the server's embodied carbon, amortised over the time x allocated share

`Footprinter` knows where the platform runs (a cloud region, mapped to its grid zone, or a
zone directly). `LiveReadings` reads grid intensities without ever blocking its caller on
the network: a local table is read directly; a remote source is asked on a background
thread every `refresh_s`, its last answer served until `max_age_s`, the table's annual mean
(marked stale) before its first answer and after that. Without a region the intensity is
unknown: operational carbon is None, never a made-up zero.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from tessera.carbon.accounting import (
    DEFAULT_SERVER,
    J_PER_KWH,
    ServerModel,
    Usage,
    embodied_g,
    power_w,
)
from tessera.carbon.grid import CarbonTable, Latency
from tessera.carbon.sources import CarbonSource, Reading, TableSource
from tessera.core.errors import InputError, require
from tessera.core.resources import GpuShare, Resources

log = logging.getLogger(__name__)

Charge = Callable[
    [float, "float | None", float, float],
    tuple[float, float, "float | None", "float | None", "Reading | None"],
]
"""(exec_s, cpu_s, cold_s, at_s) -> (J, embodied g, operational g, g/kWh, the reading it came
from): `Footprinter.charger`."""

REFRESH_S = 300.0
"""How often a remote source is asked again (GreenCourier reads every 5 minutes)."""
MAX_AGE_S = 3 * 3600.0
"""A remote reading older than this gives way to the annual mean (as `sources.Fallback`)."""


class LiveReadings:
    """Grid intensities of any zone from `source`, never blocking the caller.

    A `TableSource` is read directly (microseconds). Any other source is asked on a
    background thread, at most once per `refresh_s` per zone; callers get its last answer
    while younger than `max_age_s` (stale when the latest ask failed), else the zone's
    annual mean from `table`, marked stale and dated `max_age_s` back. Failures are logged,
    never raised."""

    def __init__(
        self,
        source: CarbonSource,
        refresh_s: float = REFRESH_S,
        max_age_s: float = MAX_AGE_S,
        table: CarbonTable | None = None,
    ) -> None:
        require(refresh_s > 0, "refresh_s", refresh_s, "seconds > 0")
        require(max_age_s > 0, "max_age_s", max_age_s, "seconds > 0")
        self.source = source
        self.refresh_s, self.max_age_s = refresh_s, max_age_s
        self.local = isinstance(source, TableSource)
        self._table = table
        self._lock = threading.Lock()
        self._source_lock = threading.Lock()
        self._last: dict[str, Reading] = {}
        self._failed: set[str] = set()
        self._asked: dict[str, float] = {}
        self._busy: set[str] = set()
        self._hourly: dict[tuple[str, int], Reading] = {}

    @property
    def name(self) -> str:
        return str(getattr(self.source, "name", type(self.source).__name__))

    @property
    def table(self) -> CarbonTable:
        if self._table is None:
            self._table = CarbonTable.load()
        return self._table

    def read(self, zone: str, at_s: float | None = None) -> Reading:
        """The intensity of `zone` at `at_s` (default now), as described above."""
        at = time.time() if at_s is None else at_s
        if self.local:  # an hourly table: one lookup per zone and hour
            key = (zone, math.floor(at / 3600.0))
            hit = self._hourly.get(key)
            if hit is None:
                if len(self._hourly) >= 4096:
                    self._hourly.clear()
                hit = self._hourly[key] = self.source.read(zone, at)
            return hit if hit.at_s == at else replace(hit, at_s=at)
        self._ask(zone, at)
        with self._lock:
            last, failed = self._last.get(zone), zone in self._failed
        if last is not None and at - last.at_s <= self.max_age_s:
            return (
                replace(last, stale=True, source=f"{last.source} (last good)") if failed else last
            )
        why = "no answer yet" if last is None else f"last answer {at - last.at_s:.0f} s old"
        return Reading(  # an annual mean is as old as a reading may be: at_s says so
            zone, self.table.annual_mean(zone), "average", at - self.max_age_s,
            f"annual mean of {self.table.source} ({self.name}: {why})",
            stale=True, basis="lifecycle",
        )  # fmt: skip

    def prefetch(self, zones: Iterable[str], at_s: float | None = None) -> None:
        """Ask for `zones` now (in the background), before anyone needs them."""
        if not self.local:
            at = time.time() if at_s is None else at_s
            for z in zones:
                self._ask(z, at)

    def answered(self, zone: str) -> bool:
        """Whether `zone` has had an answer from the source (a table always has)."""
        with self._lock:
            return self.local or zone in self._last

    def wait(self, zones: Iterable[str], timeout_s: float = 10.0) -> bool:
        """Block until every zone's first ask has finished; True if each got an answer."""
        zones = list(zones)
        self.prefetch([z for z in zones if not self.answered(z)])
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            with self._lock:
                if not any(z in self._busy for z in zones):
                    break
            time.sleep(0.01)
        return all(self.answered(z) for z in zones)

    def _ask(self, zone: str, at_s: float) -> None:
        with self._lock:
            due = zone not in self._busy and at_s - self._asked.get(zone, -math.inf) >= (
                self.refresh_s
            )
            if due:
                self._busy.add(zone)
                self._asked[zone] = at_s
        if due:
            threading.Thread(target=self._refresh, args=(zone, at_s), daemon=True).start()

    def _refresh(self, zone: str, at_s: float) -> None:
        r: Reading | None = None
        try:
            with self._source_lock:  # one call at a time: providers keep tokens, back-offs
                r = self.source.read(zone, at_s)
        except Exception as e:  # whatever the provider raises: keep serving
            log.warning("carbon source %s failed for %s: %s", self.name, zone, e)
        finally:
            with self._lock:
                self._busy.discard(zone)
                if r is not None and not r.stale:
                    last = self._last.get(zone)
                    if last is None or r.at_s >= last.at_s:  # an older ask never wins
                        self._last[zone] = r
                    self._failed.discard(zone)
                else:
                    self._failed.add(zone)


@dataclass(frozen=True, slots=True)
class Footprint:
    """What one invocation record carries about its footprint."""

    region: str
    energy_j: float
    embodied_g: float
    carbon_g: float | None  # operational; None: the platform does not know its grid
    g_per_kwh: float | None
    cpu_util: float
    source: str
    stale: bool = False


class Footprinter:
    """Footprints of invocations run where this platform runs.

    `region`: a cloud region of `tessera.carbon.grid.Latency` (e.g. europe-west9), mapped to
    its grid zone; or `zone`: an Electricity Maps zone directly (e.g. FR). Neither: operational
    carbon is unknown (None). `source`: where intensities come from (default: the hourly table,
    real 2022 data under $TESSERA_DATA or the derived default, the same hour of the year).
    """

    def __init__(
        self,
        region: str | None = None,
        zone: str | None = None,
        source: CarbonSource | None = None,
        server: ServerModel = DEFAULT_SERVER,
        pue: float | None = None,
        refresh_s: float = REFRESH_S,
        table: CarbonTable | None = None,
    ) -> None:
        require(pue is None or pue >= 1.0, "pue", pue, "a power usage effectiveness >= 1")
        if region and zone:
            raise InputError("zone", zone, "either a region or a zone, not both")
        if region:
            zone = Latency.load().zone_of(region)  # InputError naming the known regions
        self.region = region or zone or ""
        self.zone = zone or None
        self.server = server
        self._gpu_server = server.with_gpus(1)
        self.pue = server.pue if pue is None else pue
        self._table = table
        if self.zone is not None:  # now, not on the request path; the fallback needs the zone
            table = self._table = table if table is not None else CarbonTable.load()
            if self.zone not in table.zones:
                raise InputError(
                    "zone", self.zone, "a zone of the carbon table: " + ", ".join(table.zones)
                )
        self._source = source
        self._live: LiveReadings | None = None
        self._rate_cache: dict[
            tuple[int, float, float, GpuShare | None], tuple[float, float, float]
        ] = {}
        if self.zone is not None:
            live = self.live(refresh_s)
            if live.local:  # a zone the table lacks fails here, not at every invocation
                live.read(self.zone)
            else:
                live.prefetch([self.zone])

    def live(self, refresh_s: float = REFRESH_S) -> LiveReadings:
        """The readings behind this footprinter (built on first use)."""
        if self._live is None:
            if self._source is None:
                table = self._table if self._table is not None else CarbonTable.load()
                self._table = table
                self._source = TableSource(table, calendar=True)
            self._live = LiveReadings(self._source, refresh_s, table=self._table)
        return self._live

    def reading(self, at_s: float | None = None) -> Reading | None:
        """The grid intensity at `at_s` (default now); None without a zone. Never blocks."""
        return None if self.zone is None else self.live().read(self.zone, at_s)

    def _reading_or_why(self, at_s: float | None) -> tuple[Reading | None, str]:
        if self.zone is None:
            return None, "no region set"
        try:
            r = self.live().read(self.zone, at_s)
        except (InputError, LookupError) as e:  # a source that does not know the zone
            return None, f"no reading for {self.zone}: {e}"
        return r, r.source

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """Block until a remote source has answered once (tests, start-up); True if it has."""
        return self.zone is None or self.live().wait([self.zone], timeout_s)

    # -- accounting --------------------------------------------------------------------------
    def invocation(
        self,
        resources: Resources,
        exec_s: float,
        cpu_s: float | None = None,
        at_s: float | None = None,
        share: float = 1.0,
        cold_s: float = 0.0,
        gpu: GpuShare | None = None,
    ) -> Footprint:
        """The footprint of one invocation that held `share` of `resources` (an instance
        serving `concurrency` requests at once gives each 1/concurrency) for `exec_s`
        seconds, using `cpu_s` seconds of CPU if the worker measured it, after waiting
        `cold_s` for its instance to start; intensity at `at_s`. `gpu`: the instance's
        current GPU share when it differs from `resources` (resized). `InputError` when the
        allocation does not fit the server model. (`charger` is the same, per allocation.)"""
        at = time.time() if at_s is None else at_s
        energy, emb, op, g, r = self.charger(resources, share, gpu)(exec_s, cpu_s, cold_s, at)
        cores = resources.cpu * share
        util = 1.0
        if cpu_s is not None and cpu_s >= 0 and exec_s > 0 and cores > 0:
            util = min(1.0, cpu_s / (exec_s * cores))
        why = r.source if r is not None else self._reading_or_why(at)[1]
        return Footprint(
            self.region, energy, emb, op, g, util, why, False if r is None else r.stale
        )

    def charger(
        self, resources: Resources, share: float = 1.0, gpu: GpuShare | None = None
    ) -> Charge:
        """The charge of one allocation, specialised once (the platform builds one per
        function version): charge(exec_s, cpu_s, cold_s, at_s) -> (J, embodied g,
        operational g or None, g/kWh or None, the `Reading` it used or None), a few
        multiplications per record.
        `InputError` now when the allocation does not fit the server model."""
        require(0 < share <= 1, "share", share, "a fraction in (0, 1]")
        gpu = gpu if gpu is not None else resources.gpu
        server = self._gpu_server if gpu is not None and self.server.gpus == 0 else self.server
        cores, mem_gib = resources.cpu * share, resources.mem_mib * share / 1024.0
        slot_gpu = (
            gpu if gpu is None or share == 1 else replace(gpu, quota_pct=gpu.quota_pct * share)
        )
        a, b, emb_per_s = self._rates(server, cores, mem_gib, slot_gpu)
        frac = server.cpu_curve.fraction
        busy_w = a + b * frac(1.0)  # the slot busy (a cold start, or CPU time unknown)
        zone, pue = self.zone, self.pue
        live = self.live() if zone is not None else None

        def charge(
            exec_s: float, cpu_s: float | None, cold_s: float, at_s: float
        ) -> tuple[float, float, float | None, float | None, Reading | None]:
            exec_s, cold_s = max(0.0, exec_s), max(0.0, cold_s)
            exec_emb = emb_per_s
            if cpu_s is None or cpu_s < 0 or exec_s <= 0 or cores <= 0:
                power = busy_w
            elif cpu_s > exec_s * cores:  # more than it asked for (an MPI job's ranks):
                used = min(cpu_s / exec_s, float(server.cores))  # the cores it kept busy
                a2, b2, exec_emb = self._rates(server, used, mem_gib, slot_gpu)
                power = a2 + b2 * frac(1.0)
            else:
                power = a + b * frac(cpu_s / (exec_s * cores))
            energy = power * exec_s + busy_w * cold_s
            emb = exec_emb * exec_s + emb_per_s * cold_s
            if live is None or zone is None:
                return energy, emb, None, None, None
            try:
                r = live.read(zone, at_s)
            except (InputError, LookupError):
                return energy, emb, None, None, None
            g = r.g_per_kwh
            return energy, emb, energy / J_PER_KWH * pue * g, g, r

        return charge

    def _rates(
        self, server: ServerModel, cores: float, mem_gib: float, gpu: GpuShare | None
    ) -> tuple[float, float, float]:
        """(a W, b W, embodied g/s) of an allocation, power = a + b x curve(util): the
        accounting's own power model (`power_w` and `embodied_g` are pure and affine in the
        curve), evaluated once per allocation, so a record costs a few multiplications."""
        key = (id(server), cores, mem_gib, gpu)
        rates = self._rate_cache.get(key)
        if rates is None:
            curve = server.cpu_curve
            lo, hi = curve.fraction(0.0), curve.fraction(1.0)
            p_lo = power_w(Usage(1.0, cores, 0.0, mem_gib, gpu), server)
            p_hi = power_w(Usage(1.0, cores, 1.0, mem_gib, gpu), server)
            b = (p_hi - p_lo) / (hi - lo) if hi != lo else 0.0
            rates = (p_lo - b * lo, b, embodied_g(Usage(1.0, cores, 1.0, mem_gib, gpu), server))
            if len(self._rate_cache) >= 4096:  # bounded: cores vary when a job overruns
                self._rate_cache.clear()
            self._rate_cache[key] = rates
        return rates
