"""The real control loop: the wall-clock driver of the same policies the simulator runs."""

from tessera.control.loop import ControlLoop, ScalablePlatform

__all__ = ["ControlLoop", "ScalablePlatform"]
