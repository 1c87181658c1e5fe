"""Contract tests: every fast kernel equals its plain-NumPy twin, bit for bit.

Sizes are odd on purpose: fan-ins that are not multiples of 64, channels 1..70, strides
1/2/3, padding 0/1/2, and the extreme inputs (no spike, all spikes) and weights (all -1,
all +1) where an offset error would show.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from numba import njit

from bsnn_sim.kernels import (integrate_and_fire, integrate_and_fire_ref, maxpool_spikes, maxpool_spikes_ref,
                              pack_bits, pack_bits_ref, pixel_conv2d, pixel_conv2d_ref, pixel_linear,
                              pixel_linear_ref, popcount, popcount_gemm, popcount_rows, popcount_rows_ref,
                              prepare_conv_weights, readout_accumulate, readout_accumulate_ref, spike_linear,
                              spike_linear_ref, spike_linear_total, spike_linear_total_ref, trailing_zeros64, unpack_bits, unpack_bits_ref, xnor_conv2d,
                              xnor_conv2d_prepared, xnor_conv2d_ref, xnor_linear, xnor_linear_ref, xnor_offset)
from bsnn_sim.kernels import neuron as neuron_kernels
from bsnn_sim.kernels.bits import nonzero_mask32, spread_mask32
from bsnn_sim.kernels.neuron import _membrane_type
from bsnn_sim.kernels.xnor import _conv_packed

FAN_INS = [1, 2, 7, 63, 64, 65, 127, 128, 129, 288, 300]
CHANNELS = [1, 2, 3, 31, 32, 33, 63, 64, 65, 70]
FILL = st.sampled_from(["random", "zeros", "ones"])
SIGN = st.sampled_from(["random", "neg", "pos"])
SETTINGS = settings(max_examples=40, deadline=None)


def spikes(seed: int, shape, fill: str) -> np.ndarray:
    if fill == "zeros":
        return np.zeros(shape, np.uint8)
    if fill == "ones":
        return np.ones(shape, np.uint8)
    rng = np.random.default_rng(seed)
    return (rng.random(shape) < rng.random()).astype(np.uint8)


def weights(seed: int, shape, sign: str) -> np.ndarray:
    if sign != "random":
        return np.full(shape, -1 if sign == "neg" else 1, np.int8)
    rng = np.random.default_rng(seed + 1)
    return np.where(rng.random(shape) < rng.random(), 1, -1).astype(np.int8)


def packed_weights(w_pm1: np.ndarray) -> np.ndarray:
    return pack_bits((w_pm1 > 0).astype(np.uint8))


# ------------------------------------------------------------------------------ bits


@njit
def _bit_counts(words):
    out = np.empty((words.shape[0], 3), np.int64)
    for i in range(words.shape[0]):
        w = words[i]
        out[i, 0] = popcount(w)
        out[i, 1] = popcount(np.uint32(w & np.uint64(0xFFFFFFFF)))
        out[i, 2] = trailing_zeros64(w) if w else -1
    return out


def test_popcount_and_trailing_zeros_count_every_bit():
    rng = np.random.default_rng(0)
    words = np.concatenate([np.array([0, 1, 2**31, 2**32, 2**63, 2**64 - 1], np.uint64),
                            rng.integers(0, 2**64, 200, dtype=np.uint64, endpoint=False)])
    got = _bit_counts(words)
    assert got[:, 0].tolist() == [bin(int(v)).count("1") for v in words]
    assert got[:, 1].tolist() == [bin(int(v) & 0xFFFFFFFF).count("1") for v in words]
    assert got[:, 2].tolist() == [(int(v) & -int(v)).bit_length() - 1 if v else -1 for v in words]


@njit
def _masks(bytes_, starts, words):
    """nonzero_mask32 at each start, and spread_mask32 of each word into a fresh buffer."""
    got = np.empty(len(starts), np.uint64)
    for i in range(len(starts)):
        got[i] = nonzero_mask32(bytes_, starts[i])
    spread = np.full(32 * len(words), 7, np.uint8)
    for i in range(len(words)):
        spread_mask32(spread, 32 * i, words[i])
    return got, spread


def test_move_masks_match_bit_packing():
    """32-byte move-masks against the NumPy packing twin: any non-zero byte is a 1 (also
    0x80, whose sign bit alone is set), every start offset (unaligned), and the spread
    writes exactly 32 0/1 bytes from the low 32 bits of a word."""
    rng = np.random.default_rng(3)
    bytes_ = (rng.random(200) < 0.4).astype(np.uint8) * rng.integers(1, 256, 200).astype(np.uint8)
    bytes_[:4] = [0x80, 0, 1, 0xFF]
    starts = np.arange(0, 200 - 32)
    words = rng.integers(0, 2**64, 9, dtype=np.uint64, endpoint=False)
    got, spread = _masks(bytes_, starts, words)
    want = [int(pack_bits_ref(bytes_[s:s + 32])[0]) for s in starts]
    assert got.tolist() == want
    want_spread = unpack_bits_ref((words & np.uint64(0xFFFFFFFF))[:, None], 64)[:, :32].reshape(-1)
    np.testing.assert_array_equal(spread, want_spread)


@SETTINGS
@given(seed=st.integers(0, 2**31), rows=st.integers(0, 9), width=st.integers(1, 5), fill=FILL)
def test_popcount_rows_matches_ref(seed, rows, width, fill):
    words = pack_bits(spikes(seed, (rows, 64 * width - seed % 64), fill))
    got = popcount_rows(words)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, popcount_rows_ref(words))


@SETTINGS
@given(seed=st.integers(0, 2**31), lead=st.lists(st.integers(1, 5), max_size=3),
       length=st.one_of(st.sampled_from(FAN_INS), st.integers(1, 200)), fill=FILL)
def test_pack_bits_matches_ref(seed, lead, length, fill):
    bits = spikes(seed, tuple(lead) + (length,), fill)
    words = pack_bits(bits)
    assert words.dtype == np.uint64 and words.shape == tuple(lead) + (-(-length // 64),)
    np.testing.assert_array_equal(words, pack_bits_ref(bits))
    np.testing.assert_array_equal(unpack_bits(words, length), bits)
    np.testing.assert_array_equal(unpack_bits_ref(words, length), bits)


def test_pack_bits_layout_is_little_endian_with_zero_padding():
    bits = np.zeros(65, np.uint8)
    bits[[0, 5, 63, 64]] = 1
    assert pack_bits(bits).tolist() == [1 + 2**5 + 2**63, 1]
    assert pack_bits(np.ones(70, np.uint8)).tolist() == [2**64 - 1, 2**6 - 1]


# ---------------------------------------------------------------------------- linear


@SETTINGS
@given(seed=st.integers(0, 2**31), batch=st.integers(1, 9),
       fan_in=st.one_of(st.sampled_from(FAN_INS), st.integers(1, 300)),
       n_out=st.integers(1, 40), fill=FILL, sign=SIGN)
def test_xnor_linear_matches_ref(seed, batch, fan_in, n_out, fill, sign):
    s = spikes(seed, (batch, fan_in), fill)
    w = weights(seed, (n_out, fan_in), sign)
    got = xnor_linear(pack_bits(s), packed_weights(w), xnor_offset(w))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, xnor_linear_ref(s, w))


@pytest.mark.parametrize("fan_in", FAN_INS + [1568])
@pytest.mark.parametrize("n_out", [1, 10, 16, 33, 300])
def test_xnor_linear_is_the_exact_integer_sum(fan_in, n_out):
    rng = np.random.default_rng(fan_in * 1000 + n_out)
    s = (rng.random((13, fan_in)) < 0.4).astype(np.uint8)
    w = np.where(rng.random((n_out, fan_in)) < 0.5, 1, -1).astype(np.int8)
    exact = s.astype(np.int64) @ w.astype(np.int64).T
    np.testing.assert_array_equal(xnor_linear(pack_bits(s), packed_weights(w), xnor_offset(w)),
                                  exact)
    # without the offset the product is the raw XNOR match count P = I + k
    np.testing.assert_array_equal(popcount_gemm(pack_bits(s), packed_weights(w)),
                                  exact + xnor_offset(w))


def test_xnor_linear_word_contract_with_any_offset_and_reused_buffer():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2**64, (7, 3), dtype=np.uint64, endpoint=False)
    w = rng.integers(0, 2**64, (20, 3), dtype=np.uint64, endpoint=False)
    k = rng.integers(-1000, 1000, 20).astype(np.int32)
    mismatches = np.array([[sum(bin(int(a) ^ int(b)).count("1") for a, b in zip(xr, wr))
                            for wr in w] for xr in x])
    expected = 64 * 3 - mismatches - k
    out = np.full((7, 20), 99, np.int32)
    assert xnor_linear(x, w, k, out=out) is out
    np.testing.assert_array_equal(out, expected)


# ----------------------------------------------------------------------- convolution


def conv_case(seed, batch, h, w, c, n_out, kh, kw, fill, sign):
    return spikes(seed, (batch, h, w, c), fill), weights(seed, (n_out, kh, kw, c), sign)


CONV_ARGS = dict(seed=st.integers(0, 2**31), batch=st.integers(1, 3), h=st.integers(1, 9),
                 w=st.integers(1, 9), c=st.one_of(st.sampled_from(CHANNELS), st.integers(1, 70)),
                 n_out=st.integers(1, 40), kh=st.integers(1, 3), kw=st.integers(1, 3),
                 stride=st.sampled_from([1, 2, 3]), padding=st.sampled_from([0, 1, 2]),
                 fill=FILL, sign=SIGN)


def _fits(h, w, kh, kw, padding):
    return h + 2 * padding >= kh and w + 2 * padding >= kw


@SETTINGS
@given(**CONV_ARGS)
def test_xnor_conv2d_matches_ref(seed, batch, h, w, c, n_out, kh, kw, stride, padding, fill, sign):
    assume(_fits(h, w, kh, kw, padding))
    s, wt = conv_case(seed, batch, h, w, c, n_out, kh, kw, fill, sign)
    got = xnor_conv2d(pack_bits(s), packed_weights(wt), xnor_offset(wt), stride, padding)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, xnor_conv2d_ref(s, wt, stride, padding))


@SETTINGS
@given(plan=st.sampled_from(["direct", "narrow", "rows", "patch"]), **CONV_ARGS)
def test_every_conv_plan_matches_ref(plan, seed, batch, h, w, c, n_out, kh, kw, stride,
                                     padding, fill, sign):
    assume(_fits(h, w, kh, kw, padding))
    assume(plan != "narrow" or c <= 32)
    s, wt = conv_case(seed, batch, h, w, c, n_out, kh, kw, fill, sign)
    want = xnor_conv2d_ref(s, wt, stride, padding)
    prepared = prepare_conv_weights(packed_weights(wt), channels=c)
    got = _conv_packed(pack_bits(s), prepared, xnor_offset(wt), stride, padding, plan)
    np.testing.assert_array_equal(got, want)
    # the public prepared entry point, weights laid out without the channel hint
    got = xnor_conv2d_prepared(pack_bits(s), prepare_conv_weights(packed_weights(wt)),
                               xnor_offset(wt), stride, padding)
    np.testing.assert_array_equal(got, want)
    # ... and trusting the channel count instead of scanning the input
    got = xnor_conv2d_prepared(pack_bits(s), prepared, xnor_offset(wt), stride, padding, channels=c)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("plan", ["direct", "rows", None])
@pytest.mark.parametrize("c", [130, 200])
def test_conv_with_more_taps_than_one_unrolled_group(plan, c):
    """3 x 3 x ceil(C / 64) = 27 or 36 words per output pixel: summed over several passes."""
    s, wt = conv_case(c, 2, 5, 6, c, 19, 3, 3, "random", "random")
    got = _conv_packed(pack_bits(s), prepare_conv_weights(packed_weights(wt), channels=c), xnor_offset(wt),
                       1, 1, plan, channels=c)
    np.testing.assert_array_equal(got, xnor_conv2d_ref(s, wt, 1, 1))


def test_narrow_plan_refuses_channels_beyond_32_bits():
    wt = weights(0, (4, 3, 3, 33), "random")
    prepared = prepare_conv_weights(packed_weights(wt), channels=33)
    with pytest.raises(ValueError, match="narrow plan"):
        _conv_packed(pack_bits(spikes(0, (1, 4, 4, 33), "ones")), prepared, xnor_offset(wt), 1, 1, "narrow")


@pytest.mark.parametrize("plan", ["direct", "rows", "patch", None])
@pytest.mark.parametrize("cw", [1, 2])
def test_xnor_conv2d_word_contract_holds_for_arbitrary_words(plan, cw):
    """Every bit of every word counts, also the ones pack_bits would leave at 0."""
    rng = np.random.default_rng(cw)
    x = rng.integers(0, 2**64, (2, 6, 5, cw), dtype=np.uint64, endpoint=False)
    x[0, 1, 2, -1] |= np.uint64(1 << 63)  # a set high bit: no dense repacking allowed
    w = rng.integers(0, 2**64, (9, 3, 2, cw), dtype=np.uint64, endpoint=False)
    k = rng.integers(-500, 500, 9).astype(np.int32)
    s_bits = unpack_bits(x, 64 * cw)
    w_pm1 = unpack_bits(w, 64 * cw).astype(np.int8) * 2 - 1
    expected = xnor_conv2d_ref(s_bits, w_pm1, 2, 1) + xnor_offset(w_pm1) - k
    out = np.empty(expected.shape, np.int32)
    got = _conv_packed(x, prepare_conv_weights(w), k, 2, 1, plan, out)
    assert got is out
    np.testing.assert_array_equal(got, expected)


def test_conv_offset_counts_unused_bits_per_pixel():
    w = np.array([[[[1, -1, -1]]] * 3] * 2, np.int8).reshape(2, 3, 1, 3)  # N, KH, KW, C
    assert xnor_offset(w).tolist() == [3 * (2 + 61)] * 2


# --------------------------------------------------------------------------- neurons


def neuron_case(seed, static, b, m, n_out, steps, frac_bits, residual, res_static, res_fill, ties, small):
    """Currents, constants and residual spikes for the IF contract. ``small`` keeps every
    membrane within int32 (so a current bound selects the 32-bit kernel); ``ties`` sets
    the bias so that image 0, position 0 lands exactly on theta at step 0."""
    rng = np.random.default_rng(seed)
    top = 2**12 if small else 2**30
    cur = rng.integers(-300, 301, (1 if static else steps, b, m, n_out)).astype(np.int32)
    bias = rng.integers(-top, top, n_out).astype(np.int32)
    theta = rng.integers(1, top, n_out).astype(np.int32)
    if ties:
        bias = ((cur[0, 0, 0].astype(np.int64) << frac_bits) - theta).astype(np.int32)
    res = gain = None
    if residual:
        bits = spikes(seed, (1 if res_static else steps, b, m, n_out), res_fill)
        res = pack_bits(bits)
        gain = rng.integers(-top // 4, top // 4, n_out).astype(np.int32)
    return cur, bias, theta, res, gain


NEURON_ARGS = dict(seed=st.integers(0, 2**31), static=st.booleans(), b=st.integers(1, 4), m=st.integers(1, 6),
                   n_out=st.one_of(st.sampled_from([1, 31, 63, 64, 65, 70, 128]), st.integers(1, 140)),
                   steps=st.integers(1, 5), residual=st.booleans(), res_static=st.booleans(), res_fill=FILL,
                   ties=st.booleans(), small=st.booleans())


@SETTINGS
@given(bounded=st.booleans(), acc_bits=st.one_of(st.none(), st.integers(4, 40)), **NEURON_ARGS)
def test_integrate_and_fire_matches_ref(bounded, acc_bits, seed, static, b, m, n_out, steps, residual, res_static,
                                        res_fill, ties, small):
    frac_bits = seed % 5 if small or ties else seed % 25
    cur, bias, theta, res, gain = neuron_case(seed, static, b, m, n_out, steps, frac_bits, residual,
                                              res_static, res_fill, ties, small)
    if acc_bits is not None:  # every threshold must fit the accumulator
        theta = np.minimum(theta.astype(np.int64), 2 ** (acc_bits - 1) - 1).astype(np.int32)
    bound = int(np.abs(cur.astype(np.int64)).max()) if bounded else None
    got, counts, clamped = integrate_and_fire(cur, steps, bias, theta, frac_bits, res, gain, bound, acc_bits)
    want, want_counts, want_clamped = integrate_and_fire_ref(cur, steps, bias, theta, frac_bits, res, gain, acc_bits)
    assert got.dtype == np.uint64 and got.shape == (steps, b, m, -(-n_out // 64))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(counts, want_counts)
    np.testing.assert_array_equal(clamped, want_clamped)
    if acc_bits is None:
        assert not clamped.any()
    if ties and not residual:  # the tie fires
        assert unpack_bits(got[0, 0, 0], n_out).all()


@pytest.mark.parametrize("block_lanes", [1, 40, 130])
@pytest.mark.parametrize("n_out,residual,acc_bits", [(32, False, None), (40, True, None), (70, True, 12),
                                                     (13, False, 10), (128, True, None)])
def test_integrate_and_fire_blocks_of_positions(monkeypatch, block_lanes, n_out, residual, acc_bits):
    """The kernel runs the positions in blocks of ``_BLOCK_LANES // N`` (at least 1), all
    steps inside a block: several blocks, the last one partial, give the same spikes."""
    monkeypatch.setattr(neuron_kernels, "_BLOCK_LANES", block_lanes)
    steps, m = 4, 11
    cur, bias, theta, res, gain = neuron_case(7 + n_out, False, 3, m, n_out, steps, 3, residual, False, "random",
                                              False, True)
    if acc_bits is not None:
        theta = np.minimum(theta.astype(np.int64), 2 ** (acc_bits - 1) - 1).astype(np.int32)
    got = integrate_and_fire(cur, steps, bias, theta, 3, res, gain, 301, acc_bits)
    want = integrate_and_fire_ref(cur, steps, bias, theta, 3, res, gain, acc_bits)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    if acc_bits is not None:
        assert got[2].any()  # the case exercises the clamp


def test_membrane_type_is_int32_only_where_no_value_can_overflow():
    zero = np.zeros(3, np.int32)
    assert _membrane_type(4, 2**29 - 1, 0, zero, zero) is np.int32
    assert _membrane_type(4, 2**29, 0, zero, zero) is np.int64
    assert _membrane_type(4, 1, 0, np.array([0, 2**29, 0], np.int32), zero) is np.int64
    assert _membrane_type(1, 1, 24, zero, zero) is np.int32 and _membrane_type(1, 1, 31, zero, zero) is np.int64
    assert _membrane_type(4, None, 0, zero, zero) is np.int64


@pytest.mark.parametrize("current", [2**29 - 1, 2**29 + 10])
def test_membrane_near_the_int32_limit_is_exact(current):
    """Four steps of a current just below / above 2**29 reach U ~ 2**31: the 32-bit kernel
    only where it cannot overflow, and the same spikes either way."""
    cur = np.full((1, 1, 1, 2), current, np.int32)
    bias = np.zeros(2, np.int32)
    theta = np.array([2**31 - 1, 1], np.int32)
    got, counts, _ = integrate_and_fire(cur, 4, bias, theta, 0, max_abs_current=current)
    want, want_counts, _ = integrate_and_fire_ref(cur, 4, bias, theta, 0)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(counts, want_counts)
    assert unpack_bits(got[:, 0, 0], 2)[:, 0].tolist() == [0, 0, 0, int(4 * current >= 2**31 - 1)]


def test_integrate_and_fire_by_hand():
    """Drive (3 << 1) - 1 = 5 each step. theta 5: U = 5, a tie, fires and resets to 0,
    every step. theta 7: U = 5 (silent), 10 (fires, 3), 8 (fires, 1)."""
    cur = np.array([[[[3, 3]]]], np.int32)
    spk, counts, _ = integrate_and_fire(cur, 3, np.array([1, 1], np.int32), np.array([5, 7], np.int32), 1)
    assert unpack_bits(spk[:, 0, 0], 2).tolist() == [[1, 0], [1, 1], [1, 1]]
    assert counts[:, 0].tolist() == [1, 2, 2]


def test_a_saturating_accumulator_by_hand():
    """acc_bits 4: U in [-8, 7]. Drive +5 with theta 7: U = 5, 10 -> clamped to 7 (fires, 0),
    5. Drive -5 with theta 7: -5, -10 -> clamped to -8, -13 -> -8: two clamps, no spike.
    Exact arithmetic would fire at step 2 and at step 3 (U = 3 + 5 = 8)."""
    cur = np.array([[[[5, -5]]]], np.int32)
    theta = np.array([7, 7], np.int32)
    zero = np.zeros(2, np.int32)
    spk, counts, clamped = integrate_and_fire(cur, 3, zero, theta, 0, acc_bits=4)
    assert unpack_bits(spk[:, 0, 0], 2).tolist() == [[0, 0], [1, 0], [0, 0]]
    assert clamped[:, 0].tolist() == [0, 2, 1]
    exact, _, none = integrate_and_fire(cur, 3, zero, theta, 0)
    assert unpack_bits(exact[:, 0, 0], 2).tolist() == [[0, 0], [1, 0], [1, 0]] and not none.any()
    with pytest.raises(ValueError, match="threshold 9 does not fit a 4-bit"):
        integrate_and_fire(cur, 3, zero, np.array([9, 1], np.int32), 0, acc_bits=4)
    acc, sat = readout_accumulate(np.array([[[[6, -6]]]], np.int32), 3, zero, 0, acc_bits=4)
    # +6: 6, 12 -> 7, 13 -> 7 (two clamps); -6: -6, -12 -> -8, -14 -> -8 (two clamps)
    assert acc.tolist() == [[7, -8]] and sat.tolist() == [4]


@SETTINGS
@given(seed=st.integers(0, 2**31), static=st.booleans(), b=st.integers(1, 9), n_out=st.integers(1, 40),
       steps=st.integers(1, 5), frac_bits=st.integers(0, 24), acc_bits=st.one_of(st.none(), st.integers(2, 64)))
def test_readout_accumulate_matches_ref(seed, static, b, n_out, steps, frac_bits, acc_bits):
    rng = np.random.default_rng(seed)
    cur = rng.integers(-5000, 5000, (1 if static else steps, b, 1, n_out)).astype(np.int32)
    bias = rng.integers(-2**30, 2**30, n_out).astype(np.int32)
    got, sat = readout_accumulate(cur, steps, bias, frac_bits, acc_bits)
    assert got.dtype == np.int64
    want, want_sat = readout_accumulate_ref(cur, steps, bias, frac_bits, acc_bits)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(sat, want_sat)


def test_neuron_kernels_refuse_silent_casts():
    one = np.ones(3, np.int32)
    with pytest.raises(ValueError, match="currents must be"):
        integrate_and_fire(np.zeros((1, 1, 1, 3), np.int64), 2, one, one, 0)
    with pytest.raises(ValueError, match="theta"):
        integrate_and_fire(np.zeros((1, 1, 1, 3), np.int32), 2, one, np.ones(3, np.int64), 0)
    with pytest.raises(ValueError, match="steps"):
        integrate_and_fire(np.zeros((3, 1, 1, 3), np.int32), 2, one, one, 0)
    with pytest.raises(ValueError, match="res must be"):
        integrate_and_fire(np.zeros((1, 1, 1, 3), np.int32), 2, one, one, 0, np.zeros((1, 1, 1, 1), np.uint8), one)
    with pytest.raises(ValueError, match="currents must be"):
        readout_accumulate(np.zeros((2, 3), np.int32), 1, one, 0)


# ----------------------------------------------------------------- digital products


@SETTINGS
@given(seed=st.integers(0, 2**31), b=st.integers(1, 6), length=st.sampled_from([1, 7, 64, 65, 300]),
       n_out=st.integers(1, 40), fill=st.sampled_from(["random", "zeros", "max"]))
def test_pixel_linear_matches_ref(seed, b, length, n_out, fill):
    rng = np.random.default_rng(seed)
    x = pixels(rng, (b, length), fill)
    w = rng.integers(-127, 128, (length, n_out)).astype(np.int8)
    got = pixel_linear(x, w)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, pixel_linear_ref(x, w))


@SETTINGS
@given(seed=st.integers(0, 2**31), b=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       c=st.sampled_from([1, 2, 3, 31]), n_out=st.integers(1, 40), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.sampled_from([1, 2, 3]), padding=st.sampled_from([0, 1, 2]),
       fill=st.sampled_from(["random", "zeros", "max"]))
def test_pixel_conv2d_matches_ref(seed, b, h, w, c, n_out, kh, kw, stride, padding, fill):
    assume(_fits(h, w, kh, kw, padding))
    rng = np.random.default_rng(seed)
    x = pixels(rng, (b, h, w, c), fill)
    wt = rng.integers(-127, 128, (kh, kw, c, n_out)).astype(np.int8)
    got = pixel_conv2d(x, wt, stride, padding)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, pixel_conv2d_ref(x, wt, stride, padding))


@SETTINGS
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 9), length=st.sampled_from(FAN_INS),
       n_out=st.integers(1, 40), fill=FILL)
def test_spike_linear_matches_ref(seed, rows, length, n_out, fill):
    rng = np.random.default_rng(seed)
    x = pack_bits(spikes(seed, (rows, length), fill))
    w = rng.integers(-127, 128, (64 * x.shape[1], n_out)).astype(np.int8)
    got = spike_linear(x, w)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, spike_linear_ref(x, w))


@SETTINGS
@given(seed=st.integers(0, 2**31), steps=st.integers(1, 5), rows=st.integers(1, 7),
       length=st.sampled_from(FAN_INS), n_out=st.integers(1, 40), fill=FILL)
def test_spike_linear_total_matches_ref(seed, steps, rows, length, n_out, fill):
    rng = np.random.default_rng(seed)
    x = pack_bits(spikes(seed, (steps, rows, length), fill))
    w = rng.integers(-127, 128, (64 * x.shape[2], n_out)).astype(np.int8)
    got = spike_linear_total(x, w)
    assert got.dtype == np.int32 and got.shape == (rows, n_out)
    np.testing.assert_array_equal(got, spike_linear_total_ref(x, w))
    np.testing.assert_array_equal(got, sum(spike_linear(x[t], w) for t in range(steps)))


def pixels(rng, shape, fill: str) -> np.ndarray:
    """uint8 pixels: none lit, all at 255, or a random image with ~80 % zeros (like MNIST)."""
    if fill == "zeros":
        return np.zeros(shape, np.uint8)
    if fill == "max":
        return np.full(shape, 255, np.uint8)
    return np.where(rng.random(shape) < 0.2, rng.integers(1, 256, shape), 0).astype(np.uint8)


# --------------------------------------------------------------------------- pooling


@SETTINGS
@given(seed=st.integers(0, 2**31), batch=st.integers(1, 3), h=st.integers(1, 12),
       w=st.integers(1, 12), c=st.integers(1, 70), kernel=st.integers(1, 3),
       stride=st.integers(1, 3), fill=FILL)
def test_maxpool_spikes_matches_ref(seed, batch, h, w, c, kernel, stride, fill):
    assume(kernel <= min(h, w))
    s = spikes(seed, (batch, h, w, c), fill)
    got = maxpool_spikes(s, kernel, stride)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, maxpool_spikes_ref(s, kernel, stride))
    # OR commutes with packing: pooling packed words equals packing pooled spikes
    np.testing.assert_array_equal(maxpool_spikes(pack_bits(s), kernel, stride), pack_bits(got))
