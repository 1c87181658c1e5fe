"""Layer mapping: which hardware computes each layer of a network, and how much of it.

Pure (no SimPy): :func:`map_network` places every compute node of a
:class:`~bsnn_sim.network.Network` on an :class:`~bsnn_sim.arch.ArchConfig`.

In-memory layers
    A compute node whose weights are binary *and* whose input carries spikes is
    computed in STT-MRAM subarrays of ``rows x columns`` cells. Its fan-in ``F``
    (a convolution's ``kh*kw*C_in`` inputs in channels-last ``(ky, kx, c)`` order, a
    linear layer's ``in_features`` in the functional simulator's channels-last order)
    splits into ``chunks = ceil(F / columns)`` consecutive chunks of ``columns``
    inputs: chunk ``k`` holds inputs ``[k*columns, (k+1)*columns)``. Each chunk is
    sensed in its own subarray and the neuron adds the partial sums digitally. The
    ``N`` output neurons go onto rows: ``row_groups = ceil(N / rows)``. One *replica*
    is ``chunks x row_groups`` subarrays and computes one output position (of
    ``P = OH*OW``; 1 for a linear layer) at a time; a subarray uses
    ``rows_used = min(N, rows)`` rows (the last row group may use fewer) and needs
    ``ceil(rows_used / rows_per_phase)`` sensing phases per position. An input chunk
    is driven once onto each of its row groups' subarrays; the bit lines are held while
    that subarray's rows are sensed (as :mod:`bsnn_sim.energy` prices it).

Replication (``chip.replication``, within ``chip.subarray_budget`` subarrays, 0 = all
of ``chip.subarrays``)
    ``"none"``: one replica per in-memory layer.

    ``"bottleneck"`` (default): plan for pipelined throughput. Each pipeline stage -- a
    layer's tile, and the shared digital unit -- takes ``S`` cycles per image with every
    input present (:func:`bsnn_sim.timing.costs.dense_stage_cycles`: read + sense or
    compute + update + write over the layer-steps of an image); one image per
    ``max S`` cycles is the most a pipeline can deliver. Greedy: while the slowest stage
    (ties: the earlier) is an in-memory layer with ``replicas < P``, give it the fewest
    extra replicas that lower its positions per replica ``ceil(P / replicas)`` (fewer
    would not shorten it), if they fit in the budget and lower its ``S``, and record
    the step (layer, replicas, subarrays in use, ``max S`` before and after: the
    marginal gain). It stops when the bottleneck is the digital unit or a digital
    layer, a layer with one replica per position or whose time is no longer
    sensing-bound, or when the budget is spent; the reason is reported.

    ``"fill"``: spare subarrays are handed out one replica at a time to the layer with
    the largest per-step sensing work per replica, ``P / replicas *
    phases_per_position`` (ties: the earlier layer), as long as that replica fits in
    what is left and ``replicas <= P``, whether or not throughput gains.

Digital layers
    Every other compute node (int8 weights, or uint8 pixels as input: in practice the
    first and last layers) runs on the chip's shared digital MAC unit and uses no
    subarray. ``kind`` is ``"digital"``, or ``"readout-digital"`` for the readout
    (``"readout-in_memory"`` for a binary readout over spikes).

Free nodes
    MaxPool2d (an OR of spikes) and Flatten (an address order) cost nothing: the
    producer's spikes are ORed into the pooled word as they are written into the
    consumer's spike buffer, and flattening is only a read order. They get no entry.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace

from .errors import MappingError
from .network import Compute, Conv2d, Network, NeuronKind
from .timing.costs import dense_stage_cycles, dense_tile_cycles, edges_of
from .timing.params import TimingParams, timing_params

IN_MEMORY = "in_memory"
DIGITAL = "digital"


@dataclass(frozen=True)
class LayerMap:
    """Placement of one compute layer. Subarray fields are 0 for a digital layer."""

    name: str
    kind: str  # "in_memory" | "digital" | "readout-in_memory" | "readout-digital"
    fan_in: int  # F: inputs per output neuron
    out_features: int  # N: output neurons per position
    positions: int  # P: output positions (OH*OW; 1 for linear)
    chunks: int  # ceil(F / columns)
    row_groups: int  # ceil(N / rows)
    rows_used: int  # rows used in the fullest subarray: min(N, rows)
    phases_per_position: int  # ceil(rows_used / rows_per_phase)
    drives_per_chunk: int  # bit-line drives of one chunk: one per row group's subarray (held for all its rows)
    replicas: int
    subarrays_per_replica: int  # chunks * row_groups
    subarrays: int  # replicas * subarrays_per_replica
    utilization: float  # F*N / (subarrays_per_replica * rows * columns); 0 for digital

    @property
    def in_memory(self) -> bool:
        return self.kind.endswith(IN_MEMORY)

    @property
    def macs_per_step(self) -> int:
        """Synaptic multiply-accumulates of one dense time step: P * N * F."""
        return self.positions * self.out_features * self.fan_in


@dataclass(frozen=True)
class ReplicationStep:
    """One replica added by the ``"bottleneck"`` policy and what it bought."""

    layer: str
    replicas: int  # the layer's replicas after the step
    subarrays_used: int  # chip total after the step
    bottleneck_before: int  # max stage cycles per image before the step
    bottleneck_after: int

    @property
    def gain(self) -> float:
        """Relative throughput gain of the step: before / after - 1."""
        return self.bottleneck_before / self.bottleneck_after - 1.0


@dataclass(frozen=True)
class Mapping:
    """Per-layer placements (network order) and chip totals."""

    layers: tuple[LayerMap, ...]
    subarrays_available: int
    rows: int
    columns: int
    replication: str
    params: TimingParams  # the timing record the mapping was made for
    steps: tuple[ReplicationStep, ...] = ()  # "bottleneck": the replicas added, in order
    stage_cycles: tuple = ()  # (stage, dense cycles per image) of the final mapping
    stop_reason: str = ""

    def __getitem__(self, name: str) -> LayerMap:
        for lm in self.layers:
            if lm.name == name:
                return lm
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return any(lm.name == name for lm in self.layers)

    @property
    def in_memory_layers(self) -> list[LayerMap]:
        return [lm for lm in self.layers if lm.in_memory]

    @property
    def subarrays_used(self) -> int:
        return sum(lm.subarrays for lm in self.layers)

    @property
    def utilization(self) -> float:
        """Programmed cells / cells of the used subarrays (all replicas)."""
        used = self.subarrays_used * self.rows * self.columns
        cells = sum(lm.fan_in * lm.out_features * lm.replicas for lm in self.in_memory_layers)
        return cells / used if used else 0.0

    def to_rows(self) -> list[dict]:
        """One dict per layer, CSV-ready (same keys in every row)."""
        return [{"layer": lm.name, "kind": lm.kind, "fan_in": lm.fan_in, "out_features": lm.out_features,
                 "positions": lm.positions, "chunks": lm.chunks, "row_groups": lm.row_groups,
                 "rows_used": lm.rows_used, "phases_per_position": lm.phases_per_position,
                 "replicas": lm.replicas, "subarrays_per_replica": lm.subarrays_per_replica,
                 "subarrays": lm.subarrays, "utilization": round(lm.utilization, 6)}
                for lm in self.layers]

    def report(self) -> str:
        """A text table of the mapping with chip totals."""
        head = ("layer", "kind", "F", "N", "P", "chunks", "rowgrp", "rows", "replicas", "subarrays", "util")
        body = [(lm.name, lm.kind, lm.fan_in, lm.out_features, lm.positions, lm.chunks, lm.row_groups,
                 lm.rows_used, lm.replicas, lm.subarrays, f"{lm.utilization:.1%}" if lm.in_memory else "-")
                for lm in self.layers]
        rows = [tuple(map(str, r)) for r in [head] + body]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"subarrays {self.subarrays_used} / {self.subarrays_available} "
                     f"({self.rows}x{self.columns}, replication {self.replication}); "
                     f"cell utilization of used subarrays {self.utilization:.1%}")
        if self.stage_cycles:
            worst = max(c for _, c in self.stage_cycles)
            lines.append("dense stage cycles per image (pipelined bound " + f"{worst}): "
                         + ", ".join(f"{k} {c}" for k, c in self.stage_cycles))
        for k, st in enumerate(self.steps, 1):
            lines.append(f"  step {k}: {st.layer} -> {st.replicas} replicas, {st.subarrays_used} subarrays; "
                         f"bottleneck {st.bottleneck_before} -> {st.bottleneck_after} cycles/image "
                         f"({st.gain:+.1%} throughput)")
        if self.stop_reason:
            lines.append(f"replication stopped: {self.stop_reason}")
        return "\n".join(lines)


def positions_of(net: Network, node: Compute) -> int:
    """Output positions P: OH*OW for a convolution, 1 for a linear layer."""
    shape = net.shapes[node.name]
    return shape[1] * shape[2] if isinstance(node, Conv2d) else 1


def _place(net: Network, node: Compute, sa: TimingParams) -> LayerMap:
    f, n, p = node.fan_in, node.out_features, positions_of(net, node)
    readout = node.neuron is NeuronKind.READOUT
    if not net.is_in_memory(node):
        return LayerMap(node.name, "readout-" + DIGITAL if readout else DIGITAL, f, n, p, 0, 0, 0, 0, 0, 0, 0, 0, 0.0)
    chunks, groups = math.ceil(f / sa.columns), math.ceil(n / sa.rows)
    rows_used = min(n, sa.rows)
    ppp = math.ceil(rows_used / sa.rows_per_phase)
    spr = chunks * groups
    util = f * n / (spr * sa.rows * sa.columns)
    return LayerMap(node.name, "readout-" + IN_MEMORY if readout else IN_MEMORY, f, n, p, chunks, groups, rows_used,
                    ppp, groups, 1, spr, spr, util)


def map_network(net: Network, arch) -> Mapping:
    """Place every compute node; raise :class:`MappingError` if the chip is too small.
    ``arch`` is an ArchConfig or its :class:`TimingParams` (only the record is read)."""
    params = timing_params(arch)
    layers = [_place(net, node, params) for node in net.compute_nodes()]
    total = params.budget
    left = total
    source = getattr(arch, "source", None)  # an ArchConfig names its file; a TimingParams record does not
    prefix = f"{source}: " if source else ""
    key = "chip.subarrays" if params.budget == params.subarrays else "chip.subarray_budget"
    for lm in layers:
        if lm.subarrays > left:
            raise MappingError(
                f"{prefix}{key} = {total}: layer '{lm.name}' needs {lm.subarrays} subarrays for one replica "
                f"({lm.chunks} chunks x {lm.row_groups} row groups of {params.rows}x{params.columns}) but only "
                f"{left} are left")
        left -= lm.subarrays
    replicas = {lm.name: 1 for lm in layers if lm.in_memory}
    steps, reason = (), ""
    if params.replication == "fill":
        replicas = _fill(layers, replicas, left)
    elif params.replication == "bottleneck":
        replicas, steps, reason = _bottleneck(net, layers, replicas, left, params)
    placed = tuple(lm if not lm.in_memory else _with_replicas(lm, replicas[lm.name]) for lm in layers)
    stages = tuple(dense_stage_cycles(net, placed, params).items())
    return Mapping(placed, params.subarrays, params.rows, params.columns, params.replication, params, steps, stages,
                   reason)


def _bottleneck(net: Network, layers: list[LayerMap], replicas: dict, spare: int, params: TimingParams):
    """Greedy: replicate the slowest stage while it is an in-memory layer and gains."""
    current = {lm.name: lm for lm in layers}
    steps = []
    used = sum(lm.subarrays for lm in layers)
    edges = edges_of(net, params)
    times = dense_stage_cycles(net, layers, params)  # a step changes only its layer's entry
    while True:
        worst = max(times.values())
        name = next(k for k, v in times.items() if v == worst)
        if name == "digital_unit":
            return replicas, tuple(steps), f"the bottleneck is the shared digital unit ({worst} cycles/image)"
        lm = current[name]
        if not lm.in_memory:
            return replicas, tuple(steps), f"the bottleneck is digital layer '{name}' ({worst} cycles/image)"
        if replicas[name] >= lm.positions:
            return replicas, tuple(steps), f"the bottleneck '{name}' has one replica per position"
        share = -(-lm.positions // replicas[name])  # positions per replica now
        more = -(-lm.positions // (share - 1)) - replicas[name]  # fewest extra replicas that cut the share
        if more * lm.subarrays_per_replica > spare:
            return replicas, tuple(steps), (f"the budget is spent: '{name}' needs {more * lm.subarrays_per_replica} "
                                            f"more subarrays, {spare} left")
        trial = _with_replicas(lm, replicas[name] + more)
        cycles = dense_tile_cycles(net, trial, edges, params)
        if cycles >= worst:
            return replicas, tuple(steps), f"more replicas of '{name}' do not shorten it (not sensing-bound)"
        current[name], times[name] = trial, cycles
        replicas[name] += more
        spare -= more * lm.subarrays_per_replica
        used += more * lm.subarrays_per_replica
        steps.append(ReplicationStep(name, replicas[name], used, worst, max(times.values())))


def _fill(layers: list[LayerMap], replicas: dict, spare: int) -> dict:
    """Greedy: the next replica goes to the layer with the largest work per replica that fits."""
    order = {lm.name: i for i, lm in enumerate(layers)}
    heap = [(-lm.positions * lm.phases_per_position / replicas[lm.name], order[lm.name], lm)
            for lm in layers if lm.in_memory and lm.positions > 1]
    heapq.heapify(heap)
    while heap:
        _, i, lm = heapq.heappop(heap)
        if lm.subarrays_per_replica > spare:
            continue  # never fits again: spare only shrinks
        spare -= lm.subarrays_per_replica
        r = replicas[lm.name] = replicas[lm.name] + 1
        if r < lm.positions:
            heapq.heappush(heap, (-lm.positions * lm.phases_per_position / r, i, lm))
    return replicas


def _with_replicas(lm: LayerMap, r: int) -> LayerMap:
    return replace(lm, replicas=r, subarrays=r * lm.subarrays_per_replica)
