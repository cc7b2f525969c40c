"""`tessera fn deploy DIR --platform P`: build for P, then hand the artifacts to P's API.

Where an official Python client exists it is used for real: the `kubernetes`
client (server-side apply of every object the build wrote, custom resources
included) for kubernetes, knative, fission and nuclio; boto3 for AWS Lambda.
Where a client, a cluster or credentials are missing, `NotDeployable` says
exactly what, and which command would deploy the artifacts instead.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.platforms import builder

KUBERNETES = ("kubernetes", "knative", "fission", "nuclio")

# platforms whose deployment goes through their own CLI (no official Python client)
CLI = {
    "gcf": "gcloud functions deploy (see the header of main.py in the build output)",
    "openwhisk": "wskdeploy -m manifest.yaml",
    "openfaas": "faas-cli deploy -f stack.yml",
    "fn": "fn deploy --app APP (in the build output)",
}


class NotDeployable(Exception):
    """What is missing to deploy, and what to run instead (one line)."""


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    namespace: str | None


def _kube_client(context: str | None) -> Any:
    try:
        import kubernetes
        from kubernetes import config, dynamic
    except ImportError:
        raise NotDeployable(
            "the kubernetes client is not installed: pip install 'tessera[k8s]'"
        ) from None
    try:
        config.load_kube_config(context=context)
    except Exception:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            raise NotDeployable(
                "no Kubernetes cluster configured (no KUBECONFIG, ~/.kube/config or in-cluster "
                "service account); apply the build output with kubectl apply -f instead"
            ) from None
    return dynamic.DynamicClient(kubernetes.client.ApiClient())


def apply_objects(
    docs: list[dict[str, Any]], context: str | None = None, namespace: str = "default"
) -> list[Applied]:
    """Server-side apply each object (created or updated in place, field manager `tessera`)."""
    client = _kube_client(context)
    done = []
    for doc in docs:
        res = client.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        ns = doc["metadata"].get("namespace", namespace) if res.namespaced else None
        client.server_side_apply(
            res,
            body=doc,
            name=doc["metadata"]["name"],
            namespace=ns,
            field_manager="tessera",
            force_conflicts=True,
        )
        done.append(Applied(doc["kind"], doc["metadata"]["name"], ns))
    return done


def _lambda_env(fn_dir: Path) -> dict[str, str]:
    """function.yaml's env for the deployed function: `${VAR}` references are resolved from
    the deployer's environment here (Lambda stores values); an unset one stops the deploy."""
    from tessera.functions.manifest import load_function_dir, resolve_env

    env = load_function_dir(fn_dir).env
    values = resolve_env(env, os.environ)
    missing = sorted(set(env) - set(values))
    if missing:
        raise NotDeployable(
            f"env {', '.join(missing)} refer to variables not set here: export them first"
        )
    return values


def _lambda(out: Path, env: dict[str, str]) -> list[Applied]:
    try:
        import boto3
    except ImportError:
        raise NotDeployable("boto3 is not installed: pip install 'tessera[aws]'") from None
    session = boto3.Session()
    if session.get_credentials() is None:
        raise NotDeployable(
            "no AWS credentials (AWS_ACCESS_KEY_ID/AWS_PROFILE or ~/.aws/credentials); "
            "or deploy the build output with: sam deploy --guided"
        )
    if session.region_name is None:
        raise NotDeployable("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION")
    import yaml

    template = yaml.safe_load((out / "template.yaml").read_text())
    functions = [
        (k, v)
        for k, v in (template.get("Resources") or {}).items()
        if v.get("Type") == "AWS::Serverless::Function"
    ]
    if not functions:
        raise NotDeployable(f"{out / 'template.yaml'} has no AWS::Serverless::Function")
    logical, fn = functions[0]
    props = fn["Properties"]
    name = props.get("FunctionName", logical)
    zips = sorted(out.glob("*.zip"))
    if not zips:
        raise NotDeployable(f"no deployment zip in {out}")
    client = session.client("lambda")
    code = zips[0].read_bytes()
    config = {
        "Handler": props["Handler"],
        "Runtime": props.get("Runtime", "python3.11"),
        "Timeout": int(props.get("Timeout", 30)),
        "MemorySize": int(props.get("MemorySize", 256)),
        "Environment": {"Variables": env},
    }
    try:
        client.update_function_code(FunctionName=name, ZipFile=code)
    except client.exceptions.ResourceNotFoundException:
        role = os.environ.get("TESSERA_LAMBDA_ROLE")
        if not role:
            raise NotDeployable(
                f"{name} does not exist yet and creating it needs an execution role: "
                "set TESSERA_LAMBDA_ROLE=arn:aws:iam::ACCOUNT:role/NAME (or use sam deploy)"
            ) from None
        client.create_function(FunctionName=name, Role=role, Code={"ZipFile": code}, **config)
    else:  # the code is in; now handler, runtime, limits and env as the build says
        client.get_waiter("function_updated_v2").wait(FunctionName=name)
        client.update_function_configuration(FunctionName=name, **config)
    if "ReservedConcurrentExecutions" in props:
        client.put_function_concurrency(
            FunctionName=name,
            ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"]),
        )
    # the template's HttpApi route is an API Gateway resource: `sam deploy` creates it
    return [Applied("AWS::Lambda::Function (no HTTP API: sam deploy adds it)", name, None)]


def deploy(
    fn_dir: Path, platform: str, out_dir: Path | None = None, context: str | None = None
) -> list[Applied]:
    """Build `fn_dir` for `platform` (into `out_dir`, or a temp folder) and deploy it there."""
    build = builder(platform)
    if platform in CLI:
        raise NotDeployable(
            f"{platform} has no Python deployment client; build with "
            f"`tessera fn build DIR --platform {platform} --out OUT`, then run {CLI[platform]}"
        )
    with tempfile.TemporaryDirectory(prefix="tessera-deploy-") as tmp:
        out = build(fn_dir, out_dir or Path(tmp) / platform)
        if platform in KUBERNETES:
            from tessera.platforms.kubernetes.validate import kubernetes_docs

            return apply_objects([doc for _, doc in kubernetes_docs(out)], context)
        if platform == "awslambda":
            return _lambda(out, _lambda_env(fn_dir))
    raise NotDeployable(f"no deployer for {platform}")
