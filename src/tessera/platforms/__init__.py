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


def builder(platform: str) -> Callable[[Path, Path], Path]:
    """The build function of `platform`; an unknown name lists the ones there are."""
    target = BUILDERS.get(platform)
    if target is None:
        raise InputError("--platform", platform, ", ".join(sorted(BUILDERS)))
    module, func = target.split(":")
    fn: Callable[[Path, Path], Path] = getattr(importlib.import_module(module), func)
    return fn
