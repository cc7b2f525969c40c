"""An MPI program as a Tessera function: the `mpi-job` folder with the program in it.

`package(APP.wasm, DEST)` writes DEST = the template folder `function/` (function.yaml,
handler.py) plus the module as DEST/app.wasm. Each invocation of the deployed function runs
that module on the number of ranks its event asks for (see `function/handler.py` for the
event and the answer). On the local platform:

    tessera wasm cc prog.c -o prog.wasm
    python -c "from pathlib import Path; from tessera.wasm_mpi.package import package; \\
               package(Path('prog.wasm'), Path('mpi-job'))"
    tessera up &                      # the local platform (gateway on its default port)
    tessera fn deploy mpi-job         # packs the folder and POSTs it to /system/functions
    tessera fn invoke mpi-job --data '{"ranks": 4, "args": ["--size", "1000"]}'

From Python, POST `tessera.functions.package.pack_dir(DEST)` (a .tar.gz) to the gateway's
`/system/functions` with content-type application/gzip (what `tessera fn deploy` does), then
POST the event as JSON to `/function/mpi-job`. The function is named `mpi-job`: packaging
another program and deploying it again makes a new version of the same function (edit
`name` in DEST/function.yaml to keep both).

The machine that runs the function needs what `tessera wasm run` needs: mpi4py, wasmtime
and an `mpiexec` next to the platform's Python (the `mpich` wheel) or on its PATH.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tessera.core.errors import InputError
from tessera.functions.manifest import load_function_dir
from tessera.wasm_mpi.runner import read_module_bytes

TEMPLATE = Path(__file__).resolve().parent / "function"
"""The function folder without its program: function.yaml and handler.py."""
APP = "app.wasm"


def package(app: Path, dest: Path) -> Path:
    """Write the deployable `mpi-job` folder for `app` (a .wasm) into `dest`; returns `dest`.

    `dest` must be a new or empty folder. `InputError` when `app` is not a WebAssembly
    binary or `dest` is not usable; nothing is written then.
    """
    data = read_module_bytes(Path(app))
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError("DEST", str(dest), "a new or empty folder")
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(TEMPLATE.iterdir()):
        if f.is_file() and f.name != APP:
            shutil.copyfile(f, dest / f.name)
    (dest / APP).write_bytes(data)
    load_function_dir(dest)  # what the deploy will check, checked here
    return dest
