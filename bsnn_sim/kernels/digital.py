"""Event-driven products of the digital unit: int8 weights on uint8 pixels or on spikes.

Model: the digital unit adds a weight row per input event instead of multiplying every
input. A pixel ``p != 0`` adds ``p * w[i, :]``; a spike adds ``w[i, :]``; zeros (about
80 % of an MNIST image, most spikes) cost nothing. The sums are exact int32::

    I[b, n] = sum over inputs i with x[b, i] != 0 of x[b, i] * w[i, n]

which holds while ``max_n sum_i |w[i, n]| * max(x) < 2**31`` (callers check the bound;
for :func:`spike_linear_total` the sum over ``T`` steps must also stay below it).

Layouts (channels-last, weights transposed once so that the neuron loop is innermost):

* :func:`pixel_linear`: ``x`` uint8 ``(B, L)``, ``w`` int8 ``(L, N)`` -> int32 ``(B, N)``;
* :func:`pixel_conv2d`: ``x`` uint8 ``(B, H, W, C)``, ``w`` int8 ``(KH, KW, C, N)``, zero
  padding ``p`` and stride ``s`` -> int32 ``(B, OH, OW, N)``; a pixel ``(iy, ix, c)``
  feeds output ``(oy, ox)`` through tap ``(ky, kx) = (iy + p - oy s, ix + p - ox s)``;
* :func:`spike_linear`: ``x`` packed spikes uint64 ``(R, Lw)`` (input ``i`` is bit
  ``i % 64`` of word ``i // 64``), ``w`` int8 ``(64 Lw, N)`` -> int32 ``(R, N)``; the set
  bits are visited with a count-trailing-zeros loop;
* :func:`spike_linear_total`: the sum of those currents over the ``T`` steps of
  ``(T, B, Lw)`` spikes -> int32 ``(B, N)``, one row per input that fired at all,
  scaled by its spike count (what a readout accumulates).

:func:`pixel_linear` adds four weight rows per pass over the accumulators: the stores,
not the arithmetic, bound that loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .bits import WORD_BITS, trailing_zeros64


@njit(parallel=True, cache=True)
def _pixel_linear(x, w, out):
    """The non-zero pixels of an image are listed first, then added four rows per pass
    over the accumulators (the stores, not the multiplies, bound this loop)."""
    b_n, length = x.shape
    n_out = w.shape[1]
    for b in prange(b_n):
        lit = np.empty(length, np.int64)
        count = 0
        for i in range(length):
            if x[b, i] != 0:
                lit[count] = i
                count += 1
        acc = out[b]
        acc[:] = 0
        q = 0
        while q < count:
            if q + 4 <= count:
                i0, i1, i2, i3 = lit[q], lit[q + 1], lit[q + 2], lit[q + 3]
                p0, p1, p2, p3 = np.int32(x[b, i0]), np.int32(x[b, i1]), np.int32(x[b, i2]), np.int32(x[b, i3])
                r0, r1, r2, r3 = w[i0], w[i1], w[i2], w[i3]
                for n in range(n_out):
                    acc[n] += ((p0 * np.int32(r0[n]) + p1 * np.int32(r1[n]))
                               + (p2 * np.int32(r2[n]) + p3 * np.int32(r3[n])))
                q += 4
            else:
                p0, r0 = np.int32(x[b, lit[q]]), w[lit[q]]
                for n in range(n_out):
                    acc[n] += p0 * np.int32(r0[n])
                q += 1


@njit(parallel=True, cache=True)
def _pixel_conv2d(x, w, y_taps, x_taps, out):
    """``y_taps[iy, ky]`` (``x_taps[ix, kx]``) is the output row (column) that input row
    ``iy`` feeds through kernel row ``ky``, or -1."""
    b_n, h, wd, c_n = x.shape
    kh, kw, _, n_out = w.shape
    for b in prange(b_n):
        ob = out[b]
        ob[:] = 0
        for iy in range(h):
            for ix in range(wd):
                for c in range(c_n):
                    p = np.int32(x[b, iy, ix, c])
                    if p == 0:
                        continue
                    for ky in range(kh):
                        oy = y_taps[iy, ky]
                        if oy < 0:
                            continue
                        for kx in range(kw):
                            ox = x_taps[ix, kx]
                            if ox < 0:
                                continue
                            acc = ob[oy, ox]
                            row = w[ky, kx, c]
                            for n in range(n_out):
                                acc[n] += p * np.int32(row[n])


@njit(parallel=True, cache=True)
def _spike_linear(x, w, out):
    rows, width = x.shape
    n_out = w.shape[1]
    for r in prange(rows):
        acc = out[r]
        acc[:] = 0
        for j in range(width):
            word = x[r, j]
            while word:
                row = w[j * WORD_BITS + trailing_zeros64(word)]
                for n in range(n_out):
                    acc[n] += np.int32(row[n])
                word &= word - np.uint64(1)


@njit(parallel=True, cache=True)
def _spike_linear_total(x, w, out):
    """Per image and input word: the union of the spike words over the steps, then for
    each set bit its spike count times its weight row."""
    steps, b_n, width = x.shape
    n_out = w.shape[1]
    for b in prange(b_n):
        acc = out[b]
        acc[:] = 0
        for j in range(width):
            union = np.uint64(0)
            for t in range(steps):
                union |= x[t, b, j]
            while union:
                bit = trailing_zeros64(union)
                count = np.int32(0)
                for t in range(steps):
                    count += np.int32((x[t, b, j] >> np.uint64(bit)) & np.uint64(1))
                row = w[j * WORD_BITS + bit]
                for n in range(n_out):
                    acc[n] += count * np.int32(row[n])
                union &= union - np.uint64(1)


def _checked(a: np.ndarray, dtype, ndim: int, name: str) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype`` and rank ``ndim``; no silent casts."""
    if a.dtype != dtype or a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D {np.dtype(dtype).name} array, got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a)


