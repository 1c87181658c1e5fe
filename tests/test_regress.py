"""bsnn-sim regress: golden cases re-run through the pipeline; a moved count or float is
reported and exits 1; --update rewrites the golden; the comparison rules themselves."""

import json
import shutil
from pathlib import Path

from bsnn_sim import regress
from netfactory import cli_workspace
from test_cli import invoke

ROOT = Path(__file__).resolve().parents[1]


def make_root(tmp_path, monkeypatch):
    """A repository-shaped root: one workload, one config, its golden (20 images)."""
    (tmp_path / "workloads").mkdir()
    (tmp_path / "arch_configs").mkdir()
    _, _, data = cli_workspace(tmp_path / "workloads", monkeypatch, n_test=30)
    shutil.copy(ROOT / "arch_configs" / "stt_bsnn_65nm.toml", tmp_path / "arch_configs")
    goldens = tmp_path / "tests" / "goldens"
    goldens.mkdir(parents=True)
    golden = regress.run_case(tmp_path, "cli_small", "stt_bsnn_65nm", 20, data)
    path = goldens / "cli_small__stt_bsnn_65nm.json"
    regress.write_golden(path, golden)
    return tmp_path, data, path


def test_regress_passes_then_fails_on_a_moved_metric_then_update_fixes_it(tmp_path, monkeypatch):
    root, data, path = make_root(tmp_path, monkeypatch)
    ok = invoke("regress", "--root", root, "--data-dir", data)
    assert ok.exit_code == 0, ok.output
    assert "1 unchanged, 0 moved" in ok.output

    golden = json.loads(path.read_text())
    golden["action_totals"]["sense_array"] += 1  # a count: exact
    golden["energy_per_inference_pj"] *= 1.001  # a float: 1e-3 relative
    regress.write_golden(path, golden)
    bad = invoke("regress", "--root", root, "--data-dir", data)
    assert bad.exit_code == 1, bad.output
    assert "action_totals.sense_array" in bad.output and "energy_per_inference_pj" in bad.output
    assert "0 unchanged, 1 moved" in bad.output

    loose = invoke("regress", "--root", root, "--data-dir", data, "--rtol", "0.01")
    assert loose.exit_code == 1 and "energy_per_inference_pj" not in loose.output  # the count still moved

    upd = invoke("regress", "--root", root, "--data-dir", data, "--update")
    assert upd.exit_code == 0 and f"updated {path}" in upd.output
    assert invoke("regress", "--root", root, "--data-dir", data).exit_code == 0


def test_compare_rules():
    golden = {"n": 3, "x": 1.0, "t": {"a": 2}, "predictions": "1 2 3", "gone": 1}
    same = {"n": 3, "x": 1.0 + 1e-12, "t": {"a": 2}, "predictions": "1 2 3", "gone": 1}
    assert regress.compare(golden, same) == []
    moved = {"n": 4, "x": 1.1, "t": {"a": 2, "b": 1}, "predictions": "1 0 3"}
    changes = {c.metric: c.note for c in regress.compare(golden, moved)}
    assert changes["n"] == "exact" and changes["x"].startswith("relative 9.09e-02")
    assert changes["t.b"] == "added" and changes["gone"] == "removed"
    assert changes["predictions"] == "1 of 3 images changed"


def test_missing_goldens_dir_is_a_one_line_error(tmp_path):
    result = invoke("regress", "--root", tmp_path, "--goldens", tmp_path)
    assert result.exit_code == 2 and "no golden *.json files" in result.output
