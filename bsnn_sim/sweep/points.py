"""Sweep points: their keys, what a worker computes for one, and the on-disk store.

A point's key is the SHA-256 (first 20 hex digits) of the canonical JSON of: the tool
version, the run identity (workload name, weight-file SHA-256, dataset, split, images,
timing images, pipelined, analog options) and the resolved architecture config (every key, as
validated), or, for a point the validator refuses, the base config plus its overrides.
Two points with the same key compute the same numbers, so a finished key is never
recomputed.

The store is ``DIR/points/<key>.json``, one file per point, written atomically by the
process that collects results as soon as a point finishes. A point's ``status``:
``ok``; ``invalid`` (the config validator or the mapping said no, or the pipeline
raised a user-level error: ``reason`` is its one-line message); ``failed`` (the point
raised anything else or killed its worker: ``reason`` names it). ``ok`` and
``invalid`` points are finished; a rerun retries ``failed`` ones.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..report import canonical_json, tool_version, write_json

FINISHED = ("ok", "invalid")
WALL_KEYS = ("wall_s", "wall_s_per_image", "seconds", "images_per_s")  # host timings: not results


@dataclass
class Context:
    """What every point of a sweep shares (sent once to each worker)."""

    inputs: object  # pipeline.Inputs
    functional: dict = field(default_factory=dict)  # pipeline.functional_key(arch) -> ideal functional result
    analog: object | None = None  # pipeline.AnalogOptions when the analog path is on
    timing_images: int | None = None
    pipelined: bool = False
    chips: int = 0  # Monte Carlo chips per point (analog path only)


@dataclass(frozen=True)
class Task:
    index: int
    key: str
    overrides: dict
    arch: object  # arch.ArchConfig, already validated and mapped


def point_key(identity: dict, config: dict) -> str:
    blob = canonical_json({"tool_version": tool_version(), "identity": identity, "config": config})
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _strip_wall(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in WALL_KEYS}


def metrics_of(result) -> dict:
    """The flat per-point metrics of a :class:`~bsnn_sim.pipeline.RunResult` (the columns
    of ``results.csv``): accuracy, latency, energy, efficiency, area."""
    m = {"accuracy": result.accuracy, "correct": result.correct, "images": int(len(result.functional.labels))}
    if result.hardware is not None:
        s = result.hardware.summary()
        m.update({
            "timed_images": s["images"], "latency_ns": s["latency_mean_ns"], "latency_p50_ns": s["latency_p50_ns"],
            "latency_p99_ns": s["latency_p99_ns"], "total_cycles": s["total_cycles"],
            "throughput_ips": s["throughput_ips"], "energy_per_inference_pj": s["energy_per_inference_pj"],
            "energy_per_inference_nj": s["energy_per_inference_pj"] / 1e3, "tops_per_w": s["tops_per_w"],
            "tops_per_w_sensed": s["tops_per_w_sensed"], "tops_per_w_row_sensing": s["tops_per_w_row_sensing"],
            "area_mm2": s["area_mm2"], "tops_per_mm2": s["tops_per_mm2"], "subarrays_used": s["subarrays_used"],
            "cell_utilization": s["cell_utilization"],
            "sense_margin_worst": min((v["verdict"] for v in result.margins.values()), default="",
                                      key=("gone", "marginal", "ok").index) if result.margins else "",
        })
    if result.sensing_errors:
        conv = sum(e["conversions"] for e in result.sensing_errors.values())
        wrong = sum(e["error_rate"] * e["conversions"] for e in result.sensing_errors.values())
        m["sensing_error_rate"] = wrong / conv if conv else 0.0
    return m


def evaluate_point(context: Context, task: Task) -> dict:
    """The default point function: the pipeline on ``task.arch``, reusing the shared
    ideal functional pass of its :func:`~bsnn_sim.pipeline.functional_key` (none with
    the analog path)."""
    from .. import pipeline

    functional = None if context.analog else context.functional.get(pipeline.functional_key(task.arch))
    res = pipeline.evaluate_prepared(context.inputs, task.arch, context.analog, context.timing_images,
                                     context.pipelined, functional=functional)
    out = {"metrics": metrics_of(res), "hardware": _strip_wall(res.hardware_summary())}
    if res.sensing_errors is not None:
        out["sensing_errors"] = res.sensing_errors
    if context.analog:
        out["predictions"] = [int(p) for p in res.predictions]  # the analog chip's own, image by image
    if context.analog and context.chips:
        out["monte_carlo"] = monte_carlo_of(context, task)
        out["metrics"].update(mc_metrics(out["monte_carlo"]))
    return out


def monte_carlo_of(context: Context, task: Task) -> dict:
    """``context.chips`` sampled chips of the point's architecture (seeds as in ``run --mc``:
    chip c of seed s is the same chip at every point), run one after another in this worker."""
    from .. import pipeline
    from ..analog import montecarlo

    _, outcomes = pipeline.monte_carlo(context.inputs, task.arch, context.chips, context.analog.seed,
                                       calibrate=context.analog.calibrate_images > 0, workers=1)
    return montecarlo.summarize(outcomes)


def mc_metrics(summary: dict) -> dict:
    """Flat Monte Carlo columns of ``results.csv``."""
    a, e = summary["accuracy"], summary["dynamic_energy_per_inference_pj"]
    m = {"mc_chips": summary["chips"], "mc_accuracy_mean": a["mean"], "mc_accuracy_std": a["std"],
         "mc_accuracy_ci95_lo": a["ci95"][0], "mc_accuracy_ci95_hi": a["ci95"][1],
         "mc_accuracy_worst": summary["worst_chip"]["accuracy"], "mc_dynamic_energy_pj_mean": e["mean"],
         "mc_dynamic_energy_pj_std": e["std"]}
    if "uncalibrated_accuracy" in summary:
        m["mc_uncalibrated_accuracy_mean"] = summary["uncalibrated_accuracy"]["mean"]
    return m


def run_task(point_fn, context: Context, task: Task) -> dict:
    """Run one point, turning its outcome into a record (never raises for the point's
    own errors: a user-level error makes it ``invalid``, anything else ``failed``)."""
    from ..errors import BsnnError

    t0 = time.perf_counter()
    try:
        out = {"status": "ok", "reason": "", **point_fn(context, task)}
    except BsnnError as exc:
        out = {"status": "invalid", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001  (a bug in one point must not stop the sweep; recorded with its traceback)
        out = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    out["wall_s"] = time.perf_counter() - t0
    return out


class Store:
    """``DIR/points/<key>.json``: one atomically written record per point."""

    def __init__(self, out_dir):
        self.dir = Path(out_dir) / "points"

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def load(self, key: str) -> dict | None:
        p = self.path(key)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # unreadable: recompute

    def save(self, record: dict) -> Path:
        return write_json(self.path(record["key"]), record)
