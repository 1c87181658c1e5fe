"""One sampled chip: the cells and converters of every in-memory layer's subarrays.

Draws follow the mapping (:mod:`bsnn_sim.mapping`): replica ``r`` of a layer, fan-in
chunk ``k`` and row group ``g`` is one physical subarray with its own cells and its own
``rows_per_phase`` converters, so a layer replicated onto ``R`` replicas sees ``R``
different sets. Output position ``p`` is computed by replica ``p % R``; neuron ``n`` sits
in row ``j = n % rows`` of row group ``n // rows`` and is converted by that subarray's
converter ``j % rows_per_phase``.

Per MTJ (two per cell: ``a`` on BL, ``b`` on BLB; ``w = +1`` programs a = P, b = AP):

    R_P   = R_P0 * exp(sg_R * zg + sl_R * z)                 (log-normal, median R_P0)
    TMR0  = TMR0(T) * max(0, 1 + sg_T * zg' + sl_T * z')     (normal, relative)
    R_on  = R_on0 * exp(sg_A * zg'' + sl_A * z'')            (access transistor)
    R_AP  = R_P * (1 + TMR0 * f_bias)
    G     = 1 / (R_on + R_MTJ)

``zg`` are one draw per chip (global, die-to-die), ``z`` one per MTJ (local);
``f_bias = TMR(V_op) / TMR0`` is the nominal bias factor at the balanced operating
point (:func:`bsnn_sim.energy.cell_conductances`). Faults: a write error leaves an MTJ in
the opposite state (probability ``cell.p_write_error`` per MTJ), a stuck MTJ holds P or
AP (half each) whatever is written (``cell.p_stuck``); read disturb (``cell.p_read_disturb``
per MTJ per sensing of its row) turns an AP MTJ into P, applied between batches.

Row transfer. The source line joins the ``n`` cells of a row; with wire resistance
``r_w`` per cell pitch the node voltages solve the ladder ``(diag(G_a + G_b) + L_w) V =
V_rd g_driven`` (``L_w`` the path Laplacian of the wire, the converter at cell 0). Its
solution is linear in the spikes: ``V_sense = V_rd sum_j z_j (G_b,j + s_j (G_a,j -
G_b,j))`` with ``z`` = the first column of the inverse (``sum_j z_j (G_a,j + G_b,j) = 1``);
without wire ``z_j = 1 / sum (G_a + G_b)``. So each chip layer is stored as
``coef[r, i, n] = V_rd z (G_a - G_b)`` and ``v0[r, k, n] = V_rd sum z G_b + offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import energy
from ..arch import ArchConfig
from ..mapping import Mapping
from ..network import Conv2d, Network
from . import devices
from .converter import ChunkConverters, chunk_converters, noise_sigma_mv


def fan_in_weights(net: Network, name: str) -> np.ndarray:
    """A layer's -1/+1 weights as ``(F, N)`` int8 in the functional pass's fan-in order:
    (ky, kx, c) for a convolution, the stored channels-last (position, channel) order for
    a linear layer."""
    from ..functional import _fan_in_hwc, _stored_shape

    node = net.node(name)
    if isinstance(node, Conv2d):
        w = node.weight.transpose(2, 3, 1, 0).reshape(-1, node.out_features)
    else:
        w = _fan_in_hwc(node.weight, _stored_shape(net, node.input)).reshape(node.out_features, -1).T
    return np.ascontiguousarray(w, np.int8)


def ladder_weights(g_total: np.ndarray, r_wire: float) -> np.ndarray:
    """``z`` for rows of cell conductances ``g_total`` (..., n): the first column of
    ``(diag(g) + L)^-1`` (Thomas algorithm along the row), or ``1 / sum g`` without wire."""
    if r_wire <= 0:
        return np.broadcast_to(1.0 / g_total.sum(axis=-1, keepdims=True), g_total.shape).copy()
    gw = 1.0 / r_wire
    n = g_total.shape[-1]
    diag = g_total.copy()
    diag[..., :-1] += gw
    diag[..., 1:] += gw
    # Solve A z = e_0 with A tridiagonal (diag, off-diagonal -gw): forward sweep, back substitution.
    c = np.empty_like(diag)
    d = np.zeros_like(diag)
    c[..., 0] = -gw / diag[..., 0]
    d[..., 0] = 1.0 / diag[..., 0]
    for j in range(1, n):
        m = diag[..., j] + gw * c[..., j - 1]
        c[..., j] = -gw / m
        d[..., j] = (gw * d[..., j - 1]) / m
    z = np.empty_like(diag)
    z[..., -1] = d[..., -1]
    for j in range(n - 2, -1, -1):
        z[..., j] = d[..., j] - c[..., j] * z[..., j + 1]
    return z


@dataclass
class LayerArray:
    """One in-memory layer's subarrays on one chip (arrays indexed replica, fan-in, neuron)."""

    name: str
    ncol: int  # columns per chunk
    wsign: np.ndarray  # (F, N) int8 programmed weights
    conv: ChunkConverters
    offset_v: np.ndarray  # (R, K, N) static converter offset seen by each neuron's conversions
    r_p: np.ndarray  # (R, F, N, 2) sampled R_P of MTJ a, b
    tmr: np.ndarray  # (R, F, N, 2) sampled TMR0
    r_on: np.ndarray  # (R, F, N, 2) sampled access resistance
    ap: np.ndarray  # (R, F, N, 2) bool: MTJ state is antiparallel
    row_const: np.ndarray  # (R, K, N) int64: N_neg of the row (+ a calibration correction)
    coef: np.ndarray = field(init=False)  # (R, F, N) float32 volts per spike
    v0: np.ndarray = field(init=False)  # (R, K, N) volts with no spike, offset included
    g_sum: float = field(init=False)  # sum of G_a + G_b over all cells (S)

    @property
    def replicas(self) -> int:
        return self.r_p.shape[0]


