"""Hardware evaluation: mapping + timing + energy + area of a simulated network.

Data flow (one way): the functional pass gives activity traces; :func:`map_network`
places the layers; the SimPy timing pass turns activity into cycles and action counts;
energy is an :class:`~bsnn_sim.energy.EnergyTable` applied to the run's counts (dynamic
actions and leakage block-cycles alike), computed afterwards, so a new energy table
re-prices a result without re-simulating (:func:`reprice`). The table carries the timing
record it was derived under, and a run accepts only a table whose record equals its
own: a change that would alter timing cannot be re-priced, by construction.

Op counting (stated in every report): one synapse = one MAC = 2 ops. ``ops_dense`` is
the network's synaptic ops per inference as if every input were present
(2 x sum over compute layers of P x N x F x T, the figure papers report; a layer whose
input is static computes once, T = 1); ``ops_sensed`` counts only what the hardware
performed: 2 x programmed synapses per row sensing (F / chunks, the mean chunk fill)
for every sensing that was not skipped, plus 2 x digital MACs. TOPS/W = ops / energy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import energy
from .actions import LEAKAGE_ACTIONS
from .arch import ArchConfig
from .energy import EnergyTable
from .errors import ConfigError, MappingError, SimulationError
from .mapping import Mapping, map_network
from .network import INPUT, Network
from .timing import Activity, TimingResult, simulate_timing

OP_CONVENTION = ("1 synapse = 1 MAC = 2 ops; ops_dense = 2*P*N*F*T over all compute layers "
                 "(T = 1 for a layer whose input is static)")


def dense_ops(net: Network, mapping: Mapping, digital_only: bool = False) -> int:
    """2 x synaptic MACs of one inference with every input present (static layers once);
    ``digital_only``: the digital layers' MACs (not doubled)."""
    total = 0
    for lm in mapping.layers:
        if digital_only and lm.in_memory:
            continue
        node = net.node(lm.name)
        steps = 1 if net.is_static(node.input) else net.time_steps
        total += lm.macs_per_step * steps
    return total if digital_only else 2 * total


