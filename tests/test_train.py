"""Trainer: it learns, exports a valid file, and its integer evaluation agrees with the
simulator on every test image; it resumes from a checkpoint; recipes are selectable."""

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bsnn_sim import datasets, weightfile  # noqa: E402
from bsnn_sim.functional import FunctionalSimulator  # noqa: E402
from bsnn_sim.train.inteval import integer_predict  # noqa: E402
from bsnn_sim.train.trainer import train  # noqa: E402
from bsnn_sim.workload import load_workload  # noqa: E402
from synthdata import write_cifar10, write_mnist  # noqa: E402

SMALL = """
name = "small"
dataset = "{dataset}"
[network]
time_steps = 3
encoding = "{encoding}"
frac_bits = 4
[[network.layers]]
op = "conv2d"
channels = 8
kernel = 3
stride = 2
padding = 1
precision = "int8"
[[network.layers]]
op = "resblock"
[[network.layers]]
op = "maxpool2d"
kernel = 2
[[network.layers]]
op = "flatten"
[[network.layers]]
op = "linear"
features = 40
[[network.layers]]
op = "linear"
features = 10
precision = "{readout}"
[train]
epochs = {epochs}
batch_size = 32
lr = 0.01
surrogate = "{surrogate}"
seed = 3
threads = 1
augment = "{augment}"
"""


MLP = """
name = "mlp"
dataset = "mnist"
[network]
time_steps = 3
encoding = "{encoding}"
[[network.layers]]
op = "flatten"
[[network.layers]]
op = "linear"
features = 48
precision = "int8"
[[network.layers]]
op = "linear"
features = 32
[[network.layers]]
op = "linear"
features = 10
precision = "int8"
[train]
epochs = 3
batch_size = 32
lr = 0.01
seed = 2
threads = 1
"""


@pytest.mark.parametrize("encoding", ["direct", "threshold"])
def test_mlp_first_layer_behind_flatten_reproduces_float_spikes(tmp_path, encoding):
    """A first layer behind a Flatten still sees pixels (unit 1/255) or spikes: its
    integer spikes equal the float model's but for rare threshold-rounding ties."""
    from bsnn_sim.train.export import export_network
    from bsnn_sim.train.inteval import integer_forward
    from bsnn_sim.train.model import BSNN
    from bsnn_sim.train.trainer import encode_batch

    root = write_mnist(tmp_path / "data", n_train=64, n_test=64)
    p = tmp_path / "mlp.toml"
    p.write_text(MLP.format(encoding=encoding))
    wl = load_workload(p)
    torch.manual_seed(0)
    model = BSNN(wl, (1, 28, 28))
    data = datasets.load("mnist", "test", root)
    xb = encode_batch(torch.from_numpy(data.images.copy()), wl)
    model.train()
    for _ in range(3):
        model(xb)
    model.eval()
    with torch.no_grad():
        model.layers[1].bn.bias.copy_(torch.linspace(-0.5, 1.0, 48))
    _, spikes = integer_forward(export_network(model, wl, (1, 28, 28)), data.images, np.arange(64))
    with torch.no_grad():
        want = model.layers[1](model.layers[0](xb))
    assert want.mean() > 0.01
    assert (spikes["fc1"].float() == want).float().mean() > 0.995


def workload(tmp_path, dataset="mnist", encoding="direct", readout="int8", epochs=3, surrogate="arctan",
             augment="none"):
    p = tmp_path / "small.toml"
    p.write_text(SMALL.format(dataset=dataset, encoding=encoding, readout=readout, epochs=epochs,
                              surrogate=surrogate, augment=augment))
    return load_workload(p)


def agree_on_every_test_image(net, data):
    idx = np.arange(len(data.labels))
    ref_pred, ref_scores = integer_predict(net, data.images, idx)
    res = FunctionalSimulator(net).run(data.images, data.labels, batch_size=64)
    np.testing.assert_array_equal(res.scores, ref_scores)
    np.testing.assert_array_equal(res.predictions, ref_pred)
    return res


@pytest.mark.parametrize("encoding,readout,surrogate", [("direct", "int8", "arctan"),
                                                        ("rate", "binary", "triangle"),
                                                        ("threshold", "int8", "triangle")])
