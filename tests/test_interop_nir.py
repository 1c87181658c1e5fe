"""NIR import and export (bsnn_sim/interop): round trips, the folding equations of
docs/interop.md on hand-checkable graphs, the strict-threshold rule against a float
evaluation of the graph, rejections with one-line reasons, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

nir = pytest.importorskip("nir", reason="needs the nir extra (pip install 'bsnn-sim[nir]')")

from bsnn_sim import weightfile  # noqa: E402
from bsnn_sim.cli import cli  # noqa: E402
from bsnn_sim.errors import InteropError  # noqa: E402
from bsnn_sim.functional import FunctionalSimulator  # noqa: E402
from bsnn_sim.interop import nir as nx  # noqa: E402
from bsnn_sim.interop.compare import compare  # noqa: E402
from bsnn_sim.interop.nireval import evaluate  # noqa: E402
from bsnn_sim.interop.reading import Fire, Reading, Reset  # noqa: E402
from bsnn_sim.network import Encoding, EncodingKind, Precision  # noqa: E402

from netfactory import tiny_network  # noqa: E402

SPIKES = Encoding(EncodingKind.THRESHOLD, level=100)


def _arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _payload_equal(a, b):
    """Byte-identical weight payload: the same arrays (name, dtype, shape, bytes)."""
    a, b = _arrays(a), _arrays(b)
    a.pop("header"), b.pop("header")
    return sorted(a) == sorted(b) and all(a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a)


def _reread(graph, tmp_path, name="g.nir"):
    nx.write_graph(graph, tmp_path / name)
    return nx.read_graph(tmp_path / name)


def _stored_reading(graph, **kw):
    d = nx.reading_defaults(graph)
    return Reading(d["time_steps"], d["encoding"], input_shape=d["input_shape"], **kw)


@pytest.mark.parametrize("make", [
    lambda: weightfile.load("workloads/mnist_resnet.bsnn.npz"),
    lambda: weightfile.load("workloads/mnist_mlp.bsnn.npz"),
    lambda: tiny_network(0, "threshold", "binary"),
    lambda: tiny_network(1, "direct"),
    lambda: tiny_network(2, "rate"),
], ids=["mnist_resnet", "mnist_mlp", "tiny_threshold", "tiny_direct", "tiny_rate"])
def test_weight_file_to_nir_and_back_is_identical(tmp_path, make):
    net = make()
    weightfile.save(net, tmp_path / "a.npz")
    graph = _reread(nx.export_network(net), tmp_path)
    conv = nx.import_graph(graph, _stored_reading(graph))
    assert conv.exact
    weightfile.save(conv.network, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


@pytest.mark.parametrize("seed,encoding", [(0, "threshold"), (1, "direct"), (2, "rate"), (3, "threshold")])
def test_exported_graph_evaluates_to_the_simulator(seed, encoding):
    """The float evaluation of the exported graph (its metadata says: fire on >=, reset by
    subtraction) gives the simulator's readout sums exactly."""
    net = tiny_network(seed, encoding)
    graph = nx.export_network(net)
    reading = _stored_reading(graph)
    images = np.random.default_rng(seed).integers(0, 256, size=(100,) + net.input_shape, dtype=np.uint8)
    res = FunctionalSimulator(net).run_batch(images, np.arange(100))
    np.testing.assert_array_equal(evaluate(graph, reading, images), res.scores / 2.0 ** net.readout.frac_bits)


# ------------------------------------------------------------------ a foreign graph