@dataclass
class HardwareResult:
    arch: ArchConfig  # the simulated config (area, and the row figure of the report)
    mapping: Mapping
    timing: TimingResult
    table: EnergyTable  # prices the counts; its timing record equals timing.params
    ops_dense_per_image: int
    digital_macs_dense_per_image: int = 0  # the digital layers' MACs with every input present
    # The analog path's function record (analog.devices.function_record) when the activity came
    # from an analog run: its counts then also depend on those keys. None: ideal devices.
    function: tuple | None = None

    def __post_init__(self):
        self.table.check(self.timing.params)
        if self.function is not None and self.table.function != self.function:
            theirs = dict(self.table.function)
            diff = [f"{k} {theirs.get(k)!r} vs {v!r}" for k, v in self.function if theirs.get(k) != v]
            raise ConfigError(f"energy table {self.table.name!r} was derived from a config whose analog devices "
                              f"compute other counts than this analog run's ({'; '.join(diff)}); re-run it")

    @property
    def n_images(self) -> int:
        return self.timing.n_images

    def energy_breakdown_pj(self) -> dict:
        """Energy per inference in pJ by action (leakage actions included) and ``total``."""
        bill = self.table.price_run(self.timing.action_totals, self.timing.params)
        return {k: v / self.n_images for k, v in bill.items()}

    def energy_by_layer_pj(self) -> dict:
        """Energy per inference in pJ by layer (and SHARED blocks), and ``total``."""
        out = {layer: self.table.price_run(counts, self.timing.params)["total"] / self.n_images
               for layer, counts in self.timing.actions.items()}
        out["total"] = sum(out.values())
        return out

    def area_um2(self) -> dict:
        """Subarrays used, one spike buffer per buffer edge, the neuron state, the digital
        unit and its weight memory."""
        blocks = self.timing.blocks.values()
        state_bits = sum(b.get("leak_state_bit_cycle", 0) for b in blocks)
        weight_bits = sum(b.get("leak_weight_bit_cycle", 0) for b in blocks)
        return energy.area_um2(self.arch, self.mapping.subarrays_used, len(self.timing.buffer_peak_bits), state_bits,
                               weight_bits)

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
        out = {
            **self.timing.summary(),
            "energy_per_inference_pj": e["total"],
            "energy_breakdown_pj": e,
            "ops_convention": OP_CONVENTION,
            "ops_dense_per_inference": self.ops_dense_per_image,
            "ops_sensed_per_inference": ops_sensed,
            "tops_per_w": self.ops_dense_per_image / e["total"],
            "tops_per_w_sensed": ops_sensed / e["total"],
            "tops_per_w_row_sensing": energy.tops_per_watt(self.arch),
            "energy_by_layer_pj": self.energy_by_layer_pj(),
            "latency_by_layer_ns": self.timing.latency_by_layer_ns(),
            "area_mm2": area_mm2,
            "area_breakdown_um2": area,
            "tops_per_mm2": self.ops_dense_per_image * ips / 1e12 / area_mm2,
            "subarrays_used": self.mapping.subarrays_used,
            "subarrays_available": self.mapping.subarrays_available,
            "cell_utilization": self.mapping.utilization,
            "digital_macs_per_inference": self.timing.action_totals["digital_mac"] / self.n_images,
            "digital_macs_dense_per_inference": self.digital_macs_dense_per_image,
            "utilization": self.timing.utilization,
            "stalls_cycles": self.timing.stalls,
        }
        check_finite(out, self.arch.source)
        return out

    def layer_rows(self) -> list[dict]:
        """Per-layer CSV rows: mapping, action counts, energy per inference."""
        maps = {r["layer"]: r for r in self.mapping.to_rows()}
        pj = self.energy_by_layer_pj()
        return [{**maps[row["layer"]], **row, "energy_pj_per_inference": pj[row["layer"]]}
                for row in self.timing.layer_rows()]

    def report(self) -> str:
        s = self.summary()
        e = s["energy_breakdown_pj"]
        dynamic = ", ".join(f"{k} {v / 1e3:.2f}" for k, v in e.items()
                            if k != "total" and k not in LEAKAGE_ACTIONS and v > 0)
        leak = ", ".join(f"{k.removeprefix('leak_').removesuffix('_cycle')} {e[k] / 1e3:.2f}" for k in LEAKAGE_ACTIONS)
        layers = ", ".join(f"{k} {v / 1e3:.2f}" for k, v in s["energy_by_layer_pj"].items() if k != "total")
        return "\n".join([
            f"latency: mean {s['latency_mean_cycles']:.0f} cycles ({s['latency_mean_ns'] / 1e3:.2f} us), "
            f"p50 {s['latency_p50_ns'] / 1e3:.2f} us, p99 {s['latency_p99_ns'] / 1e3:.2f} us; "
            f"throughput {s['throughput_ips']:,.0f} images/s",
            f"energy per inference: {e['total'] / 1e3:.2f} nJ",
            f"  by action (nJ): {dynamic}",
            f"  leakage (nJ): {leak}",
            f"  by layer (nJ): {layers}",
            f"efficiency: {s['tops_per_w']:.1f} TOPS/W (dense ops), {s['tops_per_w_sensed']:.1f} TOPS/W "
            f"(performed ops); row sensing alone {s['tops_per_w_row_sensing']:.1f} TOPS/W "
            f"[{OP_CONVENTION}]",
            *([f"digital unit: {s['digital_macs_per_inference']:,.0f} of {s['digital_macs_dense_per_inference']:,} "
               f"dense MACs per inference (zero inputs "
               f"{'skipped' if self.timing.params.skip_zero_inputs else 'multiplied'})"]
              if s["digital_macs_dense_per_inference"] else []),
            f"area: {s['area_mm2']:.3f} mm2, {s['tops_per_mm2']:.3f} TOPS/mm2; subarrays "
            f"{s['subarrays_used']}/{s['subarrays_available']}, cell utilization {s['cell_utilization']:.1%}",
            "utilization (busy fraction): " + ", ".join(
                f"{k} {v:.1%}" for k, v in s["utilization"].items() if k.startswith(("subarrays:", "digital"))),
            "stalls (cycles): " + (", ".join(f"{k} {v}" for k, v in s["stalls_cycles"].items() if v) or "none"),
            f"timing simulation: {s['events']} events, {s['wall_s']:.2f} s",
        ])


