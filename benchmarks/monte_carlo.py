"""Monte Carlo cost: N sampled chips x M MNIST test images on a shipped workload under the
default variation, beside the ideal (bit-exact) simulator's time for the same images.

    python benchmarks/monte_carlo.py [--workload mnist_resnet] [--chips 100] [--images 1000]
                                     [--workers 2] [--calibrate 0] [--profile]

Prints wall time, chip-images per second, the ratio to the ideal simulator (per image),
and with --profile where one chip's time goes (sampling, sensing kernel, the rest).
Absolute times drift on shared machines: run it on an idle machine and read the ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="mnist_resnet")
    ap.add_argument("--arch", default=str(ROOT / "arch_configs" / "stt_bsnn_65nm.toml"))
    ap.add_argument("--chips", type=int, default=100)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--calibrate", type=int, default=0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    from bsnn_sim import pipeline
    from bsnn_sim.analog import montecarlo
    from bsnn_sim.arch import load_arch
    from bsnn_sim.functional import FunctionalSimulator

    arch = load_arch(args.arch)
    inputs = pipeline.prepare(ROOT / "workloads" / f"{args.workload}.toml", data=pipeline.DataOptions(limit=args.images),
                              calibrate_images=args.calibrate)
    net, data = inputs.net, inputs
    print(f"{args.workload} on {arch.name}: {args.chips} chips x {len(data.labels)} images, "
          f"{args.workers} worker(s), calibration images {args.calibrate}, machine: {os.cpu_count()} cores")

    ideal = FunctionalSimulator(net, arch.subarray.columns)
    ideal.run(data.images[:50], data.labels[:50])  # compile outside the timed region
    t0 = time.perf_counter()
    ref = ideal.run(data.images, data.labels)
    t_ideal = time.perf_counter() - t0
    print(f"ideal simulator: {t_ideal:.2f} s for {len(data.labels)} images "
          f"({len(data.labels) / t_ideal:,.0f} images/s), accuracy {100 * ref.accuracy:.2f} %")

    work = pipeline.chip_work(inputs, arch, args.seed, calibrate=args.calibrate > 0)
    montecarlo.simulate_chip(work, 0, calibrated=False)  # compile in this process (workers reuse the cache)
    if args.profile:
        profile(work)
    t0 = time.perf_counter()
    outcomes = montecarlo.run_monte_carlo(work, args.chips, args.workers)
    wall = time.perf_counter() - t0
    s = montecarlo.summarize(outcomes)
    chip_images = args.chips * len(data.labels) * (2 if args.calibrate else 1)
    print(montecarlo.report(s, args.calibrate))
    print(f"Monte Carlo: {wall:.1f} s wall for {args.chips} chips ({chip_images:,} chip-images, "
          f"{chip_images / wall:,.0f}/s); per chip-image {wall / chip_images * 1e3:.3f} ms against the ideal "
          f"simulator's {t_ideal / len(data.labels) * 1e3:.3f} ms: ratio {wall / chip_images / (t_ideal / len(data.labels)):.2f}"
          f" (the Monte Carlo uses {args.workers} single-threaded workers; the ideal run uses all cores)")
    print(f"budget: {'within' if wall < 300 else 'OVER'} 5 minutes")


def profile(work):
    """Split one chip's time: sampling the devices, the sensing kernel, everything else."""
    from bsnn_sim.analog import simulate
    from bsnn_sim.analog.chip import sample_chip
    from bsnn_sim.analog.montecarlo import chip_seed

    t0 = time.perf_counter()
    chip = sample_chip(work.net, work.mapping, work.arch, chip_seed(work.seed, 0))
    t_sample = time.perf_counter() - t0
    kernel_time = [0.0]
    inner = simulate.analog_conv

    def timed(*a, **k):
        t = time.perf_counter()
        out = inner(*a, **k)
        kernel_time[0] += time.perf_counter() - t
        return out

    simulate.analog_conv = timed
    try:
        sim = simulate.AnalogSimulator(work.net, chip)
        t0 = time.perf_counter()
        sim.run(work.images, work.labels, work.batch_size)
        t_run = time.perf_counter() - t0
    finally:
        simulate.analog_conv = inner
    print(f"profile of one chip (this process, parallel kernels): sample {t_sample:.3f} s, sensing kernel "
          f"{kernel_time[0]:.3f} s, rest of the pass {t_run - kernel_time[0]:.3f} s "
          f"({len(work.labels)} images)")


if __name__ == "__main__":
    main()
