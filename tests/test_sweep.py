"""Sweeps: spec expansion and errors; equal results for 1 and 2 workers; a rerun does no
work; invalid points recorded with their reason; a point that raises or kills its
worker recorded as failed while the rest completes; Dask LocalCluster."""

import json
import shutil
from pathlib import Path

import pytest

from bsnn_sim.errors import ConfigError
from bsnn_sim.sweep import load_spec, run_sweep
from netfactory import cli_workspace
from test_cli import invoke

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
name = "small"
[base]
workload = "cli_small.toml"
arch = "stt_bsnn_65nm.toml"
images = 12
data_dir = "data"
[grid]
"subarray.columns" = [36, 72]
"chip.subarrays" = [4096, 64, 1]     # 1: conv2 (8 rows) does not fit
[[zip]]
"subarray.v_read_v" = [0.3, 1.5]     # 1.5 V > vdd: the validator says no
"sensing.t_settle_ns" = [1.0, 1.0]
"""


@pytest.fixture
def sweep_dir(tmp_path, monkeypatch):
    cli_workspace(tmp_path, monkeypatch, n_test=20)
    shutil.copy(ROOT / "arch_configs" / "stt_bsnn_65nm.toml", tmp_path)
    (tmp_path / "small.toml").write_text(SPEC)
    return tmp_path


def results(outcome):
    """The records without host timings."""
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in outcome.records]


def test_spec_expands_grid_zip_random_in_order(tmp_path):
    (tmp_path / "s.toml").write_text("""
