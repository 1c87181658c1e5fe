"""Sweep throughput: points per minute of a sweep of ``mnist_resnet`` against a plain loop.

The points: a grid over subarray rows (1, 2, 4, 8), row length (72, 144, 288, 576 columns)
and spike-buffer capacity (16, 32, 64, 128 kbit), 64 points, of which ``--points`` are
taken in grid order; every point times and prices the same ``--images`` MNIST test
images. The sweep (bsnn_sim.sweep.run_sweep, ``--workers`` local workers, one shared
ideal functional pass per distinct column count) is timed against a plain loop that calls
``pipeline.evaluate`` once per point in this process (functional pass included each time).
Both start from nothing on disk; the printed ratio is loop time / sweep time.

    python benchmarks/sweep_throughput.py [--points 64] [--images 1000] [--workers 2]

Target: >= 60 points per minute for 64 points x 1000 images on 2 workers. Every point is
a full timing simulation of all its images (no sampling). A measured figure is in
docs/sweeps.md ("Throughput").
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AXES = {"subarray.rows": [1, 2, 4, 8], "subarray.columns": [72, 144, 288, 576],
        "buffer.capacity_bits": [16384, 32768, 65536, 131072]}


def spec_text(images: int) -> str:
    grid = "\n".join(f'"{k}" = {v}' for k, v in AXES.items())
    return (f'name = "bench"\n[base]\nworkload = "{ROOT / "workloads" / "mnist_resnet.toml"}"\n'
            f'arch = "{ROOT / "arch_configs" / "stt_bsnn_65nm.toml"}"\nimages = {images}\n[grid]\n{grid}\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=64)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-loop", action="store_true", help="Skip the plain loop.")
    args = ap.parse_args()

    from bsnn_sim import pipeline
    from bsnn_sim.errors import BsnnError
    from bsnn_sim.arch import load_arch
    from bsnn_sim.sweep import load_spec, run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "bench.toml"
        spec_path.write_text(spec_text(args.images))
        spec = load_spec(spec_path)
        spec = dataclasses.replace(spec, points=spec.points[:args.points])
        print(f"{len(spec.points)} points x {args.images} images of mnist_resnet, {args.workers} worker(s); "
              f"machine: {os.cpu_count()} cores (shared: figures are not from an idle machine)")
        t0 = time.perf_counter()
        out = run_sweep(spec, Path(tmp) / "sweep", workers=args.workers)
        t_sweep = time.perf_counter() - t0
        print(f"sweep: {t_sweep:.1f} s, {out.count('ok')} ok, {out.count('invalid')} invalid, {out.count('failed')} "
              f"failed: {60 * len(spec.points) / t_sweep:.1f} points/min (target >= 60)")
        walls = [r["wall_s"] for r in out.records if r["status"] == "ok"]
        mean = sum(walls) / max(len(walls), 1)
        print(f"  one point in a worker: mean {mean:.2f} s, max {max(walls, default=0):.2f} s")
        if args.no_loop:
            return
        base = load_arch(spec.base.arch)
        data = pipeline.DataOptions(limit=args.images)
        t0 = time.perf_counter()
        for point in spec.points:
            try:
                pipeline.evaluate(spec.base.workload, data=data, arch=base.replace(**point))
            except BsnnError as exc:  # an invalid point: recorded by the sweep too
                print(f"  loop: {point}: {exc}")
        t_loop = time.perf_counter() - t0
        print(f"plain loop: {t_loop:.1f} s: {60 * len(spec.points) / t_loop:.1f} points/min; "
              f"sweep / loop speed-up {t_loop / t_sweep:.2f}x")


if __name__ == "__main__":
    main()
