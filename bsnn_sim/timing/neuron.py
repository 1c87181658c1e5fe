"""NeuronArray: the integrate-and-fire neurons (or readout accumulators) of one layer.

Phase *accumulate + fire*, once per layer-step after the last sensing (or digital
product): add the step's partial sums (and the residual input) into the membranes,
compare with the dynamic threshold, fire, reset by subtraction. It costs
``cycles(neuron.t_update_ns)`` for the whole array (one timeout).
"""

from __future__ import annotations

import simpy


class NeuronArray:
    def __init__(self, env: simpy.Environment, name: str, update_cycles: int):
        self.env = env
        self.name = name
        self.update_cycles = update_cycles
        self.busy_cycles = 0

    def update(self):
        """Process body: one accumulate + fire of the whole array."""
        if self.update_cycles:
            yield self.env.timeout(self.update_cycles)
            self.busy_cycles += self.update_cycles
