"""Timing pass: a cycle-accurate SimPy model of the chip running a mapped network.

It consumes activity traces (:class:`Activity`) and never recomputes values.
Components, one module each: :class:`~.clock.Clock` (integer cycles),
:class:`~.subarray.SubarrayGroup`, :class:`~.neuron.NeuronArray`,
:class:`~.buffer.SpikeBuffer`, :class:`~.digital.DigitalUnit`, :class:`~.tile.Tile`
(one layer's hardware and its phases), :class:`~.chip.Chip`. Cycle costs and action
counts live in :mod:`.costs`; :func:`closed_form_latency` is the contention-free
max-plus reference the engine must equal.
"""

from .activity import Activity
from .closed_form import closed_form_latency
from ..actions import ACTIONS
from .engine import simulate_timing
from .params import TimingParams, timing_params
from .result import TimingResult

__all__ = ["ACTIONS", "Activity", "TimingParams", "TimingResult", "closed_form_latency", "simulate_timing",
           "timing_params"]
