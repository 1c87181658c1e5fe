"""Accuracy against one architecture parameter: Monte Carlo chips at each value.

Every value uses the same chip seeds (chip ``c`` is ``SeedSequence(seed, spawn_key=(c,))``
at every value: common random numbers), so the curve shows the parameter's effect, not
the luck of new draws. Each value's config is validated (and the network re-mapped) as a
file would be; a value the validator refuses is an error naming the key and the value.
Outputs: ``variation.csv`` (one row per value), ``variation.json`` (the summaries and
per-chip accuracies) and, with matplotlib installed, ``variation.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..arch import ArchConfig
from ..errors import ConfigError
from ..report import write_atomic, write_csv
from . import montecarlo
from .margin import layer_margins

FIELDS = ("value", "chips", "accuracy_mean", "accuracy_std", "accuracy_ci95_lo", "accuracy_ci95_hi", "accuracy_min",
          "accuracy_max", "worst_chip", "sigma_counts_max", "p_error_per_sensing_max", "verdict",
          "dynamic_energy_pj_mean", "dynamic_energy_pj_std")


def parse_values(text: str, param: str) -> list:
    """``"0,0.02,0.05"`` -> numbers (int where the text is an integer), ``true``/``false``
    -> booleans, anything else a string."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            raise ConfigError(f"--values {text!r}: empty item; give a comma-separated list for {param}")
        if item in ("true", "false"):
            out.append(item == "true")
            continue
        for kind in (int, float):
            try:
                out.append(kind(item))
                break
            except ValueError:
                continue
        else:
            out.append(item)
    return out


def worst_margin(margins: dict) -> dict:
    """The layer margin with the most sigma in counts; a network with no in-memory layer
    has none to lose (sigma 0, verdict "no in-memory layer")."""
    if not margins:
        return {"sigma_counts": 0.0, "p_error_per_sensing": 0.0, "verdict": "no in-memory layer"}
    return max(margins.values(), key=lambda m: m["sigma_counts"])


def sweep(inputs, arch: ArchConfig, param: str, values: list, chips: int, seed: int, workers: int | None = None,
          calibrate: bool = False, progress=None) -> list[dict]:
    """One row (:data:`FIELDS`, plus ``summary``) per value of ``param``: the prepared
    images (:class:`bsnn_sim.pipeline.Inputs`) on ``chips`` chips of each value's config
    (:func:`bsnn_sim.pipeline.monte_carlo`), calibrated on ``inputs.calibration_images``
    if asked."""
    from .. import pipeline

    rows = []
    for value in values:
        cfg = arch.replace(**{param: value})
        work, outcomes = pipeline.monte_carlo(inputs, cfg, chips, seed, calibrate, workers)
        s = montecarlo.summarize(outcomes)
        margins = layer_margins(work.mapping, cfg, offset_calibrated=calibrate)
        worst = worst_margin(margins)
        a, e = s["accuracy"], s["dynamic_energy_per_inference_pj"]
        rows.append({"value": value, "chips": chips, "accuracy_mean": a["mean"], "accuracy_std": a["std"],
                     "accuracy_ci95_lo": a["ci95"][0], "accuracy_ci95_hi": a["ci95"][1], "accuracy_min": a["min"],
                     "accuracy_max": a["max"], "worst_chip": s["worst_chip"]["index"],
                     "sigma_counts_max": worst["sigma_counts"],
                     "p_error_per_sensing_max": worst["p_error_per_sensing"], "verdict": worst["verdict"],
                     "dynamic_energy_pj_mean": e["mean"], "dynamic_energy_pj_std": e["std"], "summary": s})
        if progress:
            progress(rows[-1])
    return rows


def write(rows: list[dict], out_dir: Path, meta: dict) -> list[Path]:
    """Write variation.csv, variation.json and (with matplotlib) variation.png, each whole
    or not at all; the paths written."""
    written = [write_csv(out_dir / "variation.csv", [{k: r[k] for k in FIELDS} for r in rows]),
               write_atomic(out_dir / "variation.json", json.dumps({**meta, "points": rows}, indent=2, default=float)
                            + "\n")]
    png = plot(rows, out_dir / "variation.png", meta)
    if png:
        written.append(png)
    return written


def plot(rows: list[dict], path: Path, meta: dict) -> Path | None:
    """Accuracy (mean, 95 % CI, worst chip) against the parameter; None without matplotlib."""
    from ..errors import BsnnError
    from ..plot import _pyplot, save

    try:
        plt = _pyplot()
    except BsnnError:  # no matplotlib
        return None
    x = [r["value"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    mean = [100 * r["accuracy_mean"] for r in rows]
    ax.fill_between(x, [100 * r["accuracy_ci95_lo"] for r in rows], [100 * r["accuracy_ci95_hi"] for r in rows],
                    alpha=0.25, label="95 % CI of the mean")
    ax.plot(x, mean, "o-", label=f"mean of {rows[0]['chips']} chips")
    ax.plot(x, [100 * r["accuracy_min"] for r in rows], "v--", label="worst chip")
    ax.set_xlabel(meta["param"])
    ax.set_ylabel("accuracy (%)")
    cal = meta.get("calibration_images", 0)
    ax.set_title(f"{meta['workload']} on {meta['arch']}, {meta['images']} images\n"
                 + (f"chips calibrated on {cal} training images" if cal else "uncalibrated chips"), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path)
    plt.close(fig)
    return path
