"""Federated distillation: heterogeneous architectures really train, modes agree, clocks add up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tessera.core.errors import InputError
from tessera.fl import kd
from tessera.fl.data import load
from tessera.fl.store import open_store

ARCHS = ("softmax", "mlp-16", "mlp-64")
CFG = kd.KdConfig(rounds=4, lr=0.2, distil_lr=0.2, public_epochs=10)


@pytest.fixture(scope="module")
def setup() -> kd.KdSetup:
    data = load("digits")
    return kd.split(data, ARCHS, 3, 0.1, public=400, val=100, rng=np.random.default_rng(0))


def _run(method: str, mode: str, setup: kd.KdSetup, tmp: Path, ex: kd.Executor) -> kd.KdResult:
    return kd.KdRun(method, mode, setup, CFG, ex, f"sqlite:///{tmp}/{method}-{mode}.db").run()


def test_split_is_disjoint_and_deals_architectures_round_robin(setup: kd.KdSetup) -> None:
    private = np.concatenate([ix for _, ix in setup.clients.values()])
    every = np.concatenate([private, setup.public, setup.val])
    assert len(np.unique(every)) == len(every) == 1438
    assert [a for a, _ in setup.clients.values()] == list(ARCHS) * 3
    sizes = [len(ix) for _, ix in setup.clients.values()]
    assert max(sizes) > 2 * min(sizes)  # Dirichlet(0.1): unbalanced


def test_clients_train_different_architectures_and_distillation_beats_training_alone(
    setup: kd.KdSetup, tmp_path: Path
) -> None:
    ex = kd.Executor(0)
    alone = _run("local", "parallel", setup, tmp_path, ex)
    for method in ("fedmd", "feddf"):
        r = _run(method, "parallel", setup, tmp_path, ex)
        sizes = {setup.clients[c][0]: p.size for c, p in r.params.items()}
        assert len(set(sizes.values())) == len(ARCHS)  # three different parameter vectors
        data = load("digits")
        for c, p in r.params.items():
            model = kd.build(setup.clients[c][0], data)
            assert p.size == model.n_params
            acc, _ = model.evaluate(p, data.X_test, data.y_test)
            assert acc == pytest.approx(r.accuracy[c])
        assert r.mean_client_accuracy > alone.mean_client_accuracy + 0.15, method
        if method == "feddf":  # one model per architecture, shared by its clients
            for a in ARCHS:
                mine = [p for c, p in r.params.items() if setup.clients[c][0] == a]
                assert all(np.array_equal(mine[0], p) for p in mine)
        else:  # FedMD: every client keeps its own model
            assert not np.array_equal(r.params["c00"], r.params["c03"])


def test_modes_compute_the_same_models_and_the_clocks_add_up(
    setup: kd.KdSetup, tmp_path: Path
) -> None:
    ex = kd.Executor(0)
    for method, step in (("fedmd", "pretrain"), ("feddf", "distil")):
        seq = _run(method, "sequential", setup, tmp_path, ex)
        par = _run(method, "parallel", setup, tmp_path, ex)
        assert seq.accuracy == par.accuracy
        for c in seq.params:
            assert np.array_equal(seq.params[c], par.params[c])
        s_recs = [r for r in seq.records if r.hardware == step]
        p_recs = [r for r in par.records if r.hardware == step]
        assert seq.optimised_virtual_s == pytest.approx(sum(r.train_time_s for r in s_recs))
        if method == "feddf":  # per round: the slowest architecture's distillation
            per_round: dict[int, float] = {}
            for r in p_recs:
                per_round[r.round_started] = max(per_round.get(r.round_started, 0), r.train_time_s)
            assert par.optimised_virtual_s == pytest.approx(sum(per_round.values()))
        else:
            assert par.optimised_virtual_s == pytest.approx(max(r.train_time_s for r in p_recs))
        # sequential invocations follow one another on the virtual clock; parallel ones overlap
        starts = sorted(
            r.start_s for r in s_recs[: len(setup.clients) if step == "pretrain" else 3]
        )
        assert len(set(starts)) == len(starts)
        assert len({r.start_s for r in p_recs[:3]}) == 1
        assert all(r.cost_usd > 0 for r in seq.records)


def test_worker_processes_give_the_same_results_and_the_store_is_left_clean(
    setup: kd.KdSetup, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    here = _run("feddf", "parallel", setup, tmp_path / "a", kd.Executor(0))
    with kd.Executor(2) as ex:
        there = _run("feddf", "parallel", setup, tmp_path / "b", ex)
    assert there.accuracy == here.accuracy
    store = open_store(f"sqlite:///{tmp_path}/b/feddf-parallel.db")
    assert store.keys("kd/") == []


def test_distillation_keeps_the_best_validated_model(setup: kd.KdSetup, tmp_path: Path) -> None:
    data = load("digits")
    store = open_store(f"sqlite:///{tmp_path}/d.db")
    model = kd.build("mlp-16", data)
    w = model.init(np.random.default_rng(0))
    pub, val = setup.public, setup.val
    store.put("w", w)
    store.put("pub", pub.astype(float))
    store.put("val", val.astype(float))
    store.put("teacher", np.zeros((len(pub), data.n_classes)).ravel())  # uniform targets
    event = {"step": "distil", "arch": "mlp-16", "store": f"sqlite:///{tmp_path}/d.db",
             "dataset": "digits", "updates": ["w"], "weights": [1.0], "teachers": ["teacher"],
             "public": "pub", "val": "val", "checks": 6, "epochs_per_check": 1,
             "batch_size": 32, "lr": 0.5, "patience": 2, "seed": 0, "out": "out"}  # fmt: skip
    answer = kd.handle(event)
    start_acc = model.evaluate(w, data.X_train[val], data.y_train[val])[0]
    out = store.get("out")
    assert answer["val_accuracy"] >= start_acc
    assert model.evaluate(out, data.X_train[val], data.y_train[val])[0] == answer["val_accuracy"]
    assert answer["checks"] <= 6


def test_bad_input_names_the_field(setup: kd.KdSetup, tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        kd.KdRun("fedavg", "parallel", setup, CFG, kd.Executor(0), f"sqlite:///{tmp_path}/x.db")
    assert e.value.field == "method"
    with pytest.raises(InputError) as e:
        kd.KdRun("feddf", "fast", setup, CFG, kd.Executor(0), f"sqlite:///{tmp_path}/x.db")
    assert e.value.field == "mode"
    with pytest.raises(InputError) as e:
        kd.handle({"step": "fit"})
    assert e.value.field == "event.step"
    with pytest.raises(InputError) as e:
        kd.build("resnet", load("digits"))
    assert e.value.field == "architecture"