def _foreign(seed=0, vth=(3.0, 2.0, 1.0, 2.5), scale=(-2.0, 1.0, 0.5, 1.0), v_reset=0.0, kind="IF",
             w1=None, res=True):
    """A hand-made graph as another tool would write it: input (2,6,6) spikes ->
    conv 2->4 3x3 pad 1, weights +-0.5, bias -> Scale (per channel, one negative: the
    gamma < 0 case) -> IF (+ a residual: input spikes through conv-free Scale 0.5 into
    the second neuron) -> conv 4->4 -> IF -> SumPool 3 + Threshold 0.5 (OR) -> flatten ->
    Affine 4->3 (+-0.25) -> output."""
    rng = np.random.default_rng(seed)
    pm = lambda *s: rng.choice([-1.0, 1.0], size=s)  # noqa: E731
    r = np.full((4, 6, 6), 1e4)
    ch = lambda v, s: np.broadcast_to(np.asarray(v, float).reshape(-1, 1, 1), s).copy()  # noqa: E731

    def neuron(shape, th, reset):
        if kind == "LIF":
            return nir.LIF(tau=np.full(shape, 1e-3), r=np.full(shape, 10.0), v_leak=np.zeros(shape),
                           v_threshold=ch(th, shape), v_reset=np.full(shape, reset))
        return nir.IF(r=np.full(shape, 1e4), v_threshold=ch(th, shape), v_reset=np.full(shape, reset))

    nodes = {
        "in": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "c1": nir.Conv2d(input_shape=(6, 6), weight=0.5 * pm(4, 2, 3, 3) if w1 is None else w1, stride=1, padding=1,
                         dilation=1, groups=1, bias=np.array([0.25, -0.5, 0.75, 0.0])),
        "s1": nir.Scale(scale=ch(scale, (4, 6, 6))),
        "n1": neuron((4, 6, 6), vth, v_reset),
        "c2": nir.Conv2d(input_shape=(6, 6), weight=pm(4, 4, 3, 3), stride=1, padding=1, dilation=1, groups=1,
                         bias=np.array([1.0, 0.0, -1.0, 0.5])),
        "n2": neuron((4, 6, 6), [2.0, 3.0, 1.0, 4.0], v_reset),
        "p": nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([3, 3]), padding=np.array([0, 0])),
        "n3": nir.Threshold(threshold=np.full((4, 2, 2), 0.5)),
        "f": nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=0.25 * pm(3, 16), bias=np.array([0.125, -0.25, 0.0])),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("in", "c1"), ("c1", "s1"), ("s1", "n1"), ("n1", "c2"), ("c2", "n2"), ("n2", "p"), ("p", "n3"),
             ("n3", "f"), ("f", "fc"), ("fc", "out")]
    if res:  # n1's spikes, scaled by 0.5, added into n2's input: a residual
        nodes["rs"] = nir.Scale(scale=np.full((4, 6, 6), 0.5))
        edges += [("n1", "rs"), ("rs", "n2")]
    del r
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_folding_follows_the_documented_equations():
    """c1 + s1 + n1 with T = 4, fire on v > v_th: k = |scale * gain * 0.5| per channel;
    channel 0 has scale -2 (weights negated, k = 1); the constants in units of k are
    bias' = 0.5, 1, -1.5, 0 and TH = 3, 4, 4, 5: on the 2**-G grid with G = 1, so
    F = G + log2(4) = 3 and theta = TH * 8 + 1."""
    graph = _foreign()
    conv = nx.import_graph(graph, Reading(4, SPIKES, reset=Reset.SUBTRACT))
    c1 = conv.network.node("c1")
    k = np.array([1.0, 0.5, 0.25, 0.5])  # |scale| * r*dt * 0.5
    assert c1.precision is Precision.BINARY and c1.frac_bits == 3
    sign = np.sign(graph.nodes["c1"].weight * np.array([-2.0, 1, 0.5, 1]).reshape(-1, 1, 1, 1))
    np.testing.assert_array_equal(c1.weight, sign)
    # bias' = -(G * b) / k = -(scale * b) / k; file bias = bias' * 2**F
    np.testing.assert_array_equal(c1.bias, -(np.array([-2.0, 1, 0.5, 1]) * [0.25, -0.5, 0.75, 0.0]) / k * 8)
    np.testing.assert_array_equal(c1.bias, [4, 8, -12, 0])
    np.testing.assert_array_equal(c1.theta, [25, 33, 33, 41])
    c2 = conv.network.node("c2")
    assert c2.residual == "c1" and c2.precision is Precision.BINARY
    np.testing.assert_array_equal(c2.res_gain, np.full(4, 0.5 * 2 ** c2.frac_bits))
    assert [type(n).__name__ for n in conv.network.nodes] == ["Conv2d", "Conv2d", "MaxPool2d", "Flatten", "Linear"]
    assert conv.readout_unit == 0.25 / 2 ** conv.network.readout.frac_bits


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("fire", [Fire.GT, Fire.GE])
@pytest.mark.parametrize("steps", [1, 3, 8])
def test_strict_and_tie_rules_match_the_graph_exactly(seed, fire, steps):
    """Integer-valued membranes hit their thresholds often; the converted network gives
    the float graph's readout sums exactly for both firing rules and several T."""
    graph = _foreign(seed)
    reading = Reading(steps, SPIKES, fire=fire, reset=Reset.SUBTRACT)
    conv = nx.import_graph(graph, reading)
    images = np.random.default_rng(100 + seed).integers(0, 256, size=(200, 2, 6, 6), dtype=np.uint8)
    cmp = compare(graph, reading, conv, images)
    assert (cmp.agree, cmp.max_abs_diff) == (200, 0.0)
    assert cmp.source_range > 0


