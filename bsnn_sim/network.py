"""The network graph of a binary spiking neural network, as stored in a weight file.

A :class:`Network` is a frozen, validated description: input shape, number of time
steps ``T``, input :class:`Encoding` and an ordered tuple of nodes. Every node reads
the output of one earlier node (or of the encoder, named ``"input"``) and the last
node is the readout. The integer semantics of each node are defined in
``docs/weight-format.md``; in short, for a compute node (:class:`Conv2d`,
:class:`Linear`) at time step ``t``::

    I[t, n] = sum_i w[n, i] * x[t, i]                      (exact integer)
    U[t, n] = U[t-1, n] + (I[t, n] << F) - bias[n] + res_gain[n] * r[t, n]
    s[t, n] = 1 if U[t, n] >= theta[n] else 0             (neuron == "if")
    U[t, n] = U[t, n] - theta[n] * s[t, n]                (reset by subtraction)

with ``U[-1] = 0``; a ``"readout"`` node accumulates without firing and the
predicted class is the first index of the maximum of ``U[T-1]``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .errors import WeightFileError

INPUT = "input"


class EncodingKind(str, enum.Enum):
    """How pixels (uint8) become the input of the first layer at every time step."""

    DIRECT = "direct"  # the uint8 pixel value itself, identical at every step
    THRESHOLD = "threshold"  # spike iff pixel >= level, identical at every step
    RATE = "rate"  # Bernoulli spike with probability pixel/256 (SplitMix64 stream)


class Precision(str, enum.Enum):
    BINARY = "binary"  # weights in {-1, +1}, bit-packed in the file (bit 1 = +1)
    INT8 = "int8"  # weights in [-127, 127]


class NeuronKind(str, enum.Enum):
    IF = "if"  # integrate-and-fire, dynamic threshold, reset by subtraction
    READOUT = "readout"  # accumulate without firing; argmax gives the class


@dataclass(frozen=True)
class Encoding:
    """Input encoding. ``level`` is used by THRESHOLD, ``seed`` by RATE."""

    kind: EncodingKind
    level: int = 128
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.level <= 255:
            raise WeightFileError(f"encoding level {self.level} out of range: allowed 1..255")
        if not 0 <= self.seed < 2**63:
            raise WeightFileError(f"encoding seed {self.seed} out of range: allowed 0..2**63-1")

    @property
    def emits_spikes(self) -> bool:
        """True when the encoder output is binary (0/1) rather than uint8 pixels."""
        return self.kind is not EncodingKind.DIRECT

    @property
    def is_static(self) -> bool:
        """True when every time step sees the same input (direct and threshold codes)."""
        return self.kind is not EncodingKind.RATE


@dataclass(frozen=True, eq=False)
class Compute:
    """Fields shared by the two compute nodes (:class:`Conv2d`, :class:`Linear`).

    ``weight`` is int8 with shape ``(out, fan_in)`` for a linear node and
    ``(out, in_channels, kh, kw)`` for a convolution; binary weights hold only -1/+1.
    ``bias``, ``theta`` and ``res_gain`` are int32 vectors of length ``out``
    (``theta`` and ``res_gain`` are ``None`` where unused).
    """

    name: str
    input: str
    weight: np.ndarray
    precision: Precision
    neuron: NeuronKind
    frac_bits: int
    bias: np.ndarray
    theta: np.ndarray | None = None
    residual: str | None = None
    res_gain: np.ndarray | None = None

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def fan_in(self) -> int:
        return int(np.prod(self.weight.shape[1:]))

    def weight_matrix(self) -> np.ndarray:
        """Weights as ``(out, fan_in)``; a convolution's fan-in order is (c, ky, kx)."""
        return self.weight.reshape(self.out_features, -1)


@dataclass(frozen=True, eq=False)
class Conv2d(Compute):
    """2-D convolution, zero padding (a padded input is a 0-spike or a 0 pixel)."""

    stride: int = 1
    padding: int = 0

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weight.shape[2]), int(self.weight.shape[3])


