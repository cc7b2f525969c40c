"""Platform adapters: the embedded local platform (default) and the targets a function builds for.

`BUILDERS` maps a platform name to the function that turns a generic function
folder into that platform's deployable folder (imported lazily: an adapter's
runtime dependencies are only needed where it runs).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from tessera.core.errors import InputError

BUILDERS = {
    "awslambda": "tessera.platforms.awslambda.build:build",
    "fission": "tessera.platforms.fission.build:build",
    "fn": "tessera.platforms.fn.build:build",
    "gcf": "tessera.platforms.gcf.build:build",
    "knative": "tessera.platforms.knative.build:build",
    "kubernetes": "tessera.platforms.kubernetes.build:build",
    "nuclio": "tessera.platforms.nuclio.build:build",
    "openfaas": "tessera.platforms.openfaas.build:build",
    "openwhisk": "tessera.platforms.openwhisk.build:build",
    "ray": "tessera.platforms.ray.build:build",
}


# The languages each target runs (runtime kinds of tessera.functions.runtimes): the
# adapters wrap a Python handler; the kubernetes image runs Tessera's own workers.
LANGUAGES: dict[str, tuple[str, ...]] = {"kubernetes": ("python", "wasi")}


def builder(platform: str) -> Callable[[str | Path, str | Path], Path]:
    """The build function of `platform`; an unknown name lists the ones there are, and a
    function in a language the platform cannot run is refused before anything is written."""
    target = BUILDERS.get(platform)
    if target is None:
        raise InputError("--platform", platform, ", ".join(sorted(BUILDERS)))
    module, func = target.split(":")
    build: Callable[[str | Path, str | Path], Path] = getattr(importlib.import_module(module), func)
    kinds = LANGUAGES.get(platform, ("python",))

    def checked(fn_dir: str | Path, out_dir: str | Path) -> Path:
        from tessera.functions.manifest import read_manifest
        from tessera.functions.package import prepare
        from tessera.functions.runtimes import runtime_of

        m = read_manifest(Path(fn_dir))
        rt = runtime_of(m.runtime)
        if rt is None or rt.kind not in kinds:
            ok = [n for n in ("python3", "nodejs20", "wasi") if runtime_of(n).kind in kinds]  # type: ignore[union-attr]
            raise InputError(
                "function.yaml: runtime",
                m.runtime,
                f"{', '.join(ok)} on --platform {platform} (every runtime runs on the local platform)",
            )
        prepare(Path(fn_dir))
        return build(fn_dir, out_dir)

    return checked
