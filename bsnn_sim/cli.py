"""Command line: ``bsnn-sim run | sweep | regress | plot | map | variation | train | energy | inspect | import |
export | data``.

One click group, one small function per subcommand. Heavy imports (numba, torch)
happen inside the subcommands so ``--help`` and input validation are instant. A
:class:`~bsnn_sim.errors.BsnnError` becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click

from .errors import BsnnError, OutputError

DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                        help="Dataset root (else $BSNN_DATA_DIR, the user cache, the vendored copy).")


def IMAGE_OPTIONS(f):
    """Which weights and images a simulation runs: shared by ``run`` and ``variation``."""
    for opt in reversed([
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Weight file (default: the one the workload names)."),
        DATA_DIR,
        click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="Simulate only the first N images."),
        click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True),
    ]):
        f = opt(f)
    return f


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
    """``report(done, total)`` on stderr with elapsed time and ETA: rewritten in place on a
    terminal; elsewhere (logs, CI) one line per tenth of the work and at the end."""
    import time

    t0 = time.perf_counter()
    tty = sys.stderr.isatty()
    shown = [-1]

    def report(done, total):
        elapsed = time.perf_counter() - t0
        eta = elapsed / done * (total - done) if done else 0.0
        text = f"{label}: {done}/{total}, {elapsed:.0f} s" + (f", ETA {eta:.0f} s" if done < total else "")
        if tty:
            click.echo(f"\r{text}   ", nl=done == total, err=True)
            return
        tenth = 10 * done // max(total, 1)
        if tenth > shown[0] or done == total:
            shown[0] = tenth
            click.echo(text, err=True)
    return report


class UserError(click.ClickException):
    """A BsnnError as click shows it: ``Error: <one line>``, exit code 2."""

    exit_code = 2


def _one_line(text: str) -> str:
    """A message as one line (a path or value may hold a line break)."""
    return " ".join(str(text).split())


def _usage_error(exc: click.UsageError) -> click.ClickException:
    """click's usage error (usage, hint and message: three lines) as one line, exit code 2."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return exc  # a bare command shows its help, as click does
    where = exc.ctx.command_path if exc.ctx is not None else "bsnn-sim"
    return UserError(_one_line(f"{exc.format_message()} (see '{where} --help')"))


class _Group(click.Group):
    """The top-level group: every user error, click's own included, is one line and exit code 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _usage_error(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BsnnError as exc:
            raise UserError(_one_line(exc)) from None
        except click.UsageError as exc:
            raise _usage_error(exc) from None


def _output_file(path, option: str) -> Path:
    """Check, before any work, that ``path`` can be written (its directory exists and
    takes a new file; an existing file is writable and not a directory)."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{option} {p}: is a directory; expected a file name")
    _writable_dir(p.parent, option, p)
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputError(f"{option} {p}: the existing file is not writable")
    return p


