"""Chip: the tiles of every compute layer, their spike buffers, the shared DigitalUnit
and the InputMemory, on one Clock.

Images run back to back. Not pipelined (default): image ``i+1`` enters when the
readout has finished image ``i``. Pipelined: every image is available from cycle 0 and
each tile moves on to the next image as soon as it has finished the previous one (the
neurons are reset between images at no cost), so consecutive images overlap.

Latency of an image (the ONE definition used everywhere): from the first input bit
entering the first layer (the start of the first read of the image's step 0 by a layer
reading the InputMemory) to the end of the readout's accumulate phase of the image's
last time step.
"""

from __future__ import annotations

from ..errors import SimulationError
from ..network import INPUT
from .buffer import InputMemory, SpikeBuffer
from .clock import Clock
from .digital import DigitalUnit
from .tile import Tile


class Chip:
    def __init__(self, costs: list, params, n_images: int, steps: int, pipelined: bool = False, trace: bool = False):
        self.env = Clock()
        self.pipelined = pipelined
        self.trace = [] if trace else None
        cap = params.buffer_capacity_bits
        self.word_grant = params.port_grant == "word"
        self.buffers = {}
        for c in costs:
            for e in c.in_edges:
                if e.producer == INPUT:
                    continue
                if e.bits > cap:
                    raise SimulationError(f"spike buffer '{e.name}' needs {e.bits} bits for one time step but "
                                          f"buffer.capacity_bits = {cap}")
                self.buffers[e.name] = SpikeBuffer(self.env, e.name, e.bits, cap, params.shared_ports, self.word_grant,
                                                   params.access_cycles, e.access_cycles // params.access_cycles)
        self.inputs = InputMemory(self.env, n_images)
        self.digital = DigitalUnit(self.env, params.arbitration, params.batch_cycles)
        self.tiles = [Tile(self, c, n_images, steps, k) for k, c in enumerate(costs)]
        self.image_start = [None] * n_images
        self.image_end = [None] * n_images

    def note_start(self, i: int, now: int):
        if self.image_start[i] is None or now < self.image_start[i]:
            self.image_start[i] = now

    def image_done(self, i: int):
        self.image_end[i] = self.env.now
        if not self.pipelined:
            self.inputs.inject(i + 1)

    def run(self) -> int:
        """Simulate every image; return the total number of cycles."""
        for tile in self.tiles:
            self.env.process(tile.run())
        for i in range(len(self.image_end) if self.pipelined else 1):
            self.inputs.inject(i)
        self.env.run()
        if None in self.image_end or None in self.image_start:
            raise SimulationError("the timing simulation stopped before every image was finished (deadlock)")
        return int(self.env.now)
