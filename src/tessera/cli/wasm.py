"""`tessera wasm cc` and `tessera wasm run`: MPI programs as WebAssembly (tessera.wasm_mpi)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tessera.core.errors import InputError

app = typer.Typer(help="MPI programs compiled to WebAssembly, run by the host's MPI.")
_PASS = {"allow_extra_args": True, "ignore_unknown_options": True}


# clang options whose value is the next word when written apart
_CLANG_TAKES_VALUE = frozenset(
    [
        "-I",
        "-D",
        "-U",
        "-include",
        "-isystem",
        "-iquote",
        "-idirafter",
        "-L",
        "-l",
        "-x",
        "-MF",
        "-MT",
        "-MQ",
        "-Xclang",
        "-Xlinker",
        "-mllvm",
        "-target",
        "--target",
    ]
)


@app.command("cc", context_settings=_PASS)
def cc(ctx: typer.Context) -> None:
    r"""Compile C/C++ MPI sources to wasm32-wasi: tessera wasm cc SRC... -o APP.wasm \[clang flags].

    Uses Tessera's mpi.h; -O2, SIMD and stripping by default (override with your own flags).
    """
    from tessera.wasm_mpi.toolchain import CompileError, compile_wasm

    argv = list(ctx.args)
    out: Path | None = None
    sources: list[Path] = []
    flags: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-o":
            if i + 1 >= len(argv):
                raise InputError("-o", "missing", "an output path ending in .wasm")
            out = Path(argv[i + 1])
            i += 2
            continue
        if a in _CLANG_TAKES_VALUE:  # `-I inc`, `-D X=1`: the next word is the flag's value
            if i + 1 >= len(argv):
                raise InputError(a, "missing", f"a value after {a}")
            flags += [a, argv[i + 1]]
            i += 2
            continue
        if a.startswith("-"):
            flags.append(a)
        else:
            sources.append(Path(a))
        i += 1
    if out is None:
        raise InputError("-o", "missing", "an output path ending in .wasm")
    if out.is_dir():
        raise InputError("-o", str(out), "a file path ending in .wasm (this is a folder)")
    try:
        built = compile_wasm(sources, out, flags)
    except CompileError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{built} ({built.stat().st_size:,} bytes)")


@app.command("run", context_settings={**_PASS, "allow_interspersed_args": False})
def run(
    ctx: typer.Context,
    ranks: int | None = typer.Option(None, "-n", help="Ranks (spawns mpiexec unless under one)."),
    dirs: list[str] = typer.Option([], "--dir", help="Preopen HOST[:GUEST] (default: none)."),
    path: str = typer.Option("auto", "--path", help="MPI imports: auto, native or python."),
) -> None:
    """Run APP.wasm on N ranks: tessera wasm run [-n N] APP.wasm [ARGS].

    Everything after APP.wasm is the program's (an `-n` or `--dir` there grants nothing);
    one `--` right after it is dropped."""
    from tessera.wasm_mpi.launch import run as launch

    if not ctx.args:
        raise InputError("APP.wasm", "missing", "a .wasm file built by `tessera wasm cc`")
    app_args = ctx.args[1:]
    if app_args[:1] == ["--"]:
        app_args = app_args[1:]
    code = launch(Path(ctx.args[0]), app_args, ranks, dirs, path)
    sys.stdout.flush()
    raise typer.Exit(code)


@app.command("doctor")
def doctor() -> None:
    """Show the toolchain, the MPI and whether the native fast path builds (exit 1 if not)."""
    from importlib.metadata import PackageNotFoundError, version

    from tessera.wasm_mpi.launch import mpiexec
    from tessera.wasm_mpi.native import NativeUnavailable, build, mpicc

    ok = True
    for pkg in ("wasmtime", "ziglang", "mpi4py", "mpich"):
        try:
            typer.echo(f"{pkg:10s} {version(pkg)}")
        except PackageNotFoundError:
            typer.echo(f"{pkg:10s} missing (pip install 'tessera[wasm]')")
            if pkg != "mpich":  # another MPI (with its mpicc and mpiexec) may stand in for it
                ok = False
    typer.echo(f"{'mpicc':10s} {mpicc() or 'missing'}")
    try:
        typer.echo(f"{'mpiexec':10s} {mpiexec()}")
    except InputError as e:
        typer.echo(f"{'mpiexec':10s} {e}")
        ok = False
    try:
        typer.echo(f"{'shim':10s} {build()}")
    except NativeUnavailable as e:
        typer.echo(f"{'shim':10s} unavailable: {e} (the Python path still works)")
        ok = False
    raise typer.Exit(0 if ok else 1)
