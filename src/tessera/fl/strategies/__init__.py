"""The published FL strategies and Tessera's own, as pure policies registered in `STRATEGIES`.

Importing this package registers all of them: `fedavg`, `fedprox`,
`scaffold` (synchronous baselines), `fedbuff` (buffered asynchronous),
`apodotiko` (scored asynchronous, CCGrid'24), `fedlesscan` (clustered,
straggler-aware) and `tessera` (Apodotiko's score made cold-start aware).
Each module's docstring states its exact rules.
"""

from tessera.fl.strategies.apodotiko import Apodotiko, ScoreState
from tessera.fl.strategies.fedavg import FedAvg, FedProx, Scaffold
from tessera.fl.strategies.fedbuff import FedBuff
from tessera.fl.strategies.fedlesscan import FedLesScan
from tessera.fl.strategies.tessera_score import TesseraStrategy

__all__ = [
    "Apodotiko",
    "FedAvg",
    "FedBuff",
    "FedLesScan",
    "FedProx",
    "Scaffold",
    "ScoreState",
    "TesseraStrategy",
]
