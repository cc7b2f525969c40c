"""Google Cloud Functions adapter: the unmodified generic handler behind functions-framework.

`build()` writes a folder that `functions-framework --target tessera_entry`
serves as it is, locally or on Cloud Functions / Cloud Run (gen 2): the
user's code goes to `function/` untouched, a generated `main.py` exposes the
HTTP entry point, and `requirements.txt` names what the runtime installs.
"""

from tessera.platforms.gcf.build import ENTRY_POINT, build

__all__ = ["ENTRY_POINT", "build"]
