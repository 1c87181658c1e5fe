"""TimingParams: every parameter that decides what the hardware does and when.

The mapping, the timing pass and the action counts read an :class:`ArchConfig` only
through this record (:func:`timing_params`), so two configs with equal records give the
same mapping, cycles and counts, and differ at most in what those counts cost. That is
what makes re-pricing correct by construction (:func:`bsnn_sim.hardware.reprice`): an
energy table carries the record it was derived under, and a run accepts only a table
whose record equals its own. A new timing-relevant key must be added here to reach the
engine at all.

The functional pass's own parameters that change the activity (chunk width
``columns``, accumulator widths) are part of the record too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..arch import ArchConfig


@dataclass(frozen=True)
class TimingParams:
    t_clk_ns: float
    rows: int  # subarray rows (neurons per subarray)
    columns: int  # subarray columns: the fan-in chunk
    rows_per_phase: int
    drive_cycles: int
    settle_cycles: int
    latch_cycles: int
    skip_zero_chunks: bool
    acc_bits: int  # functional pass: membrane width of in-memory layers (saturating)
    digital_acc_bits: int  # ... of digital layers
    update_cycles: int  # one pass of the update lanes
    update_lanes: int
    buffer_capacity_bits: int
    buffer_width_bits: int
    buffer_ports: int
    access_cycles: int  # one buffer word access
    shared_ports: bool  # reads and writes of a buffer use the same ports
    port_grant: str  # shared ports: "word" (one access per grant, round-robin) | "phase"
    macs_per_cycle: int
    skip_zero_inputs: bool
    arbitration: str  # digital unit: "fifo" | "oldest_image"
    batch_cycles: int  # digital unit: cycles per request (0: whole phase)
    subarrays: int
    replication: str
    subarray_budget: int  # 0: all of ``subarrays``
    streaming: bool  # chip.layer_step = "streaming": a layer-step's phases overlap by items

    @property
    def t_sense_cycles(self) -> int:
        """One sensing phase: drive + settle + latch."""
        return self.drive_cycles + self.settle_cycles + self.latch_cycles

    def state_bits(self, in_memory: bool) -> int:
        """Width of one neuron's state: ``acc_bits`` (in-memory layer) or ``digital_acc_bits``."""
        return self.acc_bits if in_memory else self.digital_acc_bits

    @property
    def budget(self) -> int:
        """Subarrays the mapping may use."""
        return min(self.subarray_budget or self.subarrays, self.subarrays)

    def differences(self, other: "TimingParams") -> list[str]:
        """``"field: mine vs other"`` for every field that differs."""
        return [f"{f.name}: {getattr(self, f.name)!r} vs {getattr(other, f.name)!r}"
                for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def timing_params(arch: ArchConfig | TimingParams) -> TimingParams:
    """The timing record of ``arch`` (a record is returned as it is)."""
    if isinstance(arch, TimingParams):
        return arch
    s, b, n = arch.sensing, arch.buffer, arch.neuron
    return TimingParams(
        t_clk_ns=arch.technology.t_clk_ns, rows=arch.subarray.rows, columns=arch.subarray.columns,
        rows_per_phase=arch.subarray.rows_per_phase, drive_cycles=arch.cycles(s.t_drive_ns, "sensing.t_drive_ns"),
        settle_cycles=arch.cycles(s.t_settle_ns, "sensing.t_settle_ns"),
        latch_cycles=arch.cycles(s.t_latch_ns, "sensing.t_latch_ns"), skip_zero_chunks=s.skip_zero_chunks,
        acc_bits=n.acc_bits, digital_acc_bits=arch.digital.acc_bits, update_cycles=arch.cycles(n.t_update_ns, "neuron.t_update_ns"),
        update_lanes=n.update_lanes, buffer_capacity_bits=b.capacity_bits, buffer_width_bits=b.width_bits,
        buffer_ports=b.ports, access_cycles=arch.cycles(b.t_access_ns, "buffer.t_access_ns"),
        shared_ports=b.port_sharing == "shared", port_grant=b.port_grant, macs_per_cycle=arch.digital.macs_per_cycle,
        skip_zero_inputs=arch.digital.skip_zero_inputs, arbitration=arch.digital.arbitration,
        batch_cycles=arch.digital.batch_cycles,
        subarrays=arch.chip.subarrays, replication=arch.chip.replication, subarray_budget=arch.chip.subarray_budget,
        streaming=arch.chip.layer_step == "streaming")
