"""Render experiment results as one self-contained HTML page (figures embedded as PNG).

No template engine and no external assets: the file can be mailed or opened
offline. Writes go to a temporary file that is renamed into place, so a
crashed run never leaves half a report.
"""

from __future__ import annotations

import base64
import errno
import html
import io
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tessera import __version__
from tessera.experiments.base import Experiment, ExperimentResult

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #e3e6ee;padding-bottom:.2rem;margin-top:2.5rem}
.sub{color:#5b6475}.headline{background:#eef4ff;border-left:4px solid #3d6fd8;padding:.5rem .8rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.88rem}
th,td{border:1px solid #dde1ea;padding:.3rem .55rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f5f7fb}
figure{margin:1rem 0}figcaption{color:#5b6475;font-size:.85rem}img{max-width:100%}
.notes li{color:#3b4252;font-size:.9rem}.err{color:#b00020}
nav a{margin-right:1rem}code{background:#f3f4f7;padding:0 .25rem}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 0.01:
            return f"{v:.3f}"
        return f"{v:.2e}"
    return html.escape(str(v))


@dataclass(frozen=True)
class PngFigure:
    """A figure already rendered: base64 PNG, the matplotlib figure closed."""

    b64: str


def _figure_png(fig: Any) -> str:
    if isinstance(fig, PngFigure):
        return fig.b64
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def freeze_figures(res: ExperimentResult) -> None:
    """Render `res`'s figures to PNG now and close them (a long demo keeps no figure open)."""
    res.figures = [(caption, PngFigure(_figure_png(fig))) for caption, fig in res.figures]


def _table(policies: dict[str, dict[str, Any]]) -> str:
    cols: list[str] = []
    for m in policies.values():
        for k in m:
            if k not in cols:
                cols.append(k)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["policy / case", *cols])
    body = "".join(
        "<tr><td>"
        + html.escape(p)
        + "</td>"
        + "".join(f"<td>{_fmt(m.get(c, ''))}</td>" for c in cols)
        + "</tr>"
        for p, m in policies.items()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(exp: Experiment, res: ExperimentResult | None, error: str | None) -> str:
    parts = [f'<h2 id="{html.escape(exp.name)}">{html.escape(exp.title)}</h2>']
    parts.append(
        f'<p class="sub">{html.escape(exp.summary)} '
        f"Rerun: <code>tessera experiment {html.escape(exp.name)}</code></p>"
    )
    if error is not None:
        parts.append(f'<p class="err">This experiment failed: {html.escape(error)}</p>')
        return "\n".join(parts)
    assert res is not None
    if res.headline:
        parts.append(f'<p class="headline">{html.escape(res.headline)}</p>')
    parts.append(_table(res.policies))
    for caption, fig in res.figures:
        parts.append(
            f'<figure><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{_figure_png(fig)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    meta = ", ".join(f"{html.escape(k)}={_fmt(v)}" for k, v in res.meta.items())
    notes = [*res.notes, f"meta: {meta}"] if meta else res.notes
    if notes:
        parts.append(
            '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
        )
    return "\n".join(parts)


def render(
    runs: Sequence[tuple[Experiment, ExperimentResult | None, str | None]],
    title: str = "Tessera report",
    subtitle: str = "",
) -> str:
    """The whole page for `runs` of (experiment, result or None, error or None)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = " ".join(
        f'<a href="#{html.escape(e.name)}">{html.escape(e.title)}</a>' for e, _, _ in runs
    )
    body = "\n".join(_section(e, r, err) for e, r, err in runs)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="sub">Tessera {__version__} · generated {now}. {html.escape(subtitle)}</p>'
        f"<nav>{nav}</nav>{body}</body></html>"
    )


def check_out_dir(out: Path, files: Sequence[str], field: str = "--out") -> None:
    """Make sure `files` can be written into folder `out` (created if missing) before the work
    that produces them starts: a bad --out fails at once, and never after half the files."""
    from tessera.core.errors import InputError

    if out.exists() and not out.is_dir():
        raise InputError(field, str(out), "a folder (this is a file)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InputError(
            field, str(out), f"a folder where files can be written ({e.strerror})"
        ) from None
    for name in files:
        if (out / name).is_dir():
            raise InputError(
                field, str(out), f"a folder where {name} can be written (it is a folder)"
            )


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` via a temporary file in the same folder and a rename."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(p))
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    except OSError as e:  # name the path asked for, not a parent's or the temporary file's
        raise OSError(e.errno, e.strerror, str(p)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
