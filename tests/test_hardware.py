"""Hardware evaluation end to end: functional activity -> mapping -> timing -> energy."""

import dataclasses

import numpy as np
import pytest

from bsnn_sim import energy
from bsnn_sim.actions import ACTIONS
from bsnn_sim.arch import SECTIONS, load_arch
from bsnn_sim.errors import BsnnError, ConfigError, SimulationError
from bsnn_sim.functional import FunctionalSimulator
from bsnn_sim.hardware import activity_of, dense_ops, evaluate_hardware, reprice
from bsnn_sim.limits import LIMITS
from bsnn_sim.mapping import map_network
from bsnn_sim.timing.result import SHARED
from netfactory import mnist_network

PAPER = "arch_configs/stt_bsnn_65nm.toml"


@pytest.fixture(scope="module")
def simulated():
    net = mnist_network(1)
    images = np.random.default_rng(1).integers(0, 256, size=(24, 1, 28, 28), dtype=np.uint8)
    arch = load_arch(PAPER)
    res = FunctionalSimulator(net, arch.subarray.columns).run(images, np.zeros(24, np.int64), batch_size=10)
    return net, res, arch


def test_energy_is_counts_times_table_leakage_included(simulated):
    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    e = hw.energy_breakdown_pj()
    table = energy.action_energies(arch)
    assert set(e) == set(ACTIONS) | {"total"}
    for action, count in hw.timing.action_totals.items():
        assert e[action] == pytest.approx(count * table[action] / hw.n_images)
    total = hw.timing.total_cycles
    assert hw.timing.action_totals["leak_subarray_cycle"] == hw.mapping.subarrays_used * total
    assert hw.timing.action_totals["leak_digital_cycle"] == total
    assert hw.timing.action_totals["leak_buffer_bit_cycle"] == 65536 * len(hw.timing.buffer_peak_bits) * total
    state_bits = sum(lm.positions * lm.out_features * (16 if lm.in_memory else 32)  # neuron / digital acc_bits
                     * (2 if net.is_static(net.node(lm.name).input) else 1) for lm in hw.mapping.layers)
    assert hw.timing.action_totals["leak_state_bit_cycle"] == state_bits * total
    assert e["total"] == pytest.approx(sum(v for k, v in e.items() if k != "total"))
    by_layer = hw.energy_by_layer_pj()
    assert by_layer["total"] == pytest.approx(e["total"])
    assert by_layer[SHARED] == pytest.approx(e["leak_digital_cycle"])


def test_neuron_state_counts_every_membrane_read_and_written_each_step(simulated):
    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    steps, n = net.time_steps, hw.n_images
    for lm in hw.mapping.layers:
        neurons, w = lm.positions * lm.out_features, 16 if lm.in_memory else 32  # neuron / digital acc_bits
        static = net.is_static(net.node(lm.name).input)
        extra = neurons * w * (steps - 1) if static else 0  # a static layer reads its stored current at t >= 1
        assert hw.timing.actions[lm.name]["state_read_bit"] == n * (neurons * w * steps + extra), lm.name
        stored = neurons * w if static else 0  # ... and writes it once at t = 0
        assert hw.timing.actions[lm.name]["state_write_bit"] == n * (neurons * w * steps + stored), lm.name


def test_weight_fetch_and_data_movement_counts_by_hand(simulated):
    import math

    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    a, n = hw.timing.actions, hw.n_images
    d = max(1.0, math.sqrt(hw.mapping.subarrays_used) / 2)  # pitches to cross
    for lm in hw.mapping.layers:
        counts = a[lm.name]
        if lm.in_memory:  # one chunk per position here: no partial sums travel
            assert lm.chunks == 1 and counts["psum_pitch"] == 0 and counts["weight_read_bit"] == 0
            moved = counts["sense_array"] // lm.out_features * 288  # active chunks x 288 bits, one trip each
            broadcast = counts["drive_bitlines"] * 288  # then one pitch per row-group subarray
        else:  # every weight once per compute pass (static first layer: once per image)
            static = net.is_static(net.node(lm.name).input)
            passes = n * (1 if static else net.time_steps)
            assert counts["weight_read_bit"] == passes * 8 * lm.fan_in * lm.out_features, lm.name
            moved, broadcast = 0, 0  # weights do not cross the chip
            assert hw.timing.blocks[lm.name]["leak_weight_bit_cycle"] == 8 * lm.fan_in * lm.out_features
        bits = moved + counts["buffer_read_bit"] + counts["buffer_write_bit"]
        assert abs(counts["wire_bit_pitch"] - bits * d - broadcast) <= n * net.time_steps, lm.name  # rounded per step
    s = hw.summary()
    assert s["digital_macs_per_inference"] == s["digital_macs_dense_per_inference"]  # no zero skipping here
    assert "zero inputs multiplied" in hw.report()