def _output_dir(path, option: str) -> Path:
    """Create directory ``path`` (and parents) now and check that it takes new files."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {p}: cannot create the directory ({exc.strerror or exc})") from None
    _writable_dir(p, option, p)
    return p


def _writable_dir(directory: Path, option: str, target: Path):
    if not directory.is_dir():
        raise OutputError(f"{option} {target}: directory {directory} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".bsnn-write-test-"):
            pass
    except OSError as exc:
        raise OutputError(f"{option} {target}: cannot write in {directory} ({exc.strerror or exc})") from None


@click.group(cls=_Group)
@click.version_option(package_name="bsnn-sim")
def cli():
    """Simulate binary spiking neural networks on STT-MRAM in-memory hardware."""


@cli.command()
@click.argument("workload", type=click.Path(dir_okay=False))
@IMAGE_OPTIONS
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the results as JSON to this file.")
@click.option("--arch", type=click.Path(dir_okay=False), default=None,
              help="Architecture config: add latency, energy, area (see arch_configs/).")
@click.option("--timing-images", type=click.IntRange(min=1), default=None,
              help="Time only the first N simulated images (default: all).")
@click.option("--pipelined", is_flag=True, help="Overlap consecutive images in the timing pass.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write results.json (with provenance), predictions.csv/.npy, scores.npy and, with --arch, "
                   "layers.csv and config.toml here.")
@ANALOG_OPTIONS
def run(workload, weights, data_dir, split, limit, batch_size, json_out, arch, timing_images, pipelined, out_dir,
        analog, mc, seed, calibrate, workers):
    """Simulate WORKLOAD's trained network on its dataset; print accuracy and activity,
    and with --arch the latency, energy, TOPS/W, area and sense margin on that hardware.
    --analog runs the nominal chip through the analog path; --mc N samples N chips."""
    from . import pipeline, report

    _needs_arch(arch, analog=analog, mc=mc, calibrate=calibrate, timing_images=timing_images, pipelined=pipelined)
    json_path = _output_file(json_out, "--json") if json_out else None
    out_path = _output_dir(out_dir, "--out") if out_dir else None
    hw_cfg = None
    if arch:
        from .arch import load_arch

        hw_cfg = load_arch(arch)
    result = pipeline.evaluate(
        workload, weights, pipeline.DataOptions(split, limit, data_dir, batch_size), hw_cfg,
        pipeline.AnalogOptions(seed, calibrate or 0) if analog else None, timing_images, pipelined,
        calibrate_images=calibrate or 0, progress=_progress, log=lambda line: click.echo(line, err=True))
    _print_run(result)
    if mc:
        result.extra["monte_carlo"] = _monte_carlo(result, mc, seed, workers, calibrate)
    command = "bsnn-sim " + " ".join(sys.argv[1:])
    if out_path:
        written = report.write_run(result, out_path, command)
        click.echo("wrote " + ", ".join(str(p) for p in written))
    if json_path:
        report.write_json(json_path, report.run_summary(result, command))


def _needs_arch(arch, **options):
    """Options that only mean something with --arch are an error without it (not ignored)."""
    given = [name.replace("_", "-") for name, value in options.items() if value]
    if given and not arch:
        raise click.UsageError(f"--{given[0]} needs --arch (it concerns the hardware report)",
                               ctx=click.get_current_context())


def _defaults_line(cfg) -> str:
    """Which keys the config file leaves at their defaults, grouped by section."""
    from .arch import SECTIONS

    if not cfg.defaults_used:
        return f"config {cfg.name}: every key set in the file"
    left = set(cfg.defaults_used)
    parts = []
    for sec, cls in SECTIONS.items():
        names = [f for f in cls.__dataclass_fields__ if f"{sec}.{f}" in left]
        if len(names) == len(cls.__dataclass_fields__):
            parts.append(f"{sec}.*")
        elif names:
            parts.append(f"{sec}.{{{', '.join(names)}}}")
    return (f"config {cfg.name}: {len(left)} keys left at the defaults of bsnn_sim/arch.py "
            f"(docs/config-reference.md): {', '.join(parts)}")


def _print_run(result):
    """The text report of a :class:`~bsnn_sim.pipeline.RunResult`."""
    s = result.summary()
    click.echo(f"{s['workload']}: accuracy {100 * s['accuracy']:.2f} % ({s['correct']}/{s['images']} "
               f"{s['dataset']} {s['split']} images, {s['mode']}), T = {s['time_steps']}, "
               f"{s['images_per_s']:.0f} images/s"
               + (f" (after a {s['warmup_seconds']:.1f} s untimed warm-up: Numba compile or cache load)"
                  if s.get("warmup_seconds", 0) >= 0.5 else ""))
    if result.sensing_errors is not None:
        click.echo("sensing errors (converted count vs ideal popcount of the same inputs):")
        for name, e in result.sensing_errors.items():
            click.echo(f"  {name:<16} {100 * e['error_rate']:6.2f} % of {e['conversions']} conversions off; "
                       f"mean |err| {e['mean_abs_error']:.3f}, rms {e['rms_error']:.3f}, max {e['max_abs_error']} counts")
    click.echo("mean firing rate (spikes per neuron per step):")
    for name, rate in s["firing_rate"].items():
        click.echo(f"  {name:<16} {rate:.4f}")
    if result.hardware is not None:
        from .analog.margin import margin_report
        from .hardware import saturation_report

        click.echo(saturation_report(result.functional))
        cfg, n = result.arch, result.hardware.n_images
        click.echo(f"hardware: {cfg.name} ({cfg.subarray.rows}x{cfg.subarray.columns} subarrays, "
                   f"t_clk {cfg.technology.t_clk_ns} ns), timing over {n} image(s)")
        click.echo(_defaults_line(cfg))
        click.echo(result.hardware.report())
        click.echo(margin_report(result.margins))


def _monte_carlo(result, chips, seed, workers, calibrate):
    """Run and print the Monte Carlo chips; the summary (with per-chip accuracies) for JSON."""
    from . import pipeline
    from .analog import montecarlo

    click.echo(f"Monte Carlo: {chips} chips, seed {seed}, {len(result.inputs.labels)} images each ...", err=True)
    work, outcomes = pipeline.monte_carlo(result.inputs, result.arch, chips, seed, bool(calibrate), workers,
                                          progress=_progress("chips"), mapping=result.hardware.mapping)
    summary = montecarlo.summarize(outcomes)
    click.echo(montecarlo.report(summary, calibrate or 0))
    hardware = result.hardware_summary()
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
@IMAGE_OPTIONS
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory for variation.csv, variation.json and variation.png.")
def variation(workload, arch, param, values_text, mc, seed, calibrate, workers, weights, data_dir, split, limit,
              batch_size, out_dir):
    """Accuracy against one architecture parameter: --mc chips at each of --values."""
    from . import pipeline
    from .analog import variation as var
    from .arch import load_arch
    from .workload import load_workload

    wl = load_workload(workload)
    cfg = load_arch(arch)
    values = var.parse_values(values_text, param)
    variants = [cfg.replace(**{param: v}) for v in values]  # every value validated before any simulation
    _output_dir(out_dir, "--out")
    net, weights_path = pipeline.load_network(wl, weights)
    for variant in variants:  # every value's hardware holds the network (subarrays, buffers)
        pipeline.map_for(net, variant)
    data = pipeline.prepare(wl, data=pipeline.DataOptions(split, limit, data_dir, batch_size),
                            calibrate_images=calibrate or 0, net=net, weights_path=weights_path)

    def show(row):
        click.echo(f"  {param} = {row['value']}: accuracy {100 * row['accuracy_mean']:.2f} % +- "
                   f"{100 * row['accuracy_std']:.2f} (worst {100 * row['accuracy_min']:.2f} %), sigma "
                   f"{row['sigma_counts_max']:.2f} counts/sensing, margin {row['verdict']}")

    click.echo(f"{wl.name} on {cfg.name}: {param} over {values}, {mc} chips x {len(data.labels)} images")
    rows = var.sweep(data, cfg, param, values, mc, seed, workers, bool(calibrate), show)
    meta = {"workload": wl.name, "arch": cfg.name, "param": param, "values": values, "chips": mc, "seed": seed,
            "images": int(len(data.labels)), "split": split, "calibration_images": calibrate or 0}
    written = var.write(rows, Path(out_dir), meta)
    click.echo("wrote " + ", ".join(map(str, written)))
    if not any(p.suffix == ".png" for p in written):
        click.echo("no PNG: matplotlib is not installed (pip install 'bsnn-sim[plot]')")


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Results directory: points/<key>.json, results.csv, sweep.json (a rerun skips finished points).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default: one per core).")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:8786) instead of local workers.")
def sweep(spec, out_dir, workers, scheduler):
    """Run the design-space sweep SPEC (a TOML file, docs/sweeps.md) into OUT."""
    from .sweep import load_spec, run_sweep

    sp = load_spec(spec)
    _output_dir(out_dir, "--out")
    outcome = run_sweep(sp, out_dir, workers, scheduler, log=lambda line: click.echo(line, err=True))
    click.echo(f"{sp.name}: {len(sp.points)} points: {outcome.count('ok')} ok, {outcome.count('invalid')} invalid, "
               f"{outcome.count('failed')} failed ({outcome.computed} run now, {outcome.skipped} already finished)")
    for r in outcome.records:
        if r["status"] != "ok":
            click.echo(f"  point {r['index']} {r['status']}: {r['reason']}")
    click.echo(f"wrote {Path(out_dir) / 'results.csv'}")


@cli.command()
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@click.option("--x", "x_key", default=None, help="Column of results.csv on the x axis (e.g. energy_per_inference_nj).")
@click.option("--y", "y_key", default=None, help="Column on the y axis (e.g. latency_ns).")
@click.option("--color", "color_key", default=None,
              help="Column that colours the points (e.g. accuracy, subarray.rows).")
@click.option("--pareto", type=click.Choice(["min-min", "min-max", "max-min", "max-max"]), default=None,
              help="Draw the Pareto front: whether x and y are minimised or maximised.")
@click.option("--out", "out_stem", type=click.Path(dir_okay=False), default=None,
              help="Output path without extension (default: SWEEP_DIR/<y>_vs_<x>); writes .png and .svg.")
@click.option("--title", default=None, help="Plot title (default: the directory name and point count).")
def plot(sweep_dir, x_key, y_key, color_key, pareto, out_stem, title):
    """Scatter plot of a sweep's results (SWEEP_DIR/results.csv, needs --x and --y), or,
    for a run directory (bsnn-sim run --arch ... --out DIR), its energy per inference by
    action and by layer. PNG and SVG."""
    from .plot import run_energy, scatter

    if not (Path(sweep_dir) / "results.csv").exists() and (Path(sweep_dir) / "results.json").exists():
        written = run_energy(sweep_dir, out_stem, title)
        click.echo("wrote " + ", ".join(map(str, written)))
        return
    if not (x_key and y_key):
        raise click.UsageError("a sweep plot needs --x and --y (columns of results.csv)",
                               ctx=click.get_current_context())
    written = scatter(sweep_dir, x_key, y_key, color_key, tuple(pareto.split("-")) if pareto else None, out_stem,
                      title)
    click.echo("wrote " + ", ".join(map(str, written)))


@cli.command()
@click.option("--root", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
              help="Repository root holding workloads/ and arch_configs/.")
@click.option("--goldens", "goldens_dir", type=click.Path(file_okay=False), default=None,
              help="Directory of golden *.json files (default: ROOT/tests/goldens).")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-9, show_default=True,
              help="Relative tolerance for float metrics (counts and predictions are exact).")
@click.option("--update", is_flag=True, help="Rewrite the goldens that moved, after showing what moved.")
@DATA_DIR
def regress(root, goldens_dir, rtol, update, data_dir):
    """Re-run every golden case (tests/goldens/*.json) and show what moved; exit 1 on a
    regression, or with --update rewrite the moved goldens."""
    from . import regress as reg

    goldens_dir = Path(goldens_dir or Path(root) / "tests" / "goldens")
    cases = reg.run_all(root, goldens_dir, rtol, data_dir, progress=lambda name: click.echo(f"running {name} ...",
                                                                                            err=True))
    click.echo(reg.table(cases))
    moved = [c for c in cases if c.moved]
    for name in reg.ungolden_workloads(root, cases):
        click.echo(f"note: workload {name} has no golden")
    click.echo(f"{len(cases)} golden case(s): {len(cases) - len(moved)} unchanged, {len(moved)} moved")
    if update:
        for c in moved:
            if c.now is not None:
                reg.write_golden(c.path, c.now)
                click.echo(f"updated {c.path}")
        if any(c.error for c in moved):
            raise BsnnError("some golden cases could not run (see the table); their goldens are unchanged")
    elif moved:
        sys.exit(1)


@cli.command("map")
@click.argument("workload", type=click.Path(dir_okay=False))
@click.option("--arch", type=click.Path(dir_okay=False), required=True, help="Architecture config.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Weight file (default: the one the workload names).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), default=None, help="Also write the table as CSV.")
def map_cmd(workload, arch, weights, csv_out):
    """Mapping report: subarrays per layer, chunks, replicas, utilization."""
    from .arch import load_arch
    from .hardware import fit
    from .pipeline import load_network
    from .workload import load_workload

    csv_path = _output_file(csv_out, "--csv") if csv_out else None
    wl = load_workload(workload)
    cfg = load_arch(arch)
    mapping = fit(load_network(wl, weights)[0], cfg)
    click.echo(_defaults_line(cfg))
    click.echo(mapping.report())
    if csv_path:
        from .report import write_csv

        write_csv(csv_path, mapping.to_rows())


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
    out = _output_file(out or wl.weights, "--out")
    _output_file(str(out) + ".ckpt.pt", "--out (its checkpoint)")
    try:
        from .train.trainer import train as run_training
    except ModuleNotFoundError as exc:
        raise BsnnError(f"training needs PyTorch ({exc}); install it with: pip install 'bsnn-sim[train]'") from None
    res = run_training(wl, out, data_dir, resume=resume, limit=limit, epochs=epochs, log=click.echo,
                       command="bsnn-sim " + " ".join(sys.argv[1:]))
    click.echo(f"trained {wl.name} in {res.seconds:.0f} s: integer test accuracy {100 * res.integer_accuracy:.2f} %")


@cli.command()
@click.option("--arch", type=click.Path(dir_okay=False), required=True, help="Architecture config.")
def energy(arch):
    """Per-action energies and the row-sensing calibration of an architecture config."""
    from . import energy as model
    from .arch import load_arch

    cfg = load_arch(arch)
    click.echo(_defaults_line(cfg))
    click.echo(model.calibration_report(cfg))


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

    out = _output_file(out, "--out")
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

    out = _output_file(out, "--out")
    net = weightfile.load(weights)
    interop.write_graph(interop.export_network(net, dt), out)
    click.echo(f"wrote {out}: {len(net.nodes)} bsnn-sim nodes as a NIR graph")


main = cli
