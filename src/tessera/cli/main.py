"""Entry point: assembles the subcommands and turns bad input into one line and exit code 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from tessera import __version__
from tessera.cli import auth as auth_cmd
from tessera.cli import demo as demo_cmd
from tessera.cli import experiment as experiment_cmd
from tessera.cli import fn as fn_cmd
from tessera.cli import gpu as gpu_cmd
from tessera.cli import guard as guard_cmd
from tessera.cli import secret as secret_cmd
from tessera.cli import sim as sim_cmd
from tessera.cli import up as up_cmd
from tessera.cli import wasm as wasm_cmd
from tessera.cli.console import err_console, print_error
from tessera.core.errors import InputError

app = typer.Typer(
    name="tessera",
    help="Serverless computing on heterogeneous hardware: simulate, experiment, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(sim_cmd.app, name="sim")
app.command("experiment")(experiment_cmd.experiment)
app.command("demo")(demo_cmd.demo)
app.command("up")(up_cmd.up)
app.add_typer(fn_cmd.app, name="fn")
app.add_typer(gpu_cmd.app, name="gpu")
app.add_typer(wasm_cmd.app, name="wasm")
app.add_typer(auth_cmd.app, name="auth")
app.add_typer(secret_cmd.app, name="secret")
app.add_typer(guard_cmd.app, name="guard")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tessera {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Tessera command line."""


def _fail(message: str) -> None:
    print_error(message)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; bad input of any kind ends in one `error:` line on stderr and exit code 2."""
    data = os.environ.get("TESSERA_DATA")
    if data and not Path(data).expanduser().is_dir():  # set, but wrong: say so, then go on
        err_console.print(
            f"note: TESSERA_DATA={data} is not a folder; using the built-in defaults instead",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    try:
        code = app(args=argv, prog_name="tessera", standalone_mode=False)
    except typer.TyperException as e:  # bad option values, unknown options, missing arguments
        if type(e).__name__ == "NoArgsIsHelpError":  # help was printed: a group run bare
            sys.exit(0)
        ctx = getattr(e, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        _fail(e.format_message().replace("\n", " ") + hint)
    except InputError as e:
        _fail(str(e))
    except OSError as e:  # a path given on the command line that cannot be read or written
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}")
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
