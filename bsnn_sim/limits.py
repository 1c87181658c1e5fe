"""Allowed values of every architecture key: unit, range and the physical reason.

One table, :data:`LIMITS`, keyed ``"section.key"``, holds for every field of every
section of :class:`~bsnn_sim.arch.ArchConfig` what a config may set it to. The loader
(:func:`bsnn_sim.arch.from_dict`) checks each value against its entry, and
``docs/config-reference.md`` is generated from it (:func:`reference_table`; run
``python -m bsnn_sim.limits`` to rewrite the table in the document), so a key added
to a section gets its range, unit and reason here, in one place.
``tests/test_limits.py`` fails for a field without an entry.

A range bounds one key alone: what a circuit of that kind can physically be (a bound
is either a physical limit or an order of magnitude beyond every design we know of,
stated in ``why``). Limits that tie keys together (``rows_per_phase <= rows``,
``v_read_v < vdd_v``, ``capacity_bits >= width_bits``, the TMR at the die temperature,
the time converter's count within a sensing phase, the source line's settling, times
that are whole clock cycles) are checked after every key is in range, by
:func:`bsnn_sim.arch._check`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """What one key may hold.

    Numbers: ``lo <= value <= hi`` (``lo < value`` when ``lo_open``). Strings: one of
    ``choices``. Booleans: ``kind`` is bool.
    """

    kind: type
    unit: str
    why: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        """The allowed values as text, e.g. ``"1 <= x <= 4096"`` or ``"one of none, fill"``."""
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "one of " + ", ".join(self.choices)
        num = str if self.kind is int else _num
        low = f"{num(self.lo)} < x" if self.lo_open else f"{num(self.lo)} <= x"
        text = f"{low} <= {num(self.hi)}"
        return text + (" (integer)" if self.kind is int else "")

    def problem(self, value) -> str | None:
        """Why ``value`` (already of the right type) is not allowed; None when it is."""
        if self.kind is str:
            return None if value in self.choices else "not an allowed choice"
        if self.kind is bool:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return "not a finite number"
        if value < self.lo or (self.lo_open and value == self.lo):
            return "below the allowed range"
        if value > self.hi:
            return "above the allowed range"
        return None


def _num(x: float) -> str:
    """1, 0.5, 4096, 1e6, 1e-06 -> "1", "0.5", "4096", "1e6", "1e-6"."""
    if float(x).is_integer() and abs(x) < 1e5:
        return str(int(x))
    return f"{x:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def _real(lo, hi, unit, why, lo_open=False) -> Limit:
    return Limit(float, unit, why, lo, hi, lo_open)


def _int(lo, hi, unit, why) -> Limit:
    return Limit(int, unit, why, lo, hi)


def _flag(why) -> Limit:
    return Limit(bool, "-", why)


def _choice(choices, why) -> Limit:
    return Limit(str, "-", why, choices=tuple(choices))


# Reasons shared by several keys.
_TIME = ("> 0: every phase takes time (a zero-time phase would make latency and throughput "
         "meaningless); <= 1 ms: slower than any memory access; must be a whole number of clock cycles")
_E_OP = ("> 0: every access or operation moves charge; >= 1 aJ is far below one CMOS gate switching "
         "(~0.1-1 fJ); <= 1 nJ is orders of magnitude above any on-chip operation")
_AREA = ("> 0: the block exists; the upper bound is beyond any such block (a reticle-size die is "
         "~850 mm2 = 8.5e8 um2)")

LIMITS: dict[str, Limit] = {
    # [technology]
    "technology.node_nm": _real(1.0, 1000.0, "nm",
        "CMOS feature size F (cell area = area_f2 * F^2): >= 1 nm (a few atoms); <= 1000 nm (older "
        "than any process used with MTJs)"),
    "technology.vdd_v": _real(0.1, 5.0, "V",
        ">= 0.1 V: below it CMOS logic does not switch reliably; <= 5 V: above any core or legacy I/O "
        "supply"),
    "technology.t_clk_ns": _real(0.01, 10000.0, "ns",
        ">= 0.01 ns (100 GHz, beyond any CMOS clock); <= 10 us (100 kHz); every phase time is a whole "
        "number of these cycles"),
    "technology.temperature_k": _real(200.0, 500.0, "K",
        "die temperature: 200-500 K spans cryogenic-adjacent to beyond automotive grade 0 (423 K); "
        "outside it the linear TMR(T) model and CMOS device values no longer hold"),
    # [mtj]
    "mtj.r_p_ohm": _real(10.0, 1e7, "Ohm",
        "parallel MTJ resistance R_P = RA / area: ~0.1-100 Ohm um^2 over 10 nm-1 um pillars gives "
        "~100 Ohm to ~1 MOhm; one decade of margin each way"),
    "mtj.tmr_pct": _real(0.01, 1000.0, "%",
        ">= 0.01 %: below it no sense amplifier tells the two states apart (at TMR = 0 they are the "
        "same); <= 1000 %: above the room-temperature record of CoFeB/MgO junctions (~600 %); also at "
        "technology.temperature_k (checked across keys)"),
    "mtj.v_half_v": _real(0.001, 1e6, "V",
        "bias halving the TMR (measured 0.3-1 V): >= 1 mV (below it no read bias sees any TMR); up to "
        "1e6 V is allowed as an exact stand-in for bias-independent TMR ((V/V_h)^2 < 1e-12)"),
    "mtj.diameter_nm": _real(5.0, 1000.0, "nm",
        "informational (R_P is given directly; no equation reads it): MTJ pillars are ~10 nm-1 um"),
    "mtj.tmr_temp_coeff_per_k": _real(0.0, 0.01, "1/K",
        "relative TMR loss per kelvin above 300 K (measured 0.0015-0.003 /K for CoFeB/MgO); 0 = "
        "temperature-independent; <= 0.01 /K (TMR gone 100 K above room temperature)"),
    "mtj.sigma_r_rel": _real(0.0, 1.0, "-",
        "local sigma of ln R_P (measured ~2-10 %); 0 = none; <= 1 (a factor e per sigma: not a "
        "working process)"),
    "mtj.sigma_r_global_rel": _real(0.0, 1.0, "-", "global (die-to-die) sigma of ln R_P; 0 = none; <= 1"),
    "mtj.sigma_tmr_rel": _real(0.0, 1.0, "-",
        "local relative sigma of the TMR (measured 5-10 %); 0 = none; <= 1 (the TMR's own size)"),
    "mtj.sigma_tmr_global_rel": _real(0.0, 1.0, "-", "global relative sigma of the TMR; 0 = none; <= 1"),
    # [access]
    "access.r_on_ohm": _real(1.0, 1e6, "Ohm",
        "on-resistance of the access transistor in its linear region: ~100 Ohm (very wide) to "
        "~100 kOhm (minimum width, low overdrive); > 0: a transistor always has some"),
    "access.sigma_r_rel": _real(0.0, 1.0, "-",
        "local sigma of ln R_on (5-10 % for matched transistors); 0 = none; <= 1"),
    "access.sigma_r_global_rel": _real(0.0, 1.0, "-", "global (die-to-die) sigma of ln R_on; 0 = none; <= 1"),
    # [cell]
    "cell.area_f2": _real(4.0, 10000.0, "F^2",
        ">= 4 F^2: the densest possible cell (a cross-point); <= 10^4 F^2 (a 100 F x 100 F cell; "
        "2T-2MTJ cells are ~50-300 F^2)"),
    "cell.c_bl_ff": _real(0.0, 100.0, "fF",
        "junction and wire one cell adds to a bit line (~0.1-few fF); <= 100 fF: larger than any "
        "transistor drain"),
    "cell.c_wl_ff": _real(0.0, 100.0, "fF",
        "gates and wire one cell adds to its word line (~1-few fF); <= 100 fF"),
    "cell.p_write_error": _real(0.0, 1.0, "-", "a probability (per MTJ, per programming)"),
    "cell.p_stuck": _real(0.0, 1.0, "-", "a probability (per MTJ)"),
    "cell.p_read_disturb": _real(0.0, 1.0, "-", "a probability (per MTJ, per sensing of its row)"),
    # [subarray]
    "subarray.rows": _int(1, 4096, "rows",
        ">= 1; <= 4096: longer bit lines do not settle in a sensing phase (RC grows with rows^2)"),
    "subarray.columns": _int(1, 4096, "columns",
        ">= 1; <= 4096: a longer source line's wire resistance swamps the cell currents"),
    "subarray.rows_per_phase": _int(1, 4096, "rows",
        ">= 1; at most subarray.rows (checked across keys): each is a row sensed in parallel with its "
        "own converter"),
    "subarray.v_read_v": _real(0.001, 1.5, "V",
        ">= 1 mV: below it one read is under the noise of any sense amplifier; <= 1.5 V: MgO barrier "
        "breakdown; also below technology.vdd_v (checked across keys)"),
    "subarray.c_bitline_ff": _real(0.01, 10000.0, "fF",
        ">= 0.01 fF: a bit line always has its driver's output and some wire (0.01 fF is ~0.05 um of "
        "wire); <= 10 pF: a 1 mm on-chip wire is ~0.2 pF, so larger values are not a single line"),
    "subarray.driver_area_um2_per_column": _real(0.01, 1e5, "um^2",
        "> 0: latch and two drivers exist (~0.01 um^2 is one minimum transistor); <= 1e5 um^2"),
    "subarray.r_sl_ohm_per_cell": _real(0.0, 100.0, "Ohm",
        "source-line wire per cell pitch (realistic 0.06-0.6 Ohm); 0 = an ideal node; <= 100 Ohm, "
        "a resistance comparable to the cells themselves over a row"),
    # [sensing]
    "sensing.t_drive_ns": _real(0.0, 1e6, "ns", _TIME, lo_open=True),
    "sensing.t_settle_ns": _real(0.0, 1e6, "ns", _TIME, lo_open=True),
    "sensing.t_latch_ns": _real(0.0, 1e6, "ns", _TIME, lo_open=True),
    "sensing.skip_zero_chunks": _flag("an all-zero input chunk gives I = 0 exactly: skipping it is exact"),
    "sensing.hold_through_latch": _flag("bit lines held through the latch (true) or released once sampled"),
    "sensing.c_sl_ff_per_column": _real(0.0, 100.0, "fF",
        "source-line node per column: two access-FET sources (~1 fF); <= 100 fF"),
    # [converter]
    "converter.kind": _choice(("adc", "time"), "adc: an N-bit ADC over a voltage range; time: V_SL -> delay, "
                              "counted by a clock (docs/variation.md)"),
    "converter.bits": _int(1, 24, "bits",
        ">= 1; <= 24: no converter resolves more at a sensing rate (energy ~ 2**bits); fewer than "
        "log2(subarray.columns + 1) quantize the counts (docs/variation.md)"),
    "converter.range_fraction": _real(0.0, 1.0, "-",
        "fraction of the row's 0..n counts the ADC input range covers; > 0; <= 1 (the full range)",
        lo_open=True),
    "converter.fom_fj_per_step": _real(0.01, 10000.0, "fJ/step",
        "Walden figure of merit at low speed: >= 0.01 fJ/step, an order of magnitude below the best "
        "reported (~0.2-0.5 fJ/step, Murmann's ADC survey); <= 10 pJ/step, worse than any published "
        "converter"),
    "converter.f_corner_mhz": _real(0.001, 1e6, "MHz",
        "Nyquist rate of the survey envelope's corner (~50-300 MHz); > 0: 1 kHz to 1 THz"),
    "converter.offset_sigma_mv": _real(0.0, 1000.0, "mV",
        "static offset per physical converter (~1-30 mV for a comparator); 0 = none; <= 1 V"),
    "converter.noise_sigma_mv": _real(0.0, 1000.0, "mV",
        "input-referred thermal noise per conversion (~0.1-1 mV); 0 = none; <= 1 V"),
    "converter.c_sample_ff": _real(0.0, 1e6, "fF",
        "sampling capacitor for kT/C noise (a CDAC is ~0.1-5 pF); 0 = no kT/C noise; <= 1 nF"),
    "converter.delay_ns_per_mv": _real(0.0, 1e3, "ns/mV",
        "time kind: delay slope of the V_SL -> delay stage; > 0; <= 1 us per mV", lo_open=True),
    "converter.t_count_ns": _real(0.0, 1e3, "ns",
        "time kind: counter clock period; > 0 (a clock of >= 1 THz is not built); 2**bits periods "
        "must fit one sensing phase (checked across keys)", lo_open=True),
    "converter.e_delay_fj": _real(0.001, 1e6, "fJ",
        "time kind: delay stage energy per conversion (a ~20-inverter stage is ~100 fJ); >= 1 aJ, far "
        "below one gate switching; <= 1 nJ"),
    "converter.e_count_fj": _real(0.001, 1e6, "fJ",
        "time kind: counter energy per counted clock (a few flip-flops, ~5 fJ); >= 1 aJ; <= 1 nJ"),
    "converter.area_um2": _real(1.0, 1e7, "um^2", _AREA),
    # [neuron]
    "neuron.acc_bits": _int(2, 64, "bits",
        "membrane / partial-sum accumulator width of the in-memory layers' neurons (saturating): 2-64 bits"),
    "neuron.e_add_pj": _real(1e-6, 1000.0, "pJ", _E_OP),
    "neuron.e_update_pj": _real(1e-6, 1000.0, "pJ", _E_OP),
    "neuron.e_fire_pj": _real(1e-6, 1000.0, "pJ", _E_OP),
    "neuron.t_update_ns": _real(0.0, 1e6, "ns",
        "0 = the update is folded into the latch phase (sensing.t_latch_ns); <= 1 ms; a whole number of "
        "clock cycles"),
    "neuron.area_um2": _real(1.0, 1e7, "um^2", _AREA),
    "neuron.update_lanes": _int(1, 65536, "neurons", ">= 1; <= 65536 neurons updated in parallel per t_update"),
    "neuron.state_storage": _choice(("sram", "register"), "where membranes live: sram (buffer.* costs) or a register file"),
    "neuron.reg_e_read_pj_per_bit": _real(1e-6, 1000.0, "pJ/bit", _E_OP),
    "neuron.reg_e_write_pj_per_bit": _real(1e-6, 1000.0, "pJ/bit", _E_OP),
    "neuron.reg_area_um2_per_bit": _real(0.01, 1000.0, "um^2/bit", "one flip-flop (~1-10 um^2 at 65 nm); > 0; <= 1000 um^2"),
    "neuron.reg_p_leak_pw_per_bit": _real(0.0, 1e6, "pW/bit", "flip-flop leakage (~10-100 pW); 0 = power-gated; <= 1 uW"),
    # [buffer]
    "buffer.capacity_bits": _int(1, 2**32, "bits",
        ">= buffer.width_bits (one word, checked across keys); <= 2^32 bits (512 MiB): more SRAM than "
        "any conventional die holds"),
    "buffer.width_bits": _int(1, 4096, "bits", ">= 1; <= 4096: one SRAM row read at once"),
    "buffer.ports": _int(1, 16, "ports", ">= 1; <= 16: SRAMs beyond ~8 ports are impractical"),
    "buffer.t_access_ns": _real(0.0, 1e6, "ns", _TIME, lo_open=True),
    "buffer.e_read_pj_per_bit": _real(1e-6, 1000.0, "pJ/bit", _E_OP),
    "buffer.e_write_pj_per_bit": _real(1e-6, 1000.0, "pJ/bit", _E_OP),
    "buffer.area_um2_per_bit": _real(0.001, 1000.0, "um^2/bit",
        ">= 0.001 um^2: below the smallest SRAM cell (~0.01 um^2 at 3 nm); <= 1000 um^2"),
    "buffer.port_sharing": _choice(("shared", "separate"), "shared: reads and writes take turns; separate: 1R1W SRAM"),
    "buffer.port_grant": _choice(("word", "phase"),
        "word: shared ports granted one access at a time, round-robin between read and write; phase: an "
        "access phase (a whole step's words) holds them"),
    "buffer.p_leak_pw_per_bit": _real(0.0, 1e6, "pW/bit", "6T cell leakage (~1-100 pW); 0 = power-gated; <= 1 uW"),
    # [digital]
    "digital.macs_per_cycle": _int(1, 65536, "MACs/cycle", ">= 1; <= 65536: a 256x256 systolic array"),
    "digital.skip_zero_inputs": _flag("event-driven unit: a zero pixel or spike needs no multiply (exact)"),
    "digital.e_mac_pj": _real(1e-6, 1000.0, "pJ", _E_OP),
    "digital.area_um2": _real(1.0, 1e9, "um^2", _AREA),
    "digital.arbitration": _choice(("fifo", "oldest_image"), "order in which the shared unit serves requests"),
    "digital.batch_cycles": _int(0, 10**9, "cycles", "0 = a whole compute phase per request; <= 1e9 cycles"),
    "digital.e_weight_read_pj_per_bit": _real(1e-6, 1000.0, "pJ/bit", _E_OP),
    "digital.weight_area_um2_per_bit": _real(0.001, 1000.0, "um^2/bit", ">= 0.001 um^2: below the smallest SRAM cell; <= 1000"),
    "digital.weight_p_leak_pw_per_bit": _real(0.0, 1e6, "pW/bit", "SRAM cell leakage; 0 = power-gated; <= 1 uW"),
    "digital.p_leak_uw": _real(0.0, 1e6, "uW", "digital unit leakage (~50 uW); 0 = power-gated; <= 1 W"),
    "digital.acc_bits": _int(2, 64, "bits", "accumulator width of the digital layers' neurons: 2-64 bits"),
    # [chip]
    "chip.subarrays": _int(1, 2**20, "subarrays",
        ">= 1; <= 2^20: a million subarrays of the smallest useful size already exceed a reticle; the "
        "configured chip must also fit a 300 mm wafer (checked across keys)"),
    "chip.replication": _choice(("none", "bottleneck", "fill"),
        "none: one copy per layer; bottleneck: the fewest replicas that shorten the slowest stage; fill: "
        "replicate layers onto spare subarrays (bsnn_sim/mapping.py)"),
    "chip.p_leak_uw_per_subarray": _real(0.0, 1e4, "uW",
        "0 = power-gated periphery; <= 10 mW per subarray, more than its whole active power"),
    "chip.periphery_area_um2_per_subarray": _real(0.0, 1e7, "um^2",
        "word-line driver, SL switch and control (0 = counted elsewhere); <= 1e7 um^2"),
    "chip.subarray_budget": _int(0, 2**20, "subarrays", "0 = chip.subarrays; <= 2^20 (as chip.subarrays)"),
    "chip.layer_step": _choice(("store_and_forward", "streaming"), "whether read, sense, update and write overlap"),
    "chip.c_wire_ff_per_um": _real(0.01, 10.0, "fF/um", "global wire capacitance (~0.1-0.3 fF/um); > 0; <= 10"),
    "chip.wire_activity": _real(0.0, 1.0, "-", "a fraction of moved bits that toggle"),
    # [driver]
    "driver.w_pullup_um": _real(0.01, 1000.0, "um", "transistor width: >= a minimum device; <= 1 mm"),
    "driver.w_pulldown_um": _real(0.01, 1000.0, "um", "transistor width: >= a minimum device; <= 1 mm"),
    "driver.c_gate_ff_per_um": _real(0.01, 100.0, "fF/um", "gate capacitance per width (~1 fF/um); <= 100"),
    "driver.c_latch_ff": _real(0.0, 1000.0, "fF", "spike latch load per chunk (~2 fF); <= 1 pF"),
    # [supply]
    "supply.read_regulator": _choice(("ldo", "switched", "ideal"), "how V_rd is made from VDD"),
    "supply.switched_efficiency": _real(0.0, 1.0, "-", "a converter efficiency: > 0; <= 1", lo_open=True),
}

# The largest chip a config may describe: a 300 mm wafer, pi * 150^2 mm2.
MAX_CHIP_AREA_MM2 = math.pi * 150.0 ** 2


def reference_table(sections: dict) -> str:
    """The Markdown table of every key of ``sections`` (``{name: dataclass}``): key, unit,
    default, allowed values and reason, in section and field order."""
    import dataclasses

    lines = ["| key | unit | default | allowed | reason |", "| --- | --- | --- | --- | --- |"]
    for sec, cls in sections.items():
        defaults = cls()
        for f in dataclasses.fields(cls):
            key = f"{sec}.{f.name}"
            lim = LIMITS[key]
            default = getattr(defaults, f.name)
            shown = ("true" if default else "false") if isinstance(default, bool) else (
                f'"{default}"' if isinstance(default, str) else f"{default:g}")
            lines.append(f"| `{key}` | {lim.unit} | {shown} | {lim.allowed()} | {lim.why} |")
    return "\n".join(lines) + "\n"


BEGIN = "<!-- BEGIN KEY TABLE: generated by `python -m bsnn_sim.limits`; do not edit by hand -->"
END = "<!-- END KEY TABLE -->"


def _rewrite_doc(path) -> None:
    from .arch import SECTIONS

    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + BEGIN + "\n" + reference_table(SECTIONS) + END + tail)


if __name__ == "__main__":
    from pathlib import Path

    _rewrite_doc(Path(__file__).resolve().parents[1] / "docs" / "config-reference.md")
