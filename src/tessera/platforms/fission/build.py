"""Generate the Fission deploy archive and specs from a generic function folder."""

from __future__ import annotations

from pathlib import Path

import yaml

from tessera import __version__
from tessera.platforms.artifact import copy_code, start, write_entry, zip_dir

ENTRYPOINT = "tessera_fission.main"


def build(fn_dir: str | Path, out_dir: str | Path) -> Path:
    m, out = start(fn_dir, out_dir)
    archive = out / "archive"
    copy_code(fn_dir, archive / "function")
    write_entry(
        archive / "tessera_fission.py",
        m,
        "Fission (Python environment)",
        "tessera.platforms.fission.runtime",
        "make_main",
        "main",
        "function",
    )
    (archive / "requirements.txt").write_text(f"tessera=={__version__}\n")
    zip_dir(archive, out / f"{m.name}.zip")
    meta = {"namespace": "default"}
    docs = [
        {
            "apiVersion": "fission.io/v1",
            "kind": "Environment",
            "metadata": {"name": "python-tessera", **meta},
            "spec": {
                "version": 2,
                "runtime": {"image": "fission/python-env"},
                "builder": {"image": "fission/python-builder", "command": "build"},
            },
        },
        {
            "apiVersion": "fission.io/v1",
            "kind": "Package",
            "metadata": {"name": f"{m.name}-pkg", **meta},
            "spec": {
                "environment": {"name": "python-tessera", **meta},
                "source": {"type": "url", "url": f"archive://{m.name}.zip"},
            },
        },
        {
            "apiVersion": "fission.io/v1",
            "kind": "Function",
            "metadata": {"name": m.name, **meta},
            "spec": {
                "environment": {"name": "python-tessera", **meta},
                "package": {
                    "packageref": {"name": f"{m.name}-pkg", **meta},
                    "functionName": ENTRYPOINT,
                },
                "functionTimeout": int(m.timeout_s),
                "InvokeStrategy": {
                    "StrategyType": "execution",
                    "ExecutionStrategy": {
                        "ExecutorType": "newdeploy",
                        "MinScale": m.scale.min,
                        "MaxScale": m.scale.max,
                    },
                },
                "resources": {"limits": {"memory": f"{m.resources.memory_mib}Mi"}},
                # env values are references (a Secret named after the function), never values
                **({"secrets": [{"name": f"{m.name}-env", **meta}]} if m.referenced_env else {}),
            },
        },
        {
            "apiVersion": "fission.io/v1",
            "kind": "HTTPTrigger",
            "metadata": {"name": m.name, **meta},
            "spec": {
                "relativeurl": f"/{m.name}",
                "methods": ["POST", "GET"],
                "functionref": {"type": "name", "name": m.name},
            },
        },
    ]
    specs = out / "specs"
    specs.mkdir()
    (specs / f"function-{m.name}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return out
