"""Command line: ``bsnn-sim run | map | train | energy | inspect | import | export | data``.

One click group, one small function per subcommand. Heavy imports (numba, torch)
happen inside the subcommands so ``--help`` and input validation are instant. A
:class:`~bsnn_sim.errors.BsnnError` becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import BsnnError

DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                        help="Dataset root (else $BSNN_DATA_DIR, the user cache, the vendored copy).")


def ANALOG_OPTIONS(f):
    """The analog-path options shared by ``run`` and ``variation``."""
    for opt in reversed([
        click.option("--analog", is_flag=True, help="Run the nominal chip through the analog path (needs --arch)."),
        click.option("--mc", type=click.IntRange(min=1), default=None, help="Monte Carlo: sample this many chips."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of the sampled chips and of the per-conversion noise."),
        click.option("--calibrate", type=click.IntRange(min=1), default=None,
                     help="Calibrate each chip's converter rows on this many training images first."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Worker processes for Monte Carlo chips (default: one per core)."),
    ]):
        f = opt(f)
    return f


def _progress(label):
    def report(done, total):
        click.echo(f"\r{label}: {done}/{total}", nl=done == total, err=True)
    return report


class UserError(click.ClickException):
    """A BsnnError as click shows it: ``Error: <one line>``, exit code 2."""

    exit_code = 2


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BsnnError as exc:
            raise UserError(str(exc)) from None


@click.group(cls=_Group)
@click.version_option(package_name="bsnn-sim")
def cli():
    """Simulate binary spiking neural networks on STT-MRAM in-memory hardware."""


@cli.command()
@click.argument("workload", type=click.Path(dir_okay=False))
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Weight file (default: the one the workload names).")
@DATA_DIR
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Simulate only the first N images.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the results as JSON to this file.")
@click.option("--arch", type=click.Path(dir_okay=False), default=None,
              help="Architecture config: add latency, energy, area (see arch_configs/).")
@click.option("--timing-images", type=click.IntRange(min=1), default=None,
              help="Time only the first N simulated images (default: all).")
@click.option("--pipelined", is_flag=True, help="Overlap consecutive images in the timing pass.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="With --arch: write results.json, layers.csv and config.toml here.")
@ANALOG_OPTIONS
def run(workload, weights, data_dir, split, limit, batch_size, json_out, arch, timing_images, pipelined, out_dir,
        analog, mc, seed, calibrate, workers):
    """Simulate WORKLOAD's trained network on its dataset; print accuracy and activity,
    and with --arch the latency, energy, TOPS/W, area and sense margin on that hardware.
    --analog runs the nominal chip through the analog path; --mc N samples N chips."""
    from . import datasets
    from .functional import FunctionalSimulator
    from .workload import load_workload

    if (analog or mc or calibrate) and not arch:
        raise BsnnError("--analog, --mc and --calibrate need an architecture: add --arch CONFIG")
    wl = load_workload(workload)
    hw_cfg = mapping = None
    if arch:
        from .arch import load_arch
        from .mapping import map_network

        hw_cfg = load_arch(arch)
    net = _load_weights(wl, weights)
    if hw_cfg is not None:
        mapping = map_network(net, hw_cfg)  # a layer that cannot be mapped fails before the long run
    data = datasets.load(wl.dataset, split, data_dir, limit=limit)
    if data.images.shape[1:] != net.input_shape:
        raise BsnnError(f"{wl.dataset} images are {data.images.shape[1:]}, the network expects {net.input_shape}")
    work = cal_images = None
    if calibrate:
        cal_images = datasets.load(wl.dataset, "train", data_dir, limit=calibrate).images
    if analog or mc:
        from .analog.montecarlo import Workload

        work = Workload(net, mapping, hw_cfg, data.images, data.labels, seed, batch_size, cal_images)
    analog_errors = None
    if analog:
        from .analog.montecarlo import simulate_chip

        res, analog_errors, _, corrections = simulate_chip(work, 0, nominal=True, calibrated=bool(calibrate),
                                                           progress=_progress("simulating (analog, nominal chip)"))
        mode = "analog path, nominal chip" + (f", calibrated on {calibrate} train images" if calibrate else "")
    else:
        if hw_cfg is not None:
            from .hardware import functional_simulator

            sim = functional_simulator(net, hw_cfg)
        else:
            sim = FunctionalSimulator(net)
        res = sim.run(data.images, data.labels, batch_size, progress=_progress("simulating"))
        mode = "ideal devices"
    report = {
        "workload": wl.name, "weights": str(weights or wl.weights), "dataset": wl.dataset, "split": split,
        "images": int(len(data.labels)), "mode": mode, "accuracy": res.accuracy,
        "correct": int((res.predictions == res.labels).sum()),
        "time_steps": net.time_steps, "seconds": res.seconds, "images_per_s": len(data.labels) / res.seconds,
        "firing_rate": res.firing_rates(),
    }
    click.echo(f"{wl.name}: accuracy {100 * res.accuracy:.2f} % ({report['correct']}/{report['images']} "
               f"{wl.dataset} {split} images, {mode}), T = {net.time_steps}, "
               f"{report['images_per_s']:.0f} images/s")
    if analog_errors is not None:
        report["sensing_errors"] = analog_errors
        click.echo("sensing errors (converted count vs ideal popcount of the same inputs):")
        for name, e in analog_errors.items():
            click.echo(f"  {name:<16} {100 * e['error_rate']:6.2f} % of {e['conversions']} conversions off; "
                       f"mean |err| {e['mean_abs_error']:.3f}, rms {e['rms_error']:.3f}, max {e['max_abs_error']} counts")
    click.echo("mean firing rate (spikes per neuron per step):")
    for name, rate in report["firing_rate"].items():
        click.echo(f"  {name:<16} {rate:.4f}")
    if hw_cfg is not None:
        report["hardware"] = _hardware(net, res, hw_cfg, mapping, timing_images, pipelined, out_dir, report)
    if mc:
        report["monte_carlo"] = _monte_carlo(work, mc, workers, calibrate, report.get("hardware"))
        if out_dir:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    if json_out:
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n")


def _monte_carlo(work, chips, workers, calibrate, hardware):
    """Run and print the Monte Carlo chips; the summary (with per-chip accuracies) for JSON."""
    from .analog import montecarlo

    click.echo(f"Monte Carlo: {chips} chips, seed {work.seed}, {len(work.labels)} images each ...", err=True)
    outcomes = montecarlo.run_monte_carlo(work, chips, workers, progress=_progress("chips"))
    summary = montecarlo.summarize(outcomes)
    click.echo(montecarlo.report(summary, calibrate or 0))
    if calibrate and hardware:
        click.echo(f"  calibration cost: {calibrate} inferences once per chip = "
                   f"{calibrate * hardware['energy_per_inference_pj'] / 1e6:.3f} uJ, "
                   f"{calibrate * hardware['latency_mean_ns'] / 1e3:.2f} us (at the nominal per-inference figures)")
    summary["per_chip"] = [{"index": o.index, "accuracy": o.accuracy, "dynamic_energy_pj": o.dynamic_energy_pj,
                            "array_energy_factor": o.array_energy_factor,
                            **({"uncalibrated_accuracy": o.uncalibrated["accuracy"]} if o.uncalibrated else {})}
                           for o in outcomes]
    summary["seed"] = work.seed
    return summary


def _load_weights(wl, weights):
    """The weight file given, or the workload's; a missing default says how to make it."""
    from . import weightfile

    path = Path(weights or wl.weights)
    if weights is None and not path.exists():
        raise BsnnError(f"{path}: weight file not found; train it with: bsnn-sim train {wl.path}")
    return weightfile.load(path)


