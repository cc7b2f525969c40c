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


def _ints(option: str, text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(option, text, "comma-separated integers, e.g. 1,8,32") from None
    if not vals:
        raise InputError(option, text, "at least one value")
    return vals


def _floats(option: str, text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(option, text, "comma-separated numbers, e.g. 25,50,100") from None
    if not vals:
        raise InputError(option, text, "at least one value")
    return vals


def _profile_device(kind: str) -> object:
    from tessera.gpu.clock import FakeClock
    from tessera.gpu.device import SimulatedDevice

    if kind not in ("auto", "sim", "cuda"):
        raise InputError("--device", kind, "auto, sim, cuda")
    if kind != "sim":
        try:
            import torch

            cuda = bool(torch.cuda.is_available())
        except ImportError:
            cuda = False
        if cuda:
            from tessera.gpu.cuda_device import CudaDevice

            return CudaDevice(0)
        if kind == "cuda":
            raise InputError("--device", kind, "auto or sim here: no CUDA device is visible")
    # one driving thread: a simulated clock that jumps instead of sleeping
    return SimulatedDevice(clock=FakeClock())


@app.command("profile")
def profile(
    model: str = typer.Option(..., "--model", help="resnet50, mobilenet_v3_large, bert_base, ..."),
    batches: str = typer.Option("1,8,32", "--batches", help="Batch sizes, comma-separated."),
    sms: str = typer.Option("8,16,32,64,132", "--sms", help="SM counts (whole GPU or groups)."),
    quotas: str = typer.Option("100", "--quotas", help="Time quotas in percent."),
    replays: int = typer.Option(30, "--replays", help="Timed batches per point (mean kept)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present), cuda, sim."),
    out: Path | None = typer.Option(None, "--out", help="Profile CSV to write (default: stdout)."),
) -> None:
    """Measure latency over batch x SMs x quota; write rows in the profile schema.

    Each point runs on its own instance (SM partition + token-window quota, CUDA graphs);
    latency_ms is the mean of `--replays` back-to-back batches, waiting for GPU time included.
    Without CUDA the simulated device answers (gpu column `simulated-h200`).
    """
    from rich.progress import Progress

    from tessera.cli.console import err_console
    from tessera.gpu.profiler import profile as run_profile
    from tessera.gpu.profiles import PROFILE_COLUMNS

    dev = _profile_device(device)
    b, s, q = _ints("--batches", batches), _ints("--sms", sms), _floats("--quotas", quotas)
    if replays < 1:
        raise InputError("--replays", replays, "an integer >= 1")
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task(f"profiling {model}", total=len(b) * len(s) * len(q))
        rows = run_profile(
            dev,  # type: ignore[arg-type]
            model,
            b,
            s,
            q,
            replays=replays,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PROFILE_COLUMNS)
    for m in rows:
        r = m.row
        w.writerow(
            [r.gpu, r.model, r.batch, f"{r.sm_pct:g}", f"{r.quota_pct:g}", f"{r.latency_ms:.4f}"]
        )
    if out is None:
        sys.stdout.write(buf.getvalue())
    else:
        _write_atomic(out, buf.getvalue())
        err_console.print(f"{len(rows)} rows -> {out}")
