"""Batch regression: every golden report under ``tests/goldens/`` re-run and compared.

A golden is a JSON file ``<workload>__<arch>.json`` holding the workload name, the
architecture config name, the number of test images (the split's first ``images``)
and the metrics of that run (:func:`record`): per-image predictions, correct count,
cycles, latency, energy by action, action counts, ops, TOPS/W, area, subarrays. The
workload is ``<root>/workloads/<workload>.toml``, the config
``<root>/arch_configs/<arch>.toml``.

Comparison (:func:`compare`), metric by metric: integers, strings and booleans must be
equal (counts are exact); floats must agree to a relative tolerance ``rtol``
(default 1e-9: the pipeline is deterministic, so only a change of the model moves them);
predictions must be equal image by image. Nested tables are compared key by key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

KEEP = ("total_cycles", "latency_mean_cycles", "latency_p50_cycles", "latency_p99_cycles", "throughput_ips",
        "energy_per_inference_pj", "ops_dense_per_inference", "ops_sensed_per_inference", "tops_per_w",
        "tops_per_w_sensed", "area_mm2", "tops_per_mm2", "subarrays_used")
RTOL = 1e-9


def record(result, workload: str, arch: str) -> dict:
    """The golden metrics of a :class:`~bsnn_sim.pipeline.RunResult` with hardware."""
    s = result.hardware.summary()
    return {"workload": workload, "arch": arch, "images": int(len(result.functional.labels)),
            "correct": result.correct, "predictions": " ".join(str(int(p)) for p in result.predictions),
            **{k: s[k] for k in KEEP}, "energy_breakdown_pj": s["energy_breakdown_pj"],
            "action_totals": dict(result.hardware.timing.action_totals)}


def run_case(root, workload: str, arch: str, images: int, data_dir=None) -> dict:
    """Simulate one golden case through the pipeline and return its :func:`record`."""
    from . import pipeline
    from .arch import load_arch

    root = Path(root)
    cfg = load_arch(root / "arch_configs" / f"{arch}.toml")
    res = pipeline.evaluate(root / "workloads" / f"{workload}.toml", data=pipeline.DataOptions(limit=images,
                                                                                               data_dir=data_dir),
                            arch=cfg)
    return json.loads(json.dumps(record(res, workload, arch)))  # plain JSON types, as read back from a file


@dataclass(frozen=True)
class Change:
    """One metric that moved: where, the golden and the new value, and how."""

    metric: str
    golden: object
    now: object
    note: str  # "count", "relative 1.2e-03", "3 of 200 images", "added", "removed", ...


def _differ(a: float, b: float, rtol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return not (math.isnan(a) and math.isnan(b))
    return abs(a - b) > rtol * max(abs(a), abs(b))


def compare(golden: dict, now: dict, rtol: float = RTOL, prefix: str = "") -> list[Change]:
    """Every metric of ``now`` that differs from ``golden`` (module docstring)."""
    changes = []
    for key in sorted(set(golden) | set(now)):
        name = prefix + key
        if key not in now:
            changes.append(Change(name, golden[key], None, "removed"))
            continue
        if key not in golden:
            changes.append(Change(name, None, now[key], "added"))
            continue
        a, b = golden[key], now[key]
        if isinstance(a, dict) and isinstance(b, dict):
            changes += compare(a, b, rtol, name + ".")
        elif key == "predictions" and isinstance(a, str) and isinstance(b, str):
            pa, pb = a.split(), b.split()
            moved = sum(x != y for x, y in zip(pa, pb)) + abs(len(pa) - len(pb))
            if moved:
                changes.append(Change(name, f"{len(pa)} images", f"{len(pb)} images",
                                      f"{moved} of {max(len(pa), len(pb))} images changed"))
        elif isinstance(a, float) or isinstance(b, float):
            if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or _differ(a, b, rtol):
                rel = (abs(b - a) / max(abs(a), abs(b))) if isinstance(a, (int, float)) and isinstance(
                    b, (int, float)) and max(abs(a), abs(b)) > 0 else float("nan")
                changes.append(Change(name, a, b, f"relative {rel:.2e} > {rtol:g}"))
        elif a != b or type(a) is not type(b):
            changes.append(Change(name, a, b, "exact"))
    return changes


@dataclass
class CaseResult:
    path: Path
    golden: dict
    now: dict | None
    changes: list[Change]
    error: str | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def moved(self) -> bool:
        return bool(self.changes) or self.error is not None


def golden_files(goldens_dir) -> list[Path]:
    files = sorted(Path(goldens_dir).glob("*.json"))
    if not files:
        raise ConfigError(f"{goldens_dir}: no golden *.json files")
    return files


def read_golden(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable golden ({exc})") from None
    for key, kind in (("workload", str), ("arch", str), ("images", int)):
        if not isinstance(data.get(key), kind):
            raise ConfigError(f"{path}: {key} = {data.get(key)!r}: expected {kind.__name__}")
    return data


def run_all(root, goldens_dir, rtol: float = RTOL, data_dir=None, progress=None) -> list[CaseResult]:
    """Re-run every golden case; a case that cannot run is a result with its error."""
    from .errors import BsnnError

    out = []
    for path in golden_files(goldens_dir):
        want = read_golden(path)
        if progress:
            progress(path.stem)
        try:
            now = run_case(root, want["workload"], want["arch"], want["images"], data_dir)
        except BsnnError as exc:
            out.append(CaseResult(path, want, None, [], str(exc)))
            continue
        out.append(CaseResult(path, want, now, compare(want, now, rtol)))
    return out


def ungolden_workloads(root, cases: list[CaseResult]) -> list[str]:
    """Workloads in ``<root>/workloads`` that no golden covers."""
    covered = {c.golden["workload"] for c in cases}
    return sorted(p.stem for p in (Path(root) / "workloads").glob("*.toml") if p.stem not in covered)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    text = "-" if v is None else str(v)
    return text if len(text) <= 24 else text[:21] + "..."


def table(cases: list[CaseResult]) -> str:
    """What moved, one line per metric: case, metric, golden, now, how."""
    rows = [("case", "metric", "golden", "now", "change")]
    for c in cases:
        if c.error:
            rows.append((c.name, "(run)", "", "", c.error))
        for ch in c.changes:
            rows.append((c.name, ch.metric, _fmt(ch.golden), _fmt(ch.now), ch.note))
    if len(rows) == 1:
        return "no metric moved"
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows)


def write_golden(path: Path, data: dict) -> None:
    from .report import write_atomic

    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
