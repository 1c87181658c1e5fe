"""Max pooling of spikes: a logical OR over each window (floor mode, no padding).

``out[b, oy, ox, c] = OR over (ky, kx) < kernel of s[b, oy*stride + ky, ox*stride + kx, c]``
with ``OH = (H - kernel) // stride + 1``. The OR is bitwise, so the same call pools
bit-packed spike words (uint64 ``(B, H, W, Cw)``) exactly like the 0/1 bytes they pack.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def _out_size(h: int, w: int, kernel: int, stride: int) -> tuple[int, int]:
    if kernel < 1 or stride < 1 or kernel > min(h, w):
        raise ValueError(f"kernel {kernel} / stride {stride} invalid for a {h}x{w} input")
    return (h - kernel) // stride + 1, (w - kernel) // stride + 1


@njit(parallel=True, cache=True)
def _or_pool(s3, c, kernel, stride, oh, ow, out3):
    b_n = s3.shape[0]
    for r in prange(b_n * oh):
        b = r // oh
        y = r % oh
        dst = out3[b, y]
        dst[:] = 0
        for ky in range(kernel):
            src = s3[b, y * stride + ky]
            for kx in range(kernel):
                if c >= 8:
                    for xo in range(ow):
                        d = dst[xo * c:(xo + 1) * c]
                        v = src[(xo * stride + kx) * c:(xo * stride + kx + 1) * c]
                        for i in range(c):
                            d[i] |= v[i]
                else:
                    for xo in range(ow):
                        p = (xo * stride + kx) * c
                        for i in range(c):
                            dst[xo * c + i] |= src[p + i]


def maxpool_spikes(s: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """OR-pool spikes ``(B, H, W, C)`` (uint8 0/1, or packed uint64 words)."""
    s = np.ascontiguousarray(s)
    kernel, stride = int(kernel), int(stride)
    b_n, h, w, c = s.shape
    oh, ow = _out_size(h, w, kernel, stride)
    out = np.empty((b_n, oh, ow, c), s.dtype)
    _or_pool(s.reshape(b_n, h, w * c), c, kernel, stride, oh, ow, out.reshape(b_n, oh, ow * c))
    return out


def maxpool_spikes_ref(s: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Loop twin of :func:`maxpool_spikes` for 0/1 spikes: 1 iff any window entry is 1."""
    s = np.asarray(s)
    oh, ow = _out_size(s.shape[1], s.shape[2], int(kernel), int(stride))
    out = np.zeros((s.shape[0], oh, ow, s.shape[3]), dtype=s.dtype)
    for oy in range(oh):
        for ox in range(ow):
            window = s[:, oy * stride:oy * stride + kernel, ox * stride:ox * stride + kernel, :]
            out[:, oy, ox, :] = (window != 0).any(axis=(1, 2))
    return out
