"""A functional pass through one chip: in-memory layers sensed on its sampled devices.

:class:`AnalogSimulator` is the bit-exact :class:`~bsnn_sim.functional.FunctionalSimulator`
with one change: the current of every in-memory layer (binary weights on spikes) comes
from the chip's analog rows and converters (:func:`bsnn_sim.kernels.analog.analog_conv`)
instead of the exact XNOR popcount. Digital layers, neurons, pooling and the readout are
unchanged, so with an exact converter, no variation and no noise it reproduces the ideal
predictions on every image. It also counts, per layer, how often and by how much the
converted counts differ from the ideal popcount of the same inputs (``errors``).
"""

from __future__ import annotations

import numpy as np

from ..functional import FunctionalSimulator, _Layer
from ..kernels.analog import STATS, analog_conv
from ..network import Conv2d, Network
from .chip import Chip


class AnalogSimulator(FunctionalSimulator):
    """Functional simulation of ``net`` on ``chip`` (sampled for the same mapping)."""

    WARM_UP = False  # a warm-up image would disturb the chip and count in its statistics

    def __init__(self, net: Network, chip: Chip, collect_offsets: bool = False, noise_key: int | None = None):
        a = chip.arch  # fan-in chunks and accumulators as the chip has them
        super().__init__(net, a.subarray.columns, a.neuron.acc_bits, a.digital.acc_bits)
        self.chip = chip
        self.noise_key = chip.noise_key if noise_key is None else noise_key  # keys the per-conversion noise
        self.collect_offsets = collect_offsets  # sum errors per converter (calibration)
        self.offset_sums = {name: np.zeros(lay.row_const.shape, np.int64) for name, lay in chip.layers.items()}
        self.offset_counts = {name: np.zeros(lay.row_const.shape[:2], np.int64) for name, lay in chip.layers.items()}
        self.skip = chip.arch.sensing.skip_zero_chunks
        self.errors = {name: np.zeros(len(STATS), np.int64) for name in chip.layers}
        self._geometry = {}
        for name in chip.layers:
            node = net.node(name)
            lay = self.layers[name]
            if isinstance(node, Conv2d):
                c, h, w = lay.in_shape
                out = net.shapes[name]
                self._geometry[name] = ((h, w, c), node.kernel, node.stride, node.padding, (out[1], out[2]))
            else:
                self._geometry[name] = ((1, 1, node.fan_in), (1, 1), 1, 0, (1, 1))

    def _current(self, layer: _Layer, x, image_index: np.ndarray) -> np.ndarray:
        name = layer.node.name
        if name not in self.chip.layers:
            return super()._current(layer, x, image_index)
        arr = self.chip.layers[name]
        hwc, kernel, stride, pad, out_hw = self._geometry[name]
        steps, b = x.words.shape[:2]
        spikes = x.unpacked().reshape((steps * b,) + hwc)
        rows_image = np.tile(np.asarray(image_index, np.int64), steps)
        rows_step = np.repeat(np.arange(steps, dtype=np.int64), b)
        out = analog_conv(spikes, kernel, stride, pad, out_hw, arr.ncol, arr.coef, arr.wsign, arr.v0,
                          arr.conv.as_tuple(), arr.row_const, self.chip.noise_sigma_v, self.noise_key,
                          rows_image, rows_step, self.net.time_steps, self.skip, keep_errors=self.collect_offsets)
        cur, stats, sensed = out[:3]
        if self.collect_offsets:
            per_position = out[3].sum(axis=0, dtype=np.int64)  # (P, N, K)
            replica = np.arange(per_position.shape[0]) % arr.replicas
            sums = np.zeros((arr.replicas,) + per_position.shape[1:], np.int64)
            np.add.at(sums, replica, per_position)
            self.offset_sums[name] += sums.transpose(0, 2, 1)
            self.offset_counts[name] += sensed.sum(axis=0)
        acc = self.errors[name]
        acc[:4] += stats[:, :4].sum(axis=0)
        acc[4] = max(acc[4], int(stats[:, 4].max(initial=0)))
        self.chip.disturb(name, sensed.sum(axis=0))
        return cur.reshape(steps, b, cur.shape[1], cur.shape[2])

    def offset_estimates(self) -> dict:
        """Per layer, the mean converted-count error of each converter row ``(R, K, N)``
        over the conversions it made (0 where it made none)."""
        return {name: self.offset_sums[name] / np.maximum(self.offset_counts[name], 1)[..., None]
                for name in self.offset_sums}

    def error_report(self) -> dict:
        """Per in-memory layer: conversions, error rate, mean and RMS absolute error (counts),
        largest error."""
        out = {}
        for name, (conv, errs, abs_err, sq_err, worst) in self.errors.items():
            n = max(int(conv), 1)
            out[name] = {"conversions": int(conv), "error_rate": errs / n, "mean_abs_error": abs_err / n,
                         "rms_error": float(np.sqrt(sq_err / n)), "max_abs_error": int(worst)}
        return out
