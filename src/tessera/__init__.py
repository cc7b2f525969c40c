"""Tessera: serverless computing on heterogeneous hardware.

One function contract, many platforms; GPU and FPGA slices; carbon-aware
placement; federated learning, MPI-on-Wasm and DL inference as functions; and
one simulator that evaluates every policy on real traces. See DESIGN.md.
"""

__version__ = "0.1.0"