def test_trained_export_matches_simulator_on_every_test_image(tmp_path, encoding, readout, surrogate):
    root = write_mnist(tmp_path / "data")
    wl = workload(tmp_path, encoding=encoding, readout=readout, surrogate=surrogate)
    logs = []
    out = tmp_path / "small.bsnn.npz"
    result = train(wl, out, root, log=logs.append)
    assert sum(line.startswith("epoch ") for line in logs) == 3
    net = weightfile.load(out)
    data = datasets.load("mnist", "test", root)
    res = agree_on_every_test_image(net, data)
    assert res.accuracy == pytest.approx(result.integer_accuracy)
    assert res.accuracy > 0.5  # well above chance (0.1) on the learnable synthetic digits
    assert net.metadata["integer_test_accuracy"] == pytest.approx(res.accuracy)


@pytest.mark.parametrize("flip", [False, True])
def test_batch_norm_folding_reproduces_float_spikes(tmp_path, flip):
    """Integer spikes of every hidden layer equal the float model's, also where gamma < 0
    (folded by negating that neuron's weights); only exact threshold ties may differ."""
    from bsnn_sim.train.export import export_network
    from bsnn_sim.train.inteval import integer_forward
    from bsnn_sim.train.model import BSNN

    root = write_mnist(tmp_path / "data", n_train=64, n_test=64)
    wl = workload(tmp_path)
    torch.manual_seed(0)
    model = BSNN(wl, (1, 28, 28))
    data = datasets.load("mnist", "test", root)
    xb = torch.from_numpy(data.images.astype(np.float32) / 255).unsqueeze(0)
    model.train()
    for _ in range(3):  # populate batch-norm running statistics
        model(xb)
    model.eval()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d)]
    with torch.no_grad():
        for m in bns:
            m.bias.copy_(torch.linspace(-0.5, 0.5, m.num_features))
            if flip:
                m.weight.mul_(torch.where(torch.arange(m.num_features) % 2 == 0, -1.0, 1.0))
    assert flip == any((m.weight < 0).any() for m in bns)
    net = export_network(model, wl, (1, 28, 28))
    _, spikes = integer_forward(net, data.images, np.arange(64))
    with torch.no_grad():
        float_spikes = model.layers[0](xb)  # first hidden layer, (T, B, C, H, W)
        block = model.layers[1]
        s1 = block.conv1(float_spikes)
    # conv1 sees identical inputs in both: only threshold rounding to the 2**-4 grid may
    # flip a spike. block1.conv1 also inherits conv1's rare flips. A wrong sign in the
    # folding would disagree on about half of the flipped neurons (~25 % of all spikes).
    for name, want, agree in (("conv1", float_spikes, 0.995), ("block1.conv1", s1, 0.97)):
        got = spikes[name].float()
        assert got.shape == want.shape
        assert (got == want).float().mean() > agree, name
        assert want.mean() > 0.01  # the layer fires at all


def test_resume_continues_from_checkpoint(tmp_path):
    root = write_mnist(tmp_path / "data", n_train=96, n_test=32)
    out = tmp_path / "r.bsnn.npz"
    logs = []
    train(workload(tmp_path, epochs=2), out, root, epochs=1, log=logs.append)
    train(workload(tmp_path, epochs=2), out, root, resume=True, log=logs.append)
    assert any(line.startswith("resumed from") for line in logs)
    assert [line.split()[1] for line in logs if line.startswith("epoch ")] == ["1/1", "2/2"]


@pytest.mark.torch
@pytest.mark.parametrize("blob", [b"", b"not a checkpoint", b"PK\x03\x04" + bytes(100)])
def test_resume_from_a_broken_checkpoint_is_one_error_naming_it(tmp_path, blob):
    from bsnn_sim.errors import BsnnError

    root = write_mnist(tmp_path / "data", n_train=16, n_test=8)
    out = tmp_path / "r.bsnn.npz"
    ckpt = tmp_path / "r.bsnn.npz.ckpt.pt"
    ckpt.write_bytes(blob)
    with pytest.raises(BsnnError, match=re.escape(str(ckpt)) + ".*cannot resume"):
        train(workload(tmp_path, epochs=1), out, root, resume=True, log=lambda s: None)
    assert not out.exists()


def test_cifar10_recipe_trains_on_a_tiny_synthetic_batch(tmp_path):
    root = write_cifar10(tmp_path / "data")
    wl = load_workload("workloads/cifar10_resnet.toml")
    assert wl.dataset == "cifar10" and wl.train.augment == "crop_flip"
    out = tmp_path / "c.bsnn.npz"
    train(wl, out, root, epochs=1, log=lambda s: None)
    net = weightfile.load(out)
    assert net.input_shape == (3, 32, 32)
    agree_on_every_test_image(net, datasets.load("cifar10", "test", root))
