"""Sweep specs: a TOML file naming a base run and the axes to vary (docs/sweeps.md).

::

    name = "subarray_size"
    [base]                       # paths (workload, arch, weights, data_dir) relative to this file
    workload = "../workloads/mnist_resnet.toml"
    arch = "../arch_configs/stt_bsnn_65nm.toml"
    images = 200                 # the split's first N images (default: all)
    analog = true                # the analog path (needed to sweep variation keys) ...
    chips = 10                   # ... with 10 Monte Carlo chips per point
    [grid]                       # every combination of these lists
    "subarray.columns" = [72, 144, 288]
    [[zip]]                      # lists of equal length, taken together
    "subarray.rows" = [1, 32]
    "subarray.rows_per_phase" = [1, 32]
    [random]                     # seeded random samples
    samples = 4
    seed = 1
    "mtj.sigma_r_rel" = { uniform = [0.0, 0.1] }

The points are the cartesian product of the grid axes, each ``[[zip]]`` group (one
axis whose values are the groups' rows) and the ``[random]`` group (one axis of
``samples`` draws), in that order, the last axis varying fastest. A key is any
``SECTION.KEY`` of the architecture config. Random draws: ``uniform = [lo, hi]``,
``log_uniform = [lo, hi]`` (lo > 0), ``integers = [lo, hi]`` (both ends included) or
``choice = [v, ...]``, drawn with NumPy's PCG64 seeded by ``seed``, sample by sample,
key by key in file order. Keys only the analog path reads need ``analog = true``, and
keys only a sampled chip draws (variation, offsets, programming faults) ``chips > 0``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analog.devices import ANALOG_ONLY_KEYS, SAMPLED_ONLY_KEYS
from ..arch import SECTIONS
from ..errors import ConfigError
from ..tomlfile import read_toml

_TOP = {"name", "description", "base", "grid", "zip", "random"}
_BASE = {"workload", "arch", "weights", "split", "images", "data_dir", "batch_size", "timing_images", "pipelined",
         "analog", "seed", "calibrate_images", "chips"}
_DRAWS = ("uniform", "log_uniform", "integers", "choice")


@dataclass(frozen=True)
class Base:
    """The run every point shares, before the point's overrides."""

    workload: Path
    arch: Path
    weights: Path | None = None
    split: str = "test"
    images: int | None = None
    data_dir: str | None = None
    batch_size: int = 500
    timing_images: int | None = None
    pipelined: bool = False
    analog: bool = False  # the nominal chip through the analog path at every point
    seed: int = 0  # analog noise seed
    calibrate_images: int = 0  # analog: calibrate on this many training images first
    chips: int = 0  # analog: also sample this many Monte Carlo chips at every point (0: the nominal chip only)


@dataclass(frozen=True)
class SweepSpec:
    path: Path
    name: str
    base: Base
    axes: tuple[str, ...]  # the swept keys, in column order
    points: tuple[dict, ...]  # one {"section.key": value} per point
    description: str = ""
    layout: dict = field(default_factory=dict)  # grid / zip / random as given, for the record


def _fail(path, key, value, allowed):
    raise ConfigError(f"{path}: {key} = {value!r}: {allowed}")


def _check_key(path, where, key):
    sec, _, name = key.partition(".")
    if sec not in SECTIONS or not name:
        _fail(path, where, key, f"expected SECTION.KEY with SECTION one of {', '.join(SECTIONS)}")
    fields = SECTIONS[sec].__dataclass_fields__
    if name not in fields:
        _fail(path, where, key, f"unknown key; {sec} has: {', '.join(fields)}")


def _values(path, where, key, values):
    _check_key(path, where, key)
    if not isinstance(values, list) or not values:
        _fail(path, f"{where}.{key}", values, "expected a non-empty list of values")
    return values


def _base(path: Path, table) -> Base:
    if not isinstance(table, dict):
        _fail(path, "base", table, "expected a table")
    bad = sorted(set(table) - _BASE)
    if bad:
        _fail(path, f"base.{bad[0]}", table[bad[0]], f"unknown key; allowed: {', '.join(sorted(_BASE))}")
    for key in ("workload", "arch"):
        if not isinstance(table.get(key), str):
            _fail(path, f"base.{key}", table.get(key), "required: a path (relative to the spec file)")
    kinds = {"weights": str, "split": str, "data_dir": str, "images": int, "batch_size": int, "timing_images": int,
             "pipelined": bool, "analog": bool, "seed": int, "calibrate_images": int, "chips": int}
    for key, kind in kinds.items():
        lowest = 0 if key in ("seed", "calibrate_images", "chips") else 1
        if key in table and (type(table[key]) is not kind or (kind is int and table[key] < lowest)):
            _fail(path, f"base.{key}", table[key], f"expected an integer >= {lowest}" if kind is int
                  else f"expected a {kind.__name__}")
    if table.get("split", "test") not in ("test", "train"):
        _fail(path, "base.split", table["split"], "allowed: test, train")
    for key in ("calibrate_images", "chips"):
        if table.get(key) and not table.get("analog"):
            _fail(path, f"base.{key}", table[key], "needs base.analog = true")
    here = path.parent

    def rel(p):
        return None if p is None else (here / p)

    data_dir = rel(table.get("data_dir"))
    return Base(rel(table["workload"]), rel(table["arch"]), rel(table.get("weights")),
                data_dir=None if data_dir is None else str(data_dir),
                **{k: table[k] for k in kinds if k in table and k not in ("weights", "data_dir")})


