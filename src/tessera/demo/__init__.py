"""The main job: run every headline experiment (quick mode) and write the report."""

from tessera.demo.run import DemoRun, run_demo

__all__ = ["DemoRun", "run_demo"]
