"""Integrate-and-fire and readout neurons over all time steps of a layer, in one call.

Model (weight-format semantics in :mod:`bsnn_sim.network`): the neuron adds the exact
synaptic sum ``I[t]`` on a fixed-point grid with ``F`` fraction bits, subtracts the
folded batch-norm bias ``b``, adds the residual spikes ``r[t]`` scaled by ``g``, fires
iff the membrane reaches the (dynamic) threshold and resets by subtraction; ``U``
starts at 0 and is a signed 64-bit integer (32-bit where a bound on the current proves
that no value can exceed it)::

    U <- U + (I[t] << F) - b + g * r[t]
    s[t] = 1 if U >= theta else 0          (a tie fires)
    U <- U - theta * s[t]

A readout neuron only integrates, ``A = sum_t ((I[t] << F) - b)``, and does not fire.

Accumulator width. With ``acc_bits = a`` the membrane is an ``a``-bit signed register
that *saturates*: after the additions of a step ``U`` is clamped to
``[-2^(a-1), 2^(a-1) - 1]`` before the compare, and each clamp is counted (per step and
image: the ``saturated`` output). A readout accumulator saturates the same way after
each step's addition. Without ``acc_bits`` the arithmetic is exact (64-bit).

Layout. Currents are int32 ``(T', B, M, N)`` (``M`` output positions, 1 for a linear
layer); ``T' = 1`` stands for a static current, the same at every one of the ``T`` steps.
Spikes are bit-packed along the neurons (:mod:`.bits`): ``(T, B, M, ceil(N / 64))``
uint64, neuron ``n`` in bit ``n % 64`` of word ``n // 64``, unused high bits 0. A
residual input is packed the same way with ``T`` or 1 (static) steps.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .bits import WORD_BITS, n_words, nonzero_mask32, popcount, spread_mask32


# Bytes past the end of the flag buffers: the 32-byte loads and stores of the last
# position's last word may run past its neurons.
_PAD_BYTES = 64


@njit(inline="always")
def _pack_flags(fl, n_out, out):
    """0/1 bytes ``fl`` (M * N, neuron-fastest) -> packed words ``out`` (M, Nw), two
    32-byte move-masks per word; returns the number of set bits. Bytes past a
    position's N neurons (the next position's, or padding) are masked off."""
    m_n, n_w = out.shape
    total = 0
    for m in range(m_n):
        base = m * n_out
        for wi in range(n_w):
            start = base + WORD_BITS * wi
            word = nonzero_mask32(fl, start) | (nonzero_mask32(fl, start + 32) << np.uint64(32))
            valid = n_out - WORD_BITS * wi
            if valid < WORD_BITS:
                word &= (np.uint64(1) << np.uint64(valid)) - np.uint64(1)
            out[m, wi] = word
            total += popcount(word)
    return total


@njit(inline="always")
def _spread_flags(words, n_out, rb):
    """Packed words (M, Nw) -> 0/1 bytes ``rb`` (M * N, neuron-fastest), 32-byte stores.
    A position's last store may spill past its N neurons into the next position's bytes
    (written next, positions go in order) or into the padding."""
    m_n, n_w = words.shape
    for m in range(m_n):
        base = m * n_out
        for wi in range(n_w):
            start = base + WORD_BITS * wi
            word = words[m, wi]
            spread_mask32(rb, start, word)
            if n_out - WORD_BITS * wi > 32:
                spread_mask32(rb, start + 32, word >> np.uint64(32))


@njit(inline="always")
def _fire(u, fl, theta_t, i, v):
    """Membrane ``i`` after its additions is ``v``: fire flag and reset by subtraction."""
    fire = v >= theta_t[i]
    mt = u.dtype.type
    u[i] = mt(v - (theta_t[i] & -mt(fire)))
    fl[i] = fire


# Membranes per block of positions in the fire loop: the block's membranes, currents,
# thresholds and flags (~13 bytes each) stay in L1 across the T steps.
_BLOCK_LANES = 2048


@njit(parallel=True, cache=True)
def _integrate_fire(cur, bias_t, theta_t, scale, res, gain_t, lo, hi, clamp, block, spikes, counts,
                    saturated):
    """Fill ``spikes`` (T, B, M, Nw), ``counts`` and ``saturated`` (T, B); ``res`` has 0
    steps when the layer has no residual; membranes are clamped to ``[lo, hi]`` where
    ``clamp``. ``bias_t``, ``theta_t`` and ``gain_t`` are the per-neuron values tiled
    over ``block`` positions (block * N), and ``scale = 2^F`` (wrapped), in the membrane
    type: ``I * scale`` is ``I << F`` (the same bits, even where they wrap), and a
    multiply by a runtime value vectorises where a shift by one does not.

    Per image, the positions go in blocks of ``block``; for each block the T steps run
    inside, each step one flat loop over the block's membranes (every value cast back to
    the membrane type, so that LLVM keeps 32-bit lanes where the membrane is int32). Fire
    flags go to a byte array, packed into words afterwards by 32-byte move-masks; residual
    spikes are spread to bytes the same way. The drive ``I * 2^F - b`` of a static
    current is formed once per block, a per-step current's inside the step's loop
    (except where the membranes clamp, a rare case that keeps a drive array)."""
    steps, b_n, m_n, n_w = spikes.shape
    n_out = cur.shape[3]
    mt = theta_t.dtype.type
    has_res = res.shape[0] > 0
    static = cur.shape[0] == 1
    lanes = block * n_out
    for b in prange(b_n):
        u = np.empty(lanes, theta_t.dtype)
        drive = np.empty(lanes, theta_t.dtype)
        fl = np.zeros(lanes + _PAD_BYTES, np.uint8)
        rb = np.zeros(lanes + _PAD_BYTES, np.uint8)
        for t in range(steps):
            counts[t, b] = 0
            saturated[t, b] = 0
        for m0 in range(0, m_n, block):
            m1 = min(m_n, m0 + block)
            size = (m1 - m0) * n_out
            u[:size] = 0
            for t in range(steps):
                c = cur[min(t, cur.shape[0] - 1), b, m0:m1].ravel()
                if t < cur.shape[0] and (static or clamp):  # a drive array: once if static
                    for i in range(size):
                        drive[i] = mt(mt(mt(c[i]) * scale) - bias_t[i])
                if has_res:
                    _spread_flags(res[min(t, res.shape[0] - 1), b, m0:m1], n_out, rb)
                nclamp = 0
                # One loop per case, each free of the others' work (LLVM does not unswitch
                # a loop on these flags: one loop with branches inside ran 3-5x slower).
                if clamp:  # rb stays 0 without a residual
                    for i in range(size):
                        v = mt(u[i] + drive[i] + (gain_t[i] & -mt(rb[i])))
                        nclamp += (v > hi) + (v < lo)
                        _fire(u, fl, theta_t, i, mt(min(max(v, lo), hi)))
                elif static and has_res:
                    for i in range(size):
                        _fire(u, fl, theta_t, i, mt(u[i] + drive[i] + (gain_t[i] & -mt(rb[i]))))
                elif static:
                    for i in range(size):
                        _fire(u, fl, theta_t, i, mt(u[i] + drive[i]))
                elif has_res:  # the drive of each step formed in the loop itself
                    for i in range(size):
                        _fire(u, fl, theta_t, i, mt(u[i] + mt(mt(mt(c[i]) * scale) - bias_t[i])
                                                    + (gain_t[i] & -mt(rb[i]))))
                else:
                    for i in range(size):
                        _fire(u, fl, theta_t, i, mt(u[i] + mt(mt(mt(c[i]) * scale) - bias_t[i])))
                counts[t, b] += np.int32(_pack_flags(fl, n_out, spikes[t, b, m0:m1]))
                saturated[t, b] += np.int32(nclamp)


@njit(parallel=True, cache=True)
def _readout(cur, steps, bias, frac_bits, lo, hi, acc, saturated):
    """``acc[b, n] = sum over t < steps of (cur[t or 0, b, 0, n] << F) - bias[n]``, the
    running sum clamped to ``[lo, hi]`` after each step (clamps counted per image)."""
    f = np.int64(frac_bits)
    b_n, n_out = acc.shape
    for b in prange(b_n):
        clamped = 0
        for n in range(n_out):
            a = np.int64(0)
            for t in range(steps):
                a += (np.int64(cur[min(t, cur.shape[0] - 1), b, 0, n]) << f) - np.int64(bias[n])
                clamped += (a > hi) + (a < lo)
                a = min(max(a, lo), hi)
            acc[b, n] = a
        saturated[b] = clamped


def _currents(cur: np.ndarray, steps: int) -> np.ndarray:
    """``cur`` checked: C-contiguous int32 ``(T' in {1, steps}, B, M, N)``; no silent casts
    (a cast could wrap a current or hide a dtype bug upstream)."""
    if cur.dtype != np.int32 or cur.ndim != 4 or not cur.flags.c_contiguous:
        raise ValueError(f"currents must be a C-contiguous int32 (T, B, M, N) array, got {cur.dtype} {cur.shape}")
    if cur.shape[0] not in (1, steps):
        raise ValueError(f"currents have {cur.shape[0]} steps; expected 1 (static) or {steps}")
    return cur


def _vector(v: np.ndarray, n_out: int, name: str) -> np.ndarray:
    if v.dtype != np.int32 or v.shape != (n_out,):
        raise ValueError(f"{name} must be int32 of shape ({n_out},), got {v.dtype} {v.shape}")
    return np.ascontiguousarray(v)


def _membrane_type(steps: int, max_abs_current: int | None, frac_bits: int, bias: np.ndarray,
                   res_gain: np.ndarray, acc_bits: int | None = None) -> type:
    """int32 when it provably holds every membrane value, else int64.

    With ``D = (max |I| << F) + max |bias| + max |g|`` every drive term is within
    ``[-D, D]``; the membrane only falls by ``theta`` from a value ``>= theta``, so after
    ``t`` steps both ``U`` and the pre-reset value lie within ``[-t D, t D]``. A
    saturating ``acc_bits`` accumulator keeps ``|U| <= 2^(acc_bits-1)``, so the
    pre-clamp value lies within ``2^(acc_bits-1) + D``.
    """
    if max_abs_current is None:
        return np.int64
    bound = ((int(max_abs_current) << int(frac_bits)) + int(np.abs(bias.astype(np.int64)).max(initial=0))
             + int(np.abs(res_gain.astype(np.int64)).max(initial=0)))
    reach = steps * bound if acc_bits is None else min(steps * bound, 2 ** (acc_bits - 1) + bound)
    return np.int32 if reach < 2**31 else np.int64


def accumulator_range(acc_bits: int | None) -> tuple[int, int]:
    """``(lo, hi)`` of a signed ``acc_bits`` accumulator (64-bit when None)."""
    bits = 64 if acc_bits is None else int(acc_bits)
    if not 2 <= bits <= 64:
        raise ValueError(f"acc_bits must be within 2..64, got {acc_bits}")
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def integrate_and_fire(cur: np.ndarray, steps: int, bias: np.ndarray, theta: np.ndarray,
                       frac_bits: int, res: np.ndarray | None = None,
                       res_gain: np.ndarray | None = None,
                       max_abs_current: int | None = None,
                       acc_bits: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IF neurons over ``steps`` time steps: packed spikes ``(T, B, M, Nw)`` uint64, the
    number of spikes per step and image ``(T, B)`` int32, and the number of membranes
    clamped per step and image ``(T, B)`` int32 (0 without ``acc_bits``).

    ``cur`` int32 ``(T' in {1, T}, B, M, N)``; ``bias``, ``theta`` int32 ``(N,)``;
    ``res`` packed uint64 ``(T' in {1, T}, B, M, Nw)`` and ``res_gain`` int32 ``(N,)``
    are given together or not at all. ``max_abs_current``, a bound on ``|I|`` known to
    the caller (e.g. ``sum |w| * max x``), lets the kernel use 32-bit membranes (twice
    the vector lanes) where they provably cannot overflow; the result is the same.
    ``acc_bits``: saturating membranes of that width (module docstring); every
    threshold must fit, ``theta <= 2^(acc_bits-1) - 1``.
    """
    steps = int(steps)
    lo, hi = accumulator_range(acc_bits)
    cur = _currents(cur, steps)
    _, b_n, m_n, n_out = cur.shape
    n_w = n_words(n_out)
    bias = _vector(bias, n_out, "bias")
    theta = _vector(theta, n_out, "theta")
    if (res is None) != (res_gain is None):
        raise ValueError("res and res_gain must be given together")
    if res is None:
        res, res_gain = np.zeros((0, b_n, m_n, n_w), np.uint64), np.zeros(n_out, np.int32)
    elif res.dtype != np.uint64 or res.shape[0] not in (1, steps) or res.shape[1:] != (b_n, m_n, n_w):
        raise ValueError(f"res must be uint64 ({{1, {steps}}}, {b_n}, {m_n}, {n_w}), got {res.dtype} {res.shape}")
    res_gain = _vector(res_gain, n_out, "res_gain")
    if n_out and int(theta.max()) > hi:
        raise ValueError(f"a threshold {int(theta.max())} does not fit a {acc_bits}-bit accumulator (max {hi})")
    membrane = _membrane_type(steps, max_abs_current, frac_bits, bias, res_gain, acc_bits)
    info = np.iinfo(membrane)
    lo, hi = max(lo, info.min), min(hi, info.max)
    spikes = np.empty((steps, b_n, m_n, n_w), np.uint64)
    counts = np.empty((steps, b_n), np.int32)
    saturated = np.empty((steps, b_n), np.int32)
    clamp = (lo, hi) != (info.min, info.max)  # else no value can leave the range: skip the clamp
    block = max(1, min(m_n, _BLOCK_LANES // max(n_out, 1)))
    bits = info.bits
    scale = (1 << int(frac_bits)) % 2**bits  # 2^F wrapped to the membrane's two's complement
    scale = membrane(scale - 2**bits if scale >= 2 ** (bits - 1) else scale)
    _integrate_fire(cur, np.tile(bias.astype(membrane), block), np.tile(theta.astype(membrane), block),
                    scale, np.ascontiguousarray(res), np.tile(res_gain.astype(membrane), block),
                    membrane(lo), membrane(hi), clamp, block, spikes, counts, saturated)
    return spikes, counts, saturated


def readout_accumulate(cur: np.ndarray, steps: int, bias: np.ndarray, frac_bits: int,
                       acc_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Readout accumulators after ``steps`` steps, int64 ``(B, N)``, from int32 currents
    ``(T' in {1, T}, B, 1, N)``: ``A = sum_t (I[t] << F) - bias`` (saturating at
    ``acc_bits``), and the clamps per image ``(B,)`` int64."""
    steps = int(steps)
    cur = _currents(cur, steps)
    lo, hi = accumulator_range(acc_bits)
    acc = np.empty((cur.shape[1], cur.shape[3]), np.int64)
    saturated = np.empty(cur.shape[1], np.int64)
    _readout(cur, steps, _vector(bias, cur.shape[3], "bias"), int(frac_bits), np.int64(lo), np.int64(hi), acc,
             saturated)
    return acc, saturated


def integrate_and_fire_ref(cur: np.ndarray, steps: int, bias: np.ndarray, theta: np.ndarray,
                           frac_bits: int, res: np.ndarray | None = None,
                           res_gain: np.ndarray | None = None,
                           acc_bits: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy twin of :func:`integrate_and_fire`: unpacked 0/1 arithmetic step by step, the
    spikes packed at the end with ``np.packbits``."""
    lo, hi = accumulator_range(acc_bits)
    cur = np.broadcast_to(cur.astype(np.int64), (steps,) + cur.shape[1:])
    n_out = cur.shape[-1]
    u = np.zeros(cur.shape[1:], np.int64)
    fired = np.zeros(cur.shape, bool)
    saturated = np.zeros((steps, cur.shape[1]), np.int32)
    if res is not None:
        bits = np.unpackbits(res.view(np.uint8), axis=-1, bitorder="little")[..., :n_out]
        r = np.broadcast_to(bits.astype(np.int64), cur.shape)
    for t in range(steps):
        u = u + cur[t] * (np.int64(1) << np.int64(frac_bits)) - bias.astype(np.int64)
        if res is not None:
            u = u + res_gain.astype(np.int64) * r[t]
        saturated[t] = ((u > hi) | (u < lo)).reshape(len(u), -1).sum(axis=1)
        u = np.clip(u, lo, hi)
        fired[t] = u >= theta.astype(np.int64)
        u = u - np.where(fired[t], theta.astype(np.int64), 0)
    pad = -n_out % WORD_BITS
    padded = np.concatenate([fired, np.zeros(fired.shape[:-1] + (pad,), bool)], axis=-1)
    words = np.packbits(padded, axis=-1, bitorder="little").view(np.uint64)
    return words, fired.reshape(steps, cur.shape[1], -1).sum(axis=2).astype(np.int32), saturated


def readout_accumulate_ref(cur: np.ndarray, steps: int, bias: np.ndarray, frac_bits: int,
                           acc_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """NumPy twin of :func:`readout_accumulate`: the running sum clamped step by step."""
    lo, hi = accumulator_range(acc_bits)
    cur = np.broadcast_to(cur.astype(np.int64), (steps,) + cur.shape[1:])[:, :, 0, :]
    acc = np.zeros(cur.shape[1:], np.int64)
    saturated = np.zeros(cur.shape[1], np.int64)
    for t in range(steps):
        acc = acc + cur[t] * (np.int64(1) << np.int64(frac_bits)) - bias.astype(np.int64)
        saturated += ((acc > hi) | (acc < lo)).sum(axis=1)
        acc = np.clip(acc, lo, hi)
    return acc, saturated
