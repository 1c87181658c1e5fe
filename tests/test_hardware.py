"""Hardware evaluation end to end: functional activity -> mapping -> timing -> energy."""

import dataclasses

import numpy as np
import pytest

from bsnn_sim import energy
from bsnn_sim.arch import load_arch
from bsnn_sim.functional import FunctionalSimulator
from bsnn_sim.hardware import activity_of, dense_ops, evaluate_hardware, reprice
from netfactory import mnist_network

PAPER = "arch_configs/stt_bsnn_65nm.toml"


@pytest.fixture(scope="module")
def simulated():
    net = mnist_network(1)
    images = np.random.default_rng(1).integers(0, 256, size=(24, 1, 28, 28), dtype=np.uint8)
    arch = load_arch(PAPER)
    res = FunctionalSimulator(net, arch.subarray.columns).run(images, np.zeros(24, np.int64), batch_size=10)
    return net, res, arch


def test_energy_is_counts_times_table_plus_leakage(simulated):
    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    e = hw.energy_breakdown_pj()
    table = energy.action_energies(arch)
    for action, count in hw.timing.action_totals.items():
        assert e[action] == pytest.approx(count * table[action] / hw.n_images)
    leak = energy.leakage_pj_per_cycle(arch, hw.mapping.subarrays_used) * hw.timing.total_cycles / hw.n_images
    assert e["leakage"] == pytest.approx(leak)
    assert e["total"] == pytest.approx(sum(v for k, v in e.items() if k != "total"))


def test_repricing_equals_resimulating(simulated):
    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    dearer = dataclasses.replace(arch, neuron=dataclasses.replace(arch.neuron, e_add_pj=2 * arch.neuron.e_add_pj))
    again = evaluate_hardware(net, activity_of(res), dearer).energy_breakdown_pj()
    repriced = reprice(hw, dearer).energy_breakdown_pj()
    assert repriced == pytest.approx(again)
    base = hw.energy_breakdown_pj()
    assert repriced["neuron_add"] == pytest.approx(2 * base["neuron_add"])
    assert repriced["total"] - base["total"] == pytest.approx(base["neuron_add"])


def test_skipping_zero_chunks_saves_sensing_only_where_inputs_are_empty(simulated):
    net, res, arch = simulated
    skip = evaluate_hardware(net, activity_of(res), arch)
    dense_arch = dataclasses.replace(arch, sensing=dataclasses.replace(arch.sensing, skip_zero_chunks=False))
    dense = evaluate_hardware(net, activity_of(res), dense_arch)
    s, d = skip.timing.action_totals, dense.timing.action_totals
    lm = dense.mapping["conv2"]
    assert d["sense_array"] == lm.positions * lm.chunks * lm.out_features * net.time_steps * skip.n_images
    assert s["sense_array"] == int(res.active_chunks["conv2"].sum()) * lm.out_features
    assert s["sense_array"] <= d["sense_array"]
    assert skip.timing.latency_cycles.mean() <= dense.timing.latency_cycles.mean()


def test_summary_reports_the_op_convention_and_consistent_efficiency(simulated):
    net, res, arch = simulated
    s = evaluate_hardware(net, activity_of(res), arch).summary()
    assert s["ops_dense_per_inference"] == dense_ops(net, evaluate_hardware(net, activity_of(res), arch).mapping)
    assert s["tops_per_w"] == pytest.approx(s["ops_dense_per_inference"] / s["energy_per_inference_pj"])
    assert "2 ops" in s["ops_convention"]
    assert s["tops_per_w_row_sensing"] == pytest.approx(energy.tops_per_watt(arch))
    assert s["latency_p50_cycles"] <= s["latency_p99_cycles"]


def test_repricing_refuses_a_config_that_changes_timing(simulated):
    from bsnn_sim.errors import ConfigError

    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    with pytest.raises(ConfigError, match="t_clk_ns"):
        reprice(hw, load_arch("arch_configs/stt_bsnn_65nm_lowv.toml"))


