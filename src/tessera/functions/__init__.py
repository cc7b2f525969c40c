"""The generic function contract: a folder with `function.yaml` and a Python handler.

`def handle(event, context)` receives the parsed JSON body (or raw bytes) and
a `Context`; what it returns becomes the HTTP response. Optional lifecycle
hooks `start(config)`, `stop()` and `ready()` follow Knative's func. The same
folder deploys unchanged to every platform adapter.
"""

from tessera.functions.contract import Context, Response, decode_event, encode_result
from tessera.functions.manifest import FunctionManifest, load_function_dir

__all__ = [
    "Context",
    "FunctionManifest",
    "Response",
    "decode_event",
    "encode_result",
    "load_function_dir",
]
