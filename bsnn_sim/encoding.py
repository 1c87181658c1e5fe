"""Input encodings: uint8 pixels -> the first layer's input at time step t.

- ``direct``: x[t] = pixel (uint8), the same at every step;
- ``threshold``: x[t] = 1 iff pixel >= level, the same at every step;
- ``rate``: x[t] = 1 iff u < pixel, with u the top 8 bits of a SplitMix64 output keyed
  by (seed, image index in its split, t, pixel index). The stream is counter-based, so
  an image's spikes do not depend on the batch it is in or on the worker count::

      counter = (image_index * T + t) * D + i        (D = C*H*W, i = C-order pixel index)
      z = seed + (counter + 1) * 0x9E3779B97F4A7C15  (all arithmetic mod 2**64)
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
      z = (z ^ (z >> 27)) * 0x94D049BB133111EB
      z = z ^ (z >> 31);  u = z >> 56
"""

from __future__ import annotations

import numpy as np

from .network import Encoding, EncodingKind

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64_top8(seed: int, counter: np.ndarray) -> np.ndarray:
    """Top 8 bits (0..255) of SplitMix64 at the given uint64 counters."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (counter.astype(np.uint64) + np.uint64(1)) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(56)).astype(np.uint8)


def encode_step(images: np.ndarray, encoding: Encoding, t: int, time_steps: int,
                image_index: np.ndarray) -> np.ndarray:
    """Encoded input at step ``t`` for uint8 ``images`` (B, C, H, W); uint8 result.

    ``image_index`` (B,) holds each image's position in its dataset split.
    """
    if encoding.kind is EncodingKind.DIRECT:
        return images
    if encoding.kind is EncodingKind.THRESHOLD:
        return (images >= encoding.level).astype(np.uint8)
    d = int(np.prod(images.shape[1:]))
    base = (image_index.astype(np.uint64) * np.uint64(time_steps) + np.uint64(t)) * np.uint64(d)
    counter = base[:, None] + np.arange(d, dtype=np.uint64)[None, :]
    u = splitmix64_top8(encoding.seed, counter).reshape(images.shape)
    return (u < images).astype(np.uint8)

