"""Fn Project / OCI Functions adapter: the generic handler served by Fn's Python FDK.

`build()` writes an Fn function folder: the user's code untouched in
`function/`, a generated `func.py` whose `handler(ctx, data)` the real `fdk`
serves (it answers with `fdk.response.Response`), `func.yaml` (memory,
timeout, config as env references, an HTTP trigger) and `requirements.txt`.
`server` plays the Fn agent: it starts the FDK on a unix socket and turns
loopback HTTP requests into the agent's `POST /call`, so the folder runs here.
"""

from tessera.platforms.fn.build import ENTRYPOINT, build

__all__ = ["ENTRYPOINT", "build"]
