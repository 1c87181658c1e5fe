"""DigitalUnit: the chip's shared int8 multiply-accumulate unit.

It computes the non-binary layers (int8 weights or uint8 pixel input: the first and
last layers), ``digital.macs_per_cycle`` MACs per cycle. It is ONE SimPy resource
shared by all digital layers, so their products serialize; a layer waiting for it
accumulates stall cycles. Phase *compute*: ``ceil(MACs / macs_per_cycle)`` cycles,
one timeout, never preempted.

Granularity (``digital.batch_cycles``). 0: a layer-step's compute holds the unit for
its whole phase (one request, one timeout). ``b > 0``: the compute is split into
batches of at most ``b`` cycles, each its own request, so waiting work is served
between batches -- the unit is shared per MAC batch of ``b * macs_per_cycle`` MACs.

Arbitration (``digital.arbitration``), among the requests waiting when the unit frees:
``"fifo"``, the first to ask; ``"oldest_image"``, the lowest image index, then the
earliest layer. With whole-phase requests only two digital layers never have a choice
(one holds the unit, at most one waits); with batches an older image's readout takes
the unit from a younger image's first layer at the next batch boundary.
"""

from __future__ import annotations

import simpy


class DigitalUnit:
    def __init__(self, env: simpy.Environment, arbitration: str = "fifo", batch_cycles: int = 0):
        self.env = env
        self.oldest_first = arbitration == "oldest_image"
        self.batch_cycles = batch_cycles
        self.unit = simpy.PriorityResource(env, capacity=1)
        self.busy_cycles = 0
        self.stall_cycles = 0

    def compute(self, cycles: int, image: int = 0, layer: int = 0):
        """Process body: hold the unit for ``cycles`` cycles (after waiting for it);
        ``image`` and ``layer`` (network order) rank the request under "oldest_image"."""
        env = self.env
        priority = (image, layer) if self.oldest_first else 0
        left = cycles
        asked = env.now
        req = self.unit.request(priority=priority)
        yield req
        self.stall_cycles += env.now - asked
        while True:
            now = min(left, self.batch_cycles) if self.batch_cycles else left
            yield env.timeout(now)
            self.busy_cycles += now
            left -= now
            if not left:
                break
            # ask for the next batch before letting go, so the arbitration sees this request too
            asked, nxt = env.now, self.unit.request(priority=priority)
            self.unit.release(req)
            yield nxt
            self.stall_cycles += env.now - asked
            req = nxt
        self.unit.release(req)