def test_a_partial_sum_travels_half_a_replica():
    """Fan-in 8 on 4-column subarrays: 2 chunks, each partial sum crosses ceil(2/2) = 1 pitch."""
    from bsnn_sim.arch import ArchConfig
    from bsnn_sim.timing import Activity
    from bsnn_sim.timing.costs import layer_costs
    from bsnn_sim.network import INPUT, Conv2d, Encoding, EncodingKind, Flatten, Linear, Network, NeuronKind, Precision

    rng = np.random.default_rng(0)

    def conv(name, src, shape, precision="binary", neuron=NeuronKind.IF):
        return (Conv2d if len(shape) == 4 else Linear)(
            name=name, input=src, weight=rng.choice(np.array([-1, 1], np.int8), size=shape), precision=Precision(precision),
            neuron=neuron, frac_bits=0, bias=np.zeros(shape[0], np.int32),
            theta=None if neuron is NeuronKind.READOUT else np.ones(shape[0], np.int32))

    net = Network.build((2, 4, 4), 2, Encoding(EncodingKind.THRESHOLD), [
        conv("l1", INPUT, (8, 2, 1, 1)), conv("l2", "l1", (4, 8, 1, 1)), Flatten("flat", "l2"),
        conv("out", "flat", (2, 64), "int8", NeuronKind.READOUT)])
    a = ArchConfig().replace(**{"subarray.columns": 4, "converter.bits": 3, "converter.c_sample_ff": 32.0,
                                "chip.replication": "none"})
    m = map_network(net, a)
    shape = (1, 2)
    act = Activity.from_dicts({"l1": np.full(shape, 3), "l2": np.full(shape, 3)},
                              {"l1": np.full(shape, 3), "l2": np.full(shape, 5)},
                              {"l1": np.zeros(shape, np.int64), "l2": np.zeros(shape, np.int64)})
    l2 = {c.name: c for c in layer_costs(net, m, a, act)}["l2"]
    assert l2.actions["psum_pitch"].tolist() == [[5 * 4 * 1, 5 * 4 * 1]]  # 5 active chunks x 4 neurons x 1 pitch


def test_update_time_scales_with_neurons_over_lanes(simulated):
    net, res, arch = simulated
    from bsnn_sim.timing.costs import layer_costs

    for lanes in (64, 7):
        a = arch.replace(**{"neuron.update_lanes": lanes})
        m = map_network(net, a)
        neurons = {lm.name: lm.positions * lm.out_features for lm in m.layers}
        for c in layer_costs(net, m, a, activity_of(res), [0]):
            assert c.update_cycles == -(-neurons[c.name] // lanes) * 1, (lanes, c.name)  # t_update = 1 cycle


def test_repricing_equals_resimulating(simulated):
    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    dearer = dataclasses.replace(arch, neuron=dataclasses.replace(arch.neuron, e_add_pj=2 * arch.neuron.e_add_pj))
    again = evaluate_hardware(net, activity_of(res), dearer).energy_breakdown_pj()
    repriced = reprice(hw, energy.energy_table(dearer)).energy_breakdown_pj()
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


@pytest.mark.parametrize("key, value, field", [
    ("technology.t_clk_ns", 0.25, "t_clk_ns"),
    ("digital.skip_zero_inputs", True, "skip_zero_inputs"),  # re-simulated: far fewer MACs
    ("buffer.t_access_ns", 1.0, "access_cycles"),  # re-simulated: longer runs, more leakage
    ("neuron.update_lanes", 8, "update_lanes"),
    ("buffer.port_grant", "phase", "port_grant"),  # re-simulated: other port stalls, other cycles
])
def test_repricing_refuses_a_table_derived_for_another_timing(simulated, key, value, field):
    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    with pytest.raises(ConfigError, match=field):
        reprice(hw, energy.energy_table(arch.replace(**{key: value})))


def test_repricing_takes_an_energy_table_not_a_config(simulated):
    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)
    with pytest.raises(ConfigError, match="EnergyTable"):
        reprice(hw, arch)