def test_a_uniform_scale_of_the_input_is_the_input_scale():
    """Input -> Scale(1/255) -> ... imports as --input-scale 1/255 does: pixels (direct
    encoding) with int8 weights k = 0.5/255 per output."""
    g = _foreign(res=False)
    g.nodes["norm"] = nir.Scale(scale=np.full((2, 6, 6), 1 / 255))
    g.edges = [e for e in g.edges if e != ("in", "c1")] + [("in", "norm"), ("norm", "c1")]
    pixels = Encoding(EncodingKind.DIRECT)
    via_node = nx.import_graph(g, Reading(1, pixels))
    via_option = nx.import_graph(_foreign(res=False), Reading(1, pixels, input_scale=1 / 255))
    for a, b in zip(via_node.network.compute_nodes(), via_option.network.compute_nodes()):
        for field in ("weight", "bias", "theta"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not via_node.network.is_spiking("input")
    images = np.random.default_rng(8).integers(0, 256, size=(50, 2, 6, 6), dtype=np.uint8)
    cmp = compare(g, Reading(1, pixels), via_node, images)
    assert (cmp.agree, cmp.max_abs_diff) == (50, 0.0)


def test_foreign_graph_round_trip_gives_an_identical_payload(tmp_path):
    """NIR -> v1 -> NIR -> v1: the second file's arrays equal the first's, byte for byte."""
    conv = nx.import_graph(_reread(_foreign(), tmp_path, "a.nir"), Reading(4, SPIKES, reset=Reset.SUBTRACT))
    weightfile.save(conv.network, tmp_path / "a.npz")
    graph = _reread(nx.export_network(weightfile.load(tmp_path / "a.npz")), tmp_path, "b.nir")
    weightfile.save(nx.import_graph(graph, _stored_reading(graph)).network, tmp_path / "b.npz")
    assert _payload_equal(tmp_path / "a.npz", tmp_path / "b.npz")


# ------------------------------------------------------------------ what is not exact

@pytest.mark.parametrize("kwargs,reading,message", [
    (dict(), dict(), r"node 'n1': IF resets to v_reset = 0; .*exact only for T = 1"),
    (dict(kind="LIF"), dict(reset=Reset.SUBTRACT), r"node 'n1': LIF leak dt/tau = 0.1 dropped"),
    (dict(w1=np.linspace(-1, 1, 72).reshape(4, 2, 3, 3)), dict(reset=Reset.SUBTRACT),
     r"node 'c1': weights are not \+-alpha .*--binarize"),
    (dict(vth=(-1.0, 2.0, 1.0, 2.5)), dict(reset=Reset.SUBTRACT), r"node 'n1': threshold -1 gives theta < 1"),
    (dict(vth=(0.1, 2.0, 1.0, 2.5)), dict(reset=Reset.SUBTRACT),
     r"node 'n1': bias, threshold .* lie on no 2\*\*-F grid .* pass --frac-bits F"),
])
def test_inexact_nodes_are_rejected_with_a_reason(kwargs, reading, message):
    with pytest.raises(InteropError, match=message):
        nx.import_graph(_foreign(**kwargs), Reading(4, SPIKES, **reading))


def test_binarize_converts_and_the_report_measures_the_distance():
    w1 = np.random.default_rng(5).normal(size=(4, 2, 3, 3))
    graph = _foreign(w1=w1, vth=(0.1, 2.0, 1.0, 2.5), kind="LIF")
    reading = Reading(4, SPIKES, binarize=True)
    conv = nx.import_graph(graph, reading)
    joined = "\n".join(conv.approximations)
    for what in ("c1: weights binarised", "n1: LIF leak", "n1: LIF resets to v_reset", "rounded to 16 fraction bits"):
        assert what in joined
    images = np.random.default_rng(6).integers(0, 256, size=(100, 2, 6, 6), dtype=np.uint8)
    cmp = compare(graph, reading, conv, images)
    res = FunctionalSimulator(conv.network).run_batch(images, np.arange(100))
    source = evaluate(graph, reading, images)
    assert cmp.agree == int((source.argmax(1) == res.predictions).sum()) < 100
    assert cmp.max_abs_diff == pytest.approx(np.abs(source - res.scores * conv.readout_unit).max())


def test_frac_bits_accepts_only_the_rounding_of_constants():
    """Thresholds off every grid (0.1 / k) round to --frac-bits F; the weights stay exact
    and a node that needs more (non-binary weights) is still rejected."""
    reading = Reading(4, SPIKES, reset=Reset.SUBTRACT, frac_bits=6)
    conv = nx.import_graph(_foreign(vth=(0.1, 2.0, 1.0, 2.5)), reading)
    assert conv.approximations == ["n1: bias/threshold rounded to 6 fraction bits (--frac-bits)"]
    assert conv.network.node("c1").frac_bits == 6 and conv.network.node("c1").theta[0] == round(0.1 * 64) + 1
    with pytest.raises(InteropError, match="node 'c1': weights are not"):
        nx.import_graph(_foreign(vth=(0.1, 2.0, 1.0, 2.5), w1=np.linspace(-1, 1, 72).reshape(4, 2, 3, 3)), reading)


def test_binarize_rule_is_sign_and_mean_magnitude():
    w1 = np.random.default_rng(7).normal(size=(4, 2, 3, 3))
    conv = nx.import_graph(_foreign(w1=w1), Reading(1, SPIKES, binarize=True))
    c1 = conv.network.node("c1")
    scale = np.array([-2.0, 1, 0.5, 1]).reshape(-1, 1, 1, 1)
    np.testing.assert_array_equal(c1.weight, np.where(w1 * scale >= 0, 1, -1))
    # theta = rint(v_th / k * 2**F) + 1, k = mean |w| * |scale| (gain 1), F = 16 (T = 1)
    k = np.abs(w1 * scale).reshape(4, -1).mean(axis=1)
    np.testing.assert_array_equal(c1.theta, np.rint(np.array([3.0, 2.0, 1.0, 2.5]) / k * 2**16 + 1))


def test_mapping_table_names_what_the_importer_supports_and_rejects():
    """docs/interop.md section 2 lists every supported NIR node; the types it names as
    rejected are rejected by the importer, naming the node."""
    doc = open("docs/interop.md").read()
    table = doc[doc.index("## 2. Node-by-node mapping"):doc.index("## 3.")]
    for kind in nx.SUPPORTED_NODES:
        assert f"`{kind}`" in table, kind
    rejected = {
        "CubaLIF": nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3), v_leak=np.zeros(3),
                               v_threshold=np.ones(3)),
        "LI": nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)),
        "I": nir.I(r=np.ones(3)),
        "Delay": nir.Delay(delay=np.ones(3)),
    }
    for kind, node in rejected.items():
        assert f"`{kind}`" in table, kind
        g = _foreign()
        g.nodes["x"] = node
        g.edges = [e for e in g.edges if e != ("fc", "out")] + [("fc", "x"), ("x", "out")]
        with pytest.raises(InteropError, match=f"node 'x': NIR {kind} has no bsnn-sim equivalent"):
            nx.import_graph(g, Reading(1, SPIKES))


