"""simulate_timing: run the SimPy timing pass of a mapped network over activity traces.

Besides cycles and the dynamic action counts of :mod:`.costs`, the run counts the
leakage block-cycles (:mod:`bsnn_sim.actions`) over its ``total_cycles``: per layer its
subarrays, its neuron-state bits (``P * N * w``, ``w`` the layer's accumulator width,
twice for a static layer that stores its current) and the bits of its input spike buffers (``capacity_bits`` each);
the int8 weights of a digital layer (its share of the digital unit's weight memory); for
the chip the shared digital unit (``SHARED``).
"""

from __future__ import annotations

import time

import numpy as np

from ..actions import ACTIONS
from ..network import INPUT
from .activity import Activity
from .chip import Chip
from .costs import layer_actions, layer_costs, select_images
from .params import timing_params
from .result import SHARED, TimingResult


def powered_blocks(costs: list, mapping, params) -> dict:
    """layer (or SHARED) -> {leakage action: blocks (or bits) that leak}."""
    out = {}
    for c in costs:
        lm = mapping[c.name]
        state_bits = lm.positions * lm.out_features * params.state_bits(lm.in_memory) * (2 if c.static else 1)
        buffer_bits = params.buffer_capacity_bits * sum(e.producer != INPUT for e in c.in_edges)
        out[c.name] = {"leak_subarray_cycle": lm.subarrays, "leak_state_bit_cycle": state_bits,
                       "leak_buffer_bit_cycle": buffer_bits,
                       "leak_weight_bit_cycle": 0 if lm.in_memory else 8 * lm.fan_in * lm.out_features}
    out[SHARED] = {"leak_digital_cycle": 1}
    return out


def simulate_timing(net, mapping, arch, activity: Activity, images=None, pipelined: bool = False,
                    trace: bool = False) -> TimingResult:
    """Cycle-accurate timing of ``images`` (None: all activity rows; int: the first n;
    or a sequence of rows), run back to back (``pipelined``: overlapping). ``arch`` is an
    ArchConfig or its :class:`~.params.TimingParams`; only the record is read."""
    t0 = time.perf_counter()
    params = timing_params(arch)
    idx = select_images(activity, images)
    costs = layer_costs(net, mapping, params, activity, idx)
    chip = Chip(costs, params, len(idx), net.time_steps, pipelined, trace)
    total = chip.run()
    wall = time.perf_counter() - t0
    start = np.array(chip.image_start, np.int64)
    end = np.array(chip.image_end, np.int64)
    util, stalls = {}, {}
    for tile in chip.tiles:
        if tile.subarrays is not None:
            g = tile.subarrays
            util[f"subarrays:{tile.name}"] = g.busy_cycles / (len(g.replicas) * total) if total else 0.0
            if g.wait_cycles:
                stalls[f"subarrays:{tile.name}"] = g.wait_cycles
        util[f"neurons:{tile.name}"] = tile.neurons.busy_cycles / total if total else 0.0
    util["digital_unit"] = chip.digital.busy_cycles / total if total else 0.0
    stalls["digital_unit"] = chip.digital.stall_cycles
    for name, buf in chip.buffers.items():
        util[f"buffer:{name}"] = buf.mean_occupancy(total)
        stalls[f"buffer:{name}"] = buf.stall_cycles
        stalls[f"buffer_port:{name}"] = buf.port_wait_cycles
    per_layer = layer_actions(costs)
    blocks = powered_blocks(costs, mapping, params)
    for layer, held in blocks.items():
        per_layer[layer] = {a: 0 for a in ACTIONS} | per_layer.get(layer, {}) | {a: k * total for a, k in held.items()}
    totals = {a: sum(d[a] for d in per_layer.values()) for a in ACTIONS}
    return TimingResult(
        params=params, images=idx, latency_cycles=end - start, start_cycles=start, end_cycles=end, total_cycles=total,
        t_clk_ns=params.t_clk_ns, pipelined=pipelined, utilization=util, stalls=stalls,
        buffer_peak_bits={n: b.peak_bits for n, b in chip.buffers.items()}, actions=per_layer,
        action_totals=totals, blocks=blocks, step_finish={t.name: np.array(t.finish, np.int64) for t in chip.tiles},
        events=chip.env.events, wall_s=wall, trace=chip.trace)
