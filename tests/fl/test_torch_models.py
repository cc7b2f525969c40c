"""Torch FL models keep the numpy models' contract: flat vectors, seeded SGD, FedProx/SCAFFOLD terms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tessera.core.errors import InputError
from tessera.fl.data import load
from tessera.fl.models import Model, make_model

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """One intra-op thread, as one function instance gets one vCPU: with pytest's two
    workers on two cores, torch's default pool oversubscribes the machine many times over."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ds = load("digits")
    return ds.X_train, ds.y_train, ds.X_test, ds.y_test


def test_cnn_learns_digits_and_is_reproducible_from_its_seed() -> None:
    X, y, Xt, yt = _digits()
    m = make_model("cnn", 64, 10)
    assert isinstance(m, Model) and m.name == "cnn"
    w0 = m.init(np.random.default_rng(0))
    assert w0.dtype == np.float64 and w0.shape == (m.n_params,)
    assert np.array_equal(w0, m.init(np.random.default_rng(0)))
    acc0, loss0 = m.evaluate(w0, Xt, yt)
    kw: dict[str, Any] = {"epochs": 3, "batch_size": 16, "lr": 0.1}
    w1 = m.train(w0, X, y, rng=np.random.default_rng(1), **kw)
    acc1, loss1 = m.evaluate(w1, Xt, yt)
    assert acc1 > max(0.6, acc0 + 0.3) and loss1 < loss0
    again = m.train(w0, X, y, rng=np.random.default_rng(1), **kw)
    assert np.array_equal(w1, again)
    assert np.array_equal(w0, m.init(np.random.default_rng(0)))  # input untouched


def test_one_step_adds_exactly_the_prox_and_correction_terms() -> None:
    X, y, _, _ = _digits()
    X, y = X[:32], y[:32]
    m = make_model("cnn", 64, 10, hidden=16)
    rng = np.random.default_rng(3)
    w = m.init(rng)
    anchor = w + rng.normal(0, 0.1, w.shape)
    corr = rng.normal(0, 0.05, w.shape)
    lr, mu = 0.1, 0.5

    def step(**kw: object) -> np.ndarray:
        return m.train(w, X, y, epochs=1, batch_size=32, lr=lr, rng=np.random.default_rng(0), **kw)  # type: ignore[arg-type]

    plain = step()
    np.testing.assert_allclose(step(correction=corr) - plain, -lr * corr, atol=2e-6)
    np.testing.assert_allclose(
        step(prox_mu=mu, anchor=anchor) - plain, -lr * mu * (w - anchor), atol=2e-6
    )


def test_gru_learns_a_repeating_text() -> None:
    text = np.tile(np.array([5, 6, 7, 8, 9], dtype=np.uint8), 120)
    X = np.lib.stride_tricks.sliding_window_view(text, 10)[:-1]
    y = text[10:].astype(np.int64)
    m = make_model("gru", 10, 12, hidden=16)
    w0 = m.init(np.random.default_rng(0))
    w1 = m.train(w0, X, y, epochs=8, batch_size=16, lr=0.5, rng=np.random.default_rng(0))
    assert m.evaluate(w1, X, y)[0] == 1.0 and m.evaluate(w0, X, y)[0] < 0.5


@pytest.mark.parametrize(
    ("name", "n_features", "kw", "field"),
    [
        ("cnn", 10, {}, "n_features"),
        ("cnn", 64, {"hidden": 0}, "hidden"),
        ("gru", 10, {"embed": 0}, "embed"),
        ("gru", 10, {"depth": 2}, "model.depth"),
    ],
)
def test_bad_model_options_name_the_field(
    name: str, n_features: int, kw: dict[str, int], field: str
) -> None:
    with pytest.raises(InputError) as e:
        make_model(name, n_features, 10, **kw)
    assert e.value.field == field


def test_gru_refuses_features_that_are_not_character_codes() -> None:
    m = make_model("gru", 4, 10, hidden=4)
    w = m.init(np.random.default_rng(0))
    with pytest.raises(InputError) as e:
        m.evaluate(w, np.full((2, 4), 0.5), np.array([1, 2]))
    assert e.value.field == "X"
    with pytest.raises(InputError) as e:
        m.train(w[:-1], np.zeros((2, 4), np.uint8), np.array([1, 2]), epochs=1, batch_size=1,
                lr=0.1, rng=np.random.default_rng(0))  # fmt: skip
    assert e.value.field == "params"


def test_soft_targets_and_logits() -> None:
    X, y, _, _ = _digits()
    X, y = X[:64], y[:64]
    m = make_model("cnn", 64, 10, hidden=16)
    w = m.init(np.random.default_rng(0))
    kw: dict[str, Any] = {"epochs": 1, "batch_size": 16, "lr": 0.1}
    hard = m.train(w, X, y, rng=np.random.default_rng(2), **kw)
    soft = m.train(w, X, np.eye(10)[y], rng=np.random.default_rng(2), **kw)
    np.testing.assert_allclose(soft, hard, atol=1e-6)
    scores = m.logits(hard, X)
    assert scores.shape == (64, 10) and scores.dtype == np.float64
    acc, _ = m.evaluate(hard, X, y)
    assert acc == pytest.approx(float(np.mean(scores.argmax(axis=1) == y)))
