"""Input encodings: the documented SplitMix64 stream and the deterministic codes."""

import numpy as np

from bsnn_sim.encoding import encode_step, splitmix64_top8
from bsnn_sim.network import Encoding, EncodingKind


def test_splitmix64_matches_published_reference_outputs():
    # SplitMix64 seeded with 0 (Steele et al. 2014; the generator Java's SplittableRandom
    # uses) yields 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F first.
    top = splitmix64_top8(0, np.arange(3, dtype=np.uint64))
    np.testing.assert_array_equal(top, [0xE2, 0x6E, 0x06])


def test_rate_code_probability_is_pixel_over_256():
    images = np.full((50, 1, 20, 20), 64, np.uint8)
    enc = Encoding(EncodingKind.RATE, seed=3)
    rate = np.mean([encode_step(images, enc, t, 8, np.arange(50)).mean() for t in range(8)])
    assert abs(rate - 64 / 256) < 0.01
    assert encode_step(np.zeros((2, 1, 3, 3), np.uint8), enc, 0, 8, np.arange(2)).sum() == 0


def test_threshold_and_direct_codes_are_static():
    images = np.array([[[[0, 127, 128, 255]]]], np.uint8)
    thr = Encoding(EncodingKind.THRESHOLD, level=128)
    np.testing.assert_array_equal(encode_step(images, thr, 5, 8, np.arange(1)), [[[[0, 0, 1, 1]]]])
    direct = Encoding(EncodingKind.DIRECT)
    np.testing.assert_array_equal(encode_step(images, direct, 3, 8, np.arange(1)), images)
    assert thr.is_static and direct.is_static and not Encoding(EncodingKind.RATE).is_static
