"""Weight file format v1: a :class:`Network` stored as a NumPy ``.npz`` archive.

The archive holds one ``header`` array (uint8, the UTF-8 bytes of a JSON object that
describes the graph) and, per compute node ``<name>``, the arrays ``<name>.weight``,
``<name>.bias``, ``<name>.theta`` (``"if"`` neurons only) and ``<name>.res_gain``
(residual nodes only). Binary weights are bit-packed (bit 1 = +1). A SHA-256 checksum
over the canonical header and every array detects corruption and hand edits.
``docs/weight-format.md`` is the complete specification; this module is its reference
implementation, and :func:`load` rejects every file that does not follow it.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .atomic import write_atomic
from .errors import WeightFileError
from .network import (Compute, Conv2d, Encoding, EncodingKind, Flatten, Linear, MaxPool2d,
                      Network, NeuronKind, Node, Precision)

FORMAT = "bsnn-weights"
VERSION = 1
INT32 = np.dtype("<i4")
NAME = re.compile(r"[A-Za-z0-9_.-]+")

_TOP_KEYS = {"format", "version", "input_shape", "time_steps", "encoding", "classes",
             "nodes", "metadata", "checksum"}
_ENCODING_KEYS = {"kind", "level", "seed"}
_COMPUTE_KEYS = {"name", "op", "input", "precision", "neuron", "frac_bits", "residual"}
_NODE_KEYS = {
    "conv2d": _COMPUTE_KEYS | {"in_channels", "out_channels", "kernel", "stride", "padding"},
    "linear": _COMPUTE_KEYS | {"in_features", "out_features"},
    "maxpool2d": {"name", "op", "input", "kernel", "stride"},
    "flatten": {"name", "op", "input"},
}
_JSON_TYPES = {dict: "object", list: "array", str: "string"}
_OPS = {Conv2d: "conv2d", Linear: "linear", MaxPool2d: "maxpool2d", Flatten: "flatten"}


# --------------------------------------------------------------------------- writing

def save(network: Network, path) -> None:
    """Write ``network`` to ``path`` (any name; no ``.npz`` suffix is appended)."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "input_shape": list(network.input_shape),
        "time_steps": network.time_steps,
        "encoding": _encoding(network.encoding),
        "classes": list(network.classes),
        "nodes": [_node_header(node) for node in network.nodes],
        "metadata": network.metadata,
    }
    header = json.loads(_canonical(header))  # exactly what load() will see (e.g. tuples -> lists)
    arrays = {}
    for node in network.compute_nodes():
        arrays.update(_node_arrays(node))
    header["checksum"] = checksum(header, arrays)
    arrays["header"] = np.frombuffer(_canonical(header).encode(), np.uint8)
    write_atomic(path, lambda f: np.savez_compressed(f, **arrays), binary=True)  # whole or not at all


