"""Layer mapping: chunks, row groups, replicas and the errors of a chip that is too small."""

import numpy as np
import pytest

from bsnn_sim.arch import ArchConfig
from bsnn_sim.errors import MappingError
from bsnn_sim.mapping import map_network
from bsnn_sim.network import INPUT, Conv2d, Encoding, EncodingKind, Flatten, Linear, Network, NeuronKind, Precision
from netfactory import tiny_network

RNG = np.random.default_rng(0)


def layer(cls, name, src, shape, precision="binary", neuron=NeuronKind.IF, **kw):
    p = Precision(precision)
    w = RNG.choice(np.array([-1, 1], np.int8), size=shape)
    out = shape[0]
    return cls(name=name, input=src, weight=w, precision=p, neuron=neuron, frac_bits=0,
               bias=np.zeros(out, np.int32), theta=None if neuron is NeuronKind.READOUT else np.ones(out, np.int32),
               **kw)


def net_of(input_shape, nodes, encoding="threshold"):
    return Network.build(input_shape, 2, Encoding(EncodingKind(encoding)), nodes)


def arch(**overrides):
    return ArchConfig().replace(**overrides)


def test_3x3x32_conv_fills_one_row_of_a_1x288_subarray():
    net = net_of((32, 8, 8), [
        layer(Conv2d, "conv", INPUT, (32, 32, 3, 3), padding=1),
        Flatten("flat", "conv"),
        layer(Linear, "out", "flat", (10, 2048), "int8", NeuronKind.READOUT),
    ])
    lm = map_network(net, arch(**{"chip.replication": "none"}))["conv"]
    assert (lm.kind, lm.fan_in, lm.chunks, lm.row_groups, lm.rows_used) == ("in_memory", 288, 1, 32, 1)
    assert (lm.positions, lm.replicas, lm.subarrays_per_replica, lm.subarrays) == (64, 1, 32, 32)
    assert lm.utilization == 1.0
    assert lm.phases_per_position == 1 and lm.drives_per_chunk == 32


def test_fan_in_1568_splits_into_6_chunks_of_288():
    net = net_of((32, 7, 7), [
        Flatten("flat", INPUT),
        layer(Linear, "fc", "flat", (10, 1568)),
        layer(Linear, "out", "fc", (10, 10), "int8", NeuronKind.READOUT),
    ])
    m = map_network(net, arch())
    fc = m["fc"]
    assert (fc.chunks, fc.row_groups, fc.positions, fc.replicas, fc.subarrays) == (6, 10, 1, 1, 60)
    assert fc.utilization == pytest.approx(1568 * 10 / (60 * 288))
    assert m["out"].kind == "readout-digital" and m["out"].subarrays == 0


def test_rows_and_phases_of_a_multi_row_subarray():
    net = net_of((32, 4, 4), [
        layer(Conv2d, "conv", INPUT, (40, 32, 3, 3), padding=1),
        Flatten("flat", "conv"),
        layer(Linear, "out", "flat", (2, 640), "int8", NeuronKind.READOUT),
    ])
    a = arch(**{"subarray.rows": 16, "subarray.rows_per_phase": 4, "chip.replication": "none"})
    lm = map_network(net, a)["conv"]
    # 40 neurons on 16-row subarrays: groups of 16, 16, 8; the fullest needs 16 / 4 phases;
    # a chunk is driven once onto each of the 3 subarrays
    assert (lm.row_groups, lm.rows_used, lm.phases_per_position, lm.drives_per_chunk) == (3, 16, 4, 3)
    assert lm.utilization == pytest.approx(288 * 40 / (3 * 16 * 288))


def test_layer_kinds_follow_precision_and_input():
    m = map_network(tiny_network(), arch())
    assert [lm.kind for lm in m.layers] == ["digital", "in_memory", "in_memory", "readout-digital"]
    # binary weights over spikes are in memory; binary weights over uint8 pixels are not
    assert map_network(tiny_network(encoding="threshold", first_precision="binary"), arch())["conv1"].in_memory
    assert not map_network(tiny_network(encoding="direct", first_precision="binary"), arch())["conv1"].in_memory


def test_fill_gives_spare_replicas_to_the_largest_work_per_replica():
    # a: P = 16, 4 subarrays/replica; b: P = 4, 4 subarrays/replica; 24 subarrays.
    # after one each (8 used): a (16/1) -> 2, a (8) -> 3, a (5.3) -> 4, tie a (4) vs b (4) -> a: 5; none left.
    net = net_of((32, 4, 4), [
        layer(Conv2d, "a", INPUT, (4, 32, 3, 3), padding=1),
        layer(Conv2d, "b", "a", (4, 4, 3, 3), stride=2, padding=1),
        Flatten("flat", "b"),
        layer(Linear, "out", "flat", (2, 16), "int8", NeuronKind.READOUT),
    ])
    m = map_network(net, arch(**{"chip.subarrays": 24, "chip.replication": "fill"}))
    assert (m["a"].replicas, m["b"].replicas, m.subarrays_used) == (5, 1, 24)
    # with plenty of room replicas stop at P
    m = map_network(net, arch(**{"chip.subarrays": 4096, "chip.replication": "fill"}))
    assert (m["a"].replicas, m["b"].replicas) == (16, 4)
    m = map_network(net, arch(**{"chip.subarrays": 24, "chip.replication": "none"}))
    assert (m["a"].replicas, m["b"].replicas, m.subarrays_used) == (1, 1, 8)


