"""The analog-path commands through click's CliRunner: run --analog / --mc / --calibrate,
the sense margin in every hardware report, and the variation sweep's files."""

import csv
import json

from test_cli import assert_user_error, invoke, setup  # noqa: F401  (setup is a fixture)

ARCH = "arch_configs/stt_bsnn_65nm.toml"


def test_hardware_report_prints_the_sense_margin(setup):  # noqa: F811
    tmp, wl, data = setup
    result = invoke("run", wl, "--data-dir", data, "--arch", ARCH, "--out", tmp / "o")
    assert result.exit_code == 0, result.output
    assert "sense margin" in result.output and "conv2" in result.output and "margin gone" in result.output
    margins = json.loads((tmp / "o" / "results.json").read_text())["hardware"]["sense_margin"]
    assert margins["conv2"]["verdict"] == "gone" and margins["conv2"]["sigma_counts"] > 2  # n = 72 cells


def test_run_analog_reports_sensing_errors(setup):  # noqa: F811
    tmp, wl, data = setup
    result = invoke("run", wl, "--data-dir", data, "--arch", ARCH, "--analog", "--json", tmp / "a.json")
    assert result.exit_code == 0, result.output
    assert "analog path, nominal chip" in result.output and "sensing errors" in result.output
    report = json.loads((tmp / "a.json").read_text())
    errors = report["sensing_errors"]["conv2"]
    assert errors["conversions"] > 0 and 0 < errors["error_rate"] < 1  # 0.3 mV noise against a ~0.4 mV step


def test_run_monte_carlo_reports_spread_and_is_reproducible(setup):  # noqa: F811
    tmp, wl, data = setup
    args = ("run", wl, "--data-dir", data, "--arch", ARCH, "--mc", 3, "--seed", 7, "--workers", 1, "--limit", 30)
    first = invoke(*args, "--json", tmp / "1.json")
    assert first.exit_code == 0, first.output
    assert "Monte Carlo: 3 chips" in first.output and "95 % CI" in first.output and "worst chip" in first.output
    second = invoke(*args, "--json", tmp / "2.json")
    a, b = (json.loads((tmp / n).read_text())["monte_carlo"] for n in ("1.json", "2.json"))
    assert a["per_chip"] == b["per_chip"] and len(a["per_chip"]) == 3 and second.exit_code == 0


def test_run_calibrate_reports_gain_and_cost(setup):  # noqa: F811
    tmp, wl, data = setup
    result = invoke("run", wl, "--data-dir", data, "--arch", ARCH, "--mc", 2, "--workers", 1, "--calibrate", 5,
                    "--limit", 20)
    assert result.exit_code == 0, result.output
    assert "calibration (5 images once per chip)" in result.output and "calibration cost" in result.output


def test_analog_options_need_an_architecture(setup):  # noqa: F811
    tmp, wl, data = setup
    assert_user_error(invoke("run", wl, "--data-dir", data, "--analog"), "--arch")


def test_variation_writes_csv_json_and_png(setup):  # noqa: F811
    tmp, wl, data = setup
    out = tmp / "var"
    result = invoke("variation", wl, "--arch", ARCH, "--data-dir", data, "--param", "converter.offset_sigma_mv",
                    "--values", "0,5", "--mc", 2, "--workers", 1, "--limit", 20, "--out", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out / "variation.csv")))
    assert [r["value"] for r in rows] == ["0", "5"] and rows[0]["verdict"] != "gone" and rows[1]["verdict"] == "gone"
    meta = json.loads((out / "variation.json").read_text())
    assert meta["param"] == "converter.offset_sigma_mv" and len(meta["points"][0]["summary"]["per_chip_accuracy"]) == 2
    assert (out / "variation.png").read_bytes()[:4] == b"\x89PNG"


def test_variation_rejects_a_bad_value_before_simulating(setup):  # noqa: F811
    tmp, wl, data = setup
    result = invoke("variation", wl, "--arch", ARCH, "--data-dir", data, "--param", "converter.bits",
                    "--values", "9,99", "--out", tmp / "v")
    assert_user_error(result, "converter.bits", "99")
    assert not (tmp / "v").exists()
