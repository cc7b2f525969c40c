"""Kubernetes artifacts: the Deployment/Service/HPA build, schema validation of every builder's
Kubernetes objects, secrets kept out of every artifact, and `fn deploy --platform` errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import yaml

from tessera.platforms import BUILDERS, builder
from tessera.platforms.kubernetes import build, objects, serve_command
from tessera.platforms.kubernetes.validate import validate_folder, validate_object

from .helpers import write_function

HANDLER = """
def handle(event, context):
    return {"ok": True}
"""

SECRET = "s3cret-value-42"


def _rich(tmp_path: Path) -> Path:
    return write_function(
        tmp_path / "src",
        "rich",
        HANDLER,
        env={"API_TOKEN": SECRET},
        scale={"min": 2, "max": 7, "target": 3},
        concurrency=4,
        timeout_s=12,
        resources={"cpu": 0.5, "memory_mib": 384, "gpu": {"sm_pct": 30, "quota_pct": 50}},
    )


def test_build_translates_the_manifest_into_deployment_service_and_hpa(tmp_path: Path) -> None:
    out = build(_rich(tmp_path), tmp_path / "out")
    docs = {d["kind"]: d for d in yaml.safe_load_all((out / "k8s.yaml").read_text())}
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    dep = docs["Deployment"]["spec"]
    assert dep["replicas"] == 2
    c = dep["template"]["spec"]["containers"][0]
    assert c["resources"]["requests"] == {"memory": "384Mi", "cpu": "500m"}
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert docs["Deployment"]["metadata"]["annotations"]["tessera.dev/gpu-sm-pct"] == "30"
    assert c["env"] == [
        {
            "name": "API_TOKEN",
            "valueFrom": {
                "secretKeyRef": {"name": "rich-env", "key": "API_TOKEN", "optional": True}
            },
        }
    ]
    assert c["command"][:2] == ["tessera", "up"] and "--function" in c["command"]
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 7)
    svc = docs["Service"]["spec"]
    assert svc["selector"] == dep["selector"]["matchLabels"]
    # the Dockerfile runs the same command the Deployment names
    assert '"--function", "/srv/function"' in (out / "Dockerfile").read_text()
    assert "&id" not in (out / "k8s.yaml").read_text()  # plain YAML, no anchors


def test_scale_to_zero_becomes_one_replica_on_a_plain_deployment(tmp_path: Path) -> None:
    from tessera.functions.manifest import load_function_dir

    fn = write_function(tmp_path, "zero", HANDLER, scale={"min": 0, "max": 1})
    dep, _svc, hpa = objects(load_function_dir(fn))
    assert dep["spec"]["replicas"] == 1 and hpa["spec"]["minReplicas"] == 1


@pytest.mark.parametrize("platform", sorted(BUILDERS))
def test_every_kubernetes_object_any_builder_writes_validates(
    tmp_path: Path, platform: str
) -> None:
    out = builder(platform)(_rich(tmp_path), tmp_path / platform)
    n, errors = validate_folder(out)
    assert errors == []
    if platform in ("kubernetes", "fission", "knative", "nuclio"):
        assert n >= 1  # these platforms are driven by Kubernetes objects


@pytest.mark.parametrize("platform", sorted(BUILDERS))
def test_no_builder_writes_a_secret_value_anywhere(tmp_path: Path, platform: str) -> None:
    out = builder(platform)(_rich(tmp_path), tmp_path / platform)
    for f in out.rglob("*"):
        if not f.is_file():
            continue
        data = f.read_bytes()
        assert SECRET.encode() not in data, f
        if f.suffix == ".zip":
            with zipfile.ZipFile(f) as z:
                for name in z.namelist():
                    assert SECRET.encode() not in z.read(name), f"{f}!{name}"


def test_the_validator_catches_schema_errors() -> None:
    from tessera.functions.manifest import parse_manifest

    dep, svc, _ = objects(parse_manifest({"name": "v"}))
    assert validate_object(dep) == [] and validate_object(svc) == []
    dep["spec"]["replicas"] = "two"
    assert any("replicas" in e for e in validate_object(dep))
    svc["spec"]["portz"] = []  # strict: an unknown field is an error
    assert validate_object(svc) != []
    knative = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "k"},
        "spec": {
            "template": {
                "spec": {"containerConcurrency": 1, "containers": [{"image": "x", "cpu": 1}]}
            }
        },
    }
    assert validate_object(knative) != []  # the embedded pod spec is checked
    del knative["spec"]["template"]["spec"]["containers"][0]["cpu"]
    assert validate_object(knative) == []


def test_serve_command_is_what_the_container_runs(tmp_path: Path) -> None:
    from tessera.cli.up import up  # noqa: F401 - the command exists with these options
    from tessera.functions.manifest import parse_manifest

    cmd = serve_command(parse_manifest({"name": "s", "resources": {"cpu": 2.5}}))
    assert cmd[cmd.index("--autoscaler") + 1] == '{"kind": "fixed", "replicas": 3}'


def test_deploy_without_a_cluster_or_client_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tessera.cli.main import main

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    fn = write_function(tmp_path / "src", "d", HANDLER)
    for platform, needle in [
        ("kubernetes", "no Kubernetes cluster configured"),
        ("gcf", "gcloud functions deploy"),
        ("openfaas", "faas-cli deploy -f stack.yml"),
    ]:
        with pytest.raises(SystemExit) as e:
            main(["fn", "deploy", str(fn), "--platform", platform])
        assert e.value.code == 2  # one error line, as for any input this machine cannot serve
        err = capsys.readouterr().err
        assert err.startswith(f"error: --platform {platform}: ")
        assert needle in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as e:
        main(["fn", "deploy", str(fn), "--platform", "nope"])
    assert e.value.code == 2


def test_adapters_refuse_a_language_their_platform_cannot_run(tmp_path: Path) -> None:
    from tessera.core.errors import InputError

    d = tmp_path / "js"
    d.mkdir()
    (d / "function.yaml").write_text("name: js\nruntime: nodejs20\nhandler: main.handle\n")
    (d / "main.js").write_text("module.exports.handle = async (e) => e;\n")
    with pytest.raises(InputError) as e:
        builder("gcf")(d, tmp_path / "out")
    assert e.value.field == "function.yaml: runtime" and "python3 on --platform gcf" in str(e.value)
    assert not (tmp_path / "out").exists()  # nothing written
    with pytest.raises(InputError):
        builder("kubernetes")(d, tmp_path / "out")  # the image has no Node.js


def test_env_references_resolve_where_the_function_runs() -> None:
    from tessera.functions.manifest import resolve_env
    from tessera.platforms.local.instances import Launch

    env = {"A": "${TOKEN}", "B": "plain", "C": "${UNSET_VAR}", "D": "x${TOKEN}"}
    assert resolve_env(env, {"TOKEN": "t0k"}) == {"A": "t0k", "B": "plain", "D": "x${TOKEN}"}
    launch = Launch("f", 1, Path("/nonexistent"), "main.handle", env={"API": "${HOME}"})
    import os

    assert launch.environ()["API"] == os.environ["HOME"]


def test_the_container_serves_functions_only(tmp_path: Path) -> None:
    """`--serve-only` (what the Deployment runs): no deploy/delete/logs/async on the Service."""
    import asyncio

    import httpx

    from tessera.control.serve import running

    fn = write_function(tmp_path / "src", "svc", HANDLER)

    async def scenario() -> list[int]:
        async with (
            running(tmp_path / "home", functions=[fn], admin=False) as (_p, url),
            httpx.AsyncClient(base_url=url, timeout=30) as c,
        ):
            return [
                (await c.post("/function/svc", json={})).status_code,
                (await c.get("/healthz")).status_code,
                (await c.post("/system/functions", content=b"x")).status_code,
                (await c.delete("/system/functions/svc")).status_code,
                (await c.get("/system/logs/svc")).status_code,
                (await c.post("/async-function/svc", json={})).status_code,
                (await c.post("/function/svc", json={})).status_code,
            ]

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) == [200, 200, 403, 403, 403, 403, 200]
    from tessera.functions.manifest import parse_manifest

    assert "--serve-only" in serve_command(parse_manifest({"name": "s"}))


def test_a_build_never_touches_the_function_folder_or_foreign_files(tmp_path: Path) -> None:
    from tessera.core.errors import InputError

    fn = write_function(tmp_path / "src", "keep", HANDLER)
    for out in (fn, fn.parent, fn / "sub"):
        with pytest.raises(InputError, match="outside the function folder"):
            builder("gcf")(fn, out)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    with pytest.raises(InputError, match="earlier build output"):
        builder("gcf")(fn, foreign)
    assert (fn / "main.py").is_file() and (foreign / "notes.txt").read_text() == "precious"
    out = builder("gcf")(fn, tmp_path / "out")
    assert builder("ray")(fn, out) == out  # an earlier build output is replaced
    assert not (out / "main.py").exists() and (out / "ray_app.py").is_file()


def test_lambda_deploy_resolves_env_references_from_the_deployer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.platforms.deploy import NotDeployable, _lambda_env

    fn = write_function(tmp_path, "l", HANDLER, env={"MODE": "fast", "KEY": "${DEPLOY_KEY}"})
    monkeypatch.delenv("DEPLOY_KEY", raising=False)
    with pytest.raises(NotDeployable, match="KEY refer to variables not set"):
        _lambda_env(fn)
    monkeypatch.setenv("DEPLOY_KEY", "k1")
    assert _lambda_env(fn) == {"MODE": "fast", "KEY": "k1"}
