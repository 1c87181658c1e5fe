"""Writing a :class:`~bsnn_sim.pipeline.RunResult` to a directory.

Files (each written whole or not at all: a temporary file in the same directory, then
renamed, :mod:`bsnn_sim.atomic`):

- ``results.json``: the run summary (``RunResult.summary()``) and ``provenance``;
- ``predictions.csv``: one row per image: index, label, prediction, then the final
  readout values ``score_0 .. score_{K-1}``; ``predictions.npy`` / ``scores.npy`` /
  ``labels.npy`` hold the same arrays for exact comparison;
- with an architecture: ``layers.csv`` (per-layer mapping, actions, energy) and
  ``config.toml`` (the resolved architecture config, which loads back to an equal one).

Provenance: tool version, git commit of the source tree when it is a git checkout,
SHA-256 of the weight file, SHA-256 of the resolved config (canonical JSON), the
command line, the seed of the analog path or Monte Carlo chips (None for an ideal run)
and the workload's encoding seed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
from pathlib import Path

import numpy as np


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bsnn-sim")
    except PackageNotFoundError:
        return "unknown"


def git_commit() -> str | None:
    """The commit of the source tree this package runs from, or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(arch) -> str | None:
    """SHA-256 of the resolved architecture config (its values, not its file path)."""
    return hashlib.sha256(canonical_json(arch.to_dict()).encode()).hexdigest() if arch is not None else None


def provenance(result, command: str | None = None) -> dict:
    return {
        "tool_version": tool_version(), "git_commit": git_commit(),
        "weights_sha256": result.inputs.weights_sha256, "config_sha256": config_hash(result.arch),
        "command": command,
        "seed": result.analog.seed if result.analog else result.extra.get("monte_carlo", {}).get("seed"),
        "encoding_seed": result.inputs.workload.encoding_seed,
    }


def run_summary(result, command: str | None = None) -> dict:
    """What ``results.json`` and ``run --json`` hold: the run summary and its provenance."""
    return {**result.summary(), "provenance": provenance(result, command)}


def write_atomic(path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` whole or not at all (:func:`bsnn_sim.atomic.write_atomic`:
    a temporary file beside it, then a rename); creates the directory; an OSError
    becomes an :class:`~bsnn_sim.errors.OutputError` naming the path."""
    from .atomic import write_atomic as write_whole
    from .errors import OutputError

    path = Path(path)
    binary = isinstance(data, bytes)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, lambda fh: fh.write(data), binary=binary)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def write_json(path, obj) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2) + "\n")


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    fields = list(rows[0]) if rows else []
    for row in rows[1:]:  # later rows may add columns (e.g. a failed sweep point has fewer)
        fields += [k for k in row if k not in fields]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path, rows: list[dict]) -> Path:
    return write_atomic(path, csv_text(rows))


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array))
    return buf.getvalue()


def prediction_rows(result) -> list[dict]:
    res = result.functional
    scores = np.asarray(res.scores)
    return [{"image": i, "label": int(res.labels[i]), "prediction": int(res.predictions[i]),
             **{f"score_{k}": s.item() for k, s in enumerate(scores[i])}} for i in range(len(res.labels))]


def write_run(result, out_dir, command: str | None = None) -> list[Path]:
    """Write ``result`` into ``out_dir`` (module docstring); returns the paths written."""
    out = Path(out_dir)
    res = result.functional
    written = [write_json(out / "results.json", run_summary(result, command)),
               write_csv(out / "predictions.csv", prediction_rows(result)),
               write_atomic(out / "predictions.npy", _npy(res.predictions)),
               write_atomic(out / "scores.npy", _npy(res.scores)),
               write_atomic(out / "labels.npy", _npy(res.labels))]
    if result.hardware is not None:
        written += [write_csv(out / "layers.csv", result.hardware.layer_rows()),
                    write_atomic(out / "config.toml", result.arch.to_toml())]
    return written
