"""Fold a trained :class:`~bsnn_sim.train.model.BSNN` into an integer :class:`Network`.

For a hidden neuron with batch norm (running mean mu, std sigma = sqrt(var + eps),
affine gamma, beta) and a float current ``a * I`` (``I`` the exact integer sum of the
exported weights times the encoded input; ``a`` the float value of one unit: 1 for
sign weights on spikes, the int8 step for int8 weights, times 1/255 on direct pixels)::

    V += gamma * (a*I - mu) / sigma + beta + r          fire iff V >= 1, V -= 1

Dividing by ``k = |gamma| * a / sigma`` (> 0) gives the integer neuron of the file::

    U += sign(gamma)*I - bias + res_gain*r              fire iff U >= theta, U -= theta
    bias = sign(gamma)*mu/a - beta/k,  theta = 1/k,  res_gain = 1/k

A neuron with gamma < 0 has its weights negated. All three terms are scaled by
``2**frac_bits`` and rounded half to even (``numpy.rint``); theta is at least 1.
The readout ``A += a*I + b`` (one ``a`` for the whole layer) becomes
``A += I - rint(-b/a * 2**F)`` in units of ``a * 2**-F``, which keeps the argmax.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import BsnnError
from ..network import (INPUT, Conv2d, Encoding, Flatten, Linear, MaxPool2d, Network, NeuronKind,
                       Precision)
from .model import BSNN, Readout, ResBlock, SpikingConv, SpikingLinear, _Flatten, _Pool, int8_scale

_INT32 = np.iinfo(np.int32)


def _as_int32(x: np.ndarray, what: str, layer: str) -> np.ndarray:
    r = np.rint(x)
    if not np.isfinite(r).all() or r.min() < _INT32.min or r.max() > _INT32.max:
        raise BsnnError(f"export of '{layer}': {what} does not fit int32 (range {r.min()}..{r.max()}); "
                        f"lower frac_bits")
    return r.astype(np.int32)


def _quantise(weight: torch.Tensor, precision: Precision, per_channel: bool):
    """Integer weights (int8 array) and the float value of one unit per output (or scalar)."""
    w = weight.detach().double()
    if precision is Precision.BINARY:
        return np.where(w.numpy() >= 0, 1, -1).astype(np.int8), np.ones(w.shape[0])
    s = int8_scale(w, per_channel)
    q = torch.clamp(torch.round(w / s), -127, 127).numpy().astype(np.int8)
    scale = s.reshape(-1).numpy() if per_channel else np.full(w.shape[0], float(s))
    return q, scale


def _fold(name, inp, weight, precision, bn, frac_bits, in_scale, residual, cls, **geom):
    q, scale = _quantise(weight, precision, True)
    a = scale * in_scale
    mu = bn.running_mean.double().numpy()
    sigma = np.sqrt(bn.running_var.double().numpy() + bn.eps)
    gamma = bn.weight.detach().double().numpy()
    beta = bn.bias.detach().double().numpy()
    sign = np.where(gamma >= 0, 1.0, -1.0)
    k = np.maximum(np.abs(gamma), 1e-12) * a / sigma
    q = (q * sign.reshape((-1,) + (1,) * (q.ndim - 1))).astype(np.int8)
    f = 2.0 ** frac_bits
    return cls(
        name=name, input=inp, weight=q, precision=precision, neuron=NeuronKind.IF,
        frac_bits=frac_bits,
        bias=_as_int32((sign * mu / a - beta / k) * f, "bias", name),
        theta=np.maximum(_as_int32(f / k, "theta", name), 1),
        residual=residual,
        res_gain=None if residual is None else _as_int32(f / k, "res_gain", name),
        **geom,
    )


def export_network(model: BSNN, workload, input_shape, classes=(), metadata=None) -> Network:
    """Build the integer network of a trained model (batch norm in eval statistics)."""
    enc = Encoding(workload.encoding, workload.encoding_level, workload.encoding_seed)
    fb = workload.frac_bits
    nodes = []
    prev = INPUT
    in_scale = 1 / 255 if not enc.emits_spikes else 1.0
    counters = {}

    def fresh(kind):
        counters[kind] = counters.get(kind, 0) + 1
        return f"{kind}{counters[kind]}"

    def conv(m: SpikingConv, name, inp, scale, residual=None):
        c = m.conv
        return _fold(name, inp, c.weight, m.precision, m.bn, fb, scale, residual, Conv2d,
                     stride=c.stride[0], padding=c.padding[0])

    for m in model.layers:
        if isinstance(m, SpikingConv):
            nodes.append(conv(m, fresh("conv"), prev, in_scale))
        elif isinstance(m, ResBlock):
            block = fresh("block")
            first = conv(m.conv1, f"{block}.conv1", prev, in_scale)
            nodes += [first, conv(m.conv2, f"{block}.conv2", first.name, 1.0, residual=prev)]
        elif isinstance(m, SpikingLinear):
            nodes.append(_fold(fresh("fc"), prev, m.fc.weight, m.precision, m.bn, fb, in_scale,
                               None, Linear))
        elif isinstance(m, _Pool):
            nodes.append(MaxPool2d(fresh("pool"), prev, m.k, m.k))
        elif isinstance(m, _Flatten):
            nodes.append(Flatten(fresh("flatten"), prev))
        elif isinstance(m, Readout):
            q, scale = _quantise(m.fc.weight, m.precision, per_channel=False)
            a = float(scale[0]) * in_scale
            b = m.fc.bias.detach().double().numpy()
            nodes.append(Linear("readout", prev, q, m.precision, NeuronKind.READOUT, fb,
                                bias=_as_int32(-b / a * 2.0 ** fb, "bias", "readout")))
        else:
            raise TypeError(f"cannot export {type(m).__name__}")
        prev = nodes[-1].name
        if not isinstance(m, (_Pool, _Flatten)):
            in_scale = 1.0  # every layer after the first compute layer sees spikes
    return Network.build(input_shape, workload.time_steps, enc, nodes, classes, metadata)

