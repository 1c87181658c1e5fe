"""Functional pass: what every neuron computes, per image and time step (ideal devices).

The simulator evaluates a :class:`~bsnn_sim.network.Network` exactly as
``docs/weight-format.md`` defines it. There is no feedback, so it evaluates the
network layer by layer, each node for all ``T`` time steps of a batch before the next
node (the same values as the document's step-by-step order). Between layers:

* spikes stay bit-packed along the channels (:mod:`bsnn_sim.kernels.bits`), channels-last:
  ``(T', B, P, Cw)`` uint64 words for ``P`` pixel positions (1 for a flat vector; a
  Flatten keeps its input's words) and channel ``c`` in bit ``c % 64`` of word ``c // 64``;
* pixels of the ``direct`` encoding stay uint8 ``(B, H, W, C)``.

``T' = 1`` marks a static tensor (``direct`` or ``threshold`` input, and a MaxPool2d or
Flatten of one): the same at every step, so a node reading it computes its current once.

Products: binary weights on spikes are XNOR-popcounts of packed words
(:mod:`bsnn_sim.kernels.xnor`); int8 weights, and any weights on pixels, are
event-driven exact int32 sums in the digital unit (:mod:`bsnn_sim.kernels.digital`).
The neurons of a layer run over all ``T`` steps in one call
(:mod:`bsnn_sim.kernels.neuron`). A readout accumulates ``sum_t ((I[t] << F) - bias)``;
with int8 weights on spikes the digital unit forms ``sum_t I[t]`` directly, each input
that fired adding its weight row once, times its spike count. A batch runs in slices
small enough to keep every intermediate array in cache.

Besides predictions it records activity for the timing and energy models: the number
of spikes of every spiking tensor per image and time step and, when given the row
length of the in-memory subarrays (``chunk_columns``), for every in-memory layer
(binary weights on spikes) the number of output positions whose input window holds
at least one spike and the number of non-empty fan-in chunks (consecutive runs of
``chunk_columns`` inputs in channels-last (ky, kx, c) order) per image and step. An
all-zero chunk gives I = 0 exactly, so hardware may skip its sensing. Likewise, for
every digital layer (int8 weights, or pixel inputs), the multiply-accumulates with a
nonzero input: one per (nonzero input, output position whose window holds it, neuron).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import kernels as K
from .encoding import encode_step
from .errors import SimulationError
from .kernels.bits import WORD_BITS
from .network import (INPUT, Compute, Conv2d, EncodingKind, Flatten, Linear, MaxPool2d, Network,
                      NeuronKind, Precision)


@dataclass
class BatchResult:
    predictions: np.ndarray  # (B,) int64
    scores: np.ndarray  # (B, classes) int64: final readout accumulators
    spikes: dict[str, np.ndarray]  # tensor name -> (B, T) int32 spike counts
    active_positions: dict[str, np.ndarray] = field(default_factory=dict)  # in-memory layer -> (B, T)
    active_chunks: dict[str, np.ndarray] = field(default_factory=dict)  # in-memory layer -> (B, T)
    digital_macs: dict[str, np.ndarray] = field(default_factory=dict)  # digital layer -> (B, T)
    saturated: dict[str, np.ndarray] = field(default_factory=dict)  # compute layer -> (B,) accumulator clamps


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
    digital_macs: dict[str, np.ndarray] = field(default_factory=dict)
    saturated: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> (n,) accumulator clamps
    warmup_seconds: float = 0.0  # one image run before ``seconds`` was timed (JIT compile or cache load)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if len(self.labels) else float("nan")

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per time step, by tensor."""
        return {k: float(v.mean() / self.sizes[k]) for k, v in self.spikes.items()}


# ----------------------------------------------------------------- activity (chunks)


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
    """(B, H, W, C) spikes, or packed words (B, H, W, Cw) -> (B, OH, OW) bool: does the
    window hold any spike (any non-zero entry)?"""
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


# ------------------------------------------------------------ tensors between layers


