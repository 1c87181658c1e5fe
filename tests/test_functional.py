"""The functional simulator is bit-exact to the trainer's integer evaluation.

The trainer's evaluation (PyTorch float64 products of integers, int64 membranes) is an
implementation of docs/weight-format.md independent of the Numba kernels; the two must
give identical readout accumulators, hence identical predictions, on every image.
"""

import numpy as np
import pytest

from bsnn_sim.encoding import encode_step
from bsnn_sim.functional import FunctionalSimulator
from bsnn_sim.network import INPUT
from netfactory import tiny_network, wide_network

torch = pytest.importorskip("torch")
from bsnn_sim.train.inteval import integer_predict  # noqa: E402


def _images(net, n, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n,) + net.input_shape, dtype=np.uint8)


NETWORKS = [(tiny_network, enc) for enc in ("direct", "threshold", "rate")] + \
           [(wide_network, enc) for enc in ("direct", "threshold", "rate")]


@pytest.mark.parametrize("factory,encoding", NETWORKS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simulator_matches_integer_evaluation(factory, encoding, seed):
    net = factory(seed, encoding)
    images = _images(net, 40, seed)
    index = np.arange(100, 140)
    ref_pred, ref_scores = integer_predict(net, images, index)
    res = FunctionalSimulator(net).run_batch(images, index)
    np.testing.assert_array_equal(res.scores, ref_scores)
    np.testing.assert_array_equal(res.predictions, ref_pred)


def test_results_do_not_depend_on_batch_size():
    net = wide_network(3, "rate")
    images = _images(net, 37, 3)
    labels = np.zeros(37, np.int64)
    sim = FunctionalSimulator(net)
    a, b = sim.run(images, labels, batch_size=37), sim.run(images, labels, batch_size=5)
    np.testing.assert_array_equal(a.scores, b.scores)
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name], b.spikes[name])


def test_input_spike_counts_are_the_encoded_spikes():
    net = wide_network(4, "rate")
    images = _images(net, 6, 4)
    index = np.arange(6)
    res = FunctionalSimulator(net).run_batch(images, index)
    for t in range(net.time_steps):
        x = encode_step(images, net.encoding, t, net.time_steps, index)
        np.testing.assert_array_equal(res.spikes[INPUT][:, t], x.reshape(6, -1).sum(1))


def test_spike_counts_are_bounded_by_layer_size():
    net = wide_network(5, "threshold")
    res = FunctionalSimulator(net).run_batch(_images(net, 8, 5), np.arange(8))
    for name, counts in res.spikes.items():
        assert counts.min() >= 0 and counts.max() <= np.prod(net.shapes[name])
    assert any(c.sum() > 0 for c in res.spikes.values())


def test_rate_code_is_keyed_by_image_index_not_batch_position():
    net = tiny_network(0, "rate")
    images = _images(net, 4, 0)
    x_all = encode_step(images, net.encoding, 2, net.time_steps, np.arange(10, 14))
    x_one = encode_step(images[2:3], net.encoding, 2, net.time_steps, np.array([12]))
    np.testing.assert_array_equal(x_all[2:3], x_one)
    assert not np.array_equal(x_all, encode_step(images, net.encoding, 3, net.time_steps, np.arange(10, 14)))


def _chunk_activity_ref(x_chw, node, columns):
    """Loop version: gather each window's fan-in in (ky, kx, c) order, split into chunks."""
    b, c, h, w = x_chw.shape
    kh, kw = node.kernel
    p, s = node.padding, node.stride
    xp = np.zeros((b, c, h + 2 * p, w + 2 * p), np.uint8)
    xp[:, :, p:p + h, p:p + w] = x_chw
    oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    pos = np.zeros(b, np.int32)
    chunks = np.zeros(b, np.int32)
    for i in range(b):
        for y in range(oh):
            for x in range(ow):
                vec = xp[i, :, y * s:y * s + kh, x * s:x * s + kw].transpose(1, 2, 0).reshape(-1)
                nz = [vec[j:j + columns].any() for j in range(0, len(vec), columns)]
                pos[i] += any(nz)
                chunks[i] += sum(nz)
    return pos, chunks


@pytest.mark.parametrize("columns", [5, 36, 288, 630, 1000])
@pytest.mark.parametrize("density", [0.0, 0.01, 0.3])
def test_chunk_activity_matches_loop_reference(columns, density):
    from bsnn_sim.functional import chunk_activity

    net = wide_network(1, "threshold")
    node = net.node("c2")  # 70 channels, 3x3, padding 1: fan-in 630
    rng = np.random.default_rng(columns)
    x_chw = (rng.random((4, 70, 5, 5)) < density).astype(np.uint8)
    got = chunk_activity(np.ascontiguousarray(x_chw.transpose(0, 2, 3, 1)), node, columns)
    want = _chunk_activity_ref(x_chw, node, columns)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
