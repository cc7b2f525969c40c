"""A function's `secrets:` in every adapter's build: each secret is delivered as SECRET_<NAME>
by the same reference each platform uses for env values (the builds ignored `secrets:`, so
the function never got them, and the Kubernetes image's own `tessera up` refused to start
the function: a crash loop)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

from tessera.conformance.targets.kubernetes import serve
from tessera.core.errors import InputError
from tessera.functions.manifest import parse_manifest
from tessera.platforms import BUILDERS, builder
from tessera.platforms.kubernetes import build, objects

from .helpers import write_function

READS = """
import os


def handle(event, context):
    return {k: v for k, v in os.environ.items() if k.startswith("SECRET_")}
"""
VALUE = "pw-7f3c-never-in-an-artifact"


def _fn(tmp_path: Path, env: dict[str, str] | None = None) -> Path:
    env = {"API_TOKEN": "t0ken"} if env is None else env
    return write_function(tmp_path / "src", "reader", READS, env=env, secrets=["db-password"])


def _texts(out: Path) -> str:
    parts = []
    for f in sorted(out.rglob("*")):
        if f.suffix == ".zip":
            with zipfile.ZipFile(f) as z:
                parts += [z.read(n).decode(errors="replace") for n in z.namelist()]
        elif f.is_file():
            parts.append(f.read_text(errors="replace"))
    return "\n".join(parts)


# ray runs the function in this process's Ray workers: their environment is the secrets' way
@pytest.mark.parametrize("platform", sorted(set(BUILDERS) - {"ray", "fission"}))
def test_every_build_references_each_secret_as_it_does_env(tmp_path: Path, platform: str) -> None:
    text = _texts(builder(platform)(_fn(tmp_path), tmp_path / platform))
    assert "API_TOKEN" in text  # env keys are referenced ...
    name = "EnvSecretDbPassword" if platform == "awslambda" else "SECRET_DB_PASSWORD"
    assert name in text  # ... and so is the secret


def test_fission_mounts_the_functions_secret_for_secrets_alone(tmp_path: Path) -> None:
    """Fission names only the Secret (its keys are the variables): with no env it was left out."""
    out = builder("fission")(_fn(tmp_path, env={}), tmp_path / "fission")
    docs = [
        d for f in sorted((out / "specs").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())
    ]
    fn = next(d for d in docs if d["kind"] == "Function")
    assert [s["name"] for s in fn["spec"]["secrets"]] == ["reader-env"]


def test_kubernetes_requires_the_secret_and_its_command_reads_it(tmp_path: Path) -> None:
    out = build(_fn(tmp_path), tmp_path / "out")
    dep = next(d for d in yaml.safe_load_all((out / "k8s.yaml").read_text()))
    c = dep["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
    assert refs["SECRET_DB_PASSWORD"] == {
        "name": "reader-env",
        "key": "SECRET_DB_PASSWORD",
        "optional": False,  # the pod does not start without it
    }
    assert refs["API_TOKEN"]["optional"] is True
    assert "--secrets-from-env" in c["command"] and "--insecure-no-sandbox" in c["command"]
    plain = objects(parse_manifest({"name": "plain"}))[0]
    assert "--secrets-from-env" not in plain["spec"]["template"]["spec"]["containers"][0]["command"]


def test_the_kubernetes_containers_command_gives_the_function_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The container's own command, run here: the Secret's SECRET_DB_PASSWORD reaches the
    function; another SECRET_* variable of the platform's environment does not."""
    monkeypatch.setenv("SECRET_DB_PASSWORD", VALUE)
    monkeypatch.setenv("SECRET_SOMEONE_ELSES", "not yours")
    out = build(_fn(tmp_path), tmp_path / "out")
    with serve(out, tmp_path, "reader") as invoke:
        status, _headers, body = invoke(b"{}", "application/json")
    assert status == 200, body
    assert json.loads(body) == {"SECRET_DB_PASSWORD": VALUE}


def test_an_env_key_that_is_a_secrets_variable_is_refused() -> None:
    with pytest.raises(InputError) as info:
        parse_manifest({"name": "f", "env": {"SECRET_DB": "x"}, "secrets": ["db"]})
    assert info.value.field == "function.yaml: env" and info.value.value == "SECRET_DB"