@dataclass(frozen=True)
class _Pixels:
    """Pixels of the ``direct`` encoding, uint8 ``(B, H, W, C)``; static."""

    values: np.ndarray


@dataclass(frozen=True)
class _Spikes:
    """Packed spikes ``words`` uint64 ``(T', B, P, Cw)`` of ``channels`` channels and
    their number per step and image, ``counts`` int32 ``(T', B)``."""

    words: np.ndarray
    channels: int
    counts: np.ndarray

    @classmethod
    def counted(cls, words: np.ndarray, channels: int) -> "_Spikes":
        """Spikes whose counts are popcounts of their words."""
        steps, b = words.shape[:2]
        return cls(words, channels, K.popcount_rows(words.reshape(steps * b, -1)).reshape(steps, b))

    def unpacked(self) -> np.ndarray:
        """0/1 uint8 ``(T' B, P, C)``."""
        steps, b, p, cw = self.words.shape
        return K.unpack_bits(self.words.reshape(steps * b, p, cw), self.channels)

    def flat(self) -> "_Spikes":
        """The same spikes as one flat vector per image in Flatten's (c, position) order."""
        steps, b, p, _ = self.words.shape
        if p == 1:
            return self
        chw = self.unpacked().transpose(0, 2, 1).reshape(steps, b, 1, self.channels * p)
        return _Spikes(K.pack_bits(chw), self.channels * p, self.counts)


def _stored_shape(net: Network, name: str) -> tuple[int, ...]:
    """Shape of the tensor that holds ``name``'s values: a Flatten stores no copy of its
    input, so a flattened (C, H, W) map stays one."""
    while name != INPUT and isinstance(net.node(name), Flatten):
        name = net.node(name).input
    return net.shapes[name]


def _positions_channels(shape: tuple[int, ...]) -> tuple[int, int]:
    """(P, C) of a stored (C, H, W) map or flat (L,) vector."""
    return (shape[1] * shape[2], shape[0]) if len(shape) == 3 else (1, shape[0])


