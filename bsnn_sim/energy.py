"""Energy and area of the STT-MRAM in-memory hardware: physics -> per-action table -> price.

Energy follows the Accelergy split: :func:`action_energies` turns the physical parameters
of an :class:`~bsnn_sim.arch.ArchConfig` into a table of pJ per action, and :func:`price`
multiplies action counts (from a simulation) by that table. Pricing is pure
post-processing, so a new table re-prices a run without re-simulating it.
``docs/calibration.md`` derives every default and the 176.6 TOPS/W calibration.

The circuit (reference.md section 3). A complementary 2T-2MTJ cell stores w = +1 as
(MTJ_a parallel, MTJ_b antiparallel), w = -1 the reverse. A 1-spike drives BL = V_rd,
BLB = 0; a 0-spike the reverse. All cells of a row meet at one source-line node SL.
Symbols used below:

    V_rd      bit-line drive voltage              subarray.v_read_v
    N         columns (synapses) of a row         subarray.columns
    M         rows of a subarray                  subarray.rows
    R_P       parallel MTJ resistance             mtj.r_p_ohm
    TMR0      zero-bias TMR                       mtj.tmr_pct / 100
    V_h       bias halving the TMR                mtj.v_half_v
    R_acc     access-transistor on-resistance     access.r_on_ohm
    C_BL      one bit line: c_bitline_ff + M * cell.c_bl_ff
    C_WL      one word line: N * cell.c_wl_ff
    G_P, G_AP conductance of a branch (access FET + MTJ) whose MTJ is P, AP

Operating point. With nominal devices a row's V_SL = V_rd * A / (A + B), where A is the
conductance of the driven branches and B that of the grounded ones; A + B = N (G_P + G_AP)
whatever the data. We evaluate every branch at the balanced point V_SL = V_rd / 2
(P = N/2), so each branch carries V_rd / 2, split between access FET and MTJ in
proportion to their resistances. R_P is taken bias-independent; R_AP = R_P (1 + TMR(V))
with TMR(V) = TMR0 / (1 + (V / V_h)^2) at the MTJ's own bias V (TMR0 at the die
temperature, :func:`bsnn_sim.analog.devices.tmr0`), solved by fixed-point
iteration (it converges in a few steps: TMR falls as V rises).

More symbols:

    t_on      time one row's current flows (sensing.*_ns): t_drive + t_settle
              + t_latch when the bit lines are held through the latch
              (sensing.hold_through_latch), t_drive + t_settle when they are
              released once the converter has sampled
    eta       efficiency of the V_rd rail from VDD: V_rd / VDD for a linear
              regulator (supply.read_regulator = "ldo"),
              supply.switched_efficiency ("switched"), or 1 ("ideal": a rail
              generated off the macro and not counted, as macro figures do)
    VDD       digital supply                      technology.vdd_v
    C_pre     gate capacitance a column's pre-driver switches per drive:
              (driver.w_pullup_um + driver.w_pulldown_um) * driver.c_gate_ff_per_um
    C_latch   spike latch load per drive           driver.c_latch_ff

Pricing by type. :func:`energy_table` returns an :class:`EnergyTable`: pJ per action
(:mod:`bsnn_sim.actions`) *and* the :class:`~bsnn_sim.timing.params.TimingParams` it
was derived under. A timing result holds every count, leakage block-cycles included, so
energy is the table applied to counts; :func:`bsnn_sim.hardware.reprice` accepts a
table only if its timing record equals the run's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType

from .actions import ACTIONS
from .analog import converter, devices
from .arch import ArchConfig
from .errors import ConfigError, SimulationError
from .timing.params import TimingParams, timing_params

SENSITIVITY_KEYS = ("mtj.r_p_ohm", "mtj.tmr_pct", "mtj.v_half_v", "access.r_on_ohm", "subarray.v_read_v",
                    "sensing.t_settle_ns", "subarray.c_bitline_ff", "cell.c_bl_ff", "converter.fom_fj_per_step",
                    "driver.c_gate_ff_per_um", "driver.c_latch_ff")


def cell_conductances(arch: ArchConfig) -> tuple[float, float]:
    """``(G_P, G_AP)`` in siemens: one cell's branch whose MTJ is parallel, and the other.

    G = 1 / (R_acc + R_MTJ), each branch biased at V_rd / 2 (balanced row, module
    docstring); the antiparallel MTJ sees V = V_rd/2 * R_AP / (R_acc + R_AP) and
    R_AP = R_P (1 + TMR0 / (1 + (V / V_h)^2)), iterated to a fixed point.
    """
    r_p, r_acc = arch.mtj.r_p_ohm, arch.access.r_on_ohm
    tmr0, v_h = devices.tmr0(arch), arch.mtj.v_half_v
    v_branch = arch.subarray.v_read_v / 2.0
    r_ap = r_p * (1.0 + tmr0)
    for _ in range(100):
        v_mtj = v_branch * r_ap / (r_acc + r_ap)
        new = r_p * (1.0 + tmr0 / (1.0 + (v_mtj / v_h) ** 2))
        if abs(new - r_ap) < 1e-12 * r_ap:
            break
        r_ap = new
    return 1.0 / (r_acc + r_p), 1.0 / (r_acc + r_ap)


def bitline_capacitance_ff(arch: ArchConfig) -> float:
    """C_BL = c_bitline_ff + M * c_bl_ff: driver and routing, plus one junction per row."""
    return arch.subarray.c_bitline_ff + arch.subarray.rows * arch.cell.c_bl_ff


def read_rail_efficiency(arch: ArchConfig) -> float:
    """eta: energy delivered on the V_rd rail / energy drawn from VDD."""
    if arch.supply.read_regulator == "ldo":
        return arch.subarray.v_read_v / arch.technology.vdd_v
    if arch.supply.read_regulator == "ideal":
        return 1.0
    return arch.supply.switched_efficiency


def t_on_ns(arch: ArchConfig) -> float:
    """t_on: the time a row's current flows in one sensing: drive + settle + latch, or
    drive + settle when the lines are released once the converter has sampled
    (``sensing.hold_through_latch = false``)."""
    s = arch.sensing
    return s.t_drive_ns + s.t_settle_ns + (s.t_latch_ns if s.hold_through_latch else 0.0)


def pitch_um(arch: ArchConfig) -> float:
    """One subarray pitch: the side of a square of one subarray's area (cells, drivers,
    converters, row accumulators, periphery), the unit of on-chip distance."""
    one = area_um2(arch, 1, 0)
    return math.sqrt(sum(one[k] for k in ("cells", "drivers", "converters", "neurons", "periphery")))


def action_energies(arch: ArchConfig) -> dict[str, float]:
    """Energy of one of each action (:mod:`bsnn_sim.actions`), in pJ.

    - ``sense_array``: one row sensing. Array current for t_on, drawn from VDD through
      the V_rd regulator: E = V_rd^2 / 4 * N (G_P + G_AP) * t_on / eta. (Exact rail
      energy is V_rd^2 AB/(A+B) t_on, largest at the balanced point where it equals this;
      a row with P = 0 or N draws 4 G_P G_AP / (G_P + G_AP)^2 of it, ~87 % with the
      defaults.) When M > 1 the row's word line also pulses: + C_WL * VDD^2. When M = 1
      the word line is tied on and costs nothing.
    - ``drive_bitlines``: one input chunk put on one subarray. Return-to-zero: of each
      column's BL/BLB pair exactly one line is charged from 0 to V_rd and later
      discharged, E = N * C_BL * V_rd^2 / eta from VDD. One drive serves the M rows.
    - ``predrive``: the same chunk's column logic at VDD: the driven line's pull-up gate
      is charged and released and its pull-down gate released and restored (one full
      swing of each), and the spike latch is clocked: E = N (C_pre + C_latch) VDD^2.
    - ``convert``: one conversion of V_SL into an integer at one conversion per sensing
      phase: :func:`bsnn_sim.analog.converter.conversion_energy_pj` (a speed-dependent
      Walden envelope for an ADC, delay stage + counter for time-based sensing).
    - ``neuron_add`` / ``neuron_update`` / ``neuron_fire``: ``neuron.e_*_pj``.
    - ``state_read_bit`` / ``state_write_bit``: one bit of neuron state, at the SRAM
      costs ``buffer.e_read/e_write_pj_per_bit`` (``neuron.state_storage = "sram"``) or
      the register file's ``neuron.reg_e_*_pj_per_bit``.
    - ``buffer_read_bit`` / ``buffer_write_bit``: one spike bit moved through the buffer.
    - ``digital_mac``: one 8x8-bit MAC of the digital unit (first and last layers).
    - ``weight_read_bit``: one weight bit from the digital unit's weight memory
      (``digital.e_weight_read_pj_per_bit``).
    - ``wire_bit_pitch``: one bit over one subarray pitch p of wire, switching with
      probability a: E = a * c_wire * p * VDD^2 (``chip.wire_activity``,
      ``chip.c_wire_ff_per_um``); p = sqrt(area of one subarray) (:func:`pitch_um`).
    - ``psum_pitch``: one partial sum of ``converter.bits`` bits over one pitch.
    - ``leak_*_cycle``: leakage power x t_clk of one block (or bit) for one cycle:
      subarray ``chip.p_leak_uw_per_subarray``, state bit ``buffer.p_leak_pw_per_bit``
      or ``neuron.reg_p_leak_pw_per_bit``, buffer bit ``buffer.p_leak_pw_per_bit``,
      digital unit ``digital.p_leak_uw``, weight bit ``digital.weight_p_leak_pw_per_bit``.
    """
    s, n, vdd = arch.subarray, arch.subarray.columns, arch.technology.vdd_v
    g_p, g_ap = cell_conductances(arch)
    eta = read_rail_efficiency(arch)
    array_j = s.v_read_v ** 2 / 4.0 * n * (g_p + g_ap) * t_on_ns(arch) * 1e-9 / eta
    wordline_fj = n * arch.cell.c_wl_ff * vdd ** 2 if s.rows > 1 else 0.0
    d = arch.driver
    c_pre_ff = (d.w_pullup_um + d.w_pulldown_um) * d.c_gate_ff_per_um
    sram = arch.neuron.state_storage == "sram"
    nr, b = arch.neuron, arch.buffer
    t_clk = arch.technology.t_clk_ns
    wire_pj = arch.chip.wire_activity * arch.chip.c_wire_ff_per_um * pitch_um(arch) * vdd ** 2 * 1e-3
    return {
        "sense_array": array_j * 1e12 + wordline_fj * 1e-3,
        "drive_bitlines": n * bitline_capacitance_ff(arch) * s.v_read_v ** 2 / eta * 1e-3,
        "predrive": n * (c_pre_ff + d.c_latch_ff) * vdd ** 2 * 1e-3,
        "convert": converter.conversion_energy_pj(arch),
        "neuron_add": nr.e_add_pj,
        "neuron_update": nr.e_update_pj,
        "neuron_fire": nr.e_fire_pj,
        "state_read_bit": b.e_read_pj_per_bit if sram else nr.reg_e_read_pj_per_bit,
        "state_write_bit": b.e_write_pj_per_bit if sram else nr.reg_e_write_pj_per_bit,
        "buffer_read_bit": b.e_read_pj_per_bit,
        "buffer_write_bit": b.e_write_pj_per_bit,
        "digital_mac": arch.digital.e_mac_pj,
        "weight_read_bit": arch.digital.e_weight_read_pj_per_bit,
        "wire_bit_pitch": wire_pj,
        "psum_pitch": wire_pj * arch.converter.bits,
        "leak_subarray_cycle": arch.chip.p_leak_uw_per_subarray * t_clk * 1e-3,
        "leak_state_bit_cycle": (b.p_leak_pw_per_bit if sram else nr.reg_p_leak_pw_per_bit) * t_clk * 1e-9,
        "leak_buffer_bit_cycle": b.p_leak_pw_per_bit * t_clk * 1e-9,
        "leak_digital_cycle": arch.digital.p_leak_uw * t_clk * 1e-3,
        "leak_weight_bit_cycle": arch.digital.weight_p_leak_pw_per_bit * t_clk * 1e-9,
    }


@dataclass(frozen=True)
class EnergyTable:
    """pJ per action, and the timing record the energies were derived under.

    Only a run whose own timing record equals ``timing`` may be priced by it
    (:meth:`price_run`); every count that timing decides is then the same as if the
    table's config had been simulated.
    """

    pj: MappingProxyType  # action -> pJ, every action of ACTIONS
    timing: TimingParams
    name: str = ""
    function: tuple = ()  # devices.function_record of the config: what an analog run computed under it

    def check(self, timing: TimingParams, what: str = "run"):
        """Refuse (ConfigError naming the fields) a run whose timing record is not ``timing``."""
        if timing != self.timing:
            raise ConfigError(f"energy table {self.name!r} was derived for another timing than the {what} "
                              f"({'; '.join(self.timing.differences(timing))}); re-pricing changes energies "
                              f"only: re-run the timing")

    def price_run(self, counts: dict, timing: TimingParams, what: str = "run") -> dict:
        """:func:`price` of ``counts`` from a run with timing record ``timing`` (:meth:`check`)."""
        self.check(timing, what)
        return price(counts, self.pj)


def energy_table(arch: ArchConfig) -> EnergyTable:
    """The :class:`EnergyTable` of ``arch``."""
    table = action_energies(arch)
    if tuple(table) != ACTIONS:
        raise SimulationError(f"energy table actions {tuple(table)} differ from the vocabulary {ACTIONS}")
    return EnergyTable(MappingProxyType(table), timing_params(arch), arch.name, devices.function_record(arch))


def price(counts: dict[str, int | float], energies: dict[str, float]) -> dict[str, float]:
    """Energy in pJ per action (count x energy per action) and their ``"total"``.

    Every action counted must be in ``energies`` (an error names the first that is not);
    actions of the table that were not counted are left out. Counts must be finite, >= 0.
    """
    out = {}
    for action, count in counts.items():
        if action not in energies:
            raise SimulationError(f"unknown action {action!r}; known: {', '.join(sorted(energies))}")
        if not (math.isfinite(count) and count >= 0):
            raise SimulationError(f"action {action!r}: count {count!r} must be a finite number >= 0")
        out[action] = count * energies[action]
    out["total"] = sum(out.values())
    return out


def row_sensing_breakdown(arch: ArchConfig) -> dict[str, float]:
    """Energy in pJ of one row sensing, by component, and its ``"total"``.

    Included: the row's array current over t_on (and word line when M > 1), its share
    1/M of the chunk's bit-line drive and of its pre-drivers and latches, and its
    conversion; the V_rd regulator's loss is in the array and drive terms. Excluded: the
    neuron's digital add and update and its state, buffers, leakage.
    """
    e = action_energies(arch)
    m = arch.subarray.rows
    out = {"sense_array": e["sense_array"], "drive_bitlines": e["drive_bitlines"] / m,
           "predrive": e["predrive"] / m, "convert": e["convert"]}
    out["total"] = sum(out.values())
    return out


def row_sensing_energy_pj(arch: ArchConfig) -> float:
    """Energy of one row sensing in pJ, as defined by :func:`row_sensing_breakdown`."""
    return row_sensing_breakdown(arch)["total"]


def ops_per_row_sensing(arch: ArchConfig) -> int:
    """2 N: one synapse is one MAC (a 1-bit x 1-bit product and its addition) = 2 ops."""
    return 2 * arch.subarray.columns


def tops_per_watt(arch: ArchConfig) -> float:
    """ops / energy of one row sensing: 2 N / E_row [pJ] ops per pJ = TOPS/W."""
    return ops_per_row_sensing(arch) / row_sensing_energy_pj(arch)


def sensitivity(arch: ArchConfig, rel: float = 0.1, keys=SENSITIVITY_KEYS) -> dict[str, tuple[float, float]]:
    """TOPS/W with each parameter ``keys`` (``"section.key"``) scaled by 1 - rel and 1 + rel.

    A probe of the energy equations only: the perturbed configs are not validated (a
    settle time of 1.1 ns is not a whole number of cycles, yet its energy is defined).
    """
    out = {}
    for dotted in keys:
        sec, _, key = dotted.partition(".")
        table = getattr(arch, sec)
        out[dotted] = tuple(tops_per_watt(dataclasses.replace(arch, **{sec: dataclasses.replace(
            table, **{key: getattr(table, key) * f})})) for f in (1.0 - rel, 1.0 + rel))
    return out


def area_um2(arch: ArchConfig, n_subarrays: int, n_buffers: int = 1, state_bits: int = 0,
             weight_bits: int = 0) -> dict[str, float]:
    """Area in um^2 of ``n_subarrays`` subarrays, ``n_buffers`` spike buffers,
    ``state_bits`` bits of neuron-state storage, one digital unit and its
    ``weight_bits`` of weight memory.

    Per subarray: M * N cells of area_f2 * F^2 (F = technology node); N column drivers
    (spike latch, BL and BLB drivers); rows_per_phase converters; M row accumulators;
    fixed periphery (word-line driver, SL switch, control). Per chip: the spike buffers
    (capacity_bits cells each), the neuron state (``buffer.area_um2_per_bit`` for SRAM,
    ``neuron.reg_area_um2_per_bit`` for a register file) and the digital unit.
    """
    s = arch.subarray
    f_um = arch.technology.node_nm * 1e-3
    out = {
        "cells": arch.cell.area_f2 * f_um ** 2 * s.rows * s.columns * n_subarrays,
        "drivers": s.driver_area_um2_per_column * s.columns * n_subarrays,
        "converters": arch.converter.area_um2 * s.rows_per_phase * n_subarrays,
        "neurons": arch.neuron.area_um2 * s.rows * n_subarrays,
        "periphery": arch.chip.periphery_area_um2_per_subarray * n_subarrays,
        "buffer": arch.buffer.area_um2_per_bit * arch.buffer.capacity_bits * n_buffers,
        "neuron_state": state_bits * (arch.buffer.area_um2_per_bit if arch.neuron.state_storage == "sram"
                                      else arch.neuron.reg_area_um2_per_bit),
        "digital": arch.digital.area_um2,
        "weights": weight_bits * arch.digital.weight_area_um2_per_bit,
    }
    out["total"] = sum(out.values())
    return out


PAPER_TOPS_PER_W = 176.6  # STT-BSNN, 1x288 subarray (Nguyen et al., IEEE Access 2021)

# The cited (or stated) bounds of each parameter of the row figure: (key, value at the
# low-energy end, value at the high-energy end, where the bounds come from).
ROW_BOUNDS = (
    ("converter.fom_fj_per_step", 2.2, 4.4, "65 nm SARs: 2.2 fJ/step [Harpe13], 4.4 fJ/step [Elzakker10]"),
    ("converter.f_corner_mhz", 300.0, 50.0, "FoM envelope corner 50-300 MHz [Murmann]"),
    ("mtj.tmr_pct", 150.0, 120.0, "TMR 120-150 % (reference.md)"),
    ("subarray.c_bitline_ff", 8.0, 15.0, "bit-line capacitance 8-15 fF (the config's own estimate)"),
    ("sensing.hold_through_latch", False, True,
     "lines released when the converter samples (t_on 1.5 ns) or held through the latch (2 ns)"),
    ("supply.read_regulator", "ideal", "ldo", "V_rd from outside the macro (not counted) or an LDO from VDD"),
    ("driver.c_gate_ff_per_um", 0.8, 1.2, "gate capacitance 0.8-1.2 fF/um at 65 nm (assumption, +-20 %)"),
    ("driver.c_latch_ff", 1.0, 3.0, "spike-latch load 1-3 fF (assumption)"),
)


def row_figure_range(arch: ArchConfig, bounds=ROW_BOUNDS) -> dict:
    """The row figure (TOPS/W) at the nominal config, with every bound at its low- and
    high-energy end together (``"best"``, ``"worst"``), and one parameter at a time
    (``"one_at_a_time"``: key -> (TOPS/W at the low-energy end, at the high-energy end))."""
    def tops(values: dict) -> float:
        return tops_per_watt(arch.replace(**values))

    return {"nominal": tops_per_watt(arch),
            "best": tops({k: lo for k, lo, _, _ in bounds}),
            "worst": tops({k: hi for k, _, hi, _ in bounds}),
            "one_at_a_time": {k: (tops({k: lo}), tops({k: hi})) for k, lo, hi, _ in bounds}}


def calibration_report(arch: ArchConfig) -> str:
    """The derivation of one row sensing's energy, TOPS/W against the paper's 176.6 and
    the sensitivity to +/-10 % of each physical parameter, as text."""
    s = arch.subarray
    g_p, g_ap = cell_conductances(arch)
    rows = row_sensing_breakdown(arch)
    tops = tops_per_watt(arch)
    lines = [
        f"config {arch.name}: {s.rows} x {s.columns} subarray, V_rd = {s.v_read_v} V, "
        f"t_settle = {arch.sensing.t_settle_ns} ns",
        f"  branch P : R = {1 / g_p:9.1f} Ohm   G = {g_p * 1e6:7.2f} uS",
        f"  branch AP: R = {1 / g_ap:9.1f} Ohm   G = {g_ap * 1e6:7.2f} uS   (TMR at the operating bias)",
        f"  bit line C_BL = {bitline_capacitance_ff(arch):.1f} fF",
        "",
        "  component            pJ per row sensing",
    ]
    lines += [f"  {k:<20} {v:8.4f}" for k, v in rows.items()]
    lines += [
        f"  ops per row sensing  {ops_per_row_sensing(arch):8d}   (2 ops per synapse: 1 MAC = 2 ops)",
        f"  TOPS/W               {tops:8.2f}   (paper 1x288: {PAPER_TOPS_PER_W}; {100 * (tops / PAPER_TOPS_PER_W - 1):+.2f} %)",
        "",
        "  parameter                    TOPS/W at -10 %   +10 %",
    ]
    for key, (lo, hi) in sensitivity(arch).items():
        lines.append(f"  {key:<28} {lo:10.1f} {hi:9.1f}")
    rng = row_figure_range(arch)
    lines += ["", f"  row figure over the cited bounds: {rng['worst']:.1f} .. {rng['best']:.1f} TOPS/W "
              f"(nominal {rng['nominal']:.1f}; paper {PAPER_TOPS_PER_W})",
              "  bound (low-energy end .. high-energy end)          TOPS/W"]
    for key, lo, hi, why in ROW_BOUNDS:
        a, b = rng["one_at_a_time"][key]
        lines.append(f"  {key:<28} {str(lo):>7} .. {str(hi):<7} {a:7.1f} .. {b:<7.1f} {why}")
    lines += ["", "  action               pJ per action"]
    lines += [f"  {k:<20} {v:8.4f}" for k, v in action_energies(arch).items()]
    return "\n".join(lines)
