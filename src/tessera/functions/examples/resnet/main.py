"""Example GPU function: one ResNet-50 batch on the function's own SM partition and time quota.

`context.gpu` is set by the local platform for a function with `resources.gpu`. The input is
the model's synthetic batch of the size asked for (real tensors are not passed in or out yet);
the answer is what the GPU host measured: latency, GPU time, time queued for quota, SMs, quota.
"""

from tessera.functions.contract import Response


def handle(event, context):
    event = event if isinstance(event, dict) else {}
    if context.gpu is None:
        return Response("no GPU share: deploy with resources.gpu on the local platform", 501)
    return context.gpu.infer(int(event.get("batch", 1)))
