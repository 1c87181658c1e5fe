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

Replication (``chip.replication``)
    ``"none"``: one replica per in-memory layer. ``"fill"``: after one replica of
    every in-memory layer, spare subarrays (up to ``chip.subarrays``) are handed out one
    replica at a time to the layer with the largest per-step sensing work per replica,
    ``P / replicas * phases_per_position`` (ties: the earlier layer), as long as that
    replica fits in what is left and ``replicas <= P``. With one row per phase this is
    the largest ``P / replicas``.

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

from .arch import ArchConfig
from .errors import MappingError
from .network import Compute, Conv2d, Network, NeuronKind

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
class Mapping:
    """Per-layer placements (network order) and chip totals."""

    layers: tuple[LayerMap, ...]
    subarrays_available: int
    rows: int
    columns: int
    replication: str

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
        return "\n".join(lines)


def positions_of(net: Network, node: Compute) -> int:
    """Output positions P: OH*OW for a convolution, 1 for a linear layer."""
    shape = net.shapes[node.name]
    return shape[1] * shape[2] if isinstance(node, Conv2d) else 1


def _place(net: Network, node: Compute, arch: ArchConfig) -> LayerMap:
    f, n, p = node.fan_in, node.out_features, positions_of(net, node)
    readout = node.neuron is NeuronKind.READOUT
    if not net.is_in_memory(node):
        return LayerMap(node.name, "readout-" + DIGITAL if readout else DIGITAL, f, n, p, 0, 0, 0, 0, 0, 0, 0, 0, 0.0)
    sa = arch.subarray
    chunks, groups = math.ceil(f / sa.columns), math.ceil(n / sa.rows)
    rows_used = min(n, sa.rows)
    ppp = math.ceil(rows_used / sa.rows_per_phase)
    spr = chunks * groups
    util = f * n / (spr * sa.rows * sa.columns)
    return LayerMap(node.name, "readout-" + IN_MEMORY if readout else IN_MEMORY, f, n, p, chunks, groups, rows_used,
                    ppp, groups, 1, spr, spr, util)


def map_network(net: Network, arch: ArchConfig) -> Mapping:
    """Place every compute node; raise :class:`MappingError` if the chip is too small."""
    layers = [_place(net, node, arch) for node in net.compute_nodes()]
    total = arch.chip.subarrays
    left = total
    for lm in layers:
        if lm.subarrays > left:
            raise MappingError(
                f"layer '{lm.name}' needs {lm.subarrays} subarrays for one replica ({lm.chunks} chunks x "
                f"{lm.row_groups} row groups of {arch.subarray.rows}x{arch.subarray.columns}) but only {left} of "
                f"chip.subarrays = {total} are left")
        left -= lm.subarrays
    replicas = {lm.name: 1 for lm in layers if lm.in_memory}
    if arch.chip.replication == "fill":
        replicas = _fill(layers, replicas, left)
    placed = tuple(lm if not lm.in_memory else _with_replicas(lm, replicas[lm.name]) for lm in layers)
    return Mapping(placed, total, arch.subarray.rows, arch.subarray.columns, arch.chip.replication)


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