def check_finite(figures: dict, source: str, prefix: str = ""):
    """Every number of a report (nested dicts) is finite, or a SimulationError names the figure."""
    for key, value in figures.items():
        if isinstance(value, dict):
            check_finite(value, source, f"{prefix}{key}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise SimulationError(f"{source}: the hardware figure {prefix}{key} comes out as {value}; "
                                  "the config's values are out of proportion (docs/config-reference.md)")


def fit(net: Network, arch: ArchConfig) -> Mapping:
    """Map ``net`` onto ``arch`` and check that every spike buffer holds one time step of
    the tensor it carries, before any simulation. A :class:`MappingError` names the
    config file and the key to change."""
    from .timing.costs import edges_of

    mapping = map_network(net, arch)
    edges = [e for e in edges_of(net, arch) if e.producer != INPUT]
    if edges:
        worst = max(edges, key=lambda e: e.bits)
        cap = arch.buffer.capacity_bits
        if worst.bits > cap:
            raise MappingError(f"{arch.source}: buffer.capacity_bits = {cap}: spike buffer '{worst.name}' needs "
                               f"{worst.bits} bits for one time step; allowed: >= {worst.bits} for this network")
    return mapping


def evaluate_hardware(net: Network, activity: Activity, arch: ArchConfig, images=None,
                      pipelined: bool = False, mapping: Mapping | None = None, analog: bool = False
                      ) -> HardwareResult:
    """Map (unless ``mapping``, made for ``arch``, is given), time and price ``net`` on
    ``arch`` for the activity of ``images``; ``analog``: that activity came from the analog
    path, so the result carries ``arch``'s function record (see :func:`reprice`)."""
    from .analog.devices import function_record

    mapping = mapping or map_network(net, arch)
    timing = simulate_timing(net, mapping, arch, activity, images, pipelined=pipelined)
    return HardwareResult(arch, mapping, timing, energy.energy_table(arch), dense_ops(net, mapping),
                          dense_ops(net, mapping, digital_only=True), function_record(arch) if analog else None)


def reprice(result: HardwareResult, table: EnergyTable) -> HardwareResult:
    """The same run priced with another :class:`~bsnn_sim.energy.EnergyTable` (no
    re-simulation): ``reprice(hw, energy_table(other_arch))``.

    A table derived under another timing record than the run's is refused (the error
    names the fields that differ): every timing-relevant parameter reaches the mapping
    and the engine only through that record, so an equal record means equal counts. For
    a run on the analog path the counts also depend on the devices: a table whose function
    record (:data:`bsnn_sim.analog.devices.FUNCTION_KEYS`) differs is refused too.
    Area and the row figure stay those of the simulated config.
    """
    if not isinstance(table, EnergyTable):
        raise ConfigError(f"reprice takes an EnergyTable (bsnn_sim.energy.energy_table(arch)), "
                          f"got {type(table).__name__}")
    return HardwareResult(result.arch, result.mapping, result.timing, table, result.ops_dense_per_image,
                          result.digital_macs_dense_per_image, result.function)


def functional_simulator(net: Network, arch: ArchConfig):
    """The functional pass as ``arch`` runs it: input chunks of ``subarray.columns`` and
    saturating accumulators of ``neuron.acc_bits`` (in-memory layers) and
    ``digital.acc_bits`` (digital layers)."""
    from .functional import FunctionalSimulator

    return FunctionalSimulator(net, arch.subarray.columns, arch.neuron.acc_bits, arch.digital.acc_bits)


def saturation_report(sim_result) -> str:
    """One line: accumulator clamps by layer (per image), or that there were none."""
    n = max(1, len(sim_result.labels))
    hits = {k: int(v.sum()) for k, v in sim_result.saturated.items() if v.sum()}
    if not hits:
        return "accumulator saturation: none"
    return "accumulator saturation (clamps per image): " + ", ".join(f"{k} {v / n:.2f}" for k, v in hits.items())


def activity_of(sim_result) -> Activity:
    """Activity traces of a functional :class:`~bsnn_sim.functional.SimResult`."""
    return Activity.from_dicts(sim_result.active_positions, sim_result.active_chunks, sim_result.spikes,
                               sim_result.digital_macs)

