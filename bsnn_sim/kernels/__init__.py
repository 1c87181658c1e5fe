"""Pure Numba kernels of the functional pass, each with a plain-NumPy twin (``*_ref``).

Kernels take and return arrays, hold no state and never import SimPy. Layout is
channels-last; spikes and binary weights are bit-packed into uint64 words (:mod:`.bits`).
"""

from .bits import n_words, pack_bits, pack_bits_ref, popcount64, unpack_bits, unpack_bits_ref
from .neuron import if_step, if_step_ref, readout_step, readout_step_ref
from .pool import maxpool_spikes, maxpool_spikes_ref
from .xnor import (ConvWeights, popcount_gemm, prepare_conv_weights, xnor_conv2d,
                   xnor_conv2d_prepared, xnor_conv2d_ref, xnor_linear, xnor_linear_ref, xnor_offset)

__all__ = [
    "n_words", "pack_bits", "pack_bits_ref", "popcount64", "unpack_bits", "unpack_bits_ref",
    "if_step", "if_step_ref", "readout_step", "readout_step_ref",
    "maxpool_spikes", "maxpool_spikes_ref",
    "ConvWeights", "popcount_gemm", "prepare_conv_weights", "xnor_conv2d", "xnor_conv2d_prepared",
    "xnor_conv2d_ref", "xnor_linear", "xnor_linear_ref", "xnor_offset",
]
