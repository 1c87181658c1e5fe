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
