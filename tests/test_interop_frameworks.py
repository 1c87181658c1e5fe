"""Real clients: binary-weight conv networks built in snnTorch and SpikingJelly, exported
with those frameworks' own NIR exporters, imported, and simulated bit-exactly.

Each framework evaluates its own network (its own neuron code, float32) on the same
encoded images; bsnn-sim's predictions and readout sums must equal it exactly where the
conversion is exact. What an exporter cannot express is stated where it matters:
snnTorch's exporter writes its default reset by subtraction as ``v_reset = 0`` (NIR's
reset to a value), so its files are imported with ``--reset subtract``; SpikingJelly's
exporter refuses soft reset ("NIR does not distinguish soft reset"), so its neurons reset
to 0, which bsnn-sim (reset by subtraction) reproduces exactly only for ``T = 1`` or in an
OR-pooling neuron; for ``T > 1`` the importer rejects such a neuron unless ``--binarize``
accepts it, and the report measures the difference.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the train extra (PyTorch)")
pytest.importorskip("nir", reason="needs the nir extra (pip install 'bsnn-sim[nir]')")

from bsnn_sim import weightfile  # noqa: E402
from bsnn_sim.encoding import encode_step  # noqa: E402
from bsnn_sim.errors import InteropError  # noqa: E402
from bsnn_sim.functional import FunctionalSimulator  # noqa: E402
from bsnn_sim.interop import nir as nx  # noqa: E402
from bsnn_sim.interop.compare import compare  # noqa: E402
from bsnn_sim.interop.nireval import evaluate  # noqa: E402
from bsnn_sim.interop.reading import Fire, Reading, Reset  # noqa: E402
from bsnn_sim.network import Encoding, EncodingKind  # noqa: E402

pytestmark = pytest.mark.torch

ENC = Encoding(EncodingKind.THRESHOLD, level=128)
SHAPE = (2, 8, 8)


def _binary(rng, shape, alphas):
    """Weights +-alpha with one alpha per output channel (the trained-binary form)."""
    signs = rng.choice([-1.0, 1.0], size=shape)
    return torch.tensor(signs * np.asarray(alphas).reshape((-1,) + (1,) * (len(shape) - 1)), dtype=torch.float32)


def _images(seed, n=64):
    return np.random.default_rng(seed).integers(0, 256, size=(n,) + SHAPE, dtype=np.uint8)


def _spikes(images, t, steps):
    return torch.tensor(encode_step(images, ENC, t, steps, np.arange(len(images))), dtype=torch.float32)


def _simulate(path, images):
    net = weightfile.load(path)
    res = FunctionalSimulator(net).run_batch(images, np.arange(len(images)))
    return net, res


def _assert_exact(conv, res, scores, preds):
    """Same predictions and the same readout sums (the framework's float32 sums are exact
    here: weights, biases and thresholds are small multiples of powers of two)."""
    np.testing.assert_array_equal(res.predictions, preds)
    np.testing.assert_array_equal(res.scores * conv.readout_unit, scores.astype(np.float64))


# ------------------------------------------------------------------ snnTorch

snn = pytest.importorskip("snntorch", reason="needs snntorch (make install-dev installs it)")


def _snntorch_net(seed):
    """conv 2->4 3x3 pad 1 (+-alpha per channel, bias) -> Leaky -> conv 4->6 3x3 stride 2 pad 1
    -> Leaky -> flatten -> linear 96->5 (+-0.25, bias) readout; Leaky with beta = 1 (IF),
    per-channel thresholds, the default reset by subtraction."""
    rng = np.random.default_rng(seed)

    def leaky(shape, thresholds):
        th = torch.tensor(np.asarray(thresholds, np.float32).reshape(-1, 1, 1) * np.ones(shape, np.float32))
        return snn.Leaky(beta=torch.ones(shape), threshold=th, init_hidden=True)

    conv1 = torch.nn.Conv2d(2, 4, 3, padding=1)
    conv2 = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
    fc = torch.nn.Linear(96, 5)
    with torch.no_grad():
        conv1.weight.copy_(_binary(rng, (4, 2, 3, 3), rng.choice([0.5, 1.0, 2.0], 4)))
        conv1.bias.copy_(torch.tensor(rng.integers(-4, 5, 4) * 0.25, dtype=torch.float32))
        conv2.weight.copy_(_binary(rng, (6, 4, 3, 3), rng.choice([0.25, 0.5], 6)))
        fc.weight.copy_(_binary(rng, (5, 96), [0.25] * 5))
        fc.bias.copy_(torch.tensor(rng.integers(-4, 5, 5) * 0.125, dtype=torch.float32))
    return torch.nn.Sequential(conv1, leaky((4, 8, 8), rng.choice([1.0, 2.0, 3.0], 4)),
                               conv2, leaky((6, 4, 4), rng.choice([0.5, 1.0, 1.5], 6)),
                               torch.nn.Flatten(), fc)


def _readout_sums(net, images, steps, reset):
    """The framework's own evaluation: ``reset(net)``, then the readout summed over the
    steps of the encoded images; ``(sums, predictions)``."""
    reset(net)
    total = 0
    with torch.no_grad():
        for t in range(steps):
            total = total + net(_spikes(images, t, steps))
    reset(net)
    return total.numpy(), total.argmax(dim=1).numpy()


def _snntorch_eval(net, images, steps):
    from snntorch import utils

    return _readout_sums(net, images, steps, utils.reset)


@pytest.mark.parametrize("seed", [0, 1])
def test_snntorch_conv_network_is_exact(tmp_path, seed):
    from snntorch.export_nir import export_to_nir

    steps = 4
    net = _snntorch_net(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # beta = 1 gives tau = dt / 0 = inf in the exporter
        graph = export_to_nir(net, torch.zeros((1,) + SHAPE), ignore_dims=[0])
    nx.write_graph(graph, tmp_path / "m.nir")
    reading = Reading(steps, ENC, reset=Reset.SUBTRACT)  # fire on v > v_threshold (NIR's and snnTorch's rule)
    conv = nx.import_graph(nx.read_graph(tmp_path / "m.nir"), reading)
    assert conv.exact
    weightfile.save(conv.network, tmp_path / "m.bsnn.npz")
    images = _images(seed)
    scores, preds = _snntorch_eval(net, images, steps)
    _, res = _simulate(tmp_path / "m.bsnn.npz", images)
    _assert_exact(conv, res, scores, preds)
    assert len(set(preds.tolist())) > 1, "the test network must not predict a constant"
    # the reference evaluation of the graph agrees too, and the report says so
    cmp = compare(graph, reading, conv, images)
    assert cmp.agree == len(images) and cmp.max_abs_diff == 0.0
    _assert_round_trip(tmp_path, "m.bsnn.npz")


def _assert_round_trip(tmp_path, name):
    """NIR -> v1 (above) -> NIR (bsnn-sim's exporter) -> v1: the same payload, byte for byte."""
    first = tmp_path / name
    nx.write_graph(nx.export_network(weightfile.load(first)), tmp_path / "again.nir")
    graph = nx.read_graph(tmp_path / "again.nir")
    stored = nx.reading_defaults(graph)
    again = nx.import_graph(graph, Reading(stored["time_steps"], stored["encoding"]))
    weightfile.save(again.network, tmp_path / "again.npz")
    with np.load(first) as a, np.load(tmp_path / "again.npz") as b:
        assert a.files == b.files
        for k in a.files:
            assert a[k].tobytes() == b[k].tobytes(), k


def test_snntorch_threshold_ties_need_the_strict_rule(tmp_path):
    """snnTorch fires on v > threshold; with integer-valued membranes ties occur. Reading
    the same graph as v >= threshold changes outputs: the strict rule is doing work."""
    from snntorch.export_nir import export_to_nir

    net = _snntorch_net(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(net, torch.zeros((1,) + SHAPE), ignore_dims=[0])
    images = _images(0)
    scores, _ = _snntorch_eval(net, images, 4)
    wrong = nx.import_graph(graph, Reading(4, ENC, fire=Fire.GE, reset=Reset.SUBTRACT))
    res = FunctionalSimulator(wrong.network).run_batch(images, np.arange(len(images)))
    assert not np.array_equal(res.scores * wrong.readout_unit, scores.astype(np.float64))


def test_snntorch_hard_reset_reading_is_rejected_for_t_above_1():
    """Read as NIR says (reset to v_reset), the neurons are not exact for T > 1."""
    from snntorch.export_nir import export_to_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(_snntorch_net(0), torch.zeros((1,) + SHAPE), ignore_dims=[0])
    with pytest.raises(InteropError, match=r"node '1'.*resets to v_reset = 0.*--reset subtract"):
        nx.import_graph(graph, Reading(4, ENC))


# ------------------------------------------------------------------ SpikingJelly

def _spikingjelly():
    return pytest.importorskip("spikingjelly.activation_based.nir_exchange",
                               reason="needs spikingjelly (make install-dev installs it)")


def _sj_net(seed):
    """conv 2->4 3x3 pad 1 (+-alpha per channel, bias) -> IF (v_th 2) -> conv 4->6 3x3 pad 1
    -> IF (v_th 1) -> avgpool 2 -> IF (v_th 0.25: one spike of four fires: OR-pooling)
    -> flatten -> linear 96->5 (+-0.5, bias) readout. Hard reset to 0 (the default;
    SpikingJelly's exporter refuses soft reset)."""
    from spikingjelly.activation_based import layer, neuron

    rng = np.random.default_rng(seed)
    conv1, conv2 = layer.Conv2d(2, 4, 3, padding=1), layer.Conv2d(4, 6, 3, padding=1, bias=False)
    fc = layer.Linear(96, 5)
    with torch.no_grad():
        conv1.weight.copy_(_binary(rng, (4, 2, 3, 3), rng.choice([0.5, 1.0], 4)))
        conv1.bias.copy_(torch.tensor(rng.integers(-4, 5, 4) * 0.25, dtype=torch.float32))
        conv2.weight.copy_(_binary(rng, (6, 4, 3, 3), rng.choice([0.25, 0.5, 1.0], 6)))
        fc.weight.copy_(_binary(rng, (5, 96), [0.5] * 5))
        fc.bias.copy_(torch.tensor(rng.integers(-4, 5, 5) * 0.25, dtype=torch.float32))
    return torch.nn.Sequential(conv1, neuron.IFNode(v_threshold=2.0), conv2, neuron.IFNode(v_threshold=1.0),
                               layer.AvgPool2d(2), neuron.IFNode(v_threshold=0.25), layer.Flatten(), fc)


def _sj_eval(net, images, steps):
    from spikingjelly.activation_based import functional

    return _readout_sums(net, images, steps, functional.reset_net)


def _sj_graph(net, tmp_path):
    sj = _spikingjelly()
    path = tmp_path / "sj.nir"
    sj.export_to_nir(net, torch.zeros((1,) + SHAPE), save_path=path)
    return nx.read_graph(path)


@pytest.mark.parametrize("seed", [0, 1])
def test_spikingjelly_conv_network_is_exact_for_one_step(tmp_path, seed):
    """T = 1: no neuron is ever reset before it is read, so the hard reset is exact; the
    pooling neuron fires on v >= 0.25 (SpikingJelly's rule, read with --fire ge)."""
    net = _sj_net(seed)
    graph = _sj_graph(net, tmp_path)
    conv = nx.import_graph(graph, Reading(1, ENC, fire=Fire.GE))
    assert conv.exact
    assert [type(n).__name__ for n in conv.network.nodes] == ["Conv2d", "Conv2d", "MaxPool2d", "Flatten", "Linear"]
    weightfile.save(conv.network, tmp_path / "sj.bsnn.npz")
    images = _images(10 + seed)
    scores, preds = _sj_eval(net, images, 1)
    _, res = _simulate(tmp_path / "sj.bsnn.npz", images)
    _assert_exact(conv, res, scores, preds)
    assert len(set(preds.tolist())) > 1
    _assert_round_trip(tmp_path, "sj.bsnn.npz")


def test_spikingjelly_or_pooling_needs_its_tie_rule(tmp_path):
    """Read with NIR's v > v_threshold, one spike (0.25) does not fire 0.25: not an OR."""
    graph = _sj_graph(_sj_net(0), tmp_path)
    with pytest.raises(InteropError, match=r"node '_5': after pool '_4' the neuron is not an OR"):
        nx.import_graph(graph, Reading(1, ENC, fire=Fire.GT))


def test_spikingjelly_hard_reset_for_t_above_1(tmp_path):
    """T = 4: the hard reset of the conv neurons is rejected (naming the node); with
    --binarize it becomes reset by subtraction, and the report's reference (the graph
    evaluated with its hard reset) is SpikingJelly's own evaluation, exactly."""
    net = _sj_net(0)
    graph = _sj_graph(net, tmp_path)
    with pytest.raises(InteropError, match=r"node '_1': IF resets to v_reset = 0.*--binarize"):
        nx.import_graph(graph, Reading(4, ENC, fire=Fire.GE))
    reading = Reading(4, ENC, fire=Fire.GE, binarize=True)
    conv = nx.import_graph(graph, reading)
    assert [a.split(":")[0] for a in conv.approximations] == ["_1", "_3"]
    images = _images(20)
    scores, _ = _sj_eval(net, images, 4)
    np.testing.assert_array_equal(evaluate(graph, reading, images), scores.astype(np.float64))
    cmp = compare(graph, reading, conv, images)
    res = FunctionalSimulator(conv.network).run_batch(images, np.arange(len(images)))
    assert cmp.agree == int((res.predictions == scores.argmax(axis=1)).sum())
    assert cmp.max_abs_diff == float(np.abs(res.scores * conv.readout_unit - scores).max()) > 0


# ------------------------------------------------------------------ residual additions

class _Residual(torch.nn.Module):
    """conv 2->4 -> neuron s1 -> conv 4->4, plus s1 added into the second neuron's
    input (an identity residual) -> flatten -> linear 256->3 readout."""

    def __init__(self, neuron_of, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.c1, self.c2 = torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.n1, self.n2 = neuron_of(1.0), neuron_of(2.0)
        self.flat, self.fc = torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3)
        with torch.no_grad():
            self.c1.weight.copy_(_binary(rng, (4, 2, 3, 3), [0.5] * 4))
            self.c1.bias.copy_(torch.tensor(rng.integers(-2, 3, 4) * 0.5, dtype=torch.float32))
            self.c2.weight.copy_(_binary(rng, (4, 4, 3, 3), rng.choice([0.5, 1.0], 4)))
            self.fc.weight.copy_(_binary(rng, (3, 256), [1.0] * 3))
            self.fc.bias.zero_()

    def forward(self, x):
        s1 = self.n1(self.c1(x))
        return self.fc(self.flat(self.n2(self.c2(s1) + s1)))


def test_spikingjelly_residual_addition_is_exact(tmp_path):
    """SpikingJelly's exporter writes the addition as two edges into the second neuron;
    it becomes the file's residual (res_gain = 1 in units of that neuron's weight step)."""
    from spikingjelly.activation_based import neuron

    sj = _spikingjelly()
    net = _Residual(lambda th: neuron.IFNode(v_threshold=th), 3)
    graph = sj.export_to_nir(net, torch.zeros((1,) + SHAPE))
    conv = nx.import_graph(_reread(graph, tmp_path), Reading(1, ENC, fire=Fire.GE))
    c2 = conv.network.node("c2")
    assert conv.exact and c2.residual == "c1"
    np.testing.assert_array_equal(c2.res_gain, 2 ** c2.frac_bits / (np.abs(net.c2.weight.detach().numpy())
                                                                    .reshape(4, -1)[:, 0]))
    images = _images(30)
    scores, preds = _sj_eval(net, images, 1)
    res = FunctionalSimulator(conv.network).run_batch(images, np.arange(len(images)))
    _assert_exact(conv, res, scores, preds)


def test_snntorch_exporter_cannot_express_a_residual_addition():
    """snnTorch 1.0.0's exporter (nirtorch's hook tracer) writes the addition as a second
    Input node feeding the neuron and an edge from the convolution to the Output: the
    graph no longer says what the network computes, and the import says why it stops."""
    from snntorch.export_nir import export_to_nir

    def leaky(th):
        return snn.Leaky(beta=torch.ones(4, 8, 8), threshold=torch.full((4, 8, 8), th), init_hidden=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(_Residual(leaky, 3), torch.zeros((1,) + SHAPE), ignore_dims=[0])
    assert sorted(k for k, n in graph.nodes.items() if type(n).__name__ == "Input") == ["input", "input_n2"]
    with pytest.raises(InteropError, match=r"the graph has 2 Input nodes \(.*input_n2.*\); bsnn-sim needs exactly one"):
        nx.import_graph(graph, Reading(4, ENC, reset=Reset.SUBTRACT))


def _reread(graph, tmp_path):
    nx.write_graph(graph, tmp_path / "g.nir")
    return nx.read_graph(tmp_path / "g.nir")
