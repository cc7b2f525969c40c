"""The packaged FL client handler called directly: plain training, SCAFFOLD, bad events.

The handler must train exactly as the model does with its seed, and its SCAFFOLD update must be
the simulator's (`tessera.sim.fl`): correction c - c_i on every step, then
c_i' = c_i - c + (x - y) / (K lr) with K = epochs x ceil(n / batch_size). The controller test
(tests/control/test_fl_controller.py) checks a whole platform run against the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tessera.core.errors import InputError
from tessera.fl.data import load
from tessera.fl.functions.client import handler
from tessera.fl.functions.client.handler import handle
from tessera.fl.models import make_model
from tessera.fl.store import SqliteStore

LIMIT, EPOCHS, BATCH, LR, SEED = 300, 2, 16, 0.1, 7


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[SqliteStore, dict[str, Any], np.ndarray]]:
    """A store with a global model and a client's 50 indices, and the event that trains them."""
    data = load("digits", limit=LIMIT)
    model = make_model("softmax", data.n_features, data.n_classes)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = SqliteStore(tmp_path / "p.db")
    idx = np.random.default_rng(0).choice(LIMIT, 50, replace=False)
    store.put("g", model.init(np.random.default_rng(1)))
    store.put("ix", idx.astype(np.float64))
    event = {
        "store": url, "global_key": "g", "client": "c0", "indices_key": "ix",
        "dataset": "digits", "dataset_limit": LIMIT, "model": "softmax", "epochs": EPOCHS,
        "batch_size": BATCH, "lr": LR, "seed": SEED, "result_key": "out",
    }  # fmt: skip
    yield store, event, idx
    store.close()
    if url in handler._STORES:  # the handler's per-process cache: release this test's file
        handler._STORES.pop(url).close()


def _train(store: SqliteStore, idx: np.ndarray, correction: np.ndarray | None) -> np.ndarray:
    data = load("digits", limit=LIMIT)
    model = make_model("softmax", data.n_features, data.n_classes)
    return model.train(
        store.get("g"), data.X_train[idx], data.y_train[idx], epochs=EPOCHS, batch_size=BATCH,
        lr=LR, rng=np.random.default_rng(SEED), correction=correction,
    )  # fmt: skip


def test_without_scaffold_keys_it_trains_plainly(setup: Any) -> None:
    store, event, idx = setup
    answer = handle(event, None)
    assert answer.keys() == {"result_key", "n_samples", "train_time_s"}
    assert answer["n_samples"] == 50 and answer["train_time_s"] > 0
    np.testing.assert_array_equal(store.get("out"), _train(store, idx, None))
    assert store.keys() == ["g", "ix", "out"]


@pytest.mark.parametrize("first_round", [True, False])
def test_scaffold_update_is_the_simulators(setup: Any, first_round: bool) -> None:
    store, event, idx = setup
    rng = np.random.default_rng(3)
    x = store.get("g")
    c = rng.normal(scale=0.01, size=x.shape)
    ci = np.zeros_like(x) if first_round else rng.normal(scale=0.01, size=x.shape)
    store.put("c", c)
    if not first_round:  # absent c_i: zeros
        store.put("ci", ci)
    answer = handle({**event, "c_key": "c", "ci_key": "ci", "c_delta_key": "d"}, None)
    assert answer["c_delta_key"] == "d"
    y = _train(store, idx, c - ci)
    np.testing.assert_array_equal(store.get("out"), y)
    assert not np.array_equal(y, _train(store, idx, None))  # the correction took effect
    steps = EPOCHS * math.ceil(len(idx) / BATCH)
    ci_new = ci - c + (x - y) / (steps * LR)  # as tessera.sim.fl computes it
    np.testing.assert_array_equal(store.get("ci"), ci_new)
    np.testing.assert_array_equal(store.get("d"), ci_new - ci)
    np.testing.assert_array_equal(store.get("c"), c)  # the server's c is the controller's


def test_a_client_without_samples_writes_no_control_variate(setup: Any) -> None:
    store, event, _ = setup
    store.put("ix", np.zeros(0))
    store.put("c", np.ones_like(store.get("g")))
    answer = handle({**event, "c_key": "c", "ci_key": "ci", "c_delta_key": "d"}, None)
    assert answer["n_samples"] == 0 and "c_delta_key" not in answer
    np.testing.assert_array_equal(store.get("out"), store.get("g"))
    assert store.keys() == ["c", "g", "ix", "out"]


def test_bad_events_are_refused(setup: Any) -> None:
    _, event, _ = setup
    with pytest.raises(InputError, match="event"):
        handle([event], None)
    with pytest.raises(InputError, match=r"event\.lr"):
        handle({k: v for k, v in event.items() if k != "lr"}, None)
    with pytest.raises(InputError, match=r"event\.c_delta_key"):
        handle({**event, "c_key": "c", "ci_key": "ci"}, None)
