"""The sense margin of each in-memory layer, analytically (no sampling).

For a row of ``n`` programmed cells (a layer's largest chunk) at the balanced point
(``V_SL = V_rd / 2``: half the cells drive a P branch, half an AP branch):

    step     = V_rd (G_P - G_AP) / (n (G_P + G_AP))                 one count of V_SL
    sigma_G  = G^2 sqrt((R_P-or-AP * s_R)^2 + (R_AP * s_T * TMR/(1+TMR))^2 + (R_on s_A)^2)
                                                                    per branch (first order)
    sigma_var = V_rd / (n (G_P + G_AP)) * 1/2 * sqrt(n (sigma_GP^2 + sigma_GAP^2))
    sigma_ir = step * sqrt(sum_j (w_j - 1)^2) / 2                   SL wire, random data
    sigma    = sqrt(offset^2 + noise^2 + kT/C + sigma_var^2 + sigma_ir^2)   at the SL node
    p_err    = erfc(step_eff / (2 sqrt(2) sigma))                   per sensing

``s_R``, ``s_T``, ``s_A`` are the local (cell-to-cell) relative spreads; each cell
contributes a driven and a grounded branch, each weighted ``(V_rd / 2) / sum G`` at the
balanced point. ``step_eff = max(step, lsb * step)``: a converter coarser than one count
errs on every input that is not at a bin centre, which ``p_err`` then understates (the
report gives ``lsb_counts``). Global (die-to-die) spreads move the whole chip's gain:
a count ``d`` away from mid-scale is off by about ``d * gain_sigma`` (reported
separately). With source-line wire resistance a match at cell ``j`` counts ``w_j = n (G_P +
G_AP) z_j`` (:func:`bsnn_sim.analog.chip.ladder_weights`, mean 1): ``sigma_ir`` is the
spread this gives for random data, ``sl_ir_error_counts`` the worst error, for ``n / 2``
matches packed at the far end of the row.
"""

from __future__ import annotations

import math

import numpy as np

from .. import energy
from ..arch import ArchConfig
from ..mapping import Mapping
from . import devices
from .chip import ladder_weights, operating_bias_factor
from .converter import ktc_noise_mv, lsb_counts

GONE_COUNTS = 2.0  # sigma (in counts) at and above which the verdict is "gone"


def _branch_sigma_g(g: float, r_mtj: float, r_on: float, tmr: float, arch: ArchConfig, ap: bool) -> float:
    m, a = arch.mtj, arch.access
    var = (r_mtj * m.sigma_r_rel) ** 2 + (r_on * a.sigma_r_rel) ** 2
    if ap and tmr > 0:
        var += (r_mtj * m.sigma_tmr_rel * tmr / (1.0 + tmr)) ** 2
    return g * g * math.sqrt(var)


def row_margin(arch: ArchConfig, n: int, offset_calibrated: bool = False) -> dict:
    """Sense margin of one row of ``n`` programmed cells (module docstring), mV and counts.

    ``offset_calibrated``: the chip's rows were calibrated (``--calibrate``), which removes
    the static offset up to the rounding of the correction to whole counts: the offset
    term becomes that residual, ``step / sqrt(12)`` (the other terms are kept)."""
    g_p, g_ap = energy.cell_conductances(arch)
    v_rd = arch.subarray.v_read_v
    r_on = arch.access.r_on_ohm
    r_p = 1.0 / g_p - r_on
    r_ap = 1.0 / g_ap - r_on
    tmr = r_ap / r_p - 1.0
    g_sum = g_p + g_ap
    step_mv = max(v_rd * (g_p - g_ap) / (n * g_sum), 0.0) * 1e3
    s_p = _branch_sigma_g(g_p, r_p, r_on, tmr, arch, ap=False)
    s_ap = _branch_sigma_g(g_ap, r_ap, r_on, tmr, arch, ap=True)
    var_mv = v_rd / (n * g_sum) * 0.5 * math.sqrt(n * (s_p ** 2 + s_ap ** 2)) * 1e3
    noise_mv = arch.converter.noise_sigma_mv
    ktc_mv = ktc_noise_mv(arch)
    offset_mv = step_mv / math.sqrt(12.0) if offset_calibrated else arch.converter.offset_sigma_mv
    ir_worst, ir_sigma = _ir_error_counts(arch, n, g_p, g_ap)
    ir_mv = ir_sigma * step_mv
    sigma = math.sqrt(offset_mv ** 2 + noise_mv ** 2 + ktc_mv ** 2 + var_mv ** 2 + ir_mv ** 2)
    lsb = lsb_counts(arch, n, step_mv * 1e-3) if step_mv > 0 else math.inf
    step_eff = step_mv * max(1.0, lsb)
    p_err = math.erfc(step_eff / (2.0 * math.sqrt(2.0) * sigma)) if sigma > 0 else (0.0 if step_mv > 0 else 1.0)
    # Global spreads: relative gain error of (G_P - G_AP) / (G_P + G_AP) per chip (first order, numerically).
    gain_sigma = _gain_sigma(arch)
    return {
        "cells": n, "step_mv": step_mv, "sigma_offset_mv": offset_mv, "offset_calibrated": offset_calibrated,
        "sigma_noise_mv": noise_mv, "sigma_ktc_mv": ktc_mv, "sigma_variation_mv": var_mv, "sigma_ir_mv": ir_mv,
        "sigma_total_mv": sigma,
        "sigma_counts": sigma / step_mv if step_mv > 0 else math.inf, "lsb_counts": lsb,
        "p_error_per_sensing": p_err, "gain_sigma_rel": gain_sigma,
        "sl_ir_error_counts": ir_worst,
        "verdict": verdict(step_mv, sigma, lsb),
    }


