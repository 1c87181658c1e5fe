"""Tile: the hardware of one compute layer and the process that runs its layer-steps.

A tile owns its input SpikeBuffers (one per input edge: main and residual), its
SubarrayGroup (in-memory layer) or a share of the chip's DigitalUnit (digital layer),
and its NeuronArray. Its process runs the layer-steps of every image in order,
``(image 0, t = 0 .. T-1), (image 1, ...)``; a layer-step starts when its inputs for
that step are in its buffers and the previous layer-step has finished, so layers and
time steps pipeline. Phases of a layer-step (cycle costs in :mod:`.costs`):

1. *read*: wait for the step in every input buffer (or the image in the InputMemory),
   read every input buffer's words through its ports, free the buffer space;
2. *drive + sense* on the SubarrayGroup (one timeout per busy replica), or *compute*
   on the DigitalUnit (one timeout); skipped when it costs 0 cycles;
3. *accumulate + fire* in the NeuronArray (one timeout);
4. *write*: reserve room in every consumer's buffer (stalls while full), write the
   words through their ports, publish the step. The readout writes nothing; its step 3
   at ``t = T-1`` ends the image.

How a read or write goes through the ports (``buffer.port_grant``, chosen once here):
"word" asks every buffer's :class:`~.port.PortBank` for the step's accesses at once and
waits until each is served (they interleave with the other side's accesses of a shared
bank), the phase lasting at least its contention-free cycles (an InputMemory read has
no port); "phase" takes each buffer's port (in name order; with shared ports the other
side may hold it), runs the phase (one timeout) and releases them. Ports are released
before any other wait but the streaming write's wait for its own core, which never
waits for a port, so no deadlock can form.

That is store-and-forward. With ``chip.layer_step = "streaming"`` the phases overlap by
items (:meth:`Tile.streamed`).
"""

from __future__ import annotations

from ..errors import SimulationError
from .costs import streamed
from .neuron import NeuronArray
from .subarray import SubarrayGroup


