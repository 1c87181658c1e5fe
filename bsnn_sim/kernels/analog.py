"""Analog row sensing of binary layers on sampled devices: accumulate V_SL, add noise, convert.

One call computes the currents of one in-memory layer for a batch, as a chip with
sampled devices would (the model is derived in ``docs/variation.md``). For every
output position ``p`` (handled by replica ``r = p % R``), fan-in chunk ``k`` and
neuron ``n`` whose chunk holds at least one spike (or every chunk when ``skip`` is
off):

    V   = v0[r, k, n] + sum_{i in chunk k, x_i = 1} coef[r, i, n] + sigma * z
    u   = (V - v_zero[k]) * inv_step[k]                    (analog value, count units)
    c   = clip(floor((u - u0[k]) / lsb[k]), 0, codes - 1)  (converter code)
    P^  = clip(floor(u0[k] + (c + 0.5) * lsb[k] + 0.5), 0, n_k)
    I  += P^ - row_const[r, k, n]

``row_const`` is the constant the neuron subtracts from each converted count: the
row's number of -1 weights ``N_neg`` (so that ``P - N_neg = sum_i w_i x_i``), plus any
per-converter correction found by calibration.

``z`` is a standard normal drawn from a counter-based stream: the SplitMix64 output
at position ``((((image * T + t) * P + p) * N + n) * K + k)`` of the stream keyed
``key``, mapped through a table of 2^16 normal quantiles (``normal_table``). The same
image, step and sensing therefore get the same noise whatever the batch split.

Beside the currents it counts, per batch row, the conversions made and how far the
converted count ``P^`` is from the ideal popcount ``P = nneg + sum_i w_i x_i`` of the
same inputs, ``P^ - row_const - sum_i w_i x_i`` (number of errors, sum of absolute
errors, sum of squared errors, largest absolute error) and, per (replica, chunk), the
sensings made. Given an ``errors`` array ``(rows, P, N, K)`` it also stores every
conversion's error there (calibration).

The spikes' contributions are summed in float32 in fan-in order (``i`` ascending),
the rest in float64: float32 rounding of a 288-term sum is ~1e-7 V against a ~4e-4 V
count. ``analog_conv_ref`` is the plain-NumPy twin: the same float32 sums in the same
order, the same hashes and table, vectorized over positions and neurons.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np
from numba import njit, prange

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
TABLE_BITS = 16
STATS = ("conversions", "errors", "abs_error", "sq_error", "max_abs_error")


@lru_cache(maxsize=1)
def normal_table() -> np.ndarray:
    """Standard normal quantiles at (j + 0.5) / 2^16, j = 0 .. 2^16 - 1 (float64).

    A draw is TABLE[h >> 48] for a uniform 64-bit hash ``h``: Gaussian to 2^-16 in
    probability, tails truncated at +-4.32 sigma (probability beyond: 1.5e-5).
    """
    n = 1 << TABLE_BITS
    inv = NormalDist().inv_cdf
    return np.array([inv((j + 0.5) / n) for j in range(n)], dtype=np.float64)


@njit(inline="always")
def _splitmix(key, counter):
    z = key + (counter + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def splitmix_ref(key: int, counter: np.ndarray) -> np.ndarray:
    """NumPy twin of the stream: output at positions ``counter`` of the stream ``key``."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + (counter.astype(np.uint64) + np.uint64(1)) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(parallel=True, cache=True)
