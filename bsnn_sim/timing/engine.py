"""simulate_timing: run the SimPy timing pass of a mapped network over activity traces."""

from __future__ import annotations

import time

import numpy as np

from .activity import Activity
from .chip import Chip
from .costs import action_totals, layer_costs, select_images
from .result import TimingResult


def simulate_timing(net, mapping, arch, activity: Activity, images=None, pipelined: bool = False,
                    trace: bool = False) -> TimingResult:
    """Cycle-accurate timing of ``images`` (None: all activity rows; int: the first n;
    or a sequence of rows), run back to back (``pipelined``: overlapping)."""
    t0 = time.perf_counter()
    idx = select_images(activity, images)
    costs = layer_costs(net, mapping, arch, activity, idx)
    chip = Chip(costs, arch, len(idx), net.time_steps, pipelined, trace)
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
    per_layer, totals = action_totals(costs)
    return TimingResult(
        images=idx, latency_cycles=end - start, start_cycles=start, end_cycles=end, total_cycles=total,
        t_clk_ns=arch.technology.t_clk_ns, pipelined=pipelined, utilization=util, stalls=stalls,
        buffer_peak_bits={n: b.peak_bits for n, b in chip.buffers.items()}, actions=per_layer,
        action_totals=totals, step_finish={t.name: np.array(t.finish, np.int64) for t in chip.tiles},
        events=chip.env.events, wall_s=wall, trace=chip.trace)
