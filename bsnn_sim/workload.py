"""Workload specs: a TOML file naming a dataset, a network architecture, its training
recipe and the trained weight file.

A workload is validated at load and frozen afterwards. Unknown keys are errors; every
message names the file, the key, the value and what is allowed. See
``docs/workloads.md`` for the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .tomlfile import read_toml
from .network import EncodingKind, Precision

DATASETS = ("mnist", "fashion_mnist", "cifar10")
SURROGATES = ("arctan", "triangle")
OPTIMIZERS = ("adam", "sgd")
AUGMENTATIONS = ("none", "crop_flip")
LAYER_OPS = ("conv2d", "resblock", "maxpool2d", "flatten", "linear")


@dataclass(frozen=True)
class LayerSpec:
    """One entry of ``[[network.layers]]``.

    ``conv2d``: ``channels``, ``kernel``, ``stride``, ``padding``, ``precision``;
    ``resblock``: two binary 3x3 convolutions (padding 1) with an identity shortcut
    added into the second one's membrane; ``maxpool2d``: ``kernel`` (stride = kernel);
    ``flatten``; ``linear``: ``features``, ``precision``. The last layer is the readout.
    """

    op: str
    channels: int = 0
    features: int = 0
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    precision: Precision = Precision.BINARY


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    surrogate: str = "arctan"
    surrogate_alpha: float = 2.0
    seed: int = 0
    threads: int = 2
    augment: str = "none"  # "crop_flip": random 4-pixel-padded crop + horizontal flip


@dataclass(frozen=True)
class Workload:
    path: Path
    name: str
    dataset: str
    weights: Path
    time_steps: int
    encoding: EncodingKind
    encoding_level: int
    encoding_seed: int
    frac_bits: int
    layers: tuple[LayerSpec, ...]
    train: TrainSpec
    description: str = ""
    results: dict = field(default_factory=dict)


_TOP = {"name", "description", "dataset", "weights", "network", "train", "results"}
_NETWORK = {"time_steps", "encoding", "encoding_level", "encoding_seed", "frac_bits", "layers"}
_LAYER_KEYS = {
    "conv2d": {"op", "channels", "kernel", "stride", "padding", "precision"},
    "resblock": {"op"},
    "maxpool2d": {"op", "kernel"},
    "flatten": {"op"},
    "linear": {"op", "features", "precision"},
}


class _Reader:
    """Typed, range-checked access to one TOML table; remembers where it is."""

    def __init__(self, path: Path, table: dict, where: str, allowed: set[str]):
        self.path, self.table, self.where = path, table, where
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(unknown[0], table[unknown[0]], f"unknown key; allowed: {', '.join(sorted(allowed))}")

    def fail(self, key, value, allowed):
        prefix = f"{self.where}." if self.where else ""
        raise ConfigError(f"{self.path}: {prefix}{key} = {value!r}: {allowed}")

    def get(self, key, kind, default=None, lo=None, hi=None, choices=None):
        if key not in self.table:
            if default is None:
                self.fail(key, None, "required key is missing")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            self.fail(key, value, f"expected {kind.__name__}")
        if choices is not None and value not in choices:
            self.fail(key, value, f"allowed: {', '.join(choices)}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.fail(key, value, f"allowed range {lo}..{hi}")
        return value


def load_workload(path) -> Workload:
    """Read and validate a workload TOML file."""
    path = Path(path)
    raw = read_toml(path, "workload file")
    top = _Reader(path, raw, "", _TOP)
    net = raw.get("network")
    if not isinstance(net, dict):
        top.fail("network", net, "a [network] table is required")
    n = _Reader(path, net, "network", _NETWORK)
    layers_raw = n.get("layers", list)
    if not layers_raw:
        n.fail("layers", layers_raw, "at least one layer is required")
    layers = tuple(_layer(path, i, spec) for i, spec in enumerate(layers_raw))
    if layers[-1].op != "linear":
        n.fail("layers", layers[-1].op, "the last layer must be a linear readout")
    t = _Reader(path, raw.get("train", {}), "train", set(TrainSpec.__dataclass_fields__))
    train = TrainSpec(
        epochs=t.get("epochs", int, 10, 1, 10_000),
        batch_size=t.get("batch_size", int, 128, 1, 65_536),
        lr=t.get("lr", float, 1e-3, 1e-8, 10.0),
        weight_decay=t.get("weight_decay", float, 0.0, 0.0, 1.0),
        optimizer=t.get("optimizer", str, "adam", choices=OPTIMIZERS),
        surrogate=t.get("surrogate", str, "arctan", choices=SURROGATES),
        surrogate_alpha=t.get("surrogate_alpha", float, 2.0, 1e-3, 100.0),
        seed=t.get("seed", int, 0, 0, 2**31 - 1),
        threads=t.get("threads", int, 2, 1, 256),
        augment=t.get("augment", str, "none", choices=AUGMENTATIONS),
    )
    results = raw.get("results", {})
    if not isinstance(results, dict):
        top.fail("results", results, "expected a table")
    name = top.get("name", str)
    return Workload(
        path=path,
        name=name,
        description=top.get("description", str, ""),
        dataset=top.get("dataset", str, choices=DATASETS),
        weights=(path.parent / top.get("weights", str, f"{name}.bsnn.npz")),
        time_steps=n.get("time_steps", int, 4, 1, 1024),
        encoding=EncodingKind(n.get("encoding", str, "direct", choices=[e.value for e in EncodingKind])),
        encoding_level=n.get("encoding_level", int, 128, 1, 255),
        encoding_seed=n.get("encoding_seed", int, 0, 0, 2**63 - 1),
        frac_bits=n.get("frac_bits", int, 4, 0, 24),
        layers=layers,
        train=train,
        results=results,
    )


def _layer(path: Path, i: int, spec) -> LayerSpec:
    where = f"network.layers[{i}]"
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: {where} = {spec!r}: expected a table")
    op = spec.get("op")
    if op not in _LAYER_KEYS:
        raise ConfigError(f"{path}: {where}.op = {op!r}: allowed: {', '.join(LAYER_OPS)}")
    r = _Reader(path, spec, where, _LAYER_KEYS[op])
    precisions = [p.value for p in Precision]
    if op == "conv2d":
        return LayerSpec(op, channels=r.get("channels", int, lo=1, hi=65_536),
                         kernel=r.get("kernel", int, 3, 1, 15), stride=r.get("stride", int, 1, 1, 8),
                         padding=r.get("padding", int, 0, 0, 7),
                         precision=Precision(r.get("precision", str, "binary", choices=precisions)))
    if op == "maxpool2d":
        return LayerSpec(op, kernel=r.get("kernel", int, 2, 1, 16))
    if op == "linear":
        return LayerSpec(op, features=r.get("features", int, lo=1, hi=1 << 20),
                         precision=Precision(r.get("precision", str, "binary", choices=precisions)))
    return LayerSpec(op)
