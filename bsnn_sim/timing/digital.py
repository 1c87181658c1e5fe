"""DigitalUnit: the chip's shared int8 multiply-accumulate unit.

It computes the non-binary layers (int8 weights or uint8 pixel input: the first and
last layers), ``digital.macs_per_cycle`` MACs per cycle. It is ONE SimPy Resource
shared by all digital layers, so their products serialize; a layer waiting for it
accumulates stall cycles. Phase *compute*: ``ceil(MACs / macs_per_cycle)`` cycles,
one timeout.
"""

from __future__ import annotations

import simpy


class DigitalUnit:
    def __init__(self, env: simpy.Environment):
        self.env = env
        self.unit = simpy.Resource(env, capacity=1)
        self.busy_cycles = 0
        self.stall_cycles = 0

    def compute(self, cycles: int):
        """Process body: hold the unit for ``cycles`` cycles (after waiting for it)."""
        env = self.env
        asked = env.now
        with self.unit.request() as req:
            yield req
            self.stall_cycles += env.now - asked
            yield env.timeout(cycles)
            self.busy_cycles += cycles
