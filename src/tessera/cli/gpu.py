"""`tessera gpu predict`: latency of model batches on GPU slices, predicted from profiles."""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tessera.core.errors import InputError

if TYPE_CHECKING:
    from tessera.gpu.device import Device
    from tessera.gpu.predict import Predictor
    from tessera.gpu.profiler import Measured
    from tessera.gpu.profiles import ProfileTable

app = typer.Typer(help="GPU slices: latency prediction from profiles.")


def _check_out(path: Path) -> Path:
    """`path` resolved, once sure a file can be created there (`InputError` naming ``--out``).

    Run before any long work, so a bad ``--out`` fails at once, not after it.
    """
    target = path.resolve()
    if target.is_dir():
        raise InputError("--out", str(path), "a file path, not a directory")
    if not target.parent.is_dir():
        raise InputError("--out", str(path), "a path in an existing directory")
    try:  # the one sure test (root passes os.access, /proc refuses new files anyway)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise InputError(
            "--out", str(path), f"a path in a directory where files can be created ({e.strerror})"
        ) from None
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)
    return target


def _write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` (temp file + rename: `report.html.write_atomic`); a failure is a
    bad --out, named as the user gave it."""
    from tessera.report.html import write_atomic

    target = _check_out(path)
    try:
        write_atomic(target, text)
    except OSError as e:
        raise InputError("--out", str(path), f"a writable path ({e.strerror})") from None


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
    from tessera.gpu.profiles import ProfileTable, read_csv, read_table, table_from_csv

    if out is not None:
        _check_out(out)
    paths = [*profiles, *(more_profiles or [])]
    table = ProfileTable.concat([read_table(p, option="--profiles") for p in paths])
    if len(table) == 0:
        shown = str(paths[0]) if len(paths) == 1 else ", ".join(map(str, paths))
        raise InputError(
            "--profiles", shown, "profile CSV file(s) with data rows (these hold only a header)"
        )
    data = read_csv(queries, option="--queries")
    q = table_from_csv(data, with_latency=False)
    predictor = Predictor().fit(table)
    _check_known(predictor, q, [n for n, _ in data.rows], data.label)
    lat = predictor.predict_many(q)
    header, body = data.header, [r for _, r in data.rows]
    names = data.names
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


def _check_known(predictor: Predictor, q: ProfileTable, lines: list[int], label: str) -> None:
    """The predictor's error for the first query row it has no profile for, with its line."""
    import numpy as np

    known = set(predictor.known())
    for i, (gpu, model) in enumerate(zip(q.gpu.tolist(), q.model.tolist(), strict=True)):
        if (gpu.lower(), model) in known:
            continue
        try:
            predictor.predict_many(q.take(np.array([i], dtype=np.intp)))
        except InputError as e:
            field = f"{label}: line {lines[i]}: column {e.field}"
            raise InputError(field, e.value, e.accepted) from None
        return


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


def _device_models(dev: Device) -> list[str]:
    """The models `dev` can load: the simulated device's table, or those `models.build` makes."""
    from tessera.gpu.device import SimulatedDevice

    if isinstance(dev, SimulatedDevice):
        from tessera.gpu.latency import WEIGHTS_MIB, known_models

        return [m for m in known_models() if m in WEIGHTS_MIB]
    from tessera.gpu.models import MODELS

    return list(MODELS)


def _profile_device(kind: str) -> Device:
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
    batches: str = typer.Option(
        "1,8,32", "--batches", help="Batch sizes, comma-separated (each 1..65536)."
    ),
    sms: str = typer.Option("8,16,32,64,132", "--sms", help="SM counts (whole GPU or groups)."),
    quotas: str = typer.Option("100", "--quotas", help="Time quotas in percent."),
    replays: int = typer.Option(
        30, "--replays", help="Timed batches per point, 1..10000 (mean kept)."
    ),
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
    from tessera.gpu.profiler import check_grid
    from tessera.gpu.profiler import profile as run_profile
    from tessera.gpu.profiles import PROFILE_COLUMNS

    # every check before the device starts work or the progress display appears
    if out is not None:
        _check_out(out)
    b, s, q = _ints("--batches", batches), _ints("--sms", sms), _floats("--quotas", quotas)
    dev = _profile_device(device)
    options = {"batches": "--batches", "sms": "--sms", "quotas": "--quotas", "replays": "--replays"}
    check_grid(dev.info, b, s, q, replays=replays, fields=options)
    models = _device_models(dev)
    if model not in models:
        raise InputError("--model", model, "one of " + ", ".join(models))

    def run(progress: Callable[[int, int], None] | None) -> list[Measured]:
        return run_profile(dev, model, b, s, q, replays=replays, progress=progress)

    if err_console.is_terminal and not err_console.is_dumb_terminal:
        with Progress(console=err_console, transient=True) as bar:
            task = bar.add_task(f"profiling {model}", total=len(b) * len(s) * len(q))
            rows = run(lambda done, _total: bar.update(task, completed=done))
    else:  # a log or a pipe: no progress display (a transient one still leaves a blank line)
        rows = run(None)
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
        err_console.print(
            f"{len(rows)} rows -> {out}", soft_wrap=True, markup=False, highlight=False
        )
