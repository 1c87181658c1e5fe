"""XNOR-popcount products of packed spikes with packed binary weights.

Model: a row of 2T-2MTJ cells senses ``P = #{i : w_i = 2 s_i - 1}`` (XNOR-popcount of the
spike bits against the weight bits, bit 1 = +1). With ``N_neg`` weights equal to -1 the
exact synaptic sum is ``I = sum_i w_i s_i = P - N_neg`` (reference.md section 2).

Every kernel here computes, from packed words (:mod:`.bits`),

    out = sum over words j of popcount(~(x_j ^ w_j))  -  k[n]

where ``k`` = :func:`xnor_offset` = ``N_neg`` plus the unused (0 in both operands, hence
matching) bits. Internally the sum is evaluated as ``64 * words - mismatches - k`` with
``mismatches = sum popcount(x_j ^ w_j)``, which is the same integer.

Convolution layout is channels-last: spikes ``(B, H, W, Cw)`` with channel ``c`` in word
``c // 64``, bit ``c % 64``; weights ``(N, KH, KW, Cw)``; output ``(B, OH, OW, N)`` with
``OH = (H + 2 p - KH) // stride + 1``. A zero-padding tap is the all-zero word (0-spikes).

Speed. The inner loop runs over output neurons ``n`` (weights transposed once to
``(..., N)``), so LLVM vectorises ``ctpop`` (VPOPCNTQ/VPOPCNTD on AVX-512, a PSHUFB
nibble table on AVX2); the taps of one output pixel form a compile-time-sized loop
inside it, so each neuron's sum stays in a register. When a convolution has few
channels, most bits of each per-pixel word are unused; the kernel then uses fewer or
narrower words (bit positions that are 0 in every input word and every weight word
carry no mismatch, so dropping them leaves the result unchanged):

* ``direct``: the padded input as is, ``KH * KW * Cw`` words per output pixel;
* ``narrow``: the same with the low 32 bits of each word when ``C <= 32``: twice as
  many neurons per vector instruction;
* ``rows``: each kernel row of ``KW`` pixels packed densely, ``KH * ceil(KW C / 64)``
  words per output pixel (e.g. 6 instead of 9 for C = 32, 3x3);
* ``patch``: the whole receptive field packed densely, ``ceil(KH KW C / 64)`` words
  (1 instead of 9 for C = 1, 3x3).

The plan with the lowest estimated cost (:func:`conv_plan`) is used; all four give
identical integers. :func:`prepare_conv_weights` lays the weights out for every plan
once, for callers that convolve with the same weights at every time step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from .bits import WORD_BITS, n_words, popcount

_LANES = 8
_NARROW_BITS = 32  # channel bits that fit the low half of a word (the narrow plan)
_TAP_GROUP = 12  # words per output pixel unrolled in one pass of the convolution core


def _has_vector_popcount() -> bool:
    """True when Numba compiles for a CPU with AVX512-VPOPCNTDQ (one-instruction vector
    popcount); otherwise LLVM emulates it (a PSHUFB nibble table on AVX2)."""
    from llvmlite import binding
    from numba.core import config

    if config.CPU_FEATURES is not None:
        return "+avx512vpopcntdq" in config.CPU_FEATURES.split(",")
    return bool(binding.get_host_cpu_features().get("avx512vpopcntdq", False))


# Cost of one repacked piece (a shift/or) relative to one packed word times 8 neurons
# in the product; measured on Zen 4 with and without VPOPCNTQ (see conv_plan).
_PIECE_COST = 1.0 if _has_vector_popcount() else 0.5


def xnor_offset(weight_pm1: np.ndarray) -> np.ndarray:
    """Offset ``k`` per output neuron for weights ``(N, ...)`` of -1/+1 (int8).

    ``k[n] = N_neg[n] + (64 * ceil(L / 64) - L)`` over the flattened fan-in ``L``; for a
    channels-last convolution weight ``(N, KH, KW, C)`` the padding of every pixel's last
    word is counted, ``k[n] = N_neg[n] + KH * KW * (64 * Cw - C)``.
    """
    w = np.asarray(weight_pm1)
    neg = (w.reshape(w.shape[0], -1) < 0).sum(axis=1)
    per_word_run = w.shape[-1]
    runs = int(np.prod(w.shape[1:-1], dtype=np.int64))
    unused = runs * (WORD_BITS * n_words(per_word_run) - per_word_run)
    return (neg + unused).astype(np.int32)


# ---------------------------------------------------------------------------- linear


@njit(inline="always")
def _mismatches(xs, ws):
    """``sum_i popcount(xs[i] ^ ws[i])`` over two equal-length tuples of words, int32."""
    total = 0
    for i in range(len(xs)):
        total += popcount(xs[i] ^ ws[i])
    return np.int32(total)


@njit(parallel=True, cache=True)
def _linear_nvec(x, wt, full, k, out):
    """out[b, n] = full - sum_j popcount(x[b, j] ^ wt[j, n]) - k[n]; lanes over n.

    Four rows share each weight load and four words are summed per update of ``out``
    (the stores, not the popcounts, bound this loop)."""
    rows, width = x.shape
    n_out = wt.shape[1]
    base = np.empty(n_out, np.int32)
    for n in range(n_out):
        base[n] = full - k[n]
    # Neuron blocks keep a slice of wt (<= 256 KiB) in L2 while the rows stream past it.
    nb = min(n_out, max(64, (32768 // max(width, 1)) // 64 * 64))
    n_blocks = (n_out + nb - 1) // nb
    row_blocks = (rows + 3) // 4
    for task in prange(n_blocks * row_blocks):
        n0 = (task // row_blocks) * nb
        n1 = min(n_out, n0 + nb)
        r = (task % row_blocks) * 4
        m = n1 - n0
        bs = base[n0:n1]
        if r + 4 <= rows:
            o0 = out[r, n0:n1]
            o1 = out[r + 1, n0:n1]
            o2 = out[r + 2, n0:n1]
            o3 = out[r + 3, n0:n1]
            o0[:] = bs
            o1[:] = bs
            o2[:] = bs
            o3[:] = bs
            j = 0
            while j < width:
                if j + 4 <= width:
                    x0 = (x[r, j], x[r, j + 1], x[r, j + 2], x[r, j + 3])
                    x1 = (x[r + 1, j], x[r + 1, j + 1], x[r + 1, j + 2], x[r + 1, j + 3])
                    x2 = (x[r + 2, j], x[r + 2, j + 1], x[r + 2, j + 2], x[r + 2, j + 3])
                    x3 = (x[r + 3, j], x[r + 3, j + 1], x[r + 3, j + 2], x[r + 3, j + 3])
                    w0 = wt[j, n0:n1]
                    w1 = wt[j + 1, n0:n1]
                    w2 = wt[j + 2, n0:n1]
                    w3 = wt[j + 3, n0:n1]
                    for n in range(m):
                        ws = (w0[n], w1[n], w2[n], w3[n])
                        o0[n] -= _mismatches(x0, ws)
                        o1[n] -= _mismatches(x1, ws)
                        o2[n] -= _mismatches(x2, ws)
                        o3[n] -= _mismatches(x3, ws)
                    j += 4
                else:
                    x0_, x1_, x2_, x3_ = x[r, j], x[r + 1, j], x[r + 2, j], x[r + 3, j]
                    w0 = wt[j, n0:n1]
                    for n in range(m):
                        wv = w0[n]
                        o0[n] -= np.int32(popcount(x0_ ^ wv))
                        o1[n] -= np.int32(popcount(x1_ ^ wv))
                        o2[n] -= np.int32(popcount(x2_ ^ wv))
                        o3[n] -= np.int32(popcount(x3_ ^ wv))
                    j += 1
        else:
            for q in range(r, rows):
                o0 = out[q, n0:n1]
                o0[:] = bs
                for j in range(width):
                    x0_ = x[q, j]
                    w0 = wt[j, n0:n1]
                    for n in range(m):
                        o0[n] -= np.int32(popcount(x0_ ^ w0[n]))


@njit(parallel=True, cache=True)
def _linear_jvec(x, w, full, k, out):
    """Same product with lanes over the words j (for few output neurons)."""
    rows, width = x.shape
    n_out = w.shape[0]
    for b in prange(rows):
        for n in range(n_out):
            acc = 0
            for j in range(width):
                acc += popcount(x[b, j] ^ w[n, j])
            out[b, n] = full - acc - k[n]


def _check_linear(x, w, k=None):
    x = np.ascontiguousarray(x, dtype=np.uint64)
    w = np.ascontiguousarray(w, dtype=np.uint64)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"xnor_linear needs x (B, W) and w (N, W); got {x.shape} and {w.shape}")
    if k is not None:
        k = np.ascontiguousarray(k, dtype=np.int32)
        if k.shape != (w.shape[0],):
            raise ValueError(f"k must have shape ({w.shape[0]},), got {k.shape}")
    return x, w, k


def _result(out, shape):
    """A fresh int32 result, or the caller's buffer (reused across time steps: fresh
    buffers of tens of MB cost page faults on every call)."""
    if out is None:
        return np.empty(shape, np.int32)
    if out.shape != shape or out.dtype != np.int32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous int32 array of shape {shape}")
    return out


def _linear(x, w, k, out):
    full = WORD_BITS * x.shape[1]
    out = _result(out, (x.shape[0], w.shape[0]))
    if w.shape[0] < 2 * _LANES:
        _linear_jvec(x, w, full, k, out)
    else:
        _linear_nvec(x, np.ascontiguousarray(w.T), full, k, out)
    return out


def xnor_linear(x: np.ndarray, w: np.ndarray, k: np.ndarray,
                out: np.ndarray | None = None) -> np.ndarray:
    """``out[b, n] = sum_j popcount(~(x[b, j] ^ w[n, j])) - k[n]`` as int32 ``(B, N)``.

    ``x`` uint64 ``(B, W)`` packed spikes, ``w`` uint64 ``(N, W)`` packed weights,
    ``k`` int32 ``(N,)``; with ``k = xnor_offset(weight)`` the result is the exact
    ``I[b, n] = sum_i weight[n, i] * s[b, i]``. ``out`` optionally receives the result.
    """
    x, w, k = _check_linear(x, w, k)
    return _linear(x, w, k, out)


def popcount_gemm(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Plain XNOR-popcount GEMM ``P[b, n] = sum_j popcount(~(x[b, j] ^ w[n, j]))`` (int32).

    No offset: this is the raw matching count a sensed row delivers, and the practical
    throughput ceiling of the packed kernels.
    """
    x, w, _ = _check_linear(x, w)
    return _linear(x, w, np.zeros(w.shape[0], np.int32), out)


