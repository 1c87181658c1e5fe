"""Monte Carlo chips: many sampled chips, their accuracy and energy, and calibration.

Chip ``c`` of a run seeded ``s`` draws everything from ``SeedSequence(s, spawn_key=(c,))``
(its static devices, then its per-conversion noise key), so a chip is the same whatever
the number of workers, the order they finish in, or how many chips the run has. Chips
run in a pool of worker processes (kernels single-threaded inside each worker: one level
of parallelism) or, with one worker, in this process on parallel kernels.

Calibration (``calibrate_images > 0``), the mitigation: after programming, the chip runs
a few calibration images (the training split's first ones); for every converter row (each
replica's own), the host compares each converted count with the ideal popcount of the
inputs that row actually received, and stores ``round(mean error)`` into the row's
constant, which the neuron subtracts from every converted count from then on (the
per-row ``N_neg`` register of the dynamic-threshold neuron, now per replica). It removes
static offsets and the mean of static variation errors; it cannot remove noise. Its cost:
``calibrate_images`` inferences (energy and time) once per chip. Each calibrated chip is
also run uncalibrated, so gain and cost are reported side by side.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from .. import energy
from ..arch import ArchConfig
from ..actions import DYNAMIC_ACTIONS
from ..mapping import Mapping
from ..network import Network
from .chip import Chip, sample_chip
from .simulate import AnalogSimulator

CALIBRATION_SALT = 0x5CA1AB1E0FF5E7  # keys the calibration images' noise apart from the test images'


def chip_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed of chip ``index`` of a run seeded ``seed``."""
    return np.random.SeedSequence(seed, spawn_key=(index,))


@dataclass
class Workload:
    """What every chip of a run simulates (sent once to each worker)."""

    net: Network
    mapping: Mapping
    arch: ArchConfig
    images: np.ndarray
    labels: np.ndarray
    seed: int
    batch_size: int = 500
    calibration_images: np.ndarray | None = None


@dataclass
class ChipOutcome:
    index: int
    accuracy: float
    predictions: np.ndarray
    errors: dict  # layer -> conversion error statistics
    array_energy_factor: float
    dynamic_energy_pj: float  # per inference: action counts x energies (sense_array scaled), no leakage
    uncalibrated: dict = field(default_factory=dict)  # accuracy, errors, ... before calibration
    seconds: float = 0.0


def dynamic_energy_pj(net: Network, mapping: Mapping, arch: ArchConfig, result, array_factor: float) -> float:
    """Dynamic energy per inference of a functional result: the actions it implies priced
    with ``arch``'s table, the array current scaled by the chip's ``array_factor``."""
    from ..hardware import activity_of
    from ..timing.costs import layer_costs

    costs = layer_costs(net, mapping, arch, activity_of(result))
    counts = {a: sum(int(c.actions[a].sum()) for c in costs) for a in DYNAMIC_ACTIONS}
    table = dict(energy.action_energies(arch))
    table["sense_array"] *= array_factor
    return energy.price(counts, table)["total"] / max(len(result.labels), 1)


def calibrate(chip: Chip, net: Network, images: np.ndarray, batch_size: int = 500) -> dict:
    """Measure every converter row's mean error on ``images`` and fold it into the row's
    constant (module docstring). Returns the per-layer mean |correction| in counts."""
    sim = AnalogSimulator(net, chip, collect_offsets=True, noise_key=chip.noise_key ^ CALIBRATION_SALT)
    sim.run(images, np.zeros(len(images), np.int64), batch_size)
    out = {}
    for name, est in sim.offset_estimates().items():
        corr = np.rint(est).astype(np.int64)
        chip.layers[name].row_const += corr
        out[name] = float(np.abs(corr).mean())
    return out


def simulate_chip(work: Workload, index: int, nominal: bool = False, calibrated: bool = False, progress=None):
    """Sample chip ``index`` (or the nominal chip, whose noise is keyed by the same seed),
    calibrate it if asked, and run the images: ``(SimResult, error report, array energy
    factor, calibration corrections)``."""
    chip = sample_chip(work.net, work.mapping, work.arch, chip_seed(work.seed, index), nominal=nominal)
    corrections = calibrate(chip, work.net, work.calibration_images, work.batch_size) if calibrated else {}
    sim = AnalogSimulator(work.net, chip)
    res = sim.run(work.images, work.labels, work.batch_size, progress=progress)
    return res, sim.error_report(), chip.array_energy_factor(), corrections


def run_chip(work: Workload, index: int) -> ChipOutcome:
    """Sample chip ``index``, run the images; calibrated (and also uncalibrated) if asked."""
    t0 = time.perf_counter()
    cal = work.calibration_images is not None and len(work.calibration_images) > 0
    res, errors, factor, corrections = simulate_chip(work, index, calibrated=cal)
    uncal = {}
    if cal:
        r0, e0, _, _ = simulate_chip(work, index)
        uncal = {"accuracy": r0.accuracy, "errors": e0, "corrections_mean_abs": corrections}
    e_pj = dynamic_energy_pj(work.net, work.mapping, work.arch, res, factor)
    return ChipOutcome(index, res.accuracy, res.predictions.astype(np.int16), errors, factor, e_pj, uncal,
                       time.perf_counter() - t0)


