"""Small numpy models that FL clients train: multinomial logistic regression and a one-layer MLP.

A simulated federation trains thousands of client updates, so a client's
local training must take milliseconds and be exactly reproducible from a
seed; a flat float64 parameter vector makes aggregation (weighted means,
SCAFFOLD control variates, FedProx anchors) plain vector arithmetic for the
strategies and drivers. Both models run minibatch SGD on the mean
cross-entropy, vectorised per batch, with a numerically stable softmax.

`train` carries the two client-side algorithm hooks FL needs:

- ``prox_mu`` / ``anchor``: FedProx adds (mu/2)||w - anchor||^2 to the loss,
  so ``mu * (w - anchor)`` to each gradient;
- ``correction``: SCAFFOLD's ``c - c_i``, added to each gradient step.

and, for knowledge distillation (FedMD, FedDF), ``y`` may be soft targets
(probability rows) instead of labels; `logits` gives a model's class scores.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from tessera.core.errors import InputError, require

MODEL_NAMES = ("softmax", "mlp", "cnn", "gru")
"""``cnn`` and ``gru`` are torch models (`tessera.fl.torch_models`, the ``fl`` extra)."""


@runtime_checkable
class Model(Protocol):
    """A classifier whose parameters are one flat float64 vector."""

    @property
    def name(self) -> str: ...

    @property
    def n_params(self) -> int: ...

    def init(self, rng: np.random.Generator) -> np.ndarray: ...

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
    ) -> np.ndarray: ...

    def evaluate(self, params: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]: ...

    def logits(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Class scores (n x n_classes, before the softmax) of `params` on `X`."""
        ...


def check_sgd(epochs: object, batch_size: object, lr: object, prox_mu: object) -> None:
    """The SGD arguments every model's `train` takes, checked once for all of them."""
    require(_is_int(epochs) and int(epochs) >= 0, "epochs", epochs, "an integer >= 0")  # type: ignore[call-overload]
    require(
        _is_int(batch_size) and int(batch_size) >= 1,  # type: ignore[call-overload]
        "batch_size",
        batch_size,
        "an integer >= 1",
    )
    require(_is_pos(lr), "lr", lr, "a finite number > 0")
    require(_is_pos(prox_mu, zero=True), "prox_mu", prox_mu, "a finite number >= 0")


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    out: np.ndarray = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return out


