"""The function contract without any server: events, results, manifests, scaffold and loader."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tessera.core.errors import InputError
from tessera.functions.contract import Context, Response, decode_event, encode_result
from tessera.functions.loader import HandlerError, load_handler
from tessera.functions.manifest import FunctionManifest, load_function_dir, parse_manifest
from tessera.functions.scaffold import new_function


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`load_handler` edits sys.path and imports by module name: undo both after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def unique_module() -> str:
    return f"fn_{uuid.uuid4().hex}"


def context(function: str = "f") -> Context:
    return Context(
        function=function,
        invocation_id="inv-1",
        deadline_s=time.time() + 30,
        logger=logging.getLogger("test.fn"),
    )


# --- decode_event -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/cloudevents+json",
        "application/vnd.api+json; charset=utf-8",
    ],
)
def test_json_and_plus_json_bodies_are_parsed(content_type: str) -> None:
    assert decode_event(b'{"a": [1, 2]}', content_type) == {"a": [1, 2]}


def test_untyped_body_that_looks_like_json_is_parsed() -> None:
    assert decode_event(b"[1, 2]", None) == [1, 2]
    assert decode_event(b'{"k": "v"}', "") == {"k": "v"}


def test_other_bodies_stay_bytes() -> None:
    assert decode_event(b'{"a": 1}', "text/plain") == b'{"a": 1}'
    assert decode_event(b"\x00\xff", "application/octet-stream") == b"\x00\xff"
    assert decode_event(b"hello", None) == b"hello"


def test_empty_body_is_none() -> None:
    assert decode_event(b"", "application/json") is None
    assert decode_event(b"", None) is None


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2", b'{"a": }'])
def test_invalid_json_stays_bytes(body: bytes) -> None:
    assert decode_event(body, "application/json") == body
    assert decode_event(body, None) == body


# --- encode_result ------------------------------------------------------------------------------
def test_dict_and_list_become_compact_json() -> None:
    status, headers, body = encode_result({"a": 1, "b": [1, 2]})
    assert status == 200
    assert headers == {"content-type": "application/json"}
    assert body == b'{"a":1,"b":[1,2]}'
    status, headers, body = encode_result([1, "x"])
    assert (status, json.loads(body)) == (200, [1, "x"])
    assert headers["content-type"] == "application/json"


def test_other_json_values_are_json() -> None:
    assert encode_result(42)[2] == b"42"
    assert encode_result(True)[2] == b"true"


def test_str_is_utf8_text() -> None:
    status, headers, body = encode_result("héllo")
    assert status == 200
    assert headers == {"content-type": "text/plain; charset=utf-8"}
    assert body == "héllo".encode()


@pytest.mark.parametrize("value", [b"\x00\x01", bytearray(b"\x00\x01"), memoryview(b"\x00\x01")])
def test_bytes_like_are_octet_stream(value: Any) -> None:
    status, headers, body = encode_result(value)
    assert (status, body) == (200, b"\x00\x01")
    assert isinstance(body, bytes)
    assert headers == {"content-type": "application/octet-stream"}


def test_none_is_204_no_content() -> None:
    assert encode_result(None) == (204, {}, b"")


def test_response_sets_status_and_headers() -> None:
    status, headers, body = encode_result(Response({"ok": True}, 201, {"x-trace": "t1"}))
    assert status == 201
    assert headers == {"x-trace": "t1", "content-type": "application/json"}
    assert body == b'{"ok":true}'


def test_response_content_type_is_not_overridden() -> None:
    status, headers, body = encode_result(Response("<b>hi</b>", 200, {"content-type": "text/html"}))
    assert (status, headers, body) == (200, {"content-type": "text/html"}, b"<b>hi</b>")


def test_response_with_empty_body_keeps_its_status() -> None:
    assert encode_result(Response(None, 404)) == (404, {}, b"")
    assert encode_result(Response(None)) == (204, {}, b"")
    status, _, body = encode_result(Response(status=202))
    assert (status, body) == (202, b"")


def test_response_headers_are_copied_not_shared() -> None:
    original = {"x-a": "1"}
    _, headers, _ = encode_result(Response("x", 200, original))
    headers["x-b"] = "2"
    assert original == {"x-a": "1"}


def test_unserialisable_result_raises() -> None:
    with pytest.raises(TypeError):
        encode_result({"when": object()})


def test_context_remaining_time() -> None:
    ctx = context()
    assert 29 < ctx.remaining_s() <= 30


# --- manifest -----------------------------------------------------------------------------------
def test_minimal_manifest_gets_the_documented_defaults() -> None:
    m = parse_manifest({"name": "hello"})
    assert isinstance(m, FunctionManifest)
    assert (m.runtime, m.handler, m.concurrency, m.timeout_s) == ("python3", "main.handle", 1, 30)
    assert (m.scale.min, m.scale.max, m.scale.target) == (0, 10, 1.0)
    spec = m.spec()
    assert spec.name == "hello" and spec.scale.max_replicas == 10


def test_full_manifest_maps_onto_the_spec() -> None:
    m = parse_manifest(
        {
            "name": "resize",
            "runtime": "python3.11",
            "handler": "pkg.mod.run",
            "resources": {"cpu": 2, "memory_mib": 512, "gpu": {"sm_pct": 50, "mem_mib": 1024}},
            "scale": {"min": 1, "max": 4, "target": 2},
            "concurrency": 8,
            "timeout_s": 5,
            "env": {"MODE": "fast"},
        }
    )
    spec = m.spec()
    assert spec.handler == "pkg.mod.run"
    assert spec.concurrency == 8 and spec.timeout_s == 5
    assert (spec.scale.min_replicas, spec.scale.max_replicas) == (1, 4)
    assert spec.scale.target_concurrency == 2
    assert spec.env == {"MODE": "fast"}
    assert spec.resources.gpu is not None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "f", "bogus": 1}, "function.yaml: bogus"),
        ({"name": "f", "scale": {"min": 0, "maximum": 3}}, "function.yaml: scale.maximum"),
        ({"name": "f", "handler": "main"}, "function.yaml: handler"),
        ({"name": "f", "handler": "main.handle()"}, "function.yaml: handler"),
        ({"name": "f", "handler": "1main.handle"}, "function.yaml: handler"),
        ({"name": "f", "scale": {"min": 3, "max": 2}}, "function.yaml: scale.max"),
        ({"name": "Bad_Name"}, "function.yaml: name"),
        ({"name": "-leading-dash"}, "function.yaml: name"),
        ({"name": "x" * 64}, "function.yaml: name"),
        ({}, "function.yaml: name"),
        ({"name": "f", "timeout_s": 0}, "function.yaml: timeout_s"),
        ({"name": "f", "concurrency": 0}, "function.yaml: concurrency"),
        ({"name": "f", "runtime": "node18"}, "function.yaml: runtime"),
        ({"name": "f", "env": {"A": [1]}}, "function.yaml: env.A"),
        ({"name": "f", "resources": {"processes": 2}}, "function.yaml: resources.processes"),
        ({"name": "f", "resources": {"open_files": 0}}, "function.yaml: resources.open_files"),
        (  # 3 tasks per instance up to scale.max, plus 8
            {"name": "f", "scale": {"max": 20}, "resources": {"processes": 60}},
            "function.yaml: resources.processes",
        ),
    ],
)
def test_manifest_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as e:
        parse_manifest(data)
    assert e.value.field == field
    assert field in str(e.value)
    assert e.value.accepted  # says what would be accepted


def test_unknown_key_is_reported_before_other_errors() -> None:
    with pytest.raises(InputError) as e:
        parse_manifest({"name": "f", "timeout_s": -1, "extra": True})
    assert e.value.field == "function.yaml: extra"
    assert e.value.value == "(unknown key)"
    assert "name" in e.value.accepted and "handler" in e.value.accepted


@pytest.mark.parametrize("data", [["name", "f"], "name: f", None, 3])
def test_manifest_that_is_not_a_mapping_is_refused(data: Any) -> None:
    with pytest.raises(InputError) as e:
        parse_manifest(data)
    assert e.value.field == "function.yaml"
    assert "mapping" in e.value.accepted


def write_dir(d: Path, manifest: str | None, files: dict[str, str] | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        (d / "function.yaml").write_text(manifest)
    for name, text in (files or {}).items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return d


def test_function_dir_loads(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "f", "name: f\n", {"main.py": "def handle(e, c):\n    return 1\n"})
    assert load_function_dir(d).name == "f"


def test_function_dir_accepts_a_package_handler(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "f", "name: f\nhandler: app.run\n", {"app/__init__.py": ""})
    assert load_function_dir(d).handler == "app.run"


def test_function_dir_without_the_handler_module_is_refused(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "f", "name: f\n", {"other.py": ""})
    with pytest.raises(InputError) as e:
        load_function_dir(d)
    assert e.value.field == "function.yaml: handler"
    assert "main.py" in e.value.accepted


def test_function_dir_with_bad_yaml_says_where(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "f", "name: [f\nscale: 1\n", {"main.py": ""})
    with pytest.raises(InputError) as e:
        load_function_dir(d)
    assert e.value.field.endswith("function.yaml")
    assert "unparsable YAML" in str(e.value.value) and "line" in str(e.value.value)


def test_function_dir_with_a_list_manifest_is_refused(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "f", "- name: f\n", {"main.py": ""})
    with pytest.raises(InputError) as e:
        load_function_dir(d)
    assert e.value.field == "function.yaml" and e.value.value == "list"


def test_missing_folder_or_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        load_function_dir(tmp_path / "nowhere")
    assert e.value.field == "function dir"
    empty = write_dir(tmp_path / "empty", None)
    with pytest.raises(InputError) as e:
        load_function_dir(empty)
    assert "function.yaml" in e.value.accepted


# --- scaffold -----------------------------------------------------------------------------------
def test_scaffold_creates_a_function_that_loads_and_greets(
    tmp_path: Path, clean_imports: None
) -> None:
    sys.modules.pop("main", None)  # the scaffold's module is called `main`
    d = new_function("greeter", tmp_path)
    assert d == tmp_path / "greeter"
    assert sorted(p.name for p in d.iterdir()) == ["function.yaml", "main.py"]
    m = load_function_dir(d)
    assert (m.name, m.handler, m.runtime) == ("greeter", "main.handle", "python3")
    assert yaml.safe_load((d / "function.yaml").read_text())["name"] == "greeter"
    h = load_handler(d, m.handler)
    assert h.start is None and h.stop is None and h.ready is None
    ctx = context("greeter")
    assert h.handle({"name": "Ada"}, ctx) == {"message": "hello, Ada", "function": "greeter"}
    assert h.handle(None, ctx) == {"message": "hello, world", "function": "greeter"}
    assert h.handle(b"raw", ctx) == {"message": "hello, world", "function": "greeter"}
    assert encode_result(h.handle({}, ctx))[0] == 200


def test_scaffold_refuses_to_overwrite(tmp_path: Path) -> None:
    d = new_function("twice", tmp_path)
    (d / "main.py").write_text("# mine\n")
    with pytest.raises(InputError) as e:
        new_function("twice", tmp_path)
    assert e.value.field == "NAME"
    assert (d / "main.py").read_text() == "# mine\n"


def test_scaffold_refuses_an_invalid_name(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        new_function("Not_A_Label", tmp_path)
    assert e.value.field == "NAME" and "DNS label" in e.value.accepted
    assert list(tmp_path.iterdir()) == []


# --- loader -------------------------------------------------------------------------------------
def module_dir(tmp_path: Path, source: str) -> tuple[Path, str]:
    name = unique_module()
    d = tmp_path / "code"
    d.mkdir(exist_ok=True)
    (d / f"{name}.py").write_text(textwrap.dedent(source))
    return d, name


def test_loader_finds_handler_and_hooks(tmp_path: Path, clean_imports: None) -> None:
    d, mod = module_dir(
        tmp_path,
        """
        CALLS = []
        def start(config): CALLS.append(("start", config))
        def stop(): CALLS.append("stop")
        def ready(): return True
        def run(event, context): return {"got": event}
        """,
    )
    h = load_handler(d, f"{mod}.run")
    assert h.handle(1, context()) == {"got": 1}
    assert h.start is not None and h.stop is not None and h.ready is not None
    h.start({"k": "v"})
    assert sys.modules[mod].CALLS == [("start", {"k": "v"})]


def test_loader_ignores_non_callable_hooks(tmp_path: Path, clean_imports: None) -> None:
    d, mod = module_dir(tmp_path, "start = 1\ndef handle(e, c):\n    return e\n")
    h = load_handler(d, f"{mod}.handle")
    assert h.start is None


def test_loader_missing_attribute(tmp_path: Path, clean_imports: None) -> None:
    d, mod = module_dir(tmp_path, "def other(e, c):\n    return e\n")
    with pytest.raises(HandlerError, match=rf"{mod}\.handle is missing or not callable"):
        load_handler(d, f"{mod}.handle")


def test_loader_attribute_that_is_not_callable(tmp_path: Path, clean_imports: None) -> None:
    d, mod = module_dir(tmp_path, "handle = 42\n")
    with pytest.raises(HandlerError, match="not callable"):
        load_handler(d, f"{mod}.handle")


def test_loader_import_error_is_wrapped(tmp_path: Path, clean_imports: None) -> None:
    d, mod = module_dir(tmp_path, "import definitely_not_a_module_xyz\n")
    with pytest.raises(HandlerError) as e:
        load_handler(d, f"{mod}.handle")
    assert f"importing '{mod}' failed" in str(e.value)
    assert "ModuleNotFoundError" in str(e.value)


def test_loader_exception_at_import_is_wrapped(tmp_path: Path, clean_imports: None) -> None:
    d, mod = module_dir(tmp_path, "raise RuntimeError('config missing')\n")
    with pytest.raises(HandlerError, match="RuntimeError: config missing"):
        load_handler(d, f"{mod}.handle")


def test_loader_missing_module(tmp_path: Path, clean_imports: None) -> None:
    (tmp_path / "code").mkdir()
    with pytest.raises(HandlerError, match="ModuleNotFoundError"):
        load_handler(tmp_path / "code", f"{unique_module()}.handle")


def test_two_functions_with_one_module_name_load_their_own_code(tmp_path: Path) -> None:
    """Adapters and tests load several functions in one process: `main.handle` of a second
    folder must be that folder's, not the module of that name imported first."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "main.py").write_text(
            f"def handle(event, context):\n    return {name!r}\n"
        )
    first = load_handler(tmp_path / "a", "main.handle")
    second = load_handler(tmp_path / "b", "main.handle")
    assert (first.handle(None, None), second.handle(None, None)) == ("a", "b")
    assert load_handler(tmp_path / "a", "main.handle").handle(None, None) == "a"
