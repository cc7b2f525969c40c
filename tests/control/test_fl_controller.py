"""The wall-clock FL controller on the local platform: real client functions, real log.

Each test starts the platform in-process, deploys the packaged `fl-client` function and runs a
strategy over six digits clients, with the parameters in a SQLite store file. The `home`
fixture (from the platform tests) fails a test that leaves a worker process behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tessera.control.fl import CLIENT_FUNCTION_DIR, FlControlConfig, FlController
from tessera.core.errors import InputError
from tessera.fl.data import Dataset, load, partition
from tessera.fl.log import summary
from tessera.fl.strategy import FlConfig
from tests.platforms.helpers import async_test, deploy, platform

ROUNDS = 3


def _clients(data: Dataset, n: int = 6) -> dict[str, np.ndarray]:
    parts = partition(data.y_train, n, "iid", rng=np.random.default_rng(0))
    return {f"c{i}": p for i, p in enumerate(parts)}


async def _run(home_dir: Path, tmp_path: Path, strategy: dict[str, Any], fl: FlConfig) -> Any:
    data = load("digits")
    store_url = f"sqlite:///{tmp_path / 'params.db'}"  # absolute path: four slashes
    cfg = FlControlConfig(fl=fl, rounds=ROUNDS, round_timeout_s=60.0, lr=0.1, seed=1)
    async with platform(home_dir, timeout_s=120.0) as (_p, c):
        assert await deploy(c, CLIENT_FUNCTION_DIR) == {"name": "fl-client", "version": 1}
        ctl = FlController(strategy, c, store_url, data, "softmax", _clients(data), cfg)
        return await ctl.run()


def _check(res: Any, clients: int) -> None:
    recs = res.records
    assert recs, "no invocations logged"
    assert len({r.key for r in recs}) == len(recs)
    assert all(r.ok for r in recs), [r for r in recs if not r.ok]
    assert all(0 <= r.start_s < r.end_s for r in recs)
    assert all(0 < r.train_time_s <= r.end_s - r.start_s for r in recs)
    assert all(r.memory_mib == 2048 and r.cost_usd > 0 for r in recs)
    assert all(r.client in res.clients for r in recs) and len(res.clients) == clients
    # a fresh platform cold-starts instances for round 0; once one has served, it is reused warm
    first_cold = min((r for r in recs if r.cold), key=lambda r: r.end_s, default=None)
    assert first_cold is not None and first_cold.round_started == 0, recs
    assert any(not r.cold and r.start_s >= first_cold.end_s for r in recs), recs
    # one accuracy point per aggregation, in time order, better than chance and not collapsing
    assert len(res.timeline) == ROUNDS
    times = [t for t, _ in res.timeline]
    accs = [a for _, a in res.timeline]
    assert times == sorted(times)
    assert all(0.0 <= a <= 1.0 for a in accs)
    assert accs[-1] > 0.5 and accs[-1] >= accs[0] - 0.05
    aggregated = {r.round_aggregated for r in recs} - {None}
    assert aggregated == set(range(ROUNDS))
    m = res.metrics(0.8)
    assert m.keys() == summary([], [], [], 0.8).keys()
    assert m["invocations"] == len(recs) and m["rounds"] == ROUNDS
    assert m["final_accuracy"] == accs[-1]


@async_test(90)
async def test_fedavg_over_client_functions(home: Path, tmp_path: Path) -> None:
    res = await _run(home, tmp_path, {"kind": "fedavg"}, FlConfig(clients_per_round=6))
    _check(res, 6)
    assert res.strategy == "fedavg"
    # synchronous: every round aggregates exactly the 6 invocations it started
    for r in range(ROUNDS):
        assert sum(rec.round_aggregated == r for rec in res.records) == 6


@async_test(90)
async def test_fedbuff_over_client_functions(home: Path, tmp_path: Path) -> None:
    fl = FlConfig(clients_per_round=4, concurrency_ratio=0.5)
    res = await _run(home, tmp_path, {"kind": "fedbuff"}, fl)
    _check(res, 6)
    assert res.strategy == "fedbuff"
    # asynchronous: an aggregation needs only ceil(0.5 x 4) = 2 results
    assert all(sum(rec.round_aggregated == r for rec in res.records) >= 2 for r in range(ROUNDS))


def test_bad_input_is_refused(tmp_path: Path) -> None:
    import httpx

    data = load("digits", limit=100)
    clients = _clients(data, 2)
    http = httpx.AsyncClient(base_url="http://127.0.0.1:1")
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with pytest.raises(InputError, match="nope"):
        FlController({"kind": "nope"}, http, url, data, "softmax", clients)
    with pytest.raises(InputError, match="store url"):
        FlController({"kind": "fedavg"}, http, "postgres://x", data, "softmax", clients)
    with pytest.raises(InputError, match="scaffold"):
        FlController({"kind": "scaffold"}, http, url, data, "softmax", clients)
    with pytest.raises(InputError, match="model"):
        FlController({"kind": "fedavg"}, http, url, data, "resnet", clients)
