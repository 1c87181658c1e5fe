"""The chip clock: a SimPy environment whose time is an integer count of clock cycles.

It also counts the events it schedules (every scheduled event is processed once the
run drains), which the benchmarks report as the cost of a simulation.
"""

from __future__ import annotations

import simpy
from simpy.events import NORMAL


class Clock(simpy.Environment):
    """SimPy environment starting at cycle 0; ``events`` counts scheduled events."""

    def __init__(self):
        super().__init__(0)
        self.events = 0

    def schedule(self, event, priority=NORMAL, delay=0):
        self.events += 1
        super().schedule(event, priority, delay)
