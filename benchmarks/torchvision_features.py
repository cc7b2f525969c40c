"""Structural features of every torchvision classification model, for the latency predictor.

Why: under a time quota, latency depends on how a model's work is cut into kernels
(each launch is a point where a token gate can stall it), which its latency at full
quota does not show. RaPP reads the model's graph for this; Tessera's predictor reads
these few numbers per model instead, computed once from the architecture alone.

Runs where torchvision is installed (the GPU machine has it; weights are never
downloaded: models are built on the `meta` device, so no memory or data is needed):

    python benchmarks/torchvision_features.py --out src/tessera/gpu/data/torchvision_features.json

For each model and batch size 1: the number of ATen operator calls in one forward pass,
how many of them launch a kernel (`kernel_ops`: all but views and other header-only
calls, `METADATA`), how many of them are convolutions / matrix products / normalisations
/ elementwise, FLOPs (torch's FlopCounterMode), parameters, and the input size used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

SIZES = {"inception_v3": 299}  # models that want another input size than 224x224

KINDS = {
    "conv": ("convolution",),
    "matmul": ("mm", "addmm", "bmm", "matmul", "linear", "baddbmm", "_scaled_dot_product"),
    "norm": ("batch_norm", "layer_norm", "group_norm", "native_batch_norm", "native_layer_norm"),
    "pool": ("pool", "mean"),
}


METADATA = frozenset(
    {
        # ATen calls that only make a tensor header (a view, an alias, an empty result or a
        # scalar): no kernel runs on the device for them
        "view", "_unsafe_view", "t", "permute", "transpose", "expand", "slice", "select",
        "unsqueeze", "squeeze", "split", "alias", "as_strided_", "empty", "scalar_tensor",
    }
)  # fmt: skip


def _kind(name: str) -> str:
    for kind, keys in KINDS.items():
        if any(k in name for k in keys):
            return kind
    return "other"


def features(name: str, batch: int = 1) -> dict[str, Any]:
    import torch
    import torchvision
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    ops: Counter[str] = Counter()

    class Count(TorchDispatchMode):
        def __torch_dispatch__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            ops[func.overloadpacket.__name__] += 1
            return func(*args, **(kwargs or {}))

    size = SIZES.get(name, 224)
    try:
        with torch.device("meta"):
            model = torchvision.models.get_model(name, weights=None).eval()
    except NotImplementedError:  # a constructor that computes with tensors (RegNet): build
        model = torchvision.models.get_model(name, weights=None).eval().to("meta")  # on CPU
    x = torch.empty(batch, 3, size, size, device="meta")
    params = sum(p.numel() for p in model.parameters())
    flops = FlopCounterMode(display=False)
    with torch.no_grad(), flops, Count():
        model(x)
    kinds: Counter[str] = Counter()
    for op, n in ops.items():
        kinds[_kind(op)] += n
    return {
        "input": size,
        "aten_ops": sum(ops.values()),
        "kernel_ops": sum(n for op, n in ops.items() if op not in METADATA),
        "ops_by_kind": dict(kinds),
        "flops": int(flops.get_total_flops()),
        "params": int(params),
        "modules": sum(1 for _ in model.modules()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget-s", type=float, default=240.0)
    p.add_argument("--only", default="", help="comma-separated model names (default: all)")
    a = p.parse_args(argv)
    try:
        import torch
        import torchvision
    except ImportError as e:
        print(f"torchvision_features: needs torch and torchvision ({e})", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    names = sorted(torchvision.models.list_models(module=torchvision.models))
    if a.only:
        names = [n for n in names if n in set(a.only.split(","))]
    out: dict[str, Any] = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "batch": 1,
        "models": {},
        "failed": {},
    }
    for name in names:
        if time.monotonic() - t0 > a.budget_s:
            out["failed"][name] = "time budget"
            continue
        try:
            out["models"][name] = features(name)
        except Exception as e:  # one model's failure must not lose the others
            out["failed"][name] = f"{type(e).__name__}: {e}"[:300]
        print(f"{name}: {out['models'].get(name) or out['failed'][name]}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=a.out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    os.replace(tmp, a.out)
    print(f"{len(out['models'])} models, {len(out['failed'])} failed, {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
