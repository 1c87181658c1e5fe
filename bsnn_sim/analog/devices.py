"""Nominal device values at the operating temperature (no variation).

TMR falls with temperature; the model is linear around 300 K:
``TMR0(T) = TMR0 * max(0, 1 - c (T - 300 K))`` with ``c = mtj.tmr_temp_coeff_per_k``.
R_P and the access transistor are taken temperature-independent (first order).
"""

from __future__ import annotations

from ..arch import ArchConfig

T_REF_K = 300.0


def tmr0(arch: ArchConfig) -> float:
    """Zero-bias TMR (a ratio, not %) at ``technology.temperature_k``."""
    m = arch.mtj
    return m.tmr_pct / 100.0 * max(0.0, 1.0 - m.tmr_temp_coeff_per_k * (arch.technology.temperature_k - T_REF_K))


# Every config key the analog path reads to decide what a chip computes (its sensed counts,
# hence its spikes and activity): device values and spreads, faults, the row's drive and
# geometry, the converter's transfer and noise. Keys that change only energy or timing are
# not here (timing keys are in bsnn_sim.timing.params.TimingParams). A hardware result of an
# analog run carries this record, and re-pricing it with an energy table derived from a
# config whose record differs is refused: that config would have computed other counts.
FUNCTION_KEYS = (
    "technology.temperature_k",
    "mtj.r_p_ohm", "mtj.tmr_pct", "mtj.v_half_v", "mtj.tmr_temp_coeff_per_k", "mtj.sigma_r_rel",
    "mtj.sigma_r_global_rel", "mtj.sigma_tmr_rel", "mtj.sigma_tmr_global_rel",
    "access.r_on_ohm", "access.sigma_r_rel", "access.sigma_r_global_rel",
    "cell.p_write_error", "cell.p_stuck", "cell.p_read_disturb",
    "subarray.rows", "subarray.columns", "subarray.rows_per_phase", "subarray.v_read_v", "subarray.r_sl_ohm_per_cell",
    "sensing.skip_zero_chunks",
    "converter.kind", "converter.bits", "converter.range_fraction", "converter.offset_sigma_mv",
    "converter.noise_sigma_mv", "converter.c_sample_ff", "converter.delay_ns_per_mv", "converter.t_count_ns",
)


# Keys that only the analog path reads (they change the function, never the ideal pass or the
# hardware figures), and among them those that only a sampled chip draws (the nominal chip
# has no variation, offsets or programming faults): a sweep over them needs base.analog, and the
# second kind also base.chips > 0 (bsnn_sim/sweep/spec.py), or every point would silently
# report the same accuracy. Both are subsets of FUNCTION_KEYS.
SAMPLED_ONLY_KEYS = (
    "mtj.sigma_r_rel", "mtj.sigma_r_global_rel", "mtj.sigma_tmr_rel", "mtj.sigma_tmr_global_rel",
    "access.sigma_r_rel", "access.sigma_r_global_rel", "converter.offset_sigma_mv", "cell.p_write_error", "cell.p_stuck",
)
ANALOG_ONLY_KEYS = SAMPLED_ONLY_KEYS + (
    "converter.noise_sigma_mv", "converter.range_fraction", "cell.p_read_disturb", "subarray.r_sl_ohm_per_cell",
)


def function_record(arch: ArchConfig) -> tuple:
    """``((key, value), ...)`` of :data:`FUNCTION_KEYS` for ``arch``."""
    out = []
    for dotted in FUNCTION_KEYS:
        sec, _, key = dotted.partition(".")
        out.append((dotted, getattr(getattr(arch, sec), key)))
    return tuple(out)
