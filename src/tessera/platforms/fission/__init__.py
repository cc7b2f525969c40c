"""Fission adapter: the generic handler as a function of Fission's Python environment.

`build()` writes the deploy archive (user code + a generated `tessera_fission.py`
whose `main()` reads the Flask request, as Fission's Python environment calls
it) and the Fission specs (Environment, Package, Function, HTTPTrigger).
`server` is an environment container speaking the specialization protocol
(`POST /v2/specialize`, then requests on `/`), so the archive runs here.
"""

from tessera.platforms.fission.build import ENTRYPOINT, build

__all__ = ["ENTRYPOINT", "build"]
