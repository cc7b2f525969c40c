"""The HTML report: one self-contained page with a section per experiment."""

from tessera.report.html import render, write_atomic

__all__ = ["render", "write_atomic"]
