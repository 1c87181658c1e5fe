"""Contract tests: every fast kernel equals its plain-NumPy twin, bit for bit.

Sizes are odd on purpose: fan-ins that are not multiples of 64, channels 1..70, strides
1/2/3, padding 0/1/2, and the extreme inputs (no spike, all spikes) and weights (all -1,
all +1) where an offset error would show.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from numba import njit

from bsnn_sim.kernels import (if_step, if_step_ref, maxpool_spikes, maxpool_spikes_ref,
                              pack_bits, pack_bits_ref, popcount64, popcount_gemm,
                              prepare_conv_weights, readout_step, readout_step_ref, unpack_bits,
                              unpack_bits_ref, xnor_conv2d, xnor_conv2d_prepared, xnor_conv2d_ref,
                              xnor_linear, xnor_linear_ref, xnor_offset)
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
def _popcounts(words):
    out = np.empty(words.shape[0], np.int64)
    for i in range(words.shape[0]):
        out[i] = popcount64(words[i])
    return out


def test_popcount64_counts_every_bit():
    rng = np.random.default_rng(0)
    words = np.concatenate([np.array([0, 1, 2**63, 2**64 - 1], np.uint64),
                            rng.integers(0, 2**64, 200, dtype=np.uint64, endpoint=False)])
    expected = [bin(int(v)).count("1") for v in words]
    assert _popcounts(words).tolist() == expected


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
@given(plan=st.sampled_from(["direct", "rows", "patch"]), **CONV_ARGS)
def test_every_conv_plan_matches_ref(plan, seed, batch, h, w, c, n_out, kh, kw, stride,
                                     padding, fill, sign):
    assume(_fits(h, w, kh, kw, padding))
    s, wt = conv_case(seed, batch, h, w, c, n_out, kh, kw, fill, sign)
    prepared = prepare_conv_weights(packed_weights(wt), channels=c)
    got = _conv_packed(pack_bits(s), prepared, xnor_offset(wt), stride, padding, plan)
    np.testing.assert_array_equal(got, xnor_conv2d_ref(s, wt, stride, padding))
    # the public prepared entry point, weights laid out without the channel hint
    got = xnor_conv2d_prepared(pack_bits(s), prepare_conv_weights(packed_weights(wt)),
                               xnor_offset(wt), stride, padding)
    np.testing.assert_array_equal(got, xnor_conv2d_ref(s, wt, stride, padding))


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


NEURON_ARGS = dict(seed=st.integers(0, 2**31), batch=st.integers(1, 4), m=st.integers(1, 7),
                   n_out=st.integers(1, 40), frac_bits=st.integers(0, 24),
                   residual=st.booleans(), ties=st.booleans())


@SETTINGS
@given(**NEURON_ARGS)
def test_if_step_matches_ref(seed, batch, m, n_out, frac_bits, residual, ties):
    rng = np.random.default_rng(seed)
    shape = (batch, m, n_out)
    i = rng.integers(-5000, 5000, shape).astype(np.int32)
    bias = rng.integers(-2**30, 2**30, n_out).astype(np.int32)
    theta = rng.integers(1, 2**30, n_out).astype(np.int32)
    res = rng.integers(0, 2, shape).astype(np.uint8) if residual else None
    gain = rng.integers(-2**20, 2**20, n_out).astype(np.int32) if residual else None
    u = rng.integers(-2**40, 2**40, shape).astype(np.int64)
    if ties:  # choose u so that the updated membrane lands exactly on theta
        drive = (i.astype(np.int64) << frac_bits) - bias
        if residual:
            drive = drive + gain.astype(np.int64) * res
        u = theta.astype(np.int64) - drive
    u_ref = u.copy()
    s = if_step(u, i, bias, theta, frac_bits, res, gain)
    s_ref = if_step_ref(u_ref, i, bias, theta, frac_bits, res, gain)
    assert s.dtype == np.uint8
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_array_equal(u, u_ref)
    if ties:
        assert s.all() and not u.any()


def test_if_step_reset_by_subtraction_by_hand():
    u = np.array([[[0, 5, 9]]], np.int64)
    i = np.array([[[3, 1, 2]]], np.int32)
    s = if_step(u, i, np.array([1, 0, 0], np.int32), np.array([4, 6, 10], np.int32), 1)
    # U = 0 + 6 - 1 = 5 -> fires, 1 ; 5 + 2 = 7 -> fires, 1 ; 9 + 4 = 13 -> fires, 3
    assert s.tolist() == [[[1, 1, 1]]] and u.tolist() == [[[1, 1, 3]]]


@SETTINGS
@given(seed=st.integers(0, 2**31), batch=st.integers(1, 9), n_out=st.integers(1, 40),
       frac_bits=st.integers(0, 24))
def test_readout_step_matches_ref(seed, batch, n_out, frac_bits):
    rng = np.random.default_rng(seed)
    a = rng.integers(-2**40, 2**40, (batch, n_out)).astype(np.int64)
    i = rng.integers(-5000, 5000, (batch, n_out)).astype(np.int32)
    bias = rng.integers(-2**30, 2**30, n_out).astype(np.int32)
    a_ref = a.copy()
    readout_step(a, i, bias, frac_bits)
    readout_step_ref(a_ref, i, bias, frac_bits)
    np.testing.assert_array_equal(a, a_ref)


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


def test_neuron_kernels_refuse_silent_casts():
    u = np.zeros((1, 1, 3), np.int64)
    with pytest.raises(ValueError, match="i must be"):
        if_step(u, np.zeros((1, 1, 3), np.int64), np.zeros(3, np.int32), np.ones(3, np.int32), 0)
    with pytest.raises(ValueError, match="theta"):
        if_step(u, np.zeros((1, 1, 3), np.int32), np.zeros(3, np.int32), np.ones(3, np.int64), 0)
    with pytest.raises(ValueError, match="a must be"):
        readout_step(np.zeros((2, 3), np.int32), np.zeros((2, 3), np.int32), np.zeros(3, np.int32), 0)
