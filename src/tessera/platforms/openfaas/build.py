"""Generate the OpenFaaS function folder and stack.yml from a generic function folder."""

from __future__ import annotations

from pathlib import Path

import yaml

from tessera import __version__
from tessera.platforms.artifact import copy_code, start, write_entry


def build(fn_dir: str | Path, out_dir: str | Path) -> Path:
    m, out = start(fn_dir, out_dir)
    fn = out / m.name
    copy_code(fn_dir, fn / "user")
    write_entry(
        fn / "handler.py",
        m,
        "OpenFaaS (python3-http)",
        "tessera.platforms.openfaas.runtime",
        "make_handle",
        "handle",
        "user",
    )
    (fn / "__init__.py").write_text("")
    (fn / "requirements.txt").write_text(f"tessera=={__version__}\n")
    stack = {
        "version": 1.0,
        "provider": {"name": "openfaas", "gateway": "http://127.0.0.1:8080"},
        "functions": {
            m.name: {
                "lang": "python3-http",
                "handler": f"./{m.name}",
                "image": f"{m.name}:latest",
                "labels": {
                    "com.openfaas.scale.min": str(max(1, m.scale.min)),
                    "com.openfaas.scale.max": str(m.scale.max),
                    "com.openfaas.scale.zero": str(m.scale.min == 0).lower(),
                },
                "limits": {"memory": f"{m.resources.memory_mib}Mi", "cpu": str(m.resources.cpu)},
                "environment": {
                    "exec_timeout": f"{m.timeout_s:g}s",
                    "write_timeout": f"{m.timeout_s:g}s",
                    "read_timeout": f"{m.timeout_s:g}s",
                    # values are references to the deployer's environment, never secrets
                    **{k: f"${{{k}}}" for k in m.referenced_env},
                },
            }
        },
    }
    (out / "stack.yml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return out
