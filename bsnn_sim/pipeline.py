"""One pipeline behind every caller: workload -> weights -> data -> functional (or
analog) pass -> mapping -> timing -> energy, returning one typed :class:`RunResult`.

The CLI's ``run``, sweep workers, ``regress``, the golden regeneration and the
benchmarks call these functions; no other module wires the stages together.

- :func:`evaluate` does everything for one workload on one (optional) architecture.
- :func:`prepare` does the architecture-independent part once (workload, weights,
  data): a sweep calls it once and then :func:`evaluate_prepared` per point.
- :func:`functional_pass` is the ideal functional pass. It depends on the architecture
  only through :func:`functional_key` (the chunk width of the activity traces and the
  accumulator widths), so a sweep runs it once per distinct key and hands it to
  :func:`evaluate_prepared`.
  The analog path depends on every device key and is always re-run.
- :func:`monte_carlo` samples chips of a prepared workload on one architecture; both
  it and the analog path build what a chip simulates with :func:`chip_work`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .arch import ArchConfig
from .datasets import sha256_file
from .errors import BsnnError
from .network import Network
from .workload import Workload, load_workload


@dataclass(frozen=True)
class DataOptions:
    """Which images a run simulates."""

    split: str = "test"
    limit: int | None = None  # the first ``limit`` images of the split (all when None)
    data_dir: str | None = None  # dataset root (else the usual search order, see datasets.py)
    batch_size: int = 500


@dataclass(frozen=True)
class AnalogOptions:
    """The nominal chip through the analog path (docs/variation.md)."""

    seed: int = 0  # keys the per-conversion noise
    calibrate_images: int = 0  # calibrate the converter rows on this many training images first


@dataclass
class Inputs:
    """Everything of a run that does not depend on the architecture."""

    workload: Workload
    weights_path: Path
    weights_sha256: str
    net: Network
    data: DataOptions
    images: np.ndarray
    labels: np.ndarray
    calibration_images: np.ndarray | None = None


@dataclass
class RunResult:
    """One run: the functional (or analog) result and, with an architecture, the
    hardware result (latency, energy, area) and the sense margin."""

    inputs: Inputs
    functional: object  # functional.SimResult: predictions, scores, activity
    mode: str  # "ideal devices" | "analog path, nominal chip[, calibrated on N train images]"
    arch: ArchConfig | None = None
    hardware: object | None = None  # hardware.HardwareResult
    margins: dict | None = None  # layer -> sense margin (analog.margin.layer_margins)
    sensing_errors: dict | None = None  # analog path: layer -> conversion error statistics
    analog: AnalogOptions | None = None
    extra: dict = field(default_factory=dict)  # added by callers (e.g. monte_carlo) for the report

    @property
    def predictions(self) -> np.ndarray:
        return self.functional.predictions

    @property
    def scores(self) -> np.ndarray:
        """Final readout values (membrane of the readout layer), one row per image."""
        return self.functional.scores

    @property
    def accuracy(self) -> float:
        return self.functional.accuracy

    @property
    def correct(self) -> int:
        return int((self.functional.predictions == self.functional.labels).sum())

    def hardware_summary(self) -> dict | None:
        if self.hardware is None:
            return None
        return {**self.hardware.summary(), "arch_defaults_used": list(self.arch.defaults_used),
                "sense_margin": self.margins}

    def summary(self) -> dict:
        """The run as plain JSON-able data (the ``results.json`` of ``bsnn-sim run``)."""
        res, inp = self.functional, self.inputs
        n = int(len(res.labels))
        out = {
            "workload": inp.workload.name, "weights": str(inp.weights_path), "dataset": inp.workload.dataset,
            "split": inp.data.split, "images": n, "mode": self.mode, "accuracy": res.accuracy,
            "correct": self.correct, "time_steps": inp.net.time_steps, "seconds": res.seconds,
            "images_per_s": n / max(res.seconds, 1e-9), "warmup_seconds": res.warmup_seconds,
            "firing_rate": res.firing_rates(),
        }
        if self.sensing_errors is not None:
            out["sensing_errors"] = self.sensing_errors
        if self.hardware is not None:
            out["hardware"] = self.hardware_summary()
        out.update(self.extra)
        return out


def load_network(workload: Workload, weights=None) -> tuple[Network, Path]:
    """The weight file given, or the workload's, checked against the workload's
    ``[network]``; a missing default says how to make it."""
    from . import weightfile
    from .workload import check_network

    path = Path(weights or workload.weights)
    if weights is None and not path.exists():
        raise BsnnError(f"{path}: weight file not found; train it with: bsnn-sim train {workload.path}")
    net = weightfile.load(path)
    check_network(workload, net, path)
    return net, path


def _workload(workload) -> Workload:
    return workload if isinstance(workload, Workload) else load_workload(workload)


def prepare(workload, weights=None, data: DataOptions = DataOptions(), calibrate_images: int = 0,
            net: Network | None = None, weights_path: Path | None = None) -> Inputs:
    """Load the workload (a path or a loaded :class:`Workload`), its network (``net``
    when already loaded from ``weights_path``), the images and, when asked, the
    calibration images (the training split's first ``calibrate_images``)."""
    from . import datasets

    wl = _workload(workload)
    if net is None:
        net, weights_path = load_network(wl, weights)
    ds = datasets.load(wl.dataset, data.split, data.data_dir, limit=data.limit)
    if ds.images.shape[1:] != net.input_shape:
        raise BsnnError(f"{weights_path}: the network expects {net.input_shape} images, {wl.dataset} in "
                        f"{ds.source_dir} holds {ds.images.shape[1:]}")
    cal = datasets.load(wl.dataset, "train", data.data_dir, limit=calibrate_images).images if calibrate_images else None
    return Inputs(wl, Path(weights_path), sha256_file(weights_path), net, data, ds.images, ds.labels, cal)


def functional_key(arch: ArchConfig | None) -> tuple | None:
    """The architecture keys the ideal functional pass depends on (those
    :func:`bsnn_sim.hardware.functional_simulator` passes to the simulator): the input
    chunk width ``subarray.columns`` and the accumulator widths ``neuron.acc_bits`` and
    ``digital.acc_bits``. Two configs with the same key give the same functional result."""
    if arch is None:
        return None
    return arch.subarray.columns, arch.neuron.acc_bits, arch.digital.acc_bits


def functional_pass(inputs: Inputs, arch: ArchConfig | None = None, progress=None):
    """The ideal functional pass as ``arch`` runs it (or the unconstrained simulator
    without an architecture)."""
    from .functional import FunctionalSimulator
    from .hardware import functional_simulator

    try:
        sim = functional_simulator(inputs.net, arch) if arch is not None else FunctionalSimulator(inputs.net)
    except BsnnError as exc:  # a network the simulator refuses (e.g. sums beyond int32): name the file
        raise type(exc)(f"{inputs.weights_path}: {exc}") from None
    return sim.run(inputs.images, inputs.labels, inputs.data.batch_size, progress=progress)


def map_for(inputs_or_net, arch: ArchConfig):
    """The mapping of the network on ``arch``, checked to fit (layers and spike buffers,
    :func:`bsnn_sim.hardware.fit`): a MappingError names the config and the key."""
    from .hardware import fit

    net = inputs_or_net.net if isinstance(inputs_or_net, Inputs) else inputs_or_net
    return fit(net, arch)


def evaluate_prepared(inputs: Inputs, arch: ArchConfig | None = None, analog: AnalogOptions | None = None,
                      timing_images: int | None = None, pipelined: bool = False, functional=None,
                      mapping=None, progress=None, log=None) -> RunResult:
    """Run the prepared inputs on ``arch`` (or only functionally when ``arch`` is None).

    ``functional``: an ideal functional result of these inputs made for a config with
    this one's :func:`functional_key`, reused instead of re-simulated (not with
    ``analog``). ``progress(label)`` returns a ``(done, total)`` callback; ``log(line)``
    receives stage messages.
    """
    if analog is not None and arch is None:
        raise BsnnError("the analog path needs an architecture")
    if arch is not None and mapping is None:
        mapping = map_for(inputs, arch)
    errors = None
    if analog is not None:
        from .analog.montecarlo import simulate_chip

        calibrated = analog.calibrate_images > 0
        work = chip_work(inputs, arch, analog.seed, calibrated, mapping)
        res, errors, _, _ = simulate_chip(work, 0, nominal=True, calibrated=calibrated,
                                          progress=progress and progress("simulating (analog, nominal chip)"))
        mode = "analog path, nominal chip" + (f", calibrated on {analog.calibrate_images} train images"
                                              if calibrated else "")
    else:
        res = functional if functional is not None else functional_pass(inputs, arch,
                                                                        progress and progress("simulating"))
        mode = "ideal devices"
    result = RunResult(inputs, res, mode, arch, sensing_errors=errors, analog=analog)
    if arch is not None:
        from .analog.margin import layer_margins
        from .hardware import activity_of, check_finite, evaluate_hardware

        n = min(timing_images or len(res.labels), len(res.labels))
        if log:
            log(f"timing {n} image(s) on {arch.name} ...")
        try:
            hw = evaluate_hardware(inputs.net, activity_of(res), arch, images=n, pipelined=pipelined, mapping=mapping,
                                   analog=analog is not None)
        except BsnnError as exc:  # a run-time limit of the hardware: name the config it is about
            raise type(exc)(str(exc) if str(exc).startswith(arch.source) else f"{arch.source}: {exc}") from None
        hw.summary()  # checks every figure finite (a SimulationError names the figure)
        result.hardware = hw
        result.margins = layer_margins(mapping, arch)
        check_finite(result.margins, arch.source, "sense_margin.")
    return result


def evaluate(workload, weights=None, data: DataOptions = DataOptions(), arch: ArchConfig | None = None,
             analog: AnalogOptions | None = None, timing_images: int | None = None, pipelined: bool = False,
             calibrate_images: int | None = None, progress=None, log=None) -> RunResult:
    """The whole pipeline for one workload (path or :class:`Workload`) on one optional
    architecture. The mapping is checked before the images are loaded, so a layer that
    does not fit fails before the long run. ``calibrate_images`` (default: the analog
    options') calibration images are loaded into ``result.inputs`` for a later
    :func:`monte_carlo`."""
    wl = _workload(workload)
    net, path = load_network(wl, weights)
    mapping = map_for(net, arch) if arch is not None else None
    if calibrate_images is None:
        calibrate_images = analog.calibrate_images if analog else 0
    inputs = prepare(wl, data=data, calibrate_images=calibrate_images, net=net, weights_path=path)
    return evaluate_prepared(inputs, arch, analog, timing_images, pipelined, mapping=mapping, progress=progress,
                             log=log)


def chip_work(inputs: Inputs, arch: ArchConfig, seed: int, calibrate: bool = False, mapping=None):
    """What every chip of ``arch`` simulates for the prepared inputs
    (:class:`bsnn_sim.analog.montecarlo.Workload`): the images, the noise ``seed`` and,
    when ``calibrate``, ``inputs.calibration_images`` (an error if none were prepared)."""
    from .analog import montecarlo

    if calibrate and inputs.calibration_images is None:
        raise BsnnError("calibration needs calibration images: prepare(..., calibrate_images=N)")
    return montecarlo.Workload(inputs.net, mapping or map_for(inputs, arch), arch, inputs.images, inputs.labels,
                               seed, inputs.data.batch_size, inputs.calibration_images if calibrate else None)


def monte_carlo(inputs: Inputs, arch: ArchConfig, chips: int, seed: int = 0, calibrate: bool = False,
                workers: int | None = None, progress=None, mapping=None):
    """Sample ``chips`` chips of ``arch`` and run the prepared images on each
    (analog/montecarlo.py); calibrated on ``inputs.calibration_images`` if asked."""
    from .analog import montecarlo

    work = chip_work(inputs, arch, seed, calibrate, mapping)
    return work, montecarlo.run_monte_carlo(work, chips, workers, progress=progress)

