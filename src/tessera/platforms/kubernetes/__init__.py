"""Plain Kubernetes: a container image running the function on Tessera's own runtime.

`build()` writes a Dockerfile (the user's code + Tessera, serving with
`tessera up --function`) and `k8s.yaml`: a Deployment, a Service and a
HorizontalPodAutoscaler translated from `function.yaml`. `deploy()` applies
them with the official `kubernetes` client where a kubeconfig exists.
"""

from tessera.platforms.kubernetes.build import build, objects, serve_command

__all__ = ["build", "objects", "serve_command"]
