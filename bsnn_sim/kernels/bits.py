"""Bit packing of spike and weight vectors into 64-bit words, and a hardware popcount.

A fan-in of ``L`` binary values (spikes 0/1, or weights with bit 1 = +1) is stored as
``ceil(L / 64)`` little-endian ``uint64`` words: value ``j`` is bit ``j % 64`` of word
``j // 64``. The ``64 * ceil(L / 64) - L`` unused high bits of the last word are 0, so
in an XNOR they match each other and the offset ``k`` of :mod:`.xnor` counts them.

``pack_bits`` treats any non-zero byte as a 1 (the kernels are given 0/1 arrays).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

WORD_BITS = 64

@intrinsic
def popcount(typingctx, x):
    """Number of set bits of a 32- or 64-bit integer, as int64 (LLVM ``ctpop``: POPCNT,
    VPOPCNTD/VPOPCNTQ on AVX-512, a PSHUFB nibble table on AVX2).

    The result is signed so that sums of popcounts stay integer in Numba (uint64 + int64
    would promote to float64).
    """
    if not isinstance(x, types.Integer) or x.bitwidth not in (32, 64):
        return None

    def codegen(context, builder, signature, args):
        count = builder.ctpop(args[0])
        return count if x.bitwidth == 64 else builder.zext(count, ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def trailing_zeros64(typingctx, x):
    """Index of the lowest set bit of a non-zero 64-bit integer, as int64 (LLVM ``cttz``:
    TZCNT). The result for 0 is undefined: callers test the word first."""
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(x), codegen


_BYTES32 = ir.VectorType(ir.IntType(8), 32)


def _byte_pointer(context, builder, ary_type, ary, start):
    """``&ary[start]`` of a 1-D uint8 array, as a pointer to 32 bytes."""
    data = context.make_array(ary_type)(context, builder, ary).data
    return builder.bitcast(builder.gep(data, [start]), _BYTES32.as_pointer())


def _is_byte_vector(arr) -> bool:
    """A contiguous 1-D uint8 array (the 32 bytes from ``start`` are adjacent in memory)."""
    return isinstance(arr, types.Array) and arr.dtype == types.uint8 and arr.ndim == 1 and arr.layout == "C"


@intrinsic
def nonzero_mask32(typingctx, arr, start):
    """Bit ``i`` set iff ``arr[start + i] != 0``, for ``i < 32``, as uint64 (one 32-byte
    compare and a move-mask: VPCMPEQB + VPMOVMSKB on AVX2). No bounds check: the caller
    guarantees ``start + 32 <= len(arr)``."""
    if not _is_byte_vector(arr):
        return None

    def codegen(context, builder, signature, args):
        v = builder.load(_byte_pointer(context, builder, signature.args[0], args[0], args[1]), align=1)
        nonzero = builder.icmp_unsigned("!=", v, ir.Constant(_BYTES32, None))
        return builder.zext(builder.bitcast(nonzero, ir.IntType(32)), ir.IntType(64))

    return types.uint64(arr, types.intp), codegen


@intrinsic
def spread_mask32(typingctx, arr, start, bits):
    """``arr[start + i] = (bits >> i) & 1`` for ``i < 32`` (the low 32 bits of ``bits``),
    one 32-byte store. No bounds check: the caller guarantees ``start + 32 <= len(arr)``."""
    if not _is_byte_vector(arr) or not isinstance(bits, types.Integer) or bits.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        mask = builder.bitcast(builder.trunc(args[2], ir.IntType(32)), ir.VectorType(ir.IntType(1), 32))
        ptr = _byte_pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store(builder.zext(mask, _BYTES32), ptr, align=1)
        return context.get_dummy_value()

    return types.none(arr, types.intp, bits), codegen


def n_words(length: int) -> int:
    """Number of 64-bit words that hold ``length`` bits."""
    return (int(length) + WORD_BITS - 1) // WORD_BITS


@njit(parallel=True, cache=True)
def _pack_rows(bits, out):
    """Rows of bytes -> words: 32 bytes at a time by move-mask, then a bit-wise tail."""
    rows, length = bits.shape
    width = out.shape[1]
    for r in prange(rows):
        row = bits[r]
        for wi in range(width):
            start = WORD_BITS * wi
            stop = min(start + WORD_BITS, length)
            word = np.uint64(0)
            j = start
            while j + 32 <= stop:
                word |= nonzero_mask32(row, j) << np.uint64(j - start)
                j += 32
            for i in range(j, stop):
                word |= np.uint64(row[i] != 0) << np.uint64(i - start)
            out[r, wi] = word


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a 0/1 ``uint8`` array ``(..., L)`` into ``uint64`` words ``(..., ceil(L/64))``."""
    bits = np.ascontiguousarray(bits, dtype=np.uint8)
    lead, length = bits.shape[:-1], bits.shape[-1]
    flat = bits.reshape(int(np.prod(lead)), length)
    out = np.empty((flat.shape[0], n_words(length)), dtype=np.uint64)
    _pack_rows(flat, out)
    return out.reshape(*lead, out.shape[1])


