"""Training loop: BPTT with surrogate gradients, per-epoch progress, checkpoints, export.

Seeded: the workload's seed fixes the initial weights, the shuffle and the rate-coding
draws (each from its own generator); on one machine with one thread count a run repeats.
A checkpoint (model, optimiser, scheduler, epoch, shuffle generator) is written after
every epoch; ``resume=True`` continues from it.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import datasets, weightfile
from ..atomic import write_atomic
from ..errors import BsnnError
from ..network import EncodingKind
from .export import export_network
from .inteval import integer_predict
from .model import BSNN


@dataclass
class TrainResult:
    float_accuracy: float
    integer_accuracy: float
    epochs: int
    seconds: float


def encode_batch(images: torch.Tensor, workload, gen=None) -> torch.Tensor:
    """Float input (T or 1, B, C, H, W) of the model for uint8 images."""
    x = images.to(torch.float32)
    if workload.encoding is EncodingKind.DIRECT:
        return (x / 255).unsqueeze(0)
    if workload.encoding is EncodingKind.THRESHOLD:
        return (x >= workload.encoding_level).to(torch.float32).unsqueeze(0)
    p = (x / 256).unsqueeze(0).expand(workload.time_steps, *x.shape)
    return torch.bernoulli(p, generator=gen)


def augment_batch(images: torch.Tensor, gen) -> torch.Tensor:
    """Random crop of the 4-pixel zero-padded image and a random horizontal flip."""
    b, _, h, w = images.shape
    padded = F.pad(images, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (b,), generator=gen)
    dx = torch.randint(0, 9, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    out = padded[torch.arange(b)[:, None, None, None], torch.arange(images.shape[1])[None, :, None, None],
                 rows, cols]
    flip = torch.rand(b, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def float_accuracy(model, images, labels, workload, batch_size=1000) -> float:
    model.eval()
    correct = 0
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            xb = torch.from_numpy(images[i:i + batch_size].copy())
            logits = model(encode_batch(xb, workload, gen))
            correct += int((logits.argmax(1).numpy() == labels[i:i + batch_size]).sum())
    return correct / len(images)


def integer_accuracy(net, images, labels, batch_size=1000) -> float:
    correct = 0
    for i in range(0, len(images), batch_size):
        idx = np.arange(i, min(i + batch_size, len(images)))
        pred, _ = integer_predict(net, images[idx], idx)
        correct += int((pred == labels[idx]).sum())
    return correct / len(images)


def train(workload, out: Path, data_dir=None, resume=False, limit=None, epochs=None,
          log=print, command="") -> TrainResult:
    """Train ``workload``, export it to ``out`` and return the measured accuracies."""
    spec = workload.train
    epochs = epochs or spec.epochs
    torch.manual_seed(spec.seed)
    torch.set_num_threads(spec.threads)
    train_set = datasets.load(workload.dataset, "train", data_dir, limit=limit)
    test_set = datasets.load(workload.dataset, "test", data_dir, limit=limit)
    input_shape = train_set.images.shape[1:]
    model = BSNN(workload, input_shape)
    if spec.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=0.9, weight_decay=spec.weight_decay)
    steps_per_epoch = -(-len(train_set.images) // spec.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(spec.seed)
    start_epoch = 0
    ckpt = Path(str(out) + ".ckpt.pt")
    if resume and ckpt.exists():
        try:
            state = torch.load(ckpt, weights_only=False)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            gen.set_state(state["gen"])
            start_epoch = int(state["epoch"])
        except (OSError, EOFError, RuntimeError, KeyError, ValueError, TypeError, AttributeError,
                pickle.UnpicklingError) as exc:
            raise BsnnError(f"{ckpt}: cannot resume from this checkpoint ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:120]}); delete it or train without --resume") from None
        sched.total_steps = epochs * steps_per_epoch  # resuming with more epochs extends the schedule
        log(f"resumed from {ckpt} after epoch {start_epoch}")
    images = torch.from_numpy(train_set.images.copy())
    labels = torch.from_numpy(train_set.labels.copy())
    t0 = time.time()
    for epoch in range(start_epoch, epochs):
        model.train()
        perm = torch.randperm(len(images), generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        te = time.time()
        for b in range(steps_per_epoch):
            idx = perm[b * spec.batch_size:(b + 1) * spec.batch_size]
            xb = images[idx]
            if spec.augment == "crop_flip":
                xb = augment_batch(xb, gen)
            logits = model(encode_batch(xb, workload, gen))
            loss = F.cross_entropy(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == labels[idx]).sum())
            seen += len(idx)
        acc = float_accuracy(model, test_set.images, test_set.labels, workload)
        log(f"epoch {epoch + 1}/{epochs}  loss {loss_sum / seen:.4f}  train {correct / seen:.4f}  "
            f"test(float) {acc:.4f}  {time.time() - te:.0f}s")
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                 "gen": gen.get_state(), "epoch": epoch + 1}
        write_atomic(ckpt, lambda f: torch.save(state, f), binary=True)  # an interrupt keeps the last whole one
    model.eval()
    facc = float_accuracy(model, test_set.images, test_set.labels, workload)
    meta = {"workload": workload.name, "dataset": workload.dataset, "seed": spec.seed, "epochs": epochs,
            "command": command, "float_test_accuracy": facc, "torch": torch.__version__}
    net = export_network(model, workload, input_shape, train_set.classes, meta)
    iacc = integer_accuracy(net, test_set.images, test_set.labels)
    net.metadata["integer_test_accuracy"] = iacc
    net.metadata["test_images"] = int(len(test_set.images))
    weightfile.save(net, out)
    log(f"exported {out}: float {facc:.4f}, integer {iacc:.4f} on {len(test_set.images)} test images")
    return TrainResult(facc, iacc, epochs, time.time() - t0)
