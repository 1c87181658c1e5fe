"""The trainer's integer evaluation of an exported :class:`Network`, in PyTorch.

An implementation of ``docs/weight-format.md`` independent of the Numba simulator:
products are float64 convolutions / matmuls of integer-valued tensors (exact: every
partial sum is far below 2**53), membranes are int64. The simulator must agree with it
on every prediction (tests/test_functional.py, tests/test_train.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..encoding import encode_step
from ..network import Compute, Conv2d, Flatten, MaxPool2d, Network, NeuronKind


def integer_predict(net: Network, images: np.ndarray, image_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predictions (B,) and final readout accumulators (B, classes) for uint8 images."""
    acc, _ = integer_forward(net, images, image_index)
    return acc.argmax(dim=1).numpy(), acc.numpy()


def integer_forward(net: Network, images: np.ndarray, image_index: np.ndarray):
    """Final readout accumulators (B, classes) and every node's output per step
    (``{name: tensor (T, B, ...)}``, spikes as 0/1) for uint8 images."""
    history = {}
    weights = {n.name: torch.from_numpy(n.weight.astype(np.float64)) for n in net.compute_nodes()}
    state = {n.name: None for n in net.compute_nodes()}
    for t in range(net.time_steps):
        x = encode_step(images, net.encoding, t, net.time_steps, image_index)
        out = {"input": torch.from_numpy(x.astype(np.float64))}
        for node in net.nodes:
            src = out[node.input]
            if isinstance(node, MaxPool2d):
                out[node.name] = F.max_pool2d(src, node.kernel, node.stride)
            elif isinstance(node, Flatten):
                out[node.name] = src.flatten(1)
            else:
                out[node.name] = _step(node, weights[node.name], src, out, state)
        for name, value in out.items():
            if value is not None:
                history.setdefault(name, []).append(value)
    return state[net.readout.name], {k: torch.stack(v) for k, v in history.items()}


def _step(node: Compute, w, x, out, state):
    if isinstance(node, Conv2d):
        cur = F.conv2d(x, w, stride=node.stride, padding=node.padding)
        view = (1, -1, 1, 1)
    else:
        cur = x @ w.T
        view = (1, -1)
    i = torch.round(cur).to(torch.int64)
    u = state[node.name]
    if u is None:
        u = torch.zeros_like(i)
    u = u + (i << node.frac_bits) - torch.from_numpy(node.bias.astype(np.int64)).view(view)
    if node.residual is not None:
        gain = torch.from_numpy(node.res_gain.astype(np.int64)).view(view)
        u = u + gain * out[node.residual].to(torch.int64)
    if node.neuron is NeuronKind.READOUT:
        state[node.name] = u
        return None
    theta = torch.from_numpy(node.theta.astype(np.int64)).view(view)
    s = (u >= theta).to(torch.int64)
    state[node.name] = u - theta * s
    return s.to(torch.float64)
