"""NIR graphs to weight files (import) and back (export). ``docs/interop.md`` is the
mapping table; this module is its implementation.

**Import.** The graph is walked in topological order. A Conv2d, Linear or Affine node,
followed by any Scale nodes and by an IF or LIF node (whose other inputs, spikes
possibly through a Scale, are residual additions), becomes one compute node of the
file. For output ``n`` with total linear gain ``G[n]`` (Scale factors times the
neuron's input gain, :mod:`.reading`) the row ``R[n] = G[n] * s_in * W[n]``
(``s_in`` the scale of the input tensor) is split as ``R[n] = k[n] * q[n]``, ``k > 0``,
``q`` in {-1, +1} (binary) or -127..127 (int8); a negative gain lands in ``q`` (the
trainer's gamma < 0 rule). Dividing the neuron by ``k[n]``::

    U += I - bias' + rho' * r       fire iff U > TH (or >=)       U -= TH
    bias' = -(G[n] * b[n] + drive[n]) / k[n],   rho' = G[n] * c[n] / k[n],   TH = v_th[n] / k[n]

``bias', rho', TH`` are stored as integers in units of ``2**-F``. They are exact when
they lie on a grid ``2**-G`` (``G <= 24``); then ``F = G`` for ``>=``, and for ``>``
``F = G + ceil(log2 T)`` with ``theta = TH * 2**F + 1``: the membrane stays on the
``2**-G`` grid, so ``U > TH`` is ``U >= TH + 2**-F``, and each spike subtracting one
unit too much changes no comparison while ``spikes + 1 <= 2**(F-G)``, i.e. within
``T`` steps. A pool (SumPool2d/AvgPool2d) followed by a neuron or Threshold that fires
on any single spike and keeps no charge is OR-pooling, i.e. ``maxpool2d``. The last
Linear/Affine before the Output node is the readout; its rows share one ``k``.

**Export.** Each node of a weight file becomes the NIR nodes above with ``k = 1``,
``r = 1/dt``, ``v_threshold = theta / 2**F``, and metadata (a JSON string under the key
``bsnn_sim``) that records what NIR cannot say: fire on ``>=``, reset by subtraction,
``frac_bits``, precision, and the header (``T``, encoding, classes). Importing that
graph gives back the same integers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..atomic import write_atomic_path
from ..errors import InteropError
from ..network import (INPUT, Compute, Conv2d, Encoding, EncodingKind, Flatten, Linear, MaxPool2d,
                       Network, NeuronKind, Precision)
from .reading import (META_KEY, Fire, NeuronStep, Reading, Reset, arr, edges_by_target, io_shape, load_nir,
                      neuron_step, node_meta, single, topological_order)

SUPPORTED_NODES = ("Input", "Output", "Conv2d", "Linear", "Affine", "Scale", "IF", "LIF", "Threshold",
                   "Flatten", "SumPool2d", "AvgPool2d")  # docs/interop.md section 2
MAX_FRAC_BITS = 24
APPROX_FRAC_BITS = 16  # the fraction bits of constants that lie on no grid (with --binarize)
_RTOL = 1e-9  # a float within this relative distance of a grid point is on it
_INT32 = np.iinfo(np.int32)
_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class Conversion:
    """The imported network and, per node, what was converted how."""

    network: Network
    notes: list[str] = field(default_factory=list)
    approximations: list[str] = field(default_factory=list)
    readout_unit: float = 1.0  # float value of one readout unit 2**-F: source output = U * unit

    @property
    def exact(self) -> bool:
        return not self.approximations


# ------------------------------------------------------------------ walk state

@dataclass
class _Tensor:
    """A tensor of the weight file; the NIR value is ``scale`` times it."""

    name: str
    shape: tuple
    spikes: bool  # 0/1 spikes (else pixels 0..255)
    scale: float = 1.0


@dataclass
class _Current:
    """``gain * (W . x + b) + sum_j rgain_j * r_j`` per output, not yet fed to a neuron."""

    shape: tuple
    key: str | None = None  # the Conv2d/Linear/Affine node
    node: object = None
    source: _Tensor | None = None
    gain: np.ndarray | None = None
    bias: np.ndarray | None = None
    kind: str = ""
    geom: dict = field(default_factory=dict)  # conv2d: stride, padding
    residuals: list = field(default_factory=list)  # [(_Tensor, rgain per output)]


@dataclass
class _Pool:
    key: str
    source: _Tensor
    kernel: int
    stride: int
    per_spike: np.ndarray  # value one input spike adds to its window's output, per channel


def _channels(values, shape: tuple, what: str, key: str) -> np.ndarray:
    """A NIR parameter broadcast over ``shape``, as one value per channel (or feature)."""
    try:
        full = np.broadcast_to(arr(values), shape)
    except ValueError:
        raise InteropError(f"node '{key}': {what} has shape {np.shape(values)}, not broadcastable "
                           f"to the tensor shape {shape}") from None
    per = full.reshape(shape[0], -1)
    if (per != per[:, :1]).any():
        raise InteropError(f"node '{key}': {what} varies within a channel; bsnn-sim keeps one value "
                           f"per output channel")
    return per[:, 0].copy()


def _grid_bits(values: list[np.ndarray]) -> int | None:
    """Smallest ``G`` in 0..24 with every value a multiple of ``2**-G`` (within _RTOL)."""
    flat = np.concatenate([np.ravel(v) for v in values]) if values else np.zeros(0)
    for g in range(MAX_FRAC_BITS + 1):
        scaled = flat * 2.0 ** g
        if np.all(np.abs(scaled - np.rint(scaled)) <= _RTOL * np.maximum(1.0, np.abs(scaled))):
            return g
    return None


def _on_grid(values: list[np.ndarray], bits: int) -> bool:
    return _grid_bits([v * 2.0 ** bits for v in values]) == 0


def _integer_rows(rows: np.ndarray, common: bool):
    """``rows = k * q`` with integer ``q`` (|q| <= 127) and ``k > 0`` per row (one ``k`` for
    all rows when ``common``); binary when every ``|q| = 1``. None if no such split.
    ``k`` is the smallest nonzero ``|w|`` of the row (layer) divided by the first
    ``d = 1, 2, ..., 127`` that makes every ``w / k`` an integer."""
    absr = np.abs(rows)
    nonzero = np.where(absr > 0, absr, np.inf)
    lo = np.full(len(rows), nonzero.min()) if common else nonzero.min(axis=1)
    lo = np.where(np.isfinite(lo), lo, 1.0)  # an all-zero row: k = 1, q = 0
    for d in range(1, 128):
        k = lo / d
        q = rows / k[:, None]
        if np.all(np.abs(q - np.rint(q)) <= _RTOL * np.maximum(1.0, np.abs(q))) and np.abs(np.rint(q)).max() <= 127:
            q = np.rint(q).astype(np.int8)
            return q, k, Precision.BINARY if (np.abs(q) == 1).all() else Precision.INT8
    return None


def _split_weights(key, rows, spiking_in, common, meta, reading, conv: Conversion):
    """Integer weights, unit ``k`` per row and precision; approximations when allowed."""
    if meta.get("precision"):  # a bsnn-sim export: integer weights in units of 1
        q = np.rint(rows)
        if np.allclose(q, rows, rtol=0, atol=1e-9) and np.abs(q).max() <= 127:
            return q.astype(np.int8), np.ones(len(rows)), Precision(meta["precision"])
    split = _integer_rows(rows, common)
    if split is not None:
        return split
    if not reading.binarize:
        rule = "int8, alpha = max|w|/127" if common or not spiking_in else "sign, alpha = mean|w|"
        raise InteropError(f"node '{key}': weights are not +-alpha (binary) nor integer multiples of one "
                           f"scale per {'layer' if common else 'output'} (int8); pass --binarize to "
                           f"quantise them ({rule})")
    absr = np.abs(rows)
    if spiking_in and not common:
        k = np.maximum(absr.mean(axis=1), 1e-300)
        q = np.where(rows >= 0, 1, -1).astype(np.int8)
        conv.approximations.append(f"{key}: weights binarised (sign, alpha = mean |w| per output)")
        return q, k, Precision.BINARY
    scale = absr.max() if common else absr.max(axis=1)
    k = np.broadcast_to(np.maximum(scale, 1e-300) / 127, (len(rows),)).copy()
    q = np.clip(np.rint(rows / k[:, None]), -127, 127).astype(np.int8)
    conv.approximations.append(f"{key}: weights quantised to int8 (alpha = max |w| / 127 per "
                               f"{'layer' if common else 'output'})")
    return q, k, Precision.INT8


@dataclass(frozen=True)
class _NeuronParams(NeuronStep):
    """A :class:`.reading.NeuronStep` with one value per channel, of an IF, LIF or Threshold
    node (``kind``); a Threshold is a neuron with gain 1 and no membrane (``stateless``)."""

    kind: str = ""
    stateless: bool = False


def _neuron_params(key, node, shape, reading: Reading) -> _NeuronParams:
    kind = type(node).__name__
    if kind == "Threshold":
        th = _channels(node.threshold, shape, "threshold", key)
        zero = np.zeros_like(th)
        return _NeuronParams(np.ones_like(th), zero, zero, th, zero, reading.fire, Reset.GRAPH, kind=kind,
                             stateless=True)
    p = neuron_step(key, node, reading)
    values = (_channels(v, shape, what, key) for v, what in (
        (p.gain, "input gain"), (p.leak, "dt/tau"), (p.drive, "v_leak drive"), (p.v_threshold, "v_threshold"),
        (p.v_reset, "v_reset")))
    return _NeuronParams(*values, p.fire, p.reset, kind=kind)


def _int32(x, what, key):
    r = np.rint(x)
    if r.size and (r.min() < _INT32.min or r.max() > _INT32.max):
        raise InteropError(f"node '{key}': {what} does not fit int32 (range {r.min():.0f}..{r.max():.0f})")
    return r.astype(np.int32)


class _Importer:
    def __init__(self, graph, reading: Reading):
        self.g, self.r = graph, reading
        self.preds = edges_by_target(graph)
        self.nodes: list = []
        self.names: set = {INPUT}
        self.values: dict = {}
        self.conv = None
        self.header = node_meta(graph)

    def name(self, key: str) -> str:
        base = _NAME_BAD.sub("_", key) or "node"
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def run(self) -> Conversion:
        r = self.r
        inp = single(self.g, "Input")
        single(self.g, "Output")
        shape = io_shape(self.g.nodes[inp], "input_type")
        if len(shape) == 3:
            in_shape = shape
        elif len(shape) == 1:
            in_shape = r.input_shape or (1, 1, shape[0])
        else:
            raise InteropError(f"node '{inp}': input shape {shape} must be (C, H, W) or (N,)")
        if r.input_shape and math.prod(r.input_shape) != math.prod(shape):
            raise InteropError(f"--input-shape {r.input_shape} has {math.prod(r.input_shape)} values, "
                               f"the graph's input {shape} has {math.prod(shape)}")
        self.conv = Conversion(network=None)
        spikes = r.encoding.emits_spikes
        self.values[inp] = _Tensor(INPUT, tuple(in_shape), spikes, r.input_scale)
        if len(shape) == 1:  # the graph reads the image as a vector: flatten it first
            self.nodes.append(Flatten(self.name("input_flat"), INPUT))
            self.values[inp] = _Tensor(self.nodes[-1].name, shape, spikes, r.input_scale)
        for key in topological_order(self.g):
            if key != inp:
                self.visit(key)
        meta = self.header.get("metadata") or {
            "source": "nir", "fire": r.fire.value, "reset": r.reset.value, "dt": r.dt,
            "input_scale": r.input_scale, "approximations": list(self.conv.approximations)}
        net = Network.build(in_shape, r.time_steps, r.encoding, self.nodes,
                            tuple(self.header.get("classes", ())), meta)
        self.conv.network = net
        return self.conv

    # -- inputs of a node
    def inputs(self, key):
        ins = [self.values[p] for p in self.preds[key] if p in self.values]
        if len(ins) != len(self.preds[key]) or not ins:
            raise InteropError(f"node '{key}': has no usable input")
        return ins

    def tensor_in(self, key) -> _Tensor:
        ins = self.inputs(key)
        if len(ins) != 1 or not isinstance(ins[0], _Tensor):
            raise InteropError(f"node '{key}': needs one input of spikes (or the encoded image), got "
                               f"{' + '.join(type(v).__name__.strip('_').lower() for v in ins)}; a current "
                               f"must pass through a neuron first")
        return ins[0]

    def summed(self, key) -> _Current | _Pool:
        ins = self.inputs(key)
        pools = [v for v in ins if isinstance(v, _Pool)]
        if pools:
            if len(ins) != 1:
                raise InteropError(f"node '{key}': a pooled input cannot be summed with other inputs")
            return pools[0]
        cur = None
        for v in ins:
            if isinstance(v, _Tensor):
                v = _Current(v.shape, residuals=[(v, np.full(v.shape[0], v.scale))])
            cur = v if cur is None else self.add(key, cur, v)
        return cur

    def add(self, key, a: _Current, b: _Current) -> _Current:
        if a.shape != b.shape:
            raise InteropError(f"node '{key}': adds inputs of shapes {a.shape} and {b.shape}")
        if a.key is not None and b.key is not None:
            raise InteropError(f"node '{key}': sums two weighted layers ('{a.key}', '{b.key}'); bsnn-sim adds "
                               f"only spikes (a residual) to one layer's current")
        main, other = (a, b) if a.key is not None else (b, a)
        return replace(main, residuals=main.residuals + other.residuals)

    # -- one node
    def visit(self, key):
        node = self.g.nodes[key]
        kind = type(node).__name__
        if kind in ("Conv2d", "Linear", "Affine"):
            self.values[key] = self.weighted(key, node, kind)
        elif kind == "Scale":
            ins, s = self.inputs(key), arr(node.scale)
            if len(ins) == 1 and isinstance(ins[0], _Tensor) and np.unique(s).size == 1:
                self.values[key] = replace(ins[0], scale=ins[0].scale * float(s.flat[0]))  # e.g. pixels / 255
                return
            cur = self.summed(key)
            if isinstance(cur, _Pool):
                cur.per_spike = cur.per_spike * _channels(node.scale, cur.source.shape, "scale", key)
            else:
                s = _channels(node.scale, cur.shape, "scale", key)
                cur = replace(cur, gain=None if cur.gain is None else cur.gain * s,
                              residuals=[(t, g * s) for t, g in cur.residuals])
            self.values[key] = cur
        elif kind in ("IF", "LIF", "Threshold"):
            cur = self.summed(key)
            if isinstance(cur, _Pool):
                self.values[key] = self.or_pool(key, node, cur)
            else:
                self.values[key] = self.neuron(key, node, cur)
        elif kind == "Flatten":
            self.values[key] = self.flatten(key, node)
        elif kind in ("SumPool2d", "AvgPool2d"):
            self.values[key] = self.pool(key, node, kind == "AvgPool2d")
        elif kind == "Output":
            self.readout(key)
        else:
            raise InteropError(f"node '{key}': NIR {kind} has no bsnn-sim equivalent (supported: "
                               f"{', '.join(SUPPORTED_NODES)})")

    def weighted(self, key, node, kind) -> _Current:
        src = self.tensor_in(key)
        w = arr(node.weight)
        out = w.shape[0]
        if kind == "Conv2d":
            if len(src.shape) != 3:
                raise InteropError(f"node '{key}': Conv2d needs a (C, H, W) input, got {src.shape}")
            if int(node.groups) != 1 or any(d != 1 for d in np.ravel(node.dilation)):
                raise InteropError(f"node '{key}': grouped or dilated convolutions have no bsnn-sim equivalent")
            if isinstance(node.padding, str):
                raise InteropError(f"node '{key}': padding {node.padding!r}: give integers")
            (ph, pw), (sh, sw) = (tuple(int(v) for v in np.broadcast_to(np.ravel(x), (2,)))
                                  for x in (node.padding, node.stride))
            if ph != pw or sh != sw:
                raise InteropError(f"node '{key}': padding {ph},{pw} / stride {sh},{sw} must be equal in "
                                   f"height and width")
            _, h, wd = src.shape
            kh, kw = w.shape[2:]
            shape = (out, (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1)
            geom = dict(stride=sh, padding=ph)
        else:
            if len(src.shape) != 1:
                raise InteropError(f"node '{key}': {kind} needs a flat input, got {src.shape}; add a Flatten")
            if w.shape[1] != src.shape[0]:
                raise InteropError(f"node '{key}': weight has {w.shape[1]} inputs, its input has {src.shape[0]}")
            shape, geom = (out,), {}
        bias = arr(node.bias) if kind != "Linear" and getattr(node, "bias", None) is not None else np.zeros(out)
        return _Current(shape, key, node, src, np.ones(out), bias, kind, geom)

    def neuron(self, key, node, cur: _Current) -> _Tensor:
        r, T = self.r, self.r.time_steps
        meta = {**node_meta(cur.node), **node_meta(node)}
        if cur.key is None:
            raise InteropError(f"node '{key}': a neuron fed only by spikes (no Conv2d/Linear/Affine) has no "
                               f"bsnn-sim equivalent")
        p = _neuron_params(key, node, cur.shape, r)
        gain, th, fire = p.gain, p.v_threshold, p.fire
        if T > 1 and (p.leak != 0).any():
            self.approx(key, f"{p.kind} leak dt/tau = {float(p.leak.max()):g} dropped (no leak in bsnn-sim)")
        if T > 1 and (p.stateless or p.reset is Reset.GRAPH):
            rule = "keeps no charge" if p.stateless else f"resets to v_reset = {float(p.v_reset.max()):g}"
            self.approx(key, f"{p.kind} {rule}; bsnn-sim resets by subtraction (exact only for T = 1; an "
                             f"snnTorch Leaky with reset_mechanism='subtract' is read exactly with --reset subtract)")
        G = gain * cur.gain
        w = arr(cur.node.weight)
        rows = (G * cur.source.scale)[:, None] * w.reshape(len(w), -1)
        q, k, precision = _split_weights(cur.key, rows, cur.source.spikes, False, meta, r, self.conv)
        bias_u = -(G * cur.bias + p.drive) / k
        res = cur.residuals
        if len(res) > 1:
            raise InteropError(f"node '{key}': {len(res)} residual inputs; bsnn-sim adds one")
        if res and not res[0][0].spikes:
            raise InteropError(f"node '{key}': a residual input must carry spikes")
        res_u = (gain * res[0][1]) / k if res else None
        th_u = th / k
        consts = [bias_u, th_u] + ([res_u] if res else [])
        F = self.frac_bits(key, consts, fire, meta)
        units = 2.0 ** F
        if fire is Fire.GT:
            theta = th_u * units + 1
            rule = "fires on v > v_th: theta = v_th/k * 2**F + 1 (exact for T <= 2**(F-G))"
        else:
            theta, rule = th_u * units, "fires on v >= v_th: theta = v_th/k * 2**F"
        if (np.rint(theta) < 1).any():
            if not r.binarize:
                raise InteropError(f"node '{key}': threshold {float(th.min()):g} gives theta < 1 unit; bsnn-sim "
                                   f"needs a positive threshold (pass --binarize to raise it to 1)")
            self.approx(key, "theta raised to 1 unit")
        name = self.name(cur.key)
        cls = Conv2d if cur.kind == "Conv2d" else Linear
        weight = q.reshape((len(q),) + w.shape[1:]) if cls is Conv2d else q
        self.nodes.append(cls(
            name=name, input=cur.source.name, weight=weight, precision=precision, neuron=NeuronKind.IF,
            frac_bits=F, bias=_int32(bias_u * units, "bias", key),
            theta=np.maximum(_int32(theta, "theta", key), 1),
            residual=res[0][0].name if res else None,
            res_gain=_int32(res_u * units, "res_gain", key) if res else None, **cur.geom))
        self.conv.notes.append(f"{cur.key} + {key} -> {name}: {cls.__name__.lower()} {precision.value} "
                               f"{'in-memory' if precision is Precision.BINARY and cur.source.spikes else 'digital'}"
                               f", F = {F}, {rule}" + (f", residual from {res[0][0].name}" if res else ""))
        return _Tensor(name, cur.shape, True)

    def frac_bits(self, key, consts, fire, meta) -> int:
        T = self.r.time_steps
        extra = math.ceil(math.log2(T)) if fire is Fire.GT else 0
        if "frac_bits" in meta and _on_grid(consts, int(meta["frac_bits"]) - extra):
            return int(meta["frac_bits"])
        g = _grid_bits(consts)
        if g is not None and g + extra <= MAX_FRAC_BITS:
            return g + extra
        if self.r.frac_bits is not None:  # the user accepts rounding, as bsnn-sim's trainer export does
            self.conv.approximations.append(f"{key}: bias/threshold rounded to {self.r.frac_bits} fraction "
                                            f"bits (--frac-bits)")
            return self.r.frac_bits
        if not self.r.binarize:
            raise InteropError(f"node '{key}': bias, threshold or residual gain in units of the weight scale "
                               f"({float(np.ravel(consts[0])[0]):g}, ...) lie on no 2**-F grid with F <= "
                               f"{MAX_FRAC_BITS - extra}; pass --frac-bits F (or --binarize) to round them")
        self.approx(key, f"bias/threshold rounded to {APPROX_FRAC_BITS} fraction bits")
        return min(MAX_FRAC_BITS, APPROX_FRAC_BITS + extra)

    def or_pool(self, key, node, pool: _Pool) -> _Tensor:
        r = self.r
        c, h, w = pool.source.shape
        shape = (c, (h - pool.kernel) // pool.stride + 1, (w - pool.kernel) // pool.stride + 1)
        p = _neuron_params(key, node, shape, r)
        d = pool.per_spike * pool.source.scale * p.gain
        th, fire = p.v_threshold, p.fire
        stateless = p.stateless or (p.reset is Reset.GRAPH and (p.v_reset == 0).all())
        fires_on_one = (th < d).all() if fire is Fire.GT else (th <= d).all()
        silent_on_zero = (th >= 0).all() if fire is Fire.GT else (th > 0).all()
        if not (fires_on_one and silent_on_zero and (p.drive == 0).all()):
            raise InteropError(f"node '{key}': after pool '{pool.key}' the neuron is not an OR (one spike adds "
                               f"{float(d.min()):g}, threshold {float(th.min()):g}..{float(th.max()):g}, "
                               f"fire {fire.value}); bsnn-sim pools spikes by OR only")
        if r.time_steps > 1 and not stateless:
            self.approx(key, "pooling neuron keeps charge after a spike (reset by subtraction or to v_reset != 0); "
                             "read as OR-pooling")
        name = self.name(pool.key)
        self.nodes.append(MaxPool2d(name, pool.source.name, pool.kernel, pool.stride))
        self.conv.notes.append(f"{pool.key} + {key} -> {name}: maxpool2d {pool.kernel}x{pool.kernel} "
                               f"stride {pool.stride} (OR of spikes: one spike fires, none stays silent)")
        return _Tensor(name, shape, True)

    def pool(self, key, node, average) -> _Pool:
        src = self.tensor_in(key)
        if len(src.shape) != 3 or not src.spikes:
            raise InteropError(f"node '{key}': pooling needs a (C, H, W) tensor of spikes")
        ks, ss, ps = (tuple(int(v) for v in np.broadcast_to(np.ravel(x), (2,)))
                      for x in (node.kernel_size, node.stride, node.padding))
        if ks[0] != ks[1] or ss[0] != ss[1] or any(ps):
            raise InteropError(f"node '{key}': pooling needs a square kernel, equal strides and no padding; "
                               f"got kernel {ks}, stride {ss}, padding {ps}")
        per = np.full(src.shape[0], 1.0 / (ks[0] * ks[0]) if average else 1.0)
        return _Pool(key, src, ks[0], ss[0], per)

    def flatten(self, key, node) -> _Tensor:
        src = self.tensor_in(key)
        start, end = int(node.start_dim), int(node.end_dim)
        if len(src.shape) == 1:
            return src
        if (start, end) not in ((0, -1), (0, len(src.shape) - 1)):
            raise InteropError(f"node '{key}': Flatten over dims {start}..{end}; bsnn-sim flattens all of (C, H, W)")
        name = self.name(key)
        self.nodes.append(Flatten(name, src.name))
        self.conv.notes.append(f"{key} -> {name}: flatten")
        return _Tensor(name, (math.prod(src.shape),), src.spikes, src.scale)

    def readout(self, key):
        cur = self.summed(key)
        if isinstance(cur, _Pool) or cur.key is None or cur.kind == "Conv2d" or cur.residuals:
            raise InteropError(f"node '{key}': the Output must be fed by one Linear/Affine layer (the readout: "
                               f"bsnn-sim accumulates its current over T steps); a neuron, pool, convolution "
                               f"or residual before the Output has no equivalent")
        meta = node_meta(cur.node)
        w = arr(cur.node.weight)
        rows = (cur.gain * cur.source.scale)[:, None] * w
        q, k, precision = _split_weights(cur.key, rows, cur.source.spikes, True, meta, self.r, self.conv)
        bias_u = -cur.gain * cur.bias / k
        F = self.frac_bits(cur.key, [bias_u], Fire.GE, meta)
        name = self.name(cur.key)
        self.nodes.append(Linear(name=name, input=cur.source.name, weight=q, precision=precision,
                                 neuron=NeuronKind.READOUT, frac_bits=F,
                                 bias=_int32(bias_u * 2.0 ** F, "bias", cur.key)))
        self.conv.readout_unit = float(k[0]) / 2.0 ** F
        self.conv.notes.append(f"{cur.key} + {key} -> {name}: readout {precision.value}, F = {F}, one unit "
                               f"= {float(k[0]):g} of the source's output (argmax of the sum over T)")

    def approx(self, key, what):
        if not self.r.binarize:
            raise InteropError(f"node '{key}': {what}; not exact: pass --binarize to accept it")
        self.conv.approximations.append(f"{key}: {what}")


def import_graph(graph, reading: Reading) -> Conversion:
    """Convert a NIR graph (``nir.NIRGraph``) into a validated :class:`Network`."""
    return _Importer(graph, reading).run()


def reading_defaults(graph) -> dict:
    """Time steps, encoding and input shape stored by bsnn-sim's exporter (empty if foreign)."""
    meta = node_meta(graph)
    if not meta:
        return {}
    enc = meta["encoding"]
    return {"time_steps": int(meta["time_steps"]),
            "encoding": Encoding(EncodingKind(enc["kind"]), int(enc["level"]), int(enc["seed"])),
            "input_shape": tuple(meta["input_shape"])}