@dataclass(frozen=True, eq=False)
class Linear(Compute):
    """Fully connected layer over a flat input."""


@dataclass(frozen=True)
class MaxPool2d:
    """Max pooling of spikes (a logical OR over each ``kernel x kernel`` window)."""

    name: str
    input: str
    kernel: int
    stride: int


@dataclass(frozen=True)
class Flatten:
    """(C, H, W) -> (C*H*W,) in C order (channel-major)."""

    name: str
    input: str


Node = Conv2d | Linear | MaxPool2d | Flatten


@dataclass(frozen=True, eq=False)
class Network:
    """A validated BSNN graph. Build it with :func:`Network.build`, which checks it."""

    input_shape: tuple[int, int, int]
    time_steps: int
    encoding: Encoding
    nodes: tuple[Node, ...]
    classes: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)
    shapes: dict = field(default_factory=dict)

    @classmethod
    def build(cls, input_shape, time_steps, encoding, nodes, classes=(), metadata=None) -> "Network":
        net = cls(tuple(int(s) for s in input_shape), int(time_steps), encoding, tuple(nodes),
                  tuple(classes), dict(metadata or {}), {})
        net.shapes.update(_infer_shapes(net))
        return net

    @property
    def readout(self) -> Compute:
        return self.nodes[-1]

    @property
    def num_classes(self) -> int:
        return self.readout.out_features

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def compute_nodes(self) -> list[Compute]:
        return [n for n in self.nodes if isinstance(n, Compute)]

    def is_static(self, name: str) -> bool:
        """True when the tensor called ``name`` is the same at every time step: the
        encoder's output for a ``direct`` or ``threshold`` encoding, and a Flatten or
        MaxPool2d of a static tensor. A node reading it can compute its current once."""
        if name == INPUT:
            return self.encoding.is_static
        node = self.node(name)
        return not isinstance(node, Compute) and self.is_static(node.input)

    def is_in_memory(self, node: Compute) -> bool:
        """Binary weights over a spiking input: a product for the STT-MRAM subarrays
        (XNOR-popcount); every other compute node runs on the digital unit."""
        return node.precision is Precision.BINARY and self.is_spiking(node.input)

    def is_spiking(self, name: str) -> bool:
        """True when the tensor called ``name`` holds spikes (0/1), not pixels."""
        if name == INPUT:
            return self.encoding.emits_spikes
        node = self.node(name)
        if isinstance(node, Compute):
            return node.neuron is NeuronKind.IF
        return self.is_spiking(node.input)


def _fail(node: str, msg: str):
    raise WeightFileError(f"node '{node}': {msg}")


