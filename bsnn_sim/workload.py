"""Workload specs: a TOML file naming a dataset, a network architecture, its training
recipe and the trained weight file.

A workload is validated at load and frozen afterwards. Unknown keys are errors; every
message names the file, the key, the value and what is allowed. See
``docs/workloads.md`` for the schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, shown
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
        raise ConfigError(f"{self.path}: {prefix}{key} = {shown(value)}: {allowed}")

    def missing(self, key, allowed):
        prefix = f"{self.where}." if self.where else ""
        raise ConfigError(f"{self.path}: {prefix}{key}: required key is missing; {allowed}")

    def get(self, key, kind, default=None, lo=None, hi=None, choices=None):
        allowed = _allowed(kind, lo, hi, choices)
        if key not in self.table:
            if default is None:
                self.missing(key, allowed)
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value) if abs(value) < 2**1023 else math.inf
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            self.fail(key, value, f"expected {_KIND_NAMES[kind]}; {allowed}")
        if kind is float and not math.isfinite(value):
            self.fail(key, value, f"not a finite number; {allowed}")
        if choices is not None and value not in choices:
            self.fail(key, value, allowed)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.fail(key, value, allowed)
        return value


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "an array", dict: "a table"}


def _allowed(kind, lo, hi, choices) -> str:
    if choices is not None:
        return f"allowed: {', '.join(choices)}"
    if lo is not None or hi is not None:
        return f"allowed range {lo}..{hi}"
    return f"allowed: {_KIND_NAMES[kind]}"


def _table(path: Path, parent: dict, key: str, where: str, required: bool) -> dict:
    """``parent[key]`` as a table (``{}`` when optional and absent), else a ConfigError."""
    if key not in parent:
        if required:
            raise ConfigError(f"{path}: {where}: required table is missing; add [{where}]")
        return {}
    value = parent[key]
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where} = {shown(value)}: expected a table [{where}]")
    return value


def load_workload(path) -> Workload:
    """Read and validate a workload TOML file."""
    path = Path(path)
    raw = read_toml(path, "workload file")
    top = _Reader(path, raw, "", _TOP)
    n = _Reader(path, _table(path, raw, "network", "network", True), "network", _NETWORK)
    layers_raw = n.get("layers", list)
    if not layers_raw:
        n.fail("layers", layers_raw, "at least one layer is required")
    layers = tuple(_layer(path, i, spec) for i, spec in enumerate(layers_raw))
    if layers[-1].op != "linear":
        n.fail("layers", layers[-1].op, "the last layer must be a linear readout")
    t = _Reader(path, _table(path, raw, "train", "train", False), "train", set(TrainSpec.__dataclass_fields__))
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
    results = _table(path, raw, "results", "results", False)
    name = top.get("name", str)
    if not name.strip() or not name.isprintable():
        top.fail("name", name, "a non-empty name of printable characters (it names results and the weight file)")
    wl = Workload(
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
    layer_shapes(wl)
    return wl


def _layer(path: Path, i: int, spec) -> LayerSpec:
    where = f"network.layers[{i}]"
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: {where} = {shown(spec)}: expected a table [[network.layers]]")
    if "op" not in spec:
        raise ConfigError(f"{path}: {where}.op: required key is missing; allowed: {', '.join(LAYER_OPS)}")
    op = spec["op"]
    if not isinstance(op, str) or op not in _LAYER_KEYS:
        raise ConfigError(f"{path}: {where}.op = {shown(op)}: allowed: {', '.join(LAYER_OPS)}")
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


# ------------------------------------------------------------------ shapes and weights

IMAGE_SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def layer_shapes(wl: Workload) -> list[tuple[int, ...]]:
    """The output shape of every layer on the dataset's images, as the trainer builds
    them; a layer that does not fit its input is a ConfigError naming it."""
    shape = IMAGE_SHAPES[wl.dataset]
    out = []
    for i, spec in enumerate(wl.layers):
        where = f"{wl.path}: network.layers[{i}] ({spec.op})"
        if spec.op in ("conv2d", "resblock", "maxpool2d") and len(shape) != 3:
            raise ConfigError(f"{where}: needs a (C, H, W) input, gets the flat {shape} of a flatten/linear layer")
        if spec.op == "conv2d":
            h, w = ((d + 2 * spec.padding - spec.kernel) // spec.stride + 1 for d in shape[1:])
            if h < 1 or w < 1:
                raise ConfigError(f"{where}: kernel = {spec.kernel} with padding = {spec.padding} does not fit "
                                  f"its {shape[1]}x{shape[2]} input")
            shape = (spec.channels, h, w)
        elif spec.op == "maxpool2d":
            if spec.kernel > min(shape[1:]):
                raise ConfigError(f"{where}: kernel = {spec.kernel} is larger than its {shape[1]}x{shape[2]} input")
            shape = (shape[0], shape[1] // spec.kernel, shape[2] // spec.kernel)
        elif spec.op == "flatten":
            shape = (math.prod(shape),)
        elif spec.op == "linear":
            if len(shape) != 1:
                raise ConfigError(f"{where}: needs a flat input, gets {shape}: add a flatten layer before it")
            shape = (spec.features,)
        out.append(shape)
    weights = _weight_count(wl, out)
    if weights > MAX_WEIGHTS:
        raise ConfigError(f"{wl.path}: network.layers hold {weights:,} weights; at most {MAX_WEIGHTS:,} (2^30: "
                          "training keeps ~16 bytes per weight, beyond the memory of any machine this runs on)")
    from .datasets import class_names

    classes = len(class_names(wl.dataset))
    if wl.layers[-1].features != classes:
        raise ConfigError(f"{wl.path}: network.layers[{len(wl.layers) - 1}].features = {wl.layers[-1].features}: "
                          f"the readout needs one output per class of {wl.dataset} ({classes})")
    return out


MAX_WEIGHTS = 2**30


def _weight_count(wl: Workload, shapes: list) -> int:
    """Synaptic weights of the network: kernel * C_in * C_out per convolution (two per
    resblock), in * out per linear layer."""
    total, shape = 0, IMAGE_SHAPES[wl.dataset]
    for spec, out in zip(wl.layers, shapes):
        if spec.op == "conv2d":
            total += spec.kernel ** 2 * shape[0] * spec.channels
        elif spec.op == "resblock":
            total += 2 * 9 * shape[0] ** 2
        elif spec.op == "linear":
            total += shape[0] * spec.features
        shape = out
    return total


def _node_signatures(wl: Workload) -> list[str]:
    """What each node of the exported weight file must be, as comparable text."""
    out = []
    for spec in wl.layers:
        if spec.op == "conv2d":
            out.append(_conv_sig(spec.channels, spec.kernel, spec.stride, spec.padding, spec.precision.value, False))
        elif spec.op == "resblock":  # its channel count is its input's, compared through the layers before
            out += ["resblock conv1", "resblock conv2"]
        elif spec.op == "maxpool2d":
            out.append(f"maxpool2d {spec.kernel}")
        elif spec.op == "flatten":
            out.append("flatten")
        else:
            out.append(f"linear {spec.features} {spec.precision.value}")
    return out


def _conv_sig(channels, kernel, stride, padding, precision, residual) -> str:
    return (f"conv2d {channels}ch {kernel}x{kernel} stride {stride} padding {padding} {precision}"
            + (" +residual" if residual else ""))


def _file_signatures(net) -> list[str]:
    from .network import INPUT, Conv2d, Flatten, Linear, MaxPool2d

    out = []
    for i, node in enumerate(net.nodes):
        if isinstance(node, Conv2d):
            kh, kw = node.kernel
            sig = _conv_sig(node.out_features, kh if kh == kw else f"{kh}x{kw}", node.stride, node.padding,
                            node.precision.value, node.residual is not None)
            # the two convolutions of a resblock: binary 3x3 padding 1, channels kept, the second with
            # the block input as residual
            nxt = net.nodes[i + 1] if i + 1 < len(net.nodes) else None
            block = (node.precision.value == "binary" and (kh, kw) == (3, 3) and node.stride == 1
                     and node.padding == 1 and node.weight.shape[1] == node.out_features)
            if block and node.residual is None and isinstance(nxt, Conv2d) and nxt.residual == node.input:
                sig = "resblock conv1"
            elif (block and node.residual is not None and node.input != INPUT
                  and node.residual == net.node(node.input).input):
                sig = "resblock conv2"
            out.append(sig)
        elif isinstance(node, MaxPool2d):
            out.append(f"maxpool2d {node.kernel}" if node.stride == node.kernel
                       else f"maxpool2d {node.kernel} stride {node.stride}")
        elif isinstance(node, Flatten):
            out.append("flatten")
        elif isinstance(node, Linear):
            out.append(f"linear {node.out_features} {node.precision.value}")
    return out


def check_network(wl: Workload, net, weights_path) -> None:
    """The weight file holds the network the workload describes: the dataset's image
    shape and class names (when the file has them), T, the encoding (its level for
    threshold, its seed for rate) and every layer (op, channels or features, kernel,
    stride, padding, precision, residual). A ConfigError names both files and says what
    differs. ``frac_bits`` is not compared: it is the trainer's export grid, and a file
    (an imported one, say) may use its own per node; the file's values are simulated."""
    diffs = []

    def differ(what, ours, theirs):
        if ours != theirs:
            diffs.append(f"{what} {ours} (workload) vs {theirs} (weight file)")

    image = IMAGE_SHAPES[wl.dataset]
    differ(f"input shape ({wl.dataset} images)", "x".join(map(str, image)),
           "x".join(map(str, net.input_shape)))
    if net.classes:
        from .datasets import class_names

        differ("class names", shown(",".join(class_names(wl.dataset))), shown(",".join(net.classes)))
    differ("time_steps", wl.time_steps, net.time_steps)
    differ("encoding", wl.encoding.value, net.encoding.kind.value)
    if wl.encoding is net.encoding.kind is EncodingKind.THRESHOLD:
        differ("encoding_level", wl.encoding_level, net.encoding.level)
    if wl.encoding is net.encoding.kind is EncodingKind.RATE:
        differ("encoding_seed", wl.encoding_seed, net.encoding.seed)
    ours, theirs = _node_signatures(wl), _file_signatures(net)
    if len(ours) != len(theirs):
        diffs.append(f"{len(ours)} nodes (workload) vs {len(theirs)} (weight file)")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            diffs.append(f"node {i} ('{net.nodes[i].name}'): {a} (workload) vs {b} (weight file)")
            break
    if diffs:
        raise ConfigError(f"{weights_path}: does not hold the network of workload {wl.path}: " + "; ".join(diffs))
