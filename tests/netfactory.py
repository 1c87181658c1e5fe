"""Small valid networks for tests, fully determined by a seed."""

from __future__ import annotations

import numpy as np

from bsnn_sim.network import (INPUT, Conv2d, Encoding, EncodingKind, Flatten, Linear, MaxPool2d,
                              Network, NeuronKind, Precision)


def tiny_network(seed: int = 0, encoding: str = "threshold", first_precision: str = "int8") -> Network:
    """input (1,6,6) -> conv1 1->4 3x3 pad 1 IF (``first_precision``)
    -> conv2 binary 4->4 3x3 pad 1 IF, residual from conv1 -> pool 2x2 -> flatten (36)
    -> fc1 binary 36->5 IF -> out int8 5->3 readout.

    Weights, biases, thresholds (>= 1) and residual gains are random from ``seed``,
    scaled so that neurons both fire and stay silent on typical inputs.
    """
    rng = np.random.default_rng(seed)
    frac = 4

    def weights(precision: Precision, shape):
        if precision is Precision.BINARY:
            return rng.choice(np.array([-1, 1], np.int8), size=shape)
        return rng.integers(-127, 128, size=shape, dtype=np.int8)

    def compute(cls, name, source, precision, shape, neuron=NeuronKind.IF, residual=None, **kw):
        precision = Precision(precision)
        w = weights(precision, shape)
        out, fan_in = shape[0], int(np.prod(shape[1:]))
        scale = int(np.sqrt(fan_in) * np.abs(w).mean()) << frac  # a typical |I| on spikes, in 2**-F
        if neuron is NeuronKind.READOUT:  # small biases keep the prediction input-driven
            bias, theta = rng.integers(-scale // 64, scale // 64 + 1, size=out), None
        else:  # mostly leaky biases and thresholds around a typical current
            bias = rng.integers(-scale // 8, scale // 2 + 1, size=out)
            theta = rng.integers(1, scale + 2, size=out)
        res_gain = rng.integers(0, scale // 2 + 1, size=out) if residual else None
        bias, theta, res_gain = (None if v is None else v.astype(np.int32) for v in (bias, theta, res_gain))
        return cls(name=name, input=source, weight=w, precision=precision, neuron=neuron, frac_bits=frac,
                   bias=bias, theta=theta, residual=residual, res_gain=res_gain, **kw)

    nodes = [
        compute(Conv2d, "conv1", INPUT, first_precision, (4, 1, 3, 3), padding=1),
        compute(Conv2d, "conv2", "conv1", "binary", (4, 4, 3, 3), residual="conv1", padding=1),
        MaxPool2d("pool", "conv2", kernel=2, stride=2),
        Flatten("flat", "pool"),
        compute(Linear, "fc1", "flat", "binary", (5, 36)),
        compute(Linear, "out", "fc1", "int8", (3, 5), neuron=NeuronKind.READOUT),
    ]
    return Network.build(
        (1, 6, 6), 4, Encoding(EncodingKind(encoding), level=128, seed=seed), nodes,
        classes=("zero", "one", "two"),
        metadata={"training_command": f"bsnn-sim train --seed {seed}", "seed": seed, "accuracy": 0.5},
    )


def wide_network(seed: int, encoding: str) -> Network:
    """Channel counts that cross 64-bit words (70), a strided binary convolution, a
    residual into a convolution, a flatten of a (C, H, W) map into a binary linear layer
    with a fan-in that is not a multiple of 64, and a binary readout."""
    rng = np.random.default_rng(seed)
    f = 3

    def layer(cls, name, src, shape, precision="binary", neuron=NeuronKind.IF, residual=None, **kw):
        p = Precision(precision)
        w = (rng.choice(np.array([-1, 1], np.int8), size=shape) if p is Precision.BINARY
             else rng.integers(-127, 128, size=shape, dtype=np.int8))
        fan = int(np.prod(shape[1:])) * int(np.abs(w).max()) << f
        out = shape[0]
        return cls(name=name, input=src, weight=w, precision=p, neuron=neuron, frac_bits=f,
                   bias=rng.integers(-fan // 16, fan // 16 + 1, out).astype(np.int32),
                   theta=None if neuron is NeuronKind.READOUT else rng.integers(1, fan // 4, out).astype(np.int32),
                   residual=residual,
                   res_gain=None if residual is None else rng.integers(0, fan // 4, out).astype(np.int32), **kw)

    first = "int8" if encoding == "direct" else "binary"
    nodes = [
        layer(Conv2d, "c1", INPUT, (70, 3, 3, 3), first, stride=2, padding=1),
        layer(Conv2d, "c2", "c1", (70, 70, 3, 3), padding=1),
        layer(Conv2d, "c3", "c2", (70, 70, 3, 3), padding=1, residual="c1"),
        Flatten("flat", "c3"),
        layer(Linear, "fc", "flat", (67, 70 * 5 * 5)),
        layer(Linear, "out", "fc", (11, 67), neuron=NeuronKind.READOUT),
    ]
    return Network.build((3, 9, 9), 3, Encoding(EncodingKind(encoding), level=100, seed=seed + 7), nodes)


def mnist_network(seed=0, residual=True) -> Network:
    """A random MNIST-shaped residual network: conv int8 1->8 (stride 2) -> binary conv
    8->8 with residual (unless ``residual`` is False: then a workload can describe it,
    ``MNIST_WORKLOAD``) -> maxpool -> flatten -> int8 readout."""
    rng = np.random.default_rng(seed)

    def layer(cls, name, src, shape, precision, neuron=NeuronKind.IF, residual=None, **kw):
        w = (rng.choice(np.array([-1, 1], np.int8), size=shape) if precision == "binary"
             else rng.integers(-127, 128, size=shape, dtype=np.int8))
        n = shape[0]
        return cls(name=name, input=src, weight=w, precision=Precision(precision), neuron=neuron, frac_bits=2,
                   bias=rng.integers(-200, 200, n).astype(np.int32),
                   theta=None if neuron is NeuronKind.READOUT else rng.integers(50, 4000, n).astype(np.int32),
                   residual=residual,
                   res_gain=None if residual is None else rng.integers(0, 40, n).astype(np.int32), **kw)

    nodes = [layer(Conv2d, "conv1", INPUT, (8, 1, 3, 3), "int8", stride=2, padding=1),
             layer(Conv2d, "conv2", "conv1", (8, 8, 3, 3), "binary", padding=1,
                   residual="conv1" if residual else None),
             MaxPool2d("pool", "conv2", 2, 2), Flatten("flat", "pool"),
             layer(Linear, "readout", "flat", (10, 392), "int8", neuron=NeuronKind.READOUT)]
    return Network.build((1, 28, 28), 2, Encoding(EncodingKind.DIRECT), nodes, classes=[str(i) for i in range(10)],
                         metadata={"command": "built by tests/test_cli.py"})


# The workload TOML of ``mnist_network(residual=False)`` (name "cli_small").
MNIST_WORKLOAD = """
name = "cli_small"
dataset = "mnist"
weights = "cli_small.bsnn.npz"
[network]
time_steps = 2
encoding = "direct"
frac_bits = 2
[[network.layers]]
op = "conv2d"
channels = 8
kernel = 3
stride = 2
padding = 1
precision = "int8"
[[network.layers]]
op = "conv2d"
channels = 8
kernel = 3
padding = 1
precision = "binary"
[[network.layers]]
op = "maxpool2d"
kernel = 2
[[network.layers]]
op = "flatten"
[[network.layers]]
op = "linear"
features = 10
precision = "int8"
"""


def cli_workspace(tmp_path, monkeypatch, n_test: int):
    """A workspace for CLI tests: synthetic MNIST (``n_test`` test images) under
    ``tmp_path/data``, ``cli_small.toml`` (:data:`MNIST_WORKLOAD`) and its weight file, no
    dataset search path from the environment. Returns ``(tmp_path, workload, data_dir)``."""
    from bsnn_sim import weightfile
    from synthdata import write_mnist

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("BSNN_DATA_DIR", raising=False)
    data = write_mnist(tmp_path / "data", n_train=10, n_test=n_test)
    wl = tmp_path / "cli_small.toml"
    wl.write_text(MNIST_WORKLOAD)
    weightfile.save(mnist_network(residual=False), tmp_path / "cli_small.bsnn.npz")
    return tmp_path, wl, data