def checksum(header: dict, arrays: dict) -> str:
    """``"sha256:<hex>"`` over the canonical header without ``"checksum"``, then every
    array except ``header`` in sorted name order as name NUL dtype NUL shape NUL bytes."""
    digest = hashlib.sha256(_canonical({k: v for k, v in header.items() if k != "checksum"}).encode())
    for name in sorted(arrays):
        a = arrays[name]
        shape = ",".join(str(n) for n in a.shape)
        digest.update(f"{name}\0{a.dtype.str}\0{shape}\0".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return "sha256:" + digest.hexdigest()


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _encoding(encoding: Encoding) -> dict:
    return {"kind": encoding.kind.value, "level": int(encoding.level), "seed": int(encoding.seed)}


def _node_header(node: Node) -> dict:
    if not NAME.fullmatch(node.name):
        raise WeightFileError(f"node name {node.name!r} not allowed: use letters, digits, '_', '.', '-'")
    entry = {"name": node.name, "op": _OPS[type(node)], "input": node.input}
    if isinstance(node, Conv2d):
        out, cin, kh, kw = (int(n) for n in node.weight.shape)
        entry.update(in_channels=cin, out_channels=out, kernel=[kh, kw],
                     stride=int(node.stride), padding=int(node.padding))
    elif isinstance(node, Linear):
        entry.update(in_features=node.fan_in, out_features=node.out_features)
    elif isinstance(node, MaxPool2d):
        entry.update(kernel=int(node.kernel), stride=int(node.stride))
    if isinstance(node, Compute):
        entry.update(precision=node.precision.value, neuron=node.neuron.value,
                     frac_bits=int(node.frac_bits), residual=node.residual)
    return entry


def _node_arrays(node: Compute) -> dict:
    w = node.weight_matrix()
    if node.precision is Precision.BINARY:
        w = np.packbits(w > 0, axis=1, bitorder="little")
    arrays = {f"{node.name}.weight": np.ascontiguousarray(w), f"{node.name}.bias": node.bias.astype(INT32)}
    if node.theta is not None:
        arrays[f"{node.name}.theta"] = node.theta.astype(INT32)
    if node.res_gain is not None:
        arrays[f"{node.name}.res_gain"] = node.res_gain.astype(INT32)
    return arrays


# --------------------------------------------------------------------------- reading

def load(path) -> Network:
    """Read and fully validate a weight file; every problem is a :class:`WeightFileError`
    whose one-line message names the file, the field, the value and what is allowed."""
    try:
        header, arrays = _read(Path(path))
        return _network(header, arrays)
    except WeightFileError as e:
        raise WeightFileError(f"{path}: {e}") from e


def _read(path: Path) -> tuple[dict, dict]:
    """Open the archive, parse the header and verify format, version and checksum."""
    if not path.is_file():
        raise WeightFileError("not a file")
    if not zipfile.is_zipfile(path):
        raise WeightFileError("not a zip (.npz) archive, or truncated")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as e:
        raise WeightFileError(f"corrupted .npz archive: {e}") from e
    raw = arrays.pop("header", None)
    if raw is None:
        raise WeightFileError("missing array 'header': not a bsnn-sim weight file")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise WeightFileError(f"array 'header' is {raw.dtype.str} {raw.shape}, expected 1-D uint8 (UTF-8 JSON)")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError
        raise WeightFileError(f"header is not valid UTF-8 JSON: {e}") from e
    except RecursionError:
        raise WeightFileError("header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise WeightFileError(f"header is a JSON {type(header).__name__}, expected an object")
    if header.get("format") != FORMAT:
        raise WeightFileError(f"format {header.get('format')!r} is not {FORMAT!r}: not a bsnn-sim weight file")
    version = header.get("version")
    if type(version) is not int or version != VERSION:
        raise WeightFileError(f"version {version} not supported; this bsnn-sim reads version {VERSION}")
    if not isinstance(header.get("checksum"), str):
        raise WeightFileError("header: missing key 'checksum'")
    try:
        actual = checksum(header, arrays)
    except ValueError as e:
        raise WeightFileError(f"header holds a value JSON does not allow ({e})") from e
    except RecursionError:
        raise WeightFileError("header JSON is nested too deeply") from None
    if actual != header["checksum"]:
        raise WeightFileError("checksum mismatch: file is corrupted or was edited")
    return header, arrays


def _network(header: dict, arrays: dict) -> Network:
    _check_keys(header, _TOP_KEYS, "header")
    enc = _get(header, "encoding", dict, "header")
    _check_keys(enc, _ENCODING_KEYS, "encoding")
    encoding = Encoding(_enum(EncodingKind, enc["kind"], "encoding", "kind"),
                        _int(enc, "level", "encoding"), _int(enc, "seed", "encoding"))
    input_shape = _ints(header, "input_shape", 3, "header")
    classes = _get(header, "classes", list, "header")
    if not all(isinstance(c, str) for c in classes):
        raise WeightFileError(f"header: classes {classes!r} must be a list of strings")
    nodes = [_node(entry, i, arrays) for i, entry in enumerate(_get(header, "nodes", list, "header"))]
    if arrays:
        raise WeightFileError(f"unexpected array(s) {', '.join(sorted(arrays))}: no node declares them")
    return Network.build(input_shape, _int(header, "time_steps", "header"), encoding, nodes,
                         classes, _get(header, "metadata", dict, "header"))


def _node(entry, index: int, arrays: dict) -> Node:
    """One node from its header entry, consuming its arrays from ``arrays``."""
    if not isinstance(entry, dict):
        raise WeightFileError(f"node #{index}: expected a JSON object, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise WeightFileError(f"node #{index}: name {name!r} not allowed: use letters, digits, '_', '.', '-'")
    where = f"node '{name}'"
    op = entry.get("op")
    if not isinstance(op, str) or op not in _NODE_KEYS:
        raise WeightFileError(f"{where}: op {op!r} unknown; allowed: {', '.join(_NODE_KEYS)}")
    _check_keys(entry, _NODE_KEYS[op], where)
    source = _get(entry, "input", str, where)
    if op == "maxpool2d":
        return MaxPool2d(name, source, _int(entry, "kernel", where, 1), _int(entry, "stride", where, 1))
    if op == "flatten":
        return Flatten(name, source)

    precision = _enum(Precision, entry["precision"], where, "precision")
    neuron = _enum(NeuronKind, entry["neuron"], where, "neuron")
    residual = entry["residual"]
    if residual is not None and not isinstance(residual, str):
        raise WeightFileError(f"{where}: residual {residual!r} must be null or a node name")
    if op == "conv2d":
        out = _int(entry, "out_channels", where, 1)
        shape = (out, _int(entry, "in_channels", where, 1), *_ints(entry, "kernel", 2, where))
    else:
        out = _int(entry, "out_features", where, 1)
        shape = (out, _int(entry, "in_features", where, 1))
    fields = dict(
        name=name, input=source, precision=precision, neuron=neuron,
        frac_bits=_int(entry, "frac_bits", where), residual=residual,
        weight=_weight(arrays, name, precision, shape),
        bias=_array(arrays, f"{name}.bias", INT32, (out,)),
        theta=_array(arrays, f"{name}.theta", INT32, (out,)) if neuron is NeuronKind.IF else None,
        res_gain=_array(arrays, f"{name}.res_gain", INT32, (out,)) if residual is not None else None,
    )
    if op == "conv2d":
        return Conv2d(**fields, stride=_int(entry, "stride", where, 1),
                      padding=_int(entry, "padding", where, 0))
    return Linear(**fields)


def _weight(arrays: dict, name: str, precision: Precision, shape: tuple) -> np.ndarray:
    """The int8 weight tensor of ``shape``, unpacked from bits for binary precision."""
    out, fan_in = shape[0], int(np.prod(shape[1:]))
    key = f"{name}.weight"
    if precision is Precision.INT8:
        return _array(arrays, key, np.dtype("i1"), (out, fan_in)).reshape(shape)
    bits = np.unpackbits(_array(arrays, key, np.dtype("u1"), (out, -(-fan_in // 8))), axis=1, bitorder="little")
    if bits[:, fan_in:].any():
        raise WeightFileError(f"array '{key}': padding bits after fan-in {fan_in} must be 0")
    return (bits[:, :fan_in].astype(np.int8) * 2 - 1).reshape(shape)


def _array(arrays: dict, key: str, dtype: np.dtype, shape: tuple) -> np.ndarray:
    if key not in arrays:
        raise WeightFileError(f"missing array '{key}'")
    a = arrays.pop(key)
    if a.dtype != dtype or a.shape != shape:
        raise WeightFileError(f"array '{key}' is {a.dtype.str} {a.shape}; "
                              f"the header's node declares {dtype.str} {shape}")
    return a


def _check_keys(obj: dict, allowed: set, where: str) -> None:
    missing, unknown = sorted(allowed - obj.keys()), sorted(obj.keys() - allowed)
    if missing:
        raise WeightFileError(f"{where}: missing key(s) {', '.join(missing)}")
    if unknown:
        raise WeightFileError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(allowed))}")


def _get(obj: dict, key: str, kind: type, where: str):
    value = obj[key]
    if not isinstance(value, kind):
        raise WeightFileError(f"{where}: {key} {value!r} must be a JSON {_JSON_TYPES[kind]}")
    return value


def _int(obj: dict, key: str, where: str, minimum: int | None = None) -> int:
    value = obj[key]
    if type(value) is not int or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise WeightFileError(f"{where}: {key} {value!r} must be an integer{bound}")
    return value


def _ints(obj: dict, key: str, count: int, where: str) -> tuple[int, ...]:
    value = obj[key]
    if not (isinstance(value, list) and len(value) == count and all(type(v) is int and v >= 1 for v in value)):
        raise WeightFileError(f"{where}: {key} {value!r} must be a list of {count} positive integers")
    return tuple(value)


def _enum(cls, value, where: str, field: str):
    if isinstance(value, str) and value in {m.value for m in cls}:
        return cls(value)
    raise WeightFileError(f"{where}: {field} {value!r} unknown; allowed: {', '.join(m.value for m in cls)}")


# --------------------------------------------------------------------------- inspecting

def summary(network: Network) -> dict:
    """JSON-serialisable description: the header fields plus, per node, its output
    shape and, for compute nodes, fan-in and theta/bias statistics (raw integers)."""
    return {
        "input_shape": list(network.input_shape),
        "time_steps": network.time_steps,
        "encoding": _encoding(network.encoding),
        "classes": list(network.classes),
        "nodes": [_node_summary(network, node) for node in network.nodes],
        "metadata": network.metadata,
    }


def _node_summary(network: Network, node: Node) -> dict:
    row = _node_header(node)
    row["output_shape"] = list(network.shapes[node.name])
    if isinstance(node, Compute):
        row["fan_in"] = node.fan_in
        row["bias"] = {"min": int(node.bias.min()), "max": int(node.bias.max())}
        row["theta"] = None if node.theta is None else {
            "min": int(node.theta.min()), "median": float(np.median(node.theta)), "max": int(node.theta.max())}
    return row


def describe(network: Network) -> str:
    """A human-readable table of :func:`summary` (for ``bsnn-sim inspect``)."""
    s = summary(network)
    enc = s["encoding"]
    detail = {"direct": "", "threshold": f" (level {enc['level']})",
              "rate": f" (seed {enc['seed']})"}[enc["kind"]]
    lines = [f"input {'x'.join(map(str, s['input_shape']))}, T = {s['time_steps']}, "
             f"encoding {enc['kind']}{detail}",
             f"classes: {', '.join(s['classes']) or '-'}", ""]
    rows = [("name", "op", "input", "output", "precision", "neuron", "fan-in", "frac_bits",
             "theta min/med/max", "bias min/max", "residual")]
    for n in s["nodes"]:
        theta, bias = n.get("theta"), n.get("bias")
        rows.append((n["name"], n["op"], n["input"], "x".join(map(str, n["output_shape"])),
                     n.get("precision", "-"), n.get("neuron", "-"), str(n.get("fan_in", "-")),
                     str(n.get("frac_bits", "-")),
                     f"{theta['min']}/{theta['median']:g}/{theta['max']}" if theta else "-",
                     f"{bias['min']}/{bias['max']}" if bias else "-",
                     n.get("residual") or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    if s["metadata"]:
        lines += ["", "metadata:"] + [f"  {k}: {json.dumps(v)}" for k, v in s["metadata"].items()]
    return "\n".join(lines)
