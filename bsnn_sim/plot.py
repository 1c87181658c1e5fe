"""Plots of a sweep's ``results.csv`` (matplotlib, the optional ``plot`` extra).

:func:`scatter` draws one marker per finished (``ok``) point at (``x``, ``y``), coloured
by a third column: a colour bar when that column is numeric with more than six distinct
values, a legend otherwise.
With ``pareto`` it also draws the Pareto front: the points no other point beats on both
axes, "beats" meaning smaller for an axis to minimise and larger for one to maximise
(``pareto = ("min", "max")`` for, e.g., energy against TOPS/W). It writes PNG and SVG.

:func:`run_energy` draws one run's energy per inference (``bsnn-sim run --arch ... --out
DIR``: ``DIR/results.json``) as two bar charts: by action (each action's count x its
energy, and each leakage term) and by layer (``(shared)``: buffers and wires no single
layer owns), and beside them its latency by layer (each layer's share of the mean latency:
:meth:`bsnn_sim.timing.result.TimingResult.latency_by_layer_ns`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from .errors import BsnnError, ConfigError

DISCRETE_COLORS = 6  # a colour column with at most this many distinct values gets a legend, not a colour bar


def read_rows(sweep_dir) -> list[dict]:
    path = Path(sweep_dir) / "results.csv"
    if not path.exists():
        raise ConfigError(f"{path}: not found; run bsnn-sim sweep SPEC --out {sweep_dir} first")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _number(text: str):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def column(rows: list[dict], key: str, where) -> list:
    """The values of ``key`` in ``rows``: floats when every value is a number, else text."""
    if rows and key not in rows[0]:
        raise ConfigError(f"{where}: no column {key!r}; columns: {', '.join(rows[0])}")
    values = [r[key] for r in rows]
    numbers = [_number(v) for v in values]
    return numbers if all(n is not None for n in numbers) else values


def pareto_front(xs, ys, sense=("min", "min")) -> list[int]:
    """Indices of the points no other point beats on both axes, sorted by x."""
    sx = 1 if sense[0] == "min" else -1
    sy = 1 if sense[1] == "min" else -1
    order = sorted(range(len(xs)), key=lambda i: (sx * xs[i], sy * ys[i]))
    front, best = [], None
    for i in order:
        if best is None or sy * ys[i] < best:
            front.append(i)
            best = sy * ys[i]
    return sorted(front, key=lambda i: xs[i])


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        raise BsnnError("plots need matplotlib: pip install 'bsnn-sim[plot]'") from None
    return plt


def save(fig, path: Path, fmt: str | None = None) -> Path:
    """``fig`` into ``path`` whole or not at all (a temporary file, then a rename)."""
    from .atomic import write_atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic_path(path, lambda tmp: fig.savefig(tmp, dpi=120, format=fmt or path.suffix.lstrip(".")))
    return path


def _save(fig, stem: Path) -> list[Path]:
    return [save(fig, stem.with_name(stem.name + ext)) for ext in (".png", ".svg")]


def run_energy(run_dir, out_stem=None, title: str | None = None) -> list[Path]:
    """Energy per inference of one run by action and by layer (module docstring)."""
    import json

    path = Path(run_dir) / "results.json"
    try:
        hw = json.loads(path.read_text()).get("hardware")
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read a run's results ({exc})") from None
    if not hw or "energy_breakdown_pj" not in hw:
        raise ConfigError(f"{path}: no hardware figures; write them with bsnn-sim run --arch CONFIG --out {run_dir}")
    plt = _pyplot()
    panels = [("energy_breakdown_pj", "energy by action", "nJ per inference", 1e-3),
              ("energy_by_layer_pj", "energy by layer", "nJ per inference", 1e-3)]
    if hw.get("latency_by_layer_ns"):
        panels.append(("latency_by_layer_ns", "latency by layer", "ns per inference (share of the latency)", 1.0))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.4))
    for ax, (key, label, unit, scale) in zip(axes, panels):
        parts = {k: v * scale for k, v in hw.get(key, {}).items() if k != "total" and v > 0}
        ax.barh(list(parts), list(parts.values()), color="tab:blue" if key.startswith("energy") else "tab:orange")
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_title(label)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title or f"{Path(run_dir).name}: {hw['energy_per_inference_pj'] / 1e3:.1f} nJ per inference")
    fig.tight_layout()
    written = _save(fig, Path(out_stem) if out_stem else Path(run_dir) / "energy")
    plt.close(fig)
    return written


def scatter(sweep_dir, x: str, y: str, color: str | None = None, pareto=None, out_stem=None,
            title: str | None = None) -> list[Path]:
    """Plot ``y`` against ``x`` for the sweep in ``sweep_dir``; returns the files written."""
    plt = _pyplot()
    where = Path(sweep_dir) / "results.csv"
    rows = [r for r in read_rows(sweep_dir) if r["status"] == "ok"]
    if not rows:
        raise BsnnError(f"{where}: no finished (ok) points to plot")
    xs, ys = column(rows, x, where), column(rows, y, where)
    for key, values in ((x, xs), (y, ys)):
        if not all(isinstance(v, float) for v in values):
            raise ConfigError(f"{where}: column {key!r} is not numeric")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if color:
        cs = column(rows, color, where)
        if all(isinstance(c, float) for c in cs) and len(set(cs)) > DISCRETE_COLORS:
            sc = ax.scatter(xs, ys, c=cs, cmap="viridis", s=36, edgecolors="k", linewidths=0.4, zorder=3)
            fig.colorbar(sc, ax=ax, label=color)
        else:
            for value in dict.fromkeys(cs):
                idx = [i for i, c in enumerate(cs) if c == value]
                label = f"{value:g}" if isinstance(value, float) else value
                ax.scatter([xs[i] for i in idx], [ys[i] for i in idx], s=36, edgecolors="k", linewidths=0.4,
                           label=f"{color} = {label}", zorder=3)
            ax.legend(fontsize=8)
    else:
        ax.scatter(xs, ys, s=36, edgecolors="k", linewidths=0.4, zorder=3)
    if pareto:
        front = pareto_front(xs, ys, pareto)
        ax.plot([xs[i] for i in front], [ys[i] for i in front], "r--", lw=1, marker="o", ms=11, mfc="none", zorder=4,
                label=f"Pareto front ({pareto[0]} x, {pareto[1]} y)")
        ax.legend(fontsize=8)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.set_title(title or f"{Path(sweep_dir).name}: {len(rows)} points")
    fig.tight_layout()
    written = _save(fig, Path(out_stem) if out_stem else Path(sweep_dir) / f"{y}_vs_{x}")
    plt.close(fig)
    return written
