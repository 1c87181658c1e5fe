"""TimingResult: what one timing simulation measured."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..actions import ACTIONS
from .params import TimingParams

SHARED = "(shared)"  # the row of ``actions`` for blocks no layer owns (the digital unit)


@dataclass
class TimingResult:
    """Latencies (cycles), chip statistics and action counts of a timing run.

    ``latency_cycles[k]`` is image ``k``'s latency (see :mod:`.chip` for the definition);
    ``utilization`` maps a resource to its busy fraction of ``total_cycles`` (for a
    SubarrayGroup: busy replica-cycles / (replicas x total); for a spike buffer: the
    time-averaged fraction of its capacity in use); ``stalls`` maps a resource to the
    cycles a layer waited for it (a full buffer, a busy digital unit). ``actions`` holds
    every count that energy prices, dynamic and leakage (:mod:`bsnn_sim.actions`), per
    layer and for ``SHARED`` blocks; ``params`` is the timing record the run used.
    """

    params: TimingParams
    images: np.ndarray  # activity row of each simulated image
    latency_cycles: np.ndarray
    start_cycles: np.ndarray
    end_cycles: np.ndarray
    total_cycles: int
    t_clk_ns: float
    pipelined: bool
    utilization: dict
    stalls: dict
    buffer_peak_bits: dict
    actions: dict  # layer (or SHARED) -> {action: count}
    action_totals: dict  # action -> count
    blocks: dict  # layer (or SHARED) -> {leakage action: blocks or bits powered}
    step_finish: dict  # layer -> (n_images, T) cycle at which each layer-step finished
    events: int
    wall_s: float
    trace: list | None = field(default=None, repr=False)

    @property
    def n_images(self) -> int:
        return len(self.latency_cycles)

    @property
    def latency_ns(self) -> np.ndarray:
        return self.latency_cycles * self.t_clk_ns

    def latency_stats(self) -> dict:
        """Mean / p50 / p99 latency in cycles and ns."""
        lat = self.latency_cycles.astype(np.float64)
        out = {}
        for key, value in (("mean", lat.mean()), ("p50", np.percentile(lat, 50)), ("p99", np.percentile(lat, 99))):
            out[f"latency_{key}_cycles"] = float(value)
            out[f"latency_{key}_ns"] = float(value * self.t_clk_ns)
        return out

    @property
    def throughput_ips(self) -> float:
        """Images per second at the clock: images / (total cycles x t_clk)."""
        return self.n_images / (self.total_cycles * self.t_clk_ns * 1e-9) if self.total_cycles else 0.0

    def summary(self) -> dict:
        return {"images": self.n_images, "pipelined": self.pipelined, "total_cycles": self.total_cycles,
                "total_ns": self.total_cycles * self.t_clk_ns, **self.latency_stats(),
                "throughput_ips": self.throughput_ips, "stall_cycles": sum(self.stalls.values()),
                "events": self.events, "wall_s": self.wall_s,
                "events_per_image": self.events / self.n_images, "wall_s_per_image": self.wall_s / self.n_images}

    def latency_by_layer_ns(self) -> dict:
        """Each layer's share of the latency, in ns, mean over images, network order.

        Layer ``L`` finishes image ``i`` when its last layer-step does
        (``step_finish[L][i, T-1]``); measured from the image's start, these finishing
        times grow along the network. Layer ``L``'s share is its finishing time minus the
        latest finishing time of the layers before it (0 when it finishes no later), so
        the shares add up to the mean latency when the last layer finishes the image."""
        out, latest = {}, np.zeros(len(self.start_cycles))
        for layer, finish in self.step_finish.items():
            done = finish[:, -1] - self.start_cycles
            out[layer] = float(np.maximum(done - latest, 0).mean() * self.t_clk_ns)
            latest = np.maximum(latest, done)
        return out

    def layer_rows(self) -> list[dict]:
        """One CSV-ready dict per layer: action counts, subarray and neuron utilization."""
        rows = []
        for layer, counts in self.actions.items():
            if layer == SHARED:
                continue
            rows.append({"layer": layer, **counts,
                         "subarray_utilization": round(self.utilization.get(f"subarrays:{layer}", 0.0), 6),
                         "neuron_utilization": round(self.utilization.get(f"neurons:{layer}", 0.0), 6)})
        return rows

    def report(self) -> str:
        s = self.summary()
        lines = [f"{s['images']} image(s), {'pipelined' if self.pipelined else 'one at a time'}: "
                 f"{self.total_cycles} cycles ({s['total_ns']:.1f} ns), {self.throughput_ips:,.0f} images/s",
                 f"latency mean {s['latency_mean_cycles']:.1f} / p50 {s['latency_p50_cycles']:.1f} / "
                 f"p99 {s['latency_p99_cycles']:.1f} cycles  ({s['latency_mean_ns']:.1f} / "
                 f"{s['latency_p50_ns']:.1f} / {s['latency_p99_ns']:.1f} ns)",
                 "utilization: " + ", ".join(f"{k} {v:.1%}" for k, v in self.utilization.items()),
                 "stalls (cycles): " + (", ".join(f"{k} {v}" for k, v in self.stalls.items() if v) or "none"),
                 "actions: " + ", ".join(f"{a} {self.action_totals[a]}" for a in ACTIONS),
                 f"simulation: {self.events} events in {self.wall_s:.3f} s"]
        return "\n".join(lines)
