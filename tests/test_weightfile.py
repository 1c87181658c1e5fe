"""Weight file format v1: exact round trips, the byte layout of the spec, and one
rejection per kind of broken file (each message names the file and the problem)."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest
from netfactory import tiny_network

from bsnn_sim import weightfile
from bsnn_sim.errors import WeightFileError
from bsnn_sim.network import (INPUT, Compute, Encoding, EncodingKind, Flatten, Linear, Network,
                              NeuronKind, Precision)


def read_raw(path) -> tuple[dict, dict]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def write_raw(path, header: dict, arrays: dict, reseal: bool = True) -> None:
    """Write an archive by hand; ``reseal`` recomputes the checksum after tampering."""
    if reseal:
        header = dict(header, checksum=weightfile.checksum(header, arrays))
    with open(path, "wb") as f:
        np.savez_compressed(f, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)


def assert_same(a: Network, b: Network) -> None:
    for field in ("input_shape", "time_steps", "encoding", "classes", "metadata"):
        assert getattr(a, field) == getattr(b, field), field
    assert len(a.nodes) == len(b.nodes)
    for x, y in zip(a.nodes, b.nodes):
        assert type(x) is type(y)
        if not isinstance(x, Compute):
            assert x == y
            continue
        for field in ("name", "input", "precision", "neuron", "frac_bits", "residual", "weight", "bias",
                      "theta", "res_gain") + (("stride", "padding") if hasattr(x, "stride") else ()):
            u, v = getattr(x, field), getattr(y, field)
            if isinstance(u, np.ndarray):
                assert u.dtype == v.dtype and np.array_equal(u, v), (x.name, field)
            else:
                assert u == v, (x.name, field)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "net.bsnn"
    weightfile.save(tiny_network(), path)
    return path


def random_chain(seed: int) -> Network:
    """A random stack of linear layers on a flattened input, widths not multiples of 8,
    with a residual wherever two consecutive spiking layers have the same width."""
    rng = np.random.default_rng(seed)
    c, h, w = (int(n) for n in rng.integers(1, 5, size=3))
    nodes, width, prev = [Flatten("flat", INPUT)], c * h * w, "flat"
    depth = int(rng.integers(1, 4))
    for i in range(depth + 1):
        last = i == depth
        out = int(rng.integers(2, 20)) if not last else 4
        if not last and i and rng.random() < 0.5:
            out = width  # enable a residual from the previous spiking layer
        precision = Precision(rng.choice(["binary", "int8"]))
        weight = (rng.choice(np.array([-1, 1], np.int8), size=(out, width)) if precision is Precision.BINARY
                  else rng.integers(-127, 128, size=(out, width), dtype=np.int8))
        residual = prev if (not last and i and out == width) else None
        nodes.append(Linear(
            f"fc{i}", prev, weight, precision, NeuronKind.READOUT if last else NeuronKind.IF,
            int(rng.integers(0, 9)), rng.integers(-1000, 1000, size=out).astype(np.int32),
            None if last else rng.integers(1, 2**31 - 1, size=out).astype(np.int32), residual,
            None if residual is None else rng.integers(-50, 50, size=out).astype(np.int32)))
        width, prev = out, f"fc{i}"
    return Network.build((c, h, w), int(rng.integers(1, 9)), Encoding(EncodingKind.RATE, seed=2**63 - 1 - seed),
                         nodes, metadata={"seed": seed, "notes": ["ünïcode", None, 1.25e-7]})


# --------------------------------------------------------------------------- round trip

@pytest.mark.parametrize("encoding", ["direct", "threshold", "rate"])
@pytest.mark.parametrize("first", ["int8", "binary"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_network_round_trips_exactly(tmp_path, seed, encoding, first):
    net = tiny_network(seed, encoding, first)
    weightfile.save(net, tmp_path / "w")
    assert_same(net, weightfile.load(tmp_path / "w"))


@pytest.mark.parametrize("seed", range(20))
def test_random_linear_chains_round_trip_exactly(tmp_path, seed):
    net = random_chain(seed)
    weightfile.save(net, tmp_path / "w.npz")
    assert_same(net, weightfile.load(tmp_path / "w.npz"))


def test_save_keeps_the_given_path(tmp_path):
    weightfile.save(tiny_network(), tmp_path / "model.bsnn")
    assert [p.name for p in tmp_path.iterdir()] == ["model.bsnn"]


# --------------------------------------------------------------------------- the spec's byte layout

def test_binary_weights_are_packed_little_endian_with_bit_one_for_plus_one(tmp_path):
    w = np.array([[1, -1, -1, 1, 1, 1, -1, -1, 1, -1]], np.int8)  # fan-in 10: one byte + 2 bits
    net = Network.build((1, 1, 10), 1, Encoding(EncodingKind.THRESHOLD), [
        Flatten("flat", INPUT),
        Linear("out", "flat", w, Precision.BINARY, NeuronKind.READOUT, 0, np.zeros(1, np.int32)),
    ])
    weightfile.save(net, tmp_path / "w")
    _, arrays = read_raw(tmp_path / "w")
    packed = arrays["out.weight"]
    assert packed.dtype == np.uint8 and packed.shape == (1, 2)
    assert packed.tolist() == [[0b00111001, 0b01]]  # weight i is bit i % 8 of byte i // 8


def test_conv_fan_in_order_is_channel_then_row_then_column(tmp_path):
    net = tiny_network(first_precision="int8")
    weightfile.save(net, tmp_path / "w")
    _, arrays = read_raw(tmp_path / "w")
    conv1 = net.node("conv1")
    assert np.array_equal(arrays["conv1.weight"], conv1.weight.reshape(4, 9))
    assert arrays["conv1.bias"].dtype.str == "<i4"


def test_checksum_follows_the_spec(good):
    header, arrays = read_raw(good)
    claimed = header.pop("checksum")
    digest = hashlib.sha256(json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    for name in sorted(arrays):
        a = arrays[name]
        digest.update(name.encode() + b"\0" + a.dtype.str.encode() + b"\0"
                      + ",".join(map(str, a.shape)).encode() + b"\0" + a.tobytes(order="C"))
    assert claimed == "sha256:" + digest.hexdigest()


def test_header_lists_the_declared_fields(good):
    header, arrays = read_raw(good)
    assert header["format"] == "bsnn-weights" and header["version"] == 1
    assert header["nodes"][1] == {
        "name": "conv2", "op": "conv2d", "input": "conv1", "in_channels": 4, "out_channels": 4,
        "kernel": [3, 3], "stride": 1, "padding": 1, "precision": "binary", "neuron": "if",
        "frac_bits": 4, "residual": "conv1"}
    assert header["nodes"][2] == {"name": "pool", "op": "maxpool2d", "input": "conv2", "kernel": 2, "stride": 2}
    assert sorted(arrays) == ["conv1.bias", "conv1.theta", "conv1.weight", "conv2.bias", "conv2.res_gain",
                              "conv2.theta", "conv2.weight", "fc1.bias", "fc1.theta", "fc1.weight",
                              "out.bias", "out.weight"]


# --------------------------------------------------------------------------- inspect

def test_summary_is_json_and_describe_lists_every_node():
    net = tiny_network()
    s = weightfile.summary(net)
    assert json.loads(json.dumps(s)) == s
    conv2 = s["nodes"][1]
    assert conv2["output_shape"] == [4, 6, 6] and conv2["fan_in"] == 36 and conv2["residual"] == "conv1"
    theta = net.node("conv2").theta
    assert conv2["theta"] == {"min": theta.min(), "median": np.median(theta), "max": theta.max()}
    assert s["nodes"][-1]["theta"] is None
    text = weightfile.describe(net)
    for word in ("conv1", "conv2", "pool", "flat", "fc1", "out", "readout", "threshold", "training_command"):
        assert word in text


# --------------------------------------------------------------------------- rejected files

def rejects(path, *words):
    with pytest.raises(WeightFileError) as err:
        weightfile.load(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    for word in words:
        assert word in message, message


def tamper(path, edit_header=None, edit_arrays=None, reseal=True):
    header, arrays = read_raw(path)
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    write_raw(path, header, arrays, reseal)


def test_rejects_a_missing_file_and_a_directory(tmp_path):
    rejects(tmp_path / "nope", "not a file")
    rejects(tmp_path, "not a file")


def test_rejects_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "w").write_text("hello")
    rejects(tmp_path / "w", "not a zip (.npz) archive")


def test_rejects_a_plain_npy_array(tmp_path):
    with open(tmp_path / "w", "wb") as f:
        np.save(f, np.zeros(3))
    rejects(tmp_path / "w", "not a zip (.npz) archive")


@pytest.mark.parametrize("keep", [0, 0.5, 0.99])
def test_rejects_a_truncated_file(good, keep):
    data = good.read_bytes()
    good.write_bytes(data[:int(len(data) * keep)])
    rejects(good, "not a zip (.npz) archive, or truncated")


def test_rejects_corrupted_compressed_data(good):
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("conv2.weight.npy")
    data = bytearray(good.read_bytes())
    extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + len(info.filename) + extra_len  # the local header is 30 bytes + name + extra
    data[start + info.compress_size // 2] ^= 0xFF
    good.write_bytes(bytes(data))
    rejects(good, "corrupted .npz archive")


def test_rejects_a_missing_header(good):
    _, arrays = read_raw(good)
    with open(good, "wb") as f:
        np.savez_compressed(f, **arrays)
    rejects(good, "missing array 'header'")


def test_rejects_bad_json(good):
    _, arrays = read_raw(good)
    with open(good, "wb") as f:
        np.savez_compressed(f, header=np.frombuffer(b'{"format": ', np.uint8), **arrays)
    rejects(good, "header is not valid UTF-8 JSON")


def test_rejects_a_foreign_format(good):
    tamper(good, lambda h: h.update(format="other"))
    rejects(good, "format 'other'", "bsnn-weights")


def test_rejects_a_newer_version(good):
    tamper(good, lambda h: h.update(version=2))
    rejects(good, "version 2 not supported; this bsnn-sim reads version 1")


def test_rejects_a_flipped_weight_byte(good):
    def flip(arrays):
        arrays["fc1.weight"][2, 1] ^= 0x10
    tamper(good, edit_arrays=flip, reseal=False)
    rejects(good, "checksum mismatch: file is corrupted or was edited")


def test_rejects_an_edited_header(good):
    tamper(good, lambda h: h.update(time_steps=8), reseal=False)
    rejects(good, "checksum mismatch")


def test_rejects_a_missing_checksum(good):
    tamper(good, lambda h: h.pop("checksum"), reseal=False)
    rejects(good, "missing key 'checksum'")


def test_rejects_unknown_and_missing_header_keys(good, tmp_path):
    tamper(good, lambda h: h.update(colour="blue"))
    rejects(good, "header", "unknown key(s) colour")
    weightfile.save(tiny_network(), good)
    tamper(good, lambda h: h.pop("classes"))
    rejects(good, "header", "missing key(s) classes")


def test_rejects_unknown_and_missing_node_keys(good):
    tamper(good, lambda h: h["nodes"][0].update(dilation=2))
    rejects(good, "node 'conv1'", "unknown key(s) dilation")
    weightfile.save(tiny_network(), good)
    tamper(good, lambda h: h["nodes"][4].pop("frac_bits"))
    rejects(good, "node 'fc1'", "missing key(s) frac_bits")


def test_rejects_a_missing_array(good):
    tamper(good, edit_arrays=lambda a: a.pop("conv2.res_gain"))
    rejects(good, "missing array 'conv2.res_gain'")


def test_rejects_an_extra_array(good):
    tamper(good, edit_arrays=lambda a: a.update({"out.theta": np.ones(3, np.int32)}))
    rejects(good, "unexpected array(s) out.theta")


def test_rejects_a_wrong_dtype(good):
    tamper(good, edit_arrays=lambda a: a.update({"fc1.bias": a["fc1.bias"].astype(np.int64)}))
    rejects(good, "array 'fc1.bias' is <i8 (5,)", "declares <i4 (5,)")


def test_rejects_a_wrong_shape(good):
    tamper(good, edit_arrays=lambda a: a.update({"conv1.weight": np.zeros((4, 8), np.int8)}))
    rejects(good, "array 'conv1.weight' is |i1 (4, 8)", "declares |i1 (4, 9)")


def test_rejects_a_shape_that_disagrees_with_the_graph(good):
    def widen(h):
        h["nodes"][4]["in_features"] = 40
    tamper(good, widen, lambda a: a.update({"fc1.weight": np.zeros((5, 5), np.uint8)}))
    rejects(good, "node 'fc1'", "fan-in 40 != input size 36")


def test_rejects_non_zero_padding_bits(good):
    def pad(arrays):
        arrays["fc1.weight"][0, -1] |= 0x80  # fan-in 36: bits 36..39 of the last byte are padding
    tamper(good, edit_arrays=pad)
    rejects(good, "array 'fc1.weight'", "padding bits after fan-in 36 must be 0")


def test_rejects_an_int8_weight_of_minus_128(good):
    def bad(arrays):
        arrays["out.weight"][1, 1] = -128
    tamper(good, edit_arrays=bad)
    rejects(good, "node 'out'", "-127..127")


def test_network_build_rejects_non_binary_weights_in_a_binary_layer():
    net = tiny_network(first_precision="binary")
    conv1 = net.node("conv1")
    conv1.weight[0, 0, 1, 1] = 0
    with pytest.raises(WeightFileError, match="node 'conv1': binary weights must be -1 or \\+1; found 0"):
        Network.build(net.input_shape, net.time_steps, net.encoding, net.nodes)


@pytest.mark.parametrize("node, field, value, allowed", [
    (0, "op", "deconv", "conv2d, linear, maxpool2d, flatten"),
    (1, "precision", "ternary", "binary, int8"),
    (4, "neuron", "lif", "if, readout"),
])
def test_rejects_unknown_node_values(good, node, field, value, allowed):
    tamper(good, lambda h: h["nodes"][node].update({field: value}))
    rejects(good, f"{field} '{value}' unknown; allowed: {allowed}")


def test_rejects_an_unknown_encoding(good):
    tamper(good, lambda h: h["encoding"].update(kind="latency"))
    rejects(good, "encoding", "kind 'latency' unknown; allowed: direct, threshold, rate")


def test_rejects_a_float_where_an_integer_is_required(good):
    tamper(good, lambda h: h.update(time_steps=4.0))
    rejects(good, "time_steps 4.0 must be an integer")


def test_rejects_an_out_of_range_encoding_level(good):
    tamper(good, lambda h: h["encoding"].update(level=0))
    rejects(good, "encoding level 0 out of range: allowed 1..255")


def test_rejects_a_bad_node_name(good):
    tamper(good, lambda h: h["nodes"][3].update(name="../flat"))
    rejects(good, "node #3", "'../flat' not allowed")


def test_graph_errors_from_network_build_name_the_file(good):
    tamper(good, lambda h: h["nodes"][1].update(residual="pool"))
    rejects(good, "node 'conv2'", "residual input 'pool' is not an earlier node")


def test_rejects_a_header_nested_too_deeply(good):
    _, arrays = read_raw(good)
    deep = b'{"format": "bsnn-weights", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    with open(good, "wb") as f:
        np.savez_compressed(f, header=np.frombuffer(deep, np.uint8), **arrays)
    rejects(good, "nested too deeply")



@pytest.mark.parametrize("op", [[1, 2], {"a": 1}, 5, None])
def test_rejects_an_op_of_the_wrong_type_in_a_resealed_header(good, op):
    tamper(good, edit_header=lambda h: h["nodes"][0].update(op=op))
    rejects(good, "op")
