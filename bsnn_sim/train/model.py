"""PyTorch model of a residual binary SNN, trained with surrogate gradients over T steps.

Every hidden layer is ``conv/linear -> batch norm -> IF neuron``:

    V[t] = V[t-1] + BN(W x[t]) (+ r[t] for the second convolution of a residual block)
    s[t] = H(V[t] - 1)        with H(0) = 1 (a tie fires, as in the simulator)
    V[t] = V[t] - s[t]        (reset by subtraction, threshold 1)

Binary weights are ``sign(w)`` (sign(0) = +1) with a straight-through estimator clipped
to |w| <= 1; int8 weights are fake-quantised per output channel (scale max|w|/127).
H's gradient is a surrogate (:data:`SURROGATES`). The readout accumulates
``W s[t] + b`` over the T steps without firing; logits are the mean over T.

Layers are evaluated over all T steps at once (the time axis is folded into the
batch for the synaptic product and batch norm), then the neuron runs its recurrence
over t. This is exact because no layer feeds back.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..network import Precision


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind, alpha):
        ctx.save_for_backward(x)
        ctx.kind, ctx.alpha = kind, alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        if ctx.kind == "arctan":
            g = (a / 2) / (1 + (math.pi / 2 * a * x) ** 2)
        else:  # triangle of half-width 1/alpha, area 1
            g = torch.clamp(a - a * a * x.abs(), min=0)
        return grad * g, None, None


SURROGATES = ("arctan", "triangle")


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1).to(grad.dtype)


def int8_scale(w: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Quantisation step of int8 weights: max|w| / 127 per output channel (or tensor)."""
    if per_channel:
        m = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
        shape = (-1,) + (1,) * (w.dim() - 1)
        return (m.clamp(min=1e-8) / 127).reshape(shape)
    return w.detach().abs().max().clamp(min=1e-8) / 127


def effective_weight(w: torch.Tensor, precision: Precision, per_channel: bool = True) -> torch.Tensor:
    """The weight the forward pass uses: sign(w) or the int8 fake-quantised w."""
    if precision is Precision.BINARY:
        return _SignSTE.apply(w)
    s = int8_scale(w, per_channel)
    q = torch.clamp(torch.round(w / s), -127, 127) * s
    return w + (q - w).detach()


class NeuronConfig(NamedTuple):
    """What every IF neuron of a model shares: surrogate kind and sharpness, time steps."""

    surrogate: str
    alpha: float
    steps: int


def if_neuron(current: torch.Tensor, residual, kind: str, alpha: float, steps: int) -> torch.Tensor:
    """IF recurrence over ``steps`` time steps of ``current`` (T, B, ...).

    A current with a time axis of length 1 (a static input) is the same at every step.
    """
    v = torch.zeros_like(current[0])
    out = []
    for t in range(steps):
        v = v + current[t if current.shape[0] > 1 else 0]
        if residual is not None:
            v = v + residual[t]
        s = _Spike.apply(v - 1.0, kind, alpha)
        v = v - s
        out.append(s)
    return torch.stack(out)


class SpikingConv(nn.Module):
    def __init__(self, cin, cout, kernel, stride, padding, precision, neuron):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.precision, self.neuron = precision, neuron

    def current(self, x):
        t, b = x.shape[:2]
        w = effective_weight(self.conv.weight, self.precision)
        y = F.conv2d(x.reshape(t * b, *x.shape[2:]), w, None, self.conv.stride, self.conv.padding)
        y = self.bn(y)
        return y.reshape(t, b, *y.shape[1:])

    def forward(self, x, residual=None):
        return if_neuron(self.current(x), residual, *self.neuron)


class SpikingLinear(nn.Module):
    def __init__(self, fin, fout, precision, neuron):
        super().__init__()
        self.fc = nn.Linear(fin, fout, bias=False)
        self.bn = nn.BatchNorm1d(fout)
        self.precision, self.neuron = precision, neuron

    def forward(self, x):
        t, b = x.shape[:2]
        w = effective_weight(self.fc.weight, self.precision)
        y = self.bn(F.linear(x.reshape(t * b, -1), w)).reshape(t, b, -1)
        return if_neuron(y, None, *self.neuron)


class ResBlock(nn.Module):
    """Two binary 3x3 convolutions; the block input adds into the second membrane."""

    def __init__(self, channels, neuron):
        super().__init__()
        self.conv1 = SpikingConv(channels, channels, 3, 1, 1, Precision.BINARY, neuron)
        self.conv2 = SpikingConv(channels, channels, 3, 1, 1, Precision.BINARY, neuron)

    def forward(self, x):
        return self.conv2(self.conv1(x), residual=x)


class Readout(nn.Module):
    """Non-spiking linear readout; int8 weights use one per-tensor scale."""

    def __init__(self, fin, fout, precision):
        super().__init__()
        self.fc = nn.Linear(fin, fout, bias=True)
        self.precision = precision

    def forward(self, x):
        w = effective_weight(self.fc.weight, self.precision, per_channel=False)
        return F.linear(x, w, self.fc.bias).mean(dim=0)


class _Pool(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        t, b = x.shape[:2]
        y = F.max_pool2d(x.reshape(t * b, *x.shape[2:]), self.k, self.k)
        return y.reshape(t, b, *y.shape[1:])


class _Flatten(nn.Module):
    def forward(self, x):
        return x.flatten(2)


class BSNN(nn.Module):
    """The network described by a workload's ``[[network.layers]]``.

    ``forward(x)`` takes the encoded input ``(T, B, C, H, W)`` and returns logits.
    """

    def __init__(self, workload, input_shape):
        super().__init__()
        neuron = NeuronConfig(workload.train.surrogate, workload.train.surrogate_alpha, workload.time_steps)
        self.time_steps = workload.time_steps
        shape = tuple(input_shape)
        mods = []
        for i, spec in enumerate(workload.layers):
            last = i == len(workload.layers) - 1
            if spec.op == "conv2d":
                mods.append(SpikingConv(shape[0], spec.channels, spec.kernel, spec.stride, spec.padding,
                                        spec.precision, neuron))
                h = (shape[1] + 2 * spec.padding - spec.kernel) // spec.stride + 1
                w = (shape[2] + 2 * spec.padding - spec.kernel) // spec.stride + 1
                shape = (spec.channels, h, w)
            elif spec.op == "resblock":
                mods.append(ResBlock(shape[0], neuron))
            elif spec.op == "maxpool2d":
                mods.append(_Pool(spec.kernel))
                shape = (shape[0], shape[1] // spec.kernel, shape[2] // spec.kernel)
            elif spec.op == "flatten":
                mods.append(_Flatten())
                shape = (math.prod(shape),)
            elif last:
                mods.append(Readout(shape[0], spec.features, spec.precision))
            else:
                mods.append(SpikingLinear(shape[0], spec.features, spec.precision, neuron))
                shape = (spec.features,)
        self.layers = nn.ModuleList(mods)

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x
