"""The one pipeline and its report: the same numbers as the stages wired by hand, the
shared functional pass reused across configs without changing a result, the files
written by report.write_run (per-image predictions, readout scores, provenance), and the
sweep's progress line."""

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from bsnn_sim import atomic, pipeline, report
from bsnn_sim.arch import load_arch
from bsnn_sim.errors import BsnnError, OutputError
from bsnn_sim.functional import FunctionalSimulator
from bsnn_sim.hardware import activity_of, evaluate_hardware
from bsnn_sim.sweep.run import Progress
from netfactory import cli_workspace, mnist_network

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def small(tmp_path, monkeypatch):
    _, wl, data = cli_workspace(tmp_path, monkeypatch, n_test=24)
    return wl, pipeline.DataOptions(data_dir=str(data), batch_size=10)


def test_evaluate_equals_the_stages_wired_by_hand(small):
    wl, data = small
    arch = load_arch(ROOT / "arch_configs" / "stt_bsnn_65nm.toml")
    res = pipeline.evaluate(wl, data=data, arch=arch)
    inputs = res.inputs
    ref = FunctionalSimulator(inputs.net, 288).run(inputs.images, inputs.labels, 10)
    hw = evaluate_hardware(inputs.net, activity_of(ref), arch)
    assert np.array_equal(res.predictions, ref.predictions) and np.array_equal(res.scores, ref.scores)
    got, want = res.hardware.summary(), hw.summary()
    for key in ("total_cycles", "energy_per_inference_pj", "tops_per_w", "area_mm2", "latency_p99_cycles"):
        assert got[key] == want[key], key
    assert res.hardware.timing.action_totals == hw.timing.action_totals
    assert res.margins.keys() == {"conv2"}


def test_a_shared_functional_pass_gives_the_same_result_on_another_config(small):
    """What a sweep relies on: the ideal pass made for one config serves a config with
    the same functional key that differs in every other way."""
    wl, data = small
    base = load_arch(ROOT / "arch_configs" / "stt_bsnn_65nm.toml")
    other = base.replace(**{"subarray.rows": 8, "sensing.t_settle_ns": 2.0, "chip.replication": "none",
                            "converter.bits": 7, "sensing.skip_zero_chunks": False})
    assert pipeline.functional_key(other) == pipeline.functional_key(base)
    for key, value in (("subarray.columns", 36), ("neuron.acc_bits", 8), ("digital.acc_bits", 12)):
        assert pipeline.functional_key(base.replace(**{key: value})) != pipeline.functional_key(base), key
    inputs = pipeline.prepare(wl, data=data)
    shared = pipeline.functional_pass(inputs, base)
    reused = pipeline.evaluate_prepared(inputs, other, functional=shared).hardware.summary()
    fresh = pipeline.evaluate(wl, data=data, arch=other).hardware.summary()
    for key, value in fresh.items():
        if key not in ("wall_s", "wall_s_per_image"):
            assert reused[key] == value, key


def test_write_run_files_and_provenance(small, tmp_path):
    wl, data = small
    arch = load_arch(ROOT / "arch_configs" / "stt_bsnn_65nm.toml")
    res = pipeline.evaluate(wl, data=data, arch=arch)
    written = report.write_run(res, tmp_path / "out", command="bsnn-sim run x")
    names = {p.name for p in written}
    assert names == {"results.json", "predictions.csv", "predictions.npy", "scores.npy", "labels.npy", "layers.csv",
                     "config.toml"}
    rows = list(csv.DictReader(open(tmp_path / "out" / "predictions.csv")))
    assert len(rows) == 24 and [int(r["prediction"]) for r in rows] == res.predictions.tolist()
    assert [float(r["score_3"]) for r in rows] == pytest.approx(res.scores[:, 3].tolist())
    assert np.array_equal(np.load(tmp_path / "out" / "scores.npy"), res.scores)
    prov = json.loads((tmp_path / "out" / "results.json").read_text())["provenance"]
    assert prov["weights_sha256"] == hashlib.sha256((wl.parent / "cli_small.bsnn.npz").read_bytes()).hexdigest()
    assert prov["config_sha256"] == report.config_hash(arch) and prov["command"] == "bsnn-sim run x"
    assert prov["tool_version"] == report.tool_version() and prov["seed"] is None
    assert report.config_hash(arch.replace(**{"subarray.rows": 2})) != prov["config_sha256"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporaries left


def test_progress_line_on_a_terminal_and_silence_elsewhere():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        p = Progress(3, stream)
        for status in ("ok", "failed", "invalid"):
            p.update(status)
    assert "sweep: 3/3 points, 1 failed, 1 invalid, ETA 0:00" in tty.getvalue() and tty.getvalue().endswith("\n")
    assert pipe.getvalue() == ""


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    report.write_json(path, {"a": 1})

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OutputError, match=f"{path}: cannot write \\(disk full\\)"):
        report.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1} and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_functional_key_is_what_the_functional_simulator_is_built_from(monkeypatch):
    """functional_key must list every config value hardware.functional_simulator passes on."""
    import bsnn_sim.functional as functional
    from bsnn_sim.hardware import functional_simulator

    seen = []
    monkeypatch.setattr(functional, "FunctionalSimulator", lambda net, *args, **kw: seen.append((args, kw)))
    arch = load_arch(ROOT / "arch_configs" / "stt_bsnn_65nm.toml").replace(**{"neuron.acc_bits": 12})
    functional_simulator(mnist_network(residual=False), arch)
    assert seen == [(pipeline.functional_key(arch), {})]


def test_calibrated_chips_need_prepared_calibration_images(small):
    """Both the analog path and the Monte Carlo chips refuse to calibrate on nothing
    (before any chip is simulated) instead of running uncalibrated."""
    wl, data = small
    arch = load_arch(ROOT / "arch_configs" / "stt_bsnn_65nm.toml")
    inputs = pipeline.prepare(wl, data=data)  # calibrate_images=0: none loaded
    with pytest.raises(BsnnError, match="calibration needs calibration images"):
        pipeline.monte_carlo(inputs, arch, chips=1, calibrate=True, workers=1)
    with pytest.raises(BsnnError, match="calibration needs calibration images"):
        pipeline.evaluate_prepared(inputs, arch, pipeline.AnalogOptions(calibrate_images=2))
