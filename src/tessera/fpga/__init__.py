"""FPGA slot sharing by dynamic partial reconfiguration: VersaSlot and the schedulers it beats.

`tessera.fpga.model` (boards, layouts, DPR port, the artifact apps, traces),
`tessera.fpga.policy` (the snapshot/decision contract and the registry),
`tessera.fpga.schedulers` (baseline, fcfs, rr, nimblock) and
`tessera.fpga.versaslot` (versaslot-ol, versaslot-bl, versaslot-switch).
The simulator that drives them is `tessera.sim.fpga`.
"""

from tessera.fpga import schedulers, versaslot  # noqa: F401  (registers the policies)
from tessera.fpga.policy import FPGA_POLICIES, FpgaPolicy, FpgaSnapshot, create

__all__ = ["FPGA_POLICIES", "FpgaPolicy", "FpgaSnapshot", "create"]