@dataclass
class Chip:
    """A sampled (or nominal) chip: every in-memory layer's arrays, the noise key."""

    arch: ArchConfig
    layers: dict  # name -> LayerArray
    noise_key: int  # keys the per-conversion noise stream
    noise_sigma_v: float
    f_bias: float
    rng: np.random.Generator  # read-disturb draws (sequential, after the static draws)

    def array_energy_factor(self) -> float:
        """sum (G_a + G_b) over the programmed cells / the same for nominal cells: the chip's
        array current (and sense_array energy) relative to nominal."""
        g_p, g_ap = energy.cell_conductances(self.arch)
        cells = sum(lay.coef.size for lay in self.layers.values())
        return sum(lay.g_sum for lay in self.layers.values()) / (cells * (g_p + g_ap)) if cells else 1.0

    def disturb(self, name: str, sensed: np.ndarray):
        """Read disturb after ``sensed[r, k]`` sensings of each subarray row of layer ``name``:
        each AP MTJ there becomes P with probability 1 - (1 - p)^sensings."""
        p = self.arch.cell.p_read_disturb
        if p <= 0 or not sensed.any():
            return
        lay = self.layers[name]
        chunk_of = np.arange(lay.r_p.shape[1]) // lay.ncol
        n_sense = sensed[:, chunk_of][:, :, None, None]  # (R, F, 1, 1)
        p_flip = 1.0 if p >= 1 else -np.expm1(n_sense * np.log1p(-p))
        flip = lay.ap & (self.rng.random(lay.ap.shape) < p_flip)
        if flip.any():
            lay.ap &= ~flip
            _transfer(lay, self.arch, self.f_bias)


