"""Pure Numba kernels of the functional pass, each with a plain-NumPy twin (``*_ref``).

Kernels take and return arrays, hold no state and never import SimPy. Layout is
channels-last; spikes and binary weights are bit-packed into uint64 words (:mod:`.bits`).
"""

from .bits import (n_words, pack_bits, pack_bits_ref, popcount, popcount_rows, popcount_rows_ref,
                   trailing_zeros64, unpack_bits, unpack_bits_ref)
from .digital import (pixel_conv2d, pixel_conv2d_ref, pixel_linear, pixel_linear_ref, spike_linear,
                      spike_linear_ref, spike_linear_total, spike_linear_total_ref)
from .neuron import (integrate_and_fire, integrate_and_fire_ref, readout_accumulate,
                     readout_accumulate_ref)
from .pool import maxpool_spikes, maxpool_spikes_ref
from .xnor import (ConvWeights, popcount_gemm, prepare_conv_weights, xnor_conv2d,
                   xnor_conv2d_prepared, xnor_conv2d_ref, xnor_linear, xnor_linear_ref, xnor_offset)

__all__ = [
    "n_words", "pack_bits", "pack_bits_ref", "popcount", "popcount_rows", "popcount_rows_ref",
    "trailing_zeros64", "unpack_bits", "unpack_bits_ref",
    "pixel_conv2d", "pixel_conv2d_ref", "pixel_linear", "pixel_linear_ref", "spike_linear",
    "spike_linear_ref", "spike_linear_total", "spike_linear_total_ref",
    "integrate_and_fire", "integrate_and_fire_ref", "readout_accumulate", "readout_accumulate_ref",
    "maxpool_spikes", "maxpool_spikes_ref",
    "ConvWeights", "popcount_gemm", "prepare_conv_weights", "xnor_conv2d", "xnor_conv2d_prepared",
    "xnor_conv2d_ref", "xnor_linear", "xnor_linear_ref", "xnor_offset",
]
