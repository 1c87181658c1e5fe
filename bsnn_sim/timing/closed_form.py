"""Contention-free latency by the max-plus recurrence (no SimPy).

With ``d(L, t)`` the duration of layer-step ``(L, t)`` from :mod:`.costs` (read +
sense or compute + accumulate/fire + write)::

    start(L, t)  = max( max_{e read by L at t} finish(producer(e), t),  finish(L, t-1) )
    finish(L, t) = start(L, t) + d(L, t)

with ``finish(INPUT, t) = 0`` and ``finish(L, -1) = 0``. The latency is
``finish(readout, T-1) - min_{L reading INPUT} start(L, 0)``. The SimPy engine equals it
exactly when nothing contends: one image at a time, buffers that never fill, no read
and write wanting one shared port bank at once, and no two digital layers wanting the
DigitalUnit at once.
"""

from __future__ import annotations

from ..network import INPUT
from .activity import Activity
from .costs import layer_costs


def schedule(costs: list, steps: int, row: int = 0) -> tuple[dict, dict]:
    """(start, finish): layer -> list over t, for image row ``row`` of ``costs``."""
    start, finish = {}, {}
    for c in costs:
        start[c.name], finish[c.name] = [0] * steps, [0] * steps
    for t in range(steps):
        for c in costs:
            ready = max((finish[e.producer][t] for e in c.reads(t) if e.producer != INPUT), default=0)
            begin = max(ready, finish[c.name][t - 1] if t else 0)
            start[c.name][t] = begin
            finish[c.name][t] = begin + c.duration(row, t)
    return start, finish


def closed_form_latency(net, mapping, arch, activity: Activity, image: int = 0) -> int:
    """Contention-free latency (cycles) of activity row ``image``."""
    costs = layer_costs(net, mapping, arch, activity, [image])
    start, finish = schedule(costs, net.time_steps)
    first = min(start[c.name][0] for c in costs if any(e.producer == INPUT for e in c.reads(0)))
    return finish[net.readout.name][net.time_steps - 1] - first
