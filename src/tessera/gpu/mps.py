"""The other isolation backend: one process per instance under NVIDIA MPS.

Why keep it beside green contexts: it is what FaST-GShare and HAS-GPU use
(`CUDA_MPS_ACTIVE_THREAD_PERCENTAGE` caps an instance's SMs), it isolates
memory faults between processes, and on the H200 four MPS processes at 25%
reached 1,319 ResNet-50 batches/s against 874 for plain time-slicing
(shared/data/README.md). Its costs: a control daemon, one CUDA context per
instance, and SM limits that are fixed for a process's life (a resize is a
restart), which is why the in-process green-context worker is the default.

No root needed: the daemon runs with private pipe and log directories, and
only processes started with `MpsInstance.env()` talk to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tessera.core.errors import require

CONTROL = "nvidia-cuda-mps-control"


@dataclass(frozen=True, slots=True)
class MpsDaemon:
    """Where one MPS control daemon lives (private directories: no root, no clash)."""

    pipe_dir: Path
    log_dir: Path

    @staticmethod
    def under(root: str | Path) -> MpsDaemon:
        r = Path(root)
        return MpsDaemon(r / "pipe", r / "log")

    def env(self) -> dict[str, str]:
        return {
            "CUDA_MPS_PIPE_DIRECTORY": str(self.pipe_dir),
            "CUDA_MPS_LOG_DIRECTORY": str(self.log_dir),
        }

    def start_command(self) -> list[str]:
        return [CONTROL, "-d"]

    def stop_command(self) -> tuple[list[str], str]:
        """(argv, stdin): the control program reads `quit` on its standard input."""
        return [CONTROL], "quit\n"

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the daemon (`nvidia-cuda-mps-control -d`); raises with its output on failure."""
        exe = shutil.which(CONTROL)
        if exe is None:
            raise FileNotFoundError(f"{CONTROL} is not on PATH (it ships with the NVIDIA driver)")
        self.pipe_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        p = subprocess.run(
            [exe, "-d"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if p.returncode != 0:
            raise RuntimeError(
                f"{CONTROL} -d exited {p.returncode}: {p.stderr.strip() or p.stdout}"
            )

    def stop(self, timeout_s: float = 20.0) -> None:
        argv, stdin = self.stop_command()
        exe = shutil.which(argv[0])
        if exe is None:
            return
        subprocess.run(
            [exe],
            input=stdin,
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )


@dataclass(frozen=True, slots=True)
class MpsInstance:
    """How to launch one instance process as an MPS client with an SM cap and a memory cap."""

    daemon: MpsDaemon
    active_thread_pct: int = 100
    mem_limit_mib: int | None = None
    device: int = 0

    def __post_init__(self) -> None:
        require(
            isinstance(self.active_thread_pct, int) and 1 <= self.active_thread_pct <= 100,
            "active_thread_pct",
            self.active_thread_pct,
            "an integer percentage in 1..100",
        )
        require(
            self.mem_limit_mib is None or self.mem_limit_mib > 0,
            "mem_limit_mib",
            self.mem_limit_mib,
            "None or MiB > 0",
        )

    def env(self) -> dict[str, str]:
        """Variables to add to the instance process's environment."""
        e = {
            **self.daemon.env(),
            "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": str(self.active_thread_pct),
        }
        if self.mem_limit_mib is not None:
            e["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = f"{self.device}={self.mem_limit_mib}M"
        return e
