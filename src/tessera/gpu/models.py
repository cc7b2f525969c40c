"""The inference models the real device serves: built locally, random fp16 weights, no downloads.

Why random weights: latency and sharing do not depend on the weights' values,
and the GPU machine has no network. `resnet50` and `mobilenet_v3_large` come
from torchvision (a compact ResNet-50 of our own stands in when torchvision
is missing); `bert_base` is a BERT-base-shaped encoder (12 layers, 768 wide,
12 heads, 3072 FFN, sequence 128) from `torch.nn.TransformerEncoder`, fed
embeddings directly. torch is imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tessera.core.errors import InputError

SEQ_LEN = 128
MODELS = ("resnet50", "mobilenet_v3_large", "bert_base")


def _bottleneck(torch: Any, cin: int, width: int, stride: int) -> Any:
    nn = torch.nn
    cout = width * 4

    class Bottleneck(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, stride, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            )
            self.skip = (
                nn.Identity()
                if stride == 1 and cin == cout
                else nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )
            )
            self.act = nn.ReLU(inplace=True)

        def forward(self, x: Any) -> Any:
            return self.act(self.body(x) + self.skip(x))

    return Bottleneck()


def _local_resnet50(torch: Any) -> Any:
    """ResNet-50's layer shapes (3-4-6-3 bottlenecks), for machines without torchvision."""
    nn = torch.nn
    layers: list[Any] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for k in range(blocks):
            layers.append(_bottleneck(torch, cin, width, stride if k == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


def _vision(torch: Any, key: str) -> Any:
    try:
        import torchvision
    except ImportError:
        if key == "resnet50":
            return _local_resnet50(torch)
        raise ImportError(f"model {key!r} needs torchvision: pip install torchvision") from None
    return getattr(torchvision.models, key)(weights=None)


def _bert_base(torch: Any) -> Any:
    nn = torch.nn
    layer = nn.TransformerEncoderLayer(
        d_model=768,
        nhead=12,
        dim_feedforward=3072,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
    )
    return nn.TransformerEncoder(layer, num_layers=12, enable_nested_tensor=False)


def build(
    key: str, device: Any, dtype: Any = None, *, channels_last: bool = True
) -> tuple[Any, Callable[[int], Any]]:
    """(module in eval mode on `device`, make_input(batch) -> a random input tensor there).

    Convolutional models run channels-last (NHWC) by default: the layout
    tensor-core convolutions want in fp16, without transposes around each layer.
    """
    import torch

    dtype = dtype or torch.float16
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if key in ("resnet50", "mobilenet_v3_large"):
        module = _vision(torch, key).to(memory_format=fmt)

        def make_input(batch: int) -> Any:
            x = torch.randn(batch, 3, 224, 224, device=device, dtype=dtype)
            return x.contiguous(memory_format=fmt)

    elif key == "bert_base":
        module = _bert_base(torch)

        def make_input(batch: int) -> Any:
            return torch.randn(batch, SEQ_LEN, 768, device=device, dtype=dtype)

    else:
        raise InputError("model_key", key, f"one of {list(MODELS)}")
    module = module.to(device=device, dtype=dtype).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module, make_input


def param_mib(module: Any) -> int:
    """Parameter and buffer bytes of `module`, MiB (rounded up)."""
    n = sum(t.numel() * t.element_size() for t in module.parameters())
    n += sum(t.numel() * t.element_size() for t in module.buffers())
    return int(-(-n // (1024 * 1024)))