class Tile:
    def __init__(self, chip, costs, n_images: int, steps: int, order: int = 0):
        env = self.env = chip.env
        self.order = order  # network position: ranks digital-unit requests
        self.chip = chip
        self.costs = costs
        self.name = costs.name
        self.n_images, self.steps = n_images, steps
        self.neurons = NeuronArray(env, costs.name, costs.update_cycles)
        self.subarrays = (SubarrayGroup(env, costs.name, costs.replicas, costs.cycles_per_position)
                          if costs.in_memory else None)
        self.outputs = sorted((chip.buffers[e.name] for e in costs.out_edges), key=lambda b: b.name)
        self._reads = [[(e, chip.buffers.get(e.name)) for e in costs.reads(t)] for t in range(steps)]
        self._read_cycles = [costs.read_cycles(t) for t in range(steps)]
        self._core = costs.core.tolist()
        self._positions = costs.active_positions.tolist()
        self.finish = [[0] * steps for _ in range(n_images)]
        self.read_busy = 0
        self.write_busy = 0
        word = chip.word_grant
        self._read_ports = self._read_words if word else self._read_phase
        self._write_ports = self._write_words if word else self._write_phase

    def run(self):
        """Process: every layer-step of every image, in order."""
        for i in range(self.n_images):
            for t in range(self.steps):
                yield from self.step(i, t)

    def step(self, i: int, t: int):
        """Process body of one layer-step: read, drive + sense (or compute), accumulate + fire, write."""
        env, chip = self.env, self.chip
        reads = self._reads[t]
        for edge, buf in reads:
            if buf is None:
                yield chip.inputs.arrivals[i]
            else:
                token = yield buf.ready()
                if token != (i, t):
                    raise SimulationError(f"{edge.name}: expected step {(i, t)}, got {token}")
        start = env.now
        if t == 0 and any(buf is None for _, buf in reads):
            chip.note_start(i, start)
        if self.costs.streaming:
            yield from self.streamed(i, t, reads)
        else:
            yield from self.store_and_forward(i, t, reads)
        self.finish[i][t] = env.now
        if self.costs.readout and t == self.steps - 1:
            chip.image_done(i)

    def store_and_forward(self, i: int, t: int, reads):
        """Process body: the four phases one after another."""
        env, trace = self.env, self.chip.trace
        start = env.now
        yield from self._read(reads, self._read_cycles[t])
        if trace is not None:
            trace.append((self.name, i, t, "read", start, env.now))
        if self._core[i][t]:
            begin = env.now
            yield from self._compute(i, t)
            if trace is not None:
                trace.append((self.name, i, t, "sense" if self.subarrays is not None else "compute", begin, env.now))
        begin = env.now
        yield from self.neurons.update()
        if trace is not None:
            trace.append((self.name, i, t, "update", begin, env.now))
        if self.outputs:
            yield from self.write(i, t)

    def streamed(self, i: int, t: int, reads):
        """Process body: the phases overlap by items (``chip.layer_step = "streaming"``).
        Read, core and write run as concurrent processes: the read takes its words through
        the input ports; the core starts after the first word and is followed by the
        first items of update and write; the write takes the output ports so as to end
        at ``begin + d`` (``d`` from :func:`~.costs.streamed`), and never before the core's
        last item. Without contention the step ends at ``begin + d``."""
        env = self.env
        begin = env.now
        phases = self.costs.phases(i, t)
        (d_read, f_read), (_, _), (d_update, f_update), (d_write, f_write) = phases
        end = begin + streamed(phases)
        core = env.process(self._stream_core(i, t, f_read, f_update + f_write))
        parts = [env.process(self._read(reads, d_read)), core]
        if self.outputs:
            parts.append(env.process(self._stream_write(i, t, end - d_write, core)))
        yield env.all_of(parts)
        self.neurons.busy_cycles += d_update
        if env.now < end:
            yield env.timeout(end - env.now)
        if self.chip.trace is not None:
            self.chip.trace.append((self.name, i, t, "stream", begin, env.now))

    def _read(self, reads, cycles: int):
        """Process body: read the step's words through the input ports, free the buffer space."""
        if cycles:
            yield from self._read_ports(reads, cycles)
            self.read_busy += cycles
        for _, buf in reads:
            if buf is not None:
                buf.free()

    def _compute(self, i: int, t: int):
        """Process body: drive + sense on the SubarrayGroup, or compute on the DigitalUnit."""
        if self.subarrays is not None:
            yield from self.subarrays.sense(self._positions[i][t])
        else:
            yield from self.chip.digital.compute(self._core[i][t], i, self.order)

    def _stream_core(self, i: int, t: int, lead: int, tail: int):
        env = self.env
        if lead:
            yield env.timeout(lead)
        if self._core[i][t]:
            yield from self._compute(i, t)
        if tail:
            yield env.timeout(tail)

    def _stream_write(self, i: int, t: int, at: int, core):
        env = self.env
        if at > env.now:
            yield env.timeout(at - env.now)
        for buf in self.outputs:
            yield from buf.reserve()
        # the step is not published before the core's last item
        yield from self._write_ports(self.costs.write_cycles, core)
        self.write_busy += self.costs.write_cycles
        for buf in self.outputs:
            buf.publish((i, t))

    def write(self, i: int, t: int):
        """Process body: reserve room in every consumer's buffer, write the words, publish."""
        env = self.env
        begin = env.now
        for buf in self.outputs:
            yield from buf.reserve()
        yield from self._write_ports(self.costs.write_cycles)
        self.write_busy += self.costs.write_cycles
        for buf in self.outputs:
            buf.publish((i, t))
        if self.chip.trace is not None:
            self.chip.trace.append((self.name, i, t, "write", begin, env.now))

    def _read_phase(self, reads, cycles: int):
        """Process body ("phase" grant): hold every input buffer's port (name order) for
        the whole read."""
        held = []
        for buf in sorted((b for _, b in reads if b is not None), key=lambda b: b.name):
            held.append((buf.read_port, (yield from buf.port(buf.read_port))))
        if cycles:
            yield self.env.timeout(cycles)
        for port, req in held:
            port.release(req)

    def _read_words(self, reads, cycles: int):
        """Process body ("word" grant): every input buffer's read, access by access."""
        env = self.env
        end = env.now + cycles
        bufs = [b for _, b in reads if b is not None]
        for buf in bufs:
            buf.start_words(write=False)
        for buf in bufs:
            yield from buf.words_done(write=False)
        if env.now < end:
            yield env.timeout(end - env.now)  # the InputMemory's words (no port to share)

    def _write_phase(self, cycles: int, then=None):
        """Process body ("phase" grant): hold every output buffer's port (name order) for
        the whole write, and until ``then`` (an event) has happened."""
        held = []
        for buf in self.outputs:
            held.append((buf.write_port, (yield from buf.port(buf.write_port))))
        if cycles:
            yield self.env.timeout(cycles)
        if then is not None and not then.processed:
            yield then
        for port, req in held:
            port.release(req)

    def _write_words(self, cycles: int, then=None):
        """Process body ("word" grant): every output buffer's write, access by access; then
        wait for ``then`` (an event), the ports free."""
        for buf in self.outputs:
            buf.start_words(write=True)
        for buf in self.outputs:
            yield from buf.words_done(write=True)
        if then is not None and not then.processed:
            yield then
