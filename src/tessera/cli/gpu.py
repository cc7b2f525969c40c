"""`tessera gpu predict`: latency of model batches on GPU slices, predicted from profiles."""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from pathlib import Path

import typer

from tessera.core.errors import InputError

app = typer.Typer(help="GPU slices: latency prediction from profiles.")


def _write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file in the same folder and a rename."""
    target = path.resolve()
    if target.is_dir():
        raise InputError("--out", str(path), "a file path, not a directory")
    if not target.parent.is_dir():
        raise InputError("--out", str(path), "a path in an existing directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("predict")
def predict(
    profiles: list[Path] = typer.Option(
        ..., "--profiles", help="Profile CSV file(s) (.csv or .csv.gz); repeat or list several."
    ),
    queries: Path = typer.Option(
        ..., "--queries", help="Query CSV: gpu,model,batch,sm_pct,quota_pct."
    ),
    out: Path | None = typer.Option(None, "--out", help="Output CSV (default: stdout)."),
    more_profiles: list[Path] | None = typer.Argument(
        None, metavar="[FILE]...", help="More profile files (so `--profiles A B` works)."
    ),
) -> None:
    """Predict latency_ms for every query row; output the query CSV plus a latency_ms column.

    Rows come out in query order; --out is written atomically (temp file + rename).
    """
    from tessera.gpu.predict import Predictor
    from tessera.gpu.profiles import load_profiles, load_queries, open_text

    table = load_profiles(*profiles, *(more_profiles or []))
    q = load_queries(queries)
    lat = Predictor().fit(table).predict_many(q)
    with open_text(queries) as fh:
        rows = [r for r in csv.reader(fh)]
    header, body = rows[0], [r for r in rows[1:] if r and any(x.strip() for x in r)]
    names = [h.strip() for h in header]
    col = names.index("latency_ms") if "latency_ms" in names else None
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header if col is not None else [*header, "latency_ms"])
    for r, v in zip(body, lat.tolist(), strict=True):
        cell = f"{v:.6g}"
        w.writerow([*r[:col], cell, *r[col + 1 :]] if col is not None else [*r, cell])
    if out is None:
        sys.stdout.write(buf.getvalue())
        sys.stdout.flush()
    else:
        _write_atomic(out, buf.getvalue())