def read_graph(path):
    """Read a NIR file (HDF5) written by any tool."""
    nir = load_nir()
    try:
        return nir.read(str(path))
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as e:
        raise InteropError(f"{path}: not a readable NIR file ({type(e).__name__}: {e})") from e


# ------------------------------------------------------------------ export

def export_network(net: Network, dt: float = 1e-4):
    """A NIR graph of ``net``; bsnn-sim metadata makes :func:`import_graph` exact."""
    nir = load_nir()
    nodes, edges = {}, []
    produced = {INPUT: "input"}  # weight-file tensor -> the NIR node that outputs it
    nodes["input"] = nir.Input(input_type={"input": np.array(net.input_shape)})
    for n in net.nodes:
        shape = net.shapes[n.name]
        if isinstance(n, Flatten):
            nodes[n.name] = nir.Flatten(input_type={"input": np.array(net.shapes[n.input])}, start_dim=0, end_dim=-1)
            edges.append((produced[n.input], n.name))
            produced[n.name] = n.name
        elif isinstance(n, MaxPool2d):
            k = np.array([n.kernel, n.kernel])
            nodes[n.name] = nir.SumPool2d(kernel_size=k, stride=np.array([n.stride, n.stride]),
                                          padding=np.zeros(2, int))
            nodes[f"{n.name}_or"] = nir.IF(r=np.full(shape, 1 / dt), v_threshold=np.full(shape, 0.5),
                                           v_reset=np.zeros(shape), metadata=_meta(fire="gt", reset="graph"))
            edges += [(produced[n.input], n.name), (n.name, f"{n.name}_or")]
            produced[n.name] = f"{n.name}_or"
        else:
            _export_compute(nir, n, shape, net.shapes, dt, nodes, edges, produced)
    last = net.nodes[-1].name
    nodes["output"] = nir.Output(output_type={"output": np.array(net.shapes[last])})
    edges.append((last, "output"))
    header = {"time_steps": net.time_steps, "input_shape": list(net.input_shape),
              "encoding": {"kind": net.encoding.kind.value, "level": net.encoding.level, "seed": net.encoding.seed},
              "classes": list(net.classes), "metadata": net.metadata}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={META_KEY: json.dumps(header, sort_keys=True)},
                        type_check=False)


