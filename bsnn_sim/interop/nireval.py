"""A float64 evaluation of a NIR graph: the source a conversion is measured against.

Every node is evaluated at every time step ``t = 0..T-1`` in graph order with no delay
(the same convention as the weight file, ``docs/weight-format.md`` section 5); a node
with several inputs receives their sum. Neurons follow :mod:`.reading`
(``v = (1 - leak) * v + gain * x + drive``, then fire and reset as the reading says).
The result is the sum over the ``T`` steps of the value reaching the Output node;
its argmax is the source graph's prediction (first maximum on ties).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..encoding import encode_step
from ..errors import InteropError
from .reading import Fire, Reading, Reset, arr, edges_by_target, io_shape, neuron_step, single, topological_order


def _pair(value) -> tuple[int, int]:
    v = np.asarray(value).reshape(-1)
    return (int(v[0]), int(v[-1]))


def _conv(x, node):
    w = arr(node.weight)
    ph, pw = _pair(node.padding)
    sh, sw = _pair(node.stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]  # B,C,OH,OW,kh,kw
    bias = arr(node.bias) if getattr(node, "bias", None) is not None else np.zeros(w.shape[0])
    return np.einsum("bchwyx,ocyx->bohw", win, w) + bias[None, :, None, None]


def _pool(x, node, average: bool):
    kh, kw = _pair(node.kernel_size)
    sh, sw = _pair(node.stride)
    if any(_pair(node.padding)):
        raise InteropError("pooling with padding is not supported")
    out = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw].sum(axis=(-1, -2))
    return out / (kh * kw) if average else out


class _Neuron:
    def __init__(self, key, node, reading: Reading):
        self.p = neuron_step(key, node, reading)
        self.v = None

    def __call__(self, x):
        p = self.p
        v = (0.0 if self.v is None else (1 - p.leak) * self.v) + p.gain * x + p.drive
        s = (v >= p.v_threshold) if p.fire is Fire.GE else (v > p.v_threshold)
        self.v = np.where(s, p.v_reset, v) if p.reset is Reset.GRAPH else v - p.v_threshold * s
        return s.astype(np.float64)


def evaluate(graph, reading: Reading, images: np.ndarray, image_index: np.ndarray | None = None) -> np.ndarray:
    """Sum over the ``T`` steps of the Output node's input, shape ``(B, classes)``."""
    images = np.asarray(images)
    if image_index is None:
        image_index = np.arange(len(images))
    order = topological_order(graph)
    preds = edges_by_target(graph)
    inp = single(graph, "Input")
    single(graph, "Output")
    in_shape = io_shape(graph.nodes[inp], "input_type")
    state = {k: _Neuron(k, n, reading) for k, n in graph.nodes.items() if type(n).__name__ in ("IF", "LIF")}
    total = None
    for t in range(reading.time_steps):
        values = {}
        for key in order:
            node = graph.nodes[key]
            kind = type(node).__name__
            if kind == "Input":
                x = encode_step(images, reading.encoding, t, reading.time_steps, image_index)
                values[key] = x.astype(np.float64).reshape((len(images),) + in_shape) * reading.input_scale
                continue
            x = sum(values[p] for p in preds[key])
            if kind == "Output":
                total = x if total is None else total + x
            elif kind == "Conv2d":
                values[key] = _conv(x, node)
            elif kind in ("Linear", "Affine"):
                y = x.reshape(len(x), -1) @ arr(node.weight).T
                values[key] = y + arr(node.bias) if kind == "Affine" else y
            elif kind == "Scale":
                values[key] = x * arr(node.scale)
            elif key in state:
                values[key] = state[key](x)
            elif kind == "Threshold":
                th = arr(node.threshold)
                values[key] = ((x >= th) if reading.fire is Fire.GE else (x > th)).astype(np.float64)
            elif kind == "Flatten":
                values[key] = x.reshape(len(x), -1)
            elif kind in ("SumPool2d", "AvgPool2d"):
                values[key] = _pool(x, node, kind == "AvgPool2d")
            else:
                raise InteropError(f"node '{key}': {kind} cannot be evaluated")
    return total
