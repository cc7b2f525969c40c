"""Ray as a scale-out engine: the unmodified generic handler in a pool of Ray actors.

`build()` writes a folder that `ray job submit --working-dir OUT -- python
ray_app.py` (or `python ray_app.py` on a machine with Ray) runs: the user's
code untouched in `function/`, and `ray_app.py` serving it over HTTP from a
`RayFunction` (actors that load the handler once; a runaway invocation's actor
is killed at the timeout and restarted). `RayFunction.map(events)` fans a list
of events out over the actors, the shape federated-learning rounds need.
"""

from tessera.platforms.ray.build import build

__all__ = ["build"]