def test_structures_without_an_equivalent_are_rejected():
    g = _foreign()
    g.nodes["c1"].groups = 2
    with pytest.raises(InteropError, match="node 'c1': grouped or dilated"):
        nx.import_graph(g, Reading(1, SPIKES))
    g = _foreign()
    g.nodes["d"] = nir.Delay(delay=np.ones(3))
    g.edges = [e for e in g.edges if e != ("fc", "out")] + [("fc", "d"), ("d", "out")]
    with pytest.raises(InteropError, match="node 'd': NIR Delay has no bsnn-sim equivalent"):
        nx.import_graph(g, Reading(1, SPIKES))
    g = _foreign()
    g.edges = g.edges + [("n2", "c1")]
    with pytest.raises(InteropError, match="cycle"):
        nx.import_graph(g, Reading(1, SPIKES))
    g = _foreign()
    g.nodes["n4"] = nir.IF(r=np.full(3, 1e4), v_threshold=np.ones(3), v_reset=np.zeros(3))
    g.edges = [e for e in g.edges if e != ("fc", "out")] + [("fc", "n4"), ("n4", "out")]
    with pytest.raises(InteropError, match="node 'out': the Output must be fed by one Linear/Affine"):
        nx.import_graph(g, Reading(1, SPIKES))


# ------------------------------------------------------------------ command line

