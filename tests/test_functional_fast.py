"""The layer-major, bit-packed simulator on graph shapes the shipped workloads do not
exercise, against the trainer's independent integer evaluation: static and per-step
inputs, readouts and residuals of every kind, flattened maps, channel counts that do
not fill a word. Besides scores it checks the activity: spike counts of every spiking
tensor and, for in-memory layers, active positions and non-empty chunks."""

import numpy as np
import pytest

from bsnn_sim.functional import FunctionalSimulator, chunk_activity
from bsnn_sim.network import (INPUT, Conv2d, Encoding, EncodingKind, Flatten, Linear, MaxPool2d, Network,
                              NeuronKind, Precision)

torch = pytest.importorskip("torch")
from bsnn_sim.train.inteval import integer_forward  # noqa: E402

ENCODINGS = ["direct", "threshold", "rate"]


class _Builder:
    """Random layers whose neurons both fire and stay silent on random images."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def layer(self, cls, name, src, shape, precision, neuron=NeuronKind.IF, residual=None, **kw):
        rng = self.rng
        p = Precision(precision)
        w = (rng.choice(np.array([-1, 1], np.int8), size=shape) if p is Precision.BINARY
             else rng.integers(-127, 128, size=shape, dtype=np.int8))
        f = 3
        scale = int(np.sqrt(np.prod(shape[1:])) * np.abs(w).mean()) << f
        out = shape[0]
        theta = rng.integers(1, scale + 2, out).astype(np.int32)
        return cls(name=name, input=src, weight=w, precision=p, neuron=neuron, frac_bits=f,
                   bias=rng.integers(-scale // 8, scale // 4 + 1, out).astype(np.int32),
                   theta=None if neuron is NeuronKind.READOUT else theta,
                   residual=residual,
                   res_gain=None if residual is None else rng.integers(-scale // 4, scale, out).astype(np.int32),
                   **kw)


def readout_on_input(seed, encoding, precision, steps):
    """input (2, 5, 5) -> flatten -> readout: static spikes (threshold), per-step spikes
    (rate) or pixels (direct) straight into the readout."""
    b = _Builder(seed)
    nodes = [Flatten("flat", INPUT), b.layer(Linear, "out", "flat", (7, 50), precision, NeuronKind.READOUT)]
    return Network.build((2, 5, 5), steps, Encoding(EncodingKind(encoding), level=90, seed=seed), nodes)


def flat_residual(seed, encoding, channels, steps):
    """conv -> maxpool -> flatten -> int8 IF linear with the flattened map as residual
    -> flatten of a flat vector -> binary linear -> int8 readout."""
    b = _Builder(seed)
    c = channels
    first = "int8" if encoding == "direct" else "binary"
    nodes = [
        b.layer(Conv2d, "c1", INPUT, (c, 1, 3, 3), first, padding=1),
        MaxPool2d("pool", "c1", 2, 2),
        Flatten("flat", "pool"),
        b.layer(Linear, "fc1", "flat", (c * 9, c * 9), "int8", residual="flat"),
        Flatten("again", "fc1"),
        b.layer(Linear, "fc2", "again", (33, c * 9), "binary"),
        b.layer(Linear, "out", "fc2", (5, 33), "int8", NeuronKind.READOUT),
    ]
    return Network.build((1, 6, 6), steps, Encoding(EncodingKind(encoding), level=90, seed=seed), nodes)


def static_residual(seed, encoding, channels, steps):
    """A residual from a static tensor (a max-pool of the input) into a binary convolution
    on that tensor, then an int8 convolution on spikes, and a binary readout."""
    b = _Builder(seed)
    c = channels
    nodes = [
        MaxPool2d("pool", INPUT, 2, 1),
        b.layer(Conv2d, "c1", "pool", (c, c, 3, 3), "binary", padding=1, residual="pool"),
        b.layer(Conv2d, "c2", "c1", (4, c, 2, 2), "int8", stride=2),
        Flatten("flat", "c2"),
        b.layer(Linear, "out", "flat", (6, 4 * 3 * 3), "binary", NeuronKind.READOUT),
    ]
    return Network.build((c, 7, 7), steps, Encoding(EncodingKind(encoding), level=120, seed=seed), nodes)


def _images(net, n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n,) + net.input_shape, dtype=np.uint8)
    return np.where(rng.random(images.shape) < 0.3, 0, images).astype(np.uint8)


def _hwc_rows(net, history, name):
    """The spikes read by a node from tensor ``name``, channels-last, one row per (t, b)."""
    while name != INPUT and isinstance(net.node(name), Flatten):
        name = net.node(name).input
    x = history[name].numpy().astype(np.uint8)
    if x.ndim == 5:
        x = x.transpose(0, 1, 3, 4, 2)
    return x.reshape((-1,) + x.shape[2:])


def _check(net, seed, columns=None, n=9):
    images = _images(net, n, seed)
    index = np.arange(40, 40 + n)
    scores, history = integer_forward(net, images, index)
    sim = FunctionalSimulator(net, columns)
    res = sim.run_batch(images, index)
    np.testing.assert_array_equal(res.scores, scores.numpy())
    for name in sim.spiking:
        want = history[name].numpy().reshape(net.time_steps, n, -1).sum(axis=2).T
        np.testing.assert_array_equal(res.spikes[name], want, err_msg=name)
    for name in sim.in_memory:
        node = net.node(name)
        x = _hwc_rows(net, history, node.input)
        pos, chunks = chunk_activity(x if isinstance(node, Conv2d) else x.reshape(len(x), -1), node, columns)
        np.testing.assert_array_equal(res.active_positions[name], pos.reshape(net.time_steps, n).T, err_msg=name)
        np.testing.assert_array_equal(res.active_chunks[name], chunks.reshape(net.time_steps, n).T, err_msg=name)
    return res


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("precision", ["int8", "binary"])
@pytest.mark.parametrize("steps", [1, 3])
def test_readout_straight_on_the_input(encoding, precision, steps):
    res = _check(readout_on_input(steps, encoding, precision, steps), steps, columns=16)
    assert len(np.unique(res.scores, axis=0)) > 1  # not a comparison of constants


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("channels", [1, 31, 64, 70])
def test_residual_from_a_flattened_map_into_a_linear_layer(encoding, channels):
    net = flat_residual(channels, encoding, channels, 2 + channels % 4)
    res = _check(net, channels, columns=100)
    assert res.spikes["fc1"].sum() > 0


@pytest.mark.parametrize("encoding", ["threshold", "rate"])
@pytest.mark.parametrize("channels", [1, 3, 33])
@pytest.mark.parametrize("columns", [5, 27, 1000])
def test_static_residual_and_int8_convolution_on_spikes(encoding, channels, columns):
    net = static_residual(channels, encoding, channels, 4)
    res = _check(net, channels + columns, columns=columns)
    assert res.spikes["c1"].sum() > 0 and res.spikes["c2"].sum() > 0


def test_slices_of_a_batch_join_to_the_whole(monkeypatch):
    import bsnn_sim.functional as functional

    net = flat_residual(5, "rate", 31, 3)
    images = _images(net, 23, 5)
    index = np.arange(23)
    whole = FunctionalSimulator(net, 64).run_batch(images, index)
    monkeypatch.setattr(functional, "_SLICE_BYTES", 1)
    sim = FunctionalSimulator(net, 64)
    assert sim.slice_images == 1
    sliced = sim.run_batch(images, index)
    for field in ("predictions", "scores"):
        np.testing.assert_array_equal(getattr(sliced, field), getattr(whole, field))
    for field in ("spikes", "active_positions", "active_chunks"):
        for name, value in getattr(whole, field).items():
            np.testing.assert_array_equal(getattr(sliced, field)[name], value)


def test_no_images_give_empty_results():
    net = flat_residual(2, "threshold", 4, 2)
    res = FunctionalSimulator(net, 64).run(np.zeros((0, 1, 6, 6), np.uint8), np.zeros(0, np.int64))
    assert res.predictions.shape == (0,) and res.scores.shape == (0, 5)
    assert all(v.shape == (0, 2) for v in res.spikes.values())
