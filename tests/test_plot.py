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
    png, svg = tmp_path / "latency_ns_vs_energy_per_inference_nj.png", tmp_path / "latency_ns_vs_energy_per_inference_nj.svg"
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
