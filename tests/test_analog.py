"""The analog path: sensing kernel against its twin, consistency with the ideal simulator,
the converter, variation draws, the analytic margin, calibration and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bsnn_sim import datasets, energy, weightfile
from bsnn_sim.analog import converter, margin, montecarlo, variation
from bsnn_sim.analog.chip import ladder_weights, sample_chip
from bsnn_sim.analog.simulate import AnalogSimulator
from bsnn_sim.arch import load_arch
from bsnn_sim.functional import FunctionalSimulator
from bsnn_sim.kernels.analog import analog_conv, analog_conv_ref, normal_table
from bsnn_sim.mapping import map_network
from netfactory import wide_network

PAPER = load_arch("arch_configs/stt_bsnn_65nm.toml")
QUIET = {"mtj.sigma_r_rel": 0.0, "mtj.sigma_r_global_rel": 0.0, "mtj.sigma_tmr_rel": 0.0,
         "mtj.sigma_tmr_global_rel": 0.0, "access.sigma_r_rel": 0.0, "access.sigma_r_global_rel": 0.0,
         "converter.offset_sigma_mv": 0.0, "converter.noise_sigma_mv": 0.0, "converter.c_sample_ff": 0.0,
         "cell.p_write_error": 0.0}


def images_of(net, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n,) + net.input_shape, dtype=np.uint8), rng.integers(0, 10, n)


def run(net, arch, images, labels, seed=0, nominal=False):
    mapping = map_network(net, arch)
    chip = sample_chip(net, mapping, arch, np.random.SeedSequence(seed), nominal=nominal)
    sim = AnalogSimulator(net, chip)
    return sim.run(images, labels, batch_size=16), sim, chip


# --- kernel against its NumPy twin ---------------------------------------------------------

@pytest.mark.parametrize("case", [
    dict(h=5, w=6, c=7, kernel=(3, 3), stride=1, pad=1, ncol=20, reps=3, n=5, sigma=0.0, skip=True, bits=9),
    dict(h=7, w=5, c=70, kernel=(3, 3), stride=2, pad=1, ncol=288, reps=2, n=9, sigma=3e-4, skip=True, bits=9),
    dict(h=1, w=1, c=130, kernel=(1, 1), stride=1, pad=0, ncol=64, reps=1, n=11, sigma=2e-4, skip=False, bits=5),
    dict(h=4, w=4, c=3, kernel=(2, 2), stride=2, pad=0, ncol=5, reps=4, n=3, sigma=1e-3, skip=False, bits=3),
])
def test_sensing_kernel_matches_its_numpy_twin(case):
    rng = np.random.default_rng(1)
    h, w, c, (kh, kw) = case["h"], case["w"], case["c"], case["kernel"]
    s, pad = case["stride"], case["pad"]
    oh, ow = (h + 2 * pad - kh) // s + 1, (w + 2 * pad - kw) // s + 1
    rows, fan_in, n, reps, ncol = 6, kh * kw * c, case["n"], case["reps"], case["ncol"]
    x = (rng.random((rows, h, w, c)) < 0.2).astype(np.uint8)
    x[0] = 0  # an all-zero row: every chunk skippable
    k_n = -(-fan_in // ncol)
    wsign = rng.choice(np.array([-1, 1], np.int8), size=(fan_in, n))
    coef = (wsign * 4e-4 + rng.normal(0, 3e-5, (reps, fan_in, n))).astype(np.float32)
    v0 = 0.1 + rng.normal(0, 1e-3, (reps, k_n, n))
    nk = np.array([min(ncol, fan_in - k * ncol) for k in range(k_n)])
    arch = PAPER.replace(**{"converter.bits": case["bits"]})
    conv = converter.chunk_converters(arch, 2e-4, 9e-5, nk).as_tuple()
    row_const = rng.integers(0, ncol, (reps, k_n, n)).astype(np.int64)
    args = (x, (kh, kw), s, pad, (oh, ow), ncol, coef, wsign, v0, conv, row_const, case["sigma"], 12345,
            np.arange(rows) * 7 + 3, np.arange(rows) % 4, 4, case["skip"])
    got = analog_conv(*args)
    want = analog_conv_ref(*args)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert got[1][:, 0].sum() > 0  # conversions happened


def test_noise_table_is_a_standard_normal():
    t = normal_table()
    assert len(t) == 1 << 16 and abs(t.mean()) < 1e-12 and t.std() == pytest.approx(1.0, abs=2e-3)
    assert t[0] == pytest.approx(-4.325, abs=0.001) and np.all(np.diff(t) > 0)


# --- consistency with the ideal simulator --------------------------------------------------

@pytest.mark.parametrize("encoding", ["threshold", "rate"])
def test_quiet_devices_and_an_exact_converter_reproduce_the_ideal_simulator(encoding):
    # wide_network: multi-chunk strided conv, partial last chunks, a flattened linear layer,
    # a binary (in-memory) readout; several replicas per layer.
    net = wide_network(3, encoding)
    arch = PAPER.replace(**QUIET, **{"chip.subarrays": 2000})
    images, labels = images_of(net, 40)
    ideal = FunctionalSimulator(net, 288).run(images, labels, batch_size=16)
    res, sim, chip = run(net, arch, images, labels, seed=5)
    assert any(lay.replicas > 1 for lay in chip.layers.values())
    np.testing.assert_array_equal(res.scores, ideal.scores)
    np.testing.assert_array_equal(res.predictions, ideal.predictions)
    for k in ideal.spikes:
        np.testing.assert_array_equal(res.spikes[k], ideal.spikes[k])
    assert all(e["error_rate"] == 0 and e["conversions"] > 0 for e in sim.error_report().values())


def test_shipped_resnet_on_the_quiet_nominal_chip_equals_the_ideal_predictions():
    net = weightfile.load("workloads/mnist_resnet.bsnn.npz")
    data = datasets.load("mnist", "test", limit=100)
    arch = PAPER.replace(**{"converter.noise_sigma_mv": 0.0, "converter.c_sample_ff": 0.0})
    ideal = FunctionalSimulator(net, 288).run(data.images, data.labels)
    res, sim, _ = run(net, arch, data.images, data.labels, nominal=True)
    np.testing.assert_array_equal(res.predictions, ideal.predictions)
    np.testing.assert_array_equal(res.scores, ideal.scores)


def test_without_sense_margin_accuracy_falls_to_chance_and_the_margin_says_why():
    net = weightfile.load("workloads/mnist_resnet.bsnn.npz")
    data = datasets.load("mnist", "test", limit=300)
    for override in ({"mtj.tmr_pct": 0.1}, {"subarray.v_read_v": 0.002}):
        arch = PAPER.replace(**override)
        res, _, _ = run(net, arch, data.images, data.labels, seed=1)
        assert res.accuracy < 0.3, override
        m = margin.layer_margins(map_network(net, arch), arch)
        assert all(v["verdict"] == "gone" and v["sigma_counts"] > 10 for v in m.values()), override


# --- converter ------------------------------------------------------------------------------

def test_fewer_bits_change_the_function_and_the_energy_together():
    net = wide_network(4, "threshold")
    images, labels = images_of(net, 30)
    exact = PAPER.replace(**QUIET)
    coarse = exact.replace(**{"converter.bits": 4})
    assert energy.action_energies(coarse)["convert"] == pytest.approx(
        energy.action_energies(exact)["convert"] / 32)
    _, sim_exact, _ = run(net, exact, images, labels)
    _, sim_coarse, _ = run(net, coarse, images, labels)
    assert all(e["error_rate"] == 0 for e in sim_exact.error_report().values())
    # 16 codes over n + 1 counts: c1 (n = 27) errs on ~40 % of conversions, the 288-wide rows on ~90 %
    assert all(e["error_rate"] > 0.3 for e in sim_coarse.error_report().values())


def test_transfer_is_exact_iff_every_count_is_resolved():
    g_p, g_ap = energy.cell_conductances(PAPER)
    nk = np.array([288, 100])
    assert converter.chunk_converters(PAPER, g_p, g_ap, nk).exact
    assert not converter.chunk_converters(PAPER.replace(**{"converter.bits": 8}), g_p, g_ap, nk).exact
    assert not converter.chunk_converters(PAPER.replace(**{"converter.range_fraction": 0.5}), g_p, g_ap, nk).exact


def test_converter_energy_follows_the_survey_envelope_and_the_thermal_bound():
    # 500 MS/s: Nyquist 250 MHz against a 100 MHz corner.
    assert converter.sample_rate_mhz(PAPER) == pytest.approx(500.0)
    assert converter.walden_fom_fj(PAPER) == pytest.approx(2.2 * math.sqrt(1 + 2.5 ** 2))
    slow = PAPER.replace(**{"sensing.t_settle_ns": 99.0})  # 100 ns phases: 10 MS/s, below the corner
    assert converter.conversion_energy_pj(slow) == pytest.approx(2.2e-3 * math.sqrt(1 + 0.05 ** 2) * 512)
    # 20 bits: 8 k T SNR = 8 * 1.38e-23 * 300 * 1.5 * 4^20 J = 54.6 pJ, above 2.2 fJ * 2^20 * 2.69 = 6.2 pJ
    big = PAPER.replace(**{"converter.bits": 20})
    assert converter.conversion_energy_pj(big) == pytest.approx(8 * 1.380649e-23 * 300 * 1.5 * 4 ** 20 * 1e12)
    t = PAPER.replace(**{"converter.kind": "time", "converter.bits": 5})
    assert converter.conversion_energy_pj(t) == pytest.approx((100 + 5 * 16) * 1e-3)
    assert converter.ktc_noise_mv(PAPER) == pytest.approx(math.sqrt(1.380649e-23 * 300 / 500e-15) * 1e3)


def test_time_based_sensing_resolution_is_slope_and_clock():
    arch = PAPER.replace(**{"converter.kind": "time", "converter.bits": 5})
    g_p, g_ap = energy.cell_conductances(arch)
    step_v = arch.subarray.v_read_v * (g_p - g_ap) / (288 * (g_p + g_ap))
    c = converter.chunk_converters(arch, g_p, g_ap, np.array([288]))
    assert c.lsb[0] == pytest.approx(0.0625 / 0.16 / (step_v * 1e3))
    assert c.u0[0] == pytest.approx(144 - 16 * c.lsb[0])  # 32 codes centred on n/2
    with pytest.raises(Exception, match="converter.t_count_ns"):
        arch.replace(**{"converter.bits": 6})  # 64 x 62.5 ps = 4 ns > the 2 ns phase


# --- devices and the row transfer -------------------------------------------------------------

def test_ladder_weights_solve_the_source_line_network():
    rng = np.random.default_rng(0)
    g = rng.uniform(2e-4, 3e-4, (3, 12))
    z = ladder_weights(g, 0.5)
    for row in range(3):
        a = np.diag(g[row]) + (np.diag(np.full(12, 2.0)) - np.diag(np.ones(11), 1) - np.diag(np.ones(11), -1)) / 0.5
        a[0, 0] -= 1 / 0.5
        a[-1, -1] -= 1 / 0.5
        np.testing.assert_allclose(z[row], np.linalg.solve(a, np.eye(12)[0]), rtol=1e-10)
    np.testing.assert_allclose((z * g).sum(axis=1), 1.0)  # the sensed voltage stays within the rails
    np.testing.assert_allclose(ladder_weights(g, 0.0), 1 / g.sum(axis=1, keepdims=True) * np.ones((1, 12)))


def test_source_line_resistance_weights_far_cells_less():
    m0 = margin.row_margin(PAPER, 288)
    m1 = margin.row_margin(PAPER.replace(**{"subarray.r_sl_ohm_per_cell": 0.6}), 288)
    assert m0["sl_ir_error_counts"] == 0.0 and m1["sl_ir_error_counts"] > 5


def test_same_seed_same_chip_and_different_seed_different_chip():
    net = wide_network(1, "threshold")
    mapping = map_network(net, PAPER)
    a = sample_chip(net, mapping, PAPER, montecarlo.chip_seed(7, 3))
    b = sample_chip(net, mapping, PAPER, montecarlo.chip_seed(7, 3))
    c = sample_chip(net, mapping, PAPER, montecarlo.chip_seed(7, 4))
    for name in a.layers:
        np.testing.assert_array_equal(a.layers[name].coef, b.layers[name].coef)
        np.testing.assert_array_equal(a.layers[name].v0, b.layers[name].v0)
        assert not np.array_equal(a.layers[name].coef, c.layers[name].coef)
    assert a.noise_key == b.noise_key != c.noise_key


def test_faults_follow_their_probabilities():
    net = wide_network(1, "threshold")
    mapping = map_network(net, PAPER)
    flipped = sample_chip(net, mapping, PAPER.replace(**{"cell.p_write_error": 1.0}), np.random.SeedSequence(0))
    clean = sample_chip(net, mapping, PAPER.replace(**{"cell.p_write_error": 0.0}), np.random.SeedSequence(0))
    for name in clean.layers:
        np.testing.assert_array_equal(flipped.layers[name].ap, ~clean.layers[name].ap)
    stuck = sample_chip(net, mapping, PAPER.replace(**{"cell.p_stuck": 1.0}), np.random.SeedSequence(0))
    frac = np.mean([lay.ap.mean() for lay in stuck.layers.values()])
    assert 0.45 < frac < 0.55


def test_read_disturb_turns_antiparallel_mtjs_parallel_between_batches():
    net = wide_network(2, "threshold")
    images, labels = images_of(net, 20)
    arch = PAPER.replace(**{"cell.p_read_disturb": 1.0})
    _, _, chip = run(net, arch, images, labels)
    assert all(not lay.ap.any() for lay in chip.layers.values())


def test_tmr_falls_with_temperature():
    hot = PAPER.replace(**{"technology.temperature_k": 400.0})
    assert margin.row_margin(hot, 288)["step_mv"] < margin.row_margin(PAPER, 288)["step_mv"]
    g_p, g_ap = energy.cell_conductances(hot)
    assert g_ap > energy.cell_conductances(PAPER)[1] and g_p == energy.cell_conductances(PAPER)[0]


# --- the analytic margin against sampled chips ---------------------------------------------------

def test_analytic_variation_sigma_matches_sampled_rows():
    # Only local variation: sample one 1x288 layer with many replicas, drive half the cells,
    # compare the spread of the analog value (count units) with the analytic sigma.
    arch = PAPER.replace(**{**QUIET, "mtj.sigma_r_rel": 0.05, "mtj.sigma_tmr_rel": 0.08, "access.sigma_r_rel": 0.07,
                            "chip.replication": "none"})
    net = wide_network(0, "threshold")
    mapping = map_network(net, arch)
    chip = sample_chip(net, mapping, arch, np.random.SeedSequence(11))
    lay = chip.layers["c2"]  # fan-in 630: chunks of 288, 288, 54
    rng = np.random.default_rng(0)
    x = rng.random((400, 288)) < 0.5
    v = lay.v0[0, 0][None] + x.astype(float) @ lay.coef[0, :288]  # (400, N)
    conv = lay.conv
    u = (v - conv.v_zero[0]) * conv.inv_step[0]
    ideal = lay.row_const[0, 0][None] + x.astype(int) @ lay.wsign[:288].astype(int)
    sampled = np.std(u - ideal)
    analytic = margin.row_margin(arch, 288)
    assert sampled == pytest.approx(analytic["sigma_variation_mv"] / analytic["step_mv"], rel=0.15)


# --- calibration and Monte Carlo ------------------------------------------------------------------

def test_calibration_removes_static_offsets():
    net = weightfile.load("workloads/mnist_resnet.bsnn.npz")
    data = datasets.load("mnist", "test", limit=200)
    cal = datasets.load("mnist", "test", limit=216).images[200:]  # 16 images not in the test subset
    arch = PAPER.replace(**{**QUIET, "converter.offset_sigma_mv": 5.0})
    mapping = map_network(net, arch)
    work = montecarlo.Workload(net, mapping, arch, data.images, data.labels, 3, 100, cal)
    before, e_before, _, _ = montecarlo.simulate_chip(work, 0)
    after, e_after, _, corr = montecarlo.simulate_chip(work, 0, calibrated=True)
    assert all(c > 3 for c in corr.values())  # offsets of ~13 counts found
    assert before.accuracy < 0.5 < 0.97 < after.accuracy
    for name in e_before:
        assert e_after[name]["mean_abs_error"] < 0.3 < 5 < e_before[name]["mean_abs_error"]


def test_monte_carlo_statistics():
    assert montecarlo.t_quantile_975(10) == pytest.approx(2.2281, abs=1e-4)
    assert montecarlo.t_quantile_975(11) == pytest.approx(2.2010, abs=2e-4)
    assert montecarlo.t_quantile_975(99) == pytest.approx(1.9842, abs=1e-4)
    s = montecarlo.spread([0.9, 0.92, 0.94])
    assert s["mean"] == pytest.approx(0.92) and s["std"] == pytest.approx(0.02)
    assert s["ci95"][1] - s["mean"] == pytest.approx(4.3027 * 0.02 / math.sqrt(3))


@pytest.mark.slow
def test_monte_carlo_results_do_not_depend_on_workers_or_chip_count():
    net = wide_network(5, "rate")
    images, labels = images_of(net, 24)
    mapping = map_network(net, PAPER)
    work = montecarlo.Workload(net, mapping, PAPER, images, labels, 9, 8)
    one = montecarlo.run_monte_carlo(work, 3, workers=1)
    two = montecarlo.run_monte_carlo(work, 3, workers=2)
    fewer = montecarlo.run_monte_carlo(work, 2, workers=1)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.predictions, b.predictions)
        assert a.errors == b.errors and a.dynamic_energy_pj == b.dynamic_energy_pj
    np.testing.assert_array_equal(fewer[1].predictions, one[1].predictions)


def test_chip_energy_tracks_its_conductances():
    net = wide_network(1, "threshold")
    mapping = map_network(net, PAPER)
    nominal = sample_chip(net, mapping, PAPER, np.random.SeedSequence(0), nominal=True)
    assert nominal.array_energy_factor() == pytest.approx(1.0)
    # A chip whose R_P all came out 10 % low (global draw forced by a huge global sigma is
    # random; instead flip every AP MTJ to P): all-P cells conduct G_P on both branches.
    allp = sample_chip(net, mapping, PAPER.replace(**QUIET), np.random.SeedSequence(0))
    for lay in allp.layers.values():
        lay.ap[:] = False
        from bsnn_sim.analog.chip import _transfer
        _transfer(lay, allp.arch, allp.f_bias)
    g_p, g_ap = energy.cell_conductances(PAPER)
    assert allp.array_energy_factor() == pytest.approx(2 * g_p / (g_p + g_ap), rel=1e-3)


def test_every_replica_and_converter_has_its_own_draws():
    net = wide_network(1, "threshold")
    arch = PAPER.replace(**{"chip.subarrays": 2000})
    chip = sample_chip(net, map_network(net, arch), arch, np.random.SeedSequence(2))
    lay = next(lay for lay in chip.layers.values() if lay.replicas > 1)
    assert not np.array_equal(lay.coef[0], lay.coef[1])
    offsets = lay.offset_v  # (R, K, N): one converter per 1-row subarray
    assert len(np.unique(offsets)) == offsets.size


def test_time_based_sensing_clips_what_falls_outside_its_window():
    arch = load_arch("arch_configs/stt_bsnn_65nm_time.toml").replace(**QUIET)
    assert arch.converter.kind == "time" and energy.action_energies(arch)["convert"] == pytest.approx(0.18)
    net = weightfile.load("workloads/mnist_resnet.bsnn.npz")
    data = datasets.load("mnist", "test", limit=50)
    _, sim, _ = run(net, arch, data.images, data.labels, nominal=True)
    # lsb ~1 count, 32 codes around 144: inside the window counts are exact, outside they clip
    report = sim.error_report()
    assert all(0 < e["error_rate"] < 1 and e["max_abs_error"] > 16 for e in report.values())


def test_calibrated_margin_keeps_only_the_rounding_residual_of_the_offset():
    raw = margin.row_margin(PAPER, 288)
    cal = margin.row_margin(PAPER, 288, offset_calibrated=True)
    assert raw["verdict"] == "gone" and cal["verdict"] == "marginal"
    assert cal["sigma_offset_mv"] == pytest.approx(raw["step_mv"] / math.sqrt(12))
    assert cal["sigma_total_mv"] ** 2 == pytest.approx(
        raw["sigma_total_mv"] ** 2 - 5.0 ** 2 + cal["sigma_offset_mv"] ** 2)


def test_wire_error_spread_matches_random_data_on_a_nominal_row():
    arch = PAPER.replace(**{**QUIET, "subarray.r_sl_ohm_per_cell": 0.2})
    net = wide_network(0, "threshold")
    chip = sample_chip(net, map_network(net, arch), arch, np.random.SeedSequence(0), nominal=True)
    lay = chip.layers["c2"]
    rng = np.random.default_rng(1)
    x = rng.random((2000, 288)) < 0.5
    u = (lay.v0[0, 0][None] + x.astype(float) @ lay.coef[0, :288] - lay.conv.v_zero[0]) * lay.conv.inv_step[0]
    ideal = lay.row_const[0, 0][None] + x.astype(int) @ lay.wsign[:288].astype(int)
    m = margin.row_margin(arch, 288)
    assert np.std(u - ideal) == pytest.approx(m["sigma_ir_mv"] / m["step_mv"], rel=0.1)
    assert np.abs(u - ideal).max() < m["sl_ir_error_counts"]


def test_margin_table_has_a_value_under_every_heading():
    arch = PAPER.replace(**{"subarray.r_sl_ohm_per_cell": 0.2})
    net = wide_network(0, "threshold")
    lines = margin.margin_report(margin.layer_margins(map_network(net, arch), arch)).splitlines()
    heading = lines[1].replace("step mV", "step_mV").split()
    assert heading[-1] == "verdict"
    rows = [line.split() for line in lines[2:] if not line.strip().startswith("margin gone")]
    assert rows and all(len(r) == len(heading) for r in rows)
    assert float(rows[0][heading.index("IR")]) > 0


def test_repricing_an_analog_run_refuses_a_table_whose_devices_compute_otherwise():
    from bsnn_sim.analog.devices import ANALOG_ONLY_KEYS, FUNCTION_KEYS, SAMPLED_ONLY_KEYS
    from bsnn_sim.arch import SECTIONS
    from bsnn_sim.hardware import activity_of, evaluate_hardware, reprice

    assert set(SAMPLED_ONLY_KEYS) <= set(ANALOG_ONLY_KEYS) <= set(FUNCTION_KEYS)
    for dotted in FUNCTION_KEYS:  # every entry is a real config key
        sec, _, key = dotted.partition(".")
        assert key in SECTIONS[sec].__dataclass_fields__, dotted
    net = wide_network(2, "threshold")
    images, labels = images_of(net, 6)
    res, _, _ = run(net, PAPER, images, labels)
    hw = evaluate_hardware(net, activity_of(res), PAPER, analog=True)
    cheaper_lines = energy.energy_table(PAPER.replace(**{"subarray.c_bitline_ff": 8.0}))
    assert reprice(hw, cheaper_lines).energy_breakdown_pj()["total"] < hw.energy_breakdown_pj()["total"]
    for override in ({"mtj.sigma_r_rel": 0.1}, {"converter.bits": 8}, {"mtj.tmr_pct": 120.0}):
        with pytest.raises(Exception, match=list(override)[0]):
            reprice(hw, energy.energy_table(PAPER.replace(**override)))
    ideal = evaluate_hardware(net, activity_of(FunctionalSimulator(net, 288).run(images, labels)), PAPER)
    reprice(ideal, energy.energy_table(PAPER.replace(**{"mtj.tmr_pct": 120.0})))  # ideal: energy only


def test_a_network_without_in_memory_layers_runs_on_the_analog_path_unchanged():
    from netfactory import mnist_network

    net = mnist_network(0)
    arch = PAPER.replace(**{"subarray.columns": 288})
    # make every layer digital: the binary conv2 becomes int8 (+-1 weights, same values)
    from dataclasses import replace as dc_replace
    from bsnn_sim.network import Network, Precision
    nodes = [dc_replace(n, precision=Precision.INT8) if getattr(n, "precision", None) is Precision.BINARY else n
             for n in net.nodes]
    net = Network.build(net.input_shape, net.time_steps, net.encoding, nodes, net.classes)
    mapping = map_network(net, arch)
    assert not mapping.in_memory_layers
    images, labels = images_of(net, 8)
    work = montecarlo.Workload(net, mapping, arch, images, labels, 0, 4)
    outcomes = montecarlo.run_monte_carlo(work, 2, workers=1)
    ideal = FunctionalSimulator(net, 288).run(images, labels)
    assert all(np.array_equal(o.predictions, ideal.predictions) for o in outcomes)
    assert "no in-memory layer" in montecarlo.report(montecarlo.summarize(outcomes))
    assert "no in-memory layer" in margin.margin_report(margin.layer_margins(mapping, arch))
    assert variation.worst_margin(margin.layer_margins(mapping, arch))["verdict"] == "no in-memory layer"