def _transfer(lay: LayerArray, arch: ArchConfig, f_bias: float):
    """coef, v0 and g_sum from the sampled devices and states (module docstring)."""
    r_mtj = np.where(lay.ap, lay.r_p * (1.0 + lay.tmr * f_bias), lay.r_p)
    g = 1.0 / (lay.r_on + r_mtj)  # (R, F, N, 2)
    n_rep, fan_in, n_out, _ = g.shape
    v_rd = arch.subarray.v_read_v
    k_n = -(-fan_in // lay.ncol)
    coef = np.empty((n_rep, fan_in, n_out))
    v0 = np.empty((n_rep, k_n, n_out))
    for k in range(k_n):
        sl = slice(k * lay.ncol, min(fan_in, (k + 1) * lay.ncol))
        gk = g[:, sl]  # (R, n_k, N, 2)
        z = ladder_weights((gk[..., 0] + gk[..., 1]).transpose(0, 2, 1), arch.subarray.r_sl_ohm_per_cell)
        z = z.transpose(0, 2, 1)  # (R, n_k, N)
        coef[:, sl] = v_rd * z * (gk[..., 0] - gk[..., 1])
        v0[:, k] = v_rd * (z * gk[..., 1]).sum(axis=1)
    lay.coef = coef.astype(np.float32)
    lay.v0 = v0 + lay.offset_v
    lay.g_sum = float(g.sum())


def operating_bias_factor(arch: ArchConfig) -> float:
    """TMR(V_op) / TMR0 of the nominal AP branch at the balanced point (1 when TMR0 = 0)."""
    g_p, g_ap = energy.cell_conductances(arch)
    t0 = devices.tmr0(arch)
    if t0 <= 0:
        return 1.0
    r_ap = 1.0 / g_ap - arch.access.r_on_ohm
    return (r_ap / arch.mtj.r_p_ohm - 1.0) / t0


def sample_chip(net: Network, mapping: Mapping, arch: ArchConfig, seed: np.random.SeedSequence | None,
                nominal: bool = False) -> Chip:
    """Draw one chip for ``net`` mapped by ``mapping``; ``nominal``: no variation, no offsets,
    no faults (noise per conversion stays, keyed by ``seed``)."""
    seed = seed if seed is not None else np.random.SeedSequence(0)
    rng = np.random.Generator(np.random.PCG64(seed))
    noise_key = int(seed.generate_state(1, np.uint64)[0])
    m, a, c, cell = arch.mtj, arch.access, arch.converter, arch.cell
    scale = 0.0 if nominal else 1.0
    zg = rng.standard_normal(3) * scale  # global: R_P, TMR, R_on
    f_bias = operating_bias_factor(arch)
    g_p, g_ap = energy.cell_conductances(arch)
    t0 = devices.tmr0(arch)
    sa = arch.subarray
    layers = {}
    for lm in mapping.in_memory_layers:
        w = fan_in_weights(net, lm.name)
        fan_in, n_out = w.shape
        ncol = sa.columns
        k_n = -(-fan_in // ncol)
        nk = np.array([min(ncol, fan_in - k * ncol) for k in range(k_n)])
        neg = (w < 0)
        nneg = np.stack([neg[k * ncol:(k + 1) * ncol].sum(axis=0) for k in range(k_n)])
        conv = chunk_converters(arch, g_p, g_ap, nk)
        shape = (lm.replicas, fan_in, n_out, 2)
        r_p = m.r_p_ohm * np.exp(m.sigma_r_global_rel * zg[0] + scale * m.sigma_r_rel * rng.standard_normal(shape))
        tmr = t0 * np.maximum(0.0, 1.0 + m.sigma_tmr_global_rel * zg[1]
                              + scale * m.sigma_tmr_rel * rng.standard_normal(shape))
        r_on = a.r_on_ohm * np.exp(a.sigma_r_global_rel * zg[2] + scale * a.sigma_r_rel * rng.standard_normal(shape))
        target_ap = np.stack([w < 0, w > 0], axis=-1)[None].repeat(lm.replicas, axis=0)  # a is AP iff w = -1
        ap = target_ap.copy()
        if not nominal and cell.p_write_error > 0:
            ap ^= rng.random(shape) < cell.p_write_error
        if not nominal and cell.p_stuck > 0:
            stuck = rng.random(shape) < cell.p_stuck
            ap = np.where(stuck, rng.random(shape) < 0.5, ap)
        # One static offset per physical converter: (replica, chunk, row group, converter).
        groups = -(-n_out // sa.rows)
        offsets = scale * c.offset_sigma_mv * 1e-3 * rng.standard_normal((lm.replicas, k_n, groups, sa.rows_per_phase))
        n_idx = np.arange(n_out)
        offset_v = offsets[:, :, n_idx // sa.rows, (n_idx % sa.rows) % sa.rows_per_phase]
        row_const = np.array(np.broadcast_to(nneg, (lm.replicas,) + nneg.shape), np.int64)  # a writable copy (calibration adds to it)
        lay = LayerArray(lm.name, ncol, w, conv, offset_v, r_p, tmr, r_on, ap, row_const)
        _transfer(lay, arch, f_bias)
        layers[lm.name] = lay
    return Chip(arch, layers, noise_key, noise_sigma_mv(arch) * 1e-3, f_bias, rng)
