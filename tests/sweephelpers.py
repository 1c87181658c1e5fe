"""Point functions for sweep tests, importable by name in a spawned worker process."""

import os

from bsnn_sim.sweep.points import evaluate_point


def crash_some(context, task):
    """Kill the worker on the 36-column point with 8 subarrays' worth of the chip; raise
    a plain bug on the 72-column one of the same chip size; compute the rest."""
    cols, chip = task.arch.subarray.columns, task.arch.chip.subarrays
    if chip == 64 and cols == 36:
        os._exit(3)
    if chip == 64 and cols == 72:
        raise RuntimeError("a bug in one point")
    return evaluate_point(context, task)