def _check_compute(node: Compute, in_shape, net: Network, shapes: dict, last: bool):
    w = node.weight
    if w.dtype != np.int8:
        _fail(node.name, f"weight dtype {w.dtype}, expected int8")
    if node.precision is Precision.BINARY:
        bad = (w != 1) & (w != -1)
        if bad.any():
            _fail(node.name, f"binary weights must be -1 or +1; found {int(w[bad][0])} "
                             f"({int(bad.sum())} non-binary values)")
    elif (w == -128).any():
        _fail(node.name, "int8 weights must lie in -127..127")
    out = w.shape[0]
    if not 0 <= node.frac_bits <= 24:
        _fail(node.name, f"frac_bits {node.frac_bits} out of range: allowed 0..24")
    for label, vec in (("bias", node.bias), ("theta", node.theta), ("res_gain", node.res_gain)):
        if vec is None:
            continue
        if vec.dtype != np.int32 or vec.shape != (out,):
            _fail(node.name, f"{label} must be int32 of shape ({out},), got {vec.dtype} {vec.shape}")
    if node.neuron is NeuronKind.IF:
        if node.theta is None:
            _fail(node.name, "an 'if' neuron needs theta")
        if (node.theta < 1).any():
            _fail(node.name, f"theta must be >= 1, found {int(node.theta.min())}")
        if last:
            _fail(node.name, "the last node must be a readout")
    else:
        if not last:
            _fail(node.name, "a readout neuron is allowed only in the last node")
        if not isinstance(node, Linear):
            _fail(node.name, "a readout must be a linear node (one value per class)")
        if node.theta is not None or node.residual is not None:
            _fail(node.name, "a readout has no theta and no residual input")
    if (node.residual is None) != (node.res_gain is None):
        _fail(node.name, "residual and res_gain must be given together")

    if isinstance(node, Conv2d):
        if w.ndim != 4 or len(in_shape) != 3:
            _fail(node.name, f"conv2d needs a (C,H,W) input and 4-D weights; input {in_shape}, weight {w.shape}")
        c, h, wd = in_shape
        if w.shape[1] != c:
            _fail(node.name, f"weight has {w.shape[1]} input channels, input has {c}")
        if node.stride < 1 or node.padding < 0:
            _fail(node.name, f"stride {node.stride} / padding {node.padding} invalid")
        kh, kw = node.kernel
        oh = (h + 2 * node.padding - kh) // node.stride + 1
        ow = (wd + 2 * node.padding - kw) // node.stride + 1
        if oh < 1 or ow < 1:
            _fail(node.name, f"kernel {kh}x{kw} does not fit input {h}x{wd}")
        out_shape = (out, oh, ow)
    else:
        if w.ndim != 2 or len(in_shape) != 1:
            _fail(node.name, f"linear needs a flat input and 2-D weights; input {in_shape}, weight {w.shape}")
        if w.shape[1] != in_shape[0]:
            _fail(node.name, f"weight fan-in {w.shape[1]} != input size {in_shape[0]}")
        out_shape = (out,)
    if node.residual is not None:
        if node.residual not in shapes:
            _fail(node.name, f"residual input '{node.residual}' is not an earlier node")
        if shapes[node.residual] != out_shape:
            _fail(node.name, f"residual shape {shapes[node.residual]} != output shape {out_shape}")
        if not net.is_spiking(node.residual):
            _fail(node.name, f"residual input '{node.residual}' does not carry spikes")
    return out_shape


def _infer_shapes(net: Network) -> dict:
    """Validate the graph and return the output shape of every tensor by name."""
    if len(net.input_shape) != 3 or min(net.input_shape) < 1:
        raise WeightFileError(f"input_shape {net.input_shape} must be 3 positive integers (C,H,W)")
    if not 1 <= net.time_steps <= 1024:
        raise WeightFileError(f"time_steps {net.time_steps} out of range: allowed 1..1024")
    if not net.nodes:
        raise WeightFileError("the network has no nodes")
    shapes = {INPUT: net.input_shape}
    for i, node in enumerate(net.nodes):
        if node.name in shapes:
            _fail(node.name, "duplicate node name")
        if node.input not in shapes:
            _fail(node.name, f"input '{node.input}' is not an earlier node")
        in_shape = shapes[node.input]
        if isinstance(node, Compute):
            shapes[node.name] = _check_compute(node, in_shape, net, shapes, i == len(net.nodes) - 1)
        elif isinstance(node, MaxPool2d):
            if len(in_shape) != 3:
                _fail(node.name, f"maxpool2d needs a (C,H,W) input, got {in_shape}")
            if not net.is_spiking(node.input):
                _fail(node.name, "maxpool2d is defined on spikes only")
            if node.kernel < 1 or node.stride < 1 or node.kernel > min(in_shape[1:]):
                _fail(node.name, f"kernel {node.kernel} / stride {node.stride} invalid for {in_shape}")
            c, h, w = in_shape
            shapes[node.name] = (c, (h - node.kernel) // node.stride + 1, (w - node.kernel) // node.stride + 1)
        elif isinstance(node, Flatten):
            shapes[node.name] = (int(np.prod(in_shape)),)
        else:
            raise WeightFileError(f"unknown node type {type(node).__name__}")
    if not isinstance(net.nodes[-1], Compute):
        raise WeightFileError("the last node must be a readout layer")
    if net.classes and len(net.classes) != net.nodes[-1].out_features:
        raise WeightFileError(f"{len(net.classes)} class names for {net.nodes[-1].out_features} outputs")
    return shapes
