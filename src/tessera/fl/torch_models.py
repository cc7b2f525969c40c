"""Small torch CPU models for the long FL benchmarks: a CNN for images, a GRU for characters.

They keep `tessera.fl.models.Model`'s contract, so strategies, drivers and
the client function treat them like the numpy models: parameters are one
flat float64 vector (torch computes in float32 and the vector is converted
at the edges), `train` runs minibatch SGD on the mean cross-entropy in a
fresh random sample order per epoch drawn from the caller's numpy `rng`
(so a run is reproducible from its seed), with FedProx's proximal term
``mu * (w - anchor)`` and SCAFFOLD's ``correction`` added to each step's
gradient exactly as the numpy models do.

- ``cnn`` (images with a square number of pixels in [0, 1]): two 5x5
  convolutions (16 and 32 channels, same padding, ReLU, 2x2 max-pool) and a
  128-unit hidden layer: a CPU-sized version of the FedAvg paper's CNN.
- ``gru`` (text windows of `tessera.fl.shakespeare`: uint8 character codes):
  an 8-dimensional character embedding, one GRU layer (`hidden`, default
  128), and a linear read-out of the last step: a CPU-sized version of
  LEAF's two-layer 256-unit LSTM.

torch is imported when a model is built (the ``fl`` extra pins the CPU build).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tessera.core.errors import InputError, require
from tessera.fl.models import check_sgd

EVAL_CHUNK = 4096


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError(
            "model", "cnn/gru", "install torch for it: pip install 'tessera[fl]'"
        ) from None
    return torch


class TorchModel:
    """Shared flat-vector plumbing, SGD loop and evaluation; subclasses build the network."""

    name = ""

    def __init__(self, n_features: int, n_classes: int) -> None:
        require(
            isinstance(n_features, int) and n_features >= 1,
            "n_features",
            n_features,
            "an integer >= 1",
        )
        require(
            isinstance(n_classes, int) and n_classes >= 2, "n_classes", n_classes, "an integer >= 2"
        )
        self.torch = _torch()
        self.n_features = n_features
        self.n_classes = n_classes
        self.net = self._build()
        self.n_params = int(sum(p.numel() for p in self.net.parameters()))

    # -- subclass hooks ---------------------------------------------------------
    def _build(self) -> Any:
        raise NotImplementedError

    def _inputs(self, X: np.ndarray) -> Any:
        raise NotImplementedError

    # -- Model --------------------------------------------------------------------
    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Fresh parameters (torch's default initialisation, seeded from `rng`)."""
        torch = self.torch
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**31)))
            net = self._build()
        return self._vector(net)

    def train(
        self,
        params: np.ndarray,
        X: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int,
        batch_size: int,
        lr: float,
        rng: np.random.Generator,
        prox_mu: float = 0.0,
        anchor: np.ndarray | None = None,
        correction: np.ndarray | None = None,
    ) -> np.ndarray:
        """Minibatch SGD from `params`; returns new parameters (inputs untouched). `y`:
        labels, or soft-target probability rows (distillation)."""
        torch = self.torch
        self._load(self._check(params, "params"))
        check_sgd(epochs, batch_size, lr, prox_mu)
        xs, ys = self._data(X, y)
        params_list = list(self.net.parameters())
        anc = self._split(anchor if anchor is not None else params, "anchor")
        corr = self._split(correction, "correction") if correction is not None else None
        mu = float(prox_mu)
        loss_fn = torch.nn.functional.cross_entropy
        n = len(ys)
        self.net.train()
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(n))
            for start in range(0, n, batch_size):
                b = order[start : start + batch_size]
                for p in params_list:
                    p.grad = None
                loss_fn(self.net(xs[b]), ys[b]).backward()
                with torch.no_grad():
                    for i, p in enumerate(params_list):
                        g = p.grad
                        if mu > 0.0:
                            g = g + mu * (p - anc[i])
                        if corr is not None:
                            g = g + corr[i]
                        p -= lr * g
        return self._vector(self.net)

    def evaluate(self, params: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(accuracy in [0, 1], mean cross-entropy) of `params` on (X, y)."""
        torch = self.torch
        self._load(self._check(params, "params"))
        xs, ys = self._data(X, y, soft=False)
        self.net.eval()
        correct, loss = 0, 0.0
        with torch.no_grad():
            for s in range(0, len(ys), EVAL_CHUNK):
                out = self.net(xs[s : s + EVAL_CHUNK])
                t = ys[s : s + EVAL_CHUNK]
                correct += int((out.argmax(dim=1) == t).sum())
                loss += float(torch.nn.functional.cross_entropy(out, t, reduction="sum"))
        return correct / len(ys), loss / len(ys)

    def logits(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Class scores (float64, n x n_classes) of `params` on `X`."""
        torch = self.torch
        self._load(self._check(params, "params"))
        xs = self._inputs(self._features(X))
        self.net.eval()
        with torch.no_grad():
            out = [self.net(xs[s : s + EVAL_CHUNK]) for s in range(0, len(xs), EVAL_CHUNK)]
        scores: np.ndarray = torch.cat(out).numpy().astype(np.float64)
        return scores

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_features={self.n_features}, n_classes={self.n_classes})"

    # -- plumbing -----------------------------------------------------------------
    def _vector(self, net: Any) -> np.ndarray:
        flat = self.torch.nn.utils.parameters_to_vector(net.parameters())
        out: np.ndarray = flat.detach().numpy().astype(np.float64)
        return out

    def _load(self, vec: np.ndarray) -> None:
        t = self.torch.from_numpy(vec.astype(np.float32))
        self.torch.nn.utils.vector_to_parameters(t, self.net.parameters())

    def _split(self, vec: np.ndarray, field: str) -> list[Any]:
        w = self.torch.from_numpy(self._check(vec, field).astype(np.float32))
        out, at = [], 0
        for p in self.net.parameters():
            out.append(w[at : at + p.numel()].view_as(p))
            at += p.numel()
        return out

    def _check(self, params: object, field: str) -> np.ndarray:
        ok = (
            isinstance(params, np.ndarray)
            and params.shape == (self.n_params,)
            and bool(np.all(np.isfinite(params)))
        )
        require(
            ok,
            field,
            f"{type(params).__name__} of shape {getattr(params, 'shape', None)}",
            f"a finite 1-D numpy array of {self.n_params} parameters ({self!r})",
        )
        assert isinstance(params, np.ndarray)
        return params

    def _features(self, X: np.ndarray) -> np.ndarray:
        Xa = np.asarray(X)
        require(
            Xa.ndim == 2 and Xa.shape[0] >= 1 and Xa.shape[1] == self.n_features,
            "X",
            f"array of shape {Xa.shape}",
            f"a 2-D array (n >= 1, {self.n_features})",
        )
        return Xa

    def _data(self, X: np.ndarray, y: np.ndarray, soft: bool = True) -> tuple[Any, Any]:
        """(inputs, targets): labels as int64, or soft-target rows as float32 (`soft`)."""
        Xa, ya = self._features(X), np.asarray(y)
        if soft and ya.ndim == 2:
            require(
                ya.shape == (Xa.shape[0], self.n_classes)
                and bool(np.all(ya >= 0))
                and bool(np.allclose(ya.sum(axis=1), 1.0)),
                "y",
                f"array of shape {ya.shape}",
                f"soft targets: {Xa.shape[0]} rows of {self.n_classes} probabilities summing to 1",
            )
            return self._inputs(Xa), self.torch.from_numpy(ya.astype(np.float32))
        require(
            ya.shape == (Xa.shape[0],)
            and np.issubdtype(ya.dtype, np.integer)
            and int(ya.min()) >= 0
            and int(ya.max()) < self.n_classes,
            "y",
            f"array of dtype {ya.dtype}, shape {ya.shape}",
            f"{Xa.shape[0]} integer labels in [0, {self.n_classes - 1}]",
        )
        return self._inputs(Xa), self.torch.from_numpy(ya.astype(np.int64))


