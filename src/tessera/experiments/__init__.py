"""Headline experiments: each subsystem registers the runs that back its claims.

`tessera experiment NAME` runs one; `tessera demo` runs them all in quick mode
and renders the report. An experiment returns metrics per policy (the JSON the
CLI prints), figures for the report, and notes that name data sources,
baselines and caveats.
"""

# Importing the modules registers their experiments.
from tessera.experiments import (  # noqa: F401
    adapters,
    apodotiko,
    autoscaling_trace,
    fast_gshare,
    fedkd,
    gpu_sharing,
    greencourier,
    has_gpu,
    mpiwasm,
    platform_local,
    shellguard,
    sim_queueing,
    versaslot,
)
from tessera.experiments.base import (
    EXPERIMENTS,
    Experiment,
    ExperimentResult,
    RunConfig,
    register,
)

__all__ = ["EXPERIMENTS", "Experiment", "ExperimentResult", "RunConfig", "register"]
