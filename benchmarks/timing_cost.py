"""Cost of the SimPy timing pass: events and wall time per simulated inference.

Networks with random weights and random activity (binomial counts, 10 % firing):

- mnist_resnet-like: 1x28x28 direct -> conv int8 32 3x3 -> maxpool 2 -> resblock 32
  -> maxpool 2 -> resblock 32 -> flatten -> readout int8 10, T = 4;
- cifar10_resnet-like: 3x32x32 direct -> conv int8 64 -> resblock 64 -> maxpool 2 -> conv 128
  -> resblock 128 -> maxpool 2 -> conv 256 -> resblock 256 -> maxpool 2 -> flatten
  -> readout int8 10, T = 4, on a chip of 16384 subarrays (one replica of every layer needs
  6656 1x288 subarrays, more than the default 4096).

Then growth with images, time steps and depth (extra resblocks), as ratios to the base
case: events should grow linearly with images x T x layers.

    python benchmarks/timing_cost.py [--quick]

Targets: < 0.5 s per MNIST inference, < 5 s per CIFAR-10 inference.
"""

from __future__ import annotations

import sys

import numpy as np

from bsnn_sim.arch import ArchConfig
from bsnn_sim.mapping import map_network
from bsnn_sim.network import INPUT, Conv2d, Encoding, EncodingKind, Flatten, Linear, MaxPool2d, Network, NeuronKind, \
    Precision
from bsnn_sim.timing import Activity, simulate_timing


class _Builder:
    """Appends random-weight layers to a node list, tracking the current tensor and shape."""

    def __init__(self, shape, seed=0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.cur, self.shape = [], INPUT, shape

    def _compute(self, cls, name, shape, precision, neuron=NeuronKind.IF, residual=None, **kw):
        p = Precision(precision)
        w = (self.rng.choice(np.array([-1, 1], np.int8), size=shape) if p is Precision.BINARY
             else self.rng.integers(-127, 128, size=shape, dtype=np.int8))
        out = shape[0]
        self.nodes.append(cls(name=name, input=self.cur, weight=w, precision=p, neuron=neuron, frac_bits=0,
                              bias=np.zeros(out, np.int32),
                              theta=None if neuron is NeuronKind.READOUT else np.ones(out, np.int32),
                              residual=residual, res_gain=None if residual is None else np.ones(out, np.int32),
                              **kw))
        self.cur = name

    def conv(self, name, channels, precision="binary", residual=None):
        self._compute(Conv2d, name, (channels, self.shape[0], 3, 3), precision, residual=residual, padding=1)
        self.shape = (channels,) + self.shape[1:]

    def resblock(self, name):
        skip = self.cur
        self.conv(f"{name}.conv1", self.shape[0])
        self.conv(f"{name}.conv2", self.shape[0], residual=skip)

    def pool(self, name):
        self.nodes.append(MaxPool2d(name, self.cur, kernel=2, stride=2))
        self.cur, self.shape = name, (self.shape[0], self.shape[1] // 2, self.shape[2] // 2)

    def readout(self, classes=10):
        self.nodes.append(Flatten("flat", self.cur))
        self.cur = "flat"
        self._compute(Linear, "readout", (classes, int(np.prod(self.shape))), "int8", NeuronKind.READOUT)


def mnist_like(steps=4, extra_blocks=0) -> Network:
    b = _Builder((1, 28, 28))
    b.conv("conv0", 32, "int8")
    b.pool("pool1")
    b.resblock("block1")
    b.pool("pool2")
    b.resblock("block2")
    for k in range(extra_blocks):
        b.resblock(f"extra{k}")
    b.readout()
    return Network.build((1, 28, 28), steps, Encoding(EncodingKind.DIRECT), b.nodes)


def cifar_like(steps=4) -> Network:
    b = _Builder((3, 32, 32))
    b.conv("conv0", 64, "int8")
    b.resblock("block64")
    b.pool("pool1")
    b.conv("conv128", 128)
    b.resblock("block128")
    b.pool("pool2")
    b.conv("conv256", 256)
    b.resblock("block256")
    b.pool("pool3")
    b.readout()
    return Network.build((3, 32, 32), steps, Encoding(EncodingKind.DIRECT), b.nodes)


def measure(label, net, arch, images, pipelined=False, repeats=1):
    m = map_network(net, arch)
    act = Activity.random(net, m, images, seed=1)
    best = None
    for _ in range(repeats):
        r = simulate_timing(net, m, arch, act, pipelined=pipelined)
        best = r if best is None or r.wall_s < best.wall_s else best
    return {"case": label, "images": images, "T": net.time_steps, "layers": len(net.compute_nodes()),
            "subarrays": m.subarrays_used, "events": best.events, "wall_s": best.wall_s,
            "events_per_inf": best.events / images, "s_per_inf": best.wall_s / images,
            "latency_cycles": float(best.latency_cycles.mean())}


def table(rows, base):
    head = f"{'case':<28}{'imgs':>5}{'T':>4}{'layers':>7}{'events':>10}{'wall s':>9}{'ev/inf':>9}" \
           f"{'s/inf':>9}{'ev x':>7}{'wall x':>7}{'work x':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        work = r["images"] * r["T"] * r["layers"] / (base["images"] * base["T"] * base["layers"])
        print(f"{r['case']:<28}{r['images']:>5}{r['T']:>4}{r['layers']:>7}{r['events']:>10}{r['wall_s']:>9.4f}"
              f"{r['events_per_inf']:>9.0f}{r['s_per_inf']:>9.4f}{r['events'] / base['events']:>7.2f}"
              f"{r['wall_s'] / base['wall_s']:>7.2f}{work:>7.2f}")


def main(argv=None):
    quick = "--quick" in (argv or sys.argv[1:])
    arch = ArchConfig()
    big = arch.replace(**{"chip.subarrays": 16384})
    reps = 1 if quick else 3
    n = 2 if quick else 8

    print("MNIST-like (default chip: 4096 x 1x288 subarrays, replication bottleneck)")
    base = measure("mnist base", mnist_like(), arch, 1, repeats=reps)
    rows = [base,
            measure(f"mnist x{n} images", mnist_like(), arch, n, repeats=reps),
            measure(f"mnist x{n} images pipelined", mnist_like(), arch, n, pipelined=True, repeats=reps),
            measure("mnist T=8", mnist_like(steps=8), arch, 1, repeats=reps),
            measure("mnist T=16", mnist_like(steps=16), arch, 1, repeats=reps),
            measure("mnist +2 resblocks", mnist_like(extra_blocks=2), arch, 1, repeats=reps),
            measure("mnist +6 resblocks", mnist_like(extra_blocks=6), arch, 1, repeats=reps)]
    table(rows, base)
    print()
    print("CIFAR-10-like (16384 x 1x288 subarrays, replication bottleneck)")
    cbase = measure("cifar base", cifar_like(), big, 1, repeats=reps)
    crows = [cbase, measure(f"cifar x{n} images", cifar_like(), big, n, repeats=reps),
             measure("cifar T=8", cifar_like(steps=8), big, 1, repeats=reps)]
    table(crows, cbase)
    print()
    print(f"MNIST: {base['events_per_inf']:.0f} events, {base['s_per_inf']:.4f} s per inference (target < 0.5 s); "
          f"CIFAR-10: {cbase['events_per_inf']:.0f} events, {cbase['s_per_inf']:.4f} s per inference (target < 5 s)")


if __name__ == "__main__":
    main()
