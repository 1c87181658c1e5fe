"""SubarrayGroup: the STT-MRAM subarrays that hold one in-memory layer's weights.

One *replica* is ``chunks x row_groups`` subarrays of ``rows x columns`` 2T-2MTJ
cells: every chunk of the fan-in sits in its own subarray, so all chunks and row
groups of one output position are sensed in parallel, in lockstep. A replica is a
SimPy Resource of capacity 1: it senses one output position at a time.

Phases of one position on a replica: *drive* the input chunk onto BL/BLB, *settle*
the source line, *latch* the converter -- one sensing phase of ``arch.t_sense_cycles``,
repeated ``phases_per_position = ceil(rows_used / rows_per_phase)`` times when a
subarray has more rows than converters (the bit lines stay driven; every phase is
still charged the full ``t_sense``). The replicas of a layer split the active
positions of a layer-step evenly (the first ``A mod R`` replicas take one more); each
replica's share is ONE timeout of ``share * phases_per_position * t_sense`` cycles.
"""

from __future__ import annotations

import simpy


class SubarrayGroup:
    """The ``replicas`` identical copies of one layer's subarrays."""

    def __init__(self, env: simpy.Environment, name: str, replicas: int, cycles_per_position: int):
        self.env = env
        self.name = name
        self.replicas = [simpy.Resource(env, capacity=1) for _ in range(replicas)]
        self.cycles_per_position = cycles_per_position
        self.busy_cycles = 0  # summed over replicas
        self.wait_cycles = 0  # time spent waiting for a busy replica

    def shares(self, positions: int) -> list[int]:
        """Active positions per replica (only replicas with work)."""
        base, extra = divmod(positions, len(self.replicas))
        return [base + 1] * extra + [base] * (len(self.replicas) - extra if base else 0)

    def sense(self, positions: int):
        """Process body: sense ``positions`` active output positions (drive + sense phases)."""
        env = self.env
        work = list(zip(self.replicas, self.shares(positions)))
        asked = env.now
        requests = [rep.request() for rep, _ in work]
        yield env.all_of(requests)
        self.wait_cycles += env.now - asked
        durations = [share * self.cycles_per_position for _, share in work]
        yield env.all_of([env.timeout(d) for d in durations])
        self.busy_cycles += sum(durations)
        for (rep, _), req in zip(work, requests):
            rep.release(req)