def _draw(rng, path, where, rule):
    if not isinstance(rule, dict) or len(rule) != 1 or next(iter(rule)) not in _DRAWS:
        _fail(path, where, rule, f"expected one of {{ {' | '.join(f'{d} = [...]' for d in _DRAWS)} }}")
    kind, arg = next(iter(rule.items()))
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            _fail(path, where, rule, "choice needs a non-empty list")
        return arg[int(rng.integers(len(arg)))]
    if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(v, (int, float)) for v in arg)
            and arg[0] <= arg[1]):
        _fail(path, where, rule, f"{kind} needs [lo, hi] with lo <= hi")
    lo, hi = arg
    if kind == "integers":
        if not all(isinstance(v, int) for v in arg):
            _fail(path, where, rule, "integers needs integer bounds")
        return int(rng.integers(lo, hi + 1))
    if kind == "log_uniform":
        if lo <= 0:
            _fail(path, where, rule, "log_uniform needs lo > 0")
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def _random(path: Path, table) -> list[dict]:
    if not isinstance(table, dict):
        _fail(path, "random", table, "expected a table")
    samples, seed = table.get("samples"), table.get("seed", 0)
    if type(samples) is not int or samples < 1:
        _fail(path, "random.samples", samples, "required: an integer >= 1")
    if type(seed) is not int or seed < 0:
        _fail(path, "random.seed", seed, "an integer >= 0")
    rules = {k: v for k, v in table.items() if k not in ("samples", "seed")}
    if not rules:
        _fail(path, "random", table, "needs at least one SECTION.KEY = { uniform = [lo, hi] } (or another draw)")
    for key in rules:
        _check_key(path, "random", key)
    rng = np.random.Generator(np.random.PCG64(seed))
    return [{k: _draw(rng, path, f"random.{k}", rule) for k, rule in rules.items()} for _ in range(samples)]


def load_spec(path) -> SweepSpec:
    """Read and validate a sweep spec; expand its points."""
    path = Path(path)
    data = read_toml(path, "sweep spec")
    bad = sorted(set(data) - _TOP)
    if bad:
        _fail(path, bad[0], data[bad[0]], f"unknown key; allowed: {', '.join(sorted(_TOP))}")
    base = _base(path, data.get("base"))
    axes: list[list[dict]] = []  # each axis: a list of partial overrides
    keys: list[str] = []
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        _fail(path, "grid", grid, "expected a table of SECTION.KEY = [values]")
    for key, values in grid.items():
        axes.append([{key: v} for v in _values(path, "grid", key, values)])
        keys.append(key)
    zips = data.get("zip", [])
    if not isinstance(zips, list):
        _fail(path, "zip", zips, "expected [[zip]] tables")
    for i, group in enumerate(zips):
        if not isinstance(group, dict) or not group:
            _fail(path, f"zip[{i}]", group, "expected a table of SECTION.KEY = [values]")
        cols = {k: _values(path, f"zip[{i}]", k, v) for k, v in group.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) != 1:
            _fail(path, f"zip[{i}]", {k: len(v) for k, v in cols.items()}, "lists of one group need equal lengths")
        axes.append([dict(zip(cols, row)) for row in zip(*cols.values())])
        keys += list(cols)
    if "random" in data:
        draws = _random(path, data["random"])
        axes.append(draws)
        keys += list(draws[0])
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        _fail(path, dup[0], "swept twice", "a key may appear on one axis only")
    for key in keys:
        if key in ANALOG_ONLY_KEYS and not base.analog:
            _fail(path, key, "swept", "only the analog path reads this key: set base.analog = true "
                  "(the ideal pass would report the same accuracy at every point)")
        if key in SAMPLED_ONLY_KEYS and not base.chips:
            _fail(path, key, "swept", "only sampled chips draw this key (the nominal chip has no variation, "
                  "offsets or faults): set base.chips > 0 (Monte Carlo chips per point)")
    points = tuple({k: v for part in combo for k, v in part.items()} for combo in itertools.product(*axes)) \
        if axes else ({},)
    layout = {k: data[k] for k in ("grid", "zip", "random") if k in data}
    return SweepSpec(path, str(data.get("name", path.stem)), base, tuple(keys), points,
                     str(data.get("description", "")), layout)
