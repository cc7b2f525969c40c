"""Nuclio adapter: the generic handler as a function of Nuclio's Python runtime.

`build()` writes a Nuclio function folder: the user's code untouched in
`function/`, a generated `tessera_nuclio.py` exposing `handler(context, event)`
and `init_context(context)` (what Nuclio's Python wrapper calls, with the real
`nuclio_sdk` types), and a `function.yaml` (`kind: NuclioFunction`) carrying
replicas, resources, workers, the event timeout and env references. `server`
plays the processor's HTTP trigger and Python wrapper, so the folder runs here.
"""

from tessera.platforms.nuclio.build import HANDLER, build

__all__ = ["HANDLER", "build"]
