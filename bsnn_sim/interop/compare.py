"""How far an imported network is from its source graph on given images.

The source is :func:`.nireval.evaluate` (float64, the graph as read); the converted
network is the bit-exact simulator. Both give, per image, the readout summed over
``T`` steps: the source's directly, the file's as ``U * unit`` with ``U`` the integer
readout accumulator and ``unit = k * 2**-F`` (``k`` the readout's weight scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InteropError
from ..functional import FunctionalSimulator
from .nireval import evaluate


@dataclass(frozen=True)
class Comparison:
    images: int
    agree: int  # images whose predicted class (first maximum) is the same
    max_abs_diff: float  # largest |source output - converted output| over images and classes
    source_range: float  # largest |source output|, for scale

    def report(self) -> str:
        rel = self.max_abs_diff / self.source_range if self.source_range else 0.0
        return (f"distance to the graph on {self.images} image(s): predictions agree on "
                f"{self.agree}/{self.images} ({100 * self.agree / max(self.images, 1):.2f} %); "
                f"max |output difference| {self.max_abs_diff:.6g} (largest |output| {self.source_range:.6g}, "
                f"relative {rel:.3g})")


def compare(graph, reading, conversion, images: np.ndarray) -> Comparison:
    """Simulate ``conversion.network`` and evaluate ``graph`` on the same uint8 images."""
    shape = conversion.network.input_shape
    if images.dtype != np.uint8 or images.shape[1:] != shape:
        raise InteropError(f"images for the report must be uint8 (N, {', '.join(map(str, shape))}) like the "
                           f"network's input, got {images.dtype} {images.shape}")
    index = np.arange(len(images))
    source = evaluate(graph, reading, images, index)
    result = FunctionalSimulator(conversion.network).run_batch(images, index)
    converted = result.scores * conversion.readout_unit
    return Comparison(len(images), int((source.argmax(axis=1) == result.predictions).sum()),
                      float(np.abs(source - converted).max()) if len(images) else 0.0,
                      float(np.abs(source).max()) if len(images) else 0.0)