def _analog_conv(x, kh, kw, stride, pad, oh, ow, ncol, coef, wsign, v0, v_zero, inv_step, u0, lsb, codes,
                 nk, row_const, sigma, key, table, image, step, steps, skip, cur, stats, sensed, errors):
    rows, h, w, c = x.shape
    n_rep, _, n_out = coef.shape
    n_chunks = v0.shape[1]
    positions = oh * ow
    keep = errors.shape[0] == rows
    for row in prange(rows):
        acc = np.empty((n_chunks, n_out), np.float32)
        ideal = np.empty((n_chunks, n_out), np.int16)
        total = np.empty(n_out, np.int32)
        active = np.empty(n_chunks, np.bool_)
        base = (np.uint64(image[row]) * np.uint64(steps) + np.uint64(step[row])) * np.uint64(positions)
        conversions = 0
        n_err = 0
        sum_abs = 0
        sum_sq = 0
        worst = 0
        for oy in range(oh):
            for ox in range(ow):
                p = oy * ow + ox
                r = p % n_rep
                acc[:, :] = 0.0
                ideal[:, :] = 0
                active[:] = False
                for ky in range(kh):
                    iy = oy * stride + ky - pad
                    if iy < 0 or iy >= h:
                        continue
                    for kx in range(kw):
                        ix = ox * stride + kx - pad
                        if ix < 0 or ix >= w:
                            continue
                        for ch in range(c):
                            if x[row, iy, ix, ch] != 0:
                                i = (ky * kw + kx) * c + ch
                                k = i // ncol
                                active[k] = True
                                for n in range(n_out):
                                    acc[k, n] += coef[r, i, n]
                                    ideal[k, n] += wsign[i, n]
                total[:] = 0
                for k in range(n_chunks):
                    if skip and not active[k]:
                        continue
                    sensed[row, r, k] += 1
                    conversions += n_out
                    lo, hi, width, start, span = v_zero[k], inv_step[k], lsb[k], u0[k], nk[k]
                    inv_width = 1.0 / width
                    cnt0 = (base + np.uint64(p)) * np.uint64(n_out)
                    for n in range(n_out):
                        v = v0[r, k, n] + np.float64(acc[k, n])
                        if sigma > 0.0:
                            cnt = (cnt0 + np.uint64(n)) * np.uint64(n_chunks) + np.uint64(k)
                            v += sigma * table[_splitmix(key, cnt) >> np.uint64(48)]
                        u = (v - lo) * hi
                        code = min(max(math.floor((u - start) * inv_width), 0.0), codes - 1.0)
                        est = min(max(math.floor(start + (code + 0.5) * width + 0.5), 0.0), span)
                        e = np.int64(est) - row_const[r, k, n]
                        total[n] += e
                        err = e - ideal[k, n]
                        a = abs(err)
                        n_err += a != 0
                        sum_abs += a
                        sum_sq += a * a
                        worst = max(worst, a)
                        if keep:
                            errors[row, p, n, k] = err
                for n in range(n_out):
                    cur[row, p, n] = total[n]
        stats[row, 0] = conversions
        stats[row, 1] = n_err
        stats[row, 2] = sum_abs
        stats[row, 3] = sum_sq
        stats[row, 4] = worst


def analog_conv(x, kernel, stride, pad, out_hw, ncol, coef, wsign, v0, conv, row_const, sigma, key, image, step,
                steps, skip, keep_errors=False):
    """Currents int32 ``(rows, P, N)``, error statistics int64 ``(rows, 5)`` (``STATS``) and
    sensings per (replica, chunk) int64 ``(rows, R, K)`` of one layer on one chip.

    ``x`` uint8 ``(rows, H, W, C)`` 0/1 spikes, channels-last (a linear layer: H = W = 1,
    C = fan-in); ``coef`` float32 ``(R, F, N)`` volts added by a spike of input ``i`` in
    fan-in order (ky, kx, c); ``wsign`` int8 ``(F, N)`` the programmed -1/+1 weights;
    ``v0`` float64 ``(R, K, N)`` the row voltage with no spike, static offset included;
    ``conv`` the per-chunk converter arrays ``(v_zero, inv_step, u0, lsb, nk, codes)``
    (see :class:`bsnn_sim.analog.converter.ChunkConverters`); ``row_const`` int64
    ``(R, K, N)`` the constants subtracted per conversion; ``sigma`` the per-conversion
    noise in volts; ``image`` and ``step`` int64 ``(rows,)`` each row's image index and
    time step, ``steps`` the network's T (they key the noise stream). With
    ``keep_errors`` a fourth result holds every conversion's error, int32
    ``(rows, P, N, K)`` (0 where a chunk was skipped).
    """
    rows = x.shape[0]
    oh, ow = out_hw
    n_rep, _, n_out = coef.shape
    v_zero, inv_step, u0, lsb, nk, codes = conv
    cur = np.zeros((rows, oh * ow, n_out), np.int32)
    stats = np.zeros((rows, len(STATS)), np.int64)
    sensed = np.zeros((rows, n_rep, v0.shape[1]), np.int64)
    errors = np.zeros((rows, oh * ow, n_out, v0.shape[1]) if keep_errors else (0, 0, 0, 0), np.int32)
    _analog_conv(np.ascontiguousarray(x), kernel[0], kernel[1], stride, pad, oh, ow, ncol, coef, wsign, v0, v_zero,
                 inv_step, u0, lsb, int(codes), nk, row_const, float(sigma), np.uint64(key), normal_table(),
                 np.ascontiguousarray(image, np.int64), np.ascontiguousarray(step, np.int64), int(steps), bool(skip),
                 cur, stats, sensed, errors)
    return (cur, stats, sensed, errors) if keep_errors else (cur, stats, sensed)