def test_cli_import_report_export_and_run(tmp_path, monkeypatch):
    """import --report with images, export, and `run` of a workload naming the file."""
    rng = np.random.default_rng(0)
    mnist_like = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([1, 28, 28])}),
        "c": nir.Conv2d(input_shape=(28, 28), weight=0.5 * rng.choice([-1.0, 1.0], (8, 1, 3, 3)), stride=2,
                        padding=1, dilation=1, groups=1, bias=np.zeros(8)),
        "n": nir.IF(r=np.full((8, 14, 14), 1e4), v_threshold=np.full((8, 14, 14), 1.0), v_reset=np.zeros((8, 14, 14))),
        "f": nir.Flatten(input_type={"input": np.array([8, 14, 14])}, start_dim=0, end_dim=-1),
        "fc": nir.Linear(weight=rng.choice([-1.0, 1.0], (10, 8 * 14 * 14))),
        "out": nir.Output(output_type={"output": np.array([10])}),
    }, edges=[("in", "c"), ("c", "n"), ("n", "f"), ("f", "fc"), ("fc", "out")], type_check=False)
    nx.write_graph(mnist_like, tmp_path / "m.nir")
    images = rng.integers(0, 256, size=(20, 1, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "x.npy", images)
    runner = CliRunner()
    out = runner.invoke(cli, ["import", str(tmp_path / "m.nir"), "--out", str(tmp_path / "m.bsnn.npz"),
                              "--time-steps", "2", "--encoding", "threshold", "--reset", "subtract",
                              "--report", "--inputs", str(tmp_path / "x.npy")])
    assert out.exit_code == 0, out.output
    assert "exact" in out.output and "predictions agree on 20/20" in out.output
    assert "c + n -> c: conv2d binary in-memory, F = 1" in out.output
    out = runner.invoke(cli, ["export", str(tmp_path / "m.bsnn.npz"), "--out", str(tmp_path / "back.nir")])
    assert out.exit_code == 0, out.output
    wl = tmp_path / "my.toml"
    wl.write_text('name = "my"\ndataset = "mnist"\nweights = "m.bsnn.npz"\n[network]\ntime_steps = 2\n'
                  'encoding = "threshold"\n[[network.layers]]\nop = "conv2d"\nchannels = 8\nstride = 2\n'
                  'padding = 1\nprecision = "binary"\n[[network.layers]]\nop = "flatten"\n'
                  '[[network.layers]]\nop = "linear"\nfeatures = 10\nprecision = "binary"\n')
    out = runner.invoke(cli, ["run", str(wl), "--limit", "50", "--json", str(tmp_path / "r.json")])
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "r.json").read_text())["images"] == 50


