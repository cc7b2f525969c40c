"""Knative Functions adapter: the generic handler in the `func` python (http) project layout.

`build()` writes a Knative Functions project: a `function/` package whose
`new()` returns an instance with the ASGI `handle(scope, receive, send)` and
the `start`/`stop`/`alive`/`ready` lifecycle the `func-python` middleware
calls, the user's code untouched inside it, a `func.yaml` for `func deploy`
and a Knative Serving `service.yaml` for `kubectl apply`. `server` serves the
folder with `func_python.http.serve`, as the function's container does.
"""

from tessera.platforms.knative.build import HEALTH, build

__all__ = ["HEALTH", "build"]