def analog_conv_ref(x, kernel, stride, pad, out_hw, ncol, coef, wsign, v0, conv, row_const, sigma, key, image, step,
                    steps, skip):
    """NumPy twin of :func:`analog_conv`: im2col, a matrix product per replica, the same
    noise stream and table, vectorized conversion."""
    rows, h, w, c = x.shape
    kh, kw = kernel
    oh, ow = out_hw
    n_rep, fan_in, n_out = coef.shape
    v_zero, inv_step, u0, lsb, nk, codes = conv
    n_chunks = v0.shape[1]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))).astype(np.float64)
    cols = np.empty((rows, oh * ow, fan_in))
    for oy in range(oh):
        for ox in range(ow):
            win = xp[:, oy * stride:oy * stride + kh, ox * stride:ox * stride + kw, :]
            cols[:, oy * ow + ox] = win.reshape(rows, -1)
    chunk_of = np.arange(fan_in) // ncol
    rep = np.arange(oh * ow) % n_rep
    acc = np.zeros((rows, oh * ow, n_chunks, n_out), np.float32)
    ideal = np.zeros((rows, oh * ow, n_chunks, n_out), np.int64)
    active = np.zeros((rows, oh * ow, n_chunks), bool)
    coef_p = coef[rep]  # (P, F, N): each position's replica
    for i in range(fan_in):  # float32 sums in fan-in order, as the kernel adds them
        on = cols[..., i] != 0  # (rows, P)
        k = chunk_of[i]
        acc[:, :, k, :] += np.where(on[..., None], coef_p[None, :, i, :], np.float32(0))
        ideal[:, :, k, :] += np.where(on[..., None], wsign[i].astype(np.int64), 0)
        active[..., k] |= on
    v = v0[rep][None] + acc.astype(np.float64)
    if sigma > 0:
        p, n, k = np.meshgrid(np.arange(oh * ow), np.arange(n_out), np.arange(n_chunks), indexing="ij")
        base = (image.astype(np.uint64) * np.uint64(steps) + step.astype(np.uint64)) * np.uint64(oh * ow)
        with np.errstate(over="ignore"):
            cnt = ((base[:, None, None, None] + p.astype(np.uint64)) * np.uint64(n_out) + n.astype(np.uint64)) \
                * np.uint64(n_chunks) + k.astype(np.uint64)
        z = normal_table()[(splitmix_ref(key, cnt) >> np.uint64(48)).astype(np.int64)]
        v = v + sigma * z.transpose(0, 1, 3, 2)
    u = (v - v_zero[None, None, :, None]) * inv_step[None, None, :, None]
    code = np.clip(np.floor((u - u0[:, None]) * (1.0 / lsb)[:, None]), 0, codes - 1)
    est = np.floor(u0[:, None] + (code + 0.5) * lsb[:, None] + 0.5)
    est = np.clip(est, 0, nk[:, None]).astype(np.int64)
    const = row_const[rep][None]  # (1, P, K, N)
    sensed_mask = np.broadcast_to((active | (not skip))[..., None], est.shape)
    i_k = np.where(sensed_mask, est - const, 0)
    cur = i_k.sum(axis=2).astype(np.int32)
    err = np.where(sensed_mask, est - (const + ideal), 0)
    a = np.abs(err).reshape(rows, -1)
    stats = np.stack([sensed_mask.reshape(rows, -1).sum(1), (a != 0).sum(1), a.sum(1), (a * a).sum(1),
                      a.max(1, initial=0)], axis=1).astype(np.int64)
    sensed = np.zeros((rows, n_rep, n_chunks), np.int64)
    for r in range(n_rep):
        sensed[:, r] = (active[:, rep == r] | (not skip)).sum(axis=1)
    return cur, stats, sensed
