"""Integrate-and-fire and readout neuron updates, one time step, in place.

Model (reference.md section 2, weight-format semantics in :mod:`bsnn_sim.network`):
the neuron adds the exact synaptic sum ``I`` on a fixed-point grid with ``F`` fraction
bits, subtracts the folded batch-norm bias ``b``, adds the residual spikes ``r`` scaled
by ``g``, fires iff the membrane reaches the (dynamic) threshold and resets by
subtraction::

    U <- U + (I << F) - b + g * r
    s  = 1 if U >= theta else 0          (a tie fires)
    U <- U - theta * s

A readout neuron only integrates: ``A <- A + (I << F) - b``.

Shapes: ``U`` int64 ``(B, M, N)`` (``M`` output positions, 1 for a linear layer),
``I`` int32 like ``U``, ``r`` uint8 like ``U``; ``b``, ``theta``, ``g`` int32 ``(N,)``.
Any leading shape ``(..., N)`` works as long as the arrays are C-contiguous.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _if_plain(u2, i2, bias, theta, frac_bits, s2):
    rows, n_out = u2.shape
    f = np.int64(frac_bits)
    for r in prange(rows):
        ur = u2[r]
        ir = i2[r]
        sr = s2[r]
        for n in range(n_out):
            v = ur[n] + (np.int64(ir[n]) << f) - np.int64(bias[n])
            th = np.int64(theta[n])
            fire = v >= th
            ur[n] = v - th if fire else v
            sr[n] = np.uint8(fire)


@njit(parallel=True, cache=True)
def _if_residual(u2, i2, bias, theta, frac_bits, res2, gain, s2):
    rows, n_out = u2.shape
    f = np.int64(frac_bits)
    for r in prange(rows):
        ur = u2[r]
        ir = i2[r]
        rr = res2[r]
        sr = s2[r]
        for n in range(n_out):
            v = (ur[n] + (np.int64(ir[n]) << f) - np.int64(bias[n])
                 + np.int64(gain[n]) * np.int64(rr[n]))
            th = np.int64(theta[n])
            fire = v >= th
            ur[n] = v - th if fire else v
            sr[n] = np.uint8(fire)


@njit(parallel=True, cache=True)
def _readout(a2, i2, bias, frac_bits):
    rows, n_out = a2.shape
    f = np.int64(frac_bits)
    for r in prange(rows):
        ar = a2[r]
        ir = i2[r]
        for n in range(n_out):
            ar[n] += (np.int64(ir[n]) << f) - np.int64(bias[n])


def _rows(a: np.ndarray, dtype, name: str, shape=None, writable=False) -> np.ndarray:
    """``a`` as a 2-D (rows, N) view without copying or casting; fails loudly otherwise
    (a silent cast could wrap a current or hide a dtype bug upstream)."""
    if a.dtype != dtype or not a.flags.c_contiguous or (writable and not a.flags.writeable):
        raise ValueError(f"{name} must be a C-contiguous {np.dtype(dtype).name} array")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
    return a.reshape(-1, a.shape[-1])


def _vector(v: np.ndarray, n_out: int, name: str) -> np.ndarray:
    if v.dtype != np.int32 or v.shape != (n_out,):
        raise ValueError(f"{name} must be int32 of shape ({n_out},), got {v.dtype} {v.shape}")
    return np.ascontiguousarray(v)


def if_step(u: np.ndarray, i: np.ndarray, bias: np.ndarray, theta: np.ndarray, frac_bits: int,
            res: np.ndarray | None = None, res_gain: np.ndarray | None = None,
            out: np.ndarray | None = None) -> np.ndarray:
    """One IF step: updates ``u`` (int64) in place and returns the spikes (uint8 0/1).

    ``res``/``res_gain`` are given together or not at all; ``out`` (uint8, shape of
    ``u``) receives the spikes if given.
    """
    n_out = u.shape[-1]
    u2 = _rows(u, np.int64, "u", writable=True)
    i2 = _rows(i, np.int32, "i", shape=u.shape)
    bias = _vector(bias, n_out, "bias")
    theta = _vector(theta, n_out, "theta")
    if out is None:
        out = np.empty(u.shape, np.uint8)
    s2 = _rows(out, np.uint8, "out", shape=u.shape, writable=True)
    if (res is None) != (res_gain is None):
        raise ValueError("res and res_gain must be given together")
    if res is None:
        _if_plain(u2, i2, bias, theta, int(frac_bits), s2)
    else:
        r2 = _rows(res, np.uint8, "res", shape=u.shape)
        _if_residual(u2, i2, bias, theta, int(frac_bits), r2,
                     _vector(res_gain, n_out, "res_gain"), s2)
    return out


def readout_step(a: np.ndarray, i: np.ndarray, bias: np.ndarray, frac_bits: int) -> None:
    """One readout step: ``a += (i << frac_bits) - bias`` in place (``a`` int64)."""
    a2 = _rows(a, np.int64, "a", writable=True)
    i2 = _rows(i, np.int32, "i", shape=a.shape)
    _readout(a2, i2, _vector(bias, a.shape[-1], "bias"), int(frac_bits))


def if_step_ref(u: np.ndarray, i: np.ndarray, bias: np.ndarray, theta: np.ndarray,
                frac_bits: int, res: np.ndarray | None = None,
                res_gain: np.ndarray | None = None) -> np.ndarray:
    """NumPy twin of :func:`if_step` (int64 arithmetic, updates ``u`` in place)."""
    v = u + i.astype(np.int64) * (np.int64(1) << np.int64(frac_bits)) - bias.astype(np.int64)
    if res is not None:
        v = v + res_gain.astype(np.int64) * res.astype(np.int64)
    th = np.broadcast_to(theta.astype(np.int64), v.shape)
    spikes = v >= th
    u[...] = np.where(spikes, v - th, v)
    return spikes.astype(np.uint8)


def readout_step_ref(a: np.ndarray, i: np.ndarray, bias: np.ndarray, frac_bits: int) -> None:
    """NumPy twin of :func:`readout_step`."""
    a += i.astype(np.int64) * (np.int64(1) << np.int64(frac_bits)) - bias.astype(np.int64)