def _write_csv(path, rows: list[dict]):
    import csv

    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _hardware(net, res, cfg, mapping, timing_images, pipelined, out_dir, report):
    """Map, time and price the functional result; print and optionally write results."""
    from .hardware import activity_of, evaluate_hardware, saturation_report

    click.echo(saturation_report(res))
    n = min(timing_images or len(res.labels), len(res.labels))
    click.echo(f"timing {n} image(s) on {cfg.name} ...", err=True)
    hw = evaluate_hardware(net, activity_of(res), cfg, images=n, pipelined=pipelined, mapping=mapping)
    click.echo(f"hardware: {cfg.name} ({cfg.subarray.rows}x{cfg.subarray.columns} subarrays, "
               f"t_clk {cfg.technology.t_clk_ns} ns), timing over {n} image(s)")
    click.echo(hw.report())
    from .analog.margin import layer_margins, margin_report

    margins = layer_margins(mapping, cfg)
    click.echo(margin_report(margins))
    summary = {**hw.summary(), "sense_margin": margins}
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps({**report, "hardware": summary}, indent=2) + "\n")
        _write_csv(out / "layers.csv", hw.layer_rows())
        (out / "config.toml").write_text(cfg.to_toml())
        click.echo(f"wrote {out / 'results.json'}, {out / 'layers.csv'}, {out / 'config.toml'}")
    return summary


