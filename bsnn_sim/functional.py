"""Functional pass: what every neuron computes, per image and time step (ideal devices).

The simulator evaluates a :class:`~bsnn_sim.network.Network` exactly as
``docs/weight-format.md`` defines it. Internally tensors are channels-last
``(B, H, W, C)``; spikes are packed 64 to a word along the channels (or the flat
fan-in) and binary-weight products are XNOR-popcounts (:mod:`bsnn_sim.kernels`).
Products with int8 weights or uint8 pixels (the digital first and last layers) are
float64 matrix products of integers, which are exact below 2**53 and rounded back.
A node that reads a static input (``direct`` or ``threshold`` encoding) computes its
current once and reuses it at every time step.

Besides predictions it records activity for the timing and energy models: the number
of spikes of every spiking tensor per image and time step and, when given the row
length of the in-memory subarrays (``chunk_columns``), for every in-memory layer
(binary weights on spikes) the number of output positions whose input window holds
at least one spike and the number of non-empty fan-in chunks (consecutive runs of
``chunk_columns`` inputs in channels-last (ky, kx, c) order) per image and step. An
all-zero chunk gives I = 0 exactly, so hardware may skip its sensing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import kernels as K
from .encoding import encode_step
from .errors import SimulationError
from .network import INPUT, Compute, Conv2d, Flatten, MaxPool2d, Network, NeuronKind, Precision


@dataclass
class BatchResult:
    predictions: np.ndarray  # (B,) int64
    scores: np.ndarray  # (B, classes) int64: final readout accumulators
    spikes: dict[str, np.ndarray]  # tensor name -> (B, T) int32 spike counts
    active_positions: dict[str, np.ndarray] = field(default_factory=dict)  # in-memory layer -> (B, T)
    active_chunks: dict[str, np.ndarray] = field(default_factory=dict)  # in-memory layer -> (B, T)


@dataclass
class SimResult:
    """Predictions and activity over a whole dataset split."""

    predictions: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    spikes: dict[str, np.ndarray]
    sizes: dict[str, int]  # tensor name -> number of elements (neurons) per time step
    seconds: float
    active_positions: dict[str, np.ndarray] = field(default_factory=dict)
    active_chunks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if len(self.labels) else float("nan")

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per time step, by tensor."""
        return {k: float(v.mean() / self.sizes[k]) for k, v in self.spikes.items()}


def _chw_to_hwc_columns(weight: np.ndarray, shape) -> np.ndarray:
    """Reorder a linear layer's fan-in from (C, H, W) order to channels-last (H, W, C)."""
    c, h, w = shape
    return weight.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)


