"""FL models: exact gradients, real learning on digits, FedProx and SCAFFOLD hooks, input checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tessera.core.errors import InputError
from tessera.fl.data import load
from tessera.fl.models import MLP, Model, SoftmaxRegression, make_model

D, K = 5, 4


def _small(seed: int = 0, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, D)).astype(np.float32), rng.integers(0, K, n)


def _model(name: str) -> SoftmaxRegression | MLP:
    return SoftmaxRegression(D, K) if name == "softmax" else MLP(D, K, hidden=6)


def _soft(y: np.ndarray, seed: int = 2) -> np.ndarray:
    """Random probability rows, one per label (distillation targets)."""
    t = np.random.default_rng(seed).dirichlet(np.ones(K), size=len(y))
    return t


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_gradient_matches_finite_differences(name: str, soft: bool) -> None:
    m = _model(name)
    X, labels = _small()
    y = _soft(labels) if soft else labels
    w = np.random.default_rng(1).normal(scale=0.5, size=m.n_params)
    _, grad = m.loss_and_grad(w, X, y)
    eps = 1e-6
    numeric = np.empty_like(w)
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = eps
        numeric[i] = (m.loss_and_grad(w + e, X, y)[0] - m.loss_and_grad(w - e, X, y)[0]) / (2 * eps)
    assert np.max(np.abs(grad - numeric)) < 1e-6 * max(1.0, np.max(np.abs(numeric)))


@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_one_hot_soft_targets_train_exactly_like_labels(name: str) -> None:
    m = _model(name)
    X, y = _small(n=30)
    w = m.init(np.random.default_rng(0))
    kw: dict[str, Any] = {"epochs": 2, "batch_size": 7, "lr": 0.2}
    hard = m.train(w, X, y, rng=np.random.default_rng(4), **kw)
    soft = m.train(w, X, np.eye(K)[y], rng=np.random.default_rng(4), **kw)
    np.testing.assert_allclose(soft, hard, rtol=1e-12, atol=1e-12)
    with pytest.raises(InputError) as e:
        m.train(w, X, np.full((30, K), 0.3), rng=np.random.default_rng(4), **kw)
    assert e.value.field == "y" and "summing to 1" in str(e.value)
    with pytest.raises(InputError):
        m.evaluate(w, X, np.eye(K)[y])  # accuracy needs labels


@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_loss_and_accuracy_agree_with_evaluate(name: str) -> None:
    m = _model(name)
    X, y = _small(n=40)
    w = m.init(np.random.default_rng(0))
    acc, loss = m.evaluate(w, X, y)
    assert 0.0 <= acc <= 1.0
    assert loss == pytest.approx(m.loss_and_grad(w, X, y)[0])
    assert acc == pytest.approx(np.mean(np.argmax(m.logits(w, X.astype(float)), axis=1) == y))


def test_softmax_is_stable_for_huge_logits() -> None:
    m = SoftmaxRegression(D, K)
    X, y = _small()
    w = np.full(m.n_params, 1e4)
    w[: D * K : K] = -1e4
    acc, loss = m.evaluate(w, X, y)
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0
    assert np.all(np.isfinite(m.loss_and_grad(w, X, y)[1]))


def test_softmax_learns_digits_in_a_few_epochs() -> None:
    ds = load("digits")
    m = make_model("softmax", ds.n_features, ds.n_classes)
    rng = np.random.default_rng(0)
    w0 = m.init(rng)
    w = m.train(w0, ds.X_train, ds.y_train, epochs=5, batch_size=16, lr=0.5, rng=rng)
    acc, loss = m.evaluate(w, ds.X_test, ds.y_test)
    assert acc > 0.9
    assert loss < m.evaluate(w0, ds.X_test, ds.y_test)[1]


def test_mlp_learns_digits() -> None:
    ds = load("digits")
    m = make_model("mlp", ds.n_features, ds.n_classes, hidden=32)
    rng = np.random.default_rng(0)
    w = m.train(m.init(rng), ds.X_train, ds.y_train, epochs=8, batch_size=16, lr=0.2, rng=rng)
    assert m.evaluate(w, ds.X_test, ds.y_test)[0] > 0.9


@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_train_is_deterministic_and_never_mutates_its_inputs(name: str) -> None:
    m = _model(name)
    X, y = _small(n=30)
    w0 = m.init(np.random.default_rng(0))
    kept = w0.copy()
    anchor = w0 + 0.1
    a = m.train(w0, X, y, epochs=2, batch_size=8, lr=0.1, rng=np.random.default_rng(5),
                prox_mu=0.5, anchor=anchor, correction=np.ones_like(w0))  # fmt: skip
    b = m.train(w0, X, y, epochs=2, batch_size=8, lr=0.1, rng=np.random.default_rng(5),
                prox_mu=0.5, anchor=anchor, correction=np.ones_like(w0))  # fmt: skip
    assert np.array_equal(a, b) and not np.array_equal(a, w0)
    assert np.array_equal(w0, kept) and np.array_equal(anchor, kept + 0.1)
    assert np.array_equal(
        m.train(w0, X, y, epochs=0, batch_size=8, lr=0.1, rng=np.random.default_rng(0)), w0
    )


@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_a_strong_prox_term_keeps_params_near_the_anchor(name: str) -> None:
    m = _model(name)
    X, y = _small(n=60)
    rng = np.random.default_rng(0)
    w0 = m.init(rng)
    anchor = m.init(rng)

    def drift(mu: float, anc: np.ndarray | None) -> float:
        w = m.train(w0, X, y, epochs=5, batch_size=10, lr=0.05, rng=np.random.default_rng(1),
                    prox_mu=mu, anchor=anc)  # fmt: skip
        return float(np.linalg.norm(w - (anchor if anc is not None else w0)))

    assert drift(10.0, anchor) < 0.01 * float(np.linalg.norm(w0 - anchor)) + 0.1
    assert drift(10.0, None) < 0.5 * drift(0.0, None)  # anchor defaults to the start
    assert drift(1.0, None) < drift(0.0, None)


@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_correction_is_added_to_every_gradient_step(name: str) -> None:
    m = _model(name)
    X, y = _small(n=20)
    w0 = m.init(np.random.default_rng(0))
    lr = 0.1
    # One sample, one step: the update is exactly -lr * (grad + correction).
    c = np.random.default_rng(2).normal(size=m.n_params)
    w = m.train(w0, X[:1], y[:1], epochs=1, batch_size=1, lr=lr, rng=np.random.default_rng(0),
                correction=c)  # fmt: skip
    assert np.allclose(w, w0 - lr * (m.loss_and_grad(w0, X[:1], y[:1])[1] + c))
    # With the same batches, the correction shifts a full-batch step by exactly -lr * c.
    plain = m.train(w0, X, y, epochs=1, batch_size=20, lr=lr, rng=np.random.default_rng(0))
    shifted = m.train(w0, X, y, epochs=1, batch_size=20, lr=lr, rng=np.random.default_rng(0),
                      correction=c)  # fmt: skip
    assert np.allclose(shifted - plain, -lr * c)


def test_make_model_and_protocol() -> None:
    soft = make_model("softmax", 64, 10)
    mlp = make_model("mlp", 64, 10)
    assert isinstance(soft, Model) and isinstance(mlp, Model)
    assert (soft.name, soft.n_params) == ("softmax", 64 * 10 + 10)
    assert (mlp.name, mlp.n_params) == ("mlp", 64 * 64 + 64 + 64 * 10 + 10)
    assert make_model("mlp", 8, 3, hidden=5).n_params == 8 * 5 + 5 + 5 * 3 + 3
    w = mlp.init(np.random.default_rng(0))
    assert w.dtype == np.float64 and w.shape == (mlp.n_params,)
    assert np.array_equal(w, mlp.init(np.random.default_rng(0)))


@pytest.mark.parametrize(
    ("args", "kw", "field"),
    [
        (("resnet", 4, 2), {}, "model"),
        (("mlp", 4, 2), {"width": 3}, "model.width"),
        (("mlp", 4, 2), {"hidden": 0}, "hidden"),
        (("softmax", 0, 2), {}, "n_features"),
        (("softmax", 4, 1), {}, "n_classes"),
    ],
)
def test_bad_model_arguments(args: tuple[Any, ...], kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as e:
        make_model(*args, **kw)
    assert e.value.field == field


def _train_kw(**over: Any) -> dict[str, Any]:
    return {"epochs": 1, "batch_size": 4, "lr": 0.1, "rng": np.random.default_rng(0)} | over


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"params": np.zeros(3)}, "params"),
        ({"params": [0.0] * (D * K + K)}, "params"),
        ({"params": np.full(D * K + K, np.nan)}, "params"),
        ({"X": np.zeros((6, D + 1))}, "X"),
        ({"X": np.zeros((0, D))}, "X"),
        ({"y": np.zeros(5, dtype=int)}, "y"),
        ({"y": np.full(6, K)}, "y"),
        ({"y": np.full(6, -1)}, "y"),
        ({"y": np.zeros(6)}, "y"),
        ({"epochs": -1}, "epochs"),
        ({"epochs": 1.5}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"prox_mu": -1.0}, "prox_mu"),
        ({"anchor": np.zeros(2)}, "anchor"),
        ({"correction": np.zeros(2)}, "correction"),
        ({"rng": 3}, "rng"),
    ],
)
def test_bad_train_input_names_the_field(change: dict[str, Any], field: str) -> None:
    m = SoftmaxRegression(D, K)
    call: dict[str, Any] = {
        "params": np.zeros(m.n_params),
        "X": np.zeros((6, D)),
        "y": np.zeros(6, dtype=int),
    }
    call |= _train_kw() | change
    with pytest.raises(InputError) as e:
        m.train(call.pop("params"), call.pop("X"), call.pop("y"), **call)
    assert e.value.field == field


def test_evaluate_rejects_bad_input() -> None:
    m = SoftmaxRegression(D, K)
    with pytest.raises(InputError) as e:
        m.evaluate(np.zeros(m.n_params), np.zeros((3, D)), np.array([0, 1, 9]))
    assert e.value.field == "y"
