"""Running a sweep: resolve and key every point, skip the finished ones, do the shared
work once, run the rest on local workers or Dask, write each result as it lands.

Order of work (docs/sweeps.md):

1. Load the workload and network once; resolve every point's config (``base.replace``
   of its overrides, validated like a file) and map it. A point the validator or the
   mapper refuses is recorded ``invalid`` with the one-line reason; the sweep goes on.
2. Key every valid point (:func:`~.points.point_key`); a key with a finished record in
   ``DIR/points`` is skipped; a key that appears twice is computed once.
3. Load the images once. Without the analog path the ideal functional pass depends on
   the config only through :func:`~bsnn_sim.pipeline.functional_key` (the chunk width
   and the accumulator widths): it runs once per distinct key, here, and every point
   reuses it. With the analog path every point runs its
   own chip.
4. Run the remaining points: a local pool (:mod:`.pool`) or Dask (:mod:`.cluster`).
   Each record is written atomically as soon as it arrives.
5. Write ``results.csv`` (one row per point in spec order: index, key, status, reason,
   the swept keys, the metrics) and ``sweep.json`` (spec, counts, provenance).

Every number in a record is a deterministic function of its key, so the results are
the same for any worker count or scheduler; host timings (``wall_s``) are kept apart.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import pipeline
from ..errors import BsnnError
from ..report import git_commit, tool_version, write_csv, write_json
from .points import FINISHED, Context, Store, Task, evaluate_point, point_key
from .spec import SweepSpec, load_spec


@dataclass
class SweepOutcome:
    spec: SweepSpec
    records: list[dict]  # one per point, in spec order
    computed: int  # points run in this call
    skipped: int  # points found finished
    out_dir: Path

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)


class Progress:
    """``points done/total, failed, invalid, ETA`` on one rewritten line; silent when
    ``stream`` is not a terminal."""

    def __init__(self, total: int, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = total > 0 and self.stream.isatty()
        self.total, self.done, self.failed, self.invalid = total, 0, 0, 0
        self.t0 = time.monotonic()

    def update(self, status: str):
        self.done += 1
        self.failed += status == "failed"
        self.invalid += status == "invalid"
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.t0
        eta = int(elapsed / self.done * (self.total - self.done))
        self.stream.write(f"\rsweep: {self.done}/{self.total} points, {self.failed} failed, {self.invalid} invalid, "
                          f"ETA {eta // 60}:{eta % 60:02d} ")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def arch_dict(arch) -> dict:
    """The resolved config as keyed and stored (every key, no file path)."""
    return arch.to_dict()


def _identity(spec: SweepSpec, wl, weights_sha: str) -> dict:
    b = spec.base
    return {"workload": wl.name, "weights_sha256": weights_sha, "dataset": wl.dataset, "split": b.split,
            "images": b.images, "timing_images": b.timing_images, "pipelined": b.pipelined,
            "analog": {"seed": b.seed, "calibrate_images": b.calibrate_images, "chips": b.chips} if b.analog else None}


def run_sweep(spec, out_dir, workers: int | None = None, scheduler: str | None = None, point_fn=evaluate_point,
              stream=None, log=None) -> SweepOutcome:
    """Run ``spec`` (a :class:`SweepSpec` or a path) into ``out_dir`` (module docstring).

    ``point_fn(context, task) -> dict`` computes one point (default: the pipeline); it
    must be importable by name in a fresh process. ``log(line)`` gets stage messages.
    """
    from ..arch import load_arch
    from ..workload import load_workload

    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    out = Path(out_dir)
    store = Store(out)
    b = spec.base
    wl = load_workload(b.workload)
    net, weights_path = pipeline.load_network(wl, b.weights)
    base_arch = load_arch(b.arch)
    identity = _identity(spec, wl, pipeline.sha256_file(weights_path))

    records: dict[int, dict] = {}
    tasks, first_index, duplicates = [], {}, {}
    skipped = 0
    for i, overrides in enumerate(spec.points):
        head = {"index": i, "overrides": overrides, "tool_version": tool_version()}
        try:
            arch = base_arch.replace(**overrides)
            pipeline.map_for(net, arch)
        except BsnnError as exc:
            key = point_key(identity, {"base": arch_dict(base_arch), "overrides": overrides})
            records[i] = {**head, "key": key, "status": "invalid", "reason": str(exc), "wall_s": 0.0}
            store.save(records[i])
            continue
        key = point_key(identity, arch_dict(arch))
        if key in first_index:
            duplicates[i] = first_index[key]
            continue
        first_index[key] = i
        done = store.load(key)
        if done is not None and done.get("status") in FINISHED:
            records[i] = {**done, **head, "key": key}
            skipped += 1
            continue
        tasks.append(Task(i, key, overrides, arch))

    progress = Progress(len(tasks), stream)

    def on_result(task: Task, record: dict):
        rec = {"index": task.index, "key": task.key, "overrides": task.overrides, "tool_version": tool_version(),
               **record, "config": arch_dict(task.arch)}
        store.save(rec)
        records[task.index] = rec
        progress.update(rec["status"])

    if tasks:
        if log:
            log(f"{spec.name}: {len(spec.points)} points, {len(tasks)} to run, {skipped} finished, "
                f"{len(spec.points) - len(tasks) - skipped - len(duplicates)} invalid, {len(duplicates)} repeated")
        context = _context(spec, wl, net, weights_path, tasks, log)
        if scheduler:
            from .cluster import run_dask

            run_dask(tasks, point_fn, context, scheduler, on_result)
        else:
            from .pool import run_local

            run_local(tasks, point_fn, context, workers or os.cpu_count() or 1, on_result)
    for i, j in duplicates.items():
        records[i] = {**records[j], "index": i, "overrides": spec.points[i]}
    ordered = [records[i] for i in range(len(spec.points))]
    outcome = SweepOutcome(spec, ordered, len(tasks), skipped, out)
    _write_summary(outcome)
    return outcome


def _context(spec: SweepSpec, wl, net, weights_path, tasks, log) -> Context:
    """Load the images once and run the shared ideal functional passes."""
    b = spec.base
    inputs = pipeline.prepare(wl, data=pipeline.DataOptions(b.split, b.images, b.data_dir, b.batch_size),
                              calibrate_images=b.calibrate_images, net=net, weights_path=weights_path)
    analog = pipeline.AnalogOptions(b.seed, b.calibrate_images) if b.analog else None
    functional = {}
    if analog is None:
        for key in sorted({pipeline.functional_key(t.arch) for t in tasks}):
            users = [t for t in tasks if pipeline.functional_key(t.arch) == key]
            if log:
                log(f"functional pass ({len(inputs.labels)} images; subarray.columns, neuron.acc_bits, "
                    f"digital.acc_bits = {', '.join(map(str, key))}), shared by {len(users)} point(s) ...")
            functional[key] = pipeline.functional_pass(inputs, users[0].arch)
    return Context(inputs, functional, analog, b.timing_images, b.pipelined, b.chips)


def table_rows(outcome: SweepOutcome) -> list[dict]:
    """One flat row per point: index, key, status, reason, swept keys, metrics."""
    rows = []
    for r in outcome.records:
        rows.append({"index": r["index"], "key": r["key"], "status": r["status"], "reason": r.get("reason", ""),
                     **{k: r["overrides"].get(k, "") for k in outcome.spec.axes}, **r.get("metrics", {})})
    return rows


def _write_summary(outcome: SweepOutcome):
    s = outcome.spec
    write_csv(outcome.out_dir / "results.csv", table_rows(outcome))
    write_json(outcome.out_dir / "sweep.json", {
        "name": s.name, "description": s.description, "spec": str(s.path), "axes": list(s.axes),
        "layout": s.layout, "base": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(s.base).items()},
        "points": len(s.points), "ok": outcome.count("ok"), "invalid": outcome.count("invalid"),
        "failed": outcome.count("failed"), "tool_version": tool_version(), "git_commit": git_commit(),
        "keys": [r["key"] for r in outcome.records],
    })
