"""The FL client as a Tessera function: read the global model, train locally, store the result.

Stateless between invocations apart from two per-process caches (the data
set by name, the store by URL), which is what makes a warm invocation cheaper
than a cold one. The event (all keys required unless noted):

    {store: URL, global_key, client, indices_key, dataset, model, epochs,
     batch_size, lr, seed, prox_mu (default 0), result_key, dataset_limit (optional)}

`indices_key` names the client's training-set row indices, stored as a vector
in the same `ParamStore` as the parameters. The answer is
`{result_key, n_samples, train_time_s}`; `train_time_s` is measured around
training alone (no data loading, no store reads or writes). SCAFFOLD's
control variates are not supported here.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tessera.core.errors import InputError
from tessera.fl.data import Dataset, load
from tessera.fl.models import make_model
from tessera.fl.store import ParamStore, open_store

_DATA: dict[tuple[str, int | None], Dataset] = {}
_STORES: dict[str, ParamStore] = {}
_REQUIRED = (
    "store", "global_key", "client", "indices_key", "dataset", "model", "epochs", "batch_size",
    "lr", "seed", "result_key",
)  # fmt: skip


def _dataset(name: str, limit: int | None) -> Dataset:
    key = (name, limit)
    if key not in _DATA:
        _DATA[key] = load(name, limit=limit)
    return _DATA[key]


def _store(url: str) -> ParamStore:
    if url not in _STORES:
        _STORES[url] = open_store(url)
    return _STORES[url]


def handle(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InputError("event", type(event).__name__, "a JSON object")
    missing = [k for k in _REQUIRED if k not in event]
    if missing:
        raise InputError(f"event.{missing[0]}", "missing", "a value (see the handler docstring)")
    data = _dataset(str(event["dataset"]), event.get("dataset_limit"))
    store = _store(str(event["store"]))
    params = store.get(str(event["global_key"]))
    idx = store.get(str(event["indices_key"])).astype(np.int64)
    model = make_model(str(event["model"]), data.n_features, data.n_classes)
    X, y = data.X_train[idx], data.y_train[idx]
    rng = np.random.default_rng(int(event["seed"]))
    t0 = time.perf_counter()
    if len(idx) > 0:
        new = model.train(
            params, X, y, epochs=int(event["epochs"]), batch_size=int(event["batch_size"]),
            lr=float(event["lr"]), rng=rng, prox_mu=float(event.get("prox_mu", 0.0)),
            anchor=params,
        )  # fmt: skip
    else:
        new = params
    train_time_s = time.perf_counter() - t0
    store.put(str(event["result_key"]), new)
    return {"result_key": event["result_key"], "n_samples": len(idx), "train_time_s": train_time_s}
