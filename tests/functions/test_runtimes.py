"""Manifests for every runtime, and building a C function into its WASI module."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tessera.core.errors import InputError
from tessera.functions.manifest import load_function_dir, parse_manifest
from tessera.functions.package import pack_dir
from tessera.functions.runtimes import NODEJS20, PYTHON, WASI, module_file, runtime_of
from tessera.functions.wasm_build import build_wasm, is_stale

C_OK = '#include "tessera.h"\nint handle(const char *e, size_t n, tessera_context *c) {return 0;}\n'


def folder(tmp_path: Path, runtime: str, files: dict[str, str], **manifest: Any) -> Path:
    d = tmp_path / "fn"
    d.mkdir(parents=True, exist_ok=True)
    data = {"name": "fn", "runtime": runtime, "handler": "main.handle", **manifest}
    (d / "function.yaml").write_text(yaml.safe_dump(data))
    for name, text in files.items():
        (d / name).write_text(text)
    return d


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [("python3", PYTHON), ("python3.11", PYTHON), ("nodejs20", NODEJS20), ("wasi", WASI)],
)
def test_accepted_runtimes(runtime: str, expected: object) -> None:
    assert parse_manifest({"name": "f", "runtime": runtime}).runtime == runtime
    assert runtime_of(runtime) is expected


@pytest.mark.parametrize("runtime", ["node18", "nodejs", "go1.22", "python2", "WASI"])
def test_an_unknown_runtime_is_one_error_naming_the_field_and_the_accepted_values(
    runtime: str,
) -> None:
    with pytest.raises(InputError) as e:
        parse_manifest({"name": "f", "runtime": runtime})
    assert e.value.field == "function.yaml: runtime"
    assert e.value.value == runtime
    assert e.value.accepted == "python3 (or python3.N), nodejs20, wasi"


def test_wasi_takes_one_call_per_instance_and_preload_is_python_only() -> None:
    with pytest.raises(InputError) as e:
        parse_manifest({"name": "f", "runtime": "wasi", "concurrency": 4})
    assert e.value.field == "function.yaml: concurrency" and "at most 1" in e.value.accepted
    assert parse_manifest({"name": "f", "runtime": "nodejs20", "concurrency": 50}).concurrency == 50
    with pytest.raises(InputError) as e:
        parse_manifest({"name": "f", "runtime": "nodejs20", "preload": ["x"]})
    assert e.value.field == "function.yaml: preload"


def test_the_handler_names_a_module_file_in_the_runtimes_language() -> None:
    assert module_file(PYTHON, "main.handle") == Path("main.py")
    assert module_file(NODEJS20, "lib.api.handle") == Path("lib/api.js")
    assert module_file(WASI, "main.handle") == Path("main.wasm")


def test_load_function_dir_checks_the_module_file_of_each_runtime(tmp_path: Path) -> None:
    d = folder(tmp_path, "nodejs20", {"main.py": "x = 1\n"})
    with pytest.raises(InputError) as e:
        load_function_dir(d)
    assert e.value.field == "function.yaml: handler" and "main.js" in e.value.accepted
    (d / "main.js").write_text("exports.handle = () => 1;\n")
    assert load_function_dir(d).runtime == "nodejs20"

    c = folder(tmp_path / "c", "wasi", {"main.c": C_OK})
    with pytest.raises(InputError) as e:
        load_function_dir(c)
    assert "main.wasm" in e.value.accepted and "tessera fn build-wasm" in e.value.accepted


def test_build_wasm_compiles_only_when_stale_and_reuses_its_cache(tmp_path: Path) -> None:
    d = folder(tmp_path, "wasi", {"main.c": C_OK})
    assert is_stale(d, "main.handle")
    cache = tmp_path / "cache"
    out = build_wasm(d, "main.handle", cache_dir=cache)
    assert out == d / "main.wasm" and out.read_bytes()[:4] == b"\0asm"
    assert not is_stale(d, "main.handle")
    assert len(list(cache.glob("*.wasm"))) == 1
    out.unlink()
    assert build_wasm(d, "main.handle", cache_dir=cache).read_bytes()[:4] == b"\0asm"

    past = out.stat().st_mtime - 100
    os.utime(out, (past, past))  # the source is now newer than the module
    assert is_stale(d, "main.handle")
    archive = pack_dir(d)  # packing rebuilds it
    assert not is_stale(d, "main.handle")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert {"function.yaml", "main.c", "main.wasm"} <= set(tar.getnames())


def test_a_compile_error_is_reported_and_leaves_no_module(tmp_path: Path) -> None:
    d = folder(tmp_path, "wasi", {"main.c": "int handle(void) { return nope; }\n"})
    with pytest.raises(InputError) as e:
        build_wasm(d)
    assert e.value.field == "main.c" and "nope" in e.value.accepted
    assert sorted(p.name for p in d.iterdir()) == ["function.yaml", "main.c"]
