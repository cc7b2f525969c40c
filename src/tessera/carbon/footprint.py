"""The footprint of real invocations: energy, operational and embodied carbon, per record.

The simulator charges every invocation it models (`tessera.sim`); the local platform runs
real ones and gives each record the same accounting (`tessera.carbon.accounting`):

  held      = execution time + the cold start it waited for (the instance existed for it)
  usage     = the function's allocated cores, memory and GPU share (one concurrency slot's:
              divided by the requests an instance serves at once), held that long, at
              utilisation cpu_s / (held x cores) when the worker measured its CPU time
              (1.0, the busy upper bound, when it did not)
  energy    = power(usage) x held                 (J at the server's wall)
  operational = energy x PUE x intensity(zone, end of the invocation)
  embodied  = the server's embodied carbon, amortised over held x allocated share

`Footprinter` knows where the platform runs (a cloud region, mapped to its grid zone, or a
zone directly) and reads the grid intensity from a `CarbonSource` without ever blocking its
caller on the network: a local table is read directly, a remote source is refreshed on a
background thread and, until its first answer, the table's annual mean stands in (marked
stale). Without a region the intensity is unknown: energy and embodied carbon are still
recorded, operational carbon is None (unknown), never a made-up zero.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, replace

from tessera.carbon.accounting import DEFAULT_SERVER, ServerModel, Usage, account
from tessera.carbon.grid import START_2022_UNIX_S, CarbonTable, Latency
from tessera.carbon.sources import CarbonSource, Reading, SourceError, TableSource
from tessera.core.errors import InputError, require
from tessera.core.resources import Resources

log = logging.getLogger(__name__)

REFRESH_S = 300.0
"""How often a remote source is asked again (GreenCourier reads every 5 minutes)."""


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
        require(refresh_s > 0, "refresh_s", refresh_s, "seconds > 0")
        require(pue is None or pue >= 1.0, "pue", pue, "a power usage effectiveness >= 1")
        self._table = table
        if region and zone:
            raise InputError("zone", zone, "either a region or a zone, not both")
        if region:
            zone = Latency.load().zone_of(region)  # InputError naming the known regions
        if zone and zone not in self.table.zones:
            raise InputError(
                "zone", zone, "a zone of the carbon table: " + ", ".join(self.table.zones)
            )
        self.region = region or zone or ""
        self.zone = zone or None
        self.server = server
        self._gpu_server = server.with_gpus(1)
        self.pue = server.pue if pue is None else pue
        self.refresh_s = refresh_s
        self._source = source
        self._local = source is None or isinstance(source, TableSource)
        self._reading: Reading | None = None
        self._asked_s = -math.inf
        self._lock = threading.Lock()
        self._refreshing = False

    @property
    def source(self) -> CarbonSource:
        """Where intensities come from (the table is loaded on first use)."""
        if self._source is None:
            self._source = TableSource(self.table, epoch_s=START_2022_UNIX_S)
        return self._source

    @property
    def table(self) -> CarbonTable:
        if self._table is None:
            self._table = CarbonTable.load()
        return self._table

    # -- intensity ---------------------------------------------------------------------------
    def reading(self, at_s: float | None = None) -> Reading | None:
        """The grid intensity at `at_s` (default now); None without a zone. Never blocks on
        the network: a remote source answers from its last reading (refreshed behind)."""
        if self.zone is None:
            return None
        at = time.time() if at_s is None else at_s
        if self._local:
            return self.source.read(self.zone, at)
        with self._lock:
            current = self._reading
            due = at - self._asked_s >= self.refresh_s and not self._refreshing
            if due:
                self._refreshing = True
                self._asked_s = at
        if due:
            threading.Thread(target=self._refresh, args=(at,), daemon=True).start()
        if current is None:
            mean = self.table.annual_mean(self.zone)
            return Reading(
                self.zone, mean, "average", at,
                f"annual mean of {self.table.source} (waiting for {self.source_name})",
                stale=True, basis="lifecycle",
            )  # fmt: skip
        return current

    @property
    def source_name(self) -> str:
        return str(getattr(self.source, "name", type(self.source).__name__))

    def _refresh(self, at_s: float) -> None:
        try:
            r = self.source.read(self.zone or "", at_s)
        except (SourceError, OSError) as e:
            log.warning("carbon source %s failed: %s", self.source_name, e)
            r = None
        with self._lock:
            if r is not None:
                self._reading = r
            elif self._reading is not None:
                self._reading = Reading(
                    self._reading.zone, self._reading.g_per_kwh, self._reading.signal,
                    self._reading.at_s, f"{self._reading.source} (last good)", stale=True,
                    basis=self._reading.basis,
                )  # fmt: skip
            self._refreshing = False

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """Block until a remote source has answered once (tests, start-up); True if it has."""
        if self._local or self.zone is None:
            return True
        self.reading()
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            with self._lock:
                if self._reading is not None or not self._refreshing:
                    return self._reading is not None
            time.sleep(0.01)
        return False

    # -- accounting --------------------------------------------------------------------------
    def invocation(
        self,
        resources: Resources,
        held_s: float,
        cpu_s: float | None = None,
        at_s: float | None = None,
        share: float = 1.0,
    ) -> Footprint:
        """The footprint of one invocation that held `share` of `resources` (an instance
        serving `concurrency` requests at once gives each 1/concurrency) for `held_s` seconds
        and, if the worker measured it, used `cpu_s` seconds of CPU; intensity at `at_s`."""
        require(0 < share <= 1, "share", share, "a fraction in (0, 1]")
        held = max(0.0, held_s)
        cores = resources.cpu * share
        if cpu_s is None or cpu_s < 0 or held <= 0 or cores <= 0:
            util = 1.0
        else:
            util = min(1.0, cpu_s / (held * cores))
        gpu = resources.gpu
        if gpu is not None and share < 1:
            gpu = replace(gpu, quota_pct=gpu.quota_pct * share)
        usage = Usage(held, cores, util, resources.mem_mib * share / 1024.0, gpu)
        server = self.server
        if resources.gpu is not None and server.gpus == 0:
            server = self._gpu_server  # the platform's GPU host drives one board
        r = self.reading(at_s)
        rec = account(usage, 0.0 if r is None else r.g_per_kwh, server, self.pue)
        return Footprint(
            region=self.region,
            energy_j=rec.energy_j,
            embodied_g=rec.embodied_g,
            carbon_g=None if r is None else rec.operational_g,
            g_per_kwh=None if r is None else r.g_per_kwh,
            cpu_util=util,
            source="no region set" if r is None else r.source,
            stale=False if r is None else r.stale,
        )