def xnor_linear_ref(spikes: np.ndarray, weight_pm1: np.ndarray) -> np.ndarray:
    """Truth for :func:`xnor_linear`: ``I = spikes @ weight.T`` in int64, from 0/1 spikes
    ``(B, L)`` and -1/+1 weights ``(N, L)``; returned as int32 ``(B, N)``."""
    s = np.asarray(spikes).astype(np.int64)
    w = np.asarray(weight_pm1).astype(np.int64)
    return np.einsum("bl,nl->bn", s, w).astype(np.int32)


# ------------------------------------------------------------------------ convolution


@njit(parallel=True, cache=True)
def _or_last_word(x2):
    """OR over all rows of the last column of ``x2`` (pixels, Cw)."""
    rows, cw = x2.shape
    chunks = max(1, min(rows, 64))
    part = np.zeros(chunks, np.uint64)
    for ch in prange(chunks):
        m = np.uint64(0)
        for r in range(ch * rows // chunks, (ch + 1) * rows // chunks):
            m |= x2[r, cw - 1]
        part[ch] = m
    acc = np.uint64(0)
    for ch in range(chunks):
        acc |= part[ch]
    return acc


@njit(parallel=True, cache=True)
def _pad_into(x, pad, xp):
    """Copy ``x`` (B, H, W, Cw) into the interior of the all-zero ``xp`` (B, H + 2 pad,
    W + 2 pad, Cw), cast to the word type of ``xp`` (uint32 keeps the low 32 bits)."""
    b_n, h, w, cw = x.shape
    for r in prange(b_n * h):
        b = r // h
        y = r % h
        dst = xp[b, y + pad]
        src = x[b, y]
        for i in range(w):
            for c in range(cw):
                dst[pad + i, c] = src[i, c]


def _padded(x: np.ndarray, pad: int, dtype) -> np.ndarray:
    """``x`` (B, H, W, Cw) with ``pad`` all-zero pixels on every border, as ``dtype`` words."""
    b_n, h, w, cw = x.shape
    xp = np.zeros((b_n, h + 2 * pad, w + 2 * pad, cw), dtype)
    _pad_into(x, pad, xp)
    return xp


def _window_recipe(channel_bits: int, cw: int, kh: int, kw: int) -> np.ndarray:
    """How the pieces of a ``kh x kw`` window land in a dense bit stream.

    One row per (piece, destination word): ``(ky, offset of the word in the input row,
    destination word, shift, 0 = left / 1 = right)``. Pixel ``(ky, kx)`` channel word
    ``c`` starts at bit ``(ky kw + kx) channel_bits + 64 c`` of the window.
    """
    last_bits = channel_bits - WORD_BITS * (cw - 1)
    rows = []
    for ky in range(kh):
        for kx in range(kw):
            for c in range(cw):
                nb = WORD_BITS if c < cw - 1 else last_bits
                pos = (ky * kw + kx) * channel_bits + WORD_BITS * c
                q, sh = divmod(pos, WORD_BITS)
                rows.append((ky, kx * cw + c, q, sh, 0))
                if sh and sh + nb > WORD_BITS:
                    rows.append((ky, kx * cw + c, q + 1, WORD_BITS - sh, 1))
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


@njit(parallel=True, cache=True)
def _pack_windows(x3, cw, recipe, width, pad, h, w, sh, sw, oh, ow):
    """Dense bit streams of windows of ``x3`` = (B, H, W*Cw), ``pad`` zero pixels around.

    Output ``(B, oh, width * ow)`` word-planar: word ``q`` of window ``(y, x)`` is at
    ``[b, y, q * ow + x]``. Window ``(y, x)`` starts at padded pixel ``(y sh, x sw)``.
    Bits of ``x3`` beyond the recipe's channel bits must be 0.
    """
    b_n = x3.shape[0]
    out = np.zeros((b_n, oh, width * ow), np.uint64)
    step = sw * cw
    for r in prange(b_n * oh):
        b = r // oh
        y = r % oh
        dst = out[b, y]
        for e in range(recipe.shape[0]):
            iy = y * sh + recipe[e, 0] - pad
            if iy < 0 or iy >= h:
                continue
            src = x3[b, iy]
            off = recipe[e, 1]
            kx = off // cw
            # windows whose pixel (., kx) lies inside the row: 0 <= x sw + kx - pad < w
            x_lo = max(0, (pad - kx + sw - 1) // sw)
            x_hi = min(ow, (w - 1 + pad - kx) // sw + 1)
            if x_hi <= x_lo:
                continue
            base = (x_lo * sw + kx - pad) * cw + off % cw
            plane = dst[recipe[e, 2] * ow + x_lo:recipe[e, 2] * ow + x_hi]
            shift = np.uint64(recipe[e, 3])
            if step == 1:
                seg = src[base:base + (x_hi - x_lo)]
                if recipe[e, 4] == 0:
                    for i in range(x_hi - x_lo):
                        plane[i] |= seg[i] << shift
                else:
                    for i in range(x_hi - x_lo):
                        plane[i] |= seg[i] >> shift
            elif recipe[e, 4] == 0:
                for i in range(x_hi - x_lo):
                    plane[i] |= src[base + i * step] << shift
            else:
                for i in range(x_hi - x_lo):
                    plane[i] |= src[base + i * step] >> shift
    return out


@njit(inline="always")
def _tap_mismatches(words, wt, n, offsets):
    """``sum_t popcount(words[t] ^ wt[t, n])`` over the ``len(offsets)`` taps (a
    compile-time constant)."""
    total = 0
    for t in range(len(offsets)):
        total += popcount(words[t] ^ wt[t, n])
    return total


@njit(parallel=True, cache=True)
def _conv_core(planes, offsets, wt, ystep, xstep, base, first, out):
    """Popcount product over a group of taps, int32 ``out`` ``(R, OH, OW * N)``.

    Output ``(y, x)`` of plane ``r`` reads the words ``planes[r, y ystep + x xstep +
    offsets[t]]`` against weight rows ``wt[t]`` (``t`` < ``len(offsets)``) and stores
    ``base[n] - sum_t popcount(word_t ^ wt[t, n])`` (``first``) or subtracts the sum
    from ``out``. ``offsets`` is a tuple, so the number of taps is a compile-time
    constant: the tap loop unrolls inside the vectorised neuron loop and each sum stays
    in a register.
    """
    r_n, oh, row = out.shape
    n_out = wt.shape[1]
    ow = row // n_out
    for task in prange(r_n * oh):
        r = task // oh
        y = task % oh
        plane = planes[r]
        orow = out[r, y]
        words = np.empty(len(offsets), plane.dtype)
        for x in range(ow):
            p = y * ystep + x * xstep
            for t in range(len(offsets)):
                words[t] = plane[p + offsets[t]]
            if first:
                for n in range(n_out):
                    orow[x * n_out + n] = base[n] - _tap_mismatches(words, wt, n, offsets)
            else:
                for n in range(n_out):
                    orow[x * n_out + n] -= _tap_mismatches(words, wt, n, offsets)


def _convolve(planes, offsets: list[int], wt, ystep: int, xstep: int, full: int, k, out3):
    """:func:`_conv_core` over all taps, in groups of at most ``_TAP_GROUP`` (a longer
    unrolled tap loop no longer fits the registers; three times slower at 36 taps)."""
    groups = -(-len(offsets) // _TAP_GROUP)
    size = -(-len(offsets) // groups)
    base = (full - k).astype(np.int32)
    for g in range(0, len(offsets), size):
        _conv_core(planes, tuple(offsets[g:g + size]), wt[g:g + size], ystep, xstep, base, g == 0, out3)


def conv_plan(channel_bits: int, words: int, kh: int, kw: int, stride: int, n_out: int) -> str:
    """Choose ``"direct"``, ``"narrow"``, ``"rows"`` or ``"patch"`` (see the module
    docstring) by the estimated cost per output pixel: repacked pieces plus words x
    neuron vectors (a vector holds twice as many 32-bit words)."""
    vec = -(-n_out // _LANES)
    costs = {"direct": kh * kw * words * vec}
    if channel_bits <= _NARROW_BITS:
        costs["narrow"] = kh * kw * -(-n_out // (2 * _LANES))
    rows_words = kh * n_words(kw * channel_bits)
    costs["rows"] = _PIECE_COST * stride * kw * words + rows_words * vec
    costs["patch"] = _PIECE_COST * kh * kw * words + n_words(kh * kw * channel_bits) * vec
    return min(costs, key=costs.get)


@dataclass(frozen=True, eq=False)
class ConvWeights:
    """Packed conv weights ``(N, KH, KW, Cw)`` laid out once for the plans.

    Each layout is ``(words per output pixel, N)``; ``channel_bits`` is the number of
    channel bits per pixel kept by the dense layouts (``rows``, ``patch``).
    """

    shape: tuple[int, int, int, int]
    channel_bits: int
    direct: np.ndarray
    rows: np.ndarray
    patch: np.ndarray
    narrow: np.ndarray | None  # the direct layout as uint32 where channel_bits <= 32

    @property
    def last_word_bits(self) -> int:
        return self.channel_bits - WORD_BITS * (self.shape[3] - 1)

    def plan(self, stride: int) -> str:
        """The cheapest plan (:func:`conv_plan`) for these weights at ``stride``."""
        n_out, kh, kw, cw = self.shape
        return conv_plan(self.channel_bits, cw, kh, kw, stride, n_out)


def prepare_conv_weights(w: np.ndarray, channels: int | None = None) -> ConvWeights:
    """Lay packed weights ``(N, KH, KW, Cw)`` out for :func:`xnor_conv2d_prepared`.

    ``channels`` (the true C) is a hint for the dense layouts; without it they keep the
    channel bits up to the highest bit set in any last weight word. Either way a call
    whose input has a higher bit set is still exact (it lays the weights out again).
    """
    w = np.ascontiguousarray(w, dtype=np.uint64)
    if w.ndim != 4 or w.shape[3] < 1:
        raise ValueError(f"conv weights must be (N, KH, KW, Cw) uint64 words, got {w.shape}")
    n_out, kh, kw, cw = w.shape
    last = int(np.bitwise_or.reduce(w[..., -1], axis=None)).bit_length() if w.size else 0
    if channels is not None:
        if n_words(channels) != cw:
            raise ValueError(f"{channels} channels do not fill {cw} words per pixel")
        last = max(last, channels - WORD_BITS * (cw - 1))
    return _layout(w, WORD_BITS * (cw - 1) + max(1, last))


def _layout(w: np.ndarray, channel_bits: int) -> ConvWeights:
    n_out, kh, kw, cw = w.shape
    w3 = w.reshape(n_out, kh, kw * cw)
    direct = np.ascontiguousarray(w.transpose(1, 2, 3, 0)).reshape(kh * kw * cw, n_out)
    rec = _window_recipe(channel_bits, cw, 1, kw)
    width = n_words(kw * channel_bits)
    rows = _pack_windows(w3, cw, rec, width, 0, kh, kw, 1, 1, kh, 1)  # (N, KH, width)
    rows = np.ascontiguousarray(rows.transpose(1, 2, 0)).reshape(kh * width, n_out)
    rec = _window_recipe(channel_bits, cw, kh, kw)
    width = n_words(kh * kw * channel_bits)
    patch = _pack_windows(w3, cw, rec, width, 0, kh, kw, 1, 1, 1, 1)  # (N, 1, width)
    patch = np.ascontiguousarray(patch.reshape(n_out, width).T)
    narrow = direct.astype(np.uint32) if channel_bits <= _NARROW_BITS else None
    return ConvWeights((n_out, kh, kw, cw), channel_bits, direct, rows, patch, narrow)


def _conv_packed(x, cwts: ConvWeights, k, stride, padding, plan=None, out=None, channels=None):
    """Checked-input convolution with prepared weights; ``plan`` None = cheapest;
    ``channels`` None = scan the input for its highest set channel bit."""
    b_n, h, wd, cw = x.shape
    n_out, kh, kw, _ = cwts.shape
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (wd + 2 * padding - kw) // stride + 1
    full = WORD_BITS * cw * kh * kw
    # Bit positions above the highest one set in any last word (of the input or of the
    # weights) never mismatch; the dense layouts drop them.
    if channels is None:
        x_last = int(_or_last_word(x.reshape(-1, cw))).bit_length() if x.size else 0
    else:
        x_last = channels - WORD_BITS * (cw - 1)
    if x_last > cwts.last_word_bits:
        w = _unlayout(cwts)
        cwts = _layout(w, WORD_BITS * (cw - 1) + x_last)
    channel_bits = cwts.channel_bits
    if plan is None:
        plan = cwts.plan(stride)
    out = _result(out, (b_n, oh, ow, n_out))
    out3 = out.reshape(b_n, oh, ow * n_out)
    x3 = x.reshape(b_n, h, wd * cw)
    if plan in ("direct", "narrow"):
        if plan == "narrow" and cwts.narrow is None:
            raise ValueError(f"the narrow plan needs at most {_NARROW_BITS} channel bits, not {channel_bits}")
        xp = _padded(x, padding, np.uint64 if plan == "direct" else np.uint32)
        wp = xp.shape[2]
        offsets = [(ky * wp + kx) * cw + c for ky in range(kh) for kx in range(kw) for c in range(cw)]
        wt = cwts.direct if plan == "direct" else cwts.narrow
        _convolve(xp.reshape(b_n, -1), offsets, wt, stride * wp * cw, stride * cw, full, k, out3)
    elif plan == "rows":
        rec = _window_recipe(channel_bits, cw, 1, kw)
        width = n_words(kw * channel_bits)
        rows = _pack_windows(x3, cw, rec, width, padding, h, wd, 1, stride, h + 2 * padding, ow)
        row_len = width * ow
        offsets = [ky * row_len + q * ow for ky in range(kh) for q in range(width)]
        _convolve(rows.reshape(b_n, -1), offsets, cwts.rows, stride * row_len, 1, full, k, out3)
    elif plan == "patch":
        rec = _window_recipe(channel_bits, cw, kh, kw)
        width = n_words(kh * kw * channel_bits)
        patches = _pack_windows(x3, cw, rec, width, padding, h, wd, stride, stride, oh, ow)
        offsets = [q * ow for q in range(width)]
        _convolve(patches.reshape(b_n, -1), offsets, cwts.patch, width * ow, 1, full, k, out3)
    else:
        raise ValueError(f"unknown conv plan {plan!r}")
    return out


def _unlayout(cwts: ConvWeights) -> np.ndarray:
    """The packed ``(N, KH, KW, Cw)`` weights back from the direct layout."""
    n_out, kh, kw, cw = cwts.shape
    return np.ascontiguousarray(cwts.direct.reshape(kh, kw, cw, n_out).transpose(3, 0, 1, 2))


def _check_conv(x, shape, k, stride, padding):
    x = np.ascontiguousarray(x, dtype=np.uint64)
    k = np.ascontiguousarray(k, dtype=np.int32)
    n_out, kh, kw, cw = shape
    if x.ndim != 4 or x.shape[3] != cw:
        raise ValueError(f"xnor_conv2d needs x (B, H, W, {cw}) for weights {shape}; got {x.shape}")
    if k.shape != (n_out,):
        raise ValueError(f"k must have shape ({n_out},), got {k.shape}")
    stride, padding = int(stride), int(padding)
    if stride < 1 or padding < 0:
        raise ValueError(f"stride {stride} / padding {padding} invalid")
    h, wd = x.shape[1:3]
    if h + 2 * padding < kh or wd + 2 * padding < kw:
        raise ValueError(f"kernel {kh}x{kw} does not fit input {h}x{wd} with padding {padding}")
    return x, k, stride, padding


def xnor_conv2d_prepared(x: np.ndarray, weights: ConvWeights, k: np.ndarray, stride: int = 1,
                         padding: int = 0, out: np.ndarray | None = None,
                         channels: int | None = None) -> np.ndarray:
    """:func:`xnor_conv2d` with weights laid out once by :func:`prepare_conv_weights`.

    ``channels``, the true channel count ``C`` of ``x``, is a promise that every bit of
    the last word of a pixel at position ``>= C - 64 (Cw - 1)`` is 0 (as :func:`pack_bits`
    leaves it); the input is then not scanned for set high bits.
    """
    x, k, stride, padding = _check_conv(x, weights.shape, k, stride, padding)
    if channels is not None and n_words(channels) != weights.shape[3]:
        raise ValueError(f"{channels} channels do not fill {weights.shape[3]} words per pixel")
    return _conv_packed(x, weights, k, stride, padding, None, out, channels)


def xnor_conv2d(x: np.ndarray, w: np.ndarray, k: np.ndarray, stride: int = 1,
                padding: int = 0, out: np.ndarray | None = None) -> np.ndarray:
    """Packed binary 2-D convolution, int32 ``(B, OH, OW, N)``.

    ``x`` uint64 ``(B, H, W, Cw)``, ``w`` uint64 ``(N, KH, KW, Cw)``, ``k`` int32 ``(N,)``:
    ``out[b, oy, ox, n] = sum over (ky, kx, c) of popcount(~(xpad[b, oy s + ky, ox s + kx, c]
    ^ w[n, ky, kx, c])) - k[n]`` where ``xpad`` is ``x`` with ``padding`` all-zero words
    on each border. With ``k = xnor_offset(weight)`` this is the exact integer sum.
    ``out`` optionally receives the result.
    """
    weights = prepare_conv_weights(w)
    return xnor_conv2d_prepared(x, weights, k, stride, padding, out)


def xnor_conv2d_ref(spikes: np.ndarray, weight_pm1: np.ndarray, stride: int = 1,
                    padding: int = 0) -> np.ndarray:
    """Truth for :func:`xnor_conv2d`: ``I[b, oy, ox, n] = sum_{ky, kx, c} w[n, ky, kx, c] *
    s[b, oy s + ky - p, ox s + kx - p, c]`` (zero outside), int64 loops over taps.

    ``spikes`` 0/1 ``(B, H, W, C)``, ``weight_pm1`` -1/+1 ``(N, KH, KW, C)``; int32 out.
    """
    s = np.asarray(spikes).astype(np.int64)
    w = np.asarray(weight_pm1).astype(np.int64)
    b_n, h, wd, c = s.shape
    n_out, kh, kw, _ = w.shape
    sp = np.zeros((b_n, h + 2 * padding, wd + 2 * padding, c), np.int64)
    sp[:, padding:padding + h, padding:padding + wd] = s
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((b_n, oh, ow, n_out), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            window = sp[:, oy * stride:oy * stride + kh, ox * stride:ox * stride + kw, :]
            out[:, oy, ox, :] = np.einsum("byxc,nyxc->bn", window, w)
    return out.astype(np.int32)