class SmallCNN(TorchModel):
    """Two conv + pool stages and a hidden layer (see the module docstring)."""

    name = "cnn"

    def __init__(self, n_features: int, n_classes: int, *, hidden: int = 128) -> None:
        side = math.isqrt(n_features) if isinstance(n_features, int) and n_features > 0 else 0
        require(
            side * side == n_features and side >= 4,
            "n_features",
            n_features,
            "a square number of pixels, at least 4x4",
        )
        require(isinstance(hidden, int) and hidden >= 1, "hidden", hidden, "an integer >= 1")
        self.side, self.hidden = side, hidden
        super().__init__(n_features, n_classes)

    def _build(self) -> Any:
        nn = self.torch.nn
        out = self.side // 4
        return nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * out * out, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.n_classes),
        )

    def _inputs(self, X: np.ndarray) -> Any:
        x = self.torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        return x.view(-1, 1, self.side, self.side)


def _gru_net(torch: Any, vocab: int, embed: int, hidden: int, n_classes: int) -> Any:
    """Embedding -> GRU -> linear on the last step, as a torch Module (torch imported late)."""
    nn = torch.nn
    module: Any = nn.Module

    class Net(module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, embed)
            self.gru = nn.GRU(embed, hidden, batch_first=True)
            self.out = nn.Linear(hidden, n_classes)

        def forward(self, x: Any) -> Any:
            h, _ = self.gru(self.embed(x))
            return self.out(h[:, -1, :])

    return Net()


class CharGRU(TorchModel):
    """Next-character model over `n_classes` codes (see the module docstring)."""

    name = "gru"

    def __init__(
        self, n_features: int, n_classes: int, *, hidden: int = 128, embed: int = 8
    ) -> None:
        require(isinstance(hidden, int) and hidden >= 1, "hidden", hidden, "an integer >= 1")
        require(isinstance(embed, int) and embed >= 1, "embed", embed, "an integer >= 1")
        self.hidden, self.embed = hidden, embed
        super().__init__(n_features, n_classes)

    def _build(self) -> Any:
        return _gru_net(self.torch, self.n_classes, self.embed, self.hidden, self.n_classes)

    def _inputs(self, X: np.ndarray) -> Any:
        require(
            np.issubdtype(X.dtype, np.integer)
            and int(X.min()) >= 0
            and int(X.max()) < self.n_classes,
            "X",
            f"array of dtype {X.dtype}",
            f"character codes in [0, {self.n_classes - 1}] (a text data set's windows)",
        )
        return self.torch.from_numpy(np.ascontiguousarray(X, dtype=np.int64))
