"""Small learnable datasets written in the real on-disk formats (MNIST IDX, CIFAR-10
python batches), so training and CLI tests need no downloaded data."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def _patterns(n: int, shape, seed: int):
    """Class c lights a bright bar at row band c over a dim noisy background."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    c, h, w = shape
    images = rng.integers(0, 60, size=(n, c, h, w)).astype(np.uint8)
    band = h // 10
    for i, y in enumerate(labels):
        images[i, :, y * band:(y + 1) * band, 2:w - 2] = rng.integers(180, 256)
    return images, labels.astype(np.uint8)


def _idx(array: np.ndarray) -> bytes:
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return bytes([0, 0, 0x08, array.ndim]) + dims + array.tobytes()


def write_mnist(root, n_train=300, n_test=100, seed=0, name="mnist") -> Path:
    """Write ``<root>/<name>/`` IDX files (gzip) of synthetic 28x28 digits; return root."""
    d = Path(root) / name
    d.mkdir(parents=True, exist_ok=True)
    for split, n, s in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        images, labels = _patterns(n, (1, 28, 28), s)
        (d / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images[:, 0])))
        (d / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))
    return Path(root)


def write_cifar10(root, n_train=100, n_test=50, seed=0) -> Path:
    """Write ``<root>/cifar10/cifar-10-batches-py/`` in the python batch format; return root."""
    d = Path(root) / "cifar10" / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    per = -(-n_train // 5)
    for k in range(6):
        n = n_test if k == 5 else per
        images, labels = _patterns(n, (3, 32, 32), seed + k)
        batch = {b"data": images.reshape(n, -1), b"labels": [int(x) for x in labels]}
        name = "test_batch" if k == 5 else f"data_batch_{k + 1}"
        (d / name).write_bytes(pickle.dumps(batch))
    return Path(root)
