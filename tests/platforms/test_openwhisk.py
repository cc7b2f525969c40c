"""The OpenWhisk adapter's artifacts and its action-container protocol."""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path

import yaml

from tessera.platforms.openwhisk import build
from tessera.platforms.openwhisk.server import ActionServer
from tests.platforms.helpers import write_function

HANDLER = """
def handle(event, context):
    return {"echo": event}
"""


def test_build_writes_an_action_zip_and_a_manifest_without_secrets(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", HANDLER, env={"TOKEN": "s3cret"}, timeout_s=7)
    out = build(fn, tmp_path / "out")
    with zipfile.ZipFile(out / "action.zip") as z:
        names = set(z.namelist())
    assert {"__main__.py", "function/main.py", "function/function.yaml"} <= names
    text = (out / "manifest.yaml").read_text()
    action = yaml.safe_load(text)["packages"]["tessera"]["actions"]["echo"]
    assert action["web"] == "raw" and action["limits"]["timeout"] == 7000
    assert action["inputs"]["TOKEN"] == "$TOKEN" and "s3cret" not in text


def test_action_protocol_init_once_then_run(tmp_path: Path) -> None:
    fn = write_function(tmp_path / "src", "echo", HANDLER)
    out = build(fn, tmp_path / "out")
    server = ActionServer()
    assert server.run({"value": {}})[0] == 403  # not initialized
    code = base64.b64encode((out / "action.zip").read_bytes()).decode()
    assert server.init({"main": "main", "code": code, "binary": True}) == (200, {"ok": True})
    assert server.init({"main": "main", "code": code, "binary": True})[0] == 403  # only once
    value = {
        "__ow_method": "post",
        "__ow_headers": {"content-type": "application/json"},
        "__ow_body": '{"a": 1}',
    }
    status, result = server.run({"value": value})
    assert status == 200
    assert result["statusCode"] == 200 and result["body"] == '{"echo":{"a":1}}'


def test_openfaas_build_writes_a_python3_http_folder_and_stack(tmp_path: Path) -> None:
    from tessera.platforms.openfaas import build as build_openfaas

    fn = write_function(
        tmp_path / "src", "echo", HANDLER, env={"TOKEN": "s3cret"}, scale={"min": 0, "max": 4}
    )
    out = build_openfaas(fn, tmp_path / "of")
    assert (out / "echo" / "handler.py").is_file()
    assert (out / "echo" / "user" / "main.py").read_text() == (fn / "main.py").read_text()
    text = (out / "stack.yml").read_text()
    spec = yaml.safe_load(text)["functions"]["echo"]
    assert spec["lang"] == "python3-http" and spec["handler"] == "./echo"
    assert spec["labels"]["com.openfaas.scale.max"] == "4"
    assert spec["labels"]["com.openfaas.scale.zero"] == "true"
    assert spec["environment"]["TOKEN"] == "${TOKEN}" and "s3cret" not in text


def test_fission_build_writes_archive_and_specs(tmp_path: Path) -> None:
    from tessera.platforms.fission import ENTRYPOINT
    from tessera.platforms.fission import build as build_fission

    fn = write_function(tmp_path / "src", "echo", HANDLER, env={"TOKEN": "s3cret"})
    out = build_fission(fn, tmp_path / "fi")
    with zipfile.ZipFile(out / "echo.zip") as z:
        assert {"tessera_fission.py", "function/main.py"} <= set(z.namelist())
    text = (out / "specs" / "function-echo.yaml").read_text()
    docs = {d["kind"]: d for d in yaml.safe_load_all(text)}
    assert set(docs) == {"Environment", "Package", "Function", "HTTPTrigger"}
    assert docs["Function"]["spec"]["package"]["functionName"] == ENTRYPOINT
    assert docs["Function"]["spec"]["secrets"] == [{"name": "echo-env", "namespace": "default"}]
    assert "s3cret" not in text
