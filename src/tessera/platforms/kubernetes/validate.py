"""Check generated Kubernetes objects against the official OpenAPI schemas (kubernetes-validate).

Core kinds (Deployment, Service, HorizontalPodAutoscaler, ...) validate whole, in
strict mode (unknown fields are errors). Custom resources (Knative Service,
NuclioFunction, Fission Function) have no schema in the package: what they embed
from core Kubernetes is validated instead (a Knative revision template's pod
spec, a container's env and resources), so a typo there is still caught.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

VERSION = "1.33.0"  # the oldest Kubernetes still supported upstream at the time of writing

# Knative's additions to a revision template's pod spec (serving.knative.dev/v1 RevisionSpec)
_KNATIVE_REVISION_FIELDS = (
    "containerConcurrency",
    "timeoutSeconds",
    "responseStartTimeoutSeconds",
    "idleTimeoutSeconds",
)


def _check(obj: dict[str, Any], where: str) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        return [f"{where}: {path or '(root)'}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema for {obj.get('apiVersion')}/{obj.get('kind')}"]
    return []


def _as_pod(meta: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _container(spec: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "function", "image": "placeholder"}
    for key in ("env", "resources"):
        if key in spec:
            c[key] = spec[key]
    return c


def _knative_defaults(i: int, container: dict[str, Any]) -> dict[str, Any]:
    c = {"name": f"user-container-{i}", **container}
    port = ((c.get("ports") or [{}])[0]).get("containerPort", 8080)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            c[probe] = dict(c[probe])
            for action in ("httpGet", "tcpSocket", "grpc"):
                if action in c[probe] and "port" not in c[probe][action]:
                    c[probe][action] = {**c[probe][action], "port": port}
    return c


def validate_object(obj: dict[str, Any], where: str = "object") -> list[str]:
    """Errors (empty when valid) of one object against the schemas it can be checked with."""
    for key in ("apiVersion", "kind", "metadata"):
        if key not in obj:
            return [f"{where}: missing {key}"]
    api, kind = str(obj["apiVersion"]), str(obj["kind"])
    where = f"{where} {kind} {obj['metadata'].get('name', '?')}"
    group = api.split("/", 1)[0] if "/" in api else ""
    if group in ("", "apps", "autoscaling", "batch", "policy") or group.endswith(".k8s.io"):
        return _check(obj, where)
    spec = obj.get("spec") or {}
    if group == "serving.knative.dev" and kind == "Service":
        tmpl = spec.get("template") or {}
        pod = {
            k: v for k, v in (tmpl.get("spec") or {}).items() if k not in _KNATIVE_REVISION_FIELDS
        }
        # Knative names the container itself when the name is left out, and probes
        # without a port go to the container's port
        pod["containers"] = [
            _knative_defaults(i, c) for i, c in enumerate(pod.get("containers") or [])
        ]
        return _check(_as_pod(tmpl.get("metadata") or {"name": "revision"}, pod), where)
    if "env" in spec or "resources" in spec:
        return _check(_as_pod({"name": "x"}, {"containers": [_container(spec)]}), where)
    return []


def kubernetes_docs(folder: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    """Every YAML document under `folder` that is a Kubernetes object (has apiVersion and kind)."""
    for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        for i, doc in enumerate(docs):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                yield f"{path.relative_to(folder)}#{i}", doc


def validate_folder(folder: Path) -> tuple[int, list[str]]:
    """(objects checked, errors) for every Kubernetes object in a build output."""
    n, errors = 0, []
    for where, doc in kubernetes_docs(folder):
        n += 1
        errors += validate_object(doc, where)
    return n, errors
