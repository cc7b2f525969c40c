"""Generate the Cloud Functions source folder from a generic function folder."""

from __future__ import annotations

from pathlib import Path

from tessera import __version__
from tessera.platforms.artifact import copy_code, start, write_entry

ENTRY_POINT = "tessera_entry"


def build(fn_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the deployable folder for `fn_dir` into `out_dir` (replaced if it exists)."""
    manifest, out = start(fn_dir, out_dir)
    copy_code(fn_dir, out / "function")
    deploy = (
        f"\n\nDeploy: gcloud functions deploy {manifest.name} --gen2 --runtime=python311 "
        f"--trigger-http \\\n  --entry-point={ENTRY_POINT} --source=. "
        f"--timeout={manifest.timeout_s:g}s --memory={manifest.resources.memory_mib}Mi\n"
        f"Run locally: functions-framework --target={ENTRY_POINT} --source=main.py\n"
    )
    write_entry(
        out / "main.py",
        manifest,
        "Google Cloud Functions",
        "tessera.platforms.gcf.runtime",
        "make_entry",
        ENTRY_POINT,
        "function",
        extra=deploy,
        more=f"\n    preload={list(manifest.preload)!r},",
    )
    (out / "requirements.txt").write_text(f"functions-framework>=3.5\ntessera=={__version__}\n")
    if manifest.referenced_env:
        # env values are written as references only: secrets never land in artifacts
        (out / ".env.yaml").write_text("".join(f"{k}: ${{{k}}}\n" for k in manifest.referenced_env))
    return out