def verdict(step_mv: float, sigma_mv: float, lsb: float) -> str:
    """``ok``: sigma below a quarter count (p_err < 5 %) and every count resolved;
    ``marginal``: sigma below two counts (errors of a count or two on many sensings: whether
    the network tolerates them is what ``--analog`` and ``--mc`` measure); ``gone``: sigma of
    two counts or more (or no step at all): every sensing is off by several counts."""
    if step_mv <= 0 or sigma_mv >= GONE_COUNTS * step_mv:
        return "gone"
    if sigma_mv < 0.25 * step_mv and lsb <= 1.0:
        return "ok"
    return "marginal"


def _gain_sigma(arch: ArchConfig) -> float:
    """Relative spread of the chip's count gain (G_P - G_AP) / (G_P + G_AP) under the global draws."""
    m, a = arch.mtj, arch.access
    r_on, r_p = a.r_on_ohm, m.r_p_ohm
    t = devices.tmr0(arch)
    f_bias = operating_bias_factor(arch)

    def gain(dr, dt, da):
        rp, ron = r_p * math.exp(dr), r_on * math.exp(da)
        gp, gap = 1.0 / (ron + rp), 1.0 / (ron + rp * (1.0 + t * (1.0 + dt) * f_bias))
        return (gp - gap) / (gp + gap)

    g0 = gain(0.0, 0.0, 0.0)
    if g0 <= 0:
        return math.inf
    h = 1e-4
    parts = [(gain(h, 0, 0) - gain(-h, 0, 0)) / (2 * h) * m.sigma_r_global_rel,
             (gain(0, h, 0) - gain(0, -h, 0)) / (2 * h) * m.sigma_tmr_global_rel,
             (gain(0, 0, h) - gain(0, 0, -h)) / (2 * h) * a.sigma_r_global_rel]
    return math.sqrt(sum(p * p for p in parts)) / g0


def _ir_error_counts(arch: ArchConfig, n: int, g_p: float, g_ap: float) -> tuple[float, float]:
    """Count errors from the wire alone on a nominal row: ``(worst, sigma)``.

    A match at cell ``j`` counts ``w_j = n (G_P + G_AP) z_j`` instead of 1 (``mean w = 1``,
    since ``sum z (G_P + G_AP) = 1``), so ``u - P = sum_j m_j (w_j - 1)``. Worst: n/2 matches
    packed at the far end. Sigma: matches independent with probability 1/2,
    ``sqrt(sum_j (w_j - 1)^2) / 2``."""
    r_w = arch.subarray.r_sl_ohm_per_cell
    if r_w <= 0 or g_p <= g_ap:
        return 0.0, 0.0
    z = ladder_weights(np.full((1, n), g_p + g_ap), r_w)[0]
    w = n * (g_p + g_ap) * z
    worst = float(abs(np.sum(w[n - n // 2:] - 1.0)))
    return worst, float(np.sqrt(np.sum((w - 1.0) ** 2)) / 2.0)


def layer_margins(mapping: Mapping, arch: ArchConfig, offset_calibrated: bool = False) -> dict:
    """:func:`row_margin` of every in-memory layer's largest chunk."""
    return {lm.name: row_margin(arch, min(lm.fan_in, arch.subarray.columns), offset_calibrated)
            for lm in mapping.in_memory_layers}


def margin_report(margins: dict) -> str:
    """A text table of :func:`layer_margins`."""
    if not margins:
        return "sense margin: no in-memory layer (every layer runs on the digital unit)"
    lines = ["sense margin (balanced row, per sensing): step vs sigma of offset, noise, kT/C, local variation, "
             "SL wire (IRmax: worst wire error, counts)",
             f"  {'layer':<14} {'n':>4} {'step mV':>8} {'off':>6} {'noise':>6} {'kT/C':>6} {'var':>6} "
             f"{'IR':>6} {'sigma':>7} {'sig/cnt':>7} {'lsb':>5} {'p_err':>7} {'gain%':>6} {'IRmax':>6}  verdict"]
    for name, m in margins.items():
        lines.append(f"  {name:<14} {m['cells']:>4} {m['step_mv']:>8.3f} {m['sigma_offset_mv']:>6.2f} "
                     f"{m['sigma_noise_mv']:>6.2f} {m['sigma_ktc_mv']:>6.3f} {m['sigma_variation_mv']:>6.3f} "
                     f"{m['sigma_ir_mv']:>6.3f} {m['sigma_total_mv']:>7.3f} {m['sigma_counts']:>7.2f} {m['lsb_counts']:>5.2f} "
                     f"{m['p_error_per_sensing']:>7.3f} {100 * m['gain_sigma_rel']:>6.2f} "
                     f"{m['sl_ir_error_counts']:>6.1f}  {m['verdict']}")
    if any(m["verdict"] == "gone" for m in margins.values()):
        worst = max(margins.values(), key=lambda m: m["sigma_counts"])
        big = max(("offset", worst["sigma_offset_mv"]), ("noise", worst["sigma_noise_mv"]),
                  ("variation", worst["sigma_variation_mv"]), ("SL wire", worst["sigma_ir_mv"]), key=lambda kv: kv[1])
        lines.append(f"  margin gone: sigma is {worst['sigma_counts']:.1f} counts, mostly {big[0]} "
                     f"({big[1]:.2f} mV against a {worst['step_mv']:.3f} mV step)"
                     + ("; a static offset can be calibrated out (--calibrate)" if big[0] == "offset" else ""))
    return "\n".join(lines)
