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


def _lambda(out: Path) -> list[Applied]:
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
    (logical, fn), *_ = (
        (k, v)
        for k, v in template["Resources"].items()
        if v.get("Type") == "AWS::Serverless::Function"
    )
    props = fn["Properties"]
    name = props.get("FunctionName", logical)
    zips = sorted(out.glob("*.zip"))
    if not zips:
        raise NotDeployable(f"no deployment zip in {out}")
    client = session.client("lambda")
    code = zips[0].read_bytes()
    try:
        client.update_function_code(FunctionName=name, ZipFile=code)
    except client.exceptions.ResourceNotFoundException:
        role = os.environ.get("TESSERA_LAMBDA_ROLE")
        if not role:
            raise NotDeployable(
                f"{name} does not exist yet and creating it needs an execution role: "
                "set TESSERA_LAMBDA_ROLE=arn:aws:iam::ACCOUNT:role/NAME (or use sam deploy)"
            ) from None
        client.create_function(
            FunctionName=name,
            Runtime=props.get("Runtime", "python3.11"),
            Handler=props["Handler"],
            Role=role,
            Code={"ZipFile": code},
            Timeout=int(props.get("Timeout", 30)),
            MemorySize=int(props.get("MemorySize", 256)),
        )
    return [Applied("AWS::Lambda::Function", name, None)]


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
            return _lambda(out)
    raise NotDeployable(f"no deployer for {platform}")
