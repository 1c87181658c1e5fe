"""Activity traces: what the functional pass saw, per compute layer, image and time step.

The timing pass never recomputes values; it consumes these counts (arrays of shape
``(n_images, T)``, integers):

- ``active_positions[layer]``: output positions whose input has at least one spike in
  some chunk. With ``sensing.skip_zero_chunks`` a position with no spike at all is not
  sensed (its current is exactly 0).
- ``active_chunks[layer]``: (position, chunk) pairs whose input chunk is not all-zero;
  each costs one bit-line drive per row group (held while that subarray's rows are
  sensed) and one sensing per row.
- ``spikes[layer]``: output spikes of the layer in that step (neuron fires).
- ``digital_macs[layer]``: multiply-accumulates of a digital layer that have a nonzero
  input (needed only with ``digital.skip_zero_inputs``).

Only in-memory layers need the first two (and only when zero chunks are skipped: with
skipping off every position and chunk counts); every integrate-and-fire layer needs
``spikes``. Extra keys (pooled tensors, the input) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SimulationError


def _as_counts(name: str, what: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise SimulationError(f"activity {what}['{name}'] must be an integer array (n_images, T), "
                              f"got {arr.dtype} {arr.shape}")
    if arr.size and arr.min() < 0:
        raise SimulationError(f"activity {what}['{name}'] has a negative count {int(arr.min())}")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class Activity:
    """Per-layer activity counts, each an int64 array ``(n_images, T)``."""

    active_positions: dict
    active_chunks: dict
    spikes: dict
    digital_macs: dict

    @classmethod
    def from_dicts(cls, active_positions=None, active_chunks=None, spikes=None, digital_macs=None) -> "Activity":
        """Build from plain dicts of array-likes (e.g. a functional ``SimResult``'s)."""
        parts = {}
        for what, d in (("active_positions", active_positions), ("active_chunks", active_chunks),
                        ("spikes", spikes), ("digital_macs", digital_macs)):
            parts[what] = {str(k): _as_counts(k, what, v) for k, v in (d or {}).items()}
        shapes = {a.shape for d in parts.values() for a in d.values()}
        if len(shapes) > 1:
            raise SimulationError(f"activity arrays disagree in shape: {sorted(shapes)}")
        return cls(**parts)

    @property
    def shape(self) -> tuple[int, int]:
        for d in (self.spikes, self.active_positions, self.active_chunks):
            for a in d.values():
                return a.shape
        raise SimulationError("activity is empty")

    @property
    def n_images(self) -> int:
        return self.shape[0]

    def check(self, net, mapping, skip_zero_chunks: bool, skip_zero_inputs: bool = False) -> None:
        """Raise :class:`SimulationError` if a needed count is missing or impossible."""
        n, steps = self.shape
        if steps != net.time_steps:
            raise SimulationError(f"activity has {steps} time steps, the network {net.time_steps}")
        for lm in mapping.layers:
            if not lm.kind.startswith("readout"):
                s = self._need(self.spikes, "spikes", lm.name)
                _at_most(s, lm.positions * lm.out_features, "spikes", lm.name)
            if not lm.in_memory and skip_zero_inputs:
                macs = self._need(self.digital_macs, "digital_macs", lm.name)
                _at_most(macs, lm.macs_per_step, "digital_macs", lm.name)
            if lm.in_memory and skip_zero_chunks:
                pos = self._need(self.active_positions, "active_positions", lm.name)
                ch = self._need(self.active_chunks, "active_chunks", lm.name)
                _at_most(pos, lm.positions, "active_positions", lm.name)
                if (ch < pos).any() or (ch > pos * lm.chunks).any():
                    raise SimulationError(f"activity active_chunks['{lm.name}'] must lie between "
                                          f"active_positions and active_positions * {lm.chunks} chunks")

    @staticmethod
    def _need(d: dict, what: str, name: str) -> np.ndarray:
        if name not in d:
            raise SimulationError(f"activity {what} has no entry for layer '{name}'")
        return d[name]

    @classmethod
    def random(cls, net, mapping, n_images: int, seed: int = 0, spike_rate: float = 0.1,
               position_rate: float = 0.8, chunk_rate: float = 0.7) -> "Activity":
        """Plausible random counts (binomial) for benchmarks and tests."""
        rng = np.random.default_rng(seed)
        shape = (n_images, net.time_steps)
        pos, chunks, spikes = {}, {}, {}
        for lm in mapping.layers:
            if not lm.kind.startswith("readout"):
                spikes[lm.name] = rng.binomial(lm.positions * lm.out_features, spike_rate, shape)
            if lm.in_memory:
                p = rng.binomial(lm.positions, position_rate, shape)
                extra = rng.binomial(p * (lm.chunks - 1), chunk_rate) if lm.chunks > 1 else np.zeros(shape, int)
                pos[lm.name], chunks[lm.name] = p, p + extra
        return cls.from_dicts(pos, chunks, spikes)


def _at_most(arr: np.ndarray, limit: int, what: str, name: str):
    if arr.size and arr.max() > limit:
        raise SimulationError(f"activity {what}['{name}'] = {int(arr.max())} exceeds the layer's {limit}")
