"""Shipped workloads: specs load, weight files match them, accuracies and hardware
reports equal the recorded goldens (exact for counts, relative for floats)."""

import json
from pathlib import Path

import numpy as np
import pytest

from bsnn_sim import datasets, weightfile
from bsnn_sim.functional import FunctionalSimulator
from bsnn_sim.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = sorted((ROOT / "tests" / "goldens").glob("*.json"))
TRAINED = ["mnist_mlp", "mnist_resnet"]


@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_resnet", "cifar10_resnet"])
def test_spec_loads(name):
    wl = load_workload(ROOT / "workloads" / f"{name}.toml")
    assert wl.name == name and wl.time_steps <= 8


@pytest.mark.parametrize("name", TRAINED)
def test_weight_file_matches_its_spec(name):
    wl = load_workload(ROOT / "workloads" / f"{name}.toml")
    net = weightfile.load(wl.weights)
    assert net.time_steps == wl.time_steps and net.encoding.kind is wl.encoding
    assert net.metadata["command"].startswith(f"bsnn-sim train workloads/{name}.toml")


def test_resnet_binary_rows_have_288_inputs():
    net = weightfile.load(ROOT / "workloads" / "mnist_resnet.bsnn.npz")
    binary = [n for n in net.compute_nodes() if n.precision.value == "binary"]
    assert len(binary) == 4 and all(n.fan_in == 288 for n in binary)


@pytest.mark.parametrize("name", TRAINED)
def test_full_test_set_accuracy_is_the_recorded_one(name):
    """The accuracy in the workload's [results] is the simulator's, on all 10,000 images."""
    wl = load_workload(ROOT / "workloads" / f"{name}.toml")
    net = weightfile.load(wl.weights)
    data = datasets.load(wl.dataset, "test")
    res = FunctionalSimulator(net).run(data.images, data.labels)
    assert len(data.labels) == 10_000
    assert int((res.predictions == res.labels).sum()) == wl.results["correct"]
    assert res.accuracy == pytest.approx(wl.results["accuracy"], abs=1e-12)
    assert res.accuracy >= {"mnist_mlp": 0.98, "mnist_resnet": 0.99}[name]


@pytest.mark.parametrize("path", GOLDENS, ids=[p.stem for p in GOLDENS])
def test_hardware_report_matches_golden(path):
    """Counts and predictions exact, floats to 1e-9 relative (bsnn_sim/regress.py)."""
    from bsnn_sim import regress

    want = json.loads(path.read_text())
    got = regress.run_case(ROOT, want["workload"], want["arch"], want["images"])
    assert regress.compare(want, got) == []
    assert got["correct"] == want["correct"] and len(got["predictions"].split()) == want["images"]
    assert np.isfinite(got["tops_per_w"]) and got["tops_per_w"] > 0