def _two_layer_net():
    return net_of((32, 4, 4), [
        layer(Conv2d, "a", INPUT, (4, 32, 3, 3), padding=1),
        layer(Conv2d, "b", "a", (4, 4, 3, 3), stride=2, padding=1),
        Flatten("flat", "b"),
        layer(Linear, "out", "flat", (2, 16), "int8", NeuronKind.READOUT),
    ])


def test_bottleneck_replicates_the_slowest_stage_by_a_hand_schedule():
    """Dense stage cycles per image (T = 2; t_sense 4, update 1 per 64 neurons, 1 cycle
    per 64-bit word). a: static input of 512 bits (8 words, read at t = 0 only), P = 16,
    64 neurons, writes 64 bits: 8 + 4*ceil(16/r) + 1 + 1 at t = 0, then 1 + 1 -> 76 at r = 1.
    b: reads 1 word, P = 4, writes 16 bits: 2 * (1 + 4*ceil(4/r) + 1 + 1) -> 38 at r = 1.
    out: 2 * (1 read + 1 MAC cycle + 1 update) = 6; digital unit 2.
    Steps: a 1->2 (76 -> 44), a ->3 (44 -> 38, b now slowest), b ->2 (38 -> 36),
    a ->4 (36 -> 28); then a needs ceil(16/3) = 6 replicas (+8 subarrays) to gain."""
    m = map_network(_two_layer_net(), arch(**{"chip.subarrays": 24}))
    assert dict(m.stage_cycles) == {"a": 28, "b": 22, "out": 6, "digital_unit": 2}
    got = [(st.layer, st.replicas, st.subarrays_used, st.bottleneck_before, st.bottleneck_after) for st in m.steps]
    assert got == [("a", 2, 12, 76, 44), ("a", 3, 16, 44, 38), ("b", 2, 20, 38, 36), ("a", 4, 24, 36, 28)]
    assert m.steps[0].gain == pytest.approx(76 / 44 - 1)
    assert "budget is spent: 'a' needs 8 more subarrays, 0 left" in m.stop_reason
    assert "step 4: a -> 4 replicas" in m.report()
    # unbounded: a ->6 (28 -> 24), a ->8 (24 -> 22), b ->4 (22 -> 20), a ->16 (20 -> 16), one per position
    m = map_network(_two_layer_net(), arch(**{"chip.subarrays": 4096}))
    assert [(st.layer, st.replicas, st.bottleneck_after) for st in m.steps][4:] == [
        ("a", 6, 24), ("a", 8, 22), ("b", 4, 20), ("a", 16, 16)]
    assert m.subarrays_used == 16 * 4 + 4 * 4 and "one replica per position" in m.stop_reason


def test_bottleneck_stops_at_a_digital_stage_and_a_budget_caps_it():
    # out: 2 * (1 + 32 + 1) = 68 cycles: a 1 -> 2 replicas (76 -> 68), then out is the slowest
    m = map_network(_two_layer_net(), arch(**{"digital.macs_per_cycle": 1}))
    assert [(st.layer, st.replicas, st.bottleneck_after) for st in m.steps] == [("a", 2, 68)]
    assert dict(m.stage_cycles)["out"] == 68 and dict(m.stage_cycles)["digital_unit"] == 64
    assert "digital layer 'out'" in m.stop_reason
    capped = map_network(_two_layer_net(), arch(**{"chip.subarray_budget": 12}))
    assert capped.subarrays_used == 12 and len(capped.steps) == 1


def test_too_small_chip_names_layer_need_and_what_is_left():
    net = tiny_network()  # conv2 needs 4 subarrays, fc1 needs 5
    with pytest.raises(MappingError, match=r"chip.subarrays = 6: layer 'fc1' needs 5 subarrays .* only 2 are left"):
        map_network(net, arch(**{"chip.subarrays": 6}))
    map_network(net, arch(**{"chip.subarrays": 9}))


def test_report_and_rows():
    m = map_network(tiny_network(), arch())
    rows = m.to_rows()
    assert [r["layer"] for r in rows] == ["conv1", "conv2", "fc1", "out"]
    assert len({tuple(r) for r in rows}) == 1
    text = m.report()
    assert "conv2" in text and f"subarrays {m.subarrays_used} / 4096" in text