def _fan_in_hwc(weight: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A linear layer's weights (N, fan-in) as (N, P, C) in the stored channels-last order."""
    p, c = _positions_channels(shape)
    if len(shape) == 3:
        return weight.reshape(-1, c, shape[1], shape[2]).transpose(0, 2, 3, 1).reshape(-1, p, c)
    return weight.reshape(-1, 1, c)


def _max_abs_current(node: Compute, x_max: int) -> int:
    """The largest ``|I|`` any input can give: ``max_n sum_i |w[n, i]| * x_max``."""
    return int(np.abs(node.weight_matrix().astype(np.int64)).sum(axis=1).max()) * x_max


def _check_int32(node: Compute, x_max: int):
    """Digital sums are int32: fail loudly where a worst-case current would not fit."""
    if _max_abs_current(node, x_max) >= 2**31:
        raise SimulationError(f"node '{node.name}': the worst-case current with inputs up to {x_max} "
                              "overflows the int32 sums of the digital unit")


# ---------------------------------------------------------------------------- products
#
# Each product maps the node's input tensor to its int32 current (T', B, M, N).


class _PixelLinear:
    """Linear layer on pixels: event-driven int8 sums (binary weights are -1/+1 int8)."""

    kernel = "pixel_linear"

    def __init__(self, node: Linear, in_shape):
        _check_int32(node, 255)
        self.w = np.ascontiguousarray(_fan_in_hwc(node.weight, in_shape).reshape(node.out_features, -1).T)

    def __call__(self, x: _Pixels) -> np.ndarray:
        cur = K.pixel_linear(x.values.reshape(len(x.values), -1), self.w)
        return cur.reshape(1, cur.shape[0], 1, cur.shape[1])


class _PixelConv:
    """Convolution on pixels: event-driven int8 sums (binary weights are -1/+1 int8)."""

    kernel = "pixel_conv2d"

    def __init__(self, node: Conv2d, in_shape, x_max: int = 255):
        _check_int32(node, x_max)
        self.node = node
        self.in_shape = in_shape
        self.w = np.ascontiguousarray(node.weight.transpose(2, 3, 1, 0))  # (KH, KW, C, N)

    def __call__(self, x: _Pixels) -> np.ndarray:
        return self._convolve(x.values, 1)

    def _convolve(self, values: np.ndarray, steps: int) -> np.ndarray:
        n = self.node
        c, h, w = self.in_shape
        cur = K.pixel_conv2d(values.reshape(-1, h, w, c), self.w, n.stride, n.padding)
        return cur.reshape(steps, -1, cur.shape[1] * cur.shape[2], cur.shape[3])


class _SpikeConv(_PixelConv):
    """Convolution with int8 weights on spikes: the same sums on the unpacked 0/1 values."""

    kernel = "pixel_conv2d (spikes unpacked)"

    def __init__(self, node: Conv2d, in_shape):
        super().__init__(node, in_shape, x_max=1)

    def __call__(self, x: _Spikes) -> np.ndarray:
        return self._convolve(x.unpacked(), len(x.words))


class _SpikeLinear:
    """Linear layer with int8 weights on spikes: a weight row added per set bit."""

    kernel = "spike_linear"

    def __init__(self, node: Linear, in_shape):
        _check_int32(node, 1)
        w = _fan_in_hwc(node.weight, in_shape)  # (N, P, C)
        n_out, p, c = w.shape
        rows = np.zeros((n_out, p, K.n_words(c) * WORD_BITS), np.int8)  # zero rows for unused bits
        rows[:, :, :c] = w
        self.rows = np.ascontiguousarray(rows.reshape(n_out, -1).T)

    def __call__(self, x: _Spikes) -> np.ndarray:
        steps, b = x.words.shape[:2]
        return K.spike_linear(x.words.reshape(steps * b, -1), self.rows).reshape(steps, b, 1, -1)


class _SpikeReadout(_SpikeLinear):
    """Readout with int8 weights on spikes: its current summed over the steps (all a
    readout needs), each input that fired adding its weight row times its spike count."""

    kernel = "spike_linear_total"

    def __init__(self, node: Linear, in_shape, steps: int):
        super().__init__(node, in_shape)
        if steps * _max_abs_current(node, 1) >= 2**31:
            raise SimulationError(f"node '{node.name}': {steps} steps of its worst-case current overflow "
                                  "the int32 sums of the digital unit")
        self.steps = steps

    def __call__(self, x: _Spikes) -> np.ndarray:
        """sum_t I[t], int32 (B, N); a static input repeats its current at every step."""
        steps, b = x.words.shape[:2]
        return K.spike_linear_total(x.words.reshape(steps, b, -1), self.rows) * np.int32(self.steps // steps)


class _XnorLinear:
    """Binary linear layer on spikes: XNOR-popcount over the stored words."""

    kernel = "xnor_linear"

    def __init__(self, node: Linear, in_shape):
        w = _fan_in_hwc(node.weight, in_shape)  # (N, P, C)
        n_out = len(w)
        self.w = K.pack_bits((w > 0).astype(np.uint8)).reshape(n_out, -1)
        self.offset = K.xnor_offset(w)  # -1 weights plus the unused bits of every position's words

    def __call__(self, x: _Spikes) -> np.ndarray:
        steps, b = x.words.shape[:2]
        cur = K.xnor_linear(x.words.reshape(steps * b, -1), self.w, self.offset)
        return cur.reshape(steps, b, 1, -1)


class _XnorConv:
    """Binary convolution on spikes: XNOR-popcount of packed pixel words."""

    def __init__(self, node: Conv2d, in_shape):
        self.node = node
        self.in_shape = in_shape
        w_hwc = node.weight.transpose(0, 2, 3, 1)  # (N, KH, KW, C)
        self.w = K.prepare_conv_weights(K.pack_bits((w_hwc > 0).astype(np.uint8)), channels=in_shape[0])
        self.offset = K.xnor_offset(w_hwc)
        self.kernel = f"xnor_conv2d ({self.w.plan(node.stride)} plan)"

    def __call__(self, x: _Spikes) -> np.ndarray:
        n = self.node
        c, h, w = self.in_shape
        steps, b, _, cw = x.words.shape
        cur = K.xnor_conv2d_prepared(x.words.reshape(steps * b, h, w, cw), self.w, self.offset,
                                     n.stride, n.padding, channels=c)
        return cur.reshape(steps, b, cur.shape[1] * cur.shape[2], cur.shape[3])


def _product(node: Compute, net: Network):
    """The product of a node, chosen once by its input (pixels or spikes) and precision."""
    in_shape = _stored_shape(net, node.input)
    spiking = net.is_spiking(node.input)
    binary = node.precision is Precision.BINARY
    if isinstance(node, Conv2d):
        if not spiking:
            return _PixelConv(node, in_shape)
        return _XnorConv(node, in_shape) if binary else _SpikeConv(node, in_shape)
    if not spiking:
        return _PixelLinear(node, in_shape)
    if binary:
        return _XnorLinear(node, in_shape)
    if node.neuron is NeuronKind.READOUT:
        return _SpikeReadout(node, in_shape, net.time_steps)
    return _SpikeLinear(node, in_shape)


class _Layer:
    """A compute node prepared once: its product and its neurons over all time steps."""

    def __init__(self, node: Compute, net: Network, acc_bits: int | None = None):
        self.node = node
        self.acc_bits = acc_bits  # saturating accumulator width (None: exact)
        self.steps = net.time_steps
        self.in_shape = _stored_shape(net, node.input)
        self.product = _product(node, net)
        self.summed = isinstance(self.product, _SpikeReadout)  # gives sum_t I[t] (B, N)
        self.in_memory = net.is_in_memory(node)
        self.max_abs_current = _max_abs_current(node, 1 if net.is_spiking(node.input) else 255)
        positions = int(np.prod(net.shapes[node.name][1:]))
        self.coverage = _coverage(node, self.in_shape) if isinstance(node, Conv2d) else None
        self.current_bytes = (1 if net.is_static(node.input) else self.steps) * positions * node.out_features * 4

    def fire(self, current: np.ndarray, residual: _Spikes | None) -> tuple[_Spikes, np.ndarray]:
        """Output spikes of the IF neurons for all steps, given the layer's ``current``
        (its product's output, ``(T', B, P, N)`` int32), and the accumulator clamps per
        image (B,)."""
        n = self.node
        res = None
        if residual is not None:  # a linear layer's residual is a flat vector
            res = (residual.flat() if isinstance(n, Linear) else residual).words
        try:
            words, counts, clamped = K.integrate_and_fire(current, self.steps, n.bias, n.theta, n.frac_bits,
                                                          res, n.res_gain, self.max_abs_current, self.acc_bits)
        except ValueError as e:
            raise SimulationError(f"layer '{n.name}': {e}") from None
        return _Spikes(words, n.out_features, counts), clamped.sum(axis=0, dtype=np.int64)

    def accumulate(self, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Readout accumulators after the last step, int64 (B, N), given the product's
        output: ``sum_t (I[t] << F) - bias = (sum_t I[t]) << F - T bias``, and the clamps
        per image (B,). A summed product's total ``(B, N)`` is used only where no running
        sum can leave the accumulator (:meth:`never_clamps`); otherwise ``current`` holds
        the per-step currents (:meth:`FunctionalSimulator._current` gives those)."""
        n = self.node
        if current.ndim == 2:
            total = current.astype(np.int64)
            return (total << n.frac_bits) - self.steps * n.bias.astype(np.int64), np.zeros(len(total), np.int64)
        return K.readout_accumulate(current, self.steps, n.bias, n.frac_bits, self.acc_bits)

    def never_clamps(self) -> bool:
        """True where no running readout sum can leave the accumulator:
        ``T * ((max |I| << F) + max |bias|) <= 2^(acc_bits-1) - 1``."""
        if self.acc_bits is None:
            return True
        n = self.node
        drive = (self.max_abs_current << n.frac_bits) + int(np.abs(n.bias.astype(np.int64)).max(initial=0))
        return self.steps * drive <= 2 ** (self.acc_bits - 1) - 1

    def performed_macs(self, x) -> np.ndarray:
        """Multiply-accumulates with a nonzero input, (T', B) int64: each nonzero input
        element counts once per output position whose window holds it, per neuron."""
        n = self.node
        if isinstance(x, _Pixels):
            per_pixel = (x.values != 0).sum(axis=3, dtype=np.int64)[None]  # (1, B, H, W)
        else:
            steps, b, p, cw = x.words.shape
            per_pixel = K.popcount_rows(x.words.reshape(-1, cw)).astype(np.int64).reshape(steps, b, p)
        if self.coverage is None:
            return per_pixel.reshape(len(per_pixel), per_pixel.shape[1], -1).sum(axis=2) * n.out_features
        lit = per_pixel.reshape(len(per_pixel), per_pixel.shape[1], -1)
        return lit @ self.coverage.reshape(-1) * n.out_features

    def activity(self, x: _Spikes, columns: int) -> tuple[np.ndarray, np.ndarray]:
        """Active positions and non-empty chunks (see :func:`chunk_activity`), (T', B) each.
        A convolution whose fan-in fits one chunk tests its windows on the packed words."""
        n = self.node
        steps, b, _, cw = x.words.shape
        if isinstance(n, Conv2d):
            c, h, w = self.in_shape
            packed = n.fan_in <= columns
            x_hwc = x.words.reshape(steps * b, h, w, cw) if packed else x.unpacked().reshape(steps * b, h, w, c)
        else:
            x_hwc = x.unpacked().reshape(steps * b, -1)
        positions, chunks = chunk_activity(x_hwc, n, columns)
        return positions.reshape(steps, b), chunks.reshape(steps, b)


def _coverage(node: Conv2d, in_shape) -> np.ndarray:
    """(H, W) int64: how many output positions' windows hold each input pixel."""
    _, h, w = in_shape
    kh, kw = node.kernel
    p, s = node.padding, node.stride
    cover = np.zeros((h + 2 * p, w + 2 * p), np.int64)
    for oy in range((h + 2 * p - kh) // s + 1):
        for ox in range((w + 2 * p - kw) // s + 1):
            cover[oy * s:oy * s + kh, ox * s:ox * s + kw] += 1
    return cover[p:p + h, p:p + w]


def _maxpool(x: _Spikes, node: MaxPool2d, in_shape) -> _Spikes:
    """OR-pool packed spikes: a word OR over each window."""
    c, h, w = in_shape
    steps, b, _, cw = x.words.shape
    pooled = K.maxpool_spikes(x.words.reshape(steps * b, h, w, cw), node.kernel, node.stride)
    return _Spikes.counted(pooled.reshape(steps, b, -1, cw), c)


def _per_step(counts: np.ndarray, steps: int, dtype=np.int32) -> np.ndarray:
    """(T', B) counts -> (B, T); a static tensor repeats its counts at every step."""
    return np.ascontiguousarray(np.broadcast_to(counts.T, (counts.shape[1], steps)), dtype=dtype)


# Bound on the largest intermediate array of one slice of a batch (see run_batch).
_SLICE_BYTES = 16 * 2**20


class FunctionalSimulator:
    """Bit-exact functional simulation of a :class:`Network` on ideal devices.

    ``acc_bits`` / ``digital_acc_bits``: the saturating accumulator width of the neurons
    of in-memory and of digital layers (``neuron.acc_bits``, ``digital.acc_bits``); None
    keeps exact 64-bit arithmetic. Each layer's clamps are in ``SimResult.saturated``.
    """

    def __init__(self, net: Network, chunk_columns: int | None = None, acc_bits: int | None = None,
                 digital_acc_bits: int | None = None):
        self.net = net
        self.chunk_columns = chunk_columns
        self.layers = {n.name: _Layer(n, net, acc_bits if net.is_in_memory(n) else digital_acc_bits)
                       for n in net.compute_nodes()}
        self.in_memory = [name for name, lay in self.layers.items() if lay.in_memory] if chunk_columns else []
        self.digital = [name for name, lay in self.layers.items() if not lay.in_memory] if chunk_columns else []
        self.spiking = [name for name in [INPUT] + [n.name for n in net.nodes] if net.is_spiking(name)]
        self.slice_images = max(1, _SLICE_BYTES // max(lay.current_bytes for lay in self.layers.values()))
        self._warm = False  # run() has run its untimed warm-up image
        # Set to a dict to profile: (node, stage) -> seconds, summed over the slices run
        # (stages: encode, pool, activity, macs, product, fire, readout).
        self.profile: dict[tuple[str, str], float] | None = None

    def kernels(self) -> dict[tuple[str, str], str]:
        """(node, stage) -> the kernel that does that stage's work, for :attr:`profile`."""
        names = {(INPUT, "encode"): "pack_bits" if self.net.is_spiking(INPUT) else "(pixels as is)"}
        for node in self.net.nodes:
            if isinstance(node, MaxPool2d):
                names[node.name, "pool"] = "maxpool_spikes"
            elif isinstance(node, Compute):
                layer = self.layers[node.name]
                names[node.name, "activity"] = "chunk_activity"
                names[node.name, "macs"] = "popcount_rows"
                names[node.name, "product"] = layer.product.kernel
                names[node.name, "fire"] = "integrate_and_fire"
                names[node.name, "readout"] = "readout_accumulate"
        return names

    def _timed(self, node: str, stage: str, fn, *args):
        """``fn(*args)``, its wall time added to :attr:`profile` when profiling."""
        if self.profile is None:
            return fn(*args)
        t0 = time.perf_counter()
        out = fn(*args)
        key = (node, stage)
        self.profile[key] = self.profile.get(key, 0.0) + time.perf_counter() - t0
        return out

    def _encode(self, images: np.ndarray, image_index: np.ndarray) -> _Pixels | _Spikes:
        """The encoder's output for all steps (once when static), channels-last."""
        net = self.net
        if net.encoding.kind is EncodingKind.DIRECT:
            return _Pixels(np.ascontiguousarray(images.transpose(0, 2, 3, 1)))
        steps = 1 if net.is_static(INPUT) else net.time_steps
        frames = np.stack([encode_step(images, net.encoding, t, net.time_steps, image_index)
                           for t in range(steps)])  # (T', B, C, H, W)
        words = K.pack_bits(frames.transpose(0, 1, 3, 4, 2))
        return _Spikes.counted(words.reshape(steps, len(images), -1, words.shape[-1]), net.input_shape[0])

    def run_batch(self, images: np.ndarray, image_index: np.ndarray) -> BatchResult:
        """Simulate uint8 images (B, C, H, W); ``image_index`` is their place in the split.

        The batch runs in slices whose largest intermediate array stays within
        ``_SLICE_BYTES`` (cache-resident, and reused heap memory rather than fresh pages).
        """
        net = self.net
        if images.dtype != np.uint8 or images.shape[1:] != net.input_shape:
            raise SimulationError(f"images must be uint8 of shape (B, {', '.join(map(str, net.input_shape))}),"
                                  f" got {images.dtype} {images.shape}")
        step = self.slice_images
        parts = [self._simulate(images[i:i + step], image_index[i:i + step]) for i in range(0, len(images), step)]
        return _join(parts) if parts else self._empty()

    def _empty(self) -> BatchResult:
        """The result of no images."""
        steps = (0, self.net.time_steps)
        return BatchResult(np.zeros(0, np.int64), np.zeros((0, self.net.num_classes), np.int64),
                           {k: np.zeros(steps, np.int32) for k in self.spiking},
                           {k: np.zeros(steps, np.int32) for k in self.in_memory},
                           {k: np.zeros(steps, np.int32) for k in self.in_memory},
                           {k: np.zeros(steps, np.int64) for k in self.digital},
                           {k: np.zeros(0, np.int64) for k in self.layers})

    def _simulate(self, images: np.ndarray, image_index: np.ndarray) -> BatchResult:
        """All nodes in file order, each for all time steps."""
        net = self.net
        steps = net.time_steps
        timed = self._timed
        tensors = {INPUT: timed(INPUT, "encode", self._encode, images, image_index)}
        positions, chunks, macs, clamps = {}, {}, {}, {}
        for node in net.nodes:
            x = tensors[node.input]
            name = node.name
            if isinstance(node, MaxPool2d):
                tensors[name] = timed(name, "pool", _maxpool, x, node, net.shapes[node.input])
            elif isinstance(node, Flatten):
                tensors[name] = x
            else:
                layer = self.layers[name]
                if name in self.in_memory:
                    pos, chk = timed(name, "activity", layer.activity, x, self.chunk_columns)
                    positions[name], chunks[name] = _per_step(pos, steps), _per_step(chk, steps)
                if name in self.digital:
                    macs[name] = _per_step(timed(name, "macs", layer.performed_macs, x), steps, np.int64)
                current = timed(name, "product", self._current, layer, x, image_index)
                if node.neuron is NeuronKind.READOUT:
                    scores, clamps[name] = timed(name, "readout", layer.accumulate, current)
                else:
                    residual = None if node.residual is None else tensors[node.residual]
                    tensors[name], clamps[name] = timed(name, "fire", layer.fire, current, residual)
        spikes = {name: _per_step(tensors[name].counts, steps) for name in self.spiking}
        return BatchResult(np.argmax(scores, axis=1), scores, spikes, positions, chunks, macs, clamps)

    def _current(self, layer: _Layer, x, image_index: np.ndarray) -> np.ndarray:
        """The layer's synaptic current for input ``x`` (ideal devices: its product).
        :class:`bsnn_sim.analog.simulate.AnalogSimulator` senses in-memory layers instead.
        A summed readout gives its per-step currents where its accumulator could clamp."""
        if layer.summed and not layer.never_clamps():
            return _SpikeLinear.__call__(layer.product, x)
        return layer.product(x)

    # Run one image untimed first so that ``seconds`` excludes Numba's compile (or cache
    # load). The analog simulator turns it off: its chip state and statistics must see
    # only the images asked for.
    WARM_UP = True

    def run(self, images: np.ndarray, labels: np.ndarray, batch_size: int = 500, progress=None) -> SimResult:
        """Simulate a whole split in batches; ``progress(done, total)`` after each batch.
        ``seconds`` times the split only: on this simulator's first run the first image is
        run once before, untimed (``warmup_seconds``), so that Numba's compile time is not
        in it."""
        warm = 0.0
        n = len(images)
        if self.WARM_UP and n and not self._warm:
            t0 = time.perf_counter()
            self.run_batch(np.ascontiguousarray(images[:1]), np.arange(1))
            warm = time.perf_counter() - t0
            self._warm = True
        t0 = time.perf_counter()
        parts = []
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            parts.append(self.run_batch(np.ascontiguousarray(images[idx]), idx))
            if progress:
                progress(idx[-1] + 1, n)
        r = _join(parts) if parts else self._empty()
        sizes = {k: int(np.prod(self.net.shapes[k])) for k in self.spiking}
        return SimResult(r.predictions, np.asarray(labels), r.scores, r.spikes, sizes, time.perf_counter() - t0,
                         r.active_positions, r.active_chunks, r.digital_macs, r.saturated, warm)


def _join(parts: list[BatchResult]) -> BatchResult:
    """One result from consecutive slices of a batch."""
    if len(parts) == 1:
        return parts[0]

    def cat(arrays):
        return np.concatenate(list(arrays))

    def cat_dict(field_name):
        return {k: cat(getattr(p, field_name)[k] for p in parts) for k in getattr(parts[0], field_name)}

    return BatchResult(cat(p.predictions for p in parts), cat(p.scores for p in parts), cat_dict("spikes"),
                       cat_dict("active_positions"), cat_dict("active_chunks"), cat_dict("digital_macs"),
                       cat_dict("saturated"))
