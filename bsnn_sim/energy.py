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
    t_s       settle time (word line on)          sensing.t_settle_ns
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
"""

from __future__ import annotations

import dataclasses
import math

from .analog import converter, devices
from .arch import ArchConfig
from .errors import SimulationError

ACTIONS = ("sense_array", "drive_bitlines", "convert", "neuron_add", "neuron_update", "neuron_fire",
           "buffer_read_bit", "buffer_write_bit", "digital_mac")

SENSITIVITY_KEYS = ("mtj.r_p_ohm", "mtj.tmr_pct", "mtj.v_half_v", "access.r_on_ohm", "subarray.v_read_v",
                    "sensing.t_settle_ns", "subarray.c_bitline_ff", "cell.c_bl_ff", "converter.fom_fj_per_step")


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


def action_energies(arch: ArchConfig) -> dict[str, float]:
    """Energy of one of each action, in pJ.

    - ``sense_array``: one row sensing. Array current for t_s from the V_rd supply,
      E = V_rd^2 / 4 * N (G_P + G_AP) * t_s. (Exact supply energy is V_rd^2 AB/(A+B) t_s,
      largest at the balanced point where it equals this; a row with P = 0 or N draws
      4 G_P G_AP / (G_P + G_AP)^2 of it, ~87 % with the defaults.) When M > 1 the row's
      word line also pulses: + C_WL * VDD^2. When M = 1 the word line is tied on and
      costs nothing; current flows only while the bit lines are driven.
    - ``drive_bitlines``: one input chunk put on one subarray. Drive is return-to-zero:
      of each column's BL/BLB pair exactly one line is charged from 0 to V_rd and later
      discharged, so E = N * C_BL * V_rd^2 drawn from the V_rd supply. The other line
      stays at 0 and costs nothing. The lines are held while the M rows of the subarray
      are sensed on that chunk (unselected rows draw no current), so one drive serves M
      row sensings.
    - ``convert``: one conversion of V_SL into an integer at one conversion per sensing
      phase: :func:`bsnn_sim.analog.converter.conversion_energy_pj` (a speed-dependent
      Walden envelope for an ADC, delay stage + counter for time-based sensing).
    - ``neuron_add``: one partial sum added into a neuron (``neuron.e_add_pj``).
    - ``neuron_update``: one neuron's per-step update: bias subtraction and threshold
      compare (``neuron.e_update_pj``), for every neuron at every step, input or not.
    - ``neuron_fire``: one output spike: reset by subtraction (``neuron.e_fire_pj``).
    - ``buffer_read_bit`` / ``buffer_write_bit``: one spike bit moved through the buffer.
    - ``digital_mac``: one 8x8-bit MAC of the digital unit (first and last layers).
    """
    s, n = arch.subarray, arch.subarray.columns
    g_p, g_ap = cell_conductances(arch)
    array_j = s.v_read_v ** 2 / 4.0 * n * (g_p + g_ap) * arch.sensing.t_settle_ns * 1e-9
    wordline_fj = n * arch.cell.c_wl_ff * arch.technology.vdd_v ** 2 if s.rows > 1 else 0.0
    return {
        "sense_array": array_j * 1e12 + wordline_fj * 1e-3,
        "drive_bitlines": n * bitline_capacitance_ff(arch) * s.v_read_v ** 2 * 1e-3,
        "convert": converter.conversion_energy_pj(arch),
        "neuron_add": arch.neuron.e_add_pj,
        "neuron_update": arch.neuron.e_update_pj,
        "neuron_fire": arch.neuron.e_fire_pj,
        "buffer_read_bit": arch.buffer.e_read_pj_per_bit,
        "buffer_write_bit": arch.buffer.e_write_pj_per_bit,
        "digital_mac": arch.digital.e_mac_pj,
    }


def leakage_pj_per_cycle(arch: ArchConfig, n_subarrays: int) -> float:
    """Static energy of ``n_subarrays`` subarrays over one clock cycle, in pJ:
    P_leak [uW] * n * t_clk [ns] * 1e-3."""
    return arch.chip.p_leak_uw_per_subarray * n_subarrays * arch.technology.t_clk_ns * 1e-3


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

    Included: the row's array current (and word line when M > 1), its share 1/M of the
    bit-line drive of the chunk, and its conversion. Excluded: the neuron's digital add
    and update, buffers, leakage (the macro figure of merit counts the analog row).
    """
    e = action_energies(arch)
    out = {"sense_array": e["sense_array"], "drive_bitlines": e["drive_bitlines"] / arch.subarray.rows,
           "convert": e["convert"]}
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


def area_um2(arch: ArchConfig, n_subarrays: int, n_buffers: int = 1) -> dict[str, float]:
    """Area in um^2 of ``n_subarrays`` subarrays, ``n_buffers`` spike buffers and one digital unit.

    Per subarray: M * N cells of area_f2 * F^2 (F = technology node); N column drivers
    (spike latch, BL and BLB drivers); rows_per_phase converters; M neurons (one
    accumulator per row); fixed periphery (word-line driver, SL switch, control).
    Per chip: the spike buffers (capacity_bits cells each) and the digital unit.
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
        "digital": arch.digital.area_um2,
    }
    out["total"] = sum(out.values())
    return out


PAPER_TOPS_PER_W = 176.6  # STT-BSNN, 1x288 subarray (Nguyen et al., IEEE Access 2021)


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
    lines += ["", "  action               pJ per action"]
    lines += [f"  {k:<20} {v:8.4f}" for k, v in action_energies(arch).items()]
    return "\n".join(lines)