def test_a_flattened_static_input_is_computed_once():
    """An MLP whose first layer reads flatten(input): with a direct encoding its current is
    the same at every step, so the hardware computes it (and counts its MACs) once."""
    from bsnn_sim.network import INPUT, Encoding, EncodingKind, Flatten, Linear, Network, NeuronKind, Precision

    rng = np.random.default_rng(0)

    def fc(name, src, n, fan, neuron=NeuronKind.IF):
        return Linear(name=name, input=src, weight=rng.integers(-127, 128, (n, fan), dtype=np.int8),
                      precision=Precision.INT8, neuron=neuron, frac_bits=0,
                      bias=np.zeros(n, np.int32), theta=None if neuron is NeuronKind.READOUT else
                      np.full(n, 5000, np.int32))

    nodes = [Flatten("flat", INPUT), fc("fc1", "flat", 16, 36), fc("out", "fc1", 3, 16, NeuronKind.READOUT)]
    net = Network.build((1, 6, 6), 4, Encoding(EncodingKind.DIRECT), nodes)
    assert net.is_static("flat") and not net.is_static("fc1")
    images = rng.integers(0, 256, (5, 1, 6, 6), dtype=np.uint8)
    res = FunctionalSimulator(net, 288).run(images, np.zeros(5, np.int64))
    hw = evaluate_hardware(net, activity_of(res), load_arch(PAPER))
    assert hw.timing.actions["fc1"]["digital_mac"] == 16 * 36 * 5  # once per image, not T times
    assert dense_ops(net, hw.mapping) == 2 * (16 * 36 + 4 * 3 * 16)
    nonzero = (images != 0).reshape(5, -1).sum(axis=1)
    np.testing.assert_array_equal(res.digital_macs["fc1"], np.repeat(nonzero[:, None] * 16, 4, axis=1))


def _performed_macs_ref(net, images, index):
    """Loop reference: for every digital layer and step, the (nonzero input, neuron,
    output position whose window holds it) triples, from the trainer's evaluation."""
    torch = pytest.importorskip("torch")
    from bsnn_sim.encoding import encode_step
    from bsnn_sim.network import Conv2d
    from bsnn_sim.train.inteval import integer_forward

    _, outs = integer_forward(net, images, index)
    want = {}
    for node in net.compute_nodes():
        if net.is_in_memory(node):
            continue
        per_step = []
        for t in range(net.time_steps):
            x = (torch.from_numpy(encode_step(images, net.encoding, t, net.time_steps, index).astype(np.float64))
                 if node.input == "input" else outs[node.input][t])
            nz = (x != 0).double()
            if isinstance(node, Conv2d):
                ones = torch.ones((1, nz.shape[1]) + node.kernel, dtype=torch.float64)
                covered = torch.nn.functional.conv2d(nz, ones, stride=node.stride, padding=node.padding)
                per_step.append(covered.sum(dim=(1, 2, 3)).numpy() * node.out_features)
            else:
                per_step.append(nz.reshape(len(nz), -1).sum(dim=1).numpy() * node.out_features)
        want[node.name] = np.stack(per_step, axis=1)
    return want


def test_digital_macs_count_the_nonzero_inputs(simulated):
    net, res, arch = simulated
    images = np.random.default_rng(1).integers(0, 256, size=(24, 1, 28, 28), dtype=np.uint8)
    images[images < 150] = 0  # sparse, like MNIST
    res = FunctionalSimulator(net, arch.subarray.columns).run(images, np.zeros(24, np.int64), batch_size=10)
    want = _performed_macs_ref(net, images, np.arange(24))
    assert set(res.digital_macs) == set(want) == {"conv1", "readout"}
    for name, counts in want.items():
        np.testing.assert_array_equal(res.digital_macs[name], counts.astype(np.int64))


def test_skipping_zero_inputs_charges_only_the_performed_macs(simulated):
    net, res, arch = simulated
    dense = evaluate_hardware(net, activity_of(res), arch)
    lean_arch = dataclasses.replace(arch, digital=dataclasses.replace(arch.digital, skip_zero_inputs=True))
    lean = evaluate_hardware(net, activity_of(res), lean_arch)
    for name in ("conv1", "readout"):
        mask = np.ones(net.time_steps, np.int64)
        if net.is_static(net.node(name).input):
            mask[1:] = 0  # a static first layer computes once per image
        assert lean.timing.actions[name]["digital_mac"] == int((res.digital_macs[name] * mask).sum())
        assert lean.timing.actions[name]["digital_mac"] <= dense.timing.actions[name]["digital_mac"]
    assert lean.energy_breakdown_pj()["digital_mac"] < dense.energy_breakdown_pj()["digital_mac"]
    assert lean.timing.latency_cycles.mean() <= dense.timing.latency_cycles.mean()
