"""SpikeBuffer and InputMemory: where one layer's spikes wait for the next layer.

A SpikeBuffer is the SRAM between a producer layer and ONE consumer's input (a
residual input has its own buffer). It holds whole time steps as dense bitmaps
(``bits`` per step) in ``buffer.capacity_bits``; the level of a SimPy Container is
the number of bits held.

- *write* (producer): reserve a step's bits (``Container.put``: blocks while the buffer
  is full -- back-pressure; the wait is counted as this buffer's stall cycles), then
  write ``ceil(bits / width_bits)`` words, ``ports`` at a time, each access taking
  ``cycles(t_access_ns)``; then publish the step (a token in a Store).
- *read* (consumer): wait for the step's token, read the words (same access cost),
  then free the step's bits (``Container.get``).

Ports (``buffer.port_sharing``). "shared" (default): one bank of ``ports`` ports
serves reads and writes alike, so a consumer reading step t and the producer writing
step t+1 contend for it. "separate": a 1R1W SRAM, reads and writes never contend.

Grant (``buffer.port_grant``), how a shared bank is contended for. "word" (default):
per access (``ports`` words), round-robin between the read and the write
(:class:`~.port.PortBank`; the read is requester 0, the write requester 1), so a read
and a write that overlap interleave access by access. "phase": an access phase (a whole
step's words) holds the bank (a SimPy Resource, first come first served) for its whole
duration. Either way the wait is counted as the buffer's port stall. The access phases
themselves are timed by the layers (see :mod:`.tile`); this class holds the storage,
the ports and their statistics.

InputMemory holds the input images (pixels or encoder spikes) and is never full; image
``i`` becomes readable at its injection time.
"""

from __future__ import annotations

import simpy

from .port import PortBank

READ, WRITE = 0, 1  # requesters of a word-granted bank, in its circular order


class SpikeBuffer:
    def __init__(self, env: simpy.Environment, name: str, bits: int, capacity_bits: int, shared_ports: bool = True,
                 word_grant: bool = False, access_cycles: int = 1, accesses: int = 0):
        """``accesses`` of ``access_cycles`` each move one step (used when ``word_grant``)."""
        self.env = env
        self.name = name
        self.bits = bits
        self.capacity_bits = capacity_bits
        self.accesses = accesses
        if word_grant:
            self.read_port = PortBank(env, access_cycles, 2)
            self.write_port = self.read_port if shared_ports else PortBank(env, access_cycles, 2)
        else:
            self.read_port = simpy.Resource(env, capacity=1)
            self.write_port = self.read_port if shared_ports else simpy.Resource(env, capacity=1)
        self._phase_wait_cycles = 0
        self.space = simpy.Container(env, capacity=capacity_bits, init=0)
        self.steps = simpy.Store(env)
        self.stall_cycles = 0
        self.held_bits = 0  # bits reserved: steps being written or waiting to be read
        self.peak_bits = 0
        self._area = 0  # integral of held_bits over time (bit-cycles)
        self._since = 0

    def _hold(self, delta: int):
        now = self.env.now
        self._area += self.held_bits * (now - self._since)
        self._since = now
        self.held_bits += delta
        self.peak_bits = max(self.peak_bits, self.held_bits)

    def reserve(self):
        """Process body (producer): wait for room for one step, counting the stall."""
        asked = self.env.now
        yield self.space.put(self.bits)
        self.stall_cycles += self.env.now - asked
        self._hold(self.bits)

    @property
    def port_wait_cycles(self) -> int:
        """Cycles reads and writes waited for the ports."""
        banks = {id(p): p for p in (self.read_port, self.write_port) if isinstance(p, PortBank)}
        return self._phase_wait_cycles + sum(b.wait_cycles for b in banks.values())

    def port(self, port: simpy.Resource):
        """Process body ("phase" grant): acquire ``port`` (counting the wait); returns the
        request to release."""
        asked = self.env.now
        req = port.request()
        yield req
        self._phase_wait_cycles += self.env.now - asked
        return req

    def start_words(self, write: bool):
        """("word" grant) ask the bank for this step's accesses: the write or the read."""
        (self.write_port if write else self.read_port).request(WRITE if write else READ, self.accesses)

    def words_done(self, write: bool):
        """Process body ("word" grant): wait until the step's accesses asked for have been served."""
        yield from (self.write_port if write else self.read_port).served(WRITE if write else READ)

    def publish(self, token):
        """The step is written: the consumer may read it."""
        self.steps.put(token)

    def ready(self):
        """Event: the next written step (its token)."""
        return self.steps.get()

    def free(self):
        """The consumer has read the step: release its bits."""
        self._hold(-self.bits)
        self.space.get(self.bits)

    def mean_occupancy(self, total_cycles: int) -> float:
        """Time-averaged fraction of the capacity in use over ``total_cycles``."""
        area = self._area + self.held_bits * max(0, total_cycles - self._since)
        return area / (self.capacity_bits * total_cycles) if total_cycles else 0.0


class InputMemory:
    """The input images: image ``i`` is readable from its injection event on."""

    def __init__(self, env: simpy.Environment, n_images: int):
        self.arrivals = [env.event() for _ in range(n_images)]

    def inject(self, i: int):
        if i < len(self.arrivals) and not self.arrivals[i].triggered:
            self.arrivals[i].succeed()
