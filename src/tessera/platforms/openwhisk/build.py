"""Generate the OpenWhisk action (zip + wskdeploy manifest) from a generic function folder."""

from __future__ import annotations

from pathlib import Path

from tessera.platforms.artifact import copy_code, start, write_entry, zip_dir

MANIFEST = """# wskdeploy -m manifest.yaml   (raw HTTP web action; env values are references)
packages:
  tessera:
    actions:
      {name}:
        function: action.zip
        runtime: python:3.11
        main: main
        web: raw
        limits:
          timeout: {timeout_ms}
          memorySize: {memory}
{inputs}"""


def build(fn_dir: str | Path, out_dir: str | Path) -> Path:
    m, out = start(fn_dir, out_dir)
    stage = out / "action"
    copy_code(fn_dir, stage / "function")
    write_entry(
        stage / "__main__.py",
        m,
        "Apache OpenWhisk",
        "tessera.platforms.openwhisk.runtime",
        "make_main",
        "main",
        "function",
    )
    zip_dir(stage, out / "action.zip")
    inputs = ""
    if m.referenced_env:
        inputs = "        inputs:\n" + "".join(f"          {k}: ${k}\n" for k in m.referenced_env)
    (out / "manifest.yaml").write_text(
        MANIFEST.format(
            name=m.name,
            timeout_ms=int(m.timeout_s * 1000),
            memory=m.resources.memory_mib,
            inputs=inputs,
        )
    )
    return out
