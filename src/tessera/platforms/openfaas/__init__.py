"""OpenFaaS adapter: the generic handler in the `python3-http` template's contract.

`build()` writes an OpenFaaS function folder (`handler.py` with
`handle(event, context)` returning `{statusCode, body, headers}`, the user's
code beside it) and a `stack.yml` carrying scale, limits and env references.
`server` is the upstream HTTP server the of-watchdog (http mode) forwards to,
so the folder runs here as it would in the template's container.
"""

from tessera.platforms.openfaas.build import build

__all__ = ["build"]
