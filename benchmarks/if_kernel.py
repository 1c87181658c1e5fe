"""The IF neuron kernel against the per-lane kernel it replaced, side by side in one
process: the layers' shapes of the shipped networks, random currents, one thread.

    python benchmarks/if_kernel.py [--threads 1] [--repeat 7]

The baseline (below, as it was in commit 5fefdaf) runs each 64-neuron word of a
position over the steps, building the spike word bit by bit (``word |= fire << j``);
the kept kernel (``bsnn_sim.kernels.neuron``) runs flat 32-bit loops over blocks of
positions and packs the flags with move-masks. Both must give identical spikes, counts
and clamps (checked here on every case). Absolute times drift on shared machines; the
ratio is the result.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit, prange

from bsnn_sim.kernels import neuron, pack_bits
from bsnn_sim.kernels.bits import WORD_BITS, n_words, popcount

@njit(inline="always")
def _fire(u, drive, theta, lanes, lo, hi):
    """One step of ``lanes`` <= 64 neurons without residual; returns their spike word and
    the number of membranes clamped to ``[lo, hi]``. Arithmetic stays in the membrane
    type (int32 or int64)."""
    word = np.uint64(0)
    clamped = 0
    for j in range(lanes):
        v = u.dtype.type(u[j] + drive[j])
        clamped += (v > hi) + (v < lo)
        v = min(max(v, lo), hi)
        fire = v >= theta[j]
        u[j] = u.dtype.type(v - theta[j]) if fire else v
        word |= np.uint64(fire) << np.uint64(j)
    return word, clamped


@njit(inline="always")
def _fire_residual(u, drive, theta, gain, r, lanes, lo, hi):
    """:func:`_fire` adding ``gain[j]`` where bit ``j`` of the residual word ``r`` is set
    (a mask, not a branch, so that the loop vectorises)."""
    word = np.uint64(0)
    clamped = 0
    for j in range(lanes):
        bit = u.dtype.type((r >> np.uint64(j)) & np.uint64(1))
        v = u.dtype.type(u[j] + drive[j] + (gain[j] & -bit))
        clamped += (v > hi) + (v < lo)
        v = min(max(v, lo), hi)
        fire = v >= theta[j]
        u[j] = u.dtype.type(v - theta[j]) if fire else v
        word |= np.uint64(fire) << np.uint64(j)
    return word, clamped


@njit(parallel=True, cache=True)
def _baseline_kernel(cur, bias, theta, frac_bits, res, gain, lo, hi, spikes, counts, saturated):
    """Fill ``spikes`` (T, B, M, Nw), ``counts`` and ``saturated`` (T, B); ``res`` has 0
    steps when the layer has no residual; membranes are clamped to ``[lo, hi]``. The
    membrane type is that of ``theta``, ``gain``, ``lo`` and ``hi``. Each
    (image, position, word) keeps its <= 64 membranes in a local buffer while t runs
    inside; a static current's drive is computed once."""
    steps, b_n, m_n, n_w = spikes.shape
    n_out = cur.shape[3]
    f = np.int64(frac_bits)
    for b in prange(b_n):
        u = np.empty(WORD_BITS, theta.dtype)
        drive = np.empty(WORD_BITS, theta.dtype)
        th = np.empty(WORD_BITS, theta.dtype)
        g = np.empty(WORD_BITS, theta.dtype)
        for t in range(steps):
            counts[t, b] = 0
            saturated[t, b] = 0
        for m in range(m_n):
            for wi in range(n_w):
                n0 = wi * WORD_BITS
                lanes = min(WORD_BITS, n_out - n0)
                for j in range(lanes):
                    u[j] = 0
                    th[j] = theta[n0 + j]
                    g[j] = gain[n0 + j]
                for t in range(steps):
                    if t < cur.shape[0]:
                        row = cur[t, b, m, n0:n0 + lanes]
                        for j in range(lanes):
                            drive[j] = u.dtype.type((np.int64(row[j]) << f) - np.int64(bias[n0 + j]))
                    if res.shape[0] > 0:
                        r = res[min(t, res.shape[0] - 1), b, m, wi]
                        word, clamped = _fire_residual(u, drive, th, g, r, lanes, lo, hi)
                    else:
                        word, clamped = _fire(u, drive, th, lanes, lo, hi)
                    spikes[t, b, m, wi] = word
                    counts[t, b] += np.int32(popcount(word))
                    saturated[t, b] += np.int32(clamped)



def baseline(cur, steps, bias, theta, frac_bits, res=None, res_gain=None, max_abs_current=None, acc_bits=None):
    """The previous ``integrate_and_fire``: the same checks and membrane type, the old kernel."""
    lo, hi = neuron.accumulator_range(acc_bits)
    _, b_n, m_n, n_out = cur.shape
    n_w = n_words(n_out)
    if res is None:
        res, res_gain = np.zeros((0, b_n, m_n, n_w), np.uint64), np.zeros(n_out, np.int32)
    membrane = neuron._membrane_type(steps, max_abs_current, frac_bits, bias, res_gain, acc_bits)
    info = np.iinfo(membrane)
    lo, hi = max(lo, info.min), min(hi, info.max)
    spikes = np.empty((steps, b_n, m_n, n_w), np.uint64)
    counts = np.empty((steps, b_n), np.int32)
    saturated = np.empty((steps, b_n), np.int32)
    _baseline_kernel(cur, bias, theta.astype(membrane), int(frac_bits), res, res_gain.astype(membrane),
                     membrane(lo), membrane(hi), spikes, counts, saturated)
    return spikes, counts, saturated


def case(rng, static: bool, images: int, positions: int, neurons: int, residual: bool, bound: int = 300):
    """Arguments of one layer: currents within +-bound, F = 4, 4 steps."""
    cur = rng.integers(-bound, bound, (1 if static else 4, images, positions, neurons)).astype(np.int32)
    bias = rng.integers(-500, 500, neurons).astype(np.int32)
    theta = rng.integers(1, 3000, neurons).astype(np.int32)
    res = gain = None
    if residual:
        bits = (rng.random((4, images, positions, neurons)) < 0.2).astype(np.uint8)
        res = pack_bits(bits)
        gain = rng.integers(0, 200, neurons).astype(np.int32)
    return cur, 4, bias, theta, 4, res, gain, bound


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    import numba

    numba.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    cases = [("mnist_resnet conv1 (static, 784 x 32)", case(rng, True, 167, 784, 32, False)),
             ("mnist_resnet block1.conv2 (residual, 196 x 32)", case(rng, False, 167, 196, 32, True)),
             ("mnist_mlp fc2 (1 x 1024)", case(rng, False, 500, 1, 1024, False))]
    print(f"{args.threads} thread(s), best of {args.repeat}, alternating\n")
    print(f"{'layer':<48}{'baseline ms':>12}{'kernel ms':>11}{'speed-up':>10}")
    for name, a in cases:
        want, got = baseline(*a), neuron.integrate_and_fire(*a)
        if not all(np.array_equal(w, g) for w, g in zip(want, got)):
            raise SystemExit(f"{name}: the kernels disagree")
        old, new = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            baseline(*a)
            old.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            neuron.integrate_and_fire(*a)
            new.append(time.perf_counter() - t0)
        print(f"{name:<48}{1e3 * min(old):>12.2f}{1e3 * min(new):>11.2f}{min(old) / min(new):>9.2f}x")


if __name__ == "__main__":
    main()
