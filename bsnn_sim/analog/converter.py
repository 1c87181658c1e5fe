"""The converter that turns a row's source-line voltage into the count its neuron adds.

Two kinds (``converter.kind``), chosen once here; both are described by the same
transfer in *count units*, so the kernel never compares strings.

Count units. A row of ``n`` programmed cells on nominal devices gives
``V_SL(P) = V_rd (n G_AP + P (G_P - G_AP)) / (n (G_P + G_AP))`` for ``P`` matches
(XNOR popcount), so one count is ``step = V_rd (G_P - G_AP) / (n (G_P + G_AP))`` volts
and ``u = (V_SL - V_SL(0)) / step`` is the analog value in counts (``u = P`` exactly on
ideal devices). The converter quantizes ``u`` over a window of ``2^bits`` codes of
``lsb`` counts each, centred on ``n / 2``:

    u0   = n / 2 - 2^bits * lsb / 2                    window start
    code = clip(floor((u - u0) / lsb), 0, 2^bits - 1)
    P^   = clip(floor(u0 + (code + 0.5) * lsb + 0.5), 0, n)   (bin centre, to a count)

``adc``: an N-bit ADC whose input range covers ``range_fraction * (n + 1)`` counts:
``lsb = range_fraction * (n + 1) / 2^bits``. With ``range_fraction = 1`` the window is
``[-0.5, n + 0.5]``; it is exact (``P^ = P`` for integer ``u``) when ``lsb <= 1``.

``time``: V_SL sets a delay with slope ``delay_ns_per_mv``, a counter of period
``t_count_ns`` counts it: ``lsb = t_count_ns / delay_ns_per_mv / step_mv``; the
``bits``-wide counter covers ``2^bits * lsb`` counts around ``n / 2`` and needs
``2^bits * t_count_ns`` to count full scale, which must fit one sensing phase.

Energy per conversion (pJ), consistent with the rate the timing model asks of it
(one conversion per sensing phase: ``f_s = 1 / t_sense``):

* ``adc``: Walden, ``E = FoM(f_s) * 2^bits`` with the survey envelope
  ``FoM(f_s) = fom_fj_per_step * sqrt(1 + (f_s / 2 / f_corner)^2)`` (flat at low speed,
  10x per decade above the corner, in Nyquist frequency ``f_s / 2``), and never below the
  thermal bound ``8 k T * SNR`` with ``SNR = 1.5 * 4^bits`` (an ideal ``bits``-bit
  quantizer). Sources and the range of each constant: ``docs/variation.md``.
* ``time``: ``E = e_delay_fj + e_count_fj * 2^bits / 2`` (the delay stage plus a
  counter running half of full scale on average).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from ..arch import ArchConfig

K_BOLTZMANN = 1.380649e-23  # J/K
MIN_STEP_V = 1e-9


class ConverterKind(str, enum.Enum):
    ADC = "adc"
    TIME = "time"


def sample_rate_mhz(arch: ArchConfig) -> float:
    """Conversions per second of one converter, in MHz: one per sensing phase
    (drive + settle + latch)."""
    s = arch.sensing
    return 1e3 / (s.t_drive_ns + s.t_settle_ns + s.t_latch_ns)


def walden_fom_fj(arch: ArchConfig) -> float:
    """The FoM envelope at this converter's rate: ``FoM0 * sqrt(1 + (f_s / 2 / f_corner)^2)``."""
    c = arch.converter
    return c.fom_fj_per_step * math.sqrt(1.0 + (sample_rate_mhz(arch) / 2.0 / c.f_corner_mhz) ** 2)


def thermal_bound_pj(arch: ArchConfig) -> float:
    """``8 k T SNR`` with the SNR of an ideal ``bits``-bit quantizer, in pJ."""
    snr = 1.5 * 4.0 ** arch.converter.bits
    return 8.0 * K_BOLTZMANN * arch.technology.temperature_k * snr * 1e12


def conversion_energy_pj(arch: ArchConfig) -> float:
    """Energy of one conversion in pJ (module docstring)."""
    c = arch.converter
    if ConverterKind(c.kind) is ConverterKind.TIME:
        return (c.e_delay_fj + c.e_count_fj * 2 ** c.bits / 2.0) * 1e-3
    return max(walden_fom_fj(arch) * 2 ** c.bits * 1e-3, thermal_bound_pj(arch))


def ktc_noise_mv(arch: ArchConfig) -> float:
    """kT/C noise of the sampling capacitor, sqrt(k T / C), in mV (0 for a time converter,
    which does not sample onto a capacitor)."""
    c = arch.converter
    if ConverterKind(c.kind) is ConverterKind.TIME or c.c_sample_ff <= 0:
        return 0.0
    return math.sqrt(K_BOLTZMANN * arch.technology.temperature_k / (c.c_sample_ff * 1e-15)) * 1e3


def noise_sigma_mv(arch: ArchConfig) -> float:
    """Total per-conversion noise: thermal and kT/C added in quadrature, in mV."""
    return math.hypot(arch.converter.noise_sigma_mv, ktc_noise_mv(arch))


def lsb_counts(arch: ArchConfig, n: int, step_v: float) -> float:
    """Counts per code for a row of ``n`` programmed cells whose count step is ``step_v``."""
    c = arch.converter
    if ConverterKind(c.kind) is ConverterKind.TIME:
        return c.t_count_ns / c.delay_ns_per_mv / (step_v * 1e3)
    return c.range_fraction * (n + 1) / 2 ** c.bits


@dataclass(frozen=True)
class ChunkConverters:
    """Per fan-in chunk ``k`` of a layer: the nominal transfer and the quantizer.

    ``v_zero[k]`` = V_SL at P = 0 and ``inv_step[k]`` = 1 / step (V^-1) of a nominal
    row of ``nk[k]`` cells; ``u0``, ``lsb`` the window (count units); ``codes`` = 2^bits.
    """

    v_zero: np.ndarray
    inv_step: np.ndarray
    u0: np.ndarray
    lsb: np.ndarray
    nk: np.ndarray
    codes: int

    def as_tuple(self):
        return self.v_zero, self.inv_step, self.u0, self.lsb, self.nk, self.codes

    @property
    def exact(self) -> bool:
        """Every count resolved (lsb <= 1 count) and the window covers 0..n."""
        return bool(np.all(self.lsb <= 1.0) and np.all(self.u0 <= -0.5)
                    and np.all(self.u0 + self.codes * self.lsb >= self.nk + 0.5))


def chunk_converters(arch: ArchConfig, g_p: float, g_ap: float, nk: np.ndarray) -> ChunkConverters:
    """The converters of a layer whose chunks hold ``nk`` cells; ``(g_p, g_ap)`` nominal branches."""
    v_rd = arch.subarray.v_read_v
    nk = np.asarray(nk, np.int64)
    # A converter is designed for the nominal step; with no TMR there is none to design for
    # (floored at 1 nV: every voltage difference then saturates the code).
    step = np.maximum(v_rd * (g_p - g_ap) / (nk * (g_p + g_ap)), MIN_STEP_V)
    v_zero = v_rd * g_ap / (g_p + g_ap) * np.ones(len(nk))
    lsb = np.array([lsb_counts(arch, int(n), float(s)) for n, s in zip(nk, step)])
    codes = 2 ** arch.converter.bits
    u0 = nk / 2.0 - codes * lsb / 2.0
    return ChunkConverters(v_zero, 1.0 / step, u0, lsb, nk, codes)
