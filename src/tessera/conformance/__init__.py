"""One function, every platform, the same answers: the adapter conformance suite.

`run(platforms)` deploys the fixture function to each platform for real (on
loopback), sends every case, and reports pass/fail per platform per case.
"""

from tessera.conformance.suite import CASES, TARGETS, run

__all__ = ["CASES", "TARGETS", "run"]