def _meta(**kw) -> dict:
    return {META_KEY: json.dumps(kw, sort_keys=True)}


def _export_compute(nir, n: Compute, shape, net_shapes, dt, nodes, edges, produced):
    units = 2.0 ** n.frac_bits
    w = n.weight.astype(np.float64)
    bias = -n.bias.astype(np.float64) / units
    meta = _meta(precision=n.precision.value, frac_bits=n.frac_bits)
    shape_in = net_shapes[n.input]
    if isinstance(n, Conv2d):
        nodes[n.name] = nir.Conv2d(input_shape=tuple(shape_in[1:]), weight=w,
                                   stride=(n.stride, n.stride), padding=(n.padding, n.padding), dilation=(1, 1),
                                   groups=1, bias=bias, metadata=meta)
    else:
        nodes[n.name] = nir.Affine(weight=w, bias=bias, metadata=meta)
    edges.append((produced[n.input], n.name))
    if n.neuron is NeuronKind.READOUT:
        produced[n.name] = n.name
        return
    per = (-1,) + (1,) * (len(shape) - 1)
    neuron = f"{n.name}_if"
    nodes[neuron] = nir.IF(r=np.full(shape, 1 / dt),
                           v_threshold=np.broadcast_to((n.theta / units).reshape(per), shape).copy(),
                           v_reset=np.zeros(shape),
                           metadata=_meta(fire="ge", reset="subtract", frac_bits=n.frac_bits))
    edges.append((n.name, neuron))
    if n.residual is not None:
        scale = f"{n.name}_res"
        nodes[scale] = nir.Scale(scale=np.broadcast_to((n.res_gain / units).reshape(per), shape).copy())
        edges += [(produced[n.residual], scale), (scale, neuron)]
    produced[n.name] = neuron


def write_graph(graph, path) -> None:
    """Write ``graph`` to ``path`` whole or not at all (a temporary file, renamed)."""
    nir = load_nir()
    write_atomic_path(path, lambda tmp: nir.write(tmp, graph))
