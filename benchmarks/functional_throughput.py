"""Throughput of the bit-exact functional simulator against a PyTorch float32 evaluation
of the same network on the same inputs, and its binary MAC rate against a plain
popcount-GEMM microbenchmark (the practical ceiling), side by side in one process.

    python benchmarks/functional_throughput.py [--images 10000] [--threads 2] [--profile]

``--profile`` then runs each simulator once more with per-stage timers and prints, per
layer and stage, the kernel that does the work and its time per image (the profiled
run is separate from the timed one; its timers add a few microseconds per batch slice).

Needs the shipped weight files, the MNIST test split (vendored) and PyTorch.
Absolute times drift on shared machines; the ratios are the result.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def binary_macs_per_image(net) -> int:
    """Binary synaptic operations (bit-MACs) of one image: in-memory layers x T."""
    total = 0
    for n in net.compute_nodes():
        if net.is_in_memory(n):
            positions = int(np.prod(net.shapes[n.name][1:]))
            total += positions * n.out_features * n.fan_in
    return total * net.time_steps


def torch_float32(net, torch):
    """The network as float32 PyTorch ops (same weights, float membranes), batched."""
    import torch.nn.functional as F

    from bsnn_sim.network import Conv2d, Flatten, MaxPool2d, NeuronKind

    params = {n.name: (torch.from_numpy(n.weight.astype(np.float32)), torch.from_numpy(n.bias.astype(np.float32)),
                       None if n.theta is None else torch.from_numpy(n.theta.astype(np.float32)),
                       None if n.res_gain is None else torch.from_numpy(n.res_gain.astype(np.float32)))
              for n in net.compute_nodes()}

    def run(images: np.ndarray) -> np.ndarray:
        x0 = torch.from_numpy(images.astype(np.float32))
        state = {}
        with torch.no_grad():
            for _ in range(net.time_steps):
                out = {"input": x0}
                for node in net.nodes:
                    src = out[node.input]
                    if isinstance(node, MaxPool2d):
                        out[node.name] = F.max_pool2d(src, node.kernel, node.stride)
                        continue
                    if isinstance(node, Flatten):
                        out[node.name] = src.flatten(1)
                        continue
                    w, b, th, rg = params[node.name]
                    conv = isinstance(node, Conv2d)
                    cur = F.conv2d(src, w, stride=node.stride, padding=node.padding) if conv else src @ w.T
                    view = (1, -1, 1, 1) if conv else (1, -1)
                    u = state.get(node.name, 0) + cur * 2.0 ** node.frac_bits - b.view(view)
                    if node.residual is not None:
                        u = u + rg.view(view) * out[node.residual]
                    if node.neuron is NeuronKind.READOUT:
                        state[node.name] = u
                        continue
                    s = (u >= th.view(view)).float()
                    state[node.name] = u - th.view(view) * s
                    out[node.name] = s
        return state[net.readout.name].argmax(1).numpy()

    return run


def timed(fn, *args, repeat=2):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def profile(sim, data, batch: int) -> str:
    """Run the split once with the simulator's stage timers on; a table of where the time
    goes (per image), by layer, stage and kernel, largest first."""
    sim.profile = {}
    t0 = time.perf_counter()
    sim.run(data.images, data.labels, batch)
    wall = time.perf_counter() - t0
    prof, sim.profile = sim.profile, None
    kernels = sim.kernels()
    n = len(data.labels)
    lines = [f"  {'layer':<16}{'stage':<10}{'kernel':<34}{'us/image':>10}{'share':>8}"]
    for (node, stage), sec in sorted(prof.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {node:<16}{stage:<10}{kernels[node, stage]:<34}{1e6 * sec / n:>10.2f}"
                     f"{100 * sec / wall:>7.1f}%")
    rest = wall - sum(prof.values())
    lines.append(f"  {'(outside the stages: slicing, joining results)':<60}{1e6 * rest / n:>10.2f}"
                 f"{100 * rest / wall:>7.1f}%")
    lines.append(f"  {'total':<60}{1e6 * wall / n:>10.2f}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="print a per-layer, per-kernel profile")
    args = ap.parse_args()

    import numba
    from bsnn_sim import datasets, weightfile  # first: it sets OMP_WAIT_POLICY before OpenMP loads

    import torch  # noqa: I001
    from bsnn_sim.functional import FunctionalSimulator
    from bsnn_sim.kernels import pack_bits, popcount_gemm

    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    data = datasets.load("mnist", "test", limit=args.images)
    print(f"{len(data.labels)} MNIST test images, {args.threads} threads, numba {numba.__version__}, "
          f"torch {torch.__version__}\n")
    print(f"{'workload':<14}{'sim img/s':>11}{'torch f32 img/s':>17}{'speed-up':>10}{'sim acc':>9}"
          f"{'agree':>7}{'G bit-MAC/s':>13}")
    rows, profiles = [], []
    for name in ("mnist_mlp", "mnist_resnet"):
        net = weightfile.load(ROOT / "workloads" / f"{name}.bsnn.npz")
        sim = FunctionalSimulator(net)
        sim.run(data.images[:args.batch], data.labels[:args.batch], args.batch)  # JIT warm-up
        t_sim, res = timed(sim.run, data.images, data.labels, args.batch)
        ref = torch_float32(net, torch)

        def torch_all():
            return np.concatenate([ref(data.images[i:i + args.batch])
                                   for i in range(0, len(data.images), args.batch)])

        torch_all() if len(data.images) <= args.batch else ref(data.images[:args.batch])  # warm-up
        t_torch, pred = timed(torch_all)
        n = len(data.labels)
        gmacs = binary_macs_per_image(net) * n / t_sim / 1e9
        rows.append(gmacs)
        if args.profile:
            profiles.append((name, profile(sim, data, args.batch)))
        print(f"{name:<14}{n / t_sim:>11.0f}{n / t_torch:>17.0f}{t_torch / t_sim:>9.1f}x"
              f"{100 * res.accuracy:>8.2f}%{100 * (pred == res.predictions).mean():>6.1f}%{gmacs:>13.1f}")

    # Ceiling: a plain popcount GEMM with the resnet's binary row shape (288-bit rows, 32 outputs).
    rng = np.random.default_rng(0)
    x = pack_bits(rng.integers(0, 2, (196 * 256, 288), dtype=np.uint8))
    w = pack_bits(rng.integers(0, 2, (32, 288), dtype=np.uint8))
    popcount_gemm(x[:64], w)
    t_gemm, _ = timed(popcount_gemm, x, w, repeat=5)
    ceiling = x.shape[0] * w.shape[0] * 288 / t_gemm / 1e9
    print(f"\npopcount-GEMM ceiling ({x.shape[0]}x288 . 288x32): {ceiling:.1f} G bit-MAC/s")
    for name, g in zip(("mnist_mlp", "mnist_resnet"), rows):
        print(f"  {name}: {g / ceiling:.2f} of the ceiling")
    for name, text in profiles:
        print(f"\nprofile of {name}:\n{text}")
    print("\n'agree': predictions of the float32 evaluation equal to the simulator's (float32 "
          "membranes are exact for these integer sizes).")


if __name__ == "__main__":
    main()
