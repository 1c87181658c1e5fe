"""Train a small binary spiking conv network in snnTorch and export it with snnTorch's
own NIR exporter: the worked example of docs/interop.md.

    python examples/snntorch_mnist.py --train-images 60000 --epochs 3 --out examples/snntorch_mnist.nir

Network (T = 4 steps, MNIST pixels as threshold spikes p >= 128, the same at every step):
conv 1->16 3x3 stride 2 pad 1 -> Leaky -> conv 16->32 3x3 stride 2 pad 1 -> Leaky
-> flatten -> linear 1568->10 (the readout: its outputs summed over T, argmax).
Weights are +-1 in the forward pass (sign, straight-through gradient), no biases;
Leaky has beta = 1 (an IF neuron), reset by subtraction, a learnt threshold per channel.
Before export each threshold is rounded to a multiple of 0.5, so every membrane is an
integer or half-integer and the import is exact; the accuracy printed is snnTorch's
own evaluation of the exported (rounded) network on the 10k MNIST test images, whose
predictions are saved beside the NIR file (``.predictions.npy``) for
tests/test_interop_nir.py. Needs torch, snntorch and the MNIST train split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
import warnings

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate, utils
from snntorch.export_nir import export_to_nir

from bsnn_sim import datasets

T = 4
LEVEL = 128


class SignConv(torch.nn.Conv2d):
    def forward(self, x):
        w = self.weight
        return self._conv_forward(x, w + (torch.where(w >= 0, 1.0, -1.0) - w).detach(), None)


class SignLinear(torch.nn.Linear):
    def forward(self, x):
        w = self.weight
        return torch.nn.functional.linear(x, w + (torch.where(w >= 0, 1.0, -1.0) - w).detach())


def leaky(shape, threshold):
    return snn.Leaky(beta=torch.ones(shape), threshold=torch.full(shape, threshold), learn_threshold=True,
                     spike_grad=surrogate.atan(), init_hidden=True)


def build():
    return torch.nn.Sequential(
        SignConv(1, 16, 3, stride=2, padding=1, bias=False), leaky((16, 14, 14), 2.0),
        SignConv(16, 32, 3, stride=2, padding=1, bias=False), leaky((32, 7, 7), 6.0),
        torch.nn.Flatten(), SignLinear(32 * 7 * 7, 10, bias=False))


def run(net, spikes):
    utils.reset(net)
    return sum(net(spikes) for _ in range(T))


def exportable(net):
    """The same weights as plain Conv2d/Linear (+-1), thresholds rounded to 0.5 and one
    value per channel: the network that is exported and evaluated."""
    out = []
    for m in net:
        if isinstance(m, SignConv):
            c = torch.nn.Conv2d(m.in_channels, m.out_channels, 3, stride=2, padding=1, bias=False)
            c.weight.data = torch.where(m.weight >= 0, 1.0, -1.0)
            out.append(c)
        elif isinstance(m, SignLinear):
            f = torch.nn.Linear(m.in_features, m.out_features, bias=False)
            f.weight.data = torch.where(m.weight >= 0, 1.0, -1.0)
            out.append(f)
        elif isinstance(m, snn.Leaky):
            th = m.threshold.detach().mean(dim=(1, 2), keepdim=True).expand_as(m.threshold)
            out.append(snn.Leaky(beta=torch.ones(th.shape), threshold=torch.round(th * 2) / 2, init_hidden=True))
        else:
            out.append(m)
    return torch.nn.Sequential(*out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="snntorch_mnist.nir")
    ap.add_argument("--train-images", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    train = datasets.load("mnist", "train", args.data_dir, limit=args.train_images)
    test = datasets.load("mnist", "test", args.data_dir)
    to_spikes = lambda x: torch.tensor((x >= LEVEL).astype(np.float32))  # noqa: E731
    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    rng = np.random.default_rng(args.seed)
    start = time.time()
    for epoch in range(args.epochs):
        order = rng.permutation(len(train.labels))
        for i in range(0, len(order), 128):
            idx = order[i:i + 128]
            loss = torch.nn.functional.cross_entropy(run(net, to_spikes(train.images[idx])) / T,
                                                     torch.tensor(train.labels[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} ({time.time() - start:.0f} s)")
    final = exportable(net)
    with torch.no_grad():
        preds = np.concatenate([run(final, to_spikes(test.images[i:i + 1000])).argmax(1).numpy()
                                for i in range(0, len(test.labels), 1000)])
    print(f"snnTorch accuracy of the exported network: {100 * (preds == test.labels).mean():.2f} % "
          f"({int((preds == test.labels).sum())}/{len(test.labels)} MNIST test images)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # beta = 1: the exporter divides by 1 - beta (tau = inf)
        graph = export_to_nir(final, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    import nir

    nir.write(args.out, graph)
    np.save(Path(args.out).with_suffix(".predictions.npy"), preds.astype(np.uint8))
    print(f"wrote {args.out} and snnTorch's predictions {Path(args.out).with_suffix('.predictions.npy')}")


if __name__ == "__main__":
    main()