def _perturbed(arch, sec, key):
    """``arch`` with one key moved (numbers x1.5 or +1, booleans flipped, choices rotated),
    or None if that value is not a valid config."""
    value = getattr(getattr(arch, sec), key)
    choices = LIMITS[f"{sec}.{key}"].choices
    if choices:
        new = choices[(choices.index(value) + 1) % len(choices)]
    elif isinstance(value, bool):
        new = not value
    elif isinstance(value, int):
        new = value + 1
    else:
        new = value * 1.5 if value else 1.0
    try:
        return arch.replace(**{f"{sec}.{key}": new})
    except ConfigError:
        return None


def test_every_key_either_reprices_exactly_or_is_refused(simulated):
    """Correct by construction: for every key of every section, a config with that key
    moved either gives a table the run accepts -- and then re-pricing equals
    re-simulating, counts and energy alike -- or one the run refuses."""
    net, res, arch = simulated
    act = activity_of(res)
    hw = evaluate_hardware(net, act, arch, images=6)
    repriced = refused = 0
    for sec, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            moved = _perturbed(arch, sec, f.name)
            if moved is None:
                continue
            try:
                again = evaluate_hardware(net, act, moved, images=6)
            except BsnnError:  # e.g. a chip too small to map: nothing to compare
                continue
            table = energy.energy_table(moved)
            if table.timing != hw.timing.params:
                with pytest.raises(ConfigError):
                    reprice(hw, table)
                refused += 1
                continue
            assert again.timing.action_totals == hw.timing.action_totals, (sec, f.name)
            assert reprice(hw, table).energy_breakdown_pj() == pytest.approx(again.energy_breakdown_pj()), (sec, f.name)
            repriced += 1
    assert repriced > 40 and refused > 10, (repriced, refused)


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


def test_bottleneck_mapping_matches_fill_throughput_on_a_fraction_of_the_area(simulated):
    net, res, arch = simulated
    runs = {policy: evaluate_hardware(net, activity_of(res), arch.replace(**{"chip.replication": policy}),
                                      pipelined=True) for policy in ("bottleneck", "fill")}
    lean, full = runs["bottleneck"], runs["fill"]
    assert full.mapping.subarrays_used == 196 * 8  # conv2: one replica of 8 subarrays per position
    assert lean.mapping.subarrays_used < full.mapping.subarrays_used / 8
    assert lean.timing.throughput_ips >= 0.97 * full.timing.throughput_ips
    assert lean.area_um2()["total"] < full.area_um2()["total"] / 4


def test_accumulator_width_is_enforced_and_reported(simulated):
    from bsnn_sim.hardware import functional_simulator, saturation_report

    net, res, arch = simulated
    images = np.random.default_rng(1).integers(0, 256, size=(24, 1, 28, 28), dtype=np.uint8)
    labels = np.zeros(24, np.int64)
    exact = FunctionalSimulator(net, 288).run(images, labels)
    wide = functional_simulator(net, arch.replace(**{"neuron.acc_bits": 64, "digital.acc_bits": 64})).run(images, labels)
    assert set(wide.saturated) == {n.name for n in net.compute_nodes()}
    assert not any(v.any() for v in wide.saturated.values()) and saturation_report(wide).endswith("none")
    np.testing.assert_array_equal(wide.scores, exact.scores)
    # conv1 (digital, theta 3908) in 13 bits: its pixel currents overrun the register
    narrow = functional_simulator(net, arch.replace(**{"digital.acc_bits": 13})).run(images, labels)
    assert narrow.saturated["conv1"].sum() > 0 and not narrow.saturated["conv2"].any()
    assert "conv1" in saturation_report(narrow)
    with pytest.raises(SimulationError, match="conv2.*threshold 3875 does not fit a 12-bit accumulator"):
        functional_simulator(net, arch.replace(**{"neuron.acc_bits": 12})).run(images, labels)


def test_latency_by_layer_shares_add_up_to_the_latency(simulated):
    net, res, arch = simulated
    hw = evaluate_hardware(net, activity_of(res), arch)  # one image at a time
    shares = hw.summary()["latency_by_layer_ns"]
    assert list(shares) == [lm.name for lm in hw.mapping.layers]
    assert all(v >= 0 for v in shares.values())
    assert sum(shares.values()) == pytest.approx(hw.timing.latency_ns.mean())
    # by hand: each layer's last step, counted from the image's start, over the earlier layers' latest
    t = hw.timing
    latest = np.zeros(t.n_images)
    for layer, share in shares.items():
        done = t.step_finish[layer][:, -1] - t.start_cycles
        assert share == pytest.approx(np.maximum(done - latest, 0).mean() * t.t_clk_ns)
        latest = np.maximum(latest, done)
