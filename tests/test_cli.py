"""The command line, through click's CliRunner: results, files, and one-line errors
with exit code 2 for every kind of bad input."""

import json
import tomllib
import zipfile

import pytest
from click.testing import CliRunner

from bsnn_sim.cli import cli
from netfactory import MNIST_WORKLOAD, cli_workspace

WORKLOAD = MNIST_WORKLOAD


@pytest.fixture
def setup(tmp_path, monkeypatch):
    return cli_workspace(tmp_path, monkeypatch, n_test=60)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    # progress lines may come first; the error is the last line, and a single one
    assert lines[-1].startswith("Error: ") and sum(x.startswith("Error") for x in lines) == 1, result.output
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[-1], (f, lines[-1])


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for cmd in ("run", "train", "inspect", "map", "data"):
        assert cmd in result.output


def test_run_prints_accuracy_and_writes_json(setup):
    tmp, wl, data = setup
    out = tmp / "r.json"
    result = invoke("run", wl, "--data-dir", data, "--json", out)
    assert result.exit_code == 0, result.output
    assert "cli_small: accuracy" in result.output and "60 mnist test images" in result.output
    report = json.loads(out.read_text())
    assert report["images"] == 60 and 0 <= report["accuracy"] <= 1
    assert set(report["firing_rate"]) >= {"conv1", "conv2", "pool"}


def test_run_with_arch_writes_results_csv_and_resolved_config(setup):
    tmp, wl, data = setup
    out = tmp / "hw"
    result = invoke("run", wl, "--data-dir", data, "--arch", "arch_configs/stt_bsnn_65nm.toml", "--out", out)
    assert result.exit_code == 0, result.output
    for word in ("latency", "energy per inference", "TOPS/W", "mm2"):
        assert word in result.output
    report = json.loads((out / "results.json").read_text())
    hw = report["hardware"]
    assert hw["images"] == 60 and hw["latency_p99_cycles"] >= hw["latency_p50_cycles"] > 0
    assert hw["energy_per_inference_pj"] == pytest.approx(sum(v for k, v in hw["energy_breakdown_pj"].items()
                                                              if k != "total"))
    rows = (out / "layers.csv").read_text().splitlines()
    assert rows[0].startswith("layer,") and len(rows) == 1 + 3  # conv1, conv2, readout
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["subarray"]["columns"] == 288


def test_map_prints_the_placement(setup):
    tmp, wl, _ = setup
    result = invoke("map", wl, "--arch", "arch_configs/stt_bsnn_65nm.toml", "--csv", tmp / "m.csv")
    assert result.exit_code == 0, result.output
    assert "conv2" in result.output and "in_memory" in result.output and "subarrays" in result.output
    assert (tmp / "m.csv").read_text().startswith("layer,kind,fan_in")


def test_inspect_describes_layers_and_encoding(setup):
    tmp, _, _ = setup
    result = invoke("inspect", tmp / "cli_small.bsnn.npz")
    assert result.exit_code == 0, result.output
    for word in ("conv1", "conv2", "readout", "direct", "binary", "int8"):
        assert word in result.output
    as_json = json.loads(invoke("inspect", tmp / "cli_small.bsnn.npz", "--json").output)
    assert as_json["time_steps"] == 2


def test_malformed_toml(setup):
    tmp, wl, data = setup
    wl.write_text("name = \n")
    assert_user_error(invoke("run", wl, "--data-dir", data), str(wl), "malformed TOML")


def test_unknown_workload_key(setup):
    tmp, wl, data = setup
    wl.write_text(WORKLOAD.replace("time_steps = 2", "time_steps = 2\ntimesteps = 3"))
    assert_user_error(invoke("run", wl, "--data-dir", data), "network.timesteps", "unknown key")


def test_truncated_weight_file(setup):
    tmp, wl, data = setup
    path = tmp / "cli_small.bsnn.npz"
    path.write_bytes(path.read_bytes()[:300])
    assert_user_error(invoke("run", wl, "--data-dir", data), "cli_small.bsnn.npz")


def test_tampered_weight_file(setup):
    tmp, wl, data = setup
    path = tmp / "cli_small.bsnn.npz"
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    blob = bytearray(members["conv2.bias.npy"])
    blob[-1] ^= 0x01
    members["conv2.bias.npy"] = bytes(blob)
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    assert_user_error(invoke("run", wl, "--data-dir", data), "checksum")


def test_missing_dataset(setup):
    tmp, wl, _ = setup
    # the vendored copy holds only the MNIST test split (a fashion_mnist workload would not
    # match these MNIST weights: tests/test_bad_inputs.py)
    assert_user_error(invoke("run", wl, "--data-dir", tmp / "nowhere", "--split", "train"), "not found",
                      "bsnn-sim data fetch")


def test_missing_weight_file_says_how_to_train_it(setup):
    tmp, wl, data = setup
    (tmp / "cli_small.bsnn.npz").unlink()
    assert_user_error(invoke("run", wl, "--data-dir", data), "weight file not found", "bsnn-sim train")


def test_bad_arch_config(setup):
    tmp, wl, data = setup
    bad = tmp / "bad.toml"
    bad.write_text("[subarray]\ncolumns = 288\nrow = 4\n")
    assert_user_error(invoke("run", wl, "--data-dir", data, "--arch", bad), "subarray.row", "unknown key")


def test_unmappable_network(setup):
    tmp, wl, _ = setup
    small = tmp / "small_chip.toml"
    small.write_text("[chip]\nsubarrays = 3\n")  # conv2 needs 8 subarrays of 1x288
    assert_user_error(invoke("map", wl, "--arch", small), "conv2")


def test_data_where_lists_search_order(setup, monkeypatch):
    tmp, _, data = setup
    monkeypatch.setenv("BSNN_DATA_DIR", str(tmp / "env"))
    lines = invoke("data", "where", "--data-dir", data).output.splitlines()
    assert lines[0] == str(data) and lines[1] == str(tmp / "env")


def test_data_fetch_rejects_a_bad_checksum(setup):
    tmp, _, data = setup
    result = invoke("data", "fetch", "mnist", "--data-dir", tmp / "fetched", "--base-url",
                    (data / "mnist").as_uri() + "/")
    assert_user_error(result, "SHA-256")
    assert not any((tmp / "fetched").rglob("*.gz"))


def test_energy_prints_the_calibration():
    result = invoke("energy", "--arch", "arch_configs/stt_bsnn_65nm.toml")
    assert result.exit_code == 0, result.output
    assert "TOPS/W" in result.output and "176.6" in result.output and "sense_array" in result.output
