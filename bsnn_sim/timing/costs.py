"""Cycle costs and action counts of every layer-step (pure; no SimPy).

Both the SimPy engine and :func:`~bsnn_sim.timing.closed_form.closed_form_latency`
take their durations from here, so the two differ only in *scheduling*.

A layer-step (layer ``L``, image ``i``, time step ``t``) runs four phases in order:

1. **read** the step's input spikes from each input :class:`SpikeBuffer` (main input
   and residual, through their own ports, concurrently):
   ``max_e ceil(ceil(bits_e / buffer.width_bits) / buffer.ports) * cycles(t_access_ns)``.
   ``bits_e`` is one step of the tensor the consumer reads (after pooling); a pixel
   input is 8 bits per pixel. A layer whose input is static (a direct or threshold
   encoding, possibly flattened: ``Network.is_static``) reads it only at ``t = 0``.
2. **drive + sense** (in-memory layer): ``A`` active positions spread over ``R``
   replicas; a replica senses its positions one after another, each taking
   ``phases_per_position`` sensing phases of ``arch.t_sense_cycles`` (chunks and row
   groups sense in parallel in their own subarrays): ``ceil(A / R) * ppp * t_sense``.
   **compute** (digital layer): ``ceil(MACs / digital.macs_per_cycle)`` on the shared
   :class:`DigitalUnit`, ``MACs = P * N * F`` (or the MACs with a nonzero input when
   ``digital.skip_zero_inputs``). A layer with a static input computes its
   current once per image (at ``t = 0``, 0 cycles after) and its neurons reuse it.
3. **accumulate + fire**: the neuron array reads each neuron's state, adds the partial
   sums, fires and writes the state back, ``neuron.update_lanes`` neurons per
   ``t_update``: ``ceil(P * N / lanes) * cycles(neuron.t_update_ns)``, every step.
4. **write** the output spikes (a dense bitmap, pooled on the way if a MaxPool2d
   follows) into each consumer's buffer: ``max_e`` of the same access formula. The
   readout writes nothing.

The layer-step takes ``read + core + update + write`` (store-and-forward) or, with
``chip.layer_step = "streaming"``, :func:`streamed` of its phases: the slowest phase plus
the first item of every other (one word, one position or digital-unit cycle, one update
pass, one word).

Action counts per layer-step (``C`` = active chunks, ``N`` = neurons per position):

=================  ==================================================================
sense_array        ``C * N`` row sensings (each active chunk is sensed on all N rows)
convert            ``C * N`` conversions (one per row sensing)
drive_bitlines     ``C * row_groups``: a chunk is driven once onto each of its row
                   groups' subarrays and held while that subarray's rows are sensed
predrive           the same count: the chunk's pre-drivers and latches switch once
neuron_add         in-memory: ``C * N`` partial sums; digital: ``P * N``; a static
                   layer after ``t = 0``: ``P * N`` (adding the stored current)
neuron_update      ``P * N`` every step: bias subtraction and threshold compare of
                   every neuron, whether or not any input arrived (dynamic threshold)
neuron_fire        the layer's output spikes (0 for the readout)
state_read_bit     ``P * N * w`` every step (each membrane read once), plus ``P * N * w``
                   at ``t >= 1`` of a static layer (its stored current); ``w`` is
                   ``neuron.acc_bits`` (in-memory layer) or ``digital.acc_bits``
state_write_bit    ``P * N * w`` every step, plus ``P * N * w`` at ``t = 0`` of a static
                   layer (storing the current)
digital_mac        ``P * N * F`` (digital layers; static: ``t = 0`` only); with
                   ``digital.skip_zero_inputs`` only those with a nonzero input
                   (the activity's ``digital_macs``)
buffer_read_bit    bits read by the layer at this step (all input buffers)
buffer_write_bit   bits written at this step (every consumer's buffer; dense bitmap)
weight_read_bit    digital layers: ``8 * min(N * F, MACs)`` per compute pass -- every
                   int8 weight once (reused across positions), and no more weights
                   than MACs performed when zero inputs are skipped
wire_bit_pitch     bits crossing the chip times the distance ``d`` in subarray pitches --
                   each active chunk's ``columns`` input bits (one trip to its replica)
                   and the buffer bits read and written (weights stay local), with
                   ``d = max(1, sqrt(S) / 2)`` for ``S`` subarrays in use (half the side
                   of a square floorplan of them), rounded to an integer -- plus the
                   broadcast of each chunk along its replica: ``columns`` bits over one
                   pitch per row group it is driven on (``C * row_groups * columns``)
psum_pitch         ``C * N * ceil(chunks / 2)`` when a fan-in spans ``chunks > 1``
                   subarrays: each partial sum travels on average half the replica
=================  ==================================================================

With ``sensing.skip_zero_chunks`` off, ``A = P`` and ``C = P * chunks``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..actions import DYNAMIC_ACTIONS
from ..errors import SimulationError
from ..network import INPUT, Compute, Network, NeuronKind
from .activity import Activity
from .params import TimingParams, timing_params


@dataclass(frozen=True)
class Edge:
    """One spike-buffer connection from a producer (a compute layer or the input) to a consumer."""

    name: str  # "<consumer>.in" or "<consumer>.res"
    producer: str  # compute layer name, or INPUT (the chip's input memory)
    consumer: str
    bits: int  # one time step of the tensor the consumer reads
    access_cycles: int  # reading or writing one step through the buffer's ports


@dataclass(frozen=True)
class LayerCosts:
    """Durations (cycles) and action counts of one layer for the selected images."""

    name: str
    in_memory: bool
    readout: bool
    static: bool  # input is a static encoding: read and computed at t = 0 only
    replicas: int
    cycles_per_position: int  # phases_per_position * t_sense (in-memory)
    in_edges: tuple  # Edge, main input first
    out_edges: tuple
    active_positions: np.ndarray  # (n, T): positions sensed (in-memory)
    core: np.ndarray  # (n, T): sensing or digital-unit cycles
    update_cycles: int
    write_cycles: int
    actions: dict  # action -> (n, T) int64
    streaming: bool = False  # phases overlap by items (chip.layer_step = "streaming")
    first: tuple = (0, 0, 0, 0)  # first-item cycles of read, core, update, write (streaming)

    def reads(self, t: int) -> tuple:
        """Edges read at step ``t`` (a static main input only at t = 0)."""
        if self.static and t > 0:
            return self.in_edges[1:]
        return self.in_edges

    def read_cycles(self, t: int) -> int:
        return max((e.access_cycles for e in self.reads(t)), default=0)

    def phases(self, i: int, t: int) -> tuple:
        """(duration, first-item cycles) of read, core, update, write of layer-step (i, t)."""
        return step_phases((self.read_cycles(t), int(self.core[i, t]), self.update_cycles, self.write_cycles),
                           self.first)

    def duration(self, i: int, t: int) -> int:
        """Contention-free duration of layer-step (image row i, step t)."""
        return step_cycles(self.phases(i, t), self.streaming)


def step_phases(durations, first) -> tuple:
    """(duration, first-item cycles) of each phase; a phase that costs nothing has no first item."""
    return tuple((d, f if d else 0) for d, f in zip(durations, first))


def step_cycles(phases, streaming: bool) -> int:
    """A layer-step's contention-free cycles: the sum of its phases (store-and-forward)
    or, streaming, :func:`streamed`."""
    return streamed(phases) if streaming else sum(d for d, _ in phases)


def streamed(phases) -> int:
    """A chain of phases overlapping by items: ``max_k (D_k + sum_{j != k} f_j)`` over
    phases of duration ``D_k`` whose first item takes ``f_k`` -- the slowest phase plus
    the first item of every other (a pipeline of stages fed item by item)."""
    firsts = sum(f for _, f in phases)
    return max((d + firsts - f for d, f in phases), default=0)


def source_layer(net: Network, tensor: str) -> str:
    """The compute layer (or INPUT) behind a tensor, looking through MaxPool2d/Flatten."""
    while tensor != INPUT and not isinstance(net.node(tensor), Compute):
        tensor = net.node(tensor).input
    return tensor


def access_cycles(bits: int, params: TimingParams) -> int:
    words = math.ceil(bits / params.buffer_width_bits)
    return math.ceil(words / params.buffer_ports) * params.access_cycles


def sense_cycles(positions, replicas: int, phases_per_position: int, params: TimingParams):
    """Drive + sense of ``positions`` active positions on ``replicas`` replicas:
    ``ceil(positions / replicas) * phases_per_position * t_sense``."""
    return -(-positions // replicas) * phases_per_position * params.t_sense_cycles


def dense_stage_cycles(net: Network, layers, params: TimingParams) -> dict:
    """Cycles per image of each pipeline stage when every input is present: each layer's
    tile (:func:`dense_tile_cycles`) and, under the key ``"digital_unit"``, the shared
    digital unit (the compute of every digital layer). ``layers`` are placed
    :class:`~bsnn_sim.mapping.LayerMap` (with their replicas). The mapping plans
    replication with it; pipelined throughput is at most one image per ``max`` of these."""
    edges = edges_of(net, params)
    out = {lm.name: dense_tile_cycles(net, lm, edges, params) for lm in layers}
    out["digital_unit"] = sum(_dense_core(lm, params) * (1 if net.is_static(net.node(lm.name).input)
                                                          else net.time_steps)
                              for lm in layers if not lm.in_memory)
    return out


def _dense_core(lm, params: TimingParams) -> int:
    """Sensing (in-memory) or digital-unit cycles of one layer-step with every input present."""
    if lm.in_memory:
        return sense_cycles(lm.positions, lm.replicas, lm.phases_per_position, params)
    return -(-lm.macs_per_step // params.macs_per_cycle)


def dense_tile_cycles(net: Network, lm, edges, params: TimingParams) -> int:
    """Cycles per image of placed layer ``lm``'s tile with every input present: its
    layer-steps' read + sense or compute + update + write, as :meth:`LayerCosts.duration`
    (``edges``: :func:`edges_of` the network)."""
    static = net.is_static(net.node(lm.name).input)
    ins = [e for e in edges if e.consumer == lm.name]
    write = max((e.access_cycles for e in edges if e.producer == lm.name), default=0)
    core = _dense_core(lm, params)
    update = update_cycles(lm.positions * lm.out_features, params)
    first = first_items(lm, params)
    total = 0
    for t in range(net.time_steps):
        reads = ins[1:] if static and t else ins
        whole = (max((e.access_cycles for e in reads), default=0), core if t == 0 or not static else 0, update, write)
        total += step_cycles(step_phases(whole, first), params.streaming)
    return total


def first_items(lm, params: TimingParams) -> tuple:
    """First-item cycles of read, core, update and write for streaming: one buffer word,
    one position's sensing (``ppp * t_sense``) or one digital-unit cycle, one pass of the
    update lanes, one buffer word."""
    core = lm.phases_per_position * params.t_sense_cycles if lm.in_memory else 1
    return (params.access_cycles, core, params.update_cycles, params.access_cycles)


def update_cycles(neurons: int, params: TimingParams) -> int:
    """One accumulate + fire of ``neurons`` neurons: ``ceil(neurons / lanes) * t_update``."""
    return -(-neurons // params.update_lanes) * params.update_cycles


def edges_of(net: Network, arch) -> list[Edge]:
    """Every buffer edge, in network order (main input before residual)."""
    params = timing_params(arch)
    out = []
    for node in net.compute_nodes():
        for suffix, tensor in (("in", node.input), ("res", node.residual)):
            if tensor is None:
                continue
            bits = int(np.prod(net.shapes[tensor])) * (1 if net.is_spiking(tensor) else 8)
            out.append(Edge(f"{node.name}.{suffix}", source_layer(net, tensor), node.name, bits,
                            access_cycles(bits, params)))
    return out


def select_images(activity: Activity, images) -> np.ndarray:
    """Row indices into the activity arrays: None = all, int = the first n, or a sequence."""
    n = activity.n_images
    idx = np.arange(n) if images is None else (np.arange(images) if np.isscalar(images) else np.asarray(images))
    if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
        raise SimulationError(f"images {images!r} not within the activity's {n} images")
    return idx.astype(np.int64)


def layer_costs(net: Network, mapping, arch, activity: Activity, images=None) -> list[LayerCosts]:
    """Costs of every compute layer (network order) for the selected images; ``arch`` is
    an ArchConfig or its :class:`TimingParams` (only the record is read)."""
    params = timing_params(arch)
    if mapping.params != params:
        raise SimulationError("the mapping was made for another timing record: "
                              + "; ".join(mapping.params.differences(params)))
    skip = params.skip_zero_chunks
    skip_inputs = params.skip_zero_inputs
    activity.check(net, mapping, skip, skip_inputs)
    idx = select_images(activity, images)
    steps = net.time_steps
    edges = edges_of(net, params)
    t_sense = params.t_sense_cycles
    mpc = params.macs_per_cycle
    pitches = max(1.0, math.sqrt(mapping.subarrays_used) / 2)
    shape = (len(idx), steps)
    result = []
    for lm in mapping.layers:
        node = net.node(lm.name)
        readout = node.neuron is NeuronKind.READOUT
        static = net.is_static(node.input)
        mask = np.ones(steps, np.int64)
        if static:
            mask[1:] = 0
        p, n = lm.positions, lm.out_features
        zeros = np.zeros(shape, np.int64)
        acts = {a: zeros for a in DYNAMIC_ACTIONS}
        if lm.in_memory:
            if skip:
                pos = activity.active_positions[lm.name][idx] * mask
                ch = activity.active_chunks[lm.name][idx] * mask
            else:
                pos, ch = np.broadcast_to(p * mask, shape).copy(), np.broadcast_to(p * lm.chunks * mask, shape).copy()
            core = sense_cycles(pos, lm.replicas, lm.phases_per_position, params)
            acts.update(sense_array=ch * n, convert=ch * n, drive_bitlines=ch * lm.drives_per_chunk,
                        predrive=ch * lm.drives_per_chunk, neuron_add=ch * n + (1 - mask) * p * n,
                        psum_pitch=ch * n * (-(-lm.chunks // 2)) if lm.chunks > 1 else zeros)
            moved = ch * params.columns  # one trip of each active chunk to its replica ...
            broadcast = ch * lm.drives_per_chunk * params.columns  # ... then one pitch per row group it is driven on
        else:
            pos = zeros
            if skip_inputs:
                macs = activity.digital_macs[lm.name][idx] * mask
            else:
                macs = np.broadcast_to(lm.macs_per_step * mask, shape).astype(np.int64)
            core = -(-macs // mpc)
            acts.update(digital_mac=macs, neuron_add=np.full(shape, p * n, np.int64),
                        weight_read_bit=8 * np.minimum(macs, n * lm.fan_in))
            moved, broadcast = zeros, zeros  # the weight memory sits beside the digital unit
        acts["neuron_update"] = np.full(shape, p * n, np.int64)
        state = p * n * params.state_bits(lm.in_memory)
        stored = static * state  # a static layer's current: written at t = 0, read after
        acts["state_read_bit"] = np.broadcast_to(state + stored * (1 - mask), shape).astype(np.int64)
        acts["state_write_bit"] = np.broadcast_to(state + stored * mask, shape).astype(np.int64)
        if not readout:
            acts["neuron_fire"] = activity.spikes[lm.name][idx].copy()
        ins = tuple(e for e in edges if e.consumer == lm.name)
        outs = tuple(e for e in edges if e.producer == lm.name)
        read_bits = np.array([sum(e.bits for e in (ins[1:] if static and t else ins)) for t in range(steps)])
        acts["buffer_read_bit"] = np.broadcast_to(read_bits, shape).astype(np.int64)
        acts["buffer_write_bit"] = np.full(shape, sum(e.bits for e in outs), np.int64)
        bits = moved + acts["buffer_read_bit"] + acts["buffer_write_bit"]
        acts["wire_bit_pitch"] = np.rint(bits * pitches).astype(np.int64) + broadcast
        write = max((e.access_cycles for e in outs), default=0)
        result.append(LayerCosts(lm.name, lm.in_memory, readout, static, lm.replicas,
                                 lm.phases_per_position * t_sense, ins, outs, pos, core, update_cycles(p * n, params),
                                 write, acts, params.streaming, first_items(lm, params)))
    return result


def layer_actions(costs: list[LayerCosts]) -> dict:
    """Per layer {dynamic action: count} over the selected images."""
    return {c.name: {a: int(c.actions[a].sum()) for a in DYNAMIC_ACTIONS} for c in costs}