@cli.command()
@click.argument("workload", type=click.Path(dir_okay=False))
@click.option("--arch", type=click.Path(dir_okay=False), required=True, help="Architecture config.")
@click.option("--param", required=True, help="Config key to vary, SECTION.KEY (e.g. mtj.sigma_r_rel).")
@click.option("--values", "values_text", required=True, help="Comma-separated values, e.g. 0,0.02,0.05,0.1.")
@click.option("--mc", type=click.IntRange(min=1), default=20, show_default=True, help="Chips per value.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the chips.")
@click.option("--calibrate", type=click.IntRange(min=1), default=None,
              help="Calibrate each chip on this many training images first.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: one per core).")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Weight file (default: the one the workload names).")
@DATA_DIR
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N images.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory for variation.csv, variation.json and variation.png.")
def variation(workload, arch, param, values_text, mc, seed, calibrate, workers, weights, data_dir, split, limit,
              batch_size, out_dir):
    """Accuracy against one architecture parameter: --mc chips at each of --values."""
    from . import datasets
    from .analog import variation as var
    from .arch import load_arch
    from .workload import load_workload

    wl = load_workload(workload)
    cfg = load_arch(arch)
    values = var.parse_values(values_text, param)
    for v in values:  # every value validated before any simulation
        cfg.replace(**{param: v})
    net = _load_weights(wl, weights)
    data = datasets.load(wl.dataset, split, data_dir, limit=limit)
    cal = datasets.load(wl.dataset, "train", data_dir, limit=calibrate).images if calibrate else None

    def show(row):
        click.echo(f"  {param} = {row['value']}: accuracy {100 * row['accuracy_mean']:.2f} % +- "
                   f"{100 * row['accuracy_std']:.2f} (worst {100 * row['accuracy_min']:.2f} %), sigma "
                   f"{row['sigma_counts_max']:.2f} counts/sensing, margin {row['verdict']}")

    click.echo(f"{wl.name} on {cfg.name}: {param} over {values}, {mc} chips x {len(data.labels)} images")
    rows = var.sweep(net, cfg, param, values, data.images, data.labels, mc, seed, batch_size, workers, cal, show)
    meta = {"workload": wl.name, "arch": cfg.name, "param": param, "values": values, "chips": mc, "seed": seed,
            "images": int(len(data.labels)), "split": split, "calibration_images": calibrate or 0}
    written = var.write(rows, Path(out_dir), meta)
    click.echo("wrote " + ", ".join(map(str, written)))
    if not any(p.suffix == ".png" for p in written):
        click.echo("no PNG: matplotlib is not installed (pip install 'bsnn-sim[plot]')")