_WORK: Workload | None = None


def _init_worker(work: Workload):
    global _WORK
    import numba

    numba.set_num_threads(1)
    _WORK = work


def _run_in_worker(index: int) -> ChipOutcome:
    return run_chip(_WORK, index)


def run_monte_carlo(work: Workload, chips: int, workers: int | None = None, progress=None) -> list[ChipOutcome]:
    """Run ``chips`` sampled chips (indices 0 .. chips-1); ``progress(done, total)`` as they finish."""
    workers = max(1, min(workers or os.cpu_count() or 1, chips))
    if workers == 1:
        out = []
        for i in range(chips):
            out.append(run_chip(work, i))
            if progress:
                progress(i + 1, chips)
        return out
    ctx = multiprocessing.get_context("spawn")
    out = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(work,)) as pool:
        futures = [pool.submit(_run_in_worker, i) for i in range(chips)]
        for done, fut in enumerate(as_completed(futures), 1):
            out.append(fut.result())
            if progress:
                progress(done, chips)
    return sorted(out, key=lambda o: o.index)


def t_quantile_975(df: int) -> float:
    """Two-sided 95 % Student-t quantile: a table for df <= 10, else the Cornish-Fisher
    expansion around the normal quantile to df^-3 (error < 1e-4)."""
    table = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060,
             9: 2.2622, 10: 2.2281}
    if df in table:
        return table[df]
    z = NormalDist().inv_cdf(0.975)
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def spread(values, bounds=(-math.inf, math.inf)) -> dict:
    """mean, std (n-1), 95 % CI of the mean (Student t, clipped to ``bounds``), min, max."""
    v = np.asarray(values, np.float64)
    n = len(v)
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = t_quantile_975(n - 1) * std / math.sqrt(n) if n > 1 else 0.0
    lo, hi = bounds
    return {"mean": mean, "std": std, "ci95": [max(lo, mean - half), min(hi, mean + half)], "min": float(v.min()),
            "max": float(v.max())}


def summarize(outcomes: list[ChipOutcome]) -> dict:
    """Accuracy and energy statistics over chips, the worst chip, per-layer conversion errors."""
    acc = [o.accuracy for o in outcomes]
    worst = min(outcomes, key=lambda o: (o.accuracy, o.index))
    layers = {}
    for name in outcomes[0].errors:
        layers[name] = {
            "error_rate_mean": float(np.mean([o.errors[name]["error_rate"] for o in outcomes])),
            "mean_abs_error_mean": float(np.mean([o.errors[name]["mean_abs_error"] for o in outcomes])),
            "rms_error_mean": float(np.mean([o.errors[name]["rms_error"] for o in outcomes])),
            "max_abs_error": int(max(o.errors[name]["max_abs_error"] for o in outcomes)),
        }
    out = {
        "chips": len(outcomes), "accuracy": spread(acc, (0.0, 1.0)), "per_chip_accuracy": acc, "worst_chip": {"index": worst.index, "accuracy": worst.accuracy},
        "dynamic_energy_per_inference_pj": spread([o.dynamic_energy_pj for o in outcomes]),
        "array_energy_factor": spread([o.array_energy_factor for o in outcomes]),
        "layers": layers,
    }
    if outcomes[0].uncalibrated:
        out["uncalibrated_accuracy"] = spread([o.uncalibrated["accuracy"] for o in outcomes], (0.0, 1.0))
    return out


def report(summary: dict, calibration_images: int = 0) -> str:
    """Text lines of :func:`summarize`."""
    a = summary["accuracy"]
    e = summary["dynamic_energy_per_inference_pj"]
    lines = [f"Monte Carlo: {summary['chips']} chips: accuracy mean {100 * a['mean']:.2f} %, std "
             f"{100 * a['std']:.2f} %, 95 % CI [{100 * a['ci95'][0]:.2f}, {100 * a['ci95'][1]:.2f}] %, worst chip "
             f"#{summary['worst_chip']['index']} {100 * summary['worst_chip']['accuracy']:.2f} %, best "
             f"{100 * a['max']:.2f} %",
             f"  dynamic energy per inference: mean {e['mean'] / 1e3:.2f} nJ, std {e['std'] / 1e3:.3f} nJ, "
             f"range [{e['min'] / 1e3:.2f}, {e['max'] / 1e3:.2f}] nJ (array current x "
             f"{summary['array_energy_factor']['mean']:.4f} +- {summary['array_energy_factor']['std']:.4f} of nominal)"]
    if "uncalibrated_accuracy" in summary:
        u = summary["uncalibrated_accuracy"]
        lines.append(f"  calibration ({calibration_images} images once per chip): accuracy {100 * u['mean']:.2f} % "
                     f"-> {100 * a['mean']:.2f} % (worst {100 * u['min']:.2f} % -> {100 * a['min']:.2f} %)")
    lines.append("  per-layer conversion errors (mean over chips): " + ("; ".join(
        f"{k} {100 * v['error_rate_mean']:.1f} % off, mean |err| {v['mean_abs_error_mean']:.2f}, max {v['max_abs_error']}"
        for k, v in summary["layers"].items()) or "none: no in-memory layer"))
    return "\n".join(lines)
