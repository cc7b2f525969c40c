"""Fixtures: a tiny random BERT backbone (so CI tests the model pipeline without the wheel)."""

from __future__ import annotations

from pathlib import Path

import pytest

HIDDEN = 384


def make_backbone(path: Path, layers: int = 1, seed: int = 0) -> Path:
    """A BERT checkpoint in the wheel's layout with a small vocab and random weights."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words += [chr(c) for c in range(33, 127)]
    words += [
        "rm",
        "sudo",
        "ls",
        "echo",
        "bash",
        "git",
        "push",
        "remove",
        "item",
        "get",
        "child",
        "format",
        "volume",
        "kubectl",
        "delete",
        "text",
        "pipe",
        "dd",
        "etc",
        "tmp",
        "build",
        "home",
        "var",
        "lib",
        "mysql",
        "curl",
        "sh",
        "cat",
        "grep",
        "powershell",
        "cmd",
        "del",
        "force",
        "recurse",
    ]
    words += ["##" + chr(c) for c in range(97, 123)]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    v = len(words)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype("float32")

    t: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": w(v, HIDDEN),
        "embeddings.position_embeddings.weight": w(512, HIDDEN),
        "embeddings.token_type_embeddings.weight": w(2, HIDDEN),
        "embeddings.LayerNorm.weight": np.ones(HIDDEN, "float32"),
        "embeddings.LayerNorm.bias": np.zeros(HIDDEN, "float32"),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for m in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ):
            t[p + m + ".weight"] = w(HIDDEN, HIDDEN)
            t[p + m + ".bias"] = np.zeros(HIDDEN, "float32")
        t[p + "intermediate.dense.weight"] = w(4 * HIDDEN, HIDDEN)
        t[p + "intermediate.dense.bias"] = np.zeros(4 * HIDDEN, "float32")
        t[p + "output.dense.weight"] = w(HIDDEN, 4 * HIDDEN)
        t[p + "output.dense.bias"] = np.zeros(HIDDEN, "float32")
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + ln + ".weight"] = np.ones(HIDDEN, "float32")
            t[p + ln + ".bias"] = np.zeros(HIDDEN, "float32")
    save_file(t, str(path / "model.safetensors"))
    return path


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    return make_backbone(tmp_path_factory.mktemp("backbone"))


@pytest.fixture(scope="session")
def vocab_size(tiny_backbone: Path) -> int:
    return len([w for w in (tiny_backbone / "vocab.txt").read_text().split("\n") if w])
