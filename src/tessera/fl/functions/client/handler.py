"""The FL client as a Tessera function: read the global model, train locally, store the result.

Stateless between invocations apart from two per-process caches (the data
set by name, the store by URL), which is what makes a warm invocation cheaper
than a cold one. The event (all keys required unless noted):

    {store: URL, global_key, client, indices_key, dataset, model, epochs,
     batch_size, lr, seed, prox_mu (default 0), result_key, dataset_limit (optional),
     c_key, ci_key, c_delta_key (optional: all three for SCAFFOLD, or none)}

`indices_key` names the client's training-set row indices, stored as a vector
in the same `ParamStore` as the parameters. The answer is
`{result_key, n_samples, train_time_s}`; `train_time_s` is measured around
training alone (no data loading, no store reads or writes).

SCAFFOLD (Karimireddy et al. 2020), with the same math as `tessera.sim.fl`:
`c_key` names the server control variate c, `ci_key` this client's c_i (absent
from the store: zeros, the client's first SCAFFOLD round). The client trains
with correction c - c_i added to every gradient step, then writes
c_i' = c_i - c + (x - y) / (K lr) under `ci_key` (x the global model, y the
trained one, K = epochs x ceil(n / batch_size) local steps) and c_i' - c_i
under `c_delta_key`, and adds `c_delta_key` to the answer. A client without
samples trains no step and writes neither. Without these keys: no correction.
"""

from __future__ import annotations

import math
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
_SCAFFOLD = ("c_key", "ci_key", "c_delta_key")


def _dataset(name: str, limit: int | None) -> Dataset:
    key = (name, limit)
    if key not in _DATA:
        _DATA[key] = load(name, limit=limit)
    return _DATA[key]


def _store(url: str) -> ParamStore:
    if url not in _STORES:
        _STORES[url] = open_store(url)
    return _STORES[url]


def _control_variates(
    store: ParamStore, event: dict[str, Any], like: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(c, c_i) when the event asks for SCAFFOLD, else None."""
    given = [k for k in _SCAFFOLD if k in event]
    if not given:
        return None
    if len(given) < len(_SCAFFOLD):
        missing = next(k for k in _SCAFFOLD if k not in event)
        raise InputError(f"event.{missing}", "missing", f"all of {', '.join(_SCAFFOLD)}, or none")
    c = store.get(str(event["c_key"]))
    try:
        ci = store.get(str(event["ci_key"]))
    except KeyError:
        ci = np.zeros_like(like)
    return c, ci


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
    cv = _control_variates(store, event, params)
    model = make_model(str(event["model"]), data.n_features, data.n_classes)
    X, y = data.X_train[idx], data.y_train[idx]
    rng = np.random.default_rng(int(event["seed"]))
    epochs, batch_size, lr = int(event["epochs"]), int(event["batch_size"]), float(event["lr"])
    t0 = time.perf_counter()
    if len(idx) > 0:
        new = model.train(
            params, X, y, epochs=epochs, batch_size=batch_size, lr=lr, rng=rng,
            prox_mu=float(event.get("prox_mu", 0.0)), anchor=params,
            correction=None if cv is None else cv[0] - cv[1],
        )  # fmt: skip
    else:
        new = params
    train_time_s = time.perf_counter() - t0
    store.put(str(event["result_key"]), new)
    answer = {
        "result_key": event["result_key"],
        "n_samples": len(idx),
        "train_time_s": train_time_s,
    }
    steps = epochs * math.ceil(len(idx) / batch_size)
    if cv is not None and steps > 0:
        c, ci = cv
        ci_new = ci - c + (params - new) / (steps * lr)
        store.put(str(event["c_delta_key"]), ci_new - ci)
        store.put(str(event["ci_key"]), ci_new)  # last: a failure before leaves c_i as it was
        answer["c_delta_key"] = event["c_delta_key"]
    return answer
