"""Hardware evaluation: mapping + timing + energy + area of a simulated network.

Data flow (one way): the functional pass gives activity traces; :func:`map_network`
places the layers; the SimPy timing pass turns activity into cycles and action counts;
energy is action counts x per-action energy (:func:`bsnn_sim.energy.price`) plus
leakage x cycles, computed afterwards, so a new energy table re-prices a result
without re-simulating (:func:`reprice`).

Op counting (stated in every report): one synapse = one MAC = 2 ops. ``ops_dense`` is
the network's synaptic ops per inference as if every input were present
(2 x sum over compute layers of P x N x F x T, the figure papers report; a layer whose
input is static computes once, T = 1); ``ops_sensed`` counts only what the hardware
performed: 2 x programmed synapses per row sensing (F / chunks, the mean chunk fill)
for every sensing that was not skipped, plus 2 x digital MACs. TOPS/W = ops / energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import energy
from .arch import ArchConfig
from .errors import ConfigError
from .mapping import Mapping, map_network
from .network import Network
from .timing import Activity, TimingResult, simulate_timing

OP_CONVENTION = ("1 synapse = 1 MAC = 2 ops; ops_dense = 2*P*N*F*T over all compute layers "
                 "(T = 1 for a layer whose input is static)")


def dense_ops(net: Network, mapping: Mapping) -> int:
    """2 x synaptic MACs of one inference with every input present (static layers once)."""
    total = 0
    for lm in mapping.layers:
        node = net.node(lm.name)
        steps = 1 if net.is_static(node.input) else net.time_steps
        total += 2 * lm.macs_per_step * steps
    return total


@dataclass
class HardwareResult:
    arch: ArchConfig
    mapping: Mapping
    timing: TimingResult
    energies_pj: dict  # action -> pJ per action
    ops_dense_per_image: int

    @property
    def n_images(self) -> int:
        return self.timing.n_images

    def energy_breakdown_pj(self) -> dict:
        """Energy per inference in pJ by action, leakage, and ``total``."""
        bill = energy.price(self.timing.action_totals, self.energies_pj)
        bill.pop("total")
        bill["leakage"] = energy.leakage_pj_per_cycle(self.arch, self.mapping.subarrays_used) * self.timing.total_cycles
        per_image = {k: v / self.n_images for k, v in bill.items()}
        per_image["total"] = sum(per_image.values())
        return per_image

    def area_um2(self) -> dict:
        """Subarrays used, one spike buffer per buffer edge, the digital unit."""
        return energy.area_um2(self.arch, self.mapping.subarrays_used, len(self.timing.buffer_peak_bits))

    def ops_sensed_per_image(self) -> float:
        """2 x (programmed synapses of every row sensing performed + digital MACs) per image."""
        total = 0.0
        for lm in self.mapping.layers:
            counts = self.timing.actions[lm.name]
            if lm.in_memory:
                total += counts["sense_array"] * lm.fan_in / lm.chunks
            total += counts["digital_mac"]
        return 2 * total / self.n_images

    def summary(self) -> dict:
        e = self.energy_breakdown_pj()
        area = self.area_um2()
        area_mm2 = area["total"] * 1e-6
        ops_sensed = self.ops_sensed_per_image()
        ips = self.timing.throughput_ips
        return {
            **self.timing.summary(),
            "energy_per_inference_pj": e["total"],
            "energy_breakdown_pj": e,
            "ops_convention": OP_CONVENTION,
            "ops_dense_per_inference": self.ops_dense_per_image,
            "ops_sensed_per_inference": ops_sensed,
            "tops_per_w": self.ops_dense_per_image / e["total"],
            "tops_per_w_sensed": ops_sensed / e["total"],
            "tops_per_w_row_sensing": energy.tops_per_watt(self.arch),
            "area_mm2": area_mm2,
            "area_breakdown_um2": area,
            "tops_per_mm2": self.ops_dense_per_image * ips / 1e12 / area_mm2,
            "subarrays_used": self.mapping.subarrays_used,
            "subarrays_available": self.mapping.subarrays_available,
            "cell_utilization": self.mapping.utilization,
            "utilization": self.timing.utilization,
            "stalls_cycles": self.timing.stalls,
        }

    def layer_rows(self) -> list[dict]:
        """Per-layer CSV rows: mapping, action counts, energy per inference."""
        maps = {r["layer"]: r for r in self.mapping.to_rows()}
        rows = []
        for row in self.timing.layer_rows():
            name = row["layer"]
            counts = self.timing.actions[name]
            pj = energy.price(counts, self.energies_pj)["total"] / self.n_images
            rows.append({**maps[name], **row, "energy_pj_per_inference": pj})
        return rows

    def report(self) -> str:
        s = self.summary()
        e = s["energy_breakdown_pj"]
        parts = ", ".join(f"{k} {v / 1e3:.2f}" for k, v in e.items() if k != "total" and v > 0)
        return "\n".join([
            f"latency: mean {s['latency_mean_cycles']:.0f} cycles ({s['latency_mean_ns'] / 1e3:.2f} us), "
            f"p50 {s['latency_p50_ns'] / 1e3:.2f} us, p99 {s['latency_p99_ns'] / 1e3:.2f} us; "
            f"throughput {s['throughput_ips']:,.0f} images/s",
            f"energy per inference: {e['total'] / 1e3:.2f} nJ ({parts} nJ)",
            f"efficiency: {s['tops_per_w']:.1f} TOPS/W (dense ops), {s['tops_per_w_sensed']:.1f} TOPS/W "
            f"(performed ops); row sensing alone {s['tops_per_w_row_sensing']:.1f} TOPS/W "
            f"[{OP_CONVENTION}]",
            f"area: {s['area_mm2']:.3f} mm2, {s['tops_per_mm2']:.3f} TOPS/mm2; subarrays "
            f"{s['subarrays_used']}/{s['subarrays_available']}, cell utilization {s['cell_utilization']:.1%}",
            "utilization (busy fraction): " + ", ".join(
                f"{k} {v:.1%}" for k, v in s["utilization"].items() if k.startswith(("subarrays:", "digital"))),
            "stalls (cycles): " + (", ".join(f"{k} {v}" for k, v in s["stalls_cycles"].items() if v) or "none"),
            f"timing simulation: {s['events']} events, {s['wall_s']:.2f} s",
        ])


def evaluate_hardware(net: Network, activity: Activity, arch: ArchConfig, images=None,
                      pipelined: bool = False, mapping: Mapping | None = None) -> HardwareResult:
    """Map (unless ``mapping``, made for ``arch``, is given), time and price ``net`` on
    ``arch`` for the activity of ``images``."""
    mapping = mapping or map_network(net, arch)
    timing = simulate_timing(net, mapping, arch, activity, images, pipelined=pipelined)
    return HardwareResult(arch, mapping, timing, energy.action_energies(arch), dense_ops(net, mapping))


def reprice(result: HardwareResult, arch: ArchConfig) -> HardwareResult:
    """The same run priced with another config's per-action energies (no re-simulation).

    Only energies may differ: a config with another clock, subarray geometry, sensing
    phases or chip size would need a new timing run, and is refused.
    """
    same = ("technology.t_clk_ns", "subarray.rows", "subarray.columns", "subarray.rows_per_phase",
            "sensing", "chip.subarrays", "chip.replication", "buffer.capacity_bits", "buffer.width_bits",
            "buffer.ports", "digital.macs_per_cycle", "neuron.t_update_ns")
    old, new = result.arch.to_dict(), arch.to_dict()
    for key in same:
        sec, _, field = key.partition(".")
        a, b = (old[sec][field], new[sec][field]) if field else (old[sec], new[sec])
        if a != b:
            raise ConfigError(f"{arch.path or arch.name}: {key} differs from the simulated run "
                              f"({b!r} vs {a!r}); re-pricing changes energies only: re-run the timing")
    return HardwareResult(arch, result.mapping, result.timing, energy.action_energies(arch),
                          result.ops_dense_per_image)


def activity_of(sim_result) -> Activity:
    """Activity traces of a functional :class:`~bsnn_sim.functional.SimResult`."""
    return Activity.from_dicts(sim_result.active_positions, sim_result.active_chunks, sim_result.spikes,
                               sim_result.digital_macs)

