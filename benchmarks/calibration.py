"""Print the energy calibration of an architecture config: the derivation of one row
sensing's energy, TOPS/W against the paper's 176.6, and the sensitivity to +/-10 % of each
physical parameter (docs/calibration.md).

    python benchmarks/calibration.py [arch_configs/stt_bsnn_65nm.toml]
"""

from __future__ import annotations

import sys
from pathlib import Path

from bsnn_sim import energy
from bsnn_sim.arch import load_arch

PAPER_TOPS_W = 176.6
DEFAULT = Path(__file__).resolve().parent.parent / "arch_configs" / "stt_bsnn_65nm.toml"


def report(arch) -> str:
    s = arch.subarray
    g_p, g_ap = energy.cell_conductances(arch)
    rows = energy.row_sensing_breakdown(arch)
    tops = energy.tops_per_watt(arch)
    lines = [
        f"config {arch.name}: {s.rows} x {s.columns} subarray, V_rd = {s.v_read_v} V, "
        f"t_settle = {arch.sensing.t_settle_ns} ns",
        f"  branch P : R = {1 / g_p:9.1f} Ohm   G = {g_p * 1e6:7.2f} uS",
        f"  branch AP: R = {1 / g_ap:9.1f} Ohm   G = {g_ap * 1e6:7.2f} uS   (TMR at the operating bias)",
        f"  bit line C_BL = {energy.bitline_capacitance_ff(arch):.1f} fF",
        "",
        "  component            pJ per row sensing",
    ]
    lines += [f"  {k:<20} {v:8.4f}" for k, v in rows.items()]
    lines += [
        f"  ops per row sensing  {energy.ops_per_row_sensing(arch):8d}   (2 ops per synapse: 1 MAC = 2 ops)",
        f"  TOPS/W               {tops:8.2f}   (paper 1x288: {PAPER_TOPS_W}; {100 * (tops / PAPER_TOPS_W - 1):+.2f} %)",
        "",
        "  parameter                    TOPS/W at -10 %   +10 %",
    ]
    for key, (lo, hi) in energy.sensitivity(arch).items():
        lines.append(f"  {key:<28} {lo:10.1f} {hi:9.1f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(load_arch(sys.argv[1] if len(sys.argv) > 1 else DEFAULT)))
