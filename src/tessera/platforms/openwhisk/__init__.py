"""Apache OpenWhisk adapter: the generic handler as a raw-HTTP web action.

`build()` writes an action zip whose `__main__.py` exposes `main(args)` (what
OpenWhisk's Python runtime calls), and a wskdeploy manifest. `server` is an
action container speaking the runtime protocol (`POST /init`, `POST /run`),
so the same zip runs here for real.
"""

from tessera.platforms.openwhisk.build import build

__all__ = ["build"]