def _im2col(x: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """(B, H, W, C) -> (B, OH, OW, KH*KW*C) patches, zero padded, in (ky, kx, c) order."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    b, h, w, c = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    s = x.strides
    win = np.lib.stride_tricks.as_strided(
        x, (b, oh, ow, kh, kw, c), (s[0], s[1] * stride, s[2] * stride, s[1], s[2], s[3]))
    return win.reshape(b, oh, ow, kh * kw * c)


def _window_any(x: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """(B, H, W, C) spikes -> (B, OH, OW) bool: does the window hold any spike?"""
    occupied = x.any(axis=3).astype(np.int32)
    if pad:
        occupied = np.pad(occupied, ((0, 0), (pad, pad), (pad, pad)))
    csum = np.pad(occupied.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    b, h, w = occupied.shape
    ys = np.arange(0, h - kh + 1, stride)
    xs = np.arange(0, w - kw + 1, stride)
    y0, x0 = ys[:, None], xs[None, :]
    total = csum[:, y0 + kh, x0 + kw] - csum[:, y0, x0 + kw] - csum[:, y0 + kh, x0] + csum[:, y0, x0]
    return total > 0


def chunk_activity(x: np.ndarray, node: Compute, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image: (positions with any input spike, non-empty fan-in chunks of ``columns``).

    ``x`` is the channels-last spike input of ``node``; the fan-in order is (ky, kx, c).
    """
    b = len(x)
    chunks = -(-node.fan_in // columns)
    if isinstance(node, Conv2d) and chunks == 1:
        active = _window_any(x, *node.kernel, node.stride, node.padding).reshape(b, -1)
        n = active.sum(axis=1, dtype=np.int32)
        return n, n
    cols = _im2col(x, *node.kernel, node.stride, node.padding) if isinstance(node, Conv2d) else x
    cols = cols.reshape(b, -1, node.fan_in)
    padded = np.zeros(cols.shape[:2] + (chunks * columns,), dtype=np.uint8)
    padded[..., :node.fan_in] = cols
    nonzero = padded.reshape(b, cols.shape[1], chunks, columns).any(axis=3)
    return nonzero.any(axis=2).sum(axis=1, dtype=np.int32), nonzero.sum(axis=(1, 2), dtype=np.int32)


class _Node:
    """A compute node prepared once: the product it uses and its neuron constants."""

    def __init__(self, node: Compute, net: Network):
        self.node = node
        self.conv = isinstance(node, Conv2d)
        in_shape = net.shapes[node.input]
        self.static = net.is_static(node.input)
        w = node.weight
        if self.conv:
            w_hwc = w.transpose(0, 2, 3, 1)  # (N, KH, KW, C)
        else:
            src = net.node(node.input) if node.input != INPUT else None
            w_hwc = _chw_to_hwc_columns(w, net.shapes[src.input]) if isinstance(src, Flatten) and len(
                net.shapes[src.input]) == 3 else w
        self.binary = node.precision is Precision.BINARY and net.is_spiking(node.input)
        if self.binary:
            bits = (w_hwc > 0).astype(np.uint8)
            self.w_packed = K.pack_bits(bits)  # packs along the channels (conv) or fan-in
            fan_pad = self.w_packed.shape[-1] * 64 - bits.shape[-1]
            taps = w_hwc.shape[1] * w_hwc.shape[2] if self.conv else 1
            self.offset = ((w_hwc < 0).reshape(len(w), -1).sum(1) + taps * fan_pad).astype(np.int32)
            if self.conv:
                self.w_packed = K.prepare_conv_weights(self.w_packed)
        else:
            self.w_float = w_hwc.reshape(len(w), -1).astype(np.float64).T.copy()
        self.bias = node.bias
        self.theta = node.theta
        self.res_gain = node.res_gain
        self.in_shape = in_shape
        self.cached = None

    def current(self, x: np.ndarray) -> np.ndarray:
        """Integer current I, (B, M, N) int32 with M output positions."""
        if self.static and self.cached is not None:
            return self.cached
        n = self.node
        b = x.shape[0]
        if self.binary:
            packed = K.pack_bits(x)
            if self.conv:
                cur = K.xnor_conv2d_prepared(packed, self.w_packed, self.offset, n.stride, n.padding)
            else:
                cur = K.xnor_linear(packed.reshape(b, -1), self.w_packed, self.offset)
        else:
            cols = _im2col(x, *n.kernel, n.stride, n.padding) if self.conv else x
            cur = np.rint(cols.reshape(-1, cols.shape[-1]).astype(np.float64) @ self.w_float).astype(np.int32)
        cur = cur.reshape(b, -1, n.out_features)
        if self.static:
            self.cached = cur
        return cur


class FunctionalSimulator:
    """Bit-exact functional simulation of a :class:`Network` on ideal devices."""

    def __init__(self, net: Network, chunk_columns: int | None = None):
        self.net = net
        self.chunk_columns = chunk_columns
        self.prepared = {n.name: _Node(n, net) for n in net.compute_nodes()}
        self.in_memory = [n for n, p in self.prepared.items() if p.binary] if chunk_columns else []
        self.spiking = [name for name in [INPUT] + [n.name for n in net.nodes] if net.is_spiking(name)]

    def run_batch(self, images: np.ndarray, image_index: np.ndarray) -> BatchResult:
        """Simulate uint8 images (B, C, H, W); ``image_index`` is their place in the split."""
        net = self.net
        if images.dtype != np.uint8 or images.shape[1:] != net.input_shape:
            raise SimulationError(f"images must be uint8 of shape (B, {', '.join(map(str, net.input_shape))}),"
                                  f" got {images.dtype} {images.shape}")
        b, steps = len(images), net.time_steps
        for p in self.prepared.values():
            p.cached = None
        membranes = {name: np.zeros((b, int(np.prod(net.shapes[name][1:])) or 1, p.node.out_features),
                                    dtype=np.int64) for name, p in self.prepared.items()}
        spikes = {name: np.zeros((b, steps), dtype=np.int32) for name in self.spiking}
        positions = {name: np.zeros((b, steps), dtype=np.int32) for name in self.in_memory}
        chunks = {name: np.zeros((b, steps), dtype=np.int32) for name in self.in_memory}
        for t in range(steps):
            x = encode_step(images, net.encoding, t, steps, image_index)
            out = {INPUT: np.ascontiguousarray(x.transpose(0, 2, 3, 1))}
            for node in net.nodes:
                out[node.name] = self._step(node, out, membranes)
            for name in self.spiking:
                spikes[name][:, t] = out[name].reshape(b, -1).sum(axis=1, dtype=np.int32)
            for name in self.in_memory:
                node = self.prepared[name].node
                positions[name][:, t], chunks[name][:, t] = chunk_activity(out[node.input], node,
                                                                           self.chunk_columns)
        scores = membranes[net.readout.name].reshape(b, -1)
        return BatchResult(np.argmax(scores, axis=1), scores, spikes, positions, chunks)

    def _step(self, node, out, membranes):
        src = out[node.input]
        if isinstance(node, MaxPool2d):
            return K.maxpool_spikes(src, node.kernel, node.stride)
        if isinstance(node, Flatten):
            return src.reshape(len(src), -1)
        p = self.prepared[node.name]
        cur = p.current(src)
        u = membranes[node.name]
        if node.neuron is NeuronKind.READOUT:
            K.readout_step(u.reshape(len(u), -1), cur.reshape(len(u), -1), p.bias, node.frac_bits)
            return None
        res = None if node.residual is None else out[node.residual].reshape(u.shape)
        s = K.if_step(u, cur, p.bias, p.theta, node.frac_bits, res, p.res_gain)
        return s.reshape((len(u),) + self._out_hwc(node))

    def _out_hwc(self, node):
        shape = self.net.shapes[node.name]
        return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape

    def run(self, images: np.ndarray, labels: np.ndarray, batch_size: int = 500, progress=None) -> SimResult:
        """Simulate a whole split in batches; ``progress(done, total)`` after each batch."""
        t0 = time.perf_counter()
        n = len(images)
        preds, scores = [], []
        spikes = {name: [] for name in self.spiking}
        positions = {name: [] for name in self.in_memory}
        chunks = {name: [] for name in self.in_memory}
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            r = self.run_batch(np.ascontiguousarray(images[idx]), idx)
            preds.append(r.predictions)
            scores.append(r.scores)
            for store, part in ((spikes, r.spikes), (positions, r.active_positions), (chunks, r.active_chunks)):
                for k, v in part.items():
                    store[k].append(v)
            if progress:
                progress(idx[-1] + 1, n)
        sizes = {k: int(np.prod(self.net.shapes[k])) for k in self.spiking}
        steps = (0, self.net.time_steps)

        def cat(xs, shape=steps):
            return np.concatenate(xs) if xs else np.zeros(shape, np.int64)

        return SimResult(cat(preds, (0,)), np.asarray(labels), cat(scores, (0, self.net.num_classes)),
                         {k: cat(v) for k, v in spikes.items()}, sizes, time.perf_counter() - t0,
                         {k: cat(v) for k, v in positions.items()}, {k: cat(v) for k, v in chunks.items()})
