"""bsnn-sim plot: PNG and SVG from a sweep's results.csv; the Pareto front; errors."""

import pytest

from bsnn_sim.plot import pareto_front
from test_cli import invoke

CSV = """index,key,status,reason,subarray.rows,energy_per_inference_nj,latency_ns,accuracy
0,a,ok,,1,1.0,5.0,0.9
1,b,ok,,1,2.0,3.0,0.95
2,c,ok,,32,3.0,4.0,0.97
3,d,invalid,too big,32,,,
4,e,ok,,32,4.0,1.0,0.99
"""


def test_pareto_front_minimise_and_maximise():
    xs, ys = [1.0, 2.0, 3.0, 4.0], [5.0, 3.0, 4.0, 1.0]
    assert pareto_front(xs, ys, ("min", "min")) == [0, 1, 3]  # (3, 4) is beaten by (2, 3)
    assert pareto_front(xs, ys, ("min", "max")) == [0]  # lowest x also has the highest y
    assert pareto_front(xs, ys, ("max", "max")) == [0, 2, 3]  # (2, 3) is beaten by (3, 4)


def test_plot_writes_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "results.csv").write_text(CSV)
    result = invoke("plot", tmp_path, "--x", "energy_per_inference_nj", "--y", "latency_ns", "--color", "accuracy",
                    "--pareto", "min-min")
    assert result.exit_code == 0, result.output
    stem = tmp_path / "latency_ns_vs_energy_per_inference_nj"
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and svg.read_text().lstrip().startswith("<?xml")
    cat = invoke("plot", tmp_path, "--x", "energy_per_inference_nj", "--y", "latency_ns", "--color", "subarray.rows",
                 "--out", tmp_path / "p" / "by_rows")
    assert cat.exit_code == 0 and (tmp_path / "p" / "by_rows.svg").exists()


def test_plot_errors_name_the_column_or_the_missing_file(tmp_path):
    pytest.importorskip("matplotlib")
    missing = invoke("plot", tmp_path, "--x", "a", "--y", "b")
    assert missing.exit_code == 2 and "results.csv: not found" in missing.output
    (tmp_path / "results.csv").write_text(CSV)
    bad = invoke("plot", tmp_path, "--x", "energy_per_inference_nj", "--y", "nope")
    assert bad.exit_code == 2 and "no column 'nope'" in bad.output


def test_run_directory_gets_energy_by_action_and_by_layer(tmp_path):
    pytest.importorskip("matplotlib")
    import json

    hw = {"energy_per_inference_pj": 3000.0,
          "energy_breakdown_pj": {"sense_array": 1000.0, "convert": 500.0, "neuron_fire": 0.0, "total": 3000.0},
          "energy_by_layer_pj": {"conv1": 2000.0, "fc": 1000.0, "total": 3000.0}}
    (tmp_path / "results.json").write_text(json.dumps({"images": 4, "hardware": hw}))
    result = invoke("plot", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "energy.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "energy.svg").exists()
    (tmp_path / "results.json").write_text(json.dumps({"images": 4}))
    bare = invoke("plot", tmp_path)
    assert bare.exit_code == 2 and "no hardware figures" in bare.output


def test_a_sweep_plot_needs_x_and_y(tmp_path):
    (tmp_path / "results.csv").write_text(CSV)
    result = invoke("plot", tmp_path, "--x", "latency_ns")
    assert result.exit_code == 2 and "needs --x and --y" in result.output