class _Classifier:
    """Shared SGD loop, validation and evaluation; subclasses give forward/backward."""

    name: str = ""

    def __init__(self, n_features: int, n_classes: int) -> None:
        require(
            _is_int(n_features) and n_features >= 1, "n_features", n_features, "an integer >= 1"
        )
        require(_is_int(n_classes) and n_classes >= 2, "n_classes", n_classes, "an integer >= 2")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.n_params = 0

    # -- subclass hooks -------------------------------------------------------
    def init(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def logits(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _loss_grad(
        self, w: np.ndarray, X: np.ndarray, y: np.ndarray, grad: np.ndarray
    ) -> float:  # pragma: no cover - abstract
        """Mean cross-entropy at `w` on (X, y); writes its gradient into `grad`."""
        raise NotImplementedError

    # -- public -----------------------------------------------------------------
    def loss_and_grad(
        self, params: np.ndarray, X: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Mean cross-entropy and its gradient with respect to `params`."""
        w = self._check_params(params, "params")
        Xf, yi = self._check_data(X, y)
        grad = np.empty_like(w)
        return self._loss_grad(w, Xf, yi, grad), grad

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
        """Minibatch SGD from `params`; returns new parameters (inputs untouched).

        Each epoch visits the samples in a fresh random order (from `rng`).
        `anchor` defaults to `params` (the round's starting point). `y`: labels,
        or soft targets (n x n_classes probability rows), which makes the loss the
        cross-entropy to them (knowledge distillation: same gradient as the KL).
        """
        w = self._check_params(params, "params").copy()
        Xf, yi = self._check_data(X, y)
        check_sgd(epochs, batch_size, lr, prox_mu)
        require(isinstance(rng, np.random.Generator), "rng", rng, "a numpy.random.Generator")
        mu = float(prox_mu)
        anc = self._check_params(anchor, "anchor") if anchor is not None else w.copy()
        corr = self._check_params(correction, "correction") if correction is not None else None
        n = len(yi)
        grad = np.empty_like(w)
        for _ in range(int(epochs)):
            order = rng.permutation(n)
            for start in range(0, n, int(batch_size)):
                b = order[start : start + int(batch_size)]
                self._loss_grad(w, Xf[b], yi[b], grad)
                if mu > 0.0:
                    grad += mu * (w - anc)
                if corr is not None:
                    grad += corr
                w -= lr * grad
        return w

    def evaluate(self, params: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(accuracy in [0, 1], mean cross-entropy) of `params` on (X, y)."""
        w = self._check_params(params, "params")
        Xf, yi = self._check_data(X, y, soft=False)
        logp = _log_softmax(self.logits(w, Xf))
        rows = np.arange(len(yi))
        acc = float(np.mean(np.argmax(logp, axis=1) == yi))
        return acc, float(-logp[rows, yi].mean())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_features={self.n_features}, n_classes={self.n_classes})"

    # -- validation -------------------------------------------------------------
    def _check_params(self, params: object, field: str) -> np.ndarray:
        w = np.asarray(params, dtype=np.float64) if isinstance(params, np.ndarray) else None
        require(
            w is not None and w.shape == (self.n_params,) and bool(np.all(np.isfinite(w))),
            field,
            f"{type(params).__name__} of shape {getattr(params, 'shape', None)}",
            f"a finite 1-D numpy array of {self.n_params} parameters ({self!r})",
        )
        assert w is not None
        return w

    def _check_data(
        self, X: np.ndarray, y: np.ndarray, *, soft: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """(X as float64, y as intp labels or float64 soft-target rows); `soft`: accept those."""
        Xa = np.asarray(X)
        ya = np.asarray(y)
        require(
            Xa.ndim == 2 and Xa.shape[0] >= 1 and Xa.shape[1] == self.n_features,
            "X",
            f"array of shape {Xa.shape}",
            f"a 2-D array (n >= 1, {self.n_features}) of features",
        )
        if soft and ya.ndim == 2:
            ok = ya.shape == (Xa.shape[0], self.n_classes) and bool(np.all(np.isfinite(ya)))
            ok = ok and bool(np.all(ya >= 0)) and bool(np.allclose(ya.sum(axis=1), 1.0))
            require(
                ok,
                "y",
                f"array of shape {ya.shape}",
                f"soft targets: {Xa.shape[0]} rows of {self.n_classes} probabilities summing to 1",
            )
            return Xa.astype(np.float64, copy=False), ya.astype(np.float64, copy=False)
        require(
            ya.shape == (Xa.shape[0],) and np.issubdtype(ya.dtype, np.integer),
            "y",
            f"array of dtype {ya.dtype}, shape {ya.shape}",
            f"a 1-D integer array of {Xa.shape[0]} labels"
            + (f" (or {Xa.shape[0]} x {self.n_classes} soft targets)" if soft else ""),
        )
        lo, hi = int(ya.min()), int(ya.max())
        require(
            lo >= 0 and hi < self.n_classes,
            "y",
            f"labels in [{lo}, {hi}]",
            f"labels in [0, {self.n_classes - 1}]",
        )
        return Xa.astype(np.float64, copy=False), ya.astype(np.intp, copy=False)


def _ce_and_delta(logp: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of log-probabilities `logp` against labels or soft-target rows `y`,
    and its gradient with respect to the logits (softmax minus target, over n)."""
    n = len(y)
    d = np.exp(logp)
    if y.ndim == 2:
        loss = float(-(y * logp).sum() / n)
        d -= y
    else:
        rows = np.arange(n)
        loss = float(-logp[rows, y].mean())
        d[rows, y] -= 1.0
    d /= n
    return loss, d


class SoftmaxRegression(_Classifier):
    """Multinomial logistic regression: logits = X W + b. Parameters: W (d x k) then b (k)."""

    name = "softmax"

    def __init__(self, n_features: int, n_classes: int, *, init_scale: float = 0.01) -> None:
        super().__init__(n_features, n_classes)
        require(_is_pos(init_scale, zero=True), "init_scale", init_scale, "a finite number >= 0")
        self.init_scale = float(init_scale)
        self.n_params = self.n_features * self.n_classes + self.n_classes

    def init(self, rng: np.random.Generator) -> np.ndarray:
        w = np.zeros(self.n_params)
        dk = self.n_features * self.n_classes
        w[:dk] = rng.normal(0.0, self.init_scale, dk)
        return w

    def _split(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dk = self.n_features * self.n_classes
        return w[:dk].reshape(self.n_features, self.n_classes), w[dk:]

    def logits(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        W, b = self._split(params)
        out: np.ndarray = X @ W + b
        return out

    def _loss_grad(self, w: np.ndarray, X: np.ndarray, y: np.ndarray, grad: np.ndarray) -> float:
        W, b = self._split(w)
        gW, gb = self._split(grad)
        loss, d = _ce_and_delta(_log_softmax(X @ W + b), y)
        np.matmul(X.T, d, out=gW)
        d.sum(axis=0, out=gb)
        return loss


class MLP(_Classifier):
    """One hidden ReLU layer. Parameters: W1 (d x h), b1 (h), W2 (h x k), b2 (k).

    He-normal init for W1, Glorot-normal for W2, zero biases.
    """

    name = "mlp"

    def __init__(self, n_features: int, n_classes: int, *, hidden: int = 64) -> None:
        super().__init__(n_features, n_classes)
        require(_is_int(hidden) and hidden >= 1, "hidden", hidden, "an integer >= 1")
        self.hidden = int(hidden)
        d, h, k = self.n_features, self.hidden, self.n_classes
        self._sizes = (d * h, h, h * k, k)
        self.n_params = sum(self._sizes)

    def init(self, rng: np.random.Generator) -> np.ndarray:
        d, h, k = self.n_features, self.hidden, self.n_classes
        W1 = rng.normal(0.0, np.sqrt(2.0 / d), (d, h))
        W2 = rng.normal(0.0, np.sqrt(2.0 / (h + k)), (h, k))
        return np.concatenate([W1.ravel(), np.zeros(h), W2.ravel(), np.zeros(k)])

    def _split(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d, h, k = self.n_features, self.hidden, self.n_classes
        a, b, c = self._sizes[0], self._sizes[0] + h, self._sizes[0] + h + h * k
        return w[:a].reshape(d, h), w[a:b], w[b:c].reshape(h, k), w[c:]

    def logits(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        W1, b1, W2, b2 = self._split(params)
        out: np.ndarray = np.maximum(X @ W1 + b1, 0.0) @ W2 + b2
        return out

    def _loss_grad(self, w: np.ndarray, X: np.ndarray, y: np.ndarray, grad: np.ndarray) -> float:
        W1, b1, W2, b2 = self._split(w)
        gW1, gb1, gW2, gb2 = self._split(grad)
        H = np.maximum(X @ W1 + b1, 0.0)
        loss, d = _ce_and_delta(_log_softmax(H @ W2 + b2), y)
        np.matmul(H.T, d, out=gW2)
        d.sum(axis=0, out=gb2)
        dH = d @ W2.T
        dH *= H > 0.0
        np.matmul(X.T, dH, out=gW1)
        dH.sum(axis=0, out=gb1)
        return loss


_MODELS: dict[str, type[_Classifier]] = {"softmax": SoftmaxRegression, "mlp": MLP}
_OPTIONS: dict[str, tuple[str, ...]] = {"softmax": ("init_scale",), "mlp": ("hidden",)}


_TORCH_OPTIONS: dict[str, tuple[str, ...]] = {"cnn": ("hidden",), "gru": ("hidden", "embed")}


def make_model(name: str, n_features: int, n_classes: int, **kw: object) -> Model:
    """Build model `name` (one of `MODEL_NAMES`); `kw` are its options (``mlp``/``cnn``:
    ``hidden``; ``gru``: ``hidden``, ``embed``)."""
    require(name in MODEL_NAMES, "model", name, ", ".join(MODEL_NAMES))
    options = _OPTIONS.get(name) or _TORCH_OPTIONS[name]
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise InputError(
            f"model.{unknown[0]}", kw[unknown[0]], f"options of {name}: {', '.join(options)}"
        )
    if name in _MODELS:
        return _MODELS[name](n_features, n_classes, **kw)
    from tessera.fl import torch_models

    cls = torch_models.SmallCNN if name == "cnn" else torch_models.CharGRU
    model: Model = cls(n_features, n_classes, **kw)  # type: ignore[arg-type]
    return model


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_pos(v: object, *, zero: bool = False) -> bool:
    if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
        return False
    f = float(v)
    return bool(np.isfinite(f)) and (f >= 0 if zero else f > 0)