@pytest.mark.parametrize("args,message", [
    (["--encoding", "threshold"], "--time-steps is required"),
    (["--time-steps", "4", "--encoding", "threshold"], "node 'n1': IF resets to v_reset = 0"),
])
def test_cli_errors_are_one_line_exit_2(tmp_path, args, message):
    nx.write_graph(_foreign(), tmp_path / "f.nir")
    out = CliRunner().invoke(cli, ["import", str(tmp_path / "f.nir"), "--out", str(tmp_path / "o.npz"), *args])
    assert out.exit_code == 2 and message in out.output and len(out.output.strip().splitlines()) == 1


def test_report_images_must_match_the_network(tmp_path):
    nx.write_graph(_foreign(), tmp_path / "f.nir")
    np.save(tmp_path / "x.npy", np.zeros((3, 1, 28, 28), np.uint8))
    out = CliRunner().invoke(cli, ["import", str(tmp_path / "f.nir"), "--out", str(tmp_path / "o.npz"),
                                   "--time-steps", "1", "--encoding", "threshold", "--report",
                                   "--inputs", str(tmp_path / "x.npy")])
    assert out.exit_code == 2 and "must be uint8 (N, 2, 6, 6)" in out.output


def test_cli_rejects_a_file_that_is_not_nir(tmp_path):
    (tmp_path / "bad.nir").write_bytes(b"not hdf5")
    out = CliRunner().invoke(cli, ["import", str(tmp_path / "bad.nir"), "--out", str(tmp_path / "o.npz"),
                                   "--time-steps", "1"])
    assert out.exit_code == 2 and "bad.nir: not a readable NIR file" in out.output


def test_snntorch_example_imports_to_its_recorded_predictions(tmp_path):
    """examples/snntorch_mnist.nir (written by snnTorch's exporter, docs/interop.md) imports
    exactly: on the 10k MNIST test images bsnn-sim predicts what snnTorch predicted
    (examples/snntorch_mnist.predictions.npy, recorded by examples/snntorch_mnist.py), and
    the import reproduces the shipped weight file."""
    from bsnn_sim import datasets

    out = CliRunner().invoke(cli, ["import", "examples/snntorch_mnist.nir", "--out", str(tmp_path / "m.npz"),
                                   "--time-steps", "4", "--encoding", "threshold", "--reset", "subtract"])
    assert out.exit_code == 0 and "exact" in out.output, out.output
    assert _payload_equal(tmp_path / "m.npz", "examples/snntorch_mnist.bsnn.npz")
    data = datasets.load("mnist", "test")
    res = FunctionalSimulator(weightfile.load(tmp_path / "m.npz")).run(data.images, data.labels)
    np.testing.assert_array_equal(res.predictions, np.load("examples/snntorch_mnist.predictions.npy"))


def test_without_the_nir_package_the_cli_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "nir", None)  # as if not installed
    out = CliRunner().invoke(cli, ["export", "workloads/mnist_mlp.bsnn.npz", "--out", str(tmp_path / "m.nir")])
    assert out.exit_code == 2 and "pip install 'bsnn-sim[nir]'" in out.output


def test_example_workload_runs_the_imported_file(tmp_path):
    """`bsnn-sim run examples/snntorch_mnist.toml` simulates the shipped imported file; its
    accuracy on the first 500 test images is that of snnTorch's recorded predictions."""
    from bsnn_sim import datasets

    out = CliRunner().invoke(cli, ["run", "examples/snntorch_mnist.toml", "--limit", "500",
                                   "--json", str(tmp_path / "r.json")])
    assert out.exit_code == 0, out.output
    labels = datasets.load("mnist", "test", limit=500).labels
    expected = float((np.load("examples/snntorch_mnist.predictions.npy")[:500] == labels).mean())
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == expected