@cli.command("map")
@click.argument("workload", type=click.Path(dir_okay=False))
@click.option("--arch", type=click.Path(dir_okay=False), required=True, help="Architecture config.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Weight file (default: the one the workload names).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), default=None, help="Also write the table as CSV.")
def map_cmd(workload, arch, weights, csv_out):
    """Mapping report: subarrays per layer, chunks, replicas, utilization."""
    from .arch import load_arch
    from .mapping import map_network
    from .workload import load_workload

    wl = load_workload(workload)
    cfg = load_arch(arch)
    mapping = map_network(_load_weights(wl, weights), cfg)
    click.echo(mapping.report())
    if csv_out:
        _write_csv(csv_out, mapping.to_rows())


@cli.command()
@click.argument("workload", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Weight file to write (default: the one the workload names).")
@DATA_DIR
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the workload's epochs.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N images of each split.")
@click.option("--resume", is_flag=True, help="Continue from OUT.ckpt.pt if it exists.")
def train(workload, out, data_dir, epochs, limit, resume):
    """Train WORKLOAD with surrogate gradients and export its weight file (needs PyTorch)."""
    from .workload import load_workload

    wl = load_workload(workload)
    try:
        from .train.trainer import train as run_training
    except ModuleNotFoundError as exc:
        raise BsnnError(f"training needs PyTorch ({exc}); install it with: pip install 'bsnn-sim[train]'") from None
    out = Path(out or wl.weights)
    res = run_training(wl, out, data_dir, resume=resume, limit=limit, epochs=epochs, log=click.echo,
                       command="bsnn-sim " + " ".join(sys.argv[1:]))
    click.echo(f"trained {wl.name} in {res.seconds:.0f} s: integer test accuracy {100 * res.integer_accuracy:.2f} %")


@cli.command()
@click.option("--arch", type=click.Path(dir_okay=False), required=True, help="Architecture config.")
def energy(arch):
    """Per-action energies and the row-sensing calibration of an architecture config."""
    from . import energy as model
    from .arch import load_arch

    click.echo(model.calibration_report(load_arch(arch)))


@cli.command()
@click.argument("weights", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a table.")
def inspect(weights, as_json):
    """Describe a weight file: layers, shapes, T, thresholds, encoding."""
    from . import weightfile

    net = weightfile.load(weights)
    click.echo(json.dumps(weightfile.summary(net), indent=2) if as_json else weightfile.describe(net))


@cli.group()
def data():
    """Datasets: fetch them (online) or list where they are looked for."""


@data.command()
@click.argument("name", type=click.Choice(["mnist", "fashion_mnist", "cifar10"]))
@DATA_DIR
@click.option("--base-url", default=None, help="Mirror to download from (default: the dataset's official one).")
def fetch(name, data_dir, base_url):
    """Download dataset NAME and verify its SHA-256."""
    from . import datasets

    def progress(done, total, filename):
        click.echo(f"\r{filename}: {done}/{total or '?'} bytes", nl=bool(total) and done >= total, err=True)

    path = datasets.fetch(name, data_dir, base_url=base_url, progress=progress)
    click.echo(f"{name}: verified in {path}")


@data.command("where")
@DATA_DIR
def where(data_dir):
    """List the directories searched for datasets, in order."""
    from . import datasets

    for d in datasets.resolve_data_dirs(data_dir):
        click.echo(str(d))


def _images(inputs, data_dir, limit):
    """uint8 images (N, C, H, W) from a .npy file or a dataset's test split."""
    import numpy as np

    from . import datasets

    if inputs.endswith(".npy"):
        try:
            images = np.load(inputs, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise BsnnError(f"{inputs}: cannot read images: {e}") from None
        if images.dtype != np.uint8 or images.ndim != 4:
            raise BsnnError(f"{inputs}: images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
        return images[:limit]
    return datasets.load(inputs, "test", data_dir, limit=limit).images


@cli.command("import")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Weight file to write.")
@click.option("--time-steps", type=click.IntRange(1, 1024), default=None,
              help="T (required unless the graph was exported by bsnn-sim).")
@click.option("--encoding", type=click.Choice(["direct", "threshold", "rate"]), default=None,
              help="What the graph's input is: pixels (direct) or spikes (default: direct, or the exporter's).")
@click.option("--encoding-level", type=click.IntRange(1, 255), default=128, show_default=True)
@click.option("--encoding-seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@click.option("--input-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="The graph's input is this times the encoded image (e.g. 1/255 for pixels in 0..1).")
@click.option("--input-shape", default=None, help="C,H,W of the images when the graph's input is a vector.")
@click.option("--fire", type=click.Choice(["gt", "ge"]), default="gt", show_default=True,
              help="Neurons fire on v > v_threshold (NIR, snnTorch) or v >= v_threshold (SpikingJelly).")
@click.option("--reset", type=click.Choice(["graph", "subtract"]), default="graph", show_default=True,
              help="graph: to v_reset (NIR); subtract: v -= v_threshold (snnTorch's default Leaky).")
@click.option("--dt", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Time step of the graph's neurons (s).")
@click.option("--frac-bits", type=click.IntRange(0, 24), default=None,
              help="Round biases/thresholds that no power-of-two grid holds exactly to this many fraction bits.")
@click.option("--binarize", is_flag=True, help="Accept the documented approximations instead of failing.")
@click.option("--report", is_flag=True, help="Print what was converted how, and how far it is from the graph.")
@click.option("--inputs", default=None, help="With --report: images (.npy, uint8 N,C,H,W) or a dataset name.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Images for --inputs.")
@DATA_DIR
def import_cmd(model, out, time_steps, encoding, encoding_level, encoding_seed, input_scale, input_shape,
               fire, reset, dt, frac_bits, binarize, report, inputs, limit, data_dir):
    """Convert a NIR graph (snnTorch, SpikingJelly, ...) into a weight file (docs/interop.md)."""
    from . import weightfile
    from .interop import nir as interop
    from .interop.reading import Fire, Reading, Reset
    from .network import Encoding, EncodingKind

    graph = interop.read_graph(model)
    stored = interop.reading_defaults(graph)
    if time_steps is None and "time_steps" not in stored:
        raise BsnnError(f"{model}: --time-steps is required: a NIR graph does not say how many steps it runs")
    enc = (Encoding(EncodingKind(encoding), encoding_level, encoding_seed) if encoding
           else stored.get("encoding", Encoding(EncodingKind.DIRECT)))
    shape = None
    if input_shape:
        try:
            shape = tuple(int(v) for v in input_shape.split(","))
        except ValueError:
            shape = ()
        if len(shape) != 3 or min(shape) < 1:
            raise BsnnError(f"--input-shape {input_shape!r}: expected three positive integers C,H,W")
    reading = Reading(time_steps or stored["time_steps"], enc, input_scale, dt, Fire(fire), Reset(reset),
                      binarize, shape or stored.get("input_shape"), frac_bits)
    conv = interop.import_graph(graph, reading)
    weightfile.save(conv.network, out)
    click.echo(f"wrote {out}: {len(conv.network.nodes)} nodes, T = {reading.time_steps}, "
               f"{'exact' if conv.exact else f'{len(conv.approximations)} approximation(s)'}")
    if report:
        click.echo("\n".join(["conversion:"] + [f"  {n}" for n in conv.notes]
                              + (["approximations:"] + [f"  {a}" for a in conv.approximations]
                                 if conv.approximations else [])))
        if inputs is None:
            click.echo("distance to the graph: not measured (give --inputs)")
        else:
            from .interop.compare import compare

            click.echo(compare(graph, reading, conv, _images(inputs, data_dir, limit)).report())


@cli.command("export")
@click.argument("weights", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="NIR file to write.")
@click.option("--dt", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Time step written into the neurons (s).")
def export_cmd(weights, out, dt):
    """Write a weight file as a NIR graph that other SNN tools can read (docs/interop.md)."""
    from . import weightfile
    from .interop import nir as interop

    net = weightfile.load(weights)
    interop.write_graph(interop.export_network(net, dt), out)
    click.echo(f"wrote {out}: {len(net.nodes)} bsnn-sim nodes as a NIR graph")


main = cli