[base]
workload = "w.toml"
arch = "a.toml"
analog = true
chips = 2
[grid]
"subarray.rows" = [1, 2]
[[zip]]
"subarray.columns" = [72, 144]
"converter.bits" = [8, 9]
[random]
samples = 3
seed = 5
"mtj.sigma_r_rel" = { uniform = [0.0, 0.1] }
"chip.replication" = { choice = ["none", "fill"] }
""")
    spec = load_spec(tmp_path / "s.toml")
    assert spec.axes == ("subarray.rows", "subarray.columns", "converter.bits", "mtj.sigma_r_rel", "chip.replication")
    assert len(spec.points) == 2 * 2 * 3
    assert spec.points[0]["subarray.rows"] == 1 and spec.points[-1]["subarray.rows"] == 2
    assert [p["converter.bits"] for p in spec.points[:6]] == [8, 8, 8, 9, 9, 9]
    draws = [p["mtj.sigma_r_rel"] for p in spec.points[:3]]
    assert len(set(draws)) == 3 and all(0 <= d <= 0.1 for d in draws)
    assert [p["mtj.sigma_r_rel"] for p in spec.points[3:6]] == draws  # one set of samples, crossed with the rest
    assert load_spec(tmp_path / "s.toml").points == spec.points  # seeded


@pytest.mark.parametrize("body, fragment", [
    ('[grid]\n"subarray.nope" = [1]', "subarray.nope"),
    ('[grid]\n"subarray.rows" = 4', "non-empty list"),
    ('[[zip]]\n"subarray.rows" = [1, 2]\n"subarray.columns" = [1]', "equal lengths"),
    ('[random]\nsamples = 2\n"mtj.tmr_pct" = { normal = [1, 2] }', "uniform"),
    ('[grid]\n"subarray.rows" = [1]\n[[zip]]\n"subarray.rows" = [2]', "one axis only"),
    ('[grid]\n"converter.noise_sigma_mv" = [0.1, 1.0]', "base.analog = true"),
    ('[grid]\n"mtj.sigma_r_rel" = [0.0, 0.1]', "base.analog = true"),
    ("seed = -1", "base.seed = -1: expected an integer >= 0"),  # 0 allowed: not "positive"
    ("images = 0", "base.images = 0: expected an integer >= 1"),
])
def test_spec_errors_name_the_key(tmp_path, body, fragment):
    (tmp_path / "s.toml").write_text(f'[base]\nworkload = "w.toml"\narch = "a.toml"\n{body}\n')
    with pytest.raises(ConfigError, match=fragment) as err:
        load_spec(tmp_path / "s.toml")
    assert str(tmp_path / "s.toml") in str(err.value)


def test_two_workers_equal_one_and_a_rerun_does_no_work(sweep_dir):
    assert load_spec(sweep_dir / "small.toml").base.data_dir == str(sweep_dir / "data")  # the synthetic images
    one = run_sweep(sweep_dir / "small.toml", sweep_dir / "w1", workers=1)
    two = run_sweep(sweep_dir / "small.toml", sweep_dir / "w2", workers=2)
    assert len(one.records) == 12 and results(one) == results(two)
    status = [r["status"] for r in one.records]
    assert status.count("ok") == 4 and status.count("invalid") == 8 and "failed" not in status
    invalid = [r for r in one.records if r["status"] == "invalid"]
    assert all(r["reason"] and "\n" not in r["reason"] for r in invalid)  # a one-line reason each
    assert all("subarray.v_read_v = 1.5" in r["reason"] for r in invalid if r["overrides"]["subarray.v_read_v"] == 1.5)
    assert all("subarray" in r["reason"] for r in invalid if r["overrides"]["chip.subarrays"] == 1)
    ok = [r for r in one.records if r["status"] == "ok"]
    assert all(r["metrics"]["energy_per_inference_pj"] > 0 and r["metrics"]["images"] == 12 for r in ok)
    # 36 vs 72 columns: conv2's 72 synapses in two chunks or one; different sensings (energy), same predictions
    by_cols = {(r["overrides"]["subarray.columns"], r["overrides"]["chip.subarrays"]): r["metrics"] for r in ok}
    assert by_cols[36, 4096]["accuracy"] == by_cols[72, 4096]["accuracy"]
    assert by_cols[36, 4096]["energy_per_inference_pj"] != by_cols[72, 4096]["energy_per_inference_pj"]

    files = {p: p.stat().st_mtime_ns for p in (sweep_dir / "w2" / "points").iterdir()}
    again = run_sweep(sweep_dir / "small.toml", sweep_dir / "w2", workers=2)
    assert again.computed == 0 and again.skipped == 4 and results(again) == results(two)
    assert {p: p.stat().st_mtime_ns for p in (sweep_dir / "w2" / "points").iterdir() if p in files and
            json.loads(p.read_text())["status"] == "ok"} == {p: t for p, t in files.items()
                                                            if json.loads(p.read_text())["status"] == "ok"}
    rows = (sweep_dir / "w2" / "results.csv").read_text().splitlines()
    assert len(rows) == 13 and rows[0].startswith("index,key,status,reason,subarray.columns,chip.subarrays")


def test_a_crashing_point_is_recorded_and_the_rest_completes(sweep_dir):
    from sweephelpers import crash_some

    out = run_sweep(sweep_dir / "small.toml", sweep_dir / "c", workers=2, point_fn=crash_some)
    failed = {r["overrides"]["subarray.columns"]: r["reason"] for r in out.records if r["status"] == "failed"}
    assert failed[36] == "worker process died (exit code 3)"
    assert failed[72] == "RuntimeError: a bug in one point"
    assert out.count("ok") == 2 and out.count("invalid") == 8
    # a rerun retries only the failed points, which now succeed
    again = run_sweep(sweep_dir / "small.toml", sweep_dir / "c", workers=2)
    assert again.computed == 2 and again.count("ok") == 4 and again.count("failed") == 0


def test_cli_sweep_reports_counts_and_reasons(sweep_dir):
    result = invoke("sweep", sweep_dir / "small.toml", "--out", sweep_dir / "o", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "12 points: 4 ok, 8 invalid, 0 failed" in result.output and "v_read_v" in result.output
    bad = invoke("sweep", sweep_dir / "missing.toml", "--out", sweep_dir / "o")
    assert bad.exit_code == 2 and "sweep spec not found" in bad.output


def test_dask_local_cluster_gives_the_same_results(sweep_dir):
    distributed = pytest.importorskip("distributed")
    local = run_sweep(sweep_dir / "small.toml", sweep_dir / "l", workers=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        remote = run_sweep(sweep_dir / "small.toml", sweep_dir / "d", scheduler=cl.scheduler_address)
    assert results(remote) == results(local)


def test_help_lists_sweep_regress_and_plot():
    result = invoke("--help")
    assert result.exit_code == 0 and all(cmd in result.output for cmd in ("sweep", "regress", "plot"))


def test_variation_axes_need_sampled_chips_and_get_monte_carlo_columns(sweep_dir):
    spec = sweep_dir / "mc.toml"
    head = '[base]\nworkload = "cli_small.toml"\narch = "stt_bsnn_65nm.toml"\ndata_dir = "data"\nimages = 8\nanalog = true\n'
    spec.write_text(head + '[grid]\n"converter.offset_sigma_mv" = [0.0, 20.0]\n')
    with pytest.raises(ConfigError, match="base.chips"):
        load_spec(spec)
    spec.write_text(head + 'chips = 3\n[grid]\n"converter.offset_sigma_mv" = [0.0, 20.0]\n')
    out = run_sweep(spec, sweep_dir / "mc", workers=1)
    assert [r["status"] for r in out.records] == ["ok", "ok"]
    quiet, loud = (r["metrics"] for r in out.records)
    assert quiet["mc_chips"] == loud["mc_chips"] == 3
    assert len(out.records[0]["monte_carlo"]["per_chip_accuracy"]) == 3
    # the nominal chip ignores offsets; the sampled chips do not
    assert quiet["accuracy"] == loud["accuracy"]
    err = [r["monte_carlo"]["layers"]["conv2"]["mean_abs_error_mean"] for r in out.records]
    assert err[1] > 5 * max(err[0], 0.01)  # 20 mV offsets: every conversion off by counts