@njit(parallel=True, cache=True)
def _unpack_rows(words, out):
    rows, length = out.shape
    for r in prange(rows):
        for j in range(length):
            out[r, j] = np.uint8((words[r, j >> 6] >> np.uint64(j & 63)) & np.uint64(1))


def unpack_bits(words: np.ndarray, length: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``uint64 (..., W)`` -> 0/1 ``uint8 (..., length)``."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    if n_words(length) != words.shape[-1]:
        raise ValueError(f"{words.shape[-1]} words cannot hold exactly {length} bits")
    lead = words.shape[:-1]
    flat = words.reshape(int(np.prod(lead)), words.shape[-1])
    out = np.empty((flat.shape[0], int(length)), dtype=np.uint8)
    _unpack_rows(flat, out)
    return out.reshape(*lead, int(length))


@njit(parallel=True, cache=True)
def _popcount_rows(words, out):
    for r in prange(words.shape[0]):
        total = 0
        for j in range(words.shape[1]):
            total += popcount(words[r, j])
        out[r] = total


def popcount_rows(words: np.ndarray) -> np.ndarray:
    """Set bits per row of ``uint64 (R, W)`` words (spikes per image and step), int32 ``(R,)``."""
    if words.dtype != np.uint64 or words.ndim != 2:
        raise ValueError(f"words must be a 2-D uint64 array, got {words.dtype} {words.shape}")
    out = np.empty(words.shape[0], np.int32)
    _popcount_rows(np.ascontiguousarray(words), out)
    return out


def popcount_rows_ref(words: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`popcount_rows`."""
    bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=1)
    return bits.sum(axis=1, dtype=np.int32)


def pack_bits_ref(bits: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`pack_bits`: word ``w`` = sum of ``bit[64 w + i] << i``."""
    bits = np.asarray(bits)
    length = bits.shape[-1]
    width = n_words(length)
    padded = np.zeros(bits.shape[:-1] + (width * WORD_BITS,), dtype=np.uint64)
    padded[..., :length] = bits != 0
    shifts = np.arange(WORD_BITS, dtype=np.uint64)
    chunks = padded.reshape(bits.shape[:-1] + (width, WORD_BITS)) << shifts
    return np.bitwise_or.reduce(chunks, axis=-1).astype(np.uint64)


def unpack_bits_ref(words: np.ndarray, length: int) -> np.ndarray:
    """NumPy twin of :func:`unpack_bits`."""
    words = np.asarray(words, dtype=np.uint64)
    shifts = np.arange(WORD_BITS, dtype=np.uint64)
    bits = (words[..., None] >> shifts) & np.uint64(1)
    bits = bits.reshape(words.shape[:-1] + (words.shape[-1] * WORD_BITS,))
    return bits[..., : int(length)].astype(np.uint8)
