"""How a NIR graph is read: the choices NIR leaves open, and the graph walk.

NIR describes neurons in continuous time; a clocked simulator needs a step ``dt``.
With the Euler step every NIR-exporting framework uses, one step of a neuron is::

    IF : v += r * dt * x
    LIF: v += (dt / tau) * (v_leak - v) + (r * dt / tau) * x

where ``x`` is the sum of the node's inputs at that step. A LIF with ``tau = inf``
and ``r = inf`` (what snnTorch writes for ``Leaky(beta=1)``: ``tau = dt / (1 - beta)``,
``r = tau / dt``) is read as ``v += x``, the limit of ``r * dt / tau = 1``. NIR fires
on ``v > v_threshold`` and resets to ``v_reset``; :class:`Reading` can say instead that
the source fired on ``v >= v_threshold`` (SpikingJelly's neurons do) or reset by
subtracting the threshold (snnTorch's default ``reset_mechanism="subtract"``, which
its exporter still writes as ``v_reset = 0``).
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InteropError
from ..network import Encoding

META_KEY = "bsnn_sim"  # graph and node metadata written by bsnn-sim's exporter (a JSON string)


class Fire(str, enum.Enum):
    GT = "gt"  # spike iff v > v_threshold (the NIR definition)
    GE = "ge"  # spike iff v >= v_threshold (SpikingJelly; bsnn-sim)


class Reset(str, enum.Enum):
    GRAPH = "graph"  # v -> v_reset after a spike (the NIR definition)
    SUBTRACT = "subtract"  # v -> v - v_threshold (snnTorch's default; bsnn-sim)


@dataclass(frozen=True)
class Reading:
    """What the NIR file does not say: steps, input encoding and scale, neuron rules.

    The NIR input at every step is ``input_scale`` times the encoded image (pixels
    0..255 for ``direct``, 0/1 spikes otherwise). ``binarize`` accepts the documented
    approximations of ``docs/interop.md`` instead of rejecting a node; ``frac_bits``
    accepts only the rounding of constants that lie on no grid, to that many bits.
    """

    time_steps: int
    encoding: Encoding
    input_scale: float = 1.0
    dt: float = 1e-4
    fire: Fire = Fire.GT
    reset: Reset = Reset.GRAPH
    binarize: bool = False
    input_shape: tuple[int, int, int] | None = None
    frac_bits: int | None = None


@dataclass(frozen=True)
class NeuronStep:
    """One Euler step of a neuron, per element: ``v = (1 - leak) * v + gain * x + drive``."""

    gain: np.ndarray
    leak: np.ndarray
    drive: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    fire: Fire
    reset: Reset


def node_meta(node) -> dict:
    """The bsnn-sim metadata of a node or graph (empty for a foreign file)."""
    raw = (getattr(node, "metadata", None) or {}).get(META_KEY)
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        meta = json.loads(raw)
    except (TypeError, ValueError) as e:
        raise InteropError(f"metadata '{META_KEY}' is not a JSON string: {e}") from e
    return meta if isinstance(meta, dict) else {}


def arr(value) -> np.ndarray:
    """A NIR parameter (numpy array, torch tensor or number) as float64."""
    return np.asarray(value, dtype=np.float64)


def neuron_step(key: str, node, reading: Reading) -> NeuronStep:
    """The Euler step of an IF or LIF node, with the fire and reset rules that apply:
    the node's own bsnn-sim metadata, else the reading's."""
    kind = type(node).__name__
    meta = node_meta(node)
    fire = Fire(meta.get("fire", reading.fire))
    reset = Reset(meta.get("reset", reading.reset))
    r = arr(node.r)
    vth = arr(node.v_threshold)
    v_reset = arr(node.v_reset) if getattr(node, "v_reset", None) is not None else np.zeros_like(vth)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "IF":
            gain, leak, drive = r * reading.dt, np.zeros_like(r), np.zeros_like(r)
        else:
            tau, v_leak = arr(node.tau), arr(node.v_leak)
            inf = np.isinf(tau)
            if (inf & ~np.isinf(r)).any():
                raise InteropError(f"node '{key}': LIF with tau = inf and a finite r has no input "
                                   f"(r * dt / tau = 0); snnTorch writes r = inf for beta = 1")
            gain = np.where(inf, 1.0, r * reading.dt / tau)
            leak = np.where(inf, 0.0, reading.dt / tau)
            drive = np.where(inf, 0.0, reading.dt / tau * v_leak)
    if not (np.isfinite(gain).all() and (gain > 0).all()):
        raise InteropError(f"node '{key}': input gain r*dt (IF) or r*dt/tau (LIF) must be positive "
                           f"and finite, found {np.unique(gain)[:4]}")
    if ((leak < 0) | (leak > 1)).any():
        raise InteropError(f"node '{key}': dt/tau = {np.unique(leak)[:4]} outside 0..1; check --dt")
    return NeuronStep(gain, leak, drive, vth, v_reset, fire, reset)


def edges_by_target(graph) -> dict[str, list[str]]:
    preds = {k: [] for k in graph.nodes}
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise InteropError(f"edge ({src!r}, {dst!r}) names a node the graph does not have")
        preds[dst].append(src)
    return preds


def topological_order(graph) -> list[str]:
    """Node keys so that every node follows its inputs; a cycle (recurrence) is an error."""
    preds = edges_by_target(graph)
    order, done = [], set()
    pending = sorted(graph.nodes, key=_natural)
    while pending:
        ready = [k for k in pending if all(p in done for p in preds[k])]
        if not ready:
            raise InteropError(f"the graph has a cycle through {', '.join(pending[:4])}: recurrent "
                               f"connections have no bsnn-sim equivalent")
        for k in ready:
            order.append(k)
            done.add(k)
        pending = [k for k in pending if k not in done]
    return order


def _natural(key: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


def single(graph, kind: str) -> str:
    keys = [k for k, n in graph.nodes.items() if type(n).__name__ == kind]
    if len(keys) != 1:
        raise InteropError(f"the graph has {len(keys)} {kind} nodes ({', '.join(keys)}); bsnn-sim needs exactly one")
    return keys[0]


def io_shape(node, field: str) -> tuple[int, ...]:
    types = getattr(node, field)
    value = next(iter(types.values())) if isinstance(types, dict) else types
    return tuple(int(v) for v in np.asarray(value).reshape(-1))


def load_nir():
    """The optional ``nir`` package, or a one-line error saying how to install it."""
    try:
        import nir
    except ModuleNotFoundError as exc:
        raise InteropError(f"NIR import/export needs the nir package ({exc}); "
                           f"install it with: pip install 'bsnn-sim[nir]'") from None
    return nir
