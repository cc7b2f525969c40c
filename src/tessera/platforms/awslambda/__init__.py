"""AWS Lambda adapter: the generic handler behind API Gateway (HTTP API, payload 2.0).

`build()` writes the deployment package (the user's code untouched under
`function/`, a generated `tessera_lambda.py` whose `handler(event, context)`
is the Lambda handler) as a folder and a zip, and an AWS SAM `template.yaml`.
`runtime_api` is a local Lambda Runtime API and `server` the service around
it: an HTTP front door that turns requests into API Gateway events, and
execution environments, each one `python -m awslambdaric` process polling
its own Runtime API, restarted after a timeout or a crash as Lambda does.
"""

from tessera.platforms.awslambda.build import HANDLER, build

__all__ = ["HANDLER", "build"]