def pixel_linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``I[b, n] = sum_i x[b, i] * w[i, n]`` over the non-zero pixels, int32 ``(B, N)``."""
    x = _checked(x, np.uint8, 2, "x")
    w = _checked(w, np.int8, 2, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} inputs, w has {w.shape[0]} rows")
    out = np.empty((x.shape[0], w.shape[1]), np.int32)
    _pixel_linear(x, w, out)
    return out


def _tap_targets(size: int, kernel: int, stride: int, padding: int, out_size: int) -> np.ndarray:
    """``[i, q]`` = the output index ``o`` with ``o stride + q - padding = i``, or -1 (along
    one axis), so that the kernel needs no division."""
    i, q = np.arange(size)[:, None], np.arange(kernel)[None, :]
    num = i + padding - q
    o = num // stride
    return np.where((num >= 0) & (num % stride == 0) & (o < out_size), o, -1)


def pixel_conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """2-D convolution of pixels (zero padding) by scattering every non-zero pixel into
    the outputs it feeds, int32 ``(B, OH, OW, N)`` with ``OH = (H + 2 p - KH) // s + 1``."""
    x = _checked(x, np.uint8, 4, "x")
    w = _checked(w, np.int8, 4, "w")
    b_n, h, wd, c_n = x.shape
    kh, kw, wc, n_out = w.shape
    stride, padding = int(stride), int(padding)
    if wc != c_n or stride < 1 or padding < 0 or h + 2 * padding < kh or wd + 2 * padding < kw:
        raise ValueError(f"weights {w.shape}, stride {stride}, padding {padding} do not fit input {x.shape}")
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.empty((b_n, oh, ow, n_out), np.int32)
    _pixel_conv2d(x, w, _tap_targets(h, kh, stride, padding, oh), _tap_targets(wd, kw, stride, padding, ow), out)
    return out


def _checked_spikes(x: np.ndarray, w: np.ndarray, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed spikes of rank ``ndim`` and int8 weights with one row per bit of a row's words."""
    x = _checked(x, np.uint64, ndim, "x")
    w = _checked(w, np.int8, 2, "w")
    if w.shape[0] != WORD_BITS * x.shape[-1]:
        raise ValueError(f"{x.shape[-1]} words need {WORD_BITS * x.shape[-1]} weight rows, got {w.shape[0]}")
    return x, w


def spike_linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``I[r, n] = sum of w[i, n]`` over the set bits ``i`` of packed spikes, int32 ``(R, N)``."""
    x, w = _checked_spikes(x, w, 2)
    out = np.empty((x.shape[0], w.shape[1]), np.int32)
    _spike_linear(x, w, out)
    return out


def spike_linear_total(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_t I[t, b, n]`` of :func:`spike_linear` over the steps of packed spikes
    ``(T, B, Lw)``, int32 ``(B, N)``: each input that fired adds its weight row once,
    scaled by its number of spikes (a readout needs only this sum)."""
    x, w = _checked_spikes(x, w, 3)
    out = np.empty((x.shape[1], w.shape[1]), np.int32)
    _spike_linear_total(x, w, out)
    return out


def pixel_linear_ref(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`pixel_linear`: a dense int64 matrix product."""
    return (x.astype(np.int64) @ w.astype(np.int64)).astype(np.int32)


def pixel_conv2d_ref(x: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """NumPy twin of :func:`pixel_conv2d`: dense int64 window products, output by output."""
    xp = np.pad(x.astype(np.int64), ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    kh, kw, c_n, n_out = w.shape
    oh = (xp.shape[1] - kh) // stride + 1
    ow = (xp.shape[2] - kw) // stride + 1
    wm = w.astype(np.int64).reshape(kh * kw * c_n, n_out)
    out = np.zeros((x.shape[0], oh, ow, n_out), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            window = xp[:, oy * stride:oy * stride + kh, ox * stride:ox * stride + kw, :]
            out[:, oy, ox] = window.reshape(len(x), -1) @ wm
    return out.astype(np.int32)


def spike_linear_ref(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`spike_linear`: unpack the bits, then a dense int64 product."""
    bits = np.unpackbits(np.ascontiguousarray(x).view(np.uint8), axis=-1, bitorder="little")
    return (bits.astype(np.int64) @ w.astype(np.int64)).astype(np.int32)


def spike_linear_total_ref(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`spike_linear_total`: the spikes of all steps unpacked and
    summed, then a dense int64 product."""
    bits = np.unpackbits(np.ascontiguousarray(x).view(np.uint8), axis=-1, bitorder="little")
    return (bits.astype(np.int64).sum(axis=0) @ w.astype(np.int64)).astype(np.int32)
